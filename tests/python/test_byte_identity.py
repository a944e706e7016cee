"""Single-file outputs must be byte-identical to the Python safetensors writer."""

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save


def source_metadata(path):
    with safe_open(path, framework="np") as f:
        metadata = dict(f.metadata() or {})
    metadata.setdefault("format", "pt")  # modelconv adds it when absent
    return metadata


@pytest.mark.parametrize("src_kind", ["file", "dir"])
def test_f32_to_f32_single_file(minilm_dir, run_modelconv, tmp_path, src_kind):
    src_file = minilm_dir / "model.safetensors"
    src = src_file if src_kind == "file" else minilm_dir
    out = tmp_path / "out.safetensors"
    run_modelconv("convert", src, out, "--quiet")
    expected = save(load_file(src_file), metadata=source_metadata(src_file))
    got = out.read_bytes()
    assert len(got) == len(expected)
    assert got == expected
    # Only the weight file is written for a single-file destination.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]


def test_f32_to_f16_single_file(minilm_dir, run_modelconv, tmp_path):
    src_file = minilm_dir / "model.safetensors"
    out = tmp_path / "out.safetensors"
    run_modelconv("convert", src_file, out, "--dtype", "f16", "--quiet")
    tensors = {
        k: v.astype(np.float16) if np.issubdtype(v.dtype, np.floating) else v
        for k, v in load_file(src_file).items()
    }
    expected = save(tensors, metadata=source_metadata(src_file))
    got = out.read_bytes()
    assert len(got) == len(expected)
    assert got == expected
