#!/usr/bin/python3
"""Generate the safetensors golden data for clconvt's tests (tests/data/safetensors/).

Usage (from the repository root, with a Python that has torch, numpy and the `safetensors`
package; Debian 12 has no python3-safetensors, so for example
`python3 -m venv --system-site-packages /tmp/st && /tmp/st/bin/pip install safetensors`):

    /tmp/st/bin/python tools/gen_safetensors.py [--out tests/data/safetensors]

The checkpoints are written by the `safetensors` package's own save_file (safetensors.torch), from
the state_dict of real PyTorch modules, so the tests read exactly what users' checkpoints hold.
Deterministic: torch.manual_seed(0), and save_file's output depends only on the tensors.

Files written to <out>:
    model_f32.safetensors, model_f16.safetensors, model_bf16.safetensors
        the same state dict in three storage types (tensors converted with .to(dtype)):
        ups.0.weight_g (16, 1, 1), ups.0.weight_v (16, 8, 8), ups.0.bias (8,)
            a HiFi-GAN-like upsampler: weight_norm(ConvTranspose1d(16, 8, 8, stride=4,
            padding=2)), K = 2*stride as in HiFi-GAN, with g drawn at random (both signs) so
            that g != ||v|| and the fold matters
        ups.1.weight (8, 4, 4), ups.1.bias (4,)
            a plain ConvTranspose1d(8, 4, 4, stride=2, padding=1)
        grouped.weight (8, 3, 6)
            ConvTranspose1d(8, 6, 6, stride=3, output_padding=1, groups=2, bias=False)
        square.weight (6, 5, 6)
            ConvTranspose1d(6, 5, 6, stride=3, padding=1, bias=False): Cin == K, so the shape
            alone cannot tell PyTorch order from MAX order
        max.ups.1.weight (4, 4, 8), max.ups.1.bias (4,)
            ups.1 stored in MAX order (K, Cout/groups, Cin): the PyTorch array, axes reversed
        max.ups.0.weight_g (1, 1, 16), max.ups.0.weight_v (8, 8, 16), max.ups.0.bias (8,)
            ups.0's weight-norm pair in MAX order
        __metadata__ {"format": "pt"} (what PyTorch-exported checkpoints carry)
    x_<layer>.npy   '<f4' (2, Cin, 11)   the input, PyTorch layout; values k/64 in [-1, 1), exact
                                         in f32, f16 and bf16
    y_<layer>_<dtype>.npy '<f8' (2, Cout, L_out)   expected output for the layer loaded from
                                         model_<dtype>.safetensors
    ups.0.weight_g.npy, ups.0.weight_v.npy, ups.0.bias.npy  '<f4'  ups.0's tensors as .npy (for
                                         clconvt-run's --weight-g/--weight-v/--bias), the same
                                         values as model_f32

How y is computed: the file is read back with safetensors.torch.load_file, every tensor converted
to float64, loaded into a float64 copy of the module (with torch.nn.utils.weight_norm for ups.0, so
PyTorch's own weight-norm code folds g and v), and run on x in float64. The max.* layers are the
same layers (their expected outputs are y_ups.0_* and y_ups.1_*); the script checks that their
tensors are exact transposes.
"""

import argparse
import os

import numpy as np
import torch
from safetensors.torch import load_file, save_file

BATCH = 2
LENGTH = 11

# name: (Cin, Cout, K, stride, padding, output_padding, groups, bias, weight_norm)
LAYERS = {
    "ups.0": (16, 8, 8, 4, 2, 0, 1, True, True),
    "ups.1": (8, 4, 4, 2, 1, 0, 1, True, False),
    "grouped": (8, 6, 6, 3, 0, 1, 2, False, False),
    "square": (6, 5, 6, 3, 1, 0, 1, False, False),
}

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def make_module(name, dtype=torch.float32):
    cin, cout, k, stride, pad, out_pad, groups, bias, wn = LAYERS[name]
    m = torch.nn.ConvTranspose1d(cin, cout, k, stride=stride, padding=pad,
                                 output_padding=out_pad, groups=groups, bias=bias).to(dtype)
    if wn:
        m = torch.nn.utils.weight_norm(m)  # dim=0: g has shape (Cin, 1, 1)
    return m


