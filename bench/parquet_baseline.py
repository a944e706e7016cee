#!/usr/bin/env python3
"""Python baseline for bench/parquet.sh: the seeds' Parquet export, redone with
safetensors + numpy + pyarrow.

    parquet_baseline.py MODEL_DIR OUT_DIR

Loads MODEL_DIR/model.safetensors with safetensors.numpy.load_file, casts the
float tensors to float16 with numpy (integer tensors such as position_ids keep
their dtype), builds rows of the seeds' V1 schema (layer_name, shape
list<int32>, dtype 'torch.float16', data binary, num_params int64) in batches of
10 tensors and writes them with pq.ParquetWriter(compression='zstd',
compression_level=3) to OUT_DIR/weights.parquet.

To give the same output layout as `modelconv convert MODEL_DIR OUT_DIR --to
parquet`, it then writes a small metadata.json, copies the tokenizer files to
OUT_DIR/tokenizer/ and the other non-weight files of MODEL_DIR to OUT_DIR. These
steps take a few milliseconds. Every file it writes is fsynced, and so is every
directory, as modelconv does.
"""

import json
import os
import shutil
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file

SCHEMA = pa.schema([
    ("layer_name", pa.string()),
    ("shape", pa.list_(pa.int32())),
    ("dtype", pa.string()),
    ("data", pa.binary()),
    ("num_params", pa.int64()),
])
BATCH = 10
TOKENIZER_FILES = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
    "vocab.json", "merges.txt", "added_tokens.json", "tokenizer.model", "spiece.model",
    "sentencepiece.bpe.model", "preprocessor_config.json",
}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ckpt")


def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    written = []

    tensors = load_file(os.path.join(src, "model.safetensors"))
    weights = os.path.join(dst, "weights.parquet")
    layer_info = {}
    total = 0
    rows = {k: [] for k in SCHEMA.names}
    with pq.ParquetWriter(weights, SCHEMA, compression="zstd", compression_level=3) as writer:
        for name, t in tensors.items():
            if np.issubdtype(t.dtype, np.floating):
                t = t.astype(np.float16)
            dtype = f"torch.{t.dtype.name}"
            rows["layer_name"].append(name)
            rows["shape"].append(list(t.shape))
            rows["dtype"].append(dtype)
            rows["data"].append(t.tobytes())
            rows["num_params"].append(int(t.size))
            layer_info[name] = {"shape": list(t.shape), "dtype": dtype, "num_params": int(t.size)}
            total += int(t.size)
            if len(rows["layer_name"]) == BATCH:
                writer.write_table(pa.table(rows, schema=SCHEMA))
                rows = {k: [] for k in SCHEMA.names}
        if rows["layer_name"]:
            writer.write_table(pa.table(rows, schema=SCHEMA))
    written.append(weights)

    config = {}
    if os.path.exists(os.path.join(src, "config.json")):
        with open(os.path.join(src, "config.json")) as f:
            config = json.load(f)
    meta = {
        "model_name": os.path.basename(os.path.normpath(src)),
        "model_type": config.get("model_type"),
        "architecture": (config.get("architectures") or [None])[0],
        "config": config,
        "total_parameters": total,
        "num_weight_tensors": len(layer_info),
        "layer_info": layer_info,
        "compression": "zstd",
        "schema": "v1",
    }
    meta_path = os.path.join(dst, "metadata.json")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=2)
    written.append(meta_path)

    tok_dir = os.path.join(dst, "tokenizer")
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_root = os.path.relpath(root, src)
        for fn in files:
            rel = fn if rel_root == "." else os.path.join(rel_root, fn)
            if fn.endswith(WEIGHT_SUFFIXES) or fn.endswith(".index.json"):
                continue
            if rel in TOKENIZER_FILES:
                target = os.path.join(tok_dir, fn)
            else:
                target = os.path.join(dst, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(root, fn), target)
            written.append(target)

    for p in written:
        fsync(p)
    for d in sorted({os.path.dirname(os.path.abspath(p)) for p in written}, key=len, reverse=True):
        fsync(d)


if __name__ == "__main__":
    main()
