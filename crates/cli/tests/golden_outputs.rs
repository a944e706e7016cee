//! Output stability: a fixed corpus of conversions (every fixture × every
//! `--to`, plus the main options: dtypes, shards, Parquet schemas and codecs,
//! int8, GGUF presets, split/merge, components, key maps, muP folding, and
//! conversions of earlier outputs back) whose output files must keep their
//! exact bytes. `tests/data/golden_outputs.json` holds the SHA-256 of every
//! output file (and the exit code of every case), recorded before the
//! registry refactor (issue #15); a change of bytes fails here.
//!
//! This is a regression list, not a correctness oracle: correctness is
//! checked against reference readers by the other tests. When an output is
//! meant to change, re-record with `MODELCONV_BLESS=1 cargo test -p
//! modelconv-cli --test golden_outputs` and say why in the commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use sha2::{Digest, Sha256};

/// `(id, source, destination name, options)`. A source starting with `@`
/// is an earlier case's output (`@ID` or `@ID/rel/path`).
fn cases() -> Vec<(String, String, String, Vec<String>)> {
    let mut v: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let mut add = |id: &str, src: &str, dst: &str, opts: &[&str]| {
        v.push((
            id.to_string(),
            src.to_string(),
            dst.to_string(),
            opts.iter().map(|s| s.to_string()).collect(),
        ));
    };
    // A fake 12-layer LLaMA (the GGUF preset fixture), made by `fake`.
    add(
        "llama12.fake",
        "quant/llama12",
        "out",
        &["fake", "--seed", "7"],
    );
    add(
        "llama12.fake_f16",
        "quant/llama12",
        "out",
        &["fake", "--seed", "3", "--dtype", "f16", "--init", "uniform"],
    );
    let fixtures = [
        ("all_dtypes", "tiny/all_dtypes.safetensors"),
        ("f32_values", "tiny/f32_values.safetensors"),
        ("sharded_bf16", "tiny/sharded_bf16"),
        ("tiny_bert", "tiny-bert"),
        ("bert", "families/bert"),
        ("bert_vocab_only", "families/bert-vocab-only"),
        ("clip", "families/clip"),
        ("whisper", "families/whisper"),
        ("llama", "families/llama"),
        ("mistral", "families/mistral"),
        ("qwen2", "families/qwen2"),
        ("gemma", "families/gemma"),
        ("minicpm", "families/minicpm"),
        ("minicpm_tied", "families/minicpm-tied"),
        ("llama12", "@llama12.fake"),
        ("pt_p2", "torch/p2_basic.pt"),
        ("pt_p4", "torch/p4_basic.pt"),
        ("pt_legacy", "torch/legacy.pt"),
        ("pt_scripted", "torch/scripted.pt"),
        ("pt_tar", "torch/tar_legacy.tar"),
        ("pt_views", "torch/views.pt"),
        ("pt_nested", "torch/nested.pt"),
        ("pt_model_key", "torch/model_key.pt"),
        ("pt_extra_dtypes", "torch/extra_dtypes.pt"),
        ("pt_quantized", "torch/quantized.pt"),
        ("pt_sharded_bin", "torch/sharded-bin"),
        ("pt_tiny_bert_bin", "torch/tiny-bert-bin"),
    ];
    for (id, src) in fixtures {
        add(&format!("{id}.st_dir"), src, "out", &[]);
        add(&format!("{id}.numpy_dir"), src, "out", &["--to", "numpy"]);
        add(
            &format!("{id}.parquet_dir"),
            src,
            "out",
            &["--to", "parquet"],
        );
        add(&format!("{id}.gguf"), src, "out.gguf", &[]);
    }
    // Single files and casts.
    add("tiny_bert.st_file", "tiny-bert", "m.safetensors", &[]);
    add("tiny_bert.f16", "tiny-bert", "out", &["--dtype", "f16"]);
    add("tiny_bert.bf16", "tiny-bert", "out", &["--dtype", "bf16"]);
    add("tiny_bert.f64", "tiny-bert", "out", &["--dtype", "f64"]);
    add(
        "tiny_bert.shards",
        "tiny-bert",
        "out",
        &["--dtype", "f16", "--max-shard-size", "40KB"],
    );
    add(
        "tiny_bert.file_shards",
        "tiny-bert",
        "m.safetensors",
        &["--max-shard-size", "40KB"],
    );
    add(
        "tiny_bert.override",
        "tiny-bert",
        "out",
        &["--dtype", "f16", "--dtype-override", "*LayerNorm*=f32"],
    );
    add("tiny_bert.no_meta", "tiny-bert", "out", &["--no-metadata"]);
    add(
        "f32_values.f16_file",
        "tiny/f32_values.safetensors",
        "x.safetensors",
        &["--dtype", "f16"],
    );
    add(
        "f32_values.bf16_file",
        "tiny/f32_values.safetensors",
        "x.safetensors",
        &["--dtype", "bf16"],
    );
    add(
        "sharded_bf16.f16",
        "tiny/sharded_bf16",
        "out",
        &["--dtype", "f16"],
    );
    add(
        "sharded_bf16.f32_file",
        "tiny/sharded_bf16",
        "m.safetensors",
        &["--dtype", "f32"],
    );
    add(
        "sharded_bf16.reshard",
        "tiny/sharded_bf16",
        "out",
        &["--max-shard-size", "2KB"],
    );
    // NumPy files.
    add("tiny_bert.npz", "tiny-bert", "m.npz", &[]);
    add(
        "f32_values.npz",
        "tiny/f32_values.safetensors",
        "x.npz",
        &[],
    );
    add(
        "f32_values.npy",
        "tiny/f32_values.safetensors",
        "x.npy",
        &[],
    );
    add(
        "sharded_bf16.npz_f32",
        "tiny/sharded_bf16",
        "m.npz",
        &["--dtype", "f32"],
    );
    // Parquet schemas, codecs, int8.
    add("tiny_bert.pq_file", "tiny-bert", "w.parquet", &[]);
    add(
        "tiny_bert.pq_v1",
        "tiny-bert",
        "out",
        &["--to", "parquet", "--parquet-schema", "v1"],
    );
    add(
        "tiny_bert.pq_v2",
        "tiny-bert",
        "out",
        &["--to", "parquet", "--parquet-schema", "v2"],
    );
    add(
        "tiny_bert.pq_f16",
        "tiny-bert",
        "out",
        &["--to", "parquet", "--dtype", "f16"],
    );
    add(
        "tiny_bert.pq_v1_f16",
        "tiny-bert",
        "out",
        &[
            "--to",
            "parquet",
            "--parquet-schema",
            "v1",
            "--dtype",
            "f16",
        ],
    );
    for codec in ["lz4", "snappy", "none"] {
        add(
            &format!("tiny_bert.pq_{codec}"),
            "tiny-bert",
            "out",
            &["--to", "parquet", "--compression", codec],
        );
    }
    add(
        "tiny_bert.pq_zstd9",
        "tiny-bert",
        "out",
        &["--to", "parquet", "--compression-level", "9"],
    );
    add(
        "tiny_bert.int8",
        "tiny-bert",
        "out",
        &["--to", "parquet", "--quantize", "int8"],
    );
    add(
        "tiny_bert.int8_asym",
        "tiny-bert",
        "out",
        &[
            "--to",
            "parquet",
            "--quantize",
            "int8",
            "--quant-scheme",
            "asym",
        ],
    );
    add(
        "tiny_bert.int8_tensor",
        "tiny-bert",
        "out",
        &[
            "--to",
            "parquet",
            "--quantize",
            "int8",
            "--quant-axis",
            "tensor",
        ],
    );
    add(
        "tiny_bert.int8_st",
        "tiny-bert",
        "out",
        &["--quantize", "int8"],
    );
    add(
        "sharded_bf16.pq_file",
        "tiny/sharded_bf16",
        "w.parquet",
        &[],
    );
    add(
        "all_dtypes.pq_file",
        "tiny/all_dtypes.safetensors",
        "w.parquet",
        &[],
    );
    add(
        "all_dtypes.pq_v1",
        "tiny/all_dtypes.safetensors",
        "w.parquet",
        &["--parquet-schema", "v1"],
    );
    // Back from Parquet.
    add(
        "tiny_bert.pq_back",
        "@tiny_bert.parquet_dir",
        "back",
        &["--to", "hf"],
    );
    add(
        "tiny_bert.pq_v1_back",
        "@tiny_bert.pq_v1",
        "back",
        &["--to", "hf"],
    );
    add(
        "tiny_bert.int8_back",
        "@tiny_bert.int8",
        "back",
        &["--to", "hf"],
    );
    add(
        "tiny_bert.pq_file_back",
        "@tiny_bert.pq_file/w.parquet",
        "back",
        &[],
    );
    add(
        "all_dtypes.pq_back",
        "@all_dtypes.pq_file/w.parquet",
        "back.safetensors",
        &[],
    );
    // Families: components, key maps, muP.
    add(
        "clip.vision",
        "families/clip",
        "out",
        &["--component", "vision"],
    );
    add(
        "clip.text",
        "families/clip",
        "out",
        &["--component", "text"],
    );
    add(
        "clip.vision_pq",
        "families/clip",
        "out",
        &["--component", "vision", "--to", "parquet", "--dtype", "f16"],
    );
    add(
        "whisper.encoder",
        "families/whisper",
        "out",
        &["--component", "encoder"],
    );
    add(
        "whisper.encoder_pq",
        "families/whisper",
        "out",
        &["--component", "encoder", "--to", "parquet"],
    );
    add(
        "whisper.encoder_pq_hf",
        "families/whisper",
        "out",
        &[
            "--component",
            "encoder",
            "--to",
            "parquet",
            "--key-map",
            "hf",
        ],
    );
    add(
        "whisper.seeds_keys",
        "families/whisper",
        "out",
        &["--key-map", "seeds"],
    );
    add(
        "whisper.encoder_pq_back",
        "@whisper.encoder_pq",
        "back",
        &["--to", "hf"],
    );
    add(
        "minicpm.mup",
        "families/minicpm",
        "out",
        &["--mup-to-llama"],
    );
    add(
        "minicpm_tied.mup",
        "families/minicpm-tied",
        "out",
        &["--mup-to-llama"],
    );
    add(
        "minicpm.mup_gguf",
        "families/minicpm",
        "m.gguf",
        &["--mup-to-llama"],
    );
    add(
        "llama.model_type",
        "families/llama",
        "out",
        &["--model-type", "mistral"],
    );
    add(
        "bert.model_type_gguf",
        "families/bert",
        "m.gguf",
        &["--model-type", "bert"],
    );
    // GGUF: every preset on the 12-layer LLaMA, overrides, split and merge, back to HF.
    for preset in [
        "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1",
        "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "F16", "BF16", "F32",
    ] {
        add(
            &format!("llama12.{preset}"),
            "@llama12.fake",
            "m.gguf",
            &["--quant", preset],
        );
    }
    add(
        "llama12.tensor_type",
        "@llama12.fake",
        "m.gguf",
        &[
            "--quant",
            "q4_k_m",
            "--tensor-type",
            "attn_v=q8_0",
            "--tensor-type",
            "ffn_down=f16",
        ],
    );
    add(
        "llama12.dtype_gguf",
        "@llama12.fake",
        "m.gguf",
        &["--dtype", "bf16"],
    );
    add(
        "llama12.split",
        "@llama12.fake",
        "m.gguf",
        &["--quant", "q8_0", "--split-max-size", "4MB"],
    );
    add(
        "llama12.merge",
        "@llama12.split/m-00001-of-00003.gguf",
        "merged.gguf",
        &[],
    );
    add(
        "llama.f32_gguf",
        "families/llama",
        "m.gguf",
        &["--quant", "f32"],
    );
    add("llama.gguf_back", "@llama.f32_gguf/m.gguf", "back", &[]);
    add(
        "llama.gguf_back_pq",
        "@llama.f32_gguf/m.gguf",
        "back",
        &["--to", "parquet"],
    );
    add(
        "llama.gguf_copy",
        "@llama.f32_gguf/m.gguf",
        "copy.gguf",
        &[],
    );
    add(
        "llama.gguf_requant",
        "@llama.f32_gguf/m.gguf",
        "q.gguf",
        &["--quant", "q8_0"],
    );
    add("llama12.q4_back", "@llama12.Q4_K_M/m.gguf", "back", &[]);
    add("bert.gguf_back", "@bert.gguf/out.gguf", "back", &[]);
    add("gemma.gguf_back", "@gemma.gguf/out.gguf", "back", &[]);
    add("qwen2.gguf_back", "@qwen2.gguf/out.gguf", "back", &[]);
    // PyTorch sources to single files.
    add(
        "pt_p4.st_file",
        "torch/p4_basic.pt",
        "m.safetensors",
        &["--dtype", "f16"],
    );
    add("pt_views.npz", "torch/views.pt", "m.npz", &[]);
    // Errors keep their exit codes.
    add("err.npz_bf16", "tiny/sharded_bf16", "m.npz", &[]);
    add("err.gguf_dir", "families/llama", "out", &["--to", "gguf"]);
    add("err.unknown_to", "tiny-bert", "out", &["--to", "onnx"]);
    add("err.cast_int", "tiny-bert", "out", &["--dtype", "i8"]);
    v
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file under a case's own directory `root`, `rel path → sha256`
/// (a single-file destination's siblings, shards or split parts, included).
fn outputs(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, sha256(&p));
            }
        }
    }
    out
}

