#!/usr/bin/env bash
# Benchmark: all-MiniLM-L6-v2 model.safetensors, f32 -> f16, single output file.
#
# Measures, in one run, interleaved, REPS times each (default 5):
#   cp+sync    cp of the input to a scratch dir, then `sync FILE` (fsync of the
#              copy): the physical floor for reading + writing the bytes
#   modelconv  target/release/modelconv convert SRC OUT.safetensors --dtype f16 --quiet
#              (modelconv fsyncs its outputs itself)
#   python     bench/py_baseline.py: safetensors.numpy load_file + astype(float16)
#              + save_file + os.fsync
#   py-import  (context only) python -c "import numpy, safetensors.numpy"
# and reports the median wall time and the peak RSS (max over runs) of each.
#
# Caches cannot be dropped here, so the input is read once first to warm the
# page cache: every method then reads a cached input, and the timings measure
# conversion + writing + fsync, not cold reads.
#
# Env: REPS (default 5), BENCH_SCRATCH (default bench/out/scratch),
#      BENCH_FORCE_RUSAGE=1 (measure RSS with getrusage even if /usr/bin/time exists)
# Output: a table on stdout and bench/out/minilm_f16.json.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
REPS="${REPS:-5}"
OUT_DIR="$REPO/bench/out"
SCRATCH="${BENCH_SCRATCH:-$OUT_DIR/scratch}"

if [[ -x "$REPO/.venv/bin/python" ]]; then PY="$REPO/.venv/bin/python"; else PY="${PYTHON:-python3}"; fi

bench_binary

echo "== fetching all-MiniLM-L6-v2" >&2
MINILM="$("$REPO/scripts/fetch-minilm")"
SRC="$MINILM/model.safetensors"

bench_rss_tool

mkdir -p "$OUT_DIR" "$SCRATCH"

echo "== warming the page cache: reading $SRC once (drop_caches is not available)" >&2
cat "$SRC" > /dev/null

"$PY" - "$BIN" "$SRC" "$SCRATCH" "$REPS" "$RSS_TOOL" "$OUT_DIR/minilm_f16.json" "$PY" "$REPO" <<'PYEOF'
import json, os, platform, statistics, struct, subprocess, sys, tempfile, time

BIN, SRC, SCRATCH, REPS, RSS_TOOL, JSON_OUT, PY, REPO = sys.argv[1:]
REPS = int(REPS)
sys.path.insert(0, os.path.join(REPO, "bench"))
import timing  # noqa: E402  (bench/timing.py)
MIB = 1 << 20

# Largest tensor, from the safetensors header.
with open(SRC, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
largest_name, largest = max(
    ((k, v["data_offsets"][1] - v["data_offsets"][0]) for k, v in header.items() if k != "__metadata__"),
    key=lambda kv: kv[1],
)
rss_bound = 64 * MIB + 2 * largest

outputs = {
    "cp+sync": os.path.join(SCRATCH, "cp_copy.safetensors"),
    "modelconv": os.path.join(SCRATCH, "modelconv_f16.safetensors"),
    "python": os.path.join(SCRATCH, "python_f16.safetensors"),
}
commands = {
    "cp+sync": ["sh", "-c", 'cp --reflink=never -- "$1" "$2" && sync -- "$2"', "sh", SRC, outputs["cp+sync"]],
    "modelconv": [BIN, "convert", SRC, outputs["modelconv"], "--dtype", "f16", "--quiet"],
    "python": [PY, os.path.join(REPO, "bench", "py_baseline.py"), SRC, outputs["python"]],
    # Context only: Python's fixed start-up cost (interpreter + numpy + safetensors imports).
    "py-import": [PY, "-c", "import numpy, safetensors.numpy"],
}


def run_once(name):
    out = outputs.get(name)
    if out and os.path.exists(out):
        os.unlink(out)
    return timing.measure(commands[name], SCRATCH, RSS_TOOL, name)


# One untimed round so binaries and Python modules are in the page cache too.
runs = timing.interleaved(list(commands), run_once, REPS)

with open(outputs["modelconv"], "rb") as a, open(outputs["python"], "rb") as b:
    identical = a.read() == b.read()

res = timing.summarize(runs)

mc, cp, py = res["modelconv"], res["cp+sync"], res["python"]
r_floor = mc["median_sec"] / cp["median_sec"]
r_py = py["median_sec"] / mc["median_sec"]
r_rss = mc["peak_rss_bytes"] / rss_bound

version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
try:
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "crates"], capture_output=True, text=True).stdout.strip())
except OSError:
    commit, dirty = None, None

report = {
    "benchmark": "all-MiniLM-L6-v2 model.safetensors f32 -> f16, single file",
    "source": SRC,
    "source_bytes": os.path.getsize(SRC),
    "output_bytes": os.path.getsize(outputs["modelconv"]),
    "reps": REPS,
    "page_cache": "warm (input read once before timing; one untimed warm-up round)",
    "rss_tool": RSS_TOOL,
    "cpus": os.cpu_count(),
    "platform": platform.platform(),
    "modelconv": version,
    "git_commit": commit,
    "crates_dirty": dirty,
    "commands": commands,
    "largest_tensor": {"name": largest_name, "bytes": largest},
    "rss_bound_bytes": rss_bound,
    "results": res,
    "ratios": {
        "modelconv_over_cp_sync": r_floor,
        "python_over_modelconv": r_py,
        "modelconv_rss_over_bound": r_rss,
    },
    "targets": {
        "modelconv_over_cp_sync_max": 2.0,
        "python_over_modelconv_min": 10.0,
        "modelconv_rss_over_bound_max": 1.0,
    },
    "targets_met": {
        "modelconv_over_cp_sync": r_floor <= 2.0,
        "python_over_modelconv": r_py >= 10.0,
        "modelconv_rss": r_rss <= 1.0,
    },
    "modelconv_and_python_outputs_identical": identical,
}
with open(JSON_OUT, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")

ok = lambda b: "ok" if b else "MISSED"
print(f"all-MiniLM-L6-v2 f32 -> f16  ({report['source_bytes']/1e6:.1f} MB -> {report['output_bytes']/1e6:.1f} MB)")
print(f"{REPS} runs each, interleaved, warm page cache, {os.cpu_count()} CPUs, RSS via {RSS_TOOL}")
print()
print(f"{'method':<11} {'median s':>9} {'min s':>8} {'peak RSS MiB':>13}")
for name in ("cp+sync", "modelconv", "python", "py-import"):
    r = res[name]
    print(f"{name:<11} {r['median_sec']:>9.3f} {r['min_sec']:>8.3f} {r['peak_rss_bytes']/MIB:>13.1f}")
print("(py-import: python start-up + imports only, included in python's time)")
print()
print(f"modelconv / cp+sync   {r_floor:6.2f}x   target <= 2   {ok(r_floor <= 2)}")
print(f"python / modelconv    {r_py:6.2f}x   target >= 10  {ok(r_py >= 10)}")
print(f"modelconv peak RSS    {mc['peak_rss_bytes']/MIB:6.1f} MiB vs bound 64 MiB + 2 x {largest/MIB:.1f} MiB "
      f"({largest_name}) = {rss_bound/MIB:.1f} MiB   {ok(r_rss <= 1)}")
print(f"modelconv output == python output: {identical}")
print(f"results: {JSON_OUT}")
PYEOF

rm -f "$SCRATCH"/*.safetensors
