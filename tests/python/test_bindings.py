"""The Python API (the seeds' names) of the `modelconv` wheel built from python/."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from safetensors.numpy import load_file

import modelconv
from modelconv import (
    ConversionConfig,
    HuggingFaceToParquetConverter,
    ModelConverter,
    WeightLoader,
    convert_hf_to_parquet,
    convert_parquet_to_hf,
)


@pytest.mark.parametrize("model", ["tiny", "minilm"])
def test_seed_001_usage_example(tmp_path, tiny_bert_dir, minilm_dir, model):
    path = tiny_bert_dir if model == "tiny" else minilm_dir
    src = load_file(str(path / "model.safetensors"))
    # shared/seeds/001 "Usage Example", with local paths.
    config = ConversionConfig(compression="lz4", use_float16=True, validate_output=True)
    converter = ModelConverter(config)
    result = converter.convert(model_name_or_path=str(path), output_dir=str(tmp_path / "out"), model_type="auto")
    assert result.success, result.error_message
    assert result.total_parameters == sum(v.size for v in src.values())
    out_bytes = sum(os.path.getsize(f) for f in result.output_files)
    assert abs(result.file_size_mb - out_bytes / 2**20) < 1e-9
    assert result.compression_ratio == pytest.approx(result.source_size_bytes / result.output_size_bytes)
    assert result.conversion_time_sec > 0
    assert result.validation["passed"] and result.validation["min_cosine"] > 0.999
    assert (tmp_path / "out" / "weights.parquet").is_file()
    assert (tmp_path / "out" / "metadata.json").is_file()
    assert (tmp_path / "out" / "tokenizer" / "tokenizer.json").is_file()
    # float16, as asked: the Parquet data equals numpy's astype.
    loader = WeightLoader(tmp_path / "out" / "weights.parquet")
    for name, arr in src.items():
        got = loader.get_layer(name)
        if arr.dtype == np.float32:
            assert got.dtype == np.float16
            assert np.array_equal(got.view(np.uint16), arr.astype(np.float16).view(np.uint16)), name
        else:
            assert np.array_equal(got, arr), name


def test_seed_003_usage_examples(tmp_path, minilm_dir):
    # shared/seeds/003 "Usage Examples", with local paths.
    converter = HuggingFaceToParquetConverter()
    converter.convert(hf_model_path=str(minilm_dir), output_parquet=str(tmp_path / "m.parquet"))
    convert_hf_to_parquet(str(minilm_dir), str(tmp_path / "m2.parquet"))
    converter.convert(
        hf_model_path=str(minilm_dir), output_parquet=str(tmp_path / "m3.parquet"), auto_detect_quantization=False
    )
    loader = WeightLoader(str(tmp_path / "m.parquet"))
    weight = loader.get_layer("encoder.layer.0.attention.self.query.weight")
    all_weights = loader.load_weights()
    src = load_file(str(minilm_dir / "model.safetensors"))
    assert np.array_equal(weight, src["encoder.layer.0.attention.self.query.weight"])
    assert sorted(all_weights) == sorted(src) == sorted(loader.keys())
    for k in src:
        assert np.array_equal(all_weights[k], src[k]), k
    # The reverse conversion the seeds left unimplemented.
    back = convert_parquet_to_hf(str(tmp_path / "m2.parquet"), str(tmp_path / "hf"))
    assert back.success
    assert (tmp_path / "hf" / "model.safetensors").read_bytes() == (minilm_dir / "model.safetensors").read_bytes()


def test_weight_loader_matches_reference_readers(tmp_path, minilm_dir, run_modelconv):
    st = WeightLoader(minilm_dir)
    ref = load_file(str(minilm_dir / "model.safetensors"))
    assert len(st) == len(ref) and all(k in st for k in ref) and "nope" not in st
    for k, v in ref.items():
        a = st.get_layer(k)
        assert a.dtype == v.dtype and np.array_equal(a, v), k
    # Zero-copy where the format allows: safetensors tensors are memory maps.
    assert isinstance(st.get_layer("pooler.dense.weight"), np.memmap)
    # Parquet V1: arrays equal what pyarrow decodes.
    v1 = tmp_path / "v1.parquet"
    run_modelconv("convert", minilm_dir, v1, "--parquet-schema", "v1", "--dtype", "bf16", "--quiet")
    pl = WeightLoader(v1)
    for row in pq.read_table(v1).to_pylist():
        got = pl.get_layer(row["layer_name"])
        assert got.tobytes() == row["data"], row["layer_name"]
        assert list(got.shape) == row["shape"]
    # bf16 without ml_dtypes comes back as raw uint16 bits; as f32 on request.
    name = "encoder.layer.0.output.dense.weight"
    f = pl.get_layer(name, dtype=np.float32)
    bits = ref[name].view(np.uint32).astype(np.uint64)
    expect = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint32) << 16
    assert np.array_equal(f.view(np.uint32), expect.astype(np.uint32))
    with pytest.raises(modelconv.ModelNotFoundError, match="no tensor named 'missing.weight'"):
        pl.get_layer("missing.weight")


def test_failures_are_reported_and_raised(tmp_path):
    r = ModelConverter().convert(str(tmp_path / "nope"), str(tmp_path / "out"))
    assert not r.success and "no such file" in r.error_message
    with pytest.raises(modelconv.ModelNotFoundError):
        ModelConverter().convert_or_raise(str(tmp_path / "nope"), str(tmp_path / "out"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(modelconv.InvalidFileError, match="not valid JSON"):
        convert_hf_to_parquet(str(bad), str(tmp_path / "out.parquet"))
    assert isinstance(modelconv.InvalidFileError("x"), modelconv.ModelConvError)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.parquet").exists()


def test_progress_callback(tmp_path, minilm_dir):
    seen = []
    modelconv.convert(minilm_dir, tmp_path / "o.parquet", progress=lambda p, d, t: seen.append((p, d, t)),
                      chunk_delay_ms=30, threads=1)
    assert seen and all(d <= t for _, d, t in seen)


def test_ctrl_c_cancels_cleanly(tmp_path, minilm_dir):
    out = tmp_path / "out"
    child = textwrap.dedent(f"""
        import sys, modelconv
        def progress(phase, done, total):
            if done > 0:
                print("started", flush=True)
        try:
            modelconv.convert({str(minilm_dir)!r}, {str(out)!r}, progress=progress, to="safetensors",
                              chunk_delay_ms=200, threads=1, max_shard_size="10MB")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
        print("finished", flush=True)
        sys.exit(3)
    """)
    p = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    rest = p.stdout.read()
    assert p.wait(timeout=60) == 0, rest
    assert "interrupted" in rest
    assert not out.exists(), sorted(os.listdir(out))
