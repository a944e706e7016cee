"""The Parquet weight store, checked with pyarrow and DuckDB (readers nobody here wrote)."""

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file, save_file



def seeds_v1_table(arrays):
    """A table exactly as the seeds' converter built it (float16, zstd)."""
    rows = {"layer_name": [], "shape": [], "dtype": [], "data": [], "num_params": []}
    for name, a in arrays.items():
        a16 = a.astype(np.float16)
        rows["layer_name"].append(name)
        rows["shape"].append(list(a16.shape))
        rows["dtype"].append("torch.float16")
        rows["data"].append(a16.tobytes())
        rows["num_params"].append(int(a16.size))
    schema = pa.schema([
        ("layer_name", pa.string()),
        ("shape", pa.list_(pa.int32())),
        ("dtype", pa.string()),
        ("data", pa.binary()),
        ("num_params", pa.int64()),
    ])
    return pa.table(rows, schema=schema)


def test_v1_written_by_pyarrow_is_read_exactly(tmp_path, run_modelconv, tiny_bert_dir):
    src = load_file(str(tiny_bert_dir / "model.safetensors"))
    path = tmp_path / "seeds.parquet"
    pq.write_table(seeds_v1_table(src), path, compression="zstd", compression_level=3)
    out = tmp_path / "out.safetensors"
    run_modelconv("convert", path, out, "--quiet")
    got = load_file(str(out))
    assert sorted(got) == sorted(src)
    for k, v in src.items():
        assert got[k].dtype == np.float16
        assert np.array_equal(got[k].view(np.uint16), v.astype(np.float16).view(np.uint16)), k


def test_v1_written_by_modelconv_is_read_by_pyarrow(tmp_path, run_modelconv, tiny_bert_dir):
    out = tmp_path / "v1.parquet"
    run_modelconv("convert", tiny_bert_dir, out, "--parquet-schema", "v1", "--dtype", "f16", "--quiet")
    t = pq.read_table(out)
    assert t.schema.field("shape").type == pa.list_(pa.int32())
    assert t.schema.field("data").type == pa.binary()
    src = load_file(str(tiny_bert_dir / "model.safetensors"))
    assert t.num_rows == len(src)
    for row in t.to_pylist():
        ref = src[row["layer_name"]].astype(np.float16)
        assert row["dtype"] == "torch.float16"
        assert row["shape"] == list(ref.shape)
        assert row["num_params"] == ref.size
        assert row["data"] == ref.tobytes()


def read_tensor_pyarrow(path, name):
    """The README recipe: a tensor from the default (chunked) schema with pyarrow + numpy."""
    t = pq.read_table(path, filters=[("layer_name", "=", name)])
    rows = sorted(t.to_pylist(), key=lambda r: r["chunk"])
    dtype = rows[0]["dtype"]
    col = {"torch.float32": "data_f32", "torch.float16": "data_f16", "torch.float64": "data_f64",
           "torch.bfloat16": "data_bf16"}.get(dtype, "data")
    col_type = t.schema.field(col).type
    chunks = t.sort_by("chunk").column(col).combine_chunks()
    if col == "data":
        raw = b"".join(r["data"] for r in rows)
        np_dtype = {"torch.int64": np.int64, "torch.int32": np.int32, "torch.int16": np.int16,
                    "torch.int8": np.int8, "torch.uint8": np.uint8, "torch.bool": np.bool_,
                    "torch.uint16": np.uint16, "torch.uint32": np.uint32, "torch.uint64": np.uint64,
                    "torch.float8_e4m3fn": np.uint8, "torch.float8_e5m2": np.uint8}[dtype]
        arr = np.frombuffer(raw, dtype=np_dtype)
    elif col == "data_f16":
        arr = chunks.flatten().to_numpy().view(np.float16)  # uint16 bit patterns
    elif col == "data_bf16":
        arr = chunks.flatten().to_numpy()  # uint16 bit patterns of the bfloat16 values
    else:
        arr = chunks.flatten().to_numpy()
    assert col == "data" or isinstance(col_type, pa.ListType)
    return arr.reshape(rows[0]["shape"])


