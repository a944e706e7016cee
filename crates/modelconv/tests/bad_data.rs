//! The malformed-input corpus (tests/bad_data, made by make_bad_data.py):
//! every file gives its exact error kind, quickly, without panicking — and
//! every corpus file must have a case, so nothing is added untested.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad_data")
}

fn cases() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(corpus().join("cases.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn every_case_fails_with_its_exact_kind() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (rel, case) in &cases {
        let expect = case["expect"].as_str().unwrap();
        let path = corpus().join(rel);
        let start = Instant::now();
        let result = std::panic::catch_unwind(|| modelconv::source::open(path.to_str().unwrap()));
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{rel}: took {elapsed:?}");
        let err = match result {
            Err(_) => panic!("{rel}: panicked"),
            Ok(Ok(model)) => {
                // Some faults (e.g. in Parquet data) surface when tensors are read.
                match model
                    .tensors
                    .iter()
                    .map(|t| t.source.read(0..t.source.len()).map(|_| ()))
                    .find(|r| r.is_err())
                {
                    Some(Err(e)) => e,
                    _ => {
                        wrong.push(format!("{rel}: accepted, expected {expect}"));
                        continue;
                    }
                }
            }
            Ok(Err(e)) => e,
        };
        let kind = err.invalid_kind().map(|k| format!("{k:?}"));
        if kind.as_deref() != Some(expect) {
            wrong.push(format!("{rel}: expected {expect}, got {kind:?}: {err}"));
        }
        // Errors name the file (or, for a directory case, a file inside it).
        let msg = err.to_string();
        let name = Path::new(rel)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !msg.contains(&name) && !msg.contains("model.safetensors.index.json") {
            wrong.push(format!("{rel}: error does not name the file: {msg}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_corpus_file_has_a_case() {
    let cases = cases();
    let mut missing = Vec::new();
    for dir in ["safetensors", "numpy", "parquet"] {
        for e in std::fs::read_dir(corpus().join(dir)).unwrap() {
            let rel = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            if !cases.contains_key(&rel) {
                missing.push(rel);
            }
        }
    }
    for e in std::fs::read_dir(corpus().join("index")).unwrap() {
        let rel = format!("index/{}", e.unwrap().file_name().to_string_lossy());
        if !cases.contains_key(&rel) {
            missing.push(rel);
        }
    }
    // The pickle corpus has its own cases.json (tested by the CLI's hostile.rs).
    let pickle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("pickle/cases.json")).unwrap())
            .unwrap();
    let listed: Vec<&str> = pickle["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["file"].as_str())
        .collect();
    for e in std::fs::read_dir(corpus().join("pickle")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let data = name.ends_with(".pkl")
            || name.ends_with(".pt")
            || name.ends_with(".zip")
            || name.ends_with(".tar");
        if data && !listed.contains(&name.as_str()) {
            missing.push(format!("pickle/{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "corpus files without a case: {missing:?}"
    );
}
