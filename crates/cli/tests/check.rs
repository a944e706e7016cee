//! `modelconv check-inference` and `convert --validate` end to end, across
//! formats and component extractions, and failing on a wrong model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

#[test]
fn passes_across_formats_and_components() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    // BERT → seeds' Parquet layout in f16: sentence embeddings still agree.
    ok(&modelconv(&[
        "convert",
        &fam("bert"),
        &p("bert-pq"),
        "--to",
        "parquet",
        "--dtype",
        "f16",
        "-q",
    ]));
    let r = json(&modelconv(&[
        "check-inference",
        &fam("bert"),
        &p("bert-pq"),
        "--json",
    ]));
    assert_eq!(r["comparison"]["passed"], true);
    assert_eq!(r["comparison"]["samples"], 4);
    assert!(r["comparison"]["min_cosine"].as_f64().unwrap() > 0.9999);
    assert_eq!(r["output"]["format"], "parquet-chunked");
    // CLIP vision tower alone vs the full model: compared on image embeddings.
    ok(&modelconv(&[
        "convert",
        &fam("clip"),
        &p("clip-vision"),
        "--component",
        "vision",
        "-q",
    ]));
    let r = json(&modelconv(&[
        "check-inference",
        &fam("clip"),
        &p("clip-vision"),
        "--json",
    ]));
    let kinds: Vec<&str> = r["comparison"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["image_embeds"]);
    assert_eq!(r["comparison"]["min_cosine"], 1.0);
    // Whisper encoder in the seeds' Parquet layout (seeds' names): encoder states agree.
    ok(&modelconv(&[
        "convert",
        &fam("whisper"),
        &p("whisper-enc"),
        "--component",
        "encoder",
        "--to",
        "parquet",
        "-q",
    ]));
    let out = modelconv(&["check-inference", &fam("whisper"), &p("whisper-enc")]);
    let text = ok(&out);
    assert!(
        text.contains("encoder_last_hidden_state") && text.contains("Status:          PASS"),
        "{text}"
    );
    // muP folded into LLaMA: the LLaMA forward of the output matches the muP forward of the source.
    ok(&modelconv(&[
        "convert",
        &fam("minicpm"),
        &p("llama"),
        "--mup-to-llama",
        "-q",
    ]));
    let r = json(&modelconv(&[
        "check-inference",
        &fam("minicpm"),
        &p("llama"),
        "--json",
        "--threshold",
        "0.99999",
    ]));
    assert_eq!(r["output"]["family"], "llama");
    assert_eq!(r["comparison"]["passed"], true);
}

#[test]
fn a_wrong_model_fails_with_exit_code_4() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other");
    // Same tensor names and shapes, different values.
    ok(&modelconv(&[
        "fake",
        &fam("bert"),
        other.to_str().unwrap(),
        "--seed",
        "9",
        "-q",
    ]));
    let out = modelconv(&["check-inference", &fam("bert"), other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Status:          FAIL"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("below the threshold"), "{err}");
}

#[test]
fn convert_validate_runs_verify_and_check_inference() {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("out");
    let r = json(&modelconv(&[
        "convert",
        &fam("gemma"),
        dst.to_str().unwrap(),
        "--dtype",
        "bf16",
        "--validate",
        "--json",
    ]));
    assert_eq!(r["success"], true);
    assert_eq!(r["validation"]["passed"], true);
    assert_eq!(r["inference"]["comparison"]["passed"], true);
    assert_eq!(r["inference"]["source"]["family"], "gemma");
}

#[test]
fn unknown_family_is_a_clear_error() {
    let tiny = data().join("tiny/all_dtypes.safetensors");
    let out = modelconv(&[
        "check-inference",
        tiny.to_str().unwrap(),
        tiny.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("check-inference needs a known family"),
        "{err}"
    );
}

#[test]
fn verify_catches_a_single_flipped_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    ok(&modelconv(&[
        "convert",
        &fam("bert"),
        out.to_str().unwrap(),
        "-q",
    ]));
    let ok_run = modelconv(&["verify", &fam("bert"), out.to_str().unwrap(), "--exact"]);
    assert_eq!(ok_run.status.code(), Some(0));
    // Flip the lowest bit of the last byte of tensor data (an f32 mantissa bit).
    let st = out.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&st, &bytes).unwrap();
    let bad = modelconv(&["verify", &fam("bert"), out.to_str().unwrap(), "--exact"]);
    assert_eq!(bad.status.code(), Some(4));
    let text = String::from_utf8_lossy(&bad.stdout);
    assert!(
        text.contains("FAIL") && text.contains("not bit-exact"),
        "{text}"
    );
    assert_eq!(text.matches("not bit-exact").count(), 1, "{text}");
}

