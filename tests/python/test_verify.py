"""`modelconv verify` and `convert --validate`, checked against metrics computed with numpy."""

import json

import numpy as np
from safetensors.numpy import load_file


def numpy_metrics(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    d = a - b
    err2 = float(np.sum(d * d))
    na, nb = float(np.sum(a * a)), float(np.sum(b * b))
    cos = 1.0 if na == 0 and nb == 0 else float(np.dot(a, b) / (np.sqrt(na) * np.sqrt(nb)))
    return {
        "max_abs_error": float(np.max(np.abs(d))) if d.size else 0.0,
        "rmse": float(np.sqrt(err2 / d.size)) if d.size else 0.0,
        "cosine": cos,
        "snr_db": float("inf") if err2 == 0 else 10 * np.log10(na / err2),
    }


def test_metrics_match_numpy(tmp_path, run_modelconv, minilm_dir):
    src = minilm_dir / "model.safetensors"
    out = tmp_path / "half.safetensors"
    run_modelconv("convert", src, out, "--dtype", "f16", "--quiet")
    proc = run_modelconv("verify", src, out, "--json", "--min-cosine", "0.9999")
    report = json.loads(proc.stdout)
    assert report["passed"] and report["compared"] == len(load_file(str(src)))
    a, b = load_file(str(src)), load_file(str(out))
    for t in report["tensors"]:
        ref = numpy_metrics(a[t["name"]], b[t["name"]])
        for k in ("max_abs_error", "rmse", "cosine"):
            assert np.isclose(t[k], ref[k], rtol=1e-9, atol=1e-15), (t["name"], k, t[k], ref[k])
        if np.isfinite(ref["snr_db"]):
            assert np.isclose(t["snr_db"], ref["snr_db"], rtol=1e-9), t["name"]
        # The integer position ids are copied, so they are bit-exact.
        assert t["bit_exact"] == (a[t["name"]].dtype != np.float32)
    # A cast is not bit-exact: --exact fails with exit code 4.
    failed = run_modelconv("verify", src, out, "--exact", "--json", expect=4)
    assert json.loads(failed.stdout)["passed"] is False


def test_quantized_and_mismatched_models(tmp_path, run_modelconv, minilm_dir, repo_root):
    src = minilm_dir / "model.safetensors"
    q = tmp_path / "q.parquet"
    run_modelconv("convert", src, q, "--quantize", "int8", "--quiet")
    rep = json.loads(run_modelconv("verify", src, q, "--min-cosine", "0.999", "--json").stdout)
    assert rep["passed"] and rep["extra"] == [] and rep["min_cosine"] >= 0.999
    tiny = repo_root / "tests" / "data" / "tiny"
    rep = json.loads(run_modelconv("verify", tiny / "all_dtypes.safetensors", tiny / "f32_values.safetensors",
                                   "--json", expect=4).stdout)
    assert rep["missing"] and rep["extra"] == ["x"]


def test_convert_validate(tmp_path, run_modelconv, tiny_bert_dir):
    out = tmp_path / "o"
    report = json.loads(run_modelconv("convert", tiny_bert_dir, out, "--to", "parquet", "--validate", "--json").stdout)
    assert report["success"] and report["validation"]["passed"]
    assert report["validation"]["bit_exact"] == report["validation"]["compared"] == 39
    out16 = tmp_path / "o16"
    report = json.loads(run_modelconv("convert", tiny_bert_dir, out16, "--dtype", "bf16", "--validate",
                                      "--json").stdout)
    assert report["validation"]["passed"] and report["validation"]["min_cosine"] > 0.999
