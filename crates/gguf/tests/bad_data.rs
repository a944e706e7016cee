//! The hostile GGUF corpus (tests/bad_data/gguf, made by make_bad_gguf.py):
//! every file gives its exact outcome, in under a second, without panicking,
//! naming the file — and every corpus file must have a case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use modelconv_core::Error;
use modelconv_gguf::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bad_data/gguf")
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
fn every_case_has_its_exact_outcome() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (name, case) in &cases {
        let expect = case["expect"].as_str().unwrap();
        let path = corpus().join(name);
        let start = Instant::now();
        let result = std::panic::catch_unwind(|| modelconv_gguf::read(&path));
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(1), "{name}: took {elapsed:?}");
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                wrong.push(format!("{name}: panicked"));
                continue;
            }
        };
        match (expect, result) {
            ("Accepted", Ok(f)) => {
                assert!(f.warnings.is_empty(), "{name}: {:?}", f.warnings);
                check_accepted(name, &f);
            }
            ("AcceptedWithWarning", Ok(f)) => {
                assert_eq!(f.tensors.len(), 1, "{name}");
                assert_eq!(f.warnings.len(), 1, "{name}: {:?}", f.warnings);
            }
            ("Unsupported", Err(Error::Unsupported { path, .. })) => {
                assert_eq!(path, corpus().join(name), "{name}");
            }
            (kind, Err(e)) => {
                let got = e.invalid_kind().map(|k| format!("{k:?}"));
                if got.as_deref() != Some(kind) {
                    wrong.push(format!("{name}: expected {kind}, got {got:?}: {e}"));
                }
                if !e.to_string().contains(name.as_str()) {
                    wrong.push(format!("{name}: error does not name the file: {e}"));
                }
            }
            (kind, Ok(_)) => wrong.push(format!("{name}: accepted, expected {kind}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn check_accepted(name: &str, f: &modelconv_gguf::GgufFile) {
    match name {
        "tokenizer_scores_as_int8.gguf" => assert_eq!(
            f.get("tokenizer.ggml.scores"),
            Some(&Value::Array(
                1,
                vec![Value::I8(1), Value::I8(2), Value::I8(3)]
            ))
        ),
        "chat_template_jinja.gguf" => assert_eq!(
            f.get("tokenizer.chat_template").and_then(Value::as_str),
            Some("{{ ''.__class__.__mro__[1].__subclasses__()[40]('/etc/passwd').read() }}")
        ),
        other => panic!("{other}: no check for an accepted case"),
    }
}

#[test]
fn every_corpus_file_has_a_case() {
    let cases = cases();
    let mut missing = Vec::new();
    for e in std::fs::read_dir(corpus()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".gguf") && !cases.contains_key(&name) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "files without a case: {missing:?}");
}

#[test]
fn arrays_nested_a_hundred_thousand_deep_fail_at_once() {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.push(b'a');
    b.extend(9u32.to_le_bytes());
    for _ in 0..100_000 {
        b.extend(9u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
    }
    b.extend(0u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("deep.gguf");
    std::fs::write(&p, &b).unwrap();
    let start = Instant::now();
    let err = modelconv_gguf::read(&p).unwrap_err();
    assert_eq!(
        err.invalid_kind(),
        Some(modelconv_core::InvalidKind::LimitExceeded),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}
