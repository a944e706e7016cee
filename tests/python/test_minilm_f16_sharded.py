"""all-MiniLM-L6-v2 -> f16, sharded at 20MB, checked against safetensors/numpy."""

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save

from st_helpers import non_weight_files, read_header, sha256_file

SHARD_LIMIT = 20_000_000  # "20MB": decimal, as in Hugging Face's max_shard_size


def f16_reference(original):
    """What the f16 checkpoint must hold: floats cast by numpy, other dtypes untouched."""
    return {
        k: v.astype(np.float16) if np.issubdtype(v.dtype, np.floating) else v
        for k, v in original.items()
    }


@pytest.fixture(scope="module")
def original(minilm_dir):
    return load_file(minilm_dir / "model.safetensors")


@pytest.fixture(scope="module")
def converted(minilm_dir, run_modelconv, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm_f16") / "out"
    proc = run_modelconv(
        "convert", minilm_dir, out, "--dtype", "f16", "--max-shard-size", "20MB", "--json"
    )
    report = json.loads(proc.stdout)
    return out, report


def shard_files(out):
    return sorted(p.name for p in out.glob("*.safetensors"))


def test_report_success(converted):
    _, report = converted
    assert report["success"] is True
    assert report["error_message"] is None
    assert report["output_format"] == "safetensors"


def test_shards_and_index_exist(converted):
    out, _ = converted
    shards = shard_files(out)
    assert len(shards) >= 3, shards
    n = len(shards)
    assert shards == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    assert (out / "model.safetensors.index.json").is_file()
    assert not (out / "model.safetensors").exists()


def test_tensors_bit_exact_f16(converted, original):
    out, _ = converted
    expected = f16_reference(original)
    got = {}
    for name in shard_files(out):
        part = load_file(out / name)
        assert not (set(part) & set(got)), f"tensor in two shards: {set(part) & set(got)}"
        got.update(part)
    assert set(got) == set(expected)
    for k, ref in expected.items():
        v = got[k]
        assert v.dtype == ref.dtype, k
        assert v.shape == ref.shape, k
        if ref.dtype == np.float16:
            np.testing.assert_array_equal(v.view(np.uint16), ref.view(np.uint16), err_msg=k)
        else:
            np.testing.assert_array_equal(v, ref, err_msg=k)


def test_shards_respect_size_limit(converted):
    out, _ = converted
    for name in shard_files(out):
        header, _ = read_header(out / name)
        sizes = [
            info["data_offsets"][1] - info["data_offsets"][0]
            for k, info in header.items()
            if k != "__metadata__"
        ]
        # A tensor larger than the limit goes alone into its shard.
        if len(sizes) > 1:
            assert sum(sizes) <= SHARD_LIMIT, (name, sum(sizes))


def test_each_shard_matches_reference_writer(converted, original, minilm_dir):
    """Every shard is byte-identical to safetensors.numpy.save of the same tensors."""
    out, _ = converted
    with safe_open(minilm_dir / "model.safetensors", framework="np") as f:
        metadata = dict(f.metadata() or {})
    metadata.setdefault("format", "pt")
    expected = f16_reference(original)
    for name in shard_files(out):
        with safe_open(out / name, framework="np") as f:
            keys = list(f.keys())
        ref = save({k: expected[k] for k in keys}, metadata=metadata)
        assert (out / name).read_bytes() == ref, name


def test_index(converted, original):
    out, _ = converted
    raw = (out / "model.safetensors.index.json").read_text()
    index = json.loads(raw)
    # HF layout: sorted keys, indent 2, trailing newline.
    assert raw == json.dumps(index, indent=2, sort_keys=True) + "\n"
    weight_map = index["weight_map"]
    assert set(weight_map) == set(original)
    for fname in set(weight_map.values()):
        with safe_open(out / fname, framework="np") as f:
            keys = set(f.keys())
        assert keys == {k for k, v in weight_map.items() if v == fname}, fname
    assert set(weight_map.values()) == set(shard_files(out))
    expected = f16_reference(original)
    assert index["metadata"]["total_size"] == sum(v.nbytes for v in expected.values())
    assert index["metadata"]["total_parameters"] == sum(v.size for v in original.values())


def test_non_weight_files_carried_byte_identical(converted, minilm_dir):
    out, report = converted
    carried = non_weight_files(minilm_dir)
    for must in (
        "tokenizer.json",
        "vocab.txt",
        "config.json",
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
        "special_tokens_map.json",
        "tokenizer_config.json",
        "config_sentence_transformers.json",
        "README.md",
    ):
        assert must in carried, f"fixture is missing {must}"
    for rel in carried:
        assert (out / rel).is_file(), rel
        assert (out / rel).read_bytes() == (minilm_dir / rel).read_bytes(), rel
    assert sorted(report["carried_files"]) == sorted(carried)
    # Nothing else ended up in the output but the seeds' metadata.json sidecar.
    assert sorted(non_weight_files(out)) == sorted(carried + ["metadata.json"])
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["family"] == "bert" and meta["total_parameters"] == report["total_parameters"]


def test_report_files_hashes(converted):
    out, report = converted
    listed = {}
    for entry in report["files"]:
        p = Path(entry["path"])
        if not p.is_absolute():
            p = out / p
        assert p.is_file(), entry
        assert entry["size"] == p.stat().st_size, entry
        assert entry["sha256"] == sha256_file(p), entry
        listed[p.resolve()] = entry
    on_disk = {p.resolve() for p in out.rglob("*") if p.is_file()}
    assert set(listed) == on_disk
    # Sizes count every file: weights, index and carried files.
    assert report["output_size_bytes"] == sum(p.stat().st_size for p in on_disk)


def test_report_source_size(converted, minilm_dir):
    _, report = converted
    assert report["source_size_bytes"] == sum(
        p.stat().st_size for p in minilm_dir.rglob("*") if p.is_file()
    )

def test_report_counts(converted, original):
    _, report = converted
    assert report["total_parameters"] == sum(v.size for v in original.values())
    assert report["tensors"] == len(original)
    floats = [k for k, v in original.items() if np.issubdtype(v.dtype, np.floating)]
    assert report["tensors_cast"] == len(floats)
    assert report["dtypes"] == {"F16": len(floats), "I64": len(original) - len(floats)}


def test_transformers_loads_output(converted, original):
    try:
        import torch  # noqa: F401
        import transformers
    except Exception as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"transformers/torch not importable ({type(e).__name__}: {e})")
    out, _ = converted
    model = transformers.AutoModel.from_pretrained(str(out), torch_dtype=torch.float16)
    state = model.state_dict()
    name = "embeddings.word_embeddings.weight"
    ref = original[name].astype(np.float16)
    got = state[name].cpu().numpy()
    np.testing.assert_array_equal(got.view(np.uint16), ref.view(np.uint16))
