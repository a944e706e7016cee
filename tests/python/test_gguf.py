"""GGUF against llama.cpp's own Python package (gguf-py, PyPI `gguf`):

- gguf-py's GGUFReader reads modelconv's files: metadata, tensor names,
  shapes and bytes; Q/K rows are permuted exactly as llama.cpp's
  `LlamaModel.permute` does (re-implemented here in numpy from its
  definition); Q8_0 bytes equal `gguf.quants.quantize`;
- modelconv reads a file written by gguf-py's GGUFWriter.
"""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

gguf = pytest.importorskip("gguf")
from gguf import GGUFReader, GGMLQuantizationType, GGUFWriter  # noqa: E402
from gguf.quants import quantize, dequantize  # noqa: E402


def llama_permute(w, n_head, n_head_kv):
    # convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def field(reader, key):
    f = reader.fields[key]
    return f.contents()


@pytest.mark.parametrize("quant", ["F32", "Q8_0"])
def test_gguf_py_reads_modelconv_llama(repo_root, run_modelconv, tmp_path, quant):
    src = repo_root / "tests/data/families/llama"
    out = tmp_path / f"llama-{quant}.gguf"
    run_modelconv("convert", src, out, "--quant", quant, "--quiet")
    cfg = json.loads((src / "config.json").read_text())
    hf = load_file(src / "model.safetensors")
    r = GGUFReader(out)
    assert field(r, "general.architecture") == "llama"
    assert field(r, "llama.block_count") == cfg["num_hidden_layers"]
    assert field(r, "llama.attention.head_count_kv") == cfg["num_key_value_heads"]
    assert field(r, "llama.embedding_length") == cfg["hidden_size"]
    assert field(r, "tokenizer.ggml.model") == "gpt2"
    tokens = field(r, "tokenizer.ggml.tokens")
    assert len(tokens) == cfg["vocab_size"]
    tok = json.loads((src / "tokenizer.json").read_text())
    for t, i in list(tok["model"]["vocab"].items())[:50]:
        assert tokens[i] == t
    assert len(field(r, "tokenizer.ggml.merges")) == len(tok["model"]["merges"])
    tensors = {t.name: t for t in r.tensors}
    assert len(tensors) == len(hf)
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    for layer in range(cfg["num_hidden_layers"]):
        for hf_name, gg, heads in [("q_proj", "attn_q", nh), ("k_proj", "attn_k", nkv), ("v_proj", "attn_v", None)]:
            w = hf[f"model.layers.{layer}.self_attn.{hf_name}.weight"]
            want = llama_permute(w, nh, heads) if heads else w
            t = tensors[f"blk.{layer}.{gg}.weight"]
            assert [int(x) for x in t.shape] == [w.shape[1], w.shape[0]]  # ggml order
            if quant == "F32":
                assert t.tensor_type == GGMLQuantizationType.F32
                np.testing.assert_array_equal(np.asarray(t.data).reshape(w.shape), want)
            else:
                assert t.tensor_type == GGMLQuantizationType.Q8_0
                ref = quantize(want.astype(np.float32), GGMLQuantizationType.Q8_0)
                assert np.asarray(t.data).tobytes() == ref.tobytes()
    norm = tensors["blk.0.attn_norm.weight"]
    assert norm.tensor_type == GGMLQuantizationType.F32
    np.testing.assert_array_equal(np.asarray(norm.data), hf["model.layers.0.input_layernorm.weight"])


def test_modelconv_reads_gguf_py_files(run_modelconv, tmp_path):
    rng = np.random.RandomState(0)
    a = rng.randn(8, 64).astype(np.float32)
    b = rng.randn(4, 32).astype(np.float16)
    c = rng.randn(2, 64).astype(np.float32)
    path = tmp_path / "py.gguf"
    w = GGUFWriter(path, "testarch")
    w.add_string("general.name", "from gguf-py")
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_uint64("test.u64", 2**40)
    w.add_float64("test.f64", 0.5)
    w.add_bool("test.bool", True)
    w.add_tensor("a", a)
    w.add_tensor("b", b)
    q = quantize(c, GGMLQuantizationType.Q8_0)
    w.add_tensor("c", q, raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    info = json.loads(run_modelconv("inspect", path, "--json").stdout)
    assert info["metadata"]["general.name"] == "from gguf-py"
    assert info["metadata"]["test.u64"] == str(2**40)
    out = tmp_path / "out.safetensors"
    run_modelconv("convert", path, out, "--quiet")
    got = load_file(out)
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)
    # Q8_0 dequantized exactly as gguf-py does.
    np.testing.assert_array_equal(got["c"], dequantize(q, GGMLQuantizationType.Q8_0).reshape(c.shape))


@pytest.fixture(scope="module")
def llama12(repo_root, run_modelconv, tmp_path_factory):
    """The 12-layer fake LLaMA of the preset tests (hidden 256, ffn 672), F32."""
    d = tmp_path_factory.mktemp("llama12")
    run_modelconv("fake", repo_root / "tests/data/quant/llama12", d / "m", "--seed", "7", "--quiet")
    run_modelconv("convert", d / "m", d / "f32.gguf", "--quant", "F32", "--quiet")
    return d


@pytest.mark.parametrize("preset", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_S", "Q6_K"])
def test_gguf_py_reads_every_preset(run_modelconv, llama12, preset):
    """GGUFReader reads each preset with the metadata of the F32 file (plus
    file type); legacy-quant tensors equal gguf-py's own quantization of
    the F32 values byte for byte; every tensor dequantizes with gguf-py to
    within a bound of the F32 values (k-quants: gguf-py has no quantizer;
    their bytes are checked against llama-quantize in the Rust tests)."""
    out = llama12 / f"{preset}.gguf"
    run_modelconv("convert", llama12 / "m", out, "--quant", preset.lower(), "--quiet")
    r, r32 = GGUFReader(out), GGUFReader(llama12 / "f32.gguf")
    skip = {"general.file_type", "general.quantization_version"}
    keys = [k for k in r32.fields if not k.startswith("GGUF.") and k not in skip]
    for k in keys:
        assert field(r, k) == field(r32, k), k
    assert field(r, "general.quantization_version") == 2
    ref = {t.name: np.asarray(t.data) for t in r32.tensors}
    types = set()
    for t in r.tensors:
        types.add(t.tensor_type.name)
        x = ref[t.name].astype(np.float32)
        if t.tensor_type in (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q4_1, GGMLQuantizationType.Q5_0,
                             GGMLQuantizationType.Q5_1, GGMLQuantizationType.Q8_0):
            assert np.asarray(t.data).tobytes() == quantize(x, t.tensor_type).tobytes(), t.name
        back = dequantize(np.asarray(t.data), t.tensor_type).reshape(x.shape)
        rel = np.sqrt(((back - x) ** 2).mean()) / np.sqrt((x ** 2).mean())
        assert rel < 0.35, (t.name, t.tensor_type.name, rel)  # Q2_K on Gaussian weights is about 0.3
    assert len(types) >= 2, types
