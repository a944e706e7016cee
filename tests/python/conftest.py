"""Shared fixtures for the modelconv end-to-end tests.

Every test checks modelconv's output against references computed with the
`safetensors` package and numpy, never against modelconv alone.

Environment:
  MODELCONV_BIN  path to the modelconv binary (default: target/debug/modelconv)
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def modelconv_bin(repo_root) -> Path:
    raw = os.environ.get("MODELCONV_BIN", "target/debug/modelconv")
    path = Path(raw)
    if not path.is_absolute():
        path = repo_root / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"modelconv binary not found at {path}; build it with "
            "`cargo build -p modelconv-cli` or set MODELCONV_BIN"
        )
    return path


@pytest.fixture(scope="session")
def minilm_dir(repo_root) -> Path:
    """The real all-MiniLM-L6-v2, made available offline by scripts/fetch-minilm."""
    proc = subprocess.run(
        [str(repo_root / "scripts" / "fetch-minilm")],
        cwd=repo_root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/fetch-minilm failed ({proc.returncode}):\n{proc.stderr}")
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert (path / "model.safetensors").stat().st_size == 90868376
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(repo_root) -> Path:
    return repo_root / "tests" / "data" / "tiny-bert"


@pytest.fixture(scope="session")
def run_modelconv(modelconv_bin):
    """Run modelconv; check the exit code (0 unless `expect` says otherwise)."""

    def run(*args, expect=0, env=None, cwd=None):
        full_env = dict(os.environ)
        # Keep tests hermetic: never let a hub lookup reach a real cache or the network.
        full_env.setdefault("HF_HUB_OFFLINE", "1")
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [str(modelconv_bin), *map(str, args)],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=300,
        )
        if proc.returncode != expect:
            raise AssertionError(
                f"modelconv {' '.join(map(str, args))} exited {proc.returncode}, "
                f"expected {expect}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    return run
