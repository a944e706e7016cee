#!/usr/bin/env python3
"""Smoke test of the llama.cpp harness: llama.cpp's own converter + C API vs transformers.

Run with a python that has torch, transformers, tokenizers and safetensors
(e.g. /work/torchenv/bin/python):

    /work/torchenv/bin/python tests/llama/smoke.py [--skip-bert] [--workdir DIR]

1. LLaMA: makes a tiny random LlamaForCausalLM (hidden 64, 2 layers, 4 heads,
   2 KV heads, vocab 512) with a byte-level BPE tokenizer trained here with the
   `tokenizers` library, saves it, converts it to an f32 GGUF with llama.cpp's
   convert_hf_to_gguf.py (through convert_hf.py: the trained tokenizer's
   pre-tokenizer hash is unknown, so tokenizer.ggml.pre is set to "gpt-2"),
   then compares
     - llama.cpp's tokenization of a few strings with the HF tokenizer's, and
     - the logits of every position from modelconv-llama-logits with
       transformers' float32 logits.
2. BERT (unless --skip-bert): converts sentence-transformers/all-MiniLM-L6-v2
   (from scripts/fetch-minilm) and compares the pooled (mean, L2-normalized)
   embedding from modelconv-llama-logits --mode embd with sentence-transformers,
   when sentence-transformers is importable.

Gets the tools with scripts/build-llama-cpp (idempotent: a no-op once built).
Writes everything to --workdir (default: a temporary directory). Exits 1 if a
check fails; prints a JSON summary on the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

LOGITS_REL_TOL = 1e-4   # max|llama.cpp - transformers| / max|transformers|
EMBD_COS_TOL = 1e-5     # 1 - cosine

CORPUS_SEED_TEXT = """\
The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.
modelconv converts safetensors, PyTorch and GGUF checkpoints; llama.cpp reads GGUF files.
Numbers: 0 1 2 3 42 3.14159 2026-05-09 1,000,000 and symbols: (a+b)*c = d; x != y -> z.
"""


def log(msg: str) -> None:
    print(f"smoke: {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def build_tools() -> tuple[Path, Path]:
    out = run([REPO / "scripts" / "build-llama-cpp"], stdout=subprocess.PIPE, text=True).stdout
    bin_dir = Path(out.strip().splitlines()[-1])
    src = bin_dir.parent.parent / "src"
    return bin_dir, src


def corpus() -> list[str]:
    # Deterministic, varied text: the fixed lines above plus Python's own docstrings.
    import builtins
    import collections
    import json as json_mod
    import pathlib
    import re

    lines = CORPUS_SEED_TEXT.splitlines()
    for mod in (builtins, collections, json_mod, pathlib, re, argparse, subprocess):
        for name in sorted(dir(mod)):
            doc = getattr(getattr(mod, name, None), "__doc__", None)
            if isinstance(doc, str):
                lines.extend(doc.splitlines())
    return [l for l in lines if l.strip()] * 3


def make_llama(model_dir: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    # byte-level BPE, GPT-2 style pre-tokenization (llama.cpp's "gpt-2" pre type)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    assert tok.get_vocab_size() == 512, tok.get_vocab_size()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        add_bos_token=False, add_eos_token=False,
    )
    fast.save_pretrained(model_dir)
    # transformers 5 writes tokenizer_class "TokenizersBackend", which the
    # converter's pinned transformers 4.x does not know; both read this name.
    cfg_path = model_dir / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text())
    tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_cfg.pop("backend", None)
    cfg_path.write_text(json.dumps(tok_cfg, indent=2))

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        rms_norm_eps=1e-5, rope_theta=50000.0, tie_word_embeddings=False,  # non-default theta
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        initializer_range=0.2,  # larger than the default 0.02 so the logits are far from 0
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(model_dir, safe_serialization=True)


def llama_logits_ref(model_dir: Path, ids: list[int]) -> np.ndarray:
    import torch
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def convert(python: str, src: Path, model_dir: Path, out: Path, pre: str | None) -> float:
    cmd = [python, HERE / "convert_hf.py", "--llama-src", src]
    if pre:
        cmd += ["--pre", pre]
    cmd += ["--", model_dir, "--outtype", "f32", "--outfile", out]
    t = time.time()
    run(cmd)
    return time.time() - t


def run_logits(bin_dir: Path, gguf: Path, *args: str) -> dict:
    out = run([bin_dir / "modelconv-llama-logits", "-m", gguf, *args], stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def check_llama(bin_dir: Path, src: Path, work: Path, convert_python: str) -> dict:
    from transformers import AutoTokenizer

    model_dir = work / "tiny-llama"
    gguf = work / "tiny-llama-f32.gguf"
    make_llama(model_dir)
    conv_s = convert(convert_python, src, model_dir, gguf, pre="gpt-2")

    hf_tok = AutoTokenizer.from_pretrained(model_dir)
    texts = [
        "The quick brown fox jumps over the lazy dog.",
        "modelconv converts GGUF files: 3.14159 != 42 -> ok",
        "  leading spaces,\ttabs\nand newlines  ",
        "Unicode: café naïve 東京 🚀",
    ]
    tok_mismatch = []
    for t in texts:
        want = hf_tok.encode(t, add_special_tokens=False)
        got = run_logits(bin_dir, gguf, "--mode", "tokenize", "--no-special", "--text", t)["tokens"]
        if got != want:
            tok_mismatch.append({"text": t, "hf": want, "llama.cpp": got})

    ids = hf_tok.encode("The quick brown fox jumps over the lazy dog. llama.cpp reads GGUF files.",
                        add_special_tokens=False)
    ids = [hf_tok.bos_token_id] + ids
    ref = llama_logits_ref(model_dir, ids)
    res = run_logits(bin_dir, gguf, "--tokens", ",".join(map(str, ids)))
    got = np.array(res["rows"], dtype=np.float32)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    diff = np.abs(got - ref)
    max_abs = float(diff.max())
    rel = max_abs / float(np.abs(ref).max())
    elem_rel = float((diff / (np.abs(ref) + 1e-3)).max())
    argmax_agree = float((got.argmax(-1) == ref.argmax(-1)).mean())

    # raw f32 output path gives the same numbers
    raw = work / "logits.f32"
    run([bin_dir / "modelconv-llama-logits", "-m", gguf, "--tokens", ",".join(map(str, ids)),
         "--format", "f32", "--out", raw])
    raw_arr = np.fromfile(raw, dtype="<f4").reshape(len(ids), -1)
    raw_same = bool(np.array_equal(raw_arr, got))

    last = np.array(run_logits(bin_dir, gguf, "--tokens", ",".join(map(str, ids)), "--last")["rows"],
                    dtype=np.float32)
    last_same = bool(np.allclose(last[0], got[-1], rtol=0, atol=1e-6))

    ok = rel < LOGITS_REL_TOL and not tok_mismatch and raw_same and last_same
    return {
        "check": "llama-logits", "ok": ok, "n_tokens": len(ids), "n_vocab": int(ref.shape[1]),
        "max_abs_diff": max_abs, "max_abs_ref": float(np.abs(ref).max()), "rel_diff": rel,
        "max_elem_rel_diff(|ref|+1e-3)": elem_rel, "argmax_agreement": argmax_agree,
        "raw_f32_equals_json": raw_same, "last_equals_all[-1]": last_same,
        "tokenizer_mismatches": tok_mismatch, "convert_seconds": round(conv_s, 1),
        "gguf_bytes": gguf.stat().st_size,
    }


def check_bert(bin_dir: Path, src: Path, work: Path, convert_python: str) -> dict:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return {"check": "bert-embedding", "ok": True, "skipped": "sentence-transformers not importable"}
    model_dir = Path(run([REPO / "scripts" / "fetch-minilm"], stdout=subprocess.PIPE, text=True).stdout.strip())
    gguf = work / "minilm-f32.gguf"
    conv_s = convert(convert_python, src, model_dir, gguf, pre="default")

    st = SentenceTransformer(str(model_dir), device="cpu")
    texts = ["The quick brown fox jumps over the lazy dog.",
             "llama.cpp computes sentence embeddings from GGUF files."]
    worst_cos, worst_abs, tok_mismatch = 1.0, 0.0, []
    for t in texts:
        ids = st.tokenizer(t)["input_ids"]
        got_ids = run_logits(bin_dir, gguf, "--mode", "tokenize", "--text", t)["tokens"]
        if got_ids != ids:
            tok_mismatch.append({"text": t, "hf": ids, "llama.cpp": got_ids})
        ref = st.encode([t], convert_to_numpy=True, normalize_embeddings=False)[0]
        res = run_logits(bin_dir, gguf, "--mode", "embd", "--normalize", "--tokens", ",".join(map(str, ids)))
        got = np.array(res["rows"][0], dtype=np.float32)
        cos = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
        worst_cos = min(worst_cos, cos)
        worst_abs = max(worst_abs, float(np.abs(got - ref).max()))
        pooling = res["pooling"]
    ok = (1 - worst_cos) < EMBD_COS_TOL and not tok_mismatch
    return {"check": "bert-embedding", "ok": ok, "model": "all-MiniLM-L6-v2", "pooling": pooling,
            "min_cosine": worst_cos, "max_abs_diff": worst_abs, "tokenizer_mismatches": tok_mismatch,
            "convert_seconds": round(conv_s, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--skip-bert", action="store_true")
    ap.add_argument("--convert-python", default=os.environ.get("LLAMA_CONVERT_PYTHON"),
                    help="python that runs the converter (needs torch, transformers, sentencepiece); "
                         "default: $LLAMA_CONVERT_PYTHON, else <cache>/<ver>/venv/bin/python made by "
                         "scripts/build-llama-cpp, else this python")
    args = ap.parse_args()

    bin_dir, src = build_tools()
    if not args.convert_python:
        venv_py = src.parent / "venv" / "bin" / "python"
        args.convert_python = str(venv_py) if venv_py.exists() else sys.executable
    log(f"converter python {args.convert_python}")
    log(f"llama.cpp bin dir {bin_dir}")
    tmp = None
    if args.workdir:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="llama-smoke-")
        work = Path(tmp.name)

    results = [check_llama(bin_dir, src, work, args.convert_python)]
    if not args.skip_bert:
        results.append(check_bert(bin_dir, src, work, args.convert_python))
    for r in results:
        log(("PASS " if r["ok"] else "FAIL ") + json.dumps(r))
    print(json.dumps(results))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