def state_dict():
    torch.manual_seed(0)
    sd = {}
    for name in LAYERS:
        m = make_module(name)
        with torch.no_grad():
            if hasattr(m, "weight_g"):
                # weight_norm starts with g = ||v||, which would make the fold a no-op.
                m.weight_g.copy_(torch.empty_like(m.weight_g).uniform_(0.5, 2.0)
                                 * torch.where(torch.rand_like(m.weight_g) < 0.3, -1.0, 1.0))
            if m.bias is not None:
                m.bias.uniform_(-1.0, 1.0)
        for key, value in m.state_dict().items():
            sd[f"{name}.{key}"] = value.detach().clone().contiguous()
    # MAX order: the PyTorch array with its axes reversed.
    sd["max.ups.1.weight"] = sd["ups.1.weight"].permute(2, 1, 0).contiguous().clone()
    sd["max.ups.1.bias"] = sd["ups.1.bias"].clone()
    sd["max.ups.0.weight_g"] = sd["ups.0.weight_g"].permute(2, 1, 0).contiguous().clone()
    sd["max.ups.0.weight_v"] = sd["ups.0.weight_v"].permute(2, 1, 0).contiguous().clone()
    sd["max.ups.0.bias"] = sd["ups.0.bias"].clone()
    return sd


def make_input(cin, seed):
    gen = torch.Generator().manual_seed(seed)
    # Multiples of 1/64 in [-1, 1): exact in every storage type, so one x serves all of them.
    return (torch.randint(-64, 64, (BATCH, cin, LENGTH), generator=gen) / 64.0).float()


def expected(name, tensors, x):
    m = make_module(name, torch.float64)
    prefix = name + "."
    own = {k[len(prefix):]: v.to(torch.float64) for k, v in tensors.items()
           if k.startswith(prefix)}
    m.load_state_dict(own, strict=True)
    with torch.no_grad():
        return m(x.to(torch.float64)).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/safetensors")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    sd = state_dict()
    # One key only: save_file keeps metadata in a hash map, so several keys come out in a random
    # order and the files would differ from run to run.
    metadata = {"format": "pt"}
    inputs = {name: make_input(LAYERS[name][0], 100 + i) for i, name in enumerate(LAYERS)}
    for name, x in inputs.items():
        np.save(os.path.join(args.out, f"x_{name}.npy"), x.numpy().astype("<f4"))
    np.save(os.path.join(args.out, "ups.0.weight_g.npy"), sd["ups.0.weight_g"].numpy())
    np.save(os.path.join(args.out, "ups.0.weight_v.npy"), sd["ups.0.weight_v"].numpy())
    np.save(os.path.join(args.out, "ups.0.bias.npy"), sd["ups.0.bias"].numpy())

    for tag, dtype in DTYPES.items():
        path = os.path.join(args.out, f"model_{tag}.safetensors")
        save_file({k: v.to(dtype) for k, v in sd.items()}, path, metadata=metadata)
        back = load_file(path)  # what a reader of the file sees: storage-rounded values
        for a, b in (("max.ups.1.weight", "ups.1.weight"), ("max.ups.0.weight_v", "ups.0.weight_v"),
                     ("max.ups.0.weight_g", "ups.0.weight_g")):
            assert torch.equal(back[a], back[b].permute(2, 1, 0)), (tag, a)
        for name, x in inputs.items():
            y = expected(name, back, x)
            np.save(os.path.join(args.out, f"y_{name}_{tag}.npy"), y.astype("<f8"))
            if tag == "f32":
                # The float32 module must agree with its float64 twin: the data is sane.
                m = make_module(name)
                m.load_state_dict({k[len(name) + 1:]: v for k, v in back.items()
                                   if k.startswith(name + ".")})
                with torch.no_grad():
                    y32 = m(x).double().numpy()
                err = np.abs(y32 - y).max() / np.abs(y).max()
                assert err < 1e-5, (name, err)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
