"""Small helpers shared by the tests: raw safetensors parsing and file hashing."""

import hashlib
import json
import struct
from pathlib import Path

import numpy as np


def read_header(path):
    """Return (header dict, data start offset) of a safetensors file, parsed by hand."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return header, 8 + n


def raw_tensors(path):
    """{name: (dtype string, shape, raw bytes)} for every tensor, any dtype (BF16 included)."""
    header, start = read_header(path)
    data = Path(path).read_bytes()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], tuple(info["shape"]), data[start + a : start + b])
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def f32_to_bf16_bits(x):
    """Round f32 to bf16 (nearest, ties to even) as uint16 bits; NaN stays a quiet NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    quiet = (u >> 16) | 0x0040
    return np.where(nan, quiet, rounded).astype(np.uint16)


def non_weight_files(model_dir):
    """Relative paths of every file in a model dir that is not a safetensors weight file/index."""
    model_dir = Path(model_dir)
    out = []
    for p in sorted(model_dir.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(model_dir).as_posix()
        if rel.endswith(".safetensors") or rel == "model.safetensors.index.json":
            continue
        out.append(rel)
    return out
