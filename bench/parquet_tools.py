#!/usr/bin/env python3
"""Helpers for bench/parquet.sh (safetensors headers are parsed by hand, since
safetensors.numpy cannot load BF16).

    parquet_tools.py raw SRC.safetensors OUT.bin
        Writes the tensor bytes of SRC (its data section, in file order) to OUT.
    parquet_tools.py v1 SRC.safetensors OUT.parquet [--bf16 upcast|raw]
        The seeds' V1 table, lossless, written by pyarrow like the seeds did
        (ParquetWriter, batches of 10 tensors, zstd level 3). F32/F64/F16 and
        integers are stored as their raw bytes with a torch dtype name. BF16:
        `upcast` (default) stores float32 values (bf16 << 16, exact) with dtype
        'torch.float32', as the seeds did (numpy has no bfloat16); `raw` stores
        the 2-byte values with dtype 'torch.bfloat16'.
    parquet_tools.py make-big DIR
        DIR/model.safetensors: 'big.weight' f32 [10000, 5000] (50M elements,
        200 MB, standard normal, seed 0) and 'small.bias' f32 [5000].
    parquet_tools.py read-pyarrow FILE.parquet
        pq.read_table(FILE) once untimed, then once timed; prints JSON
        {"sec", "cpu_sec", "nbytes"} (in-process, imports excluded).
    parquet_tools.py load-safetensors FILE.safetensors
        The same for safetensors.numpy.load_file.
    parquet_tools.py compare-f16 MODELCONV.parquet BASELINE.parquet
        Checks that a chunked-schema file and a V1 file hold the same bytes for
        every tensor; prints JSON {"identical", "tensors", "mismatches"}.
"""

import json
import os
import struct
import sys
import time

import numpy as np

TORCH = {
    "F64": "torch.float64", "F32": "torch.float32", "F16": "torch.float16",
    "BF16": "torch.bfloat16", "I64": "torch.int64", "I32": "torch.int32",
    "I16": "torch.int16", "I8": "torch.int8", "U8": "torch.uint8", "BOOL": "torch.bool",
}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return 8 + n, h


def tensor_bytes(path):
    _, h = header(path)
    return sum(v["data_offsets"][1] - v["data_offsets"][0] for v in h.values())


def cmd_raw(src, out):
    start, h = header(src)
    with open(src, "rb") as f:
        f.seek(start)
        data = f.read()
    assert len(data) == tensor_bytes(src), "data section is not exactly the tensors"
    with open(out, "wb") as f:
        f.write(data)


def cmd_v1(src, out, bf16="upcast"):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("layer_name", pa.string()),
        ("shape", pa.list_(pa.int32())),
        ("dtype", pa.string()),
        ("data", pa.binary()),
        ("num_params", pa.int64()),
    ])
    start, h = header(src)
    items = sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0])
    with open(src, "rb") as f, pq.ParquetWriter(out, schema, compression="zstd", compression_level=3) as w:
        rows = {k: [] for k in schema.names}
        for name, v in items:
            a, b = v["data_offsets"]
            f.seek(start + a)
            data = f.read(b - a)
            dtype = TORCH[v["dtype"]]
            if v["dtype"] == "BF16" and bf16 == "upcast":
                data = (np.frombuffer(data, "<u2").astype("<u4") << 16).view("<f4").tobytes()
                dtype = "torch.float32"
            n = int(np.prod(v["shape"], dtype=np.int64))
            rows["layer_name"].append(name)
            rows["shape"].append(list(v["shape"]))
            rows["dtype"].append(dtype)
            rows["data"].append(data)
            rows["num_params"].append(n)
            if len(rows["layer_name"]) == 10:
                w.write_table(pa.table(rows, schema=schema))
                rows = {k: [] for k in schema.names}
        if rows["layer_name"]:
            w.write_table(pa.table(rows, schema=schema))


def cmd_make_big(d):
    from safetensors.numpy import save_file

    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    tensors = {
        "big.weight": rng.standard_normal(50_000_000, dtype=np.float32).reshape(10000, 5000),
        "small.bias": rng.standard_normal(5000, dtype=np.float32),
    }
    tmp = os.path.join(d, "model.safetensors.tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, os.path.join(d, "model.safetensors"))


def timed(fn):
    fn()  # untimed, so one-time initialisation is not counted
    t0, c0 = time.perf_counter(), time.process_time()
    r = fn()
    return time.perf_counter() - t0, time.process_time() - c0, r


def cmd_read_pyarrow(path):
    import pyarrow.parquet as pq

    sec, cpu, t = timed(lambda: pq.read_table(path))
    print(json.dumps({"sec": sec, "cpu_sec": cpu, "nbytes": t.nbytes}))


def cmd_load_safetensors(path):
    from safetensors.numpy import load_file

    sec, cpu, t = timed(lambda: load_file(path))
    print(json.dumps({"sec": sec, "cpu_sec": cpu, "nbytes": sum(a.nbytes for a in t.values())}))


def cmd_compare_f16(mc_path, py_path):
    import pyarrow.parquet as pq

    def value_bytes(arr):
        # The bytes of a list value (typed elements) or a binary value.
        if hasattr(arr, "values"):
            v = arr.values
            return v.buffers()[1][v.offset * 2:(v.offset + len(v)) * 2].to_pybytes() if len(v) else b""
        return arr.as_py()

    mc = {}
    t = pq.read_table(mc_path)
    cols = [c for c in t.column_names if c.startswith("data")]
    for i in range(t.num_rows):
        name = t["layer_name"][i].as_py()
        chunk = t["chunk"][i].as_py()
        for c in cols:
            cell = t[c][i]
            if cell.is_valid:
                if c == "data":
                    b = cell.as_py()
                elif c == "data_f16":
                    b = value_bytes(cell)
                else:
                    raise SystemExit(f"unexpected column {c} for {name}")
                mc.setdefault(name, []).append((chunk, b))
    mc = {k: b"".join(b for _, b in sorted(v)) for k, v in mc.items()}
    py = {r["layer_name"]: r["data"] for r in pq.read_table(py_path).to_pylist()}
    mismatches = sorted(k for k in set(mc) | set(py) if mc.get(k) != py.get(k))
    print(json.dumps({"identical": not mismatches, "tensors": len(py), "mismatches": mismatches[:10]}))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "raw":
        cmd_raw(*args)
    elif cmd == "v1":
        bf16 = args[3] if len(args) > 3 and args[2] == "--bf16" else "upcast"
        cmd_v1(args[0], args[1], bf16)
    elif cmd == "make-big":
        cmd_make_big(*args)
    elif cmd == "read-pyarrow":
        cmd_read_pyarrow(*args)
    elif cmd == "load-safetensors":
        cmd_load_safetensors(*args)
    elif cmd == "compare-f16":
        cmd_compare_f16(*args)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
