"""llama.cpp's tokenizer fingerprint (sha256 of str(AutoTokenizer.encode(chktxt)))
of the fixture tokenizers, computed with transformers, for modelconv's test
of its own fingerprint (crates/modelconv/tests/gguf.rs).

Run with the fixture environment: /work/torchenv/bin/python tests/data/families/make_fingerprints.py
"""

import json
import os
from hashlib import sha256

from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
chktxt = open(os.path.join(ROOT, "crates/gguf/src/pre_check_text.txt"), encoding="utf-8").read()
out = {}
for name in ["llama"]:
    tok = AutoTokenizer.from_pretrained(os.path.join(HERE, name))
    out[name] = sha256(str(tok.encode(chktxt)).encode()).hexdigest()
with open(os.path.join(HERE, "tokenizer_fingerprints.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(out)
