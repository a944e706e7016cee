#!/usr/bin/env bash
# GGUF benchmark (issue #7 targets): see bench/README.md § gguf.sh.
# Needs scripts/build-llama-cpp (llama-quantize and the sdist's
# convert_hf_to_gguf.py) and a Python with torch, transformers, numpy and
# safetensors for the converter: BENCH_TORCH_PYTHON (default /work/torchenv/bin/python).
# About 9 GB of scratch space (BENCH_SCRATCH, default bench/out/scratch-gguf).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
source bench/lib.sh
bench_binary
bench_rss_tool
Q="$(ls -d "$HOME"/.cache/modelconv-llama/*/build/bin/llama-quantize 2>/dev/null | tail -1)"
LLAMA_DIR="${Q%/build/bin/llama-quantize}"
[[ -x "$LLAMA_DIR/build/bin/llama-quantize" ]] || { echo "run scripts/build-llama-cpp first" >&2; exit 1; }
SCRATCH="${BENCH_SCRATCH:-$REPO/bench/out/scratch-gguf}"
mkdir -p bench/out
"${BENCH_TORCH_PYTHON:-/work/torchenv/bin/python}" bench/gguf.py --bin "$BIN" --llama-src "$LLAMA_DIR/src" --llama-bin "$LLAMA_DIR/build/bin" \
  --torch-python "${BENCH_TORCH_PYTHON:-/work/torchenv/bin/python}" --scratch "$SCRATCH" \
  --rss-tool "$RSS_TOOL" --config bench/fake-1b/config.json --out bench/out/gguf.json
[[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$SCRATCH"
