#!/usr/bin/python3
"""Compare clconvt-bench with PyTorch's CPU conv_transpose1d on the same shapes table.

Runs clconvt-bench and PyTorch alternately over the same rows for several rounds (round r runs
one over every row, then the other; which goes first alternates), takes each row's median over
the rounds, measures the SGEMM GFLOP/s of the BLAS that torch uses in the same run (torch.mm of
2048 x 2048 float32), and prints a markdown table with the speedups.

Fairness notes (also printed with the results):
- PyTorch runs in float32 with torch.set_num_threads(os.cpu_count()) under torch.no_grad(),
  with the same warm-up (2) and repeat count as clconvt-bench.
- f16 and bf16 rows: PyTorch runs them in float32 on the same shapes. Half-precision
  convolution on CPU is unsupported or far slower in PyTorch, so float32 is the fair CPU
  baseline.
- nlc rows: PyTorch gets the (N, L, Cin) input and its time includes the transposes to and from
  its own (N, C, L) layout, i.e. what a channels-last caller pays in PyTorch.
- OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE and the thread variables are reported, never changed.

Needs only the standard library plus torch (imported here, never by the build or tests).
Exit status: 0 on success; 1 when a clconvt-bench run failed or a row exceeded its error bound
(the table is still printed); 2 on a usage error.
"""

import argparse
import csv
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP = 2
SGEMM_N = 2048
SGEMM_RUNS = 7
WIDE_CIN_COUT_G = 32768
SGEMM_TARGET = 0.60
ENV_REPORTED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS", "CLCONVT_DEVICE", "CLCONVT_PLAN", "POCL_AFFINITY")
INT_COLUMNS = ("batch", "in_channels", "out_channels", "kernel", "stride", "padding",
               "output_padding", "dilation", "groups", "length_in", "bias")
DTYPES = ("f32", "f16", "bf16")


def fail(message):
    print(f"compare_bench: {message}", file=sys.stderr)
    sys.exit(1)