def test_default_schema_round_trip_and_standard_readers(tmp_path, run_modelconv, minilm_dir):
    out = tmp_path / "pq"
    run_modelconv("convert", minilm_dir, out, "--to", "parquet", "--quiet")
    assert (out / "weights.parquet").is_file() and (out / "metadata.json").is_file()
    assert (out / "tokenizer" / "tokenizer.json").is_file()
    meta = json.loads((out / "metadata.json").read_text())
    src = load_file(str(minilm_dir / "model.safetensors"))
    assert meta["total_parameters"] == sum(v.size for v in src.values())
    assert meta["num_weight_tensors"] == len(src)
    assert meta["model_type"] == "bert" and meta["config"]["hidden_size"] == 384
    for k in ("model_name", "architecture", "layer_info", "converted_at", "converter_version"):
        assert k in meta, k

    # Lossless, and the big embedding table is split over several rows.
    weights = out / "weights.parquet"
    t = pq.read_table(weights, columns=["layer_name", "chunk", "num_chunks"])
    emb = "embeddings.word_embeddings.weight"
    assert max(r["num_chunks"] for r in t.to_pylist() if r["layer_name"] == emb) > 1
    f32_col = [c for c in range(pq.ParquetFile(weights).metadata.num_columns)
               if pq.ParquetFile(weights).metadata.row_group(0).column(c).path_in_schema == "data_f32.list.element"]
    assert "BYTE_STREAM_SPLIT" in pq.ParquetFile(weights).metadata.row_group(0).column(f32_col[0]).encodings

    # pyarrow + numpy
    for name in (emb, "encoder.layer.0.attention.self.query.bias"):
        assert np.array_equal(read_tensor_pyarrow(weights, name), src[name]), name

    # DuckDB: list tensors, fetch one.
    con = duckdb.connect()
    listed = con.execute(
        f"SELECT layer_name, any_value(dtype), any_value(num_params) FROM '{weights}' GROUP BY layer_name"
    ).fetchall()
    assert {r[0] for r in listed} == set(src)
    assert all(r[1] == f"torch.{src[r[0]].dtype.name}" for r in listed)
    assert all(r[2] == src[r[0]].size for r in listed)
    vals = con.execute(
        f"SELECT data_f32 FROM '{weights}' WHERE layer_name = ? ORDER BY chunk",
        ["encoder.layer.1.output.dense.weight"],
    ).fetchall()
    flat = np.concatenate([np.asarray(v[0], dtype=np.float32) for v in vals])
    assert np.array_equal(flat.reshape(src["encoder.layer.1.output.dense.weight"].shape),
                          src["encoder.layer.1.output.dense.weight"])

    # Back to an HF directory: byte-identical weights, config and tokenizer restored.
    back = tmp_path / "back"
    run_modelconv("convert", out, back, "--to", "hf", "--quiet")
    assert (back / "model.safetensors").read_bytes() == (minilm_dir / "model.safetensors").read_bytes()
    for f in ("config.json", "tokenizer.json", "vocab.txt", "modules.json", "1_Pooling/config.json"):
        assert (back / f).read_bytes() == (minilm_dir / f).read_bytes(), f
    # The Parquet sidecar is not carried back; the HF directory gets its own.
    meta = json.loads((back / "metadata.json").read_text())
    assert "parquet_schema" not in meta and meta["family"] == "bert"


