#!/usr/bin/python3
"""Generate the PyTorch golden data for clconvt's tests (tests/data/golden/).

Usage (from the repository root, with a Python that has torch and numpy):

    /usr/bin/python3 tools/gen_golden.py [--out tests/data/golden]

Deterministic: every case draws its values from numpy's PCG64 generator seeded with the CRC-32 of
the case name, so adding, removing or reordering cases leaves the other cases' files unchanged, and
a rerun with the same numpy rewrites identical files.

For each case the directory <out>/<name>/ holds
    x.npy  '<f4'  (N, Cin, L_in)           PyTorch layout (the tests transpose it for channels-last)
    w.npy  '<f4'  (Cin, Cout/groups, K)    PyTorch weight order
    b.npy  '<f4'  (Cout,)                  only when the case has a bias
    y.npy  '<f8'  (N, Cout, L_out)         the expected output
and <out>/cases.csv lists every case's parameters (see CSV_FIELDS).

How y is computed
-----------------
Inputs are uniform in [-1, 1) (both signs), drawn in float64 and rounded to float32; those float32
values are what x.npy, w.npy and b.npy hold. y is torch.nn.functional.conv_transpose1d evaluated in
float64 on exactly those float32 values.

PyTorch has only symmetric padding, while clconvt (like MAX) also has asymmetric (left, right)
padding. Padding only crops the full output (SPEC section 1), so every case is computed the same
way:
    full = conv_transpose1d(x, w, b, stride, padding=0, output_padding, groups, dilation)
         has length (L_in - 1)*stride + dilation*(K - 1) + output_padding + 1
    y    = full[:, :, pad_left : len(full) - pad_right]
which has the SPEC's L_out = (L_in - 1)*stride - pad_left - pad_right + dilation*(K - 1)
+ output_padding + 1 (checked). The bias is added to every position of `full`, so cropping after
adding it is the same as adding it after cropping.

Cross-checks made for every case before anything is written (the script stops if one fails):
- the length of y equals the SPEC formula;
- for symmetric padding, PyTorch's own padding=p gives the same y (to 1e-12 relative);
- an independent numpy float64 evaluation of the SPEC's scatter loop gives the same y (to 1e-12);
- the SPEC section 5 cases (which use arange/ones instead of random values) equal the SPEC's numbers
  exactly.
"""

import argparse
import csv
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

CSV_FIELDS = ["name", "batch", "in_channels", "out_channels", "kernel", "stride", "pad_left",
              "pad_right", "output_padding", "dilation", "groups", "bias", "length_in"]