def load_rows(path, dtype_override, filter_text):
    """The rows of the shapes file, labelled as clconvt-bench labels them (name@dtype unless
    f32). clconvt-bench checks the file strictly; this only needs what PyTorch runs."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    for number, record in enumerate(reader, start=2):
        record = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        try:
            row = {key: int(record[key]) for key in INT_COLUMNS}
        except (KeyError, ValueError) as e:
            fail(f"{path}: data row {number - 1}: cannot read {e}")
        dtype = dtype_override or record.get("dtype") or "f32"
        if dtype not in DTYPES:
            fail(f"{path}: data row {number - 1}: dtype '{dtype}' is not one of {DTYPES}")
        row["name"] = record["name"]
        row["layout"] = record["layout"]
        row["dtype"] = dtype
        row["label"] = row["name"] if dtype == "f32" else f"{row['name']}@{dtype}"
        if filter_text is None or filter_text in row["label"]:
            rows.append(row)
    if not rows:
        fail(f"{path}: no rows" + (f" whose name contains '{filter_text}'" if filter_text else ""))
    return rows


def flops(row):
    cout_g = row["out_channels"] // row["groups"]
    return (2.0 * row["batch"] * row["length_in"] * row["in_channels"] * cout_g
            * row["kernel"])


def run_clconvt(args, rows_by_label, round_no):
    """One clconvt-bench run over every row; {label: result dict}, the device line, rc."""
    with tempfile.TemporaryDirectory(prefix="compare_bench.") as tmp:
        out_csv = os.path.join(tmp, "bench.csv")
        command = [args.bench, "--shapes", args.shapes, "--repeat", str(args.repeat),
                   "--csv", out_csv]
        if args.dtype:
            command += ["--dtype", args.dtype]
        if args.device:
            command += ["--device", args.device]
        if args.filter:
            command += ["--filter", args.filter]
        print(f"compare_bench: round {round_no}: {shlex.join(command)}", file=sys.stderr)
        # Progress and errors go straight to our stderr; the table is kept for the device line.
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        if proc.returncode not in (0, 1) or not os.path.exists(out_csv):
            sys.stderr.write(proc.stdout)
            fail(f"clconvt-bench failed (exit status {proc.returncode}); see its messages above")
        device = ""
        for line in proc.stdout.splitlines():
            if line.startswith("device: "):
                device = line[len("device: "):]
                break
        results = {}
        with open(out_csv, newline="") as f:
            for record in csv.DictReader(f):
                if record["name"] not in rows_by_label:
                    fail(f"clconvt-bench reported an unknown row '{record['name']}'")
                results[record["name"]] = {
                    "plan": record["plan"],
                    "ms": float(record["median_ms"]),
                    "error": float(record["normalised_error"]),
                    "peak": int(record["peak_device_bytes"]),
                    "first_ms": float(record["first_call_ms"]),
                }
    return results, device, proc.returncode


def time_calls(fn, repeat):
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_torch(torch, rows, repeat, round_no):
    """PyTorch over every row: {label: median ms}."""
    import torch.nn.functional as F

    results = {}
    generator = torch.Generator().manual_seed(1234)
    for index, row in enumerate(rows, start=1):
        print(f"[torch round {round_no}] [{index}/{len(rows)}] {row['label']} ...",
              file=sys.stderr)
        n, cin, cout, k = row["batch"], row["in_channels"], row["out_channels"], row["kernel"]
        groups, length = row["groups"], row["length_in"]
        scale = 1.0 / math.sqrt(cout // groups * k)
        w = (torch.rand(cin, cout // groups, k, generator=generator) * 2 - 1) * scale
        b = (torch.rand(cout, generator=generator) * 2 - 1) * scale if row["bias"] else None
        options = dict(stride=row["stride"], padding=row["padding"],
                       output_padding=row["output_padding"], groups=groups,
                       dilation=row["dilation"])
        if row["layout"] == "nlc":
            x = torch.rand(n, length, cin, generator=generator) * 2 - 1

            def call():
                y = F.conv_transpose1d(x.transpose(1, 2), w, b, **options)
                return y.transpose(1, 2).contiguous()
        else:
            x = torch.rand(n, cin, length, generator=generator) * 2 - 1

            def call():
                return F.conv_transpose1d(x, w, b, **options)
        with torch.no_grad():
            results[row["label"]] = time_calls(call, repeat) * 1e3
    return results


def sgemm_gflops(torch):
    a = torch.rand(SGEMM_N, SGEMM_N)
    b = torch.rand(SGEMM_N, SGEMM_N)
    with torch.no_grad():
        seconds = time_calls(lambda: torch.mm(a, b), SGEMM_RUNS)
    return 2.0 * SGEMM_N ** 3 / seconds * 1e-9


def blas_description(torch):
    """torch's BLAS as its build config states it, and the BLAS libraries actually mapped."""
    config = []
    for line in torch.__config__.show().splitlines():
        if "BLAS" not in line:
            continue
        settings = re.findall(r"\b\w*(?:BLAS|LAPACK)\w*=[^,\s]*", line)
        config += settings or [line.strip(" -")]
    mapped = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path).lower():
                    mapped.add(path)
    except OSError:
        pass
    return config, sorted(mapped)


def machine_description():
    model = "unknown"
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return model, len(os.sched_getaffinity(0))


def default_bench(root):
    for build in ("build-release", "build"):
        candidate = root / build / "tools" / "clconvt-bench"
        if candidate.exists():
            return str(candidate)
    return None