@pytest.mark.parametrize("codec", ["zstd", "lz4", "snappy", "none"])
def test_default_schema_pages_read_by_pyarrow_for_every_codec(tmp_path, run_modelconv, codec):
    """modelconv encodes the typed columns itself (levels, BYTE_STREAM_SPLIT
    pages, compression): pyarrow must read every tensor back bit for bit,
    including a tensor split over rows, a column chunk of several pages, an
    empty tensor, an odd-sized f16 one and tensors sharing a row group."""
    rng = np.random.default_rng(7)
    arrays = {
        "big": rng.standard_normal(1_500_000).astype(np.float32).reshape(1500, 1000),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "half": rng.standard_normal(777).astype(np.float16),
        # Stored as 4-byte INT32: more than one 1 MiB page in its row group.
        "half_big": rng.standard_normal(600_000).astype(np.float16),
        "double": rng.standard_normal((5, 3)),
        "ints": np.arange(10, dtype=np.int32),
        "small": rng.standard_normal(4).astype(np.float32),
    }
    src = tmp_path / "m.safetensors"
    save_file(arrays, str(src))
    out = tmp_path / f"m-{codec}.parquet"
    run_modelconv("convert", src, out, "--compression", codec, "--quiet")
    meta = pq.ParquetFile(out).metadata
    # modelconv writes LZ4_RAW, which pyarrow reports as LZ4.
    want = {"none": {"UNCOMPRESSED"}, "lz4": {"LZ4", "LZ4_RAW"}}.get(codec, {codec.upper()})
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            if col.path_in_schema.startswith("data"):
                assert col.compression in want, (g, col.path_in_schema)
    for name, a in arrays.items():
        got = read_tensor_pyarrow(out, name)
        assert got.dtype == a.dtype and got.shape == a.shape, name
        assert got.tobytes() == a.tobytes(), name
    back = tmp_path / "back.safetensors"
    run_modelconv("convert", out, back, "--quiet")
    again = load_file(str(back))
    assert set(again) == set(arrays)
    for name, a in arrays.items():
        assert again[name].dtype == a.dtype and again[name].tobytes() == a.tobytes(), name


def test_every_dtype_round_trips(tmp_path, run_modelconv, repo_root):
    src = repo_root / "tests" / "data" / "tiny" / "all_dtypes.safetensors"
    for schema in ("chunked", "v1", "v2"):
        p = tmp_path / f"{schema}.parquet"
        back = tmp_path / f"{schema}.safetensors"
        run_modelconv("convert", src, p, "--parquet-schema", schema, "--quiet")
        run_modelconv("convert", p, back, "--quiet")
        assert back.read_bytes() == src.read_bytes(), schema


def test_v2_carries_existing_int8_quantization(tmp_path, run_modelconv):
    rng = np.random.RandomState(3)
    w = rng.randint(-128, 128, size=(4, 6)).astype(np.int8)
    tensors = {
        "fc.weight": w,
        "fc.weight_scale": (rng.rand(4).astype(np.float32) + 0.01),
        "fc.weight_zero_point": np.zeros(4, dtype=np.int64),
        "fc.bias": rng.randn(4).astype(np.float32),
        "head.weight": rng.randint(0, 255, size=(3, 2)).astype(np.uint8),
        "head.weight_scale": np.array(0.5, dtype=np.float32),
    }
    src = tmp_path / "q.safetensors"
    save_file(tensors, str(src))
    p = tmp_path / "q.parquet"
    run_modelconv("convert", src, p, "--parquet-schema", "v2", "--quiet")
    rows = {r["layer_name"]: r for r in pq.read_table(p).to_pylist()}
    assert set(rows) == {"fc.weight", "fc.bias", "head.weight"}
    assert rows["fc.weight"]["quant_type"] == "int8"
    assert rows["fc.weight"]["quant_axis"] == 0
    assert np.array_equal(np.asarray(rows["fc.weight"]["scales"], dtype=np.float32), tensors["fc.weight_scale"])
    assert rows["fc.weight"]["zero_points"] == [0, 0, 0, 0]
    assert rows["fc.weight"]["data"] == w.tobytes()
    assert rows["head.weight"]["quant_type"] == "uint8" and rows["head.weight"]["quant_axis"] == -1
    assert rows["fc.bias"]["quant_type"] == "none"
    back = tmp_path / "back.safetensors"
    run_modelconv("convert", p, back, "--quiet")
    got = load_file(str(back))
    for k, v in tensors.items():
        assert np.array_equal(got[k], v), k
    # Without --parquet-schema, quantized companions select V2 automatically.
    auto = tmp_path / "auto.parquet"
    run_modelconv("convert", src, auto, "--quiet")
    assert "quant_type" in pq.read_schema(auto).names


