"""Extracts llama.cpp's tokenizer fingerprint table into pre_fingerprints.tsv.

llama.cpp's converter (conversion/base.py, get_vocab_base_pre, from the
llama-cpp-python sdist that scripts/build-llama-cpp unpacks) tokenizes a
fixed check text with the Hugging Face tokenizer, hashes str(ids) with
sha256 and maps known hashes to a `tokenizer.ggml.pre` name. This script
copies that data (the check text and the hash -> name pairs; MIT-licensed
llama.cpp data, no code) so modelconv can do the same lookup.

Run: python3 crates/gguf/src/make_pre_table.py ~/.cache/modelconv-llama/<ver>/src
"""

import ast
import os
import re
import sys

src = sys.argv[1]
text = open(os.path.join(src, "conversion", "base.py"), encoding="utf-8").read()
body = text[text.index("def get_vocab_base_pre"):text.index("# Marker: End get_vocab_base_pre")]
chktxt = ast.literal_eval(re.search(r"chktxt = (.+)\n", body).group(1))
pairs = re.findall(r'if chkhsh == "([0-9a-f]{64})":\s*\n(?:\s*#[^\n]*\n)*\s*res = "([^"]+)"', body)
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "pre_fingerprints.tsv"), "w", encoding="utf-8") as f:
    f.write(f"# llama.cpp tokenizer fingerprints ({os.path.basename(os.path.dirname(src.rstrip('/')))}): sha256(str(ids of the check text)) -> tokenizer.ggml.pre\n")
    for h, name in pairs:
        f.write(f"{h}\t{name}\n")
with open(os.path.join(here, "pre_check_text.txt"), "w", encoding="utf-8", newline="") as f:
    f.write(chktxt)
print(len(pairs), "fingerprints")
