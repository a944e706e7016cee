#!/usr/bin/env python3
"""PyTorch baseline for bench/minilm_bin.sh: the usual torch way.

    torch_baseline.py SRC/pytorch_model.bin DST.safetensors

Loads the state dict with torch.load(map_location="cpu", weights_only=True),
writes it with safetensors.torch.save_file(metadata={"format": "pt"}), then
fsyncs the output file and its directory, like modelconv does, so the timings
compare like for like. Nothing else (config, tokenizer) is copied.
"""

import os
import sys

import torch
from safetensors.torch import save_file


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    state = torch.load(src, map_location="cpu", weights_only=True)
    save_file(state, dst, metadata={"format": "pt"})
    fsync_path(dst)
    fsync_path(os.path.dirname(os.path.abspath(dst)))


if __name__ == "__main__":
    main()
