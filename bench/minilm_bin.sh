#!/usr/bin/env bash
# Benchmark: all-MiniLM-L6-v2 saved as pytorch_model.bin -> safetensors.
#
# Issue target: >= 5x faster than torch.load + safetensors.torch.save_file,
# with <= 1/4 of its peak RSS.
#
# Input (built once, into bench/out/minilm-bin/): the model directory from
# scripts/fetch-minilm with its weights re-saved as pytorch_model.bin by
# torch.save(OrderedDict(load_file("model.safetensors"))), the layout that
# save_pretrained(safe_serialization=False) writes; every non-weight file is
# copied as is.
#
# Measures, in one run, interleaved, REPS times each (default 5):
#   cp+sync    cp of pytorch_model.bin to a scratch dir, then `sync FILE`: the floor
#   modelconv  target/release/modelconv convert bench/out/minilm-bin OUT_DIR --quiet --overwrite
#              (OUT_DIR removed before every run; modelconv fsyncs its outputs itself)
#   python     bench/torch_baseline.py: torch.load(weights_only=True) +
#              safetensors.torch.save_file + os.fsync
#   py-import  (context only) python -c "import torch, safetensors.torch"
# and reports the median wall time and the peak RSS (max over runs) of each.
# It then checks that modelconv's and torch's outputs hold exactly the same
# tensors (names, dtypes, shapes, bytes).
#
# Torch is needed only here. Python: $TORCH_PYTHON, else /work/torchenv/bin/python,
# else a venv created in .cache/torchenv (git-ignored) with torch, numpy, safetensors.
#
# Env: REPS (default 5), BENCH_SCRATCH (default bench/out/scratch),
#      BENCH_FORCE_RUSAGE=1, TORCH_PYTHON
# Output: a table on stdout and bench/out/minilm_bin.json.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
REPS="${REPS:-5}"
OUT_DIR="$REPO/bench/out"
SCRATCH="${BENCH_SCRATCH:-$OUT_DIR/scratch}"
INPUT="$OUT_DIR/minilm-bin"

# Python with torch: $TORCH_PYTHON, the shared venv, or our own venv (created once).
if [[ -n "${TORCH_PYTHON:-}" ]]; then
    PY="$TORCH_PYTHON"
elif [[ -x /work/torchenv/bin/python ]]; then
    PY=/work/torchenv/bin/python
else
    VENV="$REPO/.cache/torchenv"
    PY="$VENV/bin/python"
    if ! "$PY" -c "import torch, numpy, safetensors" 2>/dev/null; then
        echo "note: creating $VENV and installing torch numpy safetensors with pip;" >&2
        echo "      this downloads several GB (set TORCH_PYTHON to use an existing environment)" >&2
        "${PYTHON:-python3}" -m venv "$VENV" >&2
        "$PY" -m pip install --quiet torch numpy safetensors >&2
    fi
fi

bench_binary

echo "== fetching all-MiniLM-L6-v2" >&2
MINILM="$("$REPO/scripts/fetch-minilm")"

bench_rss_tool

mkdir -p "$OUT_DIR" "$SCRATCH"

# Build the input directory once (again only if model.safetensors is newer).
if [[ ! -f "$INPUT/pytorch_model.bin" || "$MINILM/model.safetensors" -nt "$INPUT/pytorch_model.bin" ]]; then
    echo "== writing $INPUT (pytorch_model.bin via torch.save)" >&2
    "$PY" - "$MINILM" "$INPUT" <<'PYEOF'
import os, shutil, sys, tempfile
from collections import OrderedDict

import torch
from safetensors.torch import load_file

src, dest = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix=".minilm-bin-", dir=os.path.dirname(dest))
try:
    # Every non-weight file (config, tokenizer, 1_Pooling/, README, ...), as is.
    shutil.copytree(src, tmp, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.pt", "*.pth", "*.h5", "*.onnx"))
    state = OrderedDict(load_file(os.path.join(src, "model.safetensors")))
    torch.save(state, os.path.join(tmp, "pytorch_model.bin"))
    os.chmod(tmp, 0o755)
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.rename(tmp, dest)
finally:
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
PYEOF
fi
SRC="$INPUT/pytorch_model.bin"

echo "== warming the page cache: reading $SRC once (drop_caches is not available)" >&2
cat "$SRC" > /dev/null

"$PY" - "$BIN" "$INPUT" "$SCRATCH" "$REPS" "$RSS_TOOL" "$OUT_DIR/minilm_bin.json" "$PY" "$REPO" "$MINILM" <<'PYEOF'
import json, os, platform, shutil, statistics, subprocess, sys, tempfile, time

BIN, INPUT, SCRATCH, REPS, RSS_TOOL, JSON_OUT, PY, REPO, MINILM = sys.argv[1:]
REPS = int(REPS)
sys.path.insert(0, os.path.join(REPO, "bench"))
import timing  # noqa: E402  (bench/timing.py)
MIB = 1 << 20
SRC = os.path.join(INPUT, "pytorch_model.bin")

outputs = {
    "cp+sync": os.path.join(SCRATCH, "cp_pytorch_model.bin"),
    "modelconv": os.path.join(SCRATCH, "modelconv_out"),  # a directory
    "python": os.path.join(SCRATCH, "torch.safetensors"),
}
commands = {
    "cp+sync": ["sh", "-c", 'cp --reflink=never -- "$1" "$2" && sync -- "$2"', "sh", SRC, outputs["cp+sync"]],
    "modelconv": [BIN, "convert", INPUT, outputs["modelconv"], "--quiet", "--overwrite"],
    "python": [PY, os.path.join(REPO, "bench", "torch_baseline.py"), SRC, outputs["python"]],
    # Context only: Python's fixed start-up cost (interpreter + torch + safetensors imports).
    "py-import": [PY, "-c", "import torch, safetensors.torch"],
}


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.unlink(path)


def run_once(name):
    out = outputs.get(name)
    if out:
        remove(out)  # every run writes a fresh output (a fresh directory for modelconv)
    return timing.measure(commands[name], SCRATCH, RSS_TOOL, name)


# One untimed round so binaries and Python modules are in the page cache too.
runs = timing.interleaved(list(commands), run_once, REPS)

# Correctness: modelconv's output holds exactly torch's tensors (names, dtypes,
# shapes, bytes); both are also compared with the original model.safetensors.
from safetensors import safe_open
from safetensors.numpy import load_file


def tensors_equal(a, b):
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a
    )


