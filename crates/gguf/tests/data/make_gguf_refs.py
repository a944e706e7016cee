"""Generates the reference data the modelconv-gguf tests compare against.

Oracles:
- gguf-py (PyPI `gguf`, checked with 0.19.0, numpy 2.x): `gguf.quants.quantize` /
  `dequantize` for every type it implements, `GGUFWriter` for whole files,
  `GGUFReader` to read back files written by modelconv's writer.
- ggml's C reference quantizers (`quantize_row_q{2,3,4,5,6,8}_K_ref` in
  `ggml/src/ggml-quants.c`) for the k-quants, which gguf-py cannot quantize. The
  file comes from the llama-cpp-python sdist (`pip download llama-cpp-python
  --no-deps --no-binary :all:`); it is compiled with
  `gcc -O2 -ffp-contract=off -DNDEBUG` into a small shared library under
  `.cache/` (never committed) and called through ctypes. `$GGML_SRC`, or the sdist
  unpacked by scripts/build-llama-cpp in ~/.cache/modelconv-llama, is used when present.
  Without gcc or the sdist those references are kept as they are and a note is printed.

Everything written here is small (see README.md beside this file) and committed,
so the Rust tests need neither Python nor a C compiler.

Run from the repository root:
    python3 -m venv .venv-gguf && .venv-gguf/bin/pip install gguf numpy
    .venv-gguf/bin/python crates/gguf/tests/data/make_gguf_refs.py
"""

import ctypes
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
CACHE = REPO / ".cache" / "gguf-ref"
QUANT = HERE / "quant"
FILES = HERE / "files"

# gguf-py implements quantize for these (F16 via astype) ...
GGUFPY_QUANTIZE = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4"]
# ... and dequantize for these (plus the IQ grid types, which modelconv does not decode yet).
GGUFPY_DEQUANT_ONLY = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "NVFP4", "IQ4_NL", "IQ4_XS",
                       "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]
# The IQ lattices, in this order, as one byte per value: the index into the grid map.
IQ_GRIDS = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S"]
GRID_FILE = HERE.parents[1] / "src" / "quant" / "iq_grids.bin"
KQUANTS = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"]


def special_values():
    """Blocks of awkward inputs, 256 values each (k-quant super-block size)."""
    rng = np.random.default_rng(7)
    blocks = []
    b = rng.standard_normal(256).astype(np.float32)
    b[[3, 40, 77, 200]] = np.nan
    blocks.append(b)
    b = rng.standard_normal(256).astype(np.float32)
    b[[0, 33, 100]] = np.inf
    b[[5, 64]] = -np.inf
    blocks.append(b)
    blocks.append(np.zeros(256, np.float32))                     # all-zero block
    b = np.zeros(256, np.float32)
    b[1::2] = -0.0
    b[::7] = -0.0
    blocks.append(b)                                              # signed zeros
    blocks.append((rng.standard_normal(256) * 1e-40).astype(np.float32))   # subnormals
    blocks.append((rng.standard_normal(256) * 1e-20).astype(np.float32))   # tiny
    blocks.append((rng.standard_normal(256) * 1e30).astype(np.float32))    # overflow f16 scales
    b = (rng.standard_normal(256) * 1e4).astype(np.float32)
    b[10] = 65504.0
    b[11] = -65520.0
    blocks.append(b)                                              # around f16 max
    blocks.append(np.full(256, 0.7, np.float32))                  # constant
    blocks.append(np.full(256, -3.25, np.float32))                # constant negative
    b = rng.standard_normal(256).astype(np.float32)
    b[:32] = 0.0                                                  # zero first sub-blocks
    b[128:160] = 1e-12
    blocks.append(b)
    b = np.abs(rng.standard_normal(256)).astype(np.float32) + 5   # all positive (min > 0)
    blocks.append(b)
    b = -np.abs(rng.standard_normal(256)).astype(np.float32) - 5  # all negative
    blocks.append(b)
    b = rng.integers(-8, 8, 256).astype(np.float32)               # exact ties
    blocks.append(b)
    b = (np.arange(256, dtype=np.float32) - 128) / 16             # ramps with .5 ties
    blocks.append(b)
    b = rng.standard_normal(256).astype(np.float32)
    b[17] = 1e38                                                  # one huge outlier
    blocks.append(b)
    return np.concatenate(blocks)


