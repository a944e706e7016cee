"""Hub ids resolved offline from a Hugging Face cache laid out like the real one."""

import hashlib
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from st_helpers import non_weight_files

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def blob_name(path):
    """LFS files are stored under their sha256, regular git files under their git blob sha1."""
    data = path.read_bytes()
    if path.suffix == ".safetensors":
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_fake_cache(cache, model_dir):
    repo = cache / ("models--" + HUB_ID.replace("/", "--"))
    blobs = repo / "blobs"
    snap = repo / "snapshots" / COMMIT
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)  # no trailing newline, as huggingface_hub writes it
    for src in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = src.relative_to(model_dir)
        blob = blobs / blob_name(src)
        if not blob.exists():
            try:
                os.link(src, blob)
            except OSError:
                shutil.copyfile(src, blob)
        link = snap / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return repo


@pytest.fixture(scope="module")
def fake_cache(minilm_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf_cache") / "hub"
    make_fake_cache(cache, minilm_dir)
    return cache


def hub_env(cache, tmp_path):
    # HF_HOME points elsewhere on purpose: HF_HUB_CACHE must win.
    return {"HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf_home_unused")}


@pytest.mark.parametrize("ref", ["", "@main", "@" + COMMIT])
def test_hub_id_from_cache(fake_cache, minilm_dir, run_modelconv, tmp_path, ref):
    out = tmp_path / "out"
    run_modelconv("convert", HUB_ID + ref, out, "--quiet", env=hub_env(fake_cache, tmp_path))
    original = load_file(minilm_dir / "model.safetensors")
    got = load_file(out / "model.safetensors")
    assert set(got) == set(original)
    for k, v in original.items():
        assert got[k].dtype == v.dtype, k
        assert got[k].tobytes() == v.tobytes(), k
    for rel in non_weight_files(minilm_dir):
        p = out / rel
        assert p.is_file() and not p.is_symlink(), rel
        assert p.read_bytes() == (minilm_dir / rel).read_bytes(), rel


@pytest.mark.parametrize("cache_state", ["empty", "missing"])
def test_hub_id_not_cached(run_modelconv, tmp_path, cache_state):
    cache = tmp_path / "empty_cache"
    if cache_state == "empty":
        cache.mkdir()
    out = tmp_path / "out"
    proc = run_modelconv("convert", HUB_ID, out, expect=1, env=hub_env(cache, tmp_path))
    assert HUB_ID in proc.stderr
    assert str(cache) in proc.stderr
    assert not out.exists()
    assert proc.stdout == ""
