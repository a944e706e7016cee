//! `modelconv check-inference` and `convert --validate` end to end, across
//! formats and component extractions, and failing on a wrong model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn fam(name: &str) -> String {
    data()
        .join("families")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

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
