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
