//! The format registry is the single source (#15): detection, `scan`,
//! `--to` (its accepted values, its errors and its help text) cover exactly
//! the registry's entries. (The Python bindings are checked against the
//! same registry in tests/python/test_request.py.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::*;
use modelconv::registry::FORMATS;

/// A sample input per readable format. A readable format without a sample
/// fails `every_readable_format_is_detected`: add one.
fn samples(tmp: &std::path::Path) -> Vec<(&'static str, PathBuf)> {
    let gguf = tmp.join("m.gguf");
    ok(&modelconv(&[
        "convert",
        data().join("families/llama").to_str().unwrap(),
        gguf.to_str().unwrap(),
        "--quiet",
    ]));
    let parquet = tmp.join("w.parquet");
    ok(&modelconv(&[
        "convert",
        data().join("tiny-bert").to_str().unwrap(),
        parquet.to_str().unwrap(),
        "--quiet",
    ]));
    let npz = tmp.join("m.npz");
    ok(&modelconv(&[
        "convert",
        data().join("tiny-bert").to_str().unwrap(),
        npz.to_str().unwrap(),
        "--quiet",
    ]));
    vec![
        ("safetensors", data().join("tiny/all_dtypes.safetensors")),
        ("safetensors", data().join("tiny-bert")),
        ("pytorch", data().join("torch/p4_basic.pt")),
        ("pytorch", data().join("torch/sharded-bin")),
        ("numpy", npz),
        ("gguf", gguf),
        ("parquet", parquet),
    ]
}

#[test]
fn every_readable_format_is_detected_by_inspect_and_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = samples(tmp.path());
    let readable: BTreeSet<&str> = FORMATS
        .iter()
        .filter(|f| f.reader.is_some())
        .map(|f| f.name)
        .collect();
    let sampled: BTreeSet<&str> = samples.iter().map(|(n, _)| *n).collect();
    assert_eq!(sampled, readable, "every readable format needs a sample");
    for (name, path) in &samples {
        let r = json(&ok_out(&["inspect", path.to_str().unwrap(), "--json"]));
        assert_eq!(r["format_name"], *name, "inspect {}", path.display());
        if path.is_file() {
            let s = json(&ok_out(&["scan", path.to_str().unwrap(), "--json"]));
            assert_eq!(s["files"][0]["format"], *name, "scan {}", path.display());
        }
    }
}

fn ok_out(args: &[&str]) -> std::process::Output {
    let out = modelconv(args);
    ok(&out);
    out
}

#[test]
fn to_accepts_exactly_the_registry_and_its_help_lists_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/f32_values.safetensors");
    for f in FORMATS {
        for name in std::iter::once(&f.name).chain(f.aliases) {
            let dst = tmp.path().join(format!("{name}-out"));
            let dst = match f.name {
                "gguf" => tmp.path().join(format!("{name}.gguf")),
                _ => dst,
            };
            let out = modelconv(&[
                "convert",
                src.to_str().unwrap(),
                dst.to_str().unwrap(),
                "--to",
                name,
                "--quiet",
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            match f.writer {
                // GGUF needs a family; the error is about that, not the name.
                Some(_) if f.name == "gguf" => assert!(stderr.contains("model family"), "{stderr}"),
                Some(_) => assert!(out.status.success(), "--to {name}: {stderr}"),
                None => {
                    assert_eq!(out.status.code(), Some(1), "--to {name}");
                    assert!(stderr.contains("not supported yet"), "{stderr}");
                }
            }
        }
    }
    let out = modelconv(&["convert", src.to_str().unwrap(), "x", "--to", "nonsense"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    let writable: Vec<&str> = FORMATS
        .iter()
        .filter(|f| f.writer.is_some())
        .map(|f| f.name)
        .collect();
    assert!(stderr.contains(&writable.join(", ")), "{stderr}");
    let help = String::from_utf8_lossy(&ok_out(&["convert", "--help"]).stdout).into_owned();
    for f in FORMATS {
        assert!(help.contains(f.name), "--help does not list {}", f.name);
    }
}

#[test]
fn unread_formats_are_named_not_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    for f in FORMATS.iter().filter(|f| f.reader.is_none()) {
        for ext in f.extensions {
            let p = tmp.path().join(format!("model.{ext}"));
            std::fs::write(&p, b"not really a model, but named like one").unwrap();
            let out = modelconv(&["inspect", p.to_str().unwrap()]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1));
            assert!(
                stderr.contains(&format!("reading {} is not supported yet", f.name)),
                "{stderr}"
            );
        }
    }
}
