#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) on one core, seeded with
# the repository's fixtures and hostile corpus, and appends one line per
# target to fuzz/runs.log (date, target, seconds, executions, result).
# Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Crashes land in fuzz/artifacts/TARGET/ and stop that target.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(safetensors_header safetensors_roundtrip index_json pickle_vm torch_zip numpy parquet_metadata gguf dir_tree)
fi
ROOT=..
seed() { # target, files...
  local t=$1; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 1048576 ] && cp -n "$f" "corpus/$t/" 2>/dev/null
  done
  return 0
}
seed safetensors_header $ROOT/tests/bad_data/safetensors/*.safetensors $ROOT/tests/data/tiny/*.safetensors
seed safetensors_roundtrip $ROOT/tests/bad_data/safetensors/*.safetensors $ROOT/tests/data/tiny/*.safetensors
seed index_json $ROOT/tests/bad_data/index/*/*.json
seed pickle_vm $ROOT/tests/bad_data/pickle/*.pkl
seed torch_zip $ROOT/tests/bad_data/pickle/*.pt $ROOT/tests/data/torch/*.pt
seed numpy $ROOT/tests/bad_data/numpy/*.npy
seed parquet_metadata $ROOT/tests/bad_data/parquet/*.parquet
# Valid files of the chunked schema (typed columns, the page decoder's path),
# written by a modelconv build if there is one.
MC="$(ls $ROOT/target/release/modelconv $ROOT/target/debug/modelconv 2>/dev/null | head -1)"
if [ -n "$MC" ]; then
  for d in f32 f16 bf16; do
    [ -f "corpus/parquet_metadata/tiny-bert-$d.parquet" ] ||
      "$MC" convert $ROOT/tests/data/tiny-bert "corpus/parquet_metadata/tiny-bert-$d.parquet" --dtype $d --quiet
  done
  for c in lz4 snappy none; do
    [ -f "corpus/parquet_metadata/tiny-bert-$c.parquet" ] ||
      "$MC" convert $ROOT/tests/data/tiny-bert "corpus/parquet_metadata/tiny-bert-$c.parquet" --compression $c --quiet
  done
fi
seed gguf $ROOT/tests/bad_data/gguf/*.gguf $ROOT/crates/gguf/tests/data/files/*.gguf
# dir_tree inputs are programs (3 bytes a step: op, name, argument): a few
# hand-written ones — two shards and an index, a link loop, a FIFO named
# tokenizer.json, a link to the secret beside the directory.
mkdir -p corpus/dir_tree
printf '\x00\x01\x00\x00\x02\x01\x00\x03\x02\x00\x04\x04' >corpus/dir_tree/shards
printf '\x00\x00\x00\x02\x16\x00\x02\x12\x00\x02\x10\x07' >corpus/dir_tree/loops
printf '\x00\x00\x00\x03\x05\x00\x00\x04\x04' >corpus/dir_tree/fifo
printf '\x00\x00\x00\x02\x05\x02\x02\x08\x04\x02\x06\x03' >corpus/dir_tree/links
cargo +nightly fuzz build -O >/dev/null 2>&1 || { echo "cargo fuzz build failed"; exit 1; }
for t in "${TARGETS[@]}"; do
  log="target/fuzz-$t.log"
  extra=()
  # The engine's per-run rayon pool: glibc's thread-local destructor records
  # are reported as leaks at exit (not a modelconv bug, see README.md).
  [ "$t" = safetensors_roundtrip ] && extra=(-detect_leaks=0)
  [ "$t" = dir_tree ] && extra=(-detect_leaks=0)
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$SECONDS_PER_TARGET" "${extra[@]}" \
    -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  result=$([ $rc -eq 0 ] && echo "no crash" || echo "CRASH (rc=$rc, see $log and artifacts/$t)")
  echo "$(date -u +%F) $t ${SECONDS_PER_TARGET}s execs=${execs:-?} $result" | tee -a runs.log
done
