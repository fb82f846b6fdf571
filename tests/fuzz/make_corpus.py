#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/ (pure Python).

The seeds are committed; this script documents how they were made and regenerates them. Files it
does not write (crash regressions named regress-*, added when a crash was fixed) are left alone.
Usage: python3 tests/fuzz/make_corpus.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# ---- .npy ------------------------------------------------------------------------------------


def npy(descr, shape, data, version=1, header_text=None, fortran=False):
    if header_text is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        header_text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
            descr, "True" if fortran else "False", dims)
    length_bytes = 2 if version == 1 else 4
    text = header_text.encode("latin-1")
    total = 8 + length_bytes + len(text) + 1
    text += b" " * ((64 - total % 64) % 64) + b"\n"
    length = struct.pack("<H" if version == 1 else "<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + length + text + data


def floats(fmt, values):
    return b"".join(struct.pack("<" + fmt, v) for v in values)


def npy_seeds():
    put("npy", "f32_2x3.npy", npy("<f4", (2, 3), floats("f", [0.5, -1, 2, -3.25, 4, 1e-3])))
    put("npy", "f64_1d.npy", npy("<f8", (4,), floats("d", [1, -2, 3.5, -4e300])))
    put("npy", "f16_scalar.npy", npy("<f2", (), struct.pack("<H", 0x3C00)))
    put("npy", "u16_3d.npy", npy("<u2", (1, 2, 2), struct.pack("<4H", 0x3F80, 0xBF80, 0x7FC0, 0)))
    put("npy", "empty_0.npy", npy("<f4", (0,), b""))
    put("npy", "empty_0x5.npy", npy("<f4", (0, 5), b""))
    put("npy", "v2.npy", npy("<f4", (2,), floats("f", [1, 2]), version=2))
    put("npy", "v3.npy", npy("<f4", (1, 1), floats("f", [7]), version=3))
    put("npy", "reordered.npy",
        npy(None, None, floats("f", [1, 2, 3]),
            header_text="{ \"shape\" : (3L,) ,'fortran_order':False,'descr':\"<f4\"}"))
    put("npy", "fortran.npy", npy("<f4", (2, 2), floats("f", [1, 2, 3, 4]), fortran=True))
    put("npy", "big_endian.npy", npy(">f4", (1,), b"\x3f\x80\x00\x00"))
    put("npy", "int32.npy", npy("<i4", (1,), b"\x01\x00\x00\x00"))
    put("npy", "short_data.npy", npy("<f4", (4,), floats("f", [1, 2, 3])))
    put("npy", "absurd_dim.npy", npy("<f4", (1 << 50, 0), b""))
    put("npy", "overflow.npy", npy("<f8", (1 << 40, 1 << 40), b""))
    put("npy", "nine_dims.npy", npy("<f4", (1,) * 9, floats("f", [1])))
    put("npy", "missing_key.npy",
        npy(None, None, b"", header_text="{'descr': '<f4', 'shape': (0,)}"))
    put("npy", "duplicate_key.npy",
        npy(None, None, b"", header_text="{'descr': '<f4', 'descr': '<f4', 'shape': (0,)}"))
    put("npy", "negative_dim.npy",
        npy(None, None, b"", header_text="{'descr': '<f4', 'fortran_order': False, "
            "'shape': (-1,)}"))
    put("npy", "header_past_end.npy", b"\x93NUMPY\x01\x00\xff\x7f{'descr'")
    put("npy", "bad_version.npy", b"\x93NUMPY\x04\x00\x10\x00" + b" " * 16)
    put("npy", "not_npy.npy", b"PK\x03\x04 a zip file, perhaps an .npz")


# ---- safetensors -----------------------------------------------------------------------------

# The control byte of fuzz_safetensors: bits 0-1 prefix ("", "ups.0", "m"), bit 2 PyTorch order,
# bit 3 has_bias, bit 4 groups 2.
PREFIX_NONE, PREFIX_UPS0, PREFIX_M = 0, 1, 2
PYTORCH, BIAS, GROUPS2 = 4, 8, 16

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8, "U8": 1}


