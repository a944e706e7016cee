//! Malformed inputs: each gives a clear error naming the file (and tensor
//! or offset where it applies), exit code 1, no panic, and no output left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;

/// A safetensors file from a raw header string and data size.
fn st_file(path: &Path, header: &str, data_len: usize) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(0u8, data_len));
    std::fs::write(path, bytes).unwrap();
}

/// Converts `src`, expects exit code 1 with every `needles` in stderr, and
/// checks that nothing was written.
fn expect_failure(src: &str, needles: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("out");
    let out = modelconv(&["convert", src, dst.to_str().unwrap(), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "expected '{n}' in: {stderr}");
    }
    let report = json(&out);
    assert_eq!(report["success"], false);
    assert!(report["error_message"]
        .as_str()
        .unwrap()
        .contains(needles[0]));
    assert!(!dst.exists(), "output left behind: {:?}", entries(&dst));
}

#[test]
fn truncated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("trunc.safetensors");
    let full = std::fs::read(data().join("tiny-bert/model.safetensors")).unwrap();
    std::fs::write(&p, &full[..full.len() - 100]).unwrap();
    expect_failure(
        p.to_str().unwrap(),
        &["trunc.safetensors", "file is truncated", "tensor '"],
    );
    std::fs::write(&p, &full[..5]).unwrap();
    expect_failure(
        p.to_str().unwrap(),
        &["trunc.safetensors", "file is truncated"],
    );
}

#[test]
fn header_length_larger_than_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.safetensors");
    let mut bytes = 5000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&p, bytes).unwrap();
    expect_failure(
        p.to_str().unwrap(),
        &["big.safetensors", "header length is too large", "offset 0"],
    );
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&p, bytes).unwrap();
    expect_failure(
        p.to_str().unwrap(),
        &["big.safetensors", "header length is too large"],
    );
}

#[test]
fn overlapping_offsets() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("overlap.safetensors");
    st_file(
        &p,
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        12,
    );
    expect_failure(
        p.to_str().unwrap(),
        &[
            "overlap.safetensors",
            "tensor byte ranges overlap",
            "tensor 'b'",
            "byte offset",
        ],
    );
}

#[test]
fn header_not_an_object() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("arr.safetensors");
    st_file(&p, r#"[1, 2, 3]"#, 0);
    expect_failure(
        p.to_str().unwrap(),
        &["arr.safetensors", "not a JSON object"],
    );
    st_file(&p, r#"{"a": 1}"#, 0);
    expect_failure(
        p.to_str().unwrap(),
        &["arr.safetensors", "invalid tensor entry", "tensor 'a'"],
    );
    st_file(&p, r#"{"a": {"dtype": "F32""#, 0);
    expect_failure(p.to_str().unwrap(), &["arr.safetensors", "not valid JSON"]);
}

#[test]
fn other_header_faults() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("h.safetensors");
    let cases: &[(&str, usize, &str)] = &[
        (
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
            16,
            "duplicate key",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            8,
            "does not match dtype and shape",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            12,
            "trailing bytes",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            12,
            "gap between",
        ),
        (
            r#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
            8,
            "unsupported dtype",
        ),
        (
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}"#,
            8,
            "invalid shape",
        ),
        (r#"{"__metadata__":{"x":1}}"#, 0, "invalid metadata"),
    ];
    for (header, len, needle) in cases {
        st_file(&p, header, *len);
        expect_failure(p.to_str().unwrap(), &["h.safetensors", needle]);
    }
    std::fs::write(
        &p,
        [
            8, 0, 0, 0, 0, 0, 0, 0, b'{', 0xff, 0xfe, b'}', b' ', b' ', b' ', b' ',
        ],
    )
    .unwrap();
    expect_failure(p.to_str().unwrap(), &["h.safetensors", "not valid UTF-8"]);
}

fn sharded_copy(tmp: &Path) -> std::path::PathBuf {
    let src = data().join("tiny/sharded_bf16");
    let dir = tmp.join("model");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    dir
}

fn rewrite_index(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("model.safetensors.index.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn index_pointing_outside_the_model_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sharded_copy(tmp.path());
    // Put a valid shard outside the directory and point at it with ../
    std::fs::rename(
        dir.join("model-00003-of-00003.safetensors"),
        tmp.path().join("evil.safetensors"),
    )
    .unwrap();
    rewrite_index(&dir, |v| {
        for (_, shard) in v["weight_map"].as_object_mut().unwrap() {
            if shard == "model-00003-of-00003.safetensors" {
                *shard = "../evil.safetensors".into();
            }
        }
    });
    expect_failure(
        dir.to_str().unwrap(),
        &[
            "model.safetensors.index.json",
            "path escapes the model directory",
            "../evil.safetensors",
        ],
    );
    rewrite_index(&dir, |v| {
        for (_, shard) in v["weight_map"].as_object_mut().unwrap() {
            if shard == "../evil.safetensors" {
                *shard = "/etc/passwd".into();
            }
        }
    });
    expect_failure(
        dir.to_str().unwrap(),
        &["model.safetensors.index.json", "path escapes", "absolute"],
    );
}

#[test]
fn missing_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sharded_copy(tmp.path());
    std::fs::remove_file(dir.join("model-00002-of-00003.safetensors")).unwrap();
    expect_failure(
        dir.to_str().unwrap(),
        &[
            "model.safetensors.index.json",
            "shard file is missing",
            "model-00002-of-00003.safetensors",
        ],
    );
}

#[test]
fn index_and_shards_disagree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sharded_copy(tmp.path());
    rewrite_index(&dir, |v| {
        v["weight_map"]["model.ghost.weight"] = "model-00001-of-00003.safetensors".into();
    });
    expect_failure(
        dir.to_str().unwrap(),
        &[
            "model.safetensors.index.json",
            "index and shards disagree",
            "model.ghost.weight",
        ],
    );
}

