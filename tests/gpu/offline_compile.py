#!/usr/bin/env python3
"""Compile the kernels GPU-profile plans would build, offline, and read their register use.

For every GPU profile of clconvt-info (sm90, gfx1030, gfx90a, xe), every dtype, every shape of
the given tables (each row in both layouts) and every kernel path (the built-in choice, then
each path forced with CLCONVT_PLAN=PATH, so that each path's GPU tiles are checked, not only
the default's), clconvt-info --plans --emit writes the program text and build options a device
of the profile would compile. Each distinct (target, text, options) is compiled once:

  sm90:     clang -target nvptx64-nvidia-nvcl -> llvm-link with libclc's nvptx64--nvidiacl.bc
            -> opt -O3 -> llc (the newest sm_/ptx it knows) -> ptxas -v -arch=sm_90:
            registers and spill stores
  gfx1030,  clang -target amdgcn-amd-amdhsa -nogpulib -mcpu=... -> llvm-link with libclc's
  gfx90a:   amdgcn--amdhsa.bc -> opt -O3 -> llc -mcpu=...: NumVgprs, ScratchSize, Occupancy
  xe:       clang -target spir64 (the OpenCL C front end only: no Intel back end is free; this
            catches kernels that compile only on PoCL)

--check (the meson test) fails when a kernel does not compile, spills (spill stores or scratch
above 0), uses more than 128 registers on sm_90, or has an occupancy below 8 (gfx1030) or 4
(gfx90a). --table prints the table of BENCHMARKS.md. Standard library only.
Exit status: 0 pass, 1 fail, 2 usage, 77 (meson's skip) when no compiler at all is installed.
"""
import argparse
import concurrent.futures
import csv
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

PATHS = ["phase", "phase_pos", "phase_chan", "phase_dw", "phase_fold", "gemm"]
DTYPES = ["f32", "f16", "bf16"]
# profile -> the target its kernels are compiled for
PROFILES = {"sm90": "nvptx", "gfx1030": "amdgcn", "gfx90a": "amdgcn", "xe": "spir64"}
SM90_REGISTERS_MAX = 128
OCCUPANCY_MIN = {"gfx1030": 8, "gfx90a": 4}
LIBCLC = {"nvptx": "nvptx64--nvidiacl.bc", "amdgcn": "amdgcn--amdhsa.bc"}


def tool(names):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


class Toolchain:
    def __init__(self, libclc_dir):
        self.clang = tool(["clang-15", "clang"])
        self.link = tool(["llvm-link-15", "llvm-link"])
        self.opt = tool(["opt-15", "opt"])
        self.llc = tool(["llc-15", "llc"])
        self.ptxas = tool(["ptxas", "/usr/local/cuda/bin/ptxas"])
        self.libclc = {t: os.path.join(libclc_dir, f) for t, f in LIBCLC.items()}
        self.sm, self.ptx = self.newest_nvptx() if self.llc else (None, None)

    def can(self, target):
        """None when target's kernels can be compiled here, else why not."""
        if not self.clang:
            return "no clang-15"
        if target == "spir64":
            return None
        if not (self.link and self.opt and self.llc):
            return "no llvm-15 (llvm-link, opt, llc)"
        if not os.path.exists(self.libclc[target]):
            return "no libclc-15 (" + self.libclc[target] + ")"
        if target == "nvptx" and not self.ptxas:
            return "no ptxas (the CUDA toolkit) on PATH"
        return None

    def newest_nvptx(self):
        """The newest sm_ and PTX version this llc knows, up to sm_90 (llc-15 stops at sm_86):
        ptxas then compiles its PTX, retargeted, for sm_90."""
        out = run([self.llc, "-march=nvptx64", "-mcpu=help"], check=False).stdout + run(
            [self.llc, "-march=nvptx64", "-mattr=help"], check=False).stdout
        sms = sorted(int(m) for m in re.findall(r"\bsm_(\d+)\b", out) if int(m) <= 90)
        ptxs = sorted(int(m) for m in re.findall(r"\bptx(\d+)\b", out))
        return (sms[-1] if sms else 80), (ptxs[-1] if ptxs else 70)


def run(argv, check=True, env=None):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env)
    if check and done.returncode != 0:
        raise CompileError(" ".join(shlex.quote(a) for a in argv) + ":\n" + done.stdout[-2000:])
    return done


class CompileError(Exception):
    pass


def front_end(tc, triple, cpu, source, options, out):
    argv = [tc.clang, "-x", "cl", "-Xclang", "-finclude-default-header", "-target", triple,
            "-O3", "-emit-llvm", "-c", source, "-o", out] + shlex.split(options)
    if cpu:
        argv += ["-nogpulib", "-mcpu=" + cpu]
    run(argv)


def linked(tc, target, work, bitcode):
    """The kernel linked with libclc, its library calls inlined (as a driver would)."""
    run([tc.link, bitcode, "--internalize", "--only-needed", tc.libclc[target], "-o",
         work + ".linked.bc"])
    run([tc.opt, "-O3", work + ".linked.bc", "-o", work + ".opt.bc"])
    return work + ".opt.bc"


