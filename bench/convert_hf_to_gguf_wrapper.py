"""Runs llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python sdist)
for the GGUF benchmark, with one change: the fake benchmark model carries
modelconv's small test BPE tokenizer, whose fingerprint llama.cpp does not
know, so `get_vocab_base_pre` (the fingerprint lookup, which only picks the
`tokenizer.ggml.pre` string) answers "gpt-2" instead of raising. Everything
that is timed — reading, converting and writing the tensors — is unchanged.

Usage: python convert_hf_to_gguf_wrapper.py LLAMA_CPP_SRC_DIR [convert_hf_to_gguf.py args...]
"""

import runpy
import sys

src = sys.argv[1]
sys.path.insert(0, src)
sys.argv = [f"{src}/convert_hf_to_gguf.py"] + sys.argv[2:]

import conversion.base  # noqa: E402  (the sdist's conversion package)

conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
runpy.run_path(sys.argv[0], run_name="__main__")
