"""Before/after figures for issue #23: every hostile case through every
subcommand, with wall time, peak RSS and exit code (stdlib only).

    python3 tests/bad_data/hostile/measure.py MODELCONV_BIN CORPUS_DIR [TIMEOUT_S]

CORPUS_DIR is what make_hostile.py wrote (with --big, --gguf-base and
--parquet-base). Runs each command under a timeout (default 60 s; a hang
shows as 'timeout') and prints one line per run: case, command, exit code,
seconds, peak RSS in MB.
"""

import os
import subprocess
import sys
import tempfile
import time


def main():
    bin_, corpus = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    cases = sorted(os.listdir(corpus))
    print(f"{'case':34} {'command':28} {'exit':>7} {'s':>7} {'MB':>7}  last stderr line")
    for case in cases:
        path = os.path.join(corpus, case)
        if case in ("secret.txt",) or case.endswith(".py"):
            continue
        cmds = [("inspect", ["inspect", path])]
        for fmt in ("safetensors", "numpy", "parquet", "gguf"):
            dst = "out.gguf" if fmt == "gguf" else None
            cmds.append((f"convert --to {fmt}", ["convert", path, dst or None, "--to", fmt]))
        cmds.append(("verify", ["verify", path, path]))
        cmds.append(("check-inference", ["check-inference", path, path]))
        cmds.append(("scan", ["scan", path]))
        if case.startswith("fake") or case.startswith("config"):
            cmds.append(("fake", ["fake", path, None]))
        for label, args in cmds:
            with tempfile.TemporaryDirectory() as tmp:
                args = [os.path.join(tmp, "out") if a is None
                        else os.path.join(tmp, a) if a == "out.gguf" else a for a in args]
                code, secs, last = run_wait4([bin_] + args, timeout)
                print(f"{case:34} {label:28} {str(code):>7} {secs:7.2f} {last[1]:7.0f}  {last[0][:100]}")
                sys.stdout.flush()


def run_wait4(cmd, timeout):
    """Runs cmd; returns (exit code or 'timeout', seconds, (last stderr line, peak RSS MB))."""
    start = time.time()
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        code = None
        rss = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid != 0:
                code = os.waitstatus_to_exitcode(status)
                rss = ru.ru_maxrss / 1024
                break
            if time.time() - start > timeout:
                p.kill()
                _, status, ru = os.wait4(p.pid, 0)
                code = "timeout"
                rss = ru.ru_maxrss / 1024
                break
            time.sleep(0.01)
        p.returncode = 0  # reaped above
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    return code, time.time() - start, ((lines[-1] if lines else ""), rss)


if __name__ == "__main__":
    main()
