#!/usr/bin/env python3
"""Compare clconvt-bench with the CPU runtimes people use: PyTorch, ONNX Runtime and OpenVINO.

Over several rounds, clconvt-bench and each peer take turns over the whole shapes table (the
order of the turns rotates from round to round). Each peer runs in a worker process of its own,
started once, so that the thread pools of different runtimes never compete, with 2 threads each:
- PyTorch: F.conv_transpose1d under torch.inference_mode(), torch.set_num_threads(2);
- ONNX Runtime: one ConvTranspose node (opset 22, W and B as initializers),
  intra_op_num_threads=2, inter_op_num_threads=1, inputs and outputs bound (IO binding);
- OpenVINO: ConvolutionBackpropData (GroupConvolutionBackpropData when groups > 1) + bias,
  compiled for "CPU" with INFERENCE_NUM_THREADS=2 and INFERENCE_PRECISION_HINT=f32 (without
  the hint OpenVINO silently runs bf16 on CPUs with AMX).
Every peer's output is checked against a float64 reference (NumPy) before its time counts; a
row whose output is wrong shows as WRONG, not as a time.

Also per round, in the PyTorch worker: torch.mm of 2048 x 2048 float32 (the machine's GEMM rate
in this run) and PyTorch in bfloat16 (its own column: oneDNN uses AMX on CPUs that have it,
400-1100 GFLOP/s on these rows on Sapphire Rapids, which OpenCL on PoCL cannot reach).

Per row: each peer's median ms, the best peer, best peer / clconvt (> 1: clconvt is faster),
clconvt GFLOP/s and its % of the in-run torch.mm rate; each one's first call (clconvt: layer
create + set_weight + set_bias + first forward_host, with its set_weight alone; a peer: building
its model or session from the weights + its first run). Summary: geomean vs the best peer, rows
not slower. nlc rows: each peer gets the (N, L, Cin) input and does the transposes it needs
(inside its graph for ONNX Runtime and OpenVINO). f16/bf16 rows (--dtype): clconvt stores
f16/bf16, the peers run f32 on the same shapes.

Needs numpy and the runtimes (tools/install-bench-deps.sh makes a virtual environment with
them); a peer whose module is missing is skipped with a note. --rounds 1 --filter NAME --peers
torch make a quick check. Exit status: 0 on success; 1 when clconvt-bench failed or a row
exceeded its error bound, or a peer's output was wrong (the tables are still printed); 2 on a
usage error.
"""

import argparse
import csv
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARMUP = 2
THREADS = 2
MM_N = 2048
MM_RUNS = 7
WIDE_CIN_COUT_G = 32768
MM_TARGET = 0.80
BOUND = {"f32": 2e-5, "bf16": 1.6e-2}
PEERS = ("torch", "openvino", "ort")
PEER_TITLES = {"torch": "torch", "openvino": "OpenVINO", "ort": "ORT"}
PEER_MODULES = {"torch": "torch", "openvino": "openvino", "ort": "onnxruntime"}
ENV_REPORTED = ("CLCONVT_DEVICE", "CLCONVT_PLAN", "CLCONVT_CACHE_DIR", "CLCONVT_TUNING_DB",
                "POCL_AFFINITY", "OMP_NUM_THREADS")
INT_COLUMNS = ("batch", "in_channels", "out_channels", "kernel", "stride", "padding",
               "output_padding", "dilation", "groups", "length_in", "bias")
DTYPES = ("f32", "f16", "bf16")


def fail(message):
    print(f"compare_bench: {message}", file=sys.stderr)
    sys.exit(1)


