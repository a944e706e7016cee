"""llama.cpp runs modelconv's GGUF files (issue: GGUF end to end).

A separate group, not in scripts/test: it needs llama.cpp built by
scripts/build-llama-cpp (about 11 minutes on 2 cores). Run:

    scripts/test-llama-cpp

Checks, against transformers' and sentence-transformers' committed outputs:
- tiny LLaMA (GQA, byte-level BPE tokenizer) → GGUF F32: llama.cpp logits
  within 1e-3 relative of transformers at every position;
- F16: same top-1 token at every position and logit cosine ≥ 0.999;
- llama.cpp tokenizes like the HF tokenizer;
- all-MiniLM-L6-v2 → GGUF F16: llama.cpp sentence embeddings, cosine ≥ 0.9999.
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FAM = REPO / "tests/data/families"
BIN = os.environ.get("MODELCONV_LLAMA_BIN", "")
MODELCONV = os.environ.get("MODELCONV_BIN", str(REPO / "target/debug/modelconv"))

pytestmark = pytest.mark.skipif(not Path(BIN).is_file(), reason="MODELCONV_LLAMA_BIN not built: run scripts/test-llama-cpp")


def llama(*args):
    p = subprocess.run([BIN, *map(str, args), "--format", "json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def convert(src, dst, quant):
    subprocess.run([MODELCONV, "convert", src, dst, "--quant", quant, "--overwrite", "--quiet"], check=True)


def logits(gguf, ids):
    return np.array(llama("-m", gguf, "--tokens", ",".join(map(str, ids)), "--all")["rows"], dtype=np.float64)


def test_llama_logits_f32_and_f16(tmp_path):
    ref = np.load(FAM / "llama/reference/logits.npy")
    ids = np.load(FAM / "llama/reference/input_ids.npy")
    f32, f16 = tmp_path / "f32.gguf", tmp_path / "f16.gguf"
    convert(FAM / "llama", f32, "F32")
    convert(FAM / "llama", f16, "F16")
    worst = 0.0
    for row, want in zip(ids, ref):
        got = logits(f32, row)
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
        got16 = logits(f16, row)
        assert (got16.argmax(-1) == want.argmax(-1)).all()
        cos = (got16 * want).sum(-1) / np.linalg.norm(got16, axis=-1) / np.linalg.norm(want, axis=-1)
        assert cos.min() >= 0.999, cos
    print(f"F32 max relative logit difference {worst:.2e}")
    assert worst <= 1e-3


def test_llama_cpp_tokenizes_like_hf(tmp_path):
    g = tmp_path / "m.gguf"
    convert(FAM / "llama", g, "F32")
    want = json.loads((FAM / "llama/reference/sentence_ids.json").read_text())
    sentences = json.loads((FAM / "minilm_reference/versions.json").read_text())["sentences"]
    for s, ids in zip(sentences, want):
        d = llama("-m", g, "--mode", "tokenize", "--text", s)
        assert list(d.get("tokens") or d["rows"][0]) == ids, s


def test_minilm_embeddings(tmp_path):
    minilm = REPO / ".cache/all-MiniLM-L6-v2"
    g = tmp_path / "minilm.gguf"
    convert(minilm, g, "F16")
    ref = np.load(FAM / "minilm_reference/sentence_embedding.npy")
    sentences = json.loads((FAM / "minilm_reference/versions.json").read_text())["sentences"]
    for s, want in zip(sentences, ref):
        e = np.array(llama("-m", g, "--mode", "embd", "--text", s, "--normalize")["rows"][0])
        cos = float(e @ want / np.linalg.norm(e) / np.linalg.norm(want))
        assert cos >= 0.9999, (s, cos)


def _spm_model(tmp_path):
    d = tmp_path / "llama-spm"
    d.mkdir()
    for f in ["config.json", "model.safetensors"]:
        (d / f).write_bytes((FAM / "llama" / f).read_bytes())
    for f in ["tokenizer.model", "tokenizer_config.json"]:
        (d / f).write_bytes((FAM / "spm" / f).read_bytes())
    return d


def test_llama_cpp_tokenizes_sentencepiece_like_sentencepiece(tmp_path):
    """LLaMA-2-style tokenizer.model → GGUF `llama` vocab: llama.cpp gives
    sentencepiece's ids (BOS first) on 300 mixed strings."""
    g = tmp_path / "spm.gguf"
    convert(_spm_model(tmp_path), g, "F16")
    strings = json.loads((FAM / "tokenizer_strings.json").read_text())
    want = json.loads((FAM / "spm/spm_ids.json").read_text())
    bad = []
    for s, ids in zip(strings, want):
        if not s:
            continue  # llama-tokenize-style drivers refuse empty text
        d = llama("-m", g, "--mode", "tokenize", "--text", s)
        got = list(d.get("tokens") or d["rows"][0])
        if got != ids:
            bad.append((s, got, ids))
    print(f"sentencepiece: {len(strings) - len(bad)}/{len(strings)} strings identical")
    assert not bad, bad[:3]


def test_k_quant_presets_and_split_models_run(tmp_path):
    """Q4_K_M, Q8_0 and a 3-part split model load and run in llama.cpp with
    the F32 model's top-1 token at most positions (a 64-wide toy model is
    hard on 4-bit weights; the bound is loose on purpose, the exact check is
    the byte equality with llama-quantize in the Rust tests)."""
    ref = np.load(FAM / "llama/reference/logits.npy")
    ids = np.load(FAM / "llama/reference/input_ids.npy")
    for quant in ["Q8_0", "Q4_K_M"]:
        g = tmp_path / f"{quant}.gguf"
        convert(FAM / "llama", g, quant)
        agree = total = 0
        cos_min = 1.0
        for row, want in zip(ids, ref):
            got = logits(g, row)
            agree += int((got.argmax(-1) == want.argmax(-1)).sum())
            total += len(row)
            cos = (got * want).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
            cos_min = min(cos_min, float(cos.min()))
        print(f"{quant}: top-1 {agree}/{total}, min logit cosine {cos_min:.5f}")
        assert cos_min >= (0.999 if quant == "Q8_0" else 0.9)
    # Split the Q8_0 file in 3 and run it from its first part.
    whole = tmp_path / "Q8_0.gguf"
    parts = tmp_path / "parts"
    subprocess.run([MODELCONV, "convert", whole, parts / "m.gguf", "--split-max-size",
                    str(whole.stat().st_size // 3), "--quiet"], check=True)
    first = sorted(parts.glob("m-00001-of-*.gguf"))[0]
    for row in ids:
        assert np.array_equal(logits(first, row), logits(whole, row))
