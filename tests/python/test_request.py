"""One request type for the CLI and Python (#15): every `convert` flag is a Python keyword
and vice versa (derived from the Rust request type, not from a hand list), options that do
not apply are errors, the registry's formats are the ones Python accepts, and the seeds'
`ModelConverter(...).convert(..., model_type=...)` extracts what the seeds' converters did."""

import json
import re
import subprocess

import pytest
from safetensors.numpy import load_file

import modelconv
from modelconv import ConversionConfig, InvalidOptionError, ModelConverter, WeightLoader

# Flags of `convert` that only shape the CLI's own output.
CLI_ONLY = {"--json", "--quiet", "--help"}


def cli_flags(modelconv_bin):
    """The long flags `modelconv convert --help` documents (aliases included)."""
    text = subprocess.run([modelconv_bin, "convert", "--help"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", text, re.M))
    aliases = set(re.findall(r"\[aliases?: (--[a-z0-9-]+)", text))
    return flags - aliases - CLI_ONLY


def test_every_cli_flag_is_a_python_keyword_and_back(modelconv_bin):
    fields = {name: flag for name, flag, _help, _values in modelconv.REQUEST_FIELDS}
    assert set(fields.values()) == cli_flags(modelconv_bin)
    for name, flag in fields.items():
        assert flag == "--" + name.replace("_", "-")
    config_fields = set(ConversionConfig.__dataclass_fields__)
    assert set(fields) <= config_fields, set(fields) - config_fields


def test_values_are_spelled_as_on_the_command_line(tmp_path, tiny_bert_dir):
    # Closed sets take the CLI's names (case-insensitive, aliases too), units are parsed once.
    r = modelconv.convert(tiny_bert_dir, tmp_path / "a", dtype="Float16", max_shard_size="40KB",
                          dtype_override=["*LayerNorm*=f32"], chunk_size="1MiB", threads=1)
    src = load_file(str(tiny_bert_dir / "model.safetensors"))
    norms = sum(1 for n in src if "layernorm" in n.lower())
    assert r["success"] and norms > 0
    assert r["dtypes"] == {"F16": len(src) - norms, "F32": norms}
    assert len([f for f in r["files"] if f["path"].endswith(".safetensors")]) > 1
    with pytest.raises(InvalidOptionError, match="unknown field `foo`"):
        modelconv.convert(tiny_bert_dir, tmp_path / "b", foo=1)
    with pytest.raises(InvalidOptionError, match="possible values"):
        modelconv.convert(tiny_bert_dir, tmp_path / "c", dtype="f17")


@pytest.mark.parametrize("options,message", [
    ({"to": "parquet", "quant": "Q8_0"}, "--quant applies to gguf output only"),
    ({"to": "safetensors", "compression": "lz4"}, "--compression applies to parquet output only"),
    ({"to": "numpy", "max_shard_size": "1MB"}, "--max-shard-size applies to"),
    ({"to": "parquet", "tensor_type": ["attn_v=q8_0"]}, "--tensor-type applies to gguf output only"),
])
def test_an_option_that_does_not_apply_is_an_error(tmp_path, tiny_bert_dir, options, message):
    with pytest.raises(InvalidOptionError, match=re.escape(message)):
        modelconv.convert(tiny_bert_dir, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_output_formats_are_the_registry(tmp_path, repo_root):
    src = repo_root / "tests/data/tiny/f32_values.safetensors"
    names = [f[0] for f in modelconv.FORMATS]
    assert {"safetensors", "numpy", "parquet", "gguf", "onnx", "mlx"} <= set(names)
    for name, _aliases, _ext, _reads, writes in modelconv.FORMATS:
        dst = tmp_path / (f"{name}.gguf" if name == "gguf" else name)
        result = ModelConverter(ConversionConfig(output_format=name)).convert(src, dst)
        if not writes:
            assert not result.success and "not supported yet" in result.error_message, name
        elif name == "gguf":
            assert "model family" in result.error_message
        else:
            assert result.success, (name, result.error_message)


def test_seeds_model_type_clip_writes_the_vision_tower(tmp_path, repo_root):
    src = repo_root / "tests/data/families/clip"
    out = tmp_path / "clip"
    config = ConversionConfig(use_float16=False, validate_output=True)
    result = ModelConverter(config).convert(model_name_or_path=src, output_dir=out, model_type="clip")
    assert result.success, result.error_message
    names = WeightLoader(out / "weights.parquet").keys()
    assert names and all(n.startswith("vision_model.") or n == "visual_projection.weight" for n in names)
    assert "visual_projection.weight" in names
    original = load_file(f"{src}/model.safetensors")
    assert len(names) == sum(1 for n in original if n.startswith("vision_model.") or n == "visual_projection.weight")
    meta = json.loads((out / "metadata.json").read_text())
    for key in ("image_size", "patch_size", "hidden_size", "num_layers", "num_attention_heads",
                "intermediate_size", "layer_norm_eps", "projection_dim"):
        assert key in meta["config"], key
    for key in ("model_name", "model_type", "total_parameters", "num_weight_tensors", "layer_info",
                "converted_at", "converter_version"):
        assert key in meta, key
    # The forward pass of the extraction equals the full model's image embeddings.
    assert result.inference["comparison"]["passed"], result.inference
    assert result.inference["comparison"]["min_cosine"] > 0.9999


def test_seeds_model_type_whisper_writes_the_encoder_with_the_seeds_key_map(tmp_path, repo_root):
    src = repo_root / "tests/data/families/whisper"
    out = tmp_path / "whisper"
    result = ModelConverter(ConversionConfig(validate_output=True)).convert(src, out, model_type="whisper")
    assert result.success, result.error_message
    names = WeightLoader(out / "weights.parquet").keys()
    assert not any("decoder" in n for n in names)
    # The seeds' one documented rename, in their layout; reading the file back restores HF names.
    import pyarrow.parquet as pq
    stored = set(pq.read_table(out / "weights.parquet", columns=["layer_name"])["layer_name"].to_pylist())
    assert "position_embedding.weight" in stored and "embed_positions.weight" not in stored
    assert result.inference["comparison"]["passed"], result.inference


def test_seeds_model_type_bert_keeps_pooling(tmp_path, tiny_bert_dir):
    out = tmp_path / "bert"
    result = ModelConverter(ConversionConfig(validate_output=True)).convert(tiny_bert_dir, out, model_type="bert")
    assert result.success, result.error_message
    assert (out / "1_Pooling" / "config.json").is_file() and (out / "modules.json").is_file()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["family"] == "bert"
    assert result.inference["comparison"]["passed"]
    assert result.validation["passed"] and result.validation["bit_exact"] == result.validation["compared"]


def test_auto_detects_clip_and_extracts_like_the_seeds(tmp_path, repo_root):
    out = tmp_path / "auto"
    result = ModelConverter().convert(repo_root / "tests/data/families/clip", out)
    assert result.success, result.error_message
    names = WeightLoader(out / "weights.parquet").keys()
    assert not any(n.startswith("text_model.") for n in names)


def test_report_keyword_writes_the_html_report(tmp_path, tiny_bert_dir):
    # The CLI's --report FILE.html, from Python (a str or a path).
    page = tmp_path / "report.html"
    r = modelconv.convert(tiny_bert_dir, tmp_path / "out", dtype="f16", report=page)
    html = page.read_text()
    assert r["success"] and "<svg" in html and "modelconv convert" in html
    assert "https://" not in html and "http://" not in html
    assert set(r["sizes"]["output_by_type"]) == set(r["dtypes"])
