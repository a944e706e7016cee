"""A SentencePiece tokenizer for the LLaMA fixture (vocab 512, BPE with byte
fallback, like LLaMA-2's), its transformers tokenizer.json, and what
llama.cpp's own converter makes of it.

Writes, next to this script:
- tokenizer.model          (sentencepiece 0.2, trained on tokenizer_strings.json + a word list)
- tokenizer_config.json    (add_bos_token, special tokens, as LLaMA-2's)
- llama_cpp_vocab.json     (tokenizer.* metadata of `convert_hf_to_gguf.py --vocab-only`
                            on the LLaMA fixture with this tokenizer, via gguf-py)
- spm_ids.json             (sentencepiece's ids for tokenizer_strings.json, BOS first)

Run: /work/torchenv/bin/python tests/data/families/spm/make_spm_fixture.py
(needs sentencepiece, protobuf, transformers; scripts/build-llama-cpp for the sdist)
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
FAM = os.path.dirname(HERE)
strings = json.load(open(os.path.join(FAM, "tokenizer_strings.json"), encoding="utf-8"))
words = ("the quick brown fox jumps over the lazy dog while seven wizards quietly hex "
         "a jovial beekeeper and numbers like 1234 5678 and 3.14159 appear often in text").split()

with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for i in range(400):
            f.write(" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + "\n")
        for s in strings:
            if s.strip():
                f.write(s.replace("\n", " ") + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(tmp, "m"), vocab_size=512, model_type="bpe",
        byte_fallback=True, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        user_defined_symbols=["<|im_start|>"], num_threads=1, minloglevel=2,
        split_digits=True, allow_whitespace_only_pieces=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, seed_sentencepiece_size=10000)
    shutil.copy(os.path.join(tmp, "m.model"), os.path.join(HERE, "tokenizer.model"))

# The ids LLaMA's (legacy, slow) tokenizer gives: sentencepiece's own, BOS first.
sp = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "tokenizer.model"))
ids = [[1] + sp.encode(s) for s in strings]
json.dump(ids, open(os.path.join(HERE, "spm_ids.json"), "w"))
json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
           "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer", "legacy": True},
          open(os.path.join(HERE, "tokenizer_config.json"), "w"), indent=2)

# llama.cpp's converter on the LLaMA fixture with this tokenizer.
src = sorted(glob.glob(os.path.expanduser("~/.cache/modelconv-llama/*/src")))[-1]
sys.path.insert(0, os.path.join(src, "gguf-py"))
from gguf import GGUFReader  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "llama-spm")
    shutil.copytree(os.path.join(FAM, "llama"), model, ignore=shutil.ignore_patterns("reference", "tokenizer*"))
    for f in ["tokenizer.model", "tokenizer_config.json"]:
        shutil.copy(os.path.join(HERE, f), model)
    out = os.path.join(tmp, "v.gguf")
    subprocess.run([sys.executable, os.path.join(src, "convert_hf_to_gguf.py"), model, "--vocab-only",
                    "--outfile", out], check=True, capture_output=True)
    r = GGUFReader(out)
    meta = {}
    for k, f in r.fields.items():
        if not k.startswith("tokenizer."):
            continue
        meta[k] = f.contents()
    json.dump(meta, open(os.path.join(HERE, "llama_cpp_vocab.json"), "w"), indent=1, ensure_ascii=False)
print("ok", len(ids))
