"""The family layer against transformers' and tokenizers' own outputs.

- tokenizer.json built from vocab.txt tokenizes like transformers' slow
  BertTokenizer (ids committed by tests/data/families/make_family_fixtures.py)
  and like all-MiniLM-L6-v2's own tokenizer.json, on ~300 mixed strings;
- metadata.json of a component extraction has the seeds' fields.
"""

import json
import shutil

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer


def strings(repo_root):
    return json.loads((repo_root / "tests/data/families/tokenizer_strings.json").read_text())


def test_tokenizer_from_vocab_matches_slow_bert_tokenizer(repo_root, run_modelconv, tmp_path):
    src = repo_root / "tests/data/families/bert-vocab-only"
    assert not (src / "tokenizer.json").exists()
    out = tmp_path / "out"
    run_modelconv("convert", src, out, "--quiet")
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    ref = json.loads((repo_root / "tests/data/families/bert/reference/tokenizer_ids.json").read_text())
    texts = strings(repo_root)
    assert len(texts) >= 300
    got = [tok.encode(s).ids for s in texts]
    bad = [(s, g, r) for s, g, r in zip(texts, got, ref["ids"]) if g != r]
    assert not bad, bad[:3]


def test_tokenizer_from_minilm_vocab_matches_its_tokenizer_json(repo_root, minilm_dir, run_modelconv, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for f in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(minilm_dir / f, src / f)
    out = tmp_path / "out"
    run_modelconv("convert", src, out, "--quiet")
    built = Tokenizer.from_file(str(out / "tokenizer.json"))
    original = Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    original.no_truncation()
    original.no_padding()
    texts = strings(repo_root)
    for s in texts:
        assert built.encode(s).ids == original.encode(s).ids, s


def test_clip_vision_component_metadata_and_tensors(repo_root, run_modelconv, tmp_path):
    src = repo_root / "tests/data/families/clip"
    out = tmp_path / "vision"
    run_modelconv("convert", src, out, "--component", "vision", "--quiet")
    meta = json.loads((out / "metadata.json").read_text())
    assert list(meta["config"]) == ["image_size", "patch_size", "hidden_size", "num_layers",
                                    "num_attention_heads", "intermediate_size", "layer_norm_eps",
                                    "projection_dim"]
    assert meta["config"]["image_size"] == 32 and meta["config"]["projection_dim"] == 16
    want = {k: tuple(s) for k, s in json.loads((src / "reference/vision_keys.json").read_text())}
    got = load_file(out / "model.safetensors")
    assert {k: v.shape for k, v in got.items()} == want
    full = load_file(src / "model.safetensors")
    for k, v in got.items():
        np.testing.assert_array_equal(v, full[k])