def compile_nvptx(tc, source, options, work):
    front_end(tc, "nvptx64-nvidia-nvcl", None, source, options, work + ".bc")
    ptx = work + ".ptx"
    run([tc.llc, "-O3", "-mcpu=sm_%d" % tc.sm, "-mattr=+ptx%d" % tc.ptx,
         linked(tc, "nvptx", work, work + ".bc"), "-o", ptx])
    with open(ptx) as f:
        text = f.read()
    # sm_90 needs PTX ISA 7.8; the instructions llc emits for sm_86 are valid there.
    text = re.sub(r"^\.version .*$", ".version 7.8", text, count=1, flags=re.M)
    text = re.sub(r"^\.target sm_\d+", ".target sm_90", text, count=1, flags=re.M)
    with open(ptx, "w") as f:
        f.write(text)
    log = run([tc.ptxas, "-v", "-arch=sm_90", ptx, "-o", work + ".cubin"]).stdout
    registers = max(int(m) for m in re.findall(r"Used (\d+) registers", log))
    spills = max(int(m) for m in re.findall(r"(\d+) bytes spill stores", log))
    return {"registers": registers, "spills": spills}


def compile_amdgcn(tc, cpu, source, options, work):
    front_end(tc, "amdgcn-amd-amdhsa", cpu, source, options, work + ".bc")
    asm = work + ".s"
    run([tc.llc, "-O3", "-mtriple=amdgcn-amd-amdhsa", "-mcpu=" + cpu,
         linked(tc, "amdgcn", work, work + ".bc"), "-o", asm])
    with open(asm) as f:
        text = f.read()

    def field(name, pick):
        return pick(int(m) for m in re.findall(r"; %s: (\d+)" % name, text))

    return {"vgpr": field("NumVgprs", max), "scratch": field("ScratchSize", max),
            "occupancy": field("Occupancy", min)}


def compile_spir64(tc, source, options, work):
    front_end(tc, "spir64", None, source, options, work + ".bc")
    return {}


def compile_job(tc, job, work):
    target, cpu, source, options = job
    try:
        if target == "nvptx":
            return compile_nvptx(tc, source, options, work)
        if target == "amdgcn":
            return compile_amdgcn(tc, cpu, source, options, work)
        return compile_spir64(tc, source, options, work)
    except CompileError as e:
        return {"error": str(e)}
    finally:
        for suffix in (".bc", ".linked.bc", ".opt.bc", ".ptx", ".cubin", ".s"):
            if os.path.exists(work + suffix):
                os.remove(work + suffix)


def both_layouts(tables, out):
    """Every row of the tables, in its layout and in the other one (NAME_flip), into out."""
    with open(out, "w", newline="") as f:
        writer = None
        for table in tables:
            with open(table, newline="") as t:
                for row in csv.DictReader(t):
                    if writer is None:
                        writer = csv.DictWriter(f, fieldnames=list(row.keys()))
                        writer.writeheader()
                    writer.writerow(row)
                    flip = dict(row, name=row["name"] + "_flip",
                                layout="nlc" if row["layout"] == "ncl" else "ncl")
                    writer.writerow(flip)


def plans(info, shapes, profile, dtype, forced, emit):
    """The rows clconvt-info plans (forced: CLCONVT_PLAN), each with its emitted files."""
    env = dict(os.environ)
    env.pop("CLCONVT_PLAN", None)
    if forced:
        env["CLCONVT_PLAN"] = forced
    os.makedirs(emit, exist_ok=True)
    done = subprocess.run([info, "--plans", shapes, "--profile", profile, "--dtype", dtype,
                           "--emit", emit], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=env)
    # Rows a forced path does not fit are told on stderr; the others are planned all the same.
    lines = done.stdout.splitlines()
    rows = list(csv.DictReader(lines))
    if done.returncode != 0 and not forced:
        raise SystemExit("clconvt-info failed for %s %s:\n%s" % (profile, dtype, done.stderr))
    for row in rows:
        row["cl"] = os.path.join(emit, row["name"] + ".cl")
    return rows