def metadata(path):
    with safe_open(path, framework="np") as f:
        return f.metadata()


mc_files = sorted(os.listdir(outputs["modelconv"]))
mc_weights = [f for f in mc_files if f.endswith(".safetensors")]
if mc_weights != ["model.safetensors"]:
    sys.exit(f"expected modelconv to write model.safetensors, it wrote: {mc_files}")
mc_st = os.path.join(outputs["modelconv"], "model.safetensors")
mc_t, py_t = load_file(mc_st), load_file(outputs["python"])
orig_t = load_file(os.path.join(MINILM, "model.safetensors"))
equal = tensors_equal(mc_t, py_t)
equal_orig = tensors_equal(mc_t, orig_t)
with open(mc_st, "rb") as a, open(outputs["python"], "rb") as b:
    identical = a.read() == b.read()
mc_meta, py_meta = metadata(mc_st), metadata(outputs["python"])

res = timing.summarize(runs)

mc, cp, py = res["modelconv"], res["cp+sync"], res["python"]
r_floor = mc["median_sec"] / cp["median_sec"]
r_py = py["median_sec"] / mc["median_sec"]
r_rss = mc["peak_rss_bytes"] / py["peak_rss_bytes"]

version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
torch_version = subprocess.run([PY, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True).stdout.strip()
try:
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "crates"], capture_output=True, text=True).stdout.strip())
except OSError:
    commit, dirty = None, None

report = {
    "benchmark": "all-MiniLM-L6-v2 pytorch_model.bin -> safetensors",
    "source": SRC,
    "source_bytes": os.path.getsize(SRC),
    "output_bytes": os.path.getsize(mc_st),
    "modelconv_output_files": mc_files,
    "reps": REPS,
    "page_cache": "warm (input read once before timing; one untimed warm-up round)",
    "rss_tool": RSS_TOOL,
    "cpus": os.cpu_count(),
    "platform": platform.platform(),
    "modelconv": version,
    "torch": torch_version,
    "python": PY,
    "git_commit": commit,
    "crates_dirty": dirty,
    "commands": commands,
    "results": res,
    "ratios": {
        "modelconv_over_cp_sync": r_floor,
        "python_over_modelconv": r_py,
        "modelconv_rss_over_python_rss": r_rss,
    },
    "targets": {
        "python_over_modelconv_min": 5.0,
        "modelconv_rss_over_python_rss_max": 0.25,
    },
    "targets_met": {
        "python_over_modelconv": r_py >= 5.0,
        "modelconv_rss": r_rss <= 0.25,
    },
    "modelconv_tensors_equal_torch": equal,
    "modelconv_tensors_equal_original_safetensors": equal_orig,
    "modelconv_and_python_outputs_identical": identical,
    "metadata": {"modelconv": mc_meta, "python": py_meta},
}
with open(JSON_OUT, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")

ok = lambda b: "ok" if b else "MISSED"
print(f"all-MiniLM-L6-v2 pytorch_model.bin -> safetensors  "
      f"({report['source_bytes']/1e6:.1f} MB -> {report['output_bytes']/1e6:.1f} MB, torch {torch_version})")
print(f"{REPS} runs each, interleaved, warm page cache, {os.cpu_count()} CPUs, RSS via {RSS_TOOL}")
print()
print(f"{'method':<11} {'median s':>9} {'min s':>8} {'peak RSS MiB':>13}")
for name in ("cp+sync", "modelconv", "python", "py-import"):
    r = res[name]
    print(f"{name:<11} {r['median_sec']:>9.3f} {r['min_sec']:>8.3f} {r['peak_rss_bytes']/MIB:>13.1f}")
print("(py-import: python start-up + torch/safetensors imports only, included in python's time)")
print()
print(f"modelconv / cp+sync   {r_floor:6.2f}x   (context)")
print(f"python / modelconv    {r_py:6.2f}x   target >= 5     {ok(r_py >= 5)}")
print(f"modelconv / python RSS {r_rss:5.3f}    target <= 0.25  {ok(r_rss <= 0.25)}"
      f"   ({mc['peak_rss_bytes']/MIB:.1f} vs {py['peak_rss_bytes']/MIB:.1f} MiB)")
print(f"modelconv tensors == torch tensors: {equal}  (== original model.safetensors: {equal_orig}; "
      f"files byte-identical: {identical})")
print(f"results: {JSON_OUT}")
PYEOF

rm -rf "$SCRATCH/modelconv_out" "$SCRATCH/cp_pytorch_model.bin" "$SCRATCH/torch.safetensors"