# name, N, Cin, Cout, K, stride, pad_left, pad_right, output_padding, dilation, groups, bias, L_in
CASES = [
    # SPEC section 5 (values are arange / ones, not random; see special_values()).
    ("spec5_arange", 1, 2, 2, 3, 2, 1, 1, 1, 1, 1, 1, 4),
    ("spec5_ones", 1, 1, 1, 2, 2, 0, 0, 0, 1, 1, 0, 2),
    # stride 1
    ("s1_k1_pointwise", 1, 3, 5, 1, 1, 0, 0, 0, 1, 1, 1, 7),
    ("s1_k3_sym_n3", 3, 5, 7, 3, 1, 1, 1, 0, 1, 1, 1, 13),
    ("s1_k17_long", 1, 3, 5, 17, 1, 8, 8, 0, 1, 1, 0, 2000),
    ("s1_d3_op2", 1, 3, 5, 5, 1, 0, 0, 2, 3, 1, 1, 11),
    ("s1_d2_op1_asym", 2, 7, 3, 4, 1, 2, 1, 1, 2, 1, 0, 9),
    ("s1_depthwise_long", 1, 3, 3, 7, 1, 3, 3, 0, 1, 3, 1, 4099),
    ("s1_g2_k2", 2, 4, 6, 2, 1, 0, 1, 0, 1, 2, 1, 9),
    # stride 2
    ("s2_hifigan_128x64", 1, 128, 64, 4, 2, 1, 1, 0, 1, 1, 1, 19),
    ("s2_hifigan_64x32", 1, 64, 32, 4, 2, 1, 1, 0, 1, 1, 1, 23),
    ("s2_k4_op1_n3", 3, 13, 17, 4, 2, 1, 1, 1, 1, 1, 1, 10),
    ("s2_k1_op1", 1, 5, 3, 1, 2, 0, 0, 1, 1, 1, 1, 6),
    ("s2_l1", 1, 7, 5, 3, 2, 0, 0, 0, 1, 1, 1, 1),
    ("s2_asym_right", 1, 5, 7, 5, 2, 0, 3, 0, 1, 1, 0, 8),
    ("s2_d3_op2", 1, 3, 3, 3, 2, 1, 2, 2, 3, 1, 1, 9),
    ("s2_long", 1, 5, 7, 4, 2, 1, 1, 1, 1, 1, 1, 1000),
    ("s2_n0", 0, 3, 5, 4, 2, 1, 1, 0, 1, 1, 1, 6),
    # stride 3
    ("s3_k6_op2_n2", 2, 5, 5, 6, 3, 2, 1, 2, 1, 1, 1, 12),
    ("s3_g3_k7", 1, 9, 6, 7, 3, 3, 3, 0, 1, 3, 1, 10),
    ("s3_depthwise_c17", 1, 17, 17, 6, 3, 1, 1, 0, 1, 17, 1, 20),
    ("s3_d2_asym", 1, 3, 7, 5, 3, 4, 0, 1, 2, 1, 0, 8),
    ("s3_lout1", 1, 3, 5, 3, 3, 1, 1, 0, 1, 1, 1, 1),
    # stride 4
    ("s4_k8_c33", 1, 33, 17, 8, 4, 2, 2, 0, 1, 1, 1, 25),
    ("s4_k9_bigcrop", 1, 3, 5, 9, 4, 7, 6, 0, 1, 1, 1, 6),
    ("s4_k2_op3", 1, 5, 3, 2, 4, 0, 0, 3, 1, 1, 1, 7),
    ("s4_long_cout1", 1, 2, 1, 8, 4, 2, 2, 0, 1, 1, 1, 2500),
    # stride 5
    ("s5_k10_g2_n2", 2, 6, 4, 10, 5, 3, 2, 4, 1, 2, 1, 7),
    ("s5_k11_d3_depthwise", 1, 5, 5, 11, 5, 10, 13, 0, 3, 5, 0, 9),
    ("s5_l1_n3", 3, 3, 5, 5, 5, 0, 0, 0, 1, 1, 1, 1),
    # stride 6
    ("s6_k12_c13", 1, 13, 7, 12, 6, 3, 3, 0, 1, 1, 1, 15),
    ("s6_k17_d2_op5", 1, 7, 13, 17, 6, 0, 5, 5, 2, 1, 1, 5),
    ("s6_g3_cout33_n2", 2, 3, 33, 13, 6, 6, 6, 1, 1, 3, 1, 8),
    # stride 7
    ("s7_k14_asym", 1, 5, 5, 14, 7, 3, 4, 0, 1, 1, 1, 11),
    ("s7_k3_d3_op6", 1, 3, 3, 3, 7, 1, 0, 6, 3, 1, 0, 6),
    ("s7_g3_d3", 1, 6, 9, 7, 7, 9, 2, 0, 3, 3, 1, 9),
    # stride 8
    ("s8_hifigan_k16_64x32", 1, 64, 32, 16, 8, 4, 4, 0, 1, 1, 1, 16),
    ("s8_hifigan_k16_cin512", 1, 512, 8, 16, 8, 4, 4, 0, 1, 1, 1, 9),
    ("s8_hifigan_k16_cout256", 1, 8, 256, 16, 8, 4, 4, 0, 1, 1, 1, 7),
    ("s8_k17_op7_n3", 3, 5, 7, 17, 8, 0, 0, 7, 1, 1, 1, 4),
    ("s8_k1", 1, 3, 5, 1, 8, 0, 0, 0, 1, 1, 1, 5),
    ("s8_depthwise_d2", 1, 13, 13, 16, 8, 12, 11, 3, 2, 13, 0, 6),
    ("s8_l1_c1", 1, 1, 1, 8, 8, 0, 0, 0, 1, 1, 0, 1),
    ("s8_n0", 0, 5, 3, 16, 8, 4, 4, 0, 1, 1, 0, 3),
]


def output_length(n_in, k, stride, pl, pr, op, dil):
    return (n_in - 1) * stride - pl - pr + dil * (k - 1) + op + 1


def check_params(c):
    name, n, cin, cout, k, s, pl, pr, op, d, g, bias, length = c
    ok = (n >= 0 and cin >= 1 and cout >= 1 and k >= 1 and s >= 1 and pl >= 0 and pr >= 0
          and op >= 0 and d >= 1 and g >= 1 and cin % g == 0 and cout % g == 0
          and (op < s or op < d) and bias in (0, 1) and length >= 1
          and output_length(length, k, s, pl, pr, op, d) >= 1)
    if not ok:
        sys.exit(f"gen_golden: case {name} has invalid parameters")


def uniform_f32(rng, shape):
    """Uniform [-1, 1) values rounded to float32."""
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def special_values(name, n, cin, cout_g, k, cout, length):
    if name == "spec5_arange":
        x = np.arange(n * cin * length, dtype=np.float32).reshape(n, cin, length)
        w = np.arange(cin * cout_g * k, dtype=np.float32).reshape(cin, cout_g, k)
        b = np.arange(cout, dtype=np.float32)
        return x, w, b
    if name == "spec5_ones":
        return (np.ones((n, cin, length), np.float32), np.ones((cin, cout_g, k), np.float32),
                None)
    return None


SPEC5_EXPECTED = {
    "spec5_arange": np.array([[[28, 62, 36, 78, 44, 94, 52, 62],
                               [41, 93, 55, 121, 69, 149, 83, 93]]], dtype=np.float64),
    "spec5_ones": np.array([[[1, 1, 1, 1]]], dtype=np.float64),
}


