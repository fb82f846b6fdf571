#!/usr/bin/python3
"""PyTorch's side of issue 15's fusion benchmark: per shapes.csv row, the median time of
activation + conv_transpose1d (the two passes a PyTorch vocoder runs) and of conv_transpose1d
alone, interleaved, float32 on the CPU, torch.set_num_threads(os.cpu_count()), under no_grad,
with the warm-up (2) and repeat count of clconvt-bench-activation. The activation is
F.leaky_relu(x, 0.1), F.elu(x, 1.0) or DAC's Snake1d (x + sin(alpha x)^2 / (alpha + 1e-9), with
the bench tool's alphas). Prints CSV: name, torch_conv_ms, torch_activation_conv_ms.

usage: bench_activation_torch.py SHAPES.csv [--activation leaky_relu|elu|snake] [--repeat N]
       [--filter SUBSTRING]
Needs torch (the benchmark venv), never the build or the tests.
"""

import argparse
import csv
import os
import statistics
import time

import torch
import torch.nn.functional as F

WARMUP = 2


def activation(kind, cin):
    if kind == "leaky_relu":
        return lambda x: F.leaky_relu(x, 0.1)
    if kind == "elu":
        return lambda x: F.elu(x, 1.0)
    alpha = torch.tensor([0.5 + (c % 8) * 0.125 for c in range(cin)]).view(1, cin, 1)
    return lambda x: x + (alpha + 1e-9).reciprocal() * torch.sin(alpha * x).pow(2)


def run_row(row, kind, repeat):
    n, cin, cout = int(row["batch"]), int(row["in_channels"]), int(row["out_channels"])
    k, groups, length = int(row["kernel"]), int(row["groups"]), int(row["length_in"])
    x = torch.rand(n, cin, length) * 2 - 1
    w = (torch.rand(cin, cout // groups, k) * 2 - 1) / (cout // groups * k) ** 0.5
    b = torch.rand(cout) * 0.1 if int(row["bias"]) else None
    act = activation(kind, cin)
    nlc = row["layout"] == "nlc"
    if nlc:
        x = x.transpose(1, 2).contiguous()

    def conv(inp):
        if nlc:  # what a channels-last caller pays in PyTorch, as compare_bench.py
            inp = inp.transpose(1, 2)
        y = F.conv_transpose1d(inp, w, b, stride=int(row["stride"]),
                               padding=int(row["padding"]),
                               output_padding=int(row["output_padding"]), groups=groups,
                               dilation=int(row["dilation"]))
        return y.transpose(1, 2).contiguous() if nlc else y

    def fused(inp):
        if nlc:
            return conv(act(inp.transpose(1, 2)).transpose(1, 2))
        return conv(act(inp))

    plain_t, fused_t = [], []
    with torch.no_grad():
        for _ in range(WARMUP):
            conv(x), fused(x)
        for r in range(repeat):
            order = ((conv, plain_t), (fused, fused_t))
            for f, times in order if r % 2 == 0 else order[::-1]:
                t0 = time.perf_counter()
                f(x)
                times.append(time.perf_counter() - t0)
    return statistics.median(plain_t) * 1e3, statistics.median(fused_t) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("shapes")
    parser.add_argument("--activation", default="leaky_relu",
                        choices=("leaky_relu", "elu", "snake"))
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--filter", default=None)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    with open(args.shapes, newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]
    print("name,torch_conv_ms,torch_activation_conv_ms")
    for row in rows:
        if args.filter and args.filter not in row["name"]:
            continue
        plain, fused = run_row(row, args.activation, args.repeat)
        print(f"{row['name']},{plain:.4f},{fused:.4f}", flush=True)


if __name__ == "__main__":
    main()