def safetensors(tensors, metadata=None, pad=True, header_override=None, trailer=b""):
    """tensors: list of (name, dtype, shape, raw bytes or None for zeros)."""
    header = {}
    data = b""
    for name, dtype, shape, raw in tensors:
        count = 1
        for d in shape:
            count *= d
        if raw is None:
            raw = b"\x00" * (count * SIZES[dtype])
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = header_override if header_override is not None else json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data + trailer


def st(name, control, data):
    put("safetensors", name, bytes([control]) + data)


def safetensors_seeds():
    w = floats("f", [(i % 5 - 2) * 0.5 for i in range(12)])  # (2, 2, 3) PyTorch: Cin 2, Cout 2, K 3
    b = floats("f", [0.25, -0.5])
    st("pytorch_bias.st", PREFIX_UPS0 | PYTORCH | BIAS,
       safetensors([("ups.0.weight", "F32", (2, 2, 3), w), ("ups.0.bias", "F32", (2,), b)],
                   metadata={"format": "pt"}))
    st("max_no_prefix.st", 0,
       safetensors([("weight", "F32", (3, 2, 2), w)]))
    st("bias_unexpected.st", PREFIX_UPS0 | PYTORCH,
       safetensors([("ups.0.weight", "F32", (2, 2, 3), w), ("ups.0.bias", "F32", (2,), b)]))
    half = struct.pack("<12H", *[0x3C00 + i for i in range(12)])
    st("weight_norm_f16.st", PREFIX_M | PYTORCH,
       safetensors([("m.weight_g", "F16", (2, 1, 1), struct.pack("<2H", 0x4000, 0x3800)),
                    ("m.weight_v", "F16", (2, 2, 3), half)]))
    st("weight_norm_zero_v.st", PREFIX_M | PYTORCH,
       safetensors([("m.weight_g", "F32", (2,), floats("f", [1, 2])),
                    ("m.weight_v", "F32", (2, 2, 3), None)]))
    st("bf16_groups.st", PREFIX_UPS0 | PYTORCH | BIAS | GROUPS2,
       safetensors([("ups.0.weight", "BF16", (2, 1, 3), struct.pack("<6H", *[0x3F80] * 6)),
                    ("ups.0.bias", "BF16", (2,), struct.pack("<2H", 0x3F80, 0xBF80))]))
    st("both_weights.st", PREFIX_UPS0 | PYTORCH,
       safetensors([("ups.0.weight", "F32", (2, 2, 3), w),
                    ("ups.0.weight_v", "F32", (2, 2, 3), w),
                    ("ups.0.weight_g", "F32", (2,), b)]))
    st("unsupported_i64.st", PREFIX_NONE,
       safetensors([("weight", "I64", (1, 1, 1), None), ("step", "I64", (), None)]))
    st("metadata_only.st", 0, safetensors([], metadata={"a": "b"}))
    st("empty_object.st", 0, struct.pack("<Q", 2) + b"{}")
    st("overlap.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                   b'"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', trailer=b"\0" * 8))
    st("hole.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                   trailer=b"\0" * 8))
    st("bad_dtype.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}',
                   trailer=b"\0" * 4))
    st("shape_mismatch.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}',
                   trailer=b"\0" * 8))
    st("float_dim.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}',
                   trailer=b"\0" * 8))
    st("huge_dims.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[4294967296,4294967296,'
                   b'4294967296],"data_offsets":[0,0]}}'))
    st("nine_dims.st", 0,
       safetensors([("weight", "F32", (1,) * 9, None)]))
    st("duplicate_name.st", 0,
       safetensors([], header_override=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                   b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', trailer=b"\0" * 8))
    st("trailing_garbage.st", 0,
       safetensors([], header_override=b'{} x', pad=False))
    st("not_json.st", 0, safetensors([], header_override=b"[1, 2, 3]", pad=False))
    st("length_past_end.st", 0, struct.pack("<Q", 1 << 40) + b"{}")
    st("short.st", 0, b"\x02\x00\x00")


# ---- clconvt-run arguments -------------------------------------------------------------------


def cli(name, *args):
    put("cli", name, b"\0".join(a.encode() for a in args))


def cli_seeds():
    # Files that fuzz_cli.c makes in its directory: x.npy (1,5,2) nlc, xn.npy (1,2,5) ncl,
    # xu.npy (5,2), x2.npy (2,5,2), xh.npy f16, xb.npy bf16, xd.npy f64, w.npy (3,2,2) max,
    # wp.npy (2,2,3) pytorch, wh.npy f16, wd.npy (4,1,2), b.npy (2,), bh.npy f16, g.npy (2,1,1),
    # v.npy (3,2,2), s.npy (0-d), c.safetensors (ups.0.weight/bias, n.weight_g/v), bad.npy,
    # empty.npy.
    cli("basic", "--input", "x.npy", "--weight", "w.npy", "--output", "y.npy")
    cli("all_options", "--input", "xn.npy", "--weight", "wp.npy", "--bias", "b.npy", "--output",
        "y.npy", "--stride", "2", "--padding", "1", "--output-padding", "1", "--dilation", "1",
        "--groups", "1", "--layout", "ncl", "--weight-order", "pytorch", "--dtype", "f32",
        "--device", "cpu")
    cli("equals_form", "--input=x.npy", "--weight=w.npy", "--output=y.npy", "--padding=1,0")
    cli("unbatched", "--input", "xu.npy", "--weight", "w.npy", "--output", "y.npy")
    cli("f16", "--input", "xh.npy", "--weight", "wh.npy", "--bias", "bh.npy", "--output", "y.npy",
        "--dtype", "f16")
    cli("bf16", "--input", "xb.npy", "--weight", "w.npy", "--output", "y.npy", "--dtype", "bf16")
    cli("weight_norm", "--input", "x.npy", "--weight-g", "g.npy", "--weight-v", "v.npy",
        "--output", "y.npy")
    cli("checkpoint", "--input", "xn.npy", "--weights", "c.safetensors", "--name", "ups.0",
        "--layout", "ncl", "--output", "y.npy")
    cli("checkpoint_norm", "--input", "x.npy", "--weights", "c.safetensors", "--name", "n",
        "--output", "y.npy")
    cli("groups", "--input", "x.npy", "--weight", "wd.npy", "--groups", "2", "--output", "y.npy")
    cli("negative_length", "--input", "x.npy", "--weight", "w.npy", "--padding", "100",
        "--output", "y.npy")
    cli("huge_stride", "--input", "x2.npy", "--weight", "w.npy", "--stride",
        "9223372036854775807", "--output", "y.npy")
    cli("overwrite_input", "--input", "x.npy", "--weight", "w.npy", "--output", "x.npy")
    cli("bad_file", "--input", "bad.npy", "--weight", "w.npy", "--output", "y.npy")
    cli("f64_input", "--input", "xd.npy", "--weight", "w.npy", "--output", "y.npy")
    cli("help", "--input", "x.npy", "--help")
    cli("version", "--version")
    cli("repeated", "--input", "x.npy", "--input", "x.npy")
    cli("missing_value", "--input", "x.npy", "--weight")
    cli("bad_int", "--input", "x.npy", "--weight", "w.npy", "--output", "y.npy", "--stride", "2x")
    cli("padding_overflow", "--input", "x.npy", "--weight", "w.npy", "--output", "y.npy",
        "--padding", "99999999999999999999,1")
    cli("conflict", "--input", "x.npy", "--weight", "w.npy", "--weights", "c.safetensors",
        "--output", "y.npy")
    cli("empty", "")


# ---- parameters and plans --------------------------------------------------------------------


def params_seeds():
    # fuzz_params.c draws each value with a kind byte (mod 3: 0 edge table, 1 small, 2 raw 8 bytes).
    def small(v):
        return bytes([1, v + 2])

    def edge(i, kind=0):
        return bytes([kind, i])

    def raw(v):
        return bytes([2]) + struct.pack(">q", v)

    known = (small(2) + small(2) + small(3) + small(2) + small(1) + b"\x01" + small(1)
             + small(1) + small(1) + b"\x00" + small(4) + small(1) + small(2) + small(3) + b"\x00")
    put("params", "spec_known_value", known)
    put("params", "int64_max_stride",
        small(1) + small(1) + small(2) + edge(8) + small(0) + b"\x01" + small(0) + small(1)
        + small(1) + b"\x02" + raw((1 << 62)) + small(1) + small(1) + small(1) + b"\x00")
    put("params", "huge_padding",
        small(4) + small(4) + small(16) + small(8) + edge(8) + b"\x01" + small(0) + small(1)
        + small(1) + b"\x04" + small(5) + edge(9) + edge(9) + edge(9) + b"\x01")
    put("params", "weight_overflow",
        edge(20) + edge(21) + edge(24) + small(1) + small(0) + b"\x00" + small(0) + small(0)
        + small(1) + small(1) + b"\x00" + small(3) + raw(-1) + raw(1 << 61) + small(4) + b"\x02")
    put("params", "bad_enums",
        small(2) + small(2) + small(3) + small(1) + small(0) + b"\x01" + small(0) + small(1)
        + small(1) + b"\xff" + small(3))


def plan(name, flags, cin, cout, k, stride, text):
    put("plan", name, bytes([flags, cin, cout, k, stride]) + text.encode())


NCL = 4


def plan_seeds():
    # flags: bit 0 depthwise, bit 1 groups 2, bit 2 NCL, (flags >> 3) % 3 dtype, bit 5 bias,
    # bits 6-7 dilation - 1, bit 7 also a GPU device. Channel bytes < 128 index an edge table
    # (0 -> 1, 6 -> 12, 8 -> 16, 11 -> 32, 14 -> 255, 15 -> INT_MAX); >= 128 mean byte - 127.
    plan("phase_default", 0, 3, 3, 3, 1, "phase")
    plan("phase_tiles", 0, 10, 10, 7, 3, "phase:p=4,c=4,lp=2,lc=2")
    plan("phase_pos_full", NCL, 12, 7, 15, 7, "phase_pos:vec=16,p=32,c=12,lp=2,lc=8,chunk=128")
    plan("phase_pos_bad_vec", NCL, 8, 8, 3, 1, "phase_pos:vec=3")
    plan("phase_chan", 0, 11, 11, 7, 3, "phase_chan:vec=8,p=8,c=16")
    plan("phase_chan_ncl", NCL, 8, 8, 3, 1, "phase_chan")
    plan("gemm_gpu", 0x80, 14, 14, 15, 7, "gemm")
    plan("gemm_f16", 0x88, 14, 14, 15, 7, "gemm")
    plan("lr", 0, 3, 3, 3, 1, "phase:lr=2,lp=1,lc=1")
    plan("one_of_lp_lc", 0, 3, 3, 3, 1, "phase:lp=2")
    plan("unknown_key", 0, 3, 3, 3, 1, "phase:zz=1")
    plan("value_range", 0, 3, 3, 3, 1, "phase:p=0,c=5000")
    plan("int_max_channels", 0, 0, 15, 0, 0, "phase_chan:c=32")
    plan("depthwise", 1 | NCL, 8, 8, 3, 1, "phase_pos:c=1")
    plan("not_a_path", 0, 3, 3, 3, 1, "fast")
    plan("trailing_comma", 0, 3, 3, 3, 1, "phase:p=4,")
    plan("phase_fold", NCL, 12, 11, 15, 8, "phase_fold:vec=16,p=6,c=8,lp=8,lc=1,chunk=32")
    plan("phase_fold_narrow", NCL, 7, 5, 6, 3, "phase_fold:vec=8,p=5")
    plan("phase_fold_dilation", NCL | 0x40, 8, 8, 3, 2, "phase_fold")
    plan("phase_fold_bad_c", NCL, 8, 8, 3, 4, "phase_fold:c=3")
    # a crash found by the fuzzer: phase_fold took any vector width
    put("plan", "regress-fold-vec80", b"\x15\x00\x0a\x07\xfcphase_fold:vec=80")


# ---- tuning database ---------------------------------------------------------------------------


def tuning(name, value):
    text = value if isinstance(value, str) else json.dumps(value, indent=1)
    put("tuning_db", name, text.encode())


def tuning_seeds():
    cpu = {"vendor": "GenuineIntel", "name": "pthread-cpu", "driver": "3.1", "type": "cpu"}
    classes = {
        "ncl/f32/s8/cin512/cout256/taps2/g1": {
            "plan": "phase_pos:vec=16,p=32,c=12,lp=2,lc=8", "median_ms": 1.9,
            "default_plan": "phase_pos:vec=16,p=32,c=12", "default_ms": 2.4, "complete": True},
        "nlc/f32/s1/cin64/cout32/taps4/g1": {"plan": "phase_chan:vec=16,p=8,c=32"},
        "nlc/f32/s1/cin1/cout1/taps4/dw": {"plan": "phase_dw", "median_ms": None},
        "nlc/f16/s2/cin4/cout4/taps2/g1": {"plan": "phase:p=4,c=4"},
    }
    base = {"format": "clconvt-tuning", "version": 1, "devices": [
        {"identity": cpu, "platform": "Portable Computing Language",
         "updated": "2025-01-31T12:00:00Z", "classes": classes}]}
    tuning("valid.json", base)
    two = json.loads(json.dumps(base))
    other = json.loads(json.dumps(base["devices"][0]))
    other["identity"]["driver"] = "3.0"
    other["updated"] = "2024-01-01T00:00:00Z"
    other["classes"] = {"ncl/f32/s8/cin512/cout256/taps2/g1": {"plan": "phase_pos:vec=8"}}
    two["devices"].append(other)
    tuning("two_devices.json", two)
    tuning("empty.json", {"format": "clconvt-tuning", "version": 1, "devices": []})
    bad_plan = json.loads(json.dumps(base))
    bad_plan["devices"][0]["classes"] = {"nlc/f32/s1/cin64/cout32/taps4/g1": {"plan": "fast"},
                                         "ncl/f32/s8/cin512/cout256/taps2/g1":
                                             {"plan": "phase_chan:vec=3"}}
    tuning("unusable_plans.json", bad_plan)
    tuning("version2.json", {"format": "clconvt-tuning", "version": 2, "devices": []})
    tuning("wrong_format.json", {"format": "something else", "version": 1, "devices": []})
    tuning("no_identity.json", {"format": "clconvt-tuning", "version": 1,
                                "devices": [{"classes": {}}]})
    tuning("plan_not_string.json", {"format": "clconvt-tuning", "version": 1, "devices": [
        {"identity": cpu, "classes": {"x": {"plan": 5}}}]})
    tuning("negative_time.json", {"format": "clconvt-tuning", "version": 1, "devices": [
        {"identity": cpu, "classes": {"x": {"plan": "phase", "median_ms": -1}}}]})
    tuning("long_plan.json", {"format": "clconvt-tuning", "version": 1, "devices": [
        {"identity": cpu, "classes": {"x": {"plan": "phase:" + "p=4," * 80 + "c=4"}}}]})
    # A key given twice: cJSON keeps both and the reader uses the first.
    tuning("duplicate_keys.json",
           '{"format": "clconvt-tuning", "version": 1, "devices": [{"identity": {"vendor": "v", '
           '"name": "n", "driver": "d", "type": "cpu"}, "identity": "again", "classes": '
           '{"x": {"plan": "phase"}, "x": {"plan": "gemm"}}}]}')
    tuning("not_json.json", '{"format": "clconvt-tuning", "version": 1, "devices": [}')
    tuning("array.json", "[1, 2, 3]")
    tuning("trailing.json", '{"format": "clconvt-tuning", "version": 1, "devices": []} extra')


if __name__ == "__main__":
    npy_seeds()
    safetensors_seeds()
    cli_seeds()
    params_seeds()
    plan_seeds()
    tuning_seeds()
