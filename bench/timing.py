"""Shared timing of the benchmark scripts: wall time and peak RSS of a command,
and interleaved repetitions so drift on a busy machine hits every method alike."""

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def measure(cmd, scratch, rss_tool, label=""):
    """Runs `cmd`; returns (wall seconds, peak RSS bytes). Exits on failure."""
    fd, rss_file = tempfile.mkstemp(dir=scratch, suffix=".rss")
    os.close(fd)
    try:
        if rss_tool == "gnu-time":
            full = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + cmd
        else:
            full = [sys.executable, "-c", RUSAGE_WRAPPER] + cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        text = open(rss_file).read() if rss_tool == "gnu-time" else proc.stderr.decode()
    finally:
        os.unlink(rss_file)
    if proc.returncode != 0:
        sys.exit(f"{label or cmd[0]} failed with exit code {proc.returncode}:\n{proc.stderr.decode()}")
    return wall, int(text.strip().splitlines()[-1]) * 1024  # both tools report KiB


def interleaved(names, run_once, reps):
    """One untimed warm-up round, then `reps` rounds of every name in turn."""
    for name in names:
        run_once(name)
    runs = {name: [] for name in names}
    for _ in range(reps):
        for name in names:
            runs[name].append(run_once(name))
    return runs


def summarize(runs):
    """{name: {times_sec, median_sec, min_sec, peak_rss_bytes, rss_bytes}}."""
    res = {}
    for name, rr in runs.items():
        times = [t for t, _ in rr]
        rss = [r for _, r in rr]
        res[name] = {
            "times_sec": times,
            "median_sec": statistics.median(times),
            "min_sec": min(times),
            "peak_rss_bytes": max(rss),
            "rss_bytes": rss,
        }
    return res