#[test]
fn hub_id_not_in_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("empty-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let dst = tmp.path().join("out");
    let out = modelconv_env(
        &["convert", "nobody/no-such-model", dst.to_str().unwrap()],
        &[("HF_HUB_CACHE", cache.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nobody/no-such-model")
            && stderr.contains("empty-cache")
            && stderr.contains("never downloads"),
        "{stderr}"
    );
    assert!(!dst.exists());
}

#[test]
fn missing_path_and_bad_options() {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("out");
    let out = modelconv(&[
        "convert",
        "/no/such/model.safetensors",
        dst.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model.safetensors"));
    let src = data().join("tiny-bert");
    for args in [
        vec!["--dtype", "f8_e4m3"],
        vec!["--dtype", "q4"],
        vec!["--max-shard-size", "12XB"],
        vec!["--to", "gguf"],
        vec!["--dtype-override", "nonsense"],
    ] {
        let mut all = vec!["convert", src.to_str().unwrap(), dst.to_str().unwrap()];
        all.extend(args.iter().copied());
        let out = modelconv(&all);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dst.exists());
    }
    // Usage errors are exit code 2 (clap).
    assert_eq!(modelconv(&["convert"]).status.code(), Some(2));
}

#[test]
fn refuses_to_overwrite_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sharded_copy(tmp.path());
    let before = all_tensors(&dir);
    let out = modelconv(&[
        "convert",
        dir.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--dtype",
        "f32",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to write"));
    let file = tmp.path().join("one.safetensors");
    std::fs::copy(data().join("tiny/f32_values.safetensors"), &file).unwrap();
    let out = modelconv(&[
        "convert",
        file.to_str().unwrap(),
        file.to_str().unwrap(),
        "--dtype",
        "f16",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(data().join("tiny/f32_values.safetensors")).unwrap()
    );
    assert_eq!(all_tensors(&dir), before);
}

#[test]
fn non_empty_output_directory_needs_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("out");
    let src = data().join("tiny-bert");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--max-shard-size",
        "20KB",
        "--quiet",
    ]));
    let before = entries(&dst);
    assert!(
        before.iter().any(|n| n.ends_with("-of-00007.safetensors")),
        "{before:?}"
    );
    // Refused without --overwrite, and nothing changes.
    let o = modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--overwrite"));
    assert_eq!(entries(&dst), before);
    // With --overwrite the stale shards and index go away.
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--overwrite",
        "--quiet",
    ]));
    let after = entries(&dst);
    assert!(after.contains(&"model.safetensors".to_string()));
    assert!(
        !after
            .iter()
            .any(|n| n.contains("-of-") || n.ends_with("index.json")),
        "{after:?}"
    );
    assert_eq!(all_tensors(&dst), tensors(&src.join("model.safetensors")));
    // A file destination that is an existing directory is refused up front.
    let d = tmp.path().join("x.safetensors");
    std::fs::create_dir(&d).unwrap();
    let o = modelconv(&["convert", src.to_str().unwrap(), d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    assert!(entries(&d).is_empty());
}