def main():
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(
        description="Run clconvt-bench and PyTorch's conv_transpose1d alternately over the "
                    "same shapes table and compare them (markdown table on stdout).")
    parser.add_argument("--bench", help="clconvt-bench executable (default: "
                        "build-release/tools/clconvt-bench, else build/tools/clconvt-bench)")
    parser.add_argument("--shapes", help="shapes CSV (default: ../shared/bench/shapes.csv "
                        "relative to the repository root)")
    parser.add_argument("--repeat", type=int, default=10,
                        help="timed runs per row and round, after 2 warm-ups (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--dtype", choices=DTYPES, help="storage dtype of every row for "
                        "clconvt (PyTorch always runs float32)")
    parser.add_argument("--device", help="clconvt-bench --device selector")
    parser.add_argument("--filter", help="only rows whose name contains this")
    parser.add_argument("--output", help="also write the markdown to this file")
    args = parser.parse_args()

    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be at least 1")
    if args.bench is None:
        args.bench = default_bench(root)
        if args.bench is None:
            parser.error("no clconvt-bench in build-release/tools or build/tools; build it or "
                         "give --bench")
    if not os.access(args.bench, os.X_OK):
        parser.error(f"--bench '{args.bench}' is not an executable file")
    if args.shapes is None:
        candidate = root.parent / "shared" / "bench" / "shapes.csv"
        if not candidate.exists():
            parser.error(f"no --shapes given and {candidate} does not exist")
        args.shapes = str(candidate)
    if not os.path.isfile(args.shapes):
        parser.error(f"--shapes '{args.shapes}' is not a file")

    rows = load_rows(args.shapes, args.dtype, args.filter)
    rows_by_label = {row["label"]: row for row in rows}
    if len(rows_by_label) != len(rows):
        fail(f"{args.shapes}: duplicate row names")

    import torch  # only here: the library, its build and its tests never need it

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))  # load the BLAS before reading the maps
    blas_config, blas_mapped = blas_description(torch)

    clconvt_runs, torch_runs, sgemm_runs = [], [], []
    device, bench_failed = "", False
    for r in range(args.rounds):
        order = ("clconvt", "torch") if r % 2 == 0 else ("torch", "clconvt")
        for which in order:
            if which == "clconvt":
                # PyTorch's OpenMP workers spin for a while after its last call; started at once,
                # clconvt-bench's first row would share the cores with them (seen: hifigan_v1_up1
                # at 7.5 ms right after PyTorch, 3.7 ms otherwise).
                time.sleep(2.0)
                results, device, rc = run_clconvt(args, rows_by_label, r + 1)
                bench_failed |= rc != 0
                clconvt_runs.append(results)
            else:
                torch_runs.append(run_torch(torch, rows, args.repeat, r + 1))
                sgemm_runs.append(sgemm_gflops(torch))
    sgemm = statistics.median(sgemm_runs)

    model, nproc = machine_description()
    command = shlex.join([sys.executable] + sys.argv)
    out = []
    out.append("# clconvt vs PyTorch: ConvTranspose1d on CPU\n")
    out.append(f"- command: `{command}`")
    out.append(f"- clconvt-bench: `{args.bench}`, shapes `{args.shapes}`, {args.rounds} rounds "
               f"x ({WARMUP} warm-up + {args.repeat} timed) per row; per-row medians over the "
               "rounds (each round is itself a median); clconvt and PyTorch alternate, the "
               "first of each round alternating too")
    out.append(f"- machine: {model}, nproc {nproc}")
    out.append(f"- OpenCL device: {device or 'unknown'}")
    out.append(f"- PyTorch {torch.__version__}, {torch.get_num_threads()} threads "
               f"(torch.set_num_threads(os.cpu_count() = {threads})), float32, no_grad")
    out.append(f"- torch BLAS (build config): {'; '.join(blas_config) or 'not stated'}")
    out.append(f"- BLAS libraries loaded: {', '.join(blas_mapped) or 'none found'}")
    out.append(f"- SGEMM ({SGEMM_N}x{SGEMM_N} float32 torch.mm, median of {SGEMM_RUNS} per "
               f"round, median over rounds): **{sgemm:.1f} GFLOP/s** (rounds: "
               + ", ".join(f"{g:.1f}" for g in sgemm_runs) + ")")
    env = ", ".join(f"{name}={os.environ[name]!r}" if name in os.environ else f"{name} unset"
                    for name in ENV_REPORTED)
    out.append(f"- environment (reported, not changed by this script): {env}")
    out.append("- f16/bf16 rows: PyTorch runs them in float32 (CPU half convolution is "
               "unsupported or slow), the fair CPU baseline; nlc rows: PyTorch's time includes "
               "the transposes to and from its NCL layout")
    out.append("- clconvt ms: clconvt_layer_forward on device buffers + clFinish; first call: "
               "layer create + weight/bias staging + first forward_host, program build "
               "included (PoCL's on-disk cache ~/.cache/pocl persists across runs, so a warm "
               "cache makes it cheaper); error: the worst over the rounds\n")

    header = ("| name | plan | clconvt ms | torch ms | speedup | clconvt GFLOP/s | % of SGEMM "
              "| normalised error | peak device MiB | first call ms |")
    out.append(header)
    out.append("|" + "---|" * 2 + "---:|" * 8)
    speedups, not_slower, wide = [], [], []
    for row in rows:
        label = row["label"]
        mine = [run[label] for run in clconvt_runs if label in run]
        torch_ms = statistics.median(run[label] for run in torch_runs)
        if len(mine) < len(clconvt_runs):
            out.append(f"| {label} | ERROR | - | {torch_ms:.3f} | - | - | - | - | - | - |")
            continue
        ms = statistics.median(m["ms"] for m in mine)
        gflops = flops(row) / (ms * 1e-3) * 1e-9
        speedup = torch_ms / ms
        error = max(m["error"] for m in mine)
        peak = max(m["peak"] for m in mine) / 2**20
        first = statistics.median(m["first_ms"] for m in mine)
        plans = sorted({m["plan"] for m in mine})
        speedups.append(speedup)
        if speedup >= 1.0:
            not_slower.append(label)
        cout_g = row["out_channels"] // row["groups"]
        if row["in_channels"] * cout_g >= WIDE_CIN_COUT_G:
            wide.append((label, gflops / sgemm))
        out.append(f"| {label} | {'/'.join(plans)} | {ms:.3f} | {torch_ms:.3f} | "
                   f"{speedup:.2f}x | {gflops:.1f} | {100 * gflops / sgemm:.0f}% | "
                   f"{error:.2e} | {peak:.2f} | {first:.1f} |")

    out.append("")
    if speedups:
        geomean = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
        out.append(f"- geometric-mean speedup (torch ms / clconvt ms): **{geomean:.2f}x** over "
                   f"{len(speedups)} row{'s' if len(speedups) != 1 else ''}")
    out.append(f"- clconvt not slower than PyTorch: {len(not_slower)} of {len(rows)} rows")
    slower = [row["label"] for row in rows
              if row["label"] not in not_slower and all(row["label"] in r for r in clconvt_runs)]
    if slower:
        out.append(f"- slower than PyTorch: {', '.join(slower)}")
    reached = [label for label, fraction in wide if fraction >= SGEMM_TARGET]
    out.append(f"- rows with Cin*Cout/groups >= {WIDE_CIN_COUT_G} reaching "
               f"{SGEMM_TARGET:.0%} of SGEMM: {len(reached)} of {len(wide)}")
    for label, fraction in wide:
        out.append(f"  - {label}: {fraction:.0%} of SGEMM "
                   f"({'yes' if fraction >= SGEMM_TARGET else 'no'})")
    if bench_failed:
        out.append("- **clconvt-bench reported a failure** (a row failed or exceeded its error "
                   "bound); see its messages on stderr")

    # The machine may be shared: show each round, so that the spread behind the medians shows.
    out.append("\nPer round: clconvt ms / torch ms (speedup); SGEMM GFLOP/s per round: "
               + ", ".join(f"{g:.1f}" for g in sgemm_runs) + "\n")
    out.append("| name | " + " | ".join(f"round {r + 1}" for r in range(args.rounds)) + " |")
    out.append("|---|" + "---:|" * args.rounds)
    for row in rows:
        label = row["label"]
        cells = []
        for mine, theirs in zip(clconvt_runs, torch_runs):
            if label in mine:
                ms = mine[label]["ms"]
                cells.append(f"{ms:.3f} / {theirs[label]:.3f} ({theirs[label] / ms:.2f}x)")
            else:
                cells.append(f"ERROR / {theirs[label]:.3f}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if args.output:
        tmp = f"{args.output}.tmp{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, args.output)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            fail(f"cannot write --output '{args.output}': {e}")
    return 1 if bench_failed else 0


if __name__ == "__main__":
    sys.exit(main())
