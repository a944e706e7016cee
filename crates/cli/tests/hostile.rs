//! Hostile pickles and torch archives (tests/bad_data/pickle, made by
//! make_bad_pickles.py): each gives the expected kind of error — never a
//! panic, never code execution (payloads would create a marker file), and
//! within bounded time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;

fn corpus() -> PathBuf {
    data().join("../bad_data/pickle")
}

/// The error texts modelconv prints for each expected kind in cases.json.
fn phrases(kind: &str) -> &'static [&'static str] {
    match kind {
        "forbidden-global" => &["forbidden global"],
        "malformed-pickle" => &["malformed pickle"],
        "malformed-zip" => &["malformed archive"],
        // Storage bytes that are not in the file: out of bounds, or cut off.
        "storage-out-of-bounds" => &["byte range out of bounds", "file is truncated"],
        "missing-storage" => &["tensor storage is missing"],
        "limit-exceeded" => &["resource limit exceeded"],
        "path-traversal" => &["path escapes"],
        "duplicate-member" => &["duplicate key"],
        other => panic!("unknown expectation {other}"),
    }
}

#[test]
fn every_hostile_file_is_refused_safely() {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus().join("cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 60, "corpus too small: {}", cases.len());
    // Every corpus file has a case: nothing is added untested.
    let listed: std::collections::BTreeSet<&str> =
        cases.iter().filter_map(|c| c["file"].as_str()).collect();
    let missing: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.ends_with(".json")
                && !n.ends_with(".py")
                && !n.ends_with(".md")
                && !listed.contains(n.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "corpus files without a case: {missing:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let file = case["file"].as_str().unwrap();
        let path = corpus().join(file);
        assert!(path.is_file(), "{file} missing");
        let marker = case["marker"].as_str().map(PathBuf::from);
        if let Some(m) = &marker {
            let _ = std::fs::remove_file(m);
        }
        let dst = tmp.path().join(format!("out{i}.safetensors"));
        let start = Instant::now();
        let out = modelconv(&[
            "convert",
            path.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--quiet",
        ]);
        let elapsed = start.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code();
        if let Some(m) = &marker {
            assert!(
                !m.exists(),
                "{file}: the payload ran ({} exists)",
                m.display()
            );
        }
        assert!(!stderr.contains("panicked"), "{file}: panic: {stderr}");
        assert!(elapsed < Duration::from_secs(5), "{file}: took {elapsed:?}");
        let expect = case["expect"].as_str().unwrap();
        let mut accepted: Vec<&str> = phrases(expect).to_vec();
        if let Some(also) = case["also_ok"].as_array() {
            for a in also {
                accepted.extend_from_slice(phrases(a.as_str().unwrap()));
            }
        }
        let may_succeed = case["may_succeed"].as_bool().unwrap_or(false);
        let ok = match code {
            Some(0) => may_succeed,
            // A plain pickle that is not a torch checkpoint is also a fine answer for bombs.
            Some(1) => {
                accepted.iter().any(|p| stderr.contains(p))
                    || (may_succeed && stderr.contains("unrecognised file format"))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{file} (expected {expect}): exit {code:?}: {}",
                stderr.trim()
            ));
            continue;
        }
        if code == Some(1) {
            assert!(
                stderr.contains(file),
                "{file}: error does not name the file: {stderr}"
            );
            if expect == "forbidden-global" && stderr.contains("forbidden global") {
                let g = case["global"].as_str().unwrap_or("");
                assert!(
                    stderr.contains(g),
                    "{file}: error does not name {g}: {stderr}"
                );
            }
            assert!(!dst.exists(), "{file}: output written");
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn inspect_shows_forbidden_globals_without_running_them() {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus().join("cases.json")).unwrap()).unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["expect"] == "forbidden-global"
                && c["container"] == "torch-zip"
                && c["global"] == "os.system"
                && c["marker"].is_string()
        })
        .expect("an os.system zip case");
    let path = corpus().join(case["file"].as_str().unwrap());
    let out = modelconv(&["inspect", path.to_str().unwrap(), "--json"]);
    ok(&out);
    let r = json(&out);
    assert_eq!(r["pickle_globals"]["os.system"], false, "{r}");
    if let Some(m) = case["marker"].as_str() {
        assert!(!std::path::Path::new(m).exists());
    }
}
