#!/usr/bin/env python3
"""Run llama.cpp's own convert_hf_to_gguf.py, with a fallback for unknown BPE pre-tokenizers.

    python convert_hf.py --llama-src SRC [--pre NAME] -- MODEL_DIR --outtype f32 --outfile OUT.gguf

SRC is the vendored llama.cpp tree (<cache>/<ver>/src from scripts/build-llama-cpp);
the converter uses SRC/gguf-py (it puts it on sys.path itself unless NO_LOCAL_GGUF
is set). The python running this needs torch, transformers, numpy, sentencepiece
and safetensors.

Why the wrapper: the converter identifies a BPE/WPM tokenizer's pre-tokenizer by
hashing the token ids of a fixed check string (TextModel.get_vocab_base_pre) and
raises NotImplementedError("BPE pre-tokenizer was not recognized") for any hash
not listed in convert_hf_to_gguf_update.py. A tokenizer trained for a test always
has an unknown hash. With --pre NAME the wrapper writes tokenizer.ggml.pre = NAME
in that case instead (e.g. "gpt-2" for a tokenizers ByteLevel pre-tokenizer with
the GPT-2 regex, "default" for BERT WordPiece); known hashes are left alone. The
hash is logged either way.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-src", required=True, type=Path, help="vendored llama.cpp source tree")
    ap.add_argument("--pre", help="tokenizer.ggml.pre to write when the pre-tokenizer hash is unknown")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then convert_hf_to_gguf.py arguments")
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest

    src = args.llama_src.resolve()
    sys.path.insert(0, str(src))
    import convert_hf_to_gguf  # noqa: E402  (adds src/gguf-py to sys.path)
    from conversion import base  # noqa: E402

    log = logging.getLogger("convert_hf")
    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            res = original(self, tokenizer)
            log.info("pre-tokenizer hash known: %r", res)
            return res
        except NotImplementedError:
            if not args.pre:
                raise
            log.warning("pre-tokenizer hash unknown; writing tokenizer.ggml.pre = %r (--pre)", args.pre)
            return args.pre

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    sys.argv = [str(src / "convert_hf_to_gguf.py"), *rest]
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
