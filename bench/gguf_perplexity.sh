#!/usr/bin/env bash
# Perplexity of modelconv's Q4_K_M / Q8_0 against llama-quantize's, with
# llama.cpp's llama-perplexity (scripts/build-llama-cpp first). The model is
# the 12-layer fake LLaMA of tests/data/quant (random weights, so the numbers
# are near the vocabulary size; what matters is that both tools give the
# same value). Text: the first 60 kB of README.md, context 128.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
cargo build --release -p modelconv-cli >&2
M="$REPO/target/release/modelconv"
B="$(dirname "$(ls -d "$HOME"/.cache/modelconv-llama/*/build/bin/llama-perplexity | tail -1)")"
export LD_LIBRARY_PATH="$B"
T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
"$M" fake tests/data/quant/llama12 "$T/m" --seed 7 -q
cp tests/data/quant/llama12/tokenizer*.json "$T/m/"
"$M" convert "$T/m" "$T/f32.gguf" --quant f32 -q
head -c 60000 README.md > "$T/text.txt"
ppl() { "$B/llama-perplexity" -m "$1" -f "$T/text.txt" -c 128 -t 1 2>&1 | grep -o "Final estimate: PPL = [0-9.]*" | grep -o "[0-9.]*$"; }
printf "%-8s %-12s %-14s %s\n" type modelconv llama-quantize "relative difference"
for q in Q4_K_M Q8_0; do
  "$M" convert "$T/m" "$T/mc-$q.gguf" --quant "$q" -q
  "$B/llama-quantize" "$T/f32.gguf" "$T/lq-$q.gguf" "$q" >/dev/null 2>&1
  a=$(ppl "$T/mc-$q.gguf"); b=$(ppl "$T/lq-$q.gguf")
  printf "%-8s %-12s %-14s %s\n" "$q" "$a" "$b" "$(python3 -c "print(f'{abs($a-$b)/$b:.2%}')")"
done
echo "F32 reference: $(ppl "$T/f32.gguf")"