def inputs():
    rng = np.random.default_rng(2024)
    randn = (rng.standard_normal(256 * 24) * rng.choice([0.02, 1.0, 30.0], 256 * 24)).astype(np.float32)
    return np.concatenate([special_values(), randn]).astype(np.float32)


def write_quant_refs(x):
    QUANT.mkdir(parents=True, exist_ok=True)
    (QUANT / "input_f32.bin").write_bytes(x.tobytes())
    manifest = {"input": "input_f32.bin", "n_values": int(x.size), "quantize": {}, "dequantize": {}}
    for name in GGUFPY_QUANTIZE:
        t = T[name]
        q = gguf.quants.quantize(x.reshape(-1, 256), t)
        qb = np.ascontiguousarray(q).view(np.uint8).tobytes()
        (QUANT / f"{name}.q.bin").write_bytes(qb)
        dq = gguf.quants.dequantize(np.frombuffer(qb, np.uint8).reshape(-1, len(qb) // (x.size // 256)), t)
        (QUANT / f"{name}.dq.bin").write_bytes(np.ascontiguousarray(dq, np.float32).tobytes())
        manifest["quantize"][name] = {"oracle": "gguf-py", "q": f"{name}.q.bin", "dq": f"{name}.dq.bin"}
    # Dequantize-only types: random block bytes (every byte pattern is a valid block),
    # with the f16/ue4m3 scales of most blocks replaced by sane values.
    rng = np.random.default_rng(99)
    for name in GGUFPY_DEQUANT_ONLY:
        t = T[name]
        bs, ts = gguf.GGML_QUANT_SIZES[t]
        n_blocks = 4096 // bs
        raw = rng.integers(0, 256, (n_blocks, ts), dtype=np.uint8)
        sane = rng.standard_normal(n_blocks).astype(np.float16).view(np.uint8).reshape(-1, 2)
        for i in range(n_blocks - 2):  # the last two blocks keep random (NaN/Inf) scales
            if name in ("Q2_K", "Q4_K", "Q5_K"):
                off = {"Q2_K": 80, "Q4_K": 0, "Q5_K": 0}[name]
                raw[i, off:off + 2] = sane[i]
                raw[i, off + 2:off + 4] = sane[(i + 1) % n_blocks]
            elif name in ("Q3_K", "Q6_K"):
                raw[i, ts - 2:] = sane[i]
            elif name.startswith("IQ") and name != "IQ1_M":
                raw[i, 0:2] = sane[i]
        qb = raw.tobytes()
        (QUANT / f"{name}.raw.bin").write_bytes(qb)
        dq = gguf.quants.dequantize(raw, t)
        (QUANT / f"{name}.rawdq.bin").write_bytes(np.ascontiguousarray(dq, np.float32).tobytes())
        manifest["dequantize"][name] = {"oracle": "gguf-py", "q": f"{name}.raw.bin", "dq": f"{name}.rawdq.bin"}
    return manifest


def write_iq_grids():
    """The IQ lattice tables, taken from gguf-py (ggml's `iq*_grid` constants): the format's own
    data, needed to decode these types. One byte per value, the index into the type's grid map."""
    out = bytearray()
    for name in IQ_GRIDS:
        cls = getattr(gguf.quants, name)
        cls.init_grid()
        grid = cls.grid.reshape(cls.grid_shape)
        lut = {float(v): i for i, v in enumerate(cls.grid_map)}
        out += bytes(lut[float(v)] for v in grid.reshape(-1))
    GRID_FILE.write_bytes(bytes(out))


# ------------------------------------------------------------------ ggml C reference

STUBS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "ggml_abort %s:%d\n", file, line); abort(); }
size_t ggml_row_size(int type, int64_t ne) { (void)type; (void)ne; abort(); }
const char * ggml_type_name(int type) { (void)type; return "?"; }
size_t ggml_type_size(int type) { (void)type; abort(); }
"""


def find_ggml_src():
    """ggml/ from the llama-cpp-python sdist (downloaded into .cache/ if needed)."""
    env = os.environ.get("GGML_SRC")
    if env and (Path(env) / "src" / "ggml-quants.c").exists():
        return Path(env)
    # scripts/build-llama-cpp's cache (the same sdist, already unpacked), then ours.
    llama_cache = Path(os.environ.get("MODELCONV_LLAMA_CACHE", Path.home() / ".cache" / "modelconv-llama"))
    for c in sorted(llama_cache.glob("*/src/ggml")) + sorted(CACHE.glob("llama_cpp_python-*/vendor/llama.cpp/ggml")):
        if (c / "src" / "ggml-quants.c").exists():
            return c
    CACHE.mkdir(parents=True, exist_ok=True)
    if not list(CACHE.glob("llama_cpp_python-*.tar.gz")):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "llama-cpp-python==0.3.36", "--no-deps",
                            "--no-binary", ":all:", "-d", str(CACHE)], capture_output=True, text=True)
        if r.returncode != 0:
            print("note: could not download the llama-cpp-python sdist:", r.stderr[-400:])
            return None
    sdist = sorted(CACHE.glob("llama_cpp_python-*.tar.gz"))[-1]
    with tarfile.open(sdist) as tf:
        members = [m for m in tf.getmembers() if "/vendor/llama.cpp/ggml/" in m.name
                   and (m.name.endswith(".c") or m.name.endswith(".h"))]
        tf.extractall(CACHE, members=members, filter="data")
    for c in sorted(CACHE.glob("llama_cpp_python-*/vendor/llama.cpp/ggml")):
        return c
    return None


def build_ggml_ref():
    if shutil.which("gcc") is None:
        print("note: no gcc; k-quant quantize references left unchanged")
        return None
    src = find_ggml_src()
    if src is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    stub = CACHE / "stubs.c"
    stub.write_text(STUBS)
    lib = CACHE / "libggml-quants-ref.so"
    cmd = ["gcc", "-O2", "-ffp-contract=off", "-DNDEBUG", "-fPIC", "-shared",
           f"-I{src / 'include'}", f"-I{src / 'src'}", str(src / "src" / "ggml-quants.c"), str(stub),
           "-o", str(lib), "-lm"]
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(str(lib)), src


def write_kquant_refs(x, manifest):
    built = build_ggml_ref()
    if built is None:
        return
    lib, src = built
    version = next(iter(sorted(glob.glob(str(src.parents[2]) + "/PKG-INFO"))), None)
    for name in KQUANTS:
        t = T[name]
        bs, ts = gguf.GGML_QUANT_SIZES[t] if name != "Q8_K" else (256, 292)
        n_blocks = x.size // bs
        out = ctypes.create_string_buffer(n_blocks * ts)
        fn = getattr(lib, f"quantize_row_{name.lower().replace('_k', '_K')}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        xin = np.ascontiguousarray(x, np.float32)
        fn(xin.ctypes.data, out, ctypes.c_int64(x.size))
        qb = out.raw
        (QUANT / f"{name}.q.bin").write_bytes(qb)
        # Dequantized with ggml's C code (and, where it can, gguf-py: they must agree).
        dfn = getattr(lib, f"dequantize_row_{name.lower().replace('_k', '_K')}")
        dfn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        y = np.zeros(x.size, np.float32)
        qbuf = ctypes.create_string_buffer(qb, len(qb))
        dfn(qbuf, y.ctypes.data, ctypes.c_int64(x.size))
        if name != "Q8_K":
            py = gguf.quants.dequantize(np.frombuffer(qb, np.uint8).reshape(n_blocks, ts), t).reshape(-1)
            assert py.view(np.uint32).tolist() == y.view(np.uint32).tolist(), f"{name}: gguf-py and ggml dequantize differ"
        (QUANT / f"{name}.dq.bin").write_bytes(y.tobytes())
        manifest["quantize"][name] = {"oracle": "ggml quantize_row_%s_ref (C, -O2 -ffp-contract=off)" % name,
                                      "q": f"{name}.q.bin", "dq": f"{name}.dq.bin"}
    # Q1_0 / Q2_0: only ggml has them (gguf-py 0.19.0 lists Q1_0's size, not a kernel).
    for name, bs, ts in [("Q1_0", 128, 18), ("Q2_0", 64, 18)]:
        out = ctypes.create_string_buffer(x.size // bs * ts)
        fn = getattr(lib, f"quantize_row_{name.lower()}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        xin = np.ascontiguousarray(x, np.float32)
        fn(xin.ctypes.data, out, ctypes.c_int64(x.size))
        qb = out.raw
        (QUANT / f"{name}.q.bin").write_bytes(qb)
        dfn = getattr(lib, f"dequantize_row_{name.lower()}")
        dfn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        y = np.zeros(x.size, np.float32)
        dfn(ctypes.create_string_buffer(qb, len(qb)), y.ctypes.data, ctypes.c_int64(x.size))
        (QUANT / f"{name}.dq.bin").write_bytes(y.tobytes())
        manifest["quantize"][name] = {"oracle": f"ggml quantize_row_{name.lower()}_ref (C, -O2 -ffp-contract=off)",
                                      "q": f"{name}.q.bin", "dq": f"{name}.dq.bin"}
    # The C reference also quantizes the legacy types; record where it agrees with gguf-py.
    agree = {}
    for name in ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]:
        t = T[name]
        bs, ts = gguf.GGML_QUANT_SIZES[t]
        out = ctypes.create_string_buffer(x.size // bs * ts)
        fn = getattr(lib, f"quantize_row_{name.lower()}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        xin = np.ascontiguousarray(x, np.float32)
        fn(xin.ctypes.data, out, ctypes.c_int64(x.size))
        py = (QUANT / f"{name}.q.bin").read_bytes()
        c = out.raw
        diff = [i // ts for i in range(len(c)) if c[i] != py[i]]
        agree[name] = {"blocks": x.size // bs, "blocks_differing": len(set(diff))}
    manifest["c_vs_gguf_py_legacy"] = agree
    manifest["ggml_source"] = str(version or src)


# ------------------------------------------------------------------ whole files

def value_json(v, vtype, sub=None):
    if vtype == V.ARRAY:
        return {"type": "ARRAY", "elem": sub[0].name if sub else None,
                "items": [value_json(i, sub[0], sub[1:]) for i in v]}
    if vtype in (V.FLOAT32, V.FLOAT64):
        return {"type": vtype.name, "bits": hex(np.array(v, np.float32 if vtype == V.FLOAT32 else np.float64)
                                                 .view(np.uint32 if vtype == V.FLOAT32 else np.uint64).item())}
    return {"type": vtype.name, "value": v}


def metadata_all_types(w):
    """Every GGUF value type, arrays of each, nested arrays, odd strings. Returns the JSON expectation."""
    exp = [{"key": "general.architecture", **value_json("llama", V.STRING)}]
    items = [
        ("t.u8", 200, V.UINT8), ("t.i8", -100, V.INT8), ("t.u16", 65000, V.UINT16), ("t.i16", -32000, V.INT16),
        ("t.u32", 4000000000, V.UINT32), ("t.i32", -2000000000, V.INT32), ("t.f32", 3.25, V.FLOAT32),
        ("t.bool_t", True, V.BOOL), ("t.bool_f", False, V.BOOL), ("t.str", "héllo {{ jinja }} \u2603", V.STRING),
        ("t.empty_str", "", V.STRING),
        ("t.u64", 2**63 + 5, V.UINT64), ("t.i64", -(2**62), V.INT64), ("t.f64", -1.0e300, V.FLOAT64),
        ("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}", V.STRING),
    ]
    for k, v, t in items:
        w.add_key_value(k, v, t)
        exp.append({"key": k, **value_json(v, t)})
    arrays = [
        ("a.u8", [1, 2, 255], V.UINT8), ("a.i8", [-1, 0, 1], V.INT8), ("a.u16", [1, 65535], V.UINT16),
        ("a.i16", [-5, 5], V.INT16), ("a.u32", [7], V.UINT32), ("a.i32", [-7, 8, 9], V.INT32),
        ("a.f32", [0.5, -1.5, 1e-3], V.FLOAT32), ("a.bool", [True, False, True], V.BOOL),
        ("a.str", ["a", "", "ünï"], V.STRING), ("a.u64", [2**64 - 1], V.UINT64), ("a.i64", [-(2**63)], V.INT64),
        ("a.f64", [2.5, -0.0], V.FLOAT64),
    ]
    for k, v, t in arrays:
        w.add_key_value(k, v, V.ARRAY, sub_type=t)
        exp.append({"key": k, **value_json(v, V.ARRAY, [t])})
    nested = [[1, 2], [3], [4, 5, 6]]
    w.add_key_value("a.nested", nested, V.ARRAY)  # inferred: array of arrays of INT32
    exp.append({"key": "a.nested", **value_json(nested, V.ARRAY, [V.ARRAY, V.INT32])})
    nested2 = [[["x", "y"]], [["z"]]]
    w.add_key_value("a.nested3", nested2, V.ARRAY)
    exp.append({"key": "a.nested3", **value_json(nested2, V.ARRAY, [V.ARRAY, V.ARRAY, V.STRING])})
    return exp


def tensors_for_file(x):
    rng = np.random.default_rng(5)
    ts = []
    ts.append(("token_embd.weight", rng.standard_normal((3, 64)).astype(np.float32), T.F32))
    ts.append(("blk.0.attn_norm.weight", rng.standard_normal(7).astype(np.float32), T.F32))
    ts.append(("blk.0.attn_q.weight", rng.standard_normal((4, 64)).astype(np.float16), T.F16))
    ts.append(("blk.0.ffn_up.weight", gguf.quants.quantize(x[:2 * 64].reshape(2, 64), T.BF16), T.BF16))
    ts.append(("blk.0.ffn_down.weight", gguf.quants.quantize(x[256:256 + 3 * 64].reshape(3, 64), T.Q8_0), T.Q8_0))
    ts.append(("blk.0.attn_k.weight", gguf.quants.quantize(x[4096:4096 + 2 * 64].reshape(2, 64), T.Q4_0), T.Q4_0))
    q4k = (QUANT / "Q4_K.q.bin").read_bytes()[:2 * 144]
    ts.append(("blk.0.attn_v.weight", np.frombuffer(q4k, np.uint8).reshape(2, 144), T.Q4_K))
    ts.append(("ids.i32", np.arange(-3, 9, dtype=np.int32).reshape(2, 2, 3), T.I32))
    ts.append(("ids.i8", np.arange(-2, 3, dtype=np.int8), T.I8))
    ts.append(("a" * 63, np.zeros((1, 1, 1, 2), np.float32), T.F32))  # 4 dims, longest legal name
    return ts


def write_gguf_files(x):
    FILES.mkdir(parents=True, exist_ok=True)
    expect = {}
    # 1. Every metadata value type and a mix of tensor types, default alignment.
    path = FILES / "all_types.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    meta = metadata_all_types(w)
    tensors = tensors_for_file(x)
    for name, arr, t in tensors:
        w.add_tensor(name, arr, raw_dtype=t if t not in (T.F32, T.F16, T.I32, T.I8) else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expect["all_types.gguf"] = describe(path, meta)
    # 2. Custom alignment (64) and a big-endian twin.
    path = FILES / "align64.gguf"
    w = gguf.GGUFWriter(str(path), "gpt2")
    w.add_custom_alignment(64)
    w.add_uint32("gpt2.block_count", 1)
    meta = [{"key": "general.architecture", **value_json("gpt2", V.STRING)},
            {"key": "general.alignment", **value_json(64, V.UINT32)},
            {"key": "gpt2.block_count", **value_json(1, V.UINT32)}]
    w.add_tensor("w", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("v", np.arange(5, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expect["align64.gguf"] = describe(path, meta)
    path = FILES / "big_endian.gguf"
    w = gguf.GGUFWriter(str(path), "llama", endianess=gguf.GGUFEndian.BIG)
    w.add_tensor("w", np.arange(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    (FILES / "expect.json").write_text(json.dumps(expect, indent=1) + "\n")


def describe(path, meta):
    r = gguf.GGUFReader(str(path))
    tensors = []
    data = path.read_bytes()
    for t in r.tensors:
        raw = data[t.data_offset:t.data_offset + t.n_bytes]
        tensors.append({"name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                        "offset": int(t.data_offset), "nbytes": int(t.n_bytes),
                        "sha256": hashlib.sha256(raw).hexdigest()})
    return {"metadata": meta, "tensors": tensors, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def main():
    x = inputs()
    write_iq_grids()
    manifest = write_quant_refs(x)
    old = QUANT / "manifest.json"
    if old.exists():
        prev = json.loads(old.read_text())
        for name in KQUANTS + ["Q1_0", "Q2_0"]:  # keep committed C references when the C build is unavailable
            if name in prev.get("quantize", {}):
                manifest["quantize"].setdefault(name, prev["quantize"][name])
    write_kquant_refs(x, manifest)
    manifest["gguf_version"] = gguf.__version__ if hasattr(gguf, "__version__") else "0.19.0"
    manifest["numpy_version"] = np.__version__
    (QUANT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    write_gguf_files(x)
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"reference data: {total} bytes")


if __name__ == "__main__":
    main()