#[test]
fn outputs_keep_their_bytes() {
    let golden_path = data().join("golden_outputs.json");
    let bless = std::env::var("MODELCONV_BLESS").is_ok_and(|v| v == "1");
    let tmp = tempfile::tempdir().unwrap();
    let mut results: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut roots: BTreeMap<String, PathBuf> = BTreeMap::new();
    for (id, src, dst, opts) in cases() {
        // Each case writes into a directory of its own.
        let root = tmp.path().join(&id);
        std::fs::create_dir_all(&root).unwrap();
        let src_path = match src.strip_prefix('@') {
            Some(r) => {
                let (case, rest) = r.split_once('/').unwrap_or((r, ""));
                let base = roots
                    .get(case)
                    .unwrap_or_else(|| panic!("{id}: no earlier case {case}"));
                if rest.is_empty() {
                    base.join("out")
                } else {
                    base.join(rest)
                }
            }
            None => data().join(&src),
        };
        let dst_path = root.join(&dst);
        // Options starting with "fake" run that subcommand instead of convert.
        let (cmd, opts) = match opts.split_first() {
            Some((first, rest)) if first == "fake" => ("fake", rest),
            _ => ("convert", opts.as_slice()),
        };
        let mut args: Vec<&str> = vec![
            cmd,
            src_path.to_str().unwrap(),
            dst_path.to_str().unwrap(),
            "--quiet",
        ];
        args.extend(opts.iter().map(String::as_str));
        let out = modelconv(&args);
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code != 70 && !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let files = if code == 0 {
            outputs(&root)
        } else {
            BTreeMap::new()
        };
        results.insert(
            id.clone(),
            serde_json::json!({ "exit": code, "files": files }),
        );
        roots.insert(id, root);
    }
    if bless {
        let mut text = serde_json::to_string_pretty(&results).unwrap();
        text.push('\n');
        std::fs::write(&golden_path, text).unwrap();
        return;
    }
    let golden: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&golden_path).unwrap()).unwrap();
    let mut diffs = Vec::new();
    for (id, want) in &golden {
        match results.get(id) {
            None => diffs.push(format!("{id}: case no longer run")),
            Some(got) if got != want => diffs.push(format!("{id}: expected {want}\n   got {got}")),
            Some(_) => {}
        }
    }
    for id in results.keys().filter(|k| !golden.contains_key(*k)) {
        diffs.push(format!(
            "{id}: new case without a recorded result (bless it)"
        ));
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases changed:\n{}",
        diffs.len(),
        golden.len(),
        diffs.join("\n")
    );
}