def torch_golden(x, w, b, s, pl, pr, op, d, g):
    """conv_transpose1d in float64 with asymmetric padding done by cropping (see module doc)."""
    xt = torch.from_numpy(x.astype(np.float64))
    wt = torch.from_numpy(w.astype(np.float64))
    bt = None if b is None else torch.from_numpy(b.astype(np.float64))
    full = F.conv_transpose1d(xt, wt, bt, stride=s, padding=0, output_padding=op, groups=g,
                              dilation=d)
    y = full[:, :, pl:full.shape[2] - pr]
    if pl == pr:
        sym = F.conv_transpose1d(xt, wt, bt, stride=s, padding=pl, output_padding=op, groups=g,
                                 dilation=d)
        if sym.shape != y.shape or not np.allclose(sym.numpy(), y.numpy(), rtol=1e-12,
                                                   atol=1e-12):
            raise AssertionError("PyTorch's symmetric padding disagrees with cropping")
    return np.ascontiguousarray(y.numpy())


def numpy_scatter(x, w, b, s, pl, pr, op, d, g):
    """The SPEC's scatter loop, vectorised over batch, channels and input positions."""
    n, cin, length = x.shape
    cout_g, k_len = w.shape[1], w.shape[2]
    cin_g = cin // g
    cout = cout_g * g
    l_out = output_length(length, k_len, s, pl, pr, op, d)
    y = np.zeros((n, cout, l_out), np.float64)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    i = np.arange(length)
    for grp in range(g):
        xg = x64[:, grp * cin_g:(grp + 1) * cin_g, :]
        for k in range(k_len):
            o = i * s - pl + k * d
            keep = (o >= 0) & (o < l_out)
            if not keep.any():
                continue
            # contrib[n, co, i] = sum over ci in the group of x[n, ci, i] * w[ci, co, k]
            contrib = np.einsum("nci,cd->ndi", xg[:, :, keep], w64[grp * cin_g:(grp + 1) * cin_g,
                                                                   :, k])
            y[:, grp * cout_g:(grp + 1) * cout_g, o[keep]] += contrib
    if b is not None:
        y += b.astype(np.float64)[None, :, None]
    return y


def close(a, ref, tol):
    if a.shape != ref.shape:
        return False
    if a.size == 0:
        return True
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(a - ref))) / scale <= tol


def make_case(c, out_dir):
    name, n, cin, cout, k, s, pl, pr, op, d, g, bias, length = c
    cout_g = cout // g
    special = special_values(name, n, cin, cout_g, k, cout, length)
    if special is not None:
        x, w, b = special
    else:
        rng = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode())))
        x = uniform_f32(rng, (n, cin, length))
        w = uniform_f32(rng, (cin, cout_g, k))
        b = uniform_f32(rng, (cout,)) if bias else None
    y = torch_golden(x, w, b, s, pl, pr, op, d, g)

    l_out = output_length(length, k, s, pl, pr, op, d)
    if y.shape != (n, cout, l_out):
        sys.exit(f"gen_golden: {name}: y has shape {y.shape}, SPEC says {(n, cout, l_out)}")
    if not close(y, numpy_scatter(x, w, b, s, pl, pr, op, d, g), 1e-12):
        sys.exit(f"gen_golden: {name}: PyTorch disagrees with the SPEC's scatter loop")
    if name in SPEC5_EXPECTED and not np.array_equal(y, SPEC5_EXPECTED[name]):
        sys.exit(f"gen_golden: {name}: PyTorch gives {y.tolist()}, SPEC section 5 says "
                 f"{SPEC5_EXPECTED[name].tolist()}")

    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    for stale in ("x.npy", "w.npy", "b.npy", "y.npy"):
        path = os.path.join(case_dir, stale)
        if os.path.exists(path):
            os.remove(path)
    np.save(os.path.join(case_dir, "x.npy"), x.astype("<f4"))
    np.save(os.path.join(case_dir, "w.npy"), w.astype("<f4"))
    if b is not None:
        np.save(os.path.join(case_dir, "b.npy"), b.astype("<f4"))
    np.save(os.path.join(case_dir, "y.npy"), y.astype("<f8"))
    return l_out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "..", "tests", "data", "golden"))
    args = parser.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)

    names = [c[0] for c in CASES]
    if len(set(names)) != len(names):
        sys.exit("gen_golden: duplicate case names")
    torch.set_num_threads(1)
    for c in CASES:
        check_params(c)
        l_out = make_case(c, out_dir)
        print(f"{c[0]:24s} L_out={l_out}")

    with open(os.path.join(out_dir, "cases.csv"), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for c in CASES:
            writer.writerow(c)
    stale = sorted(e for e in os.listdir(out_dir)
                   if os.path.isdir(os.path.join(out_dir, e)) and e not in names)
    for e in stale:
        print(f"gen_golden: warning: {os.path.join(out_dir, e)} is not a case any more; delete it",
              file=sys.stderr)
    print(f"{len(CASES)} cases written to {out_dir} (torch {torch.__version__}, "
          f"numpy {np.__version__})")


if __name__ == "__main__":
    main()