def plan_all(args, tc, work):
    shapes = os.path.join(work, "shapes.csv")
    both_layouts(args.shapes, shapes)
    rows, jobs, skipped = [], {}, {}
    for profile in args.profiles:
        target = PROFILES[profile]
        why = tc.can(target)
        if why:
            skipped[profile] = why
            continue
        cpu = profile if target == "amdgcn" else None
        for dtype in args.dtypes:
            for forced in ([] if args.forced_only else [None]) + args.paths:
                emit = os.path.join(work, profile, dtype, forced or "default")
                for row in plans(args.info, shapes, profile, dtype, forced, emit):
                    with open(row["cl"], "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                    key = (target, cpu, digest, row["options"])
                    jobs.setdefault(key, (target, cpu, row["cl"], row["options"]))
                    row.update(profile=profile, dtype=dtype, forced=forced or "default",
                               path=row["plan"].split(":")[0], key=key)
                    rows.append(row)
    return rows, jobs, skipped


def compile_all(tc, jobs, work, parallel):
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {pool.submit(compile_job, tc, job, os.path.join(work, "job%d" % i)): key
                   for i, (key, job) in enumerate(jobs.items())}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
    return results


def problems(profile, result):
    """What the gate finds wrong with one compiled kernel (empty: nothing)."""
    if "error" in result:
        return ["does not compile: " + result["error"]]
    found = []
    if profile == "sm90":
        if result["spills"] > 0:
            found.append("%d B of spill stores" % result["spills"])
        if result["registers"] > SM90_REGISTERS_MAX:
            found.append("%d registers > %d" % (result["registers"], SM90_REGISTERS_MAX))
    if profile in OCCUPANCY_MIN:
        if result["scratch"] > 0:
            found.append("%d B of scratch" % result["scratch"])
        if result["occupancy"] < OCCUPANCY_MIN[profile]:
            found.append("occupancy %d < %d" % (result["occupancy"], OCCUPANCY_MIN[profile]))
    return found


def check(rows, results):
    failures = 0
    for row in rows:
        found = problems(row["profile"], results[row["key"]])
        if found:
            failures += 1
            print("FAIL %s %s %s (CLCONVT_PLAN=%s) %s: %s" % (
                row["profile"], row["dtype"], row["name"],
                row["forced"], row["plan"], "; ".join(found)))
    return failures


def tile(plan):
    """'vec16 p8 c16' from 'phase_chan:vec=16,p=8,c=16,lp=...'."""
    keys = dict(kv.split("=") for kv in plan.partition(":")[2].split(",") if "=" in kv)
    return " ".join(k + keys[k] for k in ("vec", "p", "c") if k in keys) or "-"


def table(rows, results):
    """Markdown: path x dtype, the worst kernel of each profile over all rows and tiles."""
    print("| path | dtype | tiles (sm90) | sm_90 registers / spill stores | gfx1030 VGPR / scratch "
          "/ occupancy | gfx90a VGPR / scratch / occupancy | xe (spir64) | kernels |")
    print("|---|---|---|---|---|---|---|---|")
    for path in PATHS:
        for dtype in DTYPES:
            mine = [r for r in rows if r["path"] == path and r["dtype"] == dtype]
            if not mine:
                continue
            cells = []
            tiles = sorted({tile(r["plan"]) for r in mine if r["profile"] == "sm90"})
            cells.append(", ".join(tiles[:3]) + (" ..." if len(tiles) > 3 else ""))
            for profile, fmt in (("sm90", "%(registers)d / %(spills)d B"),
                                 ("gfx1030", "%(vgpr)d / %(scratch)d B / %(occupancy)d"),
                                 ("gfx90a", "%(vgpr)d / %(scratch)d B / %(occupancy)d"),
                                 ("xe", "compiles")):
                res = [results[r["key"]] for r in mine if r["profile"] == profile]
                if not res:
                    cells.append("skipped")
                elif any("error" in r for r in res):
                    cells.append("**does not compile**")
                elif profile == "xe":
                    cells.append("compiles")
                else:
                    worst = {k: (min if k == "occupancy" else max)(r[k] for r in res)
                             for k in res[0]}
                    cells.append(fmt % worst)
            kernels = len({r["key"] for r in mine})
            print("| %s | %s | %s | %d |" % (path, dtype, " | ".join(cells), kernels))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--info", required=True, help="the clconvt-info to plan with")
    parser.add_argument("--shapes", nargs="+",
                        default=[os.path.join(here, "shapes.csv"), os.path.join(here, "grid.csv")])
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    parser.add_argument("--paths", nargs="+", default=PATHS,
                        help="CLCONVT_PLAN values: path names, or whole plan strings")
    parser.add_argument("--libclc", default="/usr/lib/clc")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--forced-only", action="store_true",
                        help="only the --paths forced, not the built-in choice")
    parser.add_argument("--rows", action="store_true", help="print each plan's figures")
    parser.add_argument("--table", action="store_true", help="print the markdown table")
    parser.add_argument("--check", action="store_true",
                        help="fail on any kernel over the gate")
    args = parser.parse_args()
    tc = Toolchain(args.libclc)
    with tempfile.TemporaryDirectory(prefix="clconvt-gpu-") as work:
        rows, jobs, skipped = plan_all(args, tc, work)
        for profile, why in skipped.items():
            print("SKIP %s: %s" % (profile, why))
        if not rows:
            print("nothing can be compiled here: skipped")
            return 77
        print("%d plans, %d distinct kernels to compile (%d at a time); nvptx via sm_%d/ptx%d" % (
            len(rows), len(jobs), args.jobs, tc.sm or 0, tc.ptx or 0), flush=True)
        results = compile_all(tc, jobs, work, args.jobs)
    if args.rows:
        for row in rows:
            print(row["profile"], row["dtype"], row["name"], row["plan"], results[row["key"]])
    if args.table:
        table(rows, results)
    failures = check(rows, results) if args.check else 0
    if args.check:
        print("%d of %d plans fail the gate" % (failures, len(rows)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