def load_rows(path, dtype_override, filter_text):
    """The rows of the shapes file, labelled as clconvt-bench labels them (name@dtype unless
    f32). clconvt-bench checks the file strictly; this only reads what the peers run."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = [line for line in f if line.strip() and not line.lstrip().startswith("#")]
    for number, record in enumerate(csv.DictReader(lines), start=2):
        record = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
        try:
            row = {key: int(record[key]) for key in INT_COLUMNS}
        except (KeyError, ValueError) as e:
            fail(f"{path}: data row {number - 1}: cannot read {e}")
        dtype = dtype_override or record.get("dtype") or "f32"
        if dtype not in DTYPES:
            fail(f"{path}: data row {number - 1}: dtype '{dtype}' is not one of {DTYPES}")
        row.update(name=record["name"], layout=record["layout"], dtype=dtype)
        row["label"] = row["name"] if dtype == "f32" else f"{row['name']}@{dtype}"
        if filter_text is None or filter_text in row["label"]:
            rows.append(row)
    if not rows:
        fail(f"{path}: no rows" + (f" whose name contains '{filter_text}'" if filter_text else ""))
    return rows


def flops(row):
    cout_g = row["out_channels"] // row["groups"]
    return 2.0 * row["batch"] * row["length_in"] * row["in_channels"] * cout_g * row["kernel"]


def length_out(row):
    return ((row["length_in"] - 1) * row["stride"] - 2 * row["padding"]
            + row["dilation"] * (row["kernel"] - 1) + row["output_padding"] + 1)


# ---- The workers (one process per peer) ---------------------------------------------------------

ROW_DATA = {}


def row_data(np, row):
    """The row's input (in its layout), weight (Cin, Cout/groups, K) and bias, the same in every
    worker, and the float64 reference output (in the row's layout); made once per worker."""
    if row["label"] not in ROW_DATA:
        ROW_DATA[row["label"]] = make_row_data(np, row)
    return ROW_DATA[row["label"]]


def make_row_data(np, row):
    rng = np.random.default_rng(sum(map(ord, row["label"])) * 7919)
    n, cin, cout, k = row["batch"], row["in_channels"], row["out_channels"], row["kernel"]
    g = row["groups"]
    scale = 1.0 / math.sqrt(cout // g * k)
    x = rng.uniform(-1, 1, (n, cin, row["length_in"])).astype(np.float32)
    w = (rng.uniform(-1, 1, (cin, cout // g, k)) * scale).astype(np.float32)
    b = (rng.uniform(-1, 1, cout) * scale).astype(np.float32) if row["bias"] else None
    ref = reference(np, row, x.astype(np.float64), w.astype(np.float64),
                    None if b is None else b.astype(np.float64))
    if row["layout"] == "nlc":
        x, ref = np.ascontiguousarray(x.transpose(0, 2, 1)), ref.transpose(0, 2, 1)
    return x, w, b, ref


def reference(np, row, x, w, b):
    """ConvTranspose1d in float64: y[n, g*cout_g + co, t*s + j*d - pad] += x[n, ci, t] w[ci, co, j]."""
    n, cin, lin = x.shape
    g, s, d, pad = row["groups"], row["stride"], row["dilation"], row["padding"]
    cin_g, cout_g, k = cin // g, w.shape[1], w.shape[2]
    full = (lin - 1) * s + d * (k - 1) + 1 + row["output_padding"]
    y = np.zeros((n, g * cout_g, full))
    for gi in range(g):
        xs = x[:, gi * cin_g:(gi + 1) * cin_g, :]
        for j in range(k):
            part = np.einsum("nct,co->not", xs, w[gi * cin_g:(gi + 1) * cin_g, :, j])
            y[:, gi * cout_g:(gi + 1) * cout_g, j * d:j * d + (lin - 1) * s + 1:s] += part
    y = y[:, :, pad:pad + length_out(row)]
    return y + b[None, :, None] if b is not None else y


def normalised_error(np, y, ref):
    return float(np.max(np.abs(y.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-300))


def median_ms(call, repeat):
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


class TorchPeer:
    def __init__(self):
        import torch
        self.torch = torch
        torch.set_num_threads(THREADS)
        self.version = f"torch {torch.__version__}"

    def prepare(self, np, row, x, w, b, dtype="f32"):
        torch, F = self.torch, self.torch.nn.functional
        kind = torch.bfloat16 if dtype == "bf16" else torch.float32
        tx = torch.from_numpy(x).to(kind)
        tw, tb = torch.from_numpy(w).to(kind), None if b is None else torch.from_numpy(b).to(kind)
        options = dict(stride=row["stride"], padding=row["padding"],
                       output_padding=row["output_padding"], groups=row["groups"],
                       dilation=row["dilation"])
        nlc = row["layout"] == "nlc"

        def call():
            with torch.inference_mode():
                y = F.conv_transpose1d(tx.transpose(1, 2) if nlc else tx, tw, tb, **options)
                return y.transpose(1, 2).contiguous() if nlc else y

        return lambda: call().float().numpy()

    def extra(self, np, row, x, w, b, ref, repeat):
        """PyTorch in bfloat16: its own column."""
        run = self.prepare(np, row, x, w, b, "bf16")
        error = normalised_error(np, run(), ref)
        if error > BOUND["bf16"]:
            return {"bf16_error": error}
        return {"bf16_ms": median_ms(run, repeat), "bf16_error": error}

    def mm_gflops(self):
        torch = self.torch
        a, b = torch.rand(MM_N, MM_N), torch.rand(MM_N, MM_N)
        with torch.inference_mode():
            ms = median_ms(lambda: torch.mm(a, b), MM_RUNS)
        return 2.0 * MM_N ** 3 / (ms * 1e-3) * 1e-9


class OrtPeer:
    def __init__(self):
        import onnx
        import onnxruntime
        self.onnx, self.ort = onnx, onnxruntime
        self.version = f"onnxruntime {onnxruntime.__version__} (onnx {onnx.__version__})"

    def prepare(self, np, row, x, w, b):
        from onnx import TensorProto, helper, numpy_helper
        nlc = row["layout"] == "nlc"
        p = row["padding"]
        inputs = ["xt" if nlc else "X", "W"] + (["B"] if b is not None else [])
        nodes = [helper.make_node("Transpose", ["X"], ["xt"], perm=[0, 2, 1])] if nlc else []
        nodes.append(helper.make_node(
            "ConvTranspose", inputs, ["yt" if nlc else "Y"], strides=[row["stride"]],
            pads=[p, p], output_padding=[row["output_padding"]], dilations=[row["dilation"]],
            group=row["groups"], kernel_shape=[row["kernel"]]))
        if nlc:
            nodes.append(helper.make_node("Transpose", ["yt"], ["Y"], perm=[0, 2, 1]))
        out_shape = ([row["batch"], length_out(row), row["out_channels"]] if nlc else
                     [row["batch"], row["out_channels"], length_out(row)])
        inits = [numpy_helper.from_array(w, "W")] + (
            [numpy_helper.from_array(b, "B")] if b is not None else [])
        graph = helper.make_graph(
            nodes, "convtranspose1d",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, out_shape)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = self.ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])
        y = np.empty(out_shape, np.float32)
        binding = session.io_binding()
        binding.bind_cpu_input("X", x)
        binding.bind_ortvalue_output("Y", self.ort.OrtValue.ortvalue_from_numpy(y))

        def call():
            session.run_with_iobinding(binding)
            return y

        return call


class OpenVinoPeer:
    def __init__(self):
        import openvino
        import openvino.opset15 as ops
        self.ov, self.ops = openvino, ops
        self.core = openvino.Core()
        self.version = f"OpenVINO {openvino.__version__}"

    def prepare(self, np, row, x, w, b):
        ops, g, p = self.ops, row["groups"], row["padding"]
        nlc = row["layout"] == "nlc"
        data = ops.parameter(list(x.shape), np.float32, name="X")
        node = ops.transpose(data, ops.constant(np.array([0, 2, 1], np.int64))) if nlc else data
        common = dict(strides=[row["stride"]], pads_begin=[p], pads_end=[p],
                      dilations=[row["dilation"]], output_padding=[row["output_padding"]])
        if g == 1:
            node = ops.convolution_backprop_data(node, ops.constant(w), **common)
        else:  # filters [groups, Cin/groups, Cout/groups, K]
            filters = w.reshape(g, w.shape[0] // g, w.shape[1], w.shape[2])
            node = ops.group_convolution_backprop_data(node, ops.constant(filters), **common)
        if b is not None:
            node = ops.add(node, ops.constant(b.reshape(1, -1, 1)))
        if nlc:
            node = ops.transpose(node, ops.constant(np.array([0, 2, 1], np.int64)))
        model = self.ov.Model([node], [data], "convtranspose1d")
        compiled = self.core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": THREADS,
                                                          "INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        request.set_input_tensor(self.ov.Tensor(x, shared_memory=True))

        def call():
            request.infer()
            return request.get_output_tensor().data

        return call


PEER_CLASSES = {"torch": TorchPeer, "ort": OrtPeer, "openvino": OpenVinoPeer}


def worker_row(peer, np, row, repeat):
    x, w, b, ref = row_data(np, row)
    t0 = time.perf_counter()
    run = peer.prepare(np, row, x, w, b)
    y = run()
    first_ms = (time.perf_counter() - t0) * 1e3
    result = {"first_ms": first_ms, "error": normalised_error(np, y, ref)}
    if result["error"] <= BOUND["f32"]:
        result["ms"] = median_ms(run, repeat)
    if hasattr(peer, "extra"):
        result.update(peer.extra(np, row, x, w, b, ref, repeat))
    return result


def worker(name):
    """Reads one JSON request per line, answers one JSON line each (stdout is the channel)."""
    channel, sys.stdout = sys.stdout, sys.stderr
    import numpy as np
    try:
        peer = PEER_CLASSES[name]()
        answer = {"version": peer.version}
    except Exception as e:  # a runtime that does not load: the main process reports it
        answer = {"failed": f"{type(e).__name__}: {e}"}
    print(json.dumps(answer), file=channel, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["what"] == "mm":
                answer = {"gflops": peer.mm_gflops()}
            else:
                answer = worker_row(peer, np, request["row"], request["repeat"])
        except Exception as e:
            answer = {"failed": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer), file=channel, flush=True)


class Worker:
    def __init__(self, name):
        env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        hello = self.ask(None)
        self.version, self.failed = hello.get("version"), hello.get("failed")

    def ask(self, request):
        if request is not None:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            fail(f"the {self.name} worker exited (status {self.proc.wait()})")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


# ---- The main process -----------------------------------------------------------------------------

def run_clconvt(args, rows_by_label, round_no):
    """One clconvt-bench run over every row; {label: result dict}, the device line, rc."""
    with tempfile.TemporaryDirectory(prefix="compare_bench.") as tmp:
        out_csv = os.path.join(tmp, "bench.csv")
        command = [args.bench, "--shapes", args.shapes, "--repeat", str(args.repeat),
                   "--csv", out_csv]
        for option in ("dtype", "device", "filter"):
            if getattr(args, option):
                command += [f"--{option}", getattr(args, option)]
        print(f"compare_bench: round {round_no}: {shlex.join(command)}", file=sys.stderr)
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        if proc.returncode not in (0, 1) or not os.path.exists(out_csv):
            sys.stderr.write(proc.stdout)
            fail(f"clconvt-bench failed (exit status {proc.returncode}); see its messages above")
        device = next((line[len("device: "):] for line in proc.stdout.splitlines()
                       if line.startswith("device: ")), "")
        results = {}
        with open(out_csv, newline="") as f:
            for record in csv.DictReader(f):
                if record["name"] not in rows_by_label:
                    fail(f"clconvt-bench reported an unknown row '{record['name']}'")
                results[record["name"]] = {
                    "plan": record["plan"], "ms": float(record["median_ms"]),
                    "error": float(record["normalised_error"]),
                    "first_ms": float(record["first_call_ms"]),
                    "stage_ms": float(record["stage_ms"]),
                }
    return results, device, proc.returncode


def run_peer(worker, rows, repeat, round_no):
    results = {}
    for index, row in enumerate(rows, start=1):
        print(f"[{worker.name} round {round_no}] [{index}/{len(rows)}] {row['label']} ...",
              file=sys.stderr)
        results[row["label"]] = worker.ask({"what": "row", "row": row, "repeat": repeat})
    if worker.name == "torch":
        results["mm"] = worker.ask({"what": "mm"})
    return results


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cell(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def peer_ms(runs, label, key="ms"):
    """The peer's median over the rounds; 'WRONG' when its output failed the check."""
    results = [run.get(label, {}) for run in runs]
    if any("failed" in r for r in results):
        return "ERROR"
    if any(key not in r for r in results):
        return "WRONG"
    return statistics.median(r[key] for r in results)


def report(args, rows, clconvt_runs, peer_runs, workers, device, bench_failed):
    mm = median_of(run["mm"].get("gflops") for run in peer_runs.get("torch", []))
    active = [name for name in PEERS if name in peer_runs]
    model = "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True, check=False).stdout
        model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                      if l.startswith("Model name:")), model)
    except OSError:
        pass
    out = ["# clconvt vs PyTorch, ONNX Runtime, OpenVINO: ConvTranspose1d on CPU\n"]
    out.append(f"- command: `{shlex.join([sys.executable] + sys.argv)}`")
    out.append(f"- clconvt-bench `{args.bench}`, shapes `{args.shapes}`, {args.rounds} rounds x "
               f"({WARMUP} warm-up + {args.repeat} timed) per row and runtime; per-row medians "
               "over the rounds; the runtimes take turns over the whole table, the order "
               "rotating each round; each peer in a worker process of its own")
    out.append(f"- machine: {model}, nproc {len(os.sched_getaffinity(0))}; OpenCL device: "
               f"{device or 'unknown'}")
    for name in PEERS:
        w = workers.get(name)
        if w is not None:
            out.append(f"- {PEER_TITLES[name]}: {w.version or 'not loaded: ' + str(w.failed)}, "
                       f"{THREADS} threads")
    out.append("- torch under inference_mode; ORT: one ConvTranspose node, opset 22, "
               "initializers, IO binding; OpenVINO: (Group)ConvolutionBackpropData + bias, "
               "INFERENCE_PRECISION_HINT=f32. Every output checked against a float64 reference "
               f"(normalised error <= {BOUND['f32']:g}) before its time counts")
    if mm is not None:
        out.append(f"- torch.mm {MM_N}^3 float32, {THREADS} threads, in this run: **{mm:.1f} "
                   "GFLOP/s** (rounds: " + ", ".join(
                       cell(run["mm"].get("gflops"), 1) for run in peer_runs["torch"]) + ")")
    env = ", ".join(f"{k}={os.environ[k]!r}" if k in os.environ else f"{k} unset"
                    for k in ENV_REPORTED)
    out.append(f"- environment: {env}")
    out.append("- torch bf16: PyTorch with bfloat16 weights and activations, its own column, not "
               "among the peers: oneDNN runs it on AMX where the CPU has it (Sapphire Rapids: "
               "400-1100 GFLOP/s on these rows), which OpenCL on PoCL cannot reach; nlc rows: "
               "each peer does the transposes it needs; f16/bf16 rows: the peers run f32\n")

    titles = [PEER_TITLES[n] + " ms" for n in active]
    out.append("| name | plan | clconvt ms | " + " | ".join(titles) + " | best peer | best peer / "
               "clconvt | clconvt GFLOP/s | % of mm | torch bf16 ms |")
    out.append("|---|---|" + "---:|" * (len(active) + 6))
    ratios, not_slower, wide, wrong = [], 0, [], False
    for row in rows:
        label = row["label"]
        mine = [run.get(label) for run in clconvt_runs]
        peers = {n: peer_ms(peer_runs[n], label) for n in active}
        wrong |= any(isinstance(v, str) for v in peers.values())
        timed = {n: v for n, v in peers.items() if not isinstance(v, str)}
        best = min(timed, key=timed.get) if timed else None
        bf16 = peer_ms(peer_runs["torch"], label, "bf16_ms") if "torch" in active else None
        peer_cells = [v if isinstance(v, str) else cell(v) for v in peers.values()]
        if any(m is None for m in mine):
            out.append(f"| {label} | ERROR | - | " + " | ".join(peer_cells) + " | - | - | - | - | "
                       f"{bf16 if isinstance(bf16, str) else cell(bf16)} |")
            continue
        ms = statistics.median(m["ms"] for m in mine)
        gflops = flops(row) / (ms * 1e-3) * 1e-9
        ratio = timed[best] / ms if best else None
        if ratio is not None:
            ratios.append(ratio)
            not_slower += ratio >= 1.0
        if mm and row["in_channels"] * row["out_channels"] // row["groups"] >= WIDE_CIN_COUT_G:
            wide.append((label, gflops / mm))
        plans = "/".join(sorted({m["plan"] for m in mine}))
        out.append(f"| {label} | {plans} | {ms:.3f} | " + " | ".join(peer_cells) +
                   f" | {PEER_TITLES[best] if best else '-'} | "
                   f"{'-' if ratio is None else f'{ratio:.2f}x'} | {gflops:.1f} | "
                   f"{'-' if not mm else f'{100 * gflops / mm:.0f}%'} | "
                   f"{bf16 if isinstance(bf16, str) else cell(bf16)} |")
    out.append("")
    if ratios:
        geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
        out.append(f"- geomean best peer / clconvt: **{geomean:.2f}x** over {len(ratios)} rows; "
                   f"clconvt not slower than the best peer on **{not_slower} of {len(ratios)}**")
    if wide:
        reached = sum(fraction >= MM_TARGET for _, fraction in wide)
        out.append(f"- rows with Cin*Cout/groups >= {WIDE_CIN_COUT_G} at >= {MM_TARGET:.0%} of "
                   f"torch.mm: {reached} of {len(wide)} ("
                   + ", ".join(f"{label} {fraction:.0%}" for label, fraction in wide) + ")")
    if bench_failed:
        out.append("- **clconvt-bench reported a failure**; see its messages on stderr")
    if wrong:
        out.append("- **a peer's output failed the float64 check (WRONG) or it failed (ERROR)**")

    out.append("\nFirst call (ms, median over the rounds): clconvt = layer create + set_weight + "
               "set_bias + first forward_host (stage = set_weight alone; program build from the "
               "disk cache when CLCONVT_CACHE_DIR is not off: warm after the first round); a "
               "peer = building its model/session from the weights + its first run (round 1 "
               "in a fresh process, later rounds with the runtime's own caches warm)\n")
    out.append("| name | clconvt first | clconvt stage | " +
               " | ".join(PEER_TITLES[n] + " first" for n in active) + " | clconvt / torch first |")
    out.append("|---|" + "---:|" * (len(active) + 3))
    for row in rows:
        label = row["label"]
        mine = [run.get(label) for run in clconvt_runs]
        firsts = {n: median_of(r.get(label, {}).get("first_ms") for r in peer_runs[n])
                  for n in active}
        if any(m is None for m in mine):
            out.append(f"| {label} | ERROR | - | " + " | ".join(cell(v, 1) for v in firsts.values())
                       + " | - |")
            continue
        first = statistics.median(m["first_ms"] for m in mine)
        stage = statistics.median(m["stage_ms"] for m in mine)
        theirs = firsts.get("torch")
        out.append(f"| {label} | {first:.1f} | {stage:.1f} | " +
                   " | ".join(cell(v, 1) for v in firsts.values()) +
                   f" | {f'{first / theirs:.2f}x' if theirs else '-'} |")

    out.append("\nPer round, ms: clconvt / " + " / ".join(PEER_TITLES[n] for n in active) + "\n")
    out.append("| name | " + " | ".join(f"round {r + 1}" for r in range(args.rounds)) + " |")
    out.append("|---|" + "---:|" * args.rounds)
    for row in rows:
        label, cells = row["label"], []
        for r in range(args.rounds):
            parts = [cell((clconvt_runs[r].get(label) or {}).get("ms"))]
            parts += [cell(peer_runs[n][r].get(label, {}).get("ms")) for n in active]
            cells.append(" / ".join(parts))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n", wrong


def default_bench(root):
    for build in ("build-release", "build"):
        candidate = root / build / "tools" / "clconvt-bench"
        if candidate.exists():
            return str(candidate)
    return None


def parse_args(root):
    parser = argparse.ArgumentParser(
        description="Run clconvt-bench, PyTorch, ONNX Runtime and OpenVINO in turns over the "
                    "same shapes table and compare them (markdown on stdout).")
    parser.add_argument("--bench", help="clconvt-bench executable (default: "
                        "build-release/tools/clconvt-bench, else build/tools/clconvt-bench)")
    parser.add_argument("--shapes", help="shapes CSV (default: ../shared/bench/shapes.csv "
                        "relative to the repository root)")
    parser.add_argument("--repeat", type=int, default=10,
                        help="timed runs per row, runtime and round, after 2 warm-ups (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--dtype", choices=DTYPES, help="clconvt's storage dtype for every row "
                        "(the peers run float32)")
    parser.add_argument("--device", help="clconvt-bench --device selector")
    parser.add_argument("--filter", help="only rows whose name contains this")
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"comma-separated peers among {','.join(PEERS)} (default: all)")
    parser.add_argument("--output", help="also write the markdown to this file")
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return args
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be at least 1")
    args.peer_list = [p for p in args.peers.split(",") if p]
    unknown = [p for p in args.peer_list if p not in PEERS]
    if unknown:
        parser.error(f"--peers: unknown {', '.join(unknown)} (known: {', '.join(PEERS)})")
    args.bench = args.bench or default_bench(root)
    if args.bench is None or not os.access(args.bench, os.X_OK):
        parser.error("no executable clconvt-bench (build it, or give --bench)")
    if args.shapes is None:
        args.shapes = str(root.parent / "shared" / "bench" / "shapes.csv")
    if not os.path.isfile(args.shapes):
        parser.error(f"--shapes '{args.shapes}' is not a file")
    return args


def main():
    root = Path(__file__).resolve().parent.parent
    args = parse_args(root)
    if args.worker:
        worker(args.worker)
        return 0
    rows = load_rows(args.shapes, args.dtype, args.filter)
    rows_by_label = {row["label"]: row for row in rows}
    if len(rows_by_label) != len(rows):
        fail(f"{args.shapes}: duplicate row names")
    try:
        import numpy  # noqa: F401  (the workers need it; fail here, once, with a clear message)
    except ImportError:
        fail("numpy is missing: run tools/install-bench-deps.sh and use its virtual "
             "environment's python")
    workers = {}
    for name in args.peer_list:
        w = Worker(name)
        workers[name] = w
        if w.failed:
            print(f"compare_bench: {name} is skipped: {w.failed}", file=sys.stderr)
    live = [n for n in args.peer_list if not workers[n].failed]

    clconvt_runs, peer_runs = [], {n: [] for n in live}
    device, bench_failed = "", False
    turns = ["clconvt"] + live
    for r in range(args.rounds):
        for which in turns[r % len(turns):] + turns[:r % len(turns)]:
            time.sleep(1.0)  # OpenMP workers of the previous turn spin a while after its last call
            if which == "clconvt":
                results, device, rc = run_clconvt(args, rows_by_label, r + 1)
                bench_failed |= rc != 0
                clconvt_runs.append(results)
            else:
                peer_runs[which].append(run_peer(workers[which], rows, args.repeat, r + 1))
    for w in workers.values():
        w.close()
    text, wrong = report(args, rows, clconvt_runs, peer_runs, workers, device, bench_failed)
    sys.stdout.write(text)
    if args.output:
        tmp = f"{args.output}.tmp{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, args.output)
        except OSError as e:
            fail(f"cannot write --output '{args.output}': {e}")
    return 1 if bench_failed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
