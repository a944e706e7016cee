#!/usr/bin/env python3
"""Python baseline for bench/minilm_f16.sh: the obvious safetensors + numpy way.

    py_baseline.py SRC.safetensors DST.safetensors

Loads every tensor with safetensors.numpy.load_file, casts float tensors to
float16 with numpy (other dtypes are kept), writes them with
safetensors.numpy.save_file keeping the source metadata, then fsyncs the
output file and its directory, like modelconv does, so the timings compare
like for like.
"""

import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with safe_open(src, framework="np") as f:
        metadata = dict(f.metadata() or {})
    metadata.setdefault("format", "pt")
    tensors = load_file(src)
    out = {
        name: t.astype(np.float16) if np.issubdtype(t.dtype, np.floating) else t
        for name, t in tensors.items()
    }
    save_file(out, dst, metadata=metadata)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(os.path.dirname(os.path.abspath(dst)), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


if __name__ == "__main__":
    main()
