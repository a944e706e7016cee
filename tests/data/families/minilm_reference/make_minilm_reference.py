"""sentence-transformers' embeddings of the built-in sentences with the real
all-MiniLM-L6-v2 (from scripts/fetch-minilm), committed so CI needs no torch.

    /path/to/python-with-sentence-transformers \
        tests/data/families/minilm_reference/make_minilm_reference.py .cache/all-MiniLM-L6-v2
"""

import json
import os
import sys

import numpy as np
import sentence_transformers
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Model conversion should preserve embeddings.",
    "Héllo wörld! 123 numbers & symbols?",
    "short",
]

here = os.path.dirname(os.path.abspath(__file__))
model = SentenceTransformer(sys.argv[1], device="cpu")
emb = model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False).astype(np.float32)
np.save(os.path.join(here, "sentence_embedding.npy"), emb)
with open(os.path.join(here, "versions.json"), "w") as f:
    json.dump({"sentence_transformers": sentence_transformers.__version__, "sentences": SENTENCES}, f, indent=2)
    f.write("\n")
