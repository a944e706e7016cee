"""NumPy .npy/.npz in and out, checked against numpy itself."""

import numpy as np
import pytest
from safetensors.numpy import load_file

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]


def arrays():
    rng = np.random.RandomState(7)
    out = {}
    for dt in DTYPES:
        name = np.dtype(dt).name
        if dt == np.bool_:
            out[name] = rng.rand(3, 5) > 0.5
        elif np.issubdtype(dt, np.floating):
            out[name] = (rng.randn(3, 5) * 100).astype(dt)
        else:
            info = np.iinfo(dt)
            out[name] = rng.randint(max(info.min, -1000), min(info.max, 1000), size=(3, 5)).astype(dt)
    out["fortran"] = np.asfortranarray(rng.randn(4, 3).astype(np.float32))
    out["scalar"] = np.array(3.5, dtype=np.float32)
    out["empty"] = np.zeros((0, 4), dtype=np.float32)
    out["vector"] = np.arange(7, dtype=np.int64)
    return out


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_from_numpy_reads_exactly(tmp_path, run_modelconv, compressed):
    src = tmp_path / "in.npz"
    data = arrays()
    (np.savez_compressed if compressed else np.savez)(src, **data)
    out = tmp_path / "out.safetensors"
    run_modelconv("convert", src, out, "--quiet")
    got = load_file(str(out))
    assert set(got) == set(data)
    for k, v in data.items():
        assert got[k].dtype == v.dtype, k
        assert got[k].shape == v.shape, k
        assert np.array_equal(got[k], v), k


def test_npy_header_is_byte_identical_to_numpy_save(tmp_path, run_modelconv):
    for name, arr in arrays().items():
        if arr.dtype == np.float16 or name in ("fortran",):
            arr = np.ascontiguousarray(arr)
        ref = tmp_path / f"{name}.npy"
        np.save(ref, np.ascontiguousarray(arr))
        # .npy in -> .npy out reproduces numpy's own bytes.
        out = tmp_path / f"{name}.out.npy"
        run_modelconv("convert", ref, out, "--quiet")
        assert out.read_bytes() == ref.read_bytes(), name


def test_npz_written_by_modelconv_loads_in_numpy(tmp_path, run_modelconv, tiny_bert_dir):
    out = tmp_path / "tb.npz"
    run_modelconv("convert", tiny_bert_dir, out, "--quiet")
    ref = load_file(str(tiny_bert_dir / "model.safetensors"))
    with np.load(out) as z:
        assert sorted(z.files) == sorted(ref)
        for k in ref:
            assert np.array_equal(z[k], ref[k]), k
    # bf16 convention: '<V2' raw bit patterns, viewable as uint16.
    out16 = tmp_path / "tb16.npz"
    run_modelconv("convert", tiny_bert_dir, out16, "--dtype", "bf16", "--quiet")
    with np.load(out16) as z:
        w = z["embeddings.word_embeddings.weight"]
        assert w.dtype == np.dtype("V2")
        bits = w.view(np.uint16)
        u = ref["embeddings.word_embeddings.weight"].view(np.uint32).astype(np.uint64)
        expect = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        assert np.array_equal(bits, expect)
    # ... and reads back as BF16, losslessly.
    back = tmp_path / "back.safetensors"
    run_modelconv("convert", out16, back, "--quiet")
    bf = tmp_path / "bf.safetensors"
    run_modelconv("convert", tiny_bert_dir, bf, "--dtype", "bf16", "--quiet")
    assert back.read_bytes() == bf.read_bytes()