@pytest.mark.parametrize("case", ["missing_column", "bad_dtype", "shape_mismatch", "truncated"])
def test_bad_parquet_gives_clear_errors(tmp_path, run_modelconv, case):
    a = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    table = seeds_v1_table(a)
    path = tmp_path / f"{case}.parquet"
    if case == "missing_column":
        pq.write_table(table.drop_columns(["data"]), path)
        needle = "missing column 'data'"
    elif case == "bad_dtype":
        pq.write_table(table.set_column(2, "dtype", pa.array(["torch.float17"])), path)
        needle = "torch.float17"
    elif case == "shape_mismatch":
        pq.write_table(table.set_column(1, "shape", pa.array([[3, 3]], type=pa.list_(pa.int32()))), path)
        needle = "'w'"
    else:
        pq.write_table(table, path)
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        needle = "truncated.parquet"
    out = tmp_path / "out.safetensors"
    proc = run_modelconv("convert", path, out, expect=1)
    assert needle in proc.stderr, proc.stderr
    assert "panicked" not in proc.stderr
    assert not out.exists()


def dequantize_rows(path):
    """Dequantize a V2 file with pyarrow + numpy: {name: (original-shape float array, per-element scale)}."""
    out = {}
    for r in pq.read_table(path).to_pylist():
        if r["quant_type"] in (None, "none"):
            continue
        q = np.frombuffer(r["data"], dtype=np.int8 if r["quant_type"] == "int8" else np.uint8)
        q = q.astype(np.float64).reshape(r["shape"])
        scales = np.asarray(r["scales"], dtype=np.float64)
        zps = np.asarray(r["zero_points"] or [0] * len(scales), dtype=np.float64)
        axis = r["quant_axis"]
        if axis < 0:
            s, z = scales[0], zps[0]
        else:
            bshape = [1] * q.ndim
            bshape[axis] = -1
            s, z = scales.reshape(bshape), zps.reshape(bshape)
        out[r["layer_name"]] = ((q - z) * s, np.broadcast_to(s, q.shape))
    return out


@pytest.mark.parametrize("scheme", ["sym", "asym"])
def test_int8_quantization_error_bounds(tmp_path, run_modelconv, minilm_dir, scheme):
    src = load_file(str(minilm_dir / "model.safetensors"))
    per_channel = tmp_path / "pc.parquet"
    per_tensor = tmp_path / "pt.parquet"
    run_modelconv("convert", minilm_dir / "model.safetensors", per_channel, "--quantize", "int8",
                  "--quant-scheme", scheme, "--quiet")
    run_modelconv("convert", minilm_dir / "model.safetensors", per_tensor, "--quantize", "int8",
                  "--quant-scheme", scheme, "--quant-axis", "tensor", "--quiet")
    pc = dequantize_rows(per_channel)
    pt = dequantize_rows(per_tensor)
    two_d = {k for k, v in src.items() if v.ndim >= 2 and v.dtype == np.float32}
    assert set(pc) == two_d and set(pt) == two_d
    worse = 0
    for name in two_d:
        orig = src[name].astype(np.float64)
        for deq, scale in (pc[name], pt[name]):
            err = np.abs(deq - orig)
            # Every element within half a quantization step (float32 scale rounding slack).
            assert np.all(err <= scale / 2 * (1 + 1e-12)), name
        rmse_pc = np.sqrt(np.mean((pc[name][0] - orig) ** 2))
        rmse_pt = np.sqrt(np.mean((pt[name][0] - orig) ** 2))
        worse += rmse_pc > rmse_pt * (1 + 1e-9)
    # Per-channel scales are never coarser than the per-tensor one, so its error is no larger.
    assert worse == 0
    # Unquantized tensors (biases, norms) stay exact, and V2 reads back with identical scales.
    back = tmp_path / "back.safetensors"
    run_modelconv("convert", per_channel, back, "--quiet")
    got = load_file(str(back))
    rows = {r["layer_name"]: r for r in pq.read_table(per_channel).to_pylist()}
    for name in src:
        if name in two_d:
            assert np.array_equal(got[name + "_scale"], np.asarray(rows[name]["scales"], dtype=np.float32))
            assert got[name].tobytes() == rows[name]["data"]
        else:
            assert np.array_equal(got[name], src[name]), name