/// `verify` and `convert --validate` hold each tensor to what the conversion
/// promised (issue #21, items 1 and 6): a cast tensor must equal the source
/// cast the same way, a quantized one its type's cosine bound; both can fail.
#[test]
fn verify_judges_a_cast_by_the_cast_and_a_quantized_tensor_by_its_type() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    // f32 -> f16: passes by default and says what it compared (exit 4 before).
    ok(&modelconv(&[
        "convert",
        &fam("llama"),
        &p("h.safetensors"),
        "--dtype",
        "f16",
        "-q",
    ]));
    let run = modelconv(&["verify", &fam("llama"), &p("h.safetensors")]);
    let text = String::from_utf8_lossy(&run.stdout).to_string();
    assert_eq!(run.status.code(), Some(0), "{text}");
    assert!(
        text.contains("21 bit-exact after the cast F32->F16"),
        "{text}"
    );
    // --exact still asks for identical dtypes.
    let strict = modelconv(&["verify", &fam("llama"), &p("h.safetensors"), "--exact"]);
    assert_eq!(strict.status.code(), Some(4));
    // One f16 element one unit in the last place off: caught.
    let mut bytes = std::fs::read(p("h.safetensors")).unwrap();
    let low = bytes.len() - 2;
    bytes[low] ^= 1;
    std::fs::write(p("h.safetensors"), &bytes).unwrap();
    let bad = modelconv(&["verify", &fam("llama"), &p("h.safetensors")]);
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(4), "{text}");
    assert_eq!(
        text.matches("differs from the source cast to F16").count(),
        1,
        "{text}"
    );

    // Q8_0 GGUF with --validate: judged by Q8_0's bound (exit 4 before).
    let r = json(&modelconv(&[
        "convert",
        &fam("llama"),
        &p("q.gguf"),
        "--quant",
        "q8_0",
        "--validate",
        "--json",
    ]));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["validation"]["passed"], true, "{r}");
    assert_eq!(
        r["validation"]["checks"]["quantized Q8_0: cosine >= 0.9995"], 16,
        "{r}"
    );
    // Another model's weights quantized the same way: every matrix fails its bound.
    let cfg = data().join("families/llama/config.json");
    ok(&modelconv(&[
        "fake",
        cfg.to_str().unwrap(),
        &p("other"),
        "--seed",
        "9",
        "-q",
    ]));
    ok(&modelconv(&[
        "fake",
        cfg.to_str().unwrap(),
        &p("one"),
        "-q",
    ]));
    ok(&modelconv(&[
        "convert",
        &p("other"),
        &p("other.gguf"),
        "--quant",
        "q8_0",
        "-q",
    ]));
    let bad = modelconv(&["verify", &p("one"), &p("other.gguf")]);
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(4), "{text}");
    assert_eq!(text.matches("below 0.9995").count(), 16, "{text}");
}

/// The per-type bounds sit below what honest rounding gives: every
/// llama-quantize type family on a fake LLaMA wide enough for the k-quants.
#[test]
fn quantized_outputs_keep_their_types_cosine_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join("families/llama/config.json")).unwrap())
            .unwrap();
    for (k, v) in [
        ("hidden_size", 512),
        ("intermediate_size", 1024),
        ("num_hidden_layers", 1),
        ("num_attention_heads", 8),
        ("num_key_value_heads", 4),
        ("head_dim", 64),
        ("vocab_size", 1024),
    ] {
        cfg[k] = v.into();
    }
    std::fs::create_dir_all(p("cfg")).unwrap();
    std::fs::write(p("cfg/config.json"), cfg.to_string()).unwrap();
    ok(&modelconv(&["fake", &p("cfg"), &p("src"), "-q"]));
    let mut seen = std::collections::BTreeSet::new();
    for preset in ["q8_0", "q5_1", "q4_1", "q3_k_m", "q2_k"] {
        let out = p(&format!("{preset}.gguf"));
        ok(&modelconv(&[
            "convert",
            &p("src"),
            &out,
            "--quant",
            preset,
            "-q",
        ]));
        let r = json(&modelconv(&["verify", &p("src"), &out, "--json"]));
        assert_eq!(r["passed"], true, "{preset}: {r}");
        for c in r["checks"].as_object().unwrap().keys() {
            seen.insert(c.split(':').next().unwrap().to_string());
        }
    }
    // Q8_0, Q5_1, Q4_1 and the k-quants 2 to 6 were all judged.
    for t in [
        "Q8_0", "Q5_1", "Q4_1", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K",
    ] {
        assert!(seen.contains(&format!("quantized {t}")), "{t}: {seen:?}");
    }
}
