"""tiny-bert -> bf16 with LayerNorm kept in f32, checked bit for bit in numpy."""

import fnmatch
import json

import numpy as np
import pytest
from safetensors import TensorSpec, safe_open, serialize
from safetensors.numpy import load_file

from st_helpers import f32_to_bf16_bits, non_weight_files, raw_tensors


def is_layernorm(name):
    return fnmatch.fnmatchcase(name, "*LayerNorm*")


@pytest.fixture(scope="module")
def converted(tiny_bert_dir, run_modelconv, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny_bert_bf16") / "out"
    proc = run_modelconv(
        "convert", tiny_bert_dir, out,
        "--dtype", "bf16", "--dtype-override", "*LayerNorm*=f32", "--json",
    )
    return out, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def original(tiny_bert_dir):
    src = load_file(tiny_bert_dir / "model.safetensors")
    assert all(v.dtype == np.float32 for v in src.values())
    assert any(is_layernorm(k) for k in src) and not all(is_layernorm(k) for k in src)
    return src


def test_layout(converted):
    out, report = converted
    assert report["success"] is True
    assert (out / "model.safetensors").is_file()
    assert not (out / "model.safetensors.index.json").exists()


def test_dtypes_and_values(converted, original):
    out, report = converted
    got = raw_tensors(out / "model.safetensors")
    assert set(got) == set(original)
    n_ln = 0
    for name, src in original.items():
        dtype, shape, data = got[name]
        assert shape == src.shape, name
        if is_layernorm(name):
            n_ln += 1
            assert dtype == "F32", name
            assert data == src.tobytes(), name
        else:
            assert dtype == "BF16", name
            bits = np.frombuffer(data, dtype="<u2")
            np.testing.assert_array_equal(bits, f32_to_bf16_bits(src).ravel(), err_msg=name)
    assert report["dtypes"] == {"F32": n_ln, "BF16": len(original) - n_ln}
    assert report["tensors_cast"] == len(original) - n_ln


def test_bf16_rounding_reference_sanity():
    # The numpy reference itself: ties to even, carry into the exponent, NaN quiet.
    x = np.array([1.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8, -2.0, 3.3895314e38, 3.4028235e38, np.inf], np.float32)
    assert f32_to_bf16_bits(x).tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC000, 0x7F7F, 0x7F80, 0x7F80]
    nan = np.array([0x7F800001], np.uint32).view(np.float32)
    assert f32_to_bf16_bits(nan)[0] & 0x7FC0 == 0x7FC0


def test_matches_reference_writer(converted, original, tiny_bert_dir):
    """The mixed BF16/F32 file equals what safetensors.serialize writes."""
    out, _ = converted
    with safe_open(tiny_bert_dir / "model.safetensors", framework="np") as f:
        metadata = dict(f.metadata() or {})
    metadata.setdefault("format", "pt")
    arrays = {
        k: (v if is_layernorm(k) else f32_to_bf16_bits(v).reshape(v.shape))
        for k, v in original.items()
    }
    specs = {
        k: TensorSpec(
            dtype="float32" if is_layernorm(k) else "bfloat16",
            shape=a.shape,
            data_ptr=a.ctypes.data,
            data_len=a.nbytes,
        )
        for k, a in arrays.items()
    }
    expected = bytes(serialize(specs, metadata=metadata))
    assert (out / "model.safetensors").read_bytes() == expected


def test_non_weight_files_carried(converted, tiny_bert_dir):
    out, _ = converted
    carried = non_weight_files(tiny_bert_dir)
    assert "1_Pooling/config.json" in carried and "tokenizer.json" in carried
    for rel in carried:
        assert (out / rel).read_bytes() == (tiny_bert_dir / rel).read_bytes(), rel
