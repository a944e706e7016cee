//! Interruption: SIGKILL a real conversion at several points, rerun with
//! `--resume`, and get exactly the bytes of an uninterrupted run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn args<'a>(src: &'a str, dst: &'a str) -> Vec<&'a str> {
    vec![
        "convert",
        src,
        dst,
        "--dtype",
        "f16",
        "--max-shard-size",
        "1MB",
        "--chunk-size",
        "64KiB",
        "--threads",
        "1",
    ]
}

fn journal_lines(journal: &Path) -> usize {
    std::fs::read_to_string(journal)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Starts a slowed-down conversion and SIGKILLs it once the journal has `lines` lines.
fn kill_after(src: &str, dst: &Path, journal: &Path, lines: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelconv"))
        .args(args(src, dst.to_str().unwrap()))
        .arg("--quiet")
        .env("MODELCONV_TEST_CHUNK_DELAY_MS", "25")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_lines(journal) < lines {
        assert!(Instant::now() < deadline, "conversion made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "conversion finished before the kill point"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    entries(dir)
        .into_iter()
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

#[test]
fn sigkill_then_resume_gives_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let src = src.to_str().unwrap().to_string();

    let clean = tmp.path().join("clean");
    ok(&modelconv(
        &[args(&src, clean.to_str().unwrap()), vec!["--quiet"]].concat(),
    ));
    let expected = files(&clean);
    assert!(
        expected
            .iter()
            .filter(|(n, _)| n.ends_with(".safetensors"))
            .count()
            >= 3
    );

    // Kill early (first shard), mid-way (after a shard was finished) and late.
    for (i, kill_at) in [3usize, 20, 33].into_iter().enumerate() {
        let dst: PathBuf = tmp.path().join(format!("run{i}"));
        let journal = dst.join(".model.modelconv-journal");
        kill_after(&src, &dst, &journal, kill_at);
        // Interrupted: the index, which marks a complete output, is not there.
        assert!(!dst.join("model.safetensors.index.json").exists());
        assert!(journal.exists());

        let out = modelconv(
            &[
                args(&src, dst.to_str().unwrap()),
                vec!["--resume", "--json"],
            ]
            .concat(),
        );
        ok(&out);
        let report = json(&out);
        let kept_files = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kept"] == true)
            .count();
        let kept_chunks = report["resumed_chunks"].as_u64().unwrap();
        assert!(
            kept_files + kept_chunks as usize > 0,
            "nothing was reused at kill point {kill_at}: {report}"
        );
        assert_eq!(files(&dst), expected, "kill point {kill_at}");
    }
}

#[test]
fn resume_of_a_single_file_output() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let src = src.to_str().unwrap();
    let clean = tmp.path().join("clean.safetensors");
    let resumed = tmp.path().join("resumed.safetensors");
    let base = [
        "convert",
        src,
        "--dtype",
        "bf16",
        "--chunk-size",
        "64KiB",
        "--threads",
        "1",
        "--quiet",
    ];
    let with = |dst: &Path, extra: &[&str]| {
        let mut a = vec![base[0], base[1], dst.to_str().unwrap()];
        a.extend_from_slice(&base[2..]);
        a.extend_from_slice(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    ok(&modelconv(
        &with(&clean, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));

    let journal = tmp.path().join(".resumed.safetensors.modelconv-journal");
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelconv"))
        .args(with(&resumed, &[]))
        .env("MODELCONV_TEST_CHUNK_DELAY_MS", "25")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_lines(&journal) < 15 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !resumed.exists(),
        "an interrupted output must not look complete"
    );
    ok(&modelconv(
        &with(&resumed, &["--resume"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&clean).unwrap()
    );
    assert!(!journal.exists());
    // The finished file is not replaced without --overwrite; with it, a
    // fresh run gives the same bytes.
    let again = modelconv(
        &with(&resumed, &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(again.status.code(), Some(1));
    ok(&modelconv(
        &with(&resumed, &["--overwrite"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&clean).unwrap()
    );
}

/// Ctrl-C (issue #21, item 9): the run stops at a chunk boundary, says how
/// to continue, keeps its journal and unfinished file; `--resume` then
/// gives the uninterrupted run's bytes. A fresh run is refused until told.
#[test]
fn ctrl_c_says_how_to_resume_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let src = src.to_str().unwrap();
    let clean = tmp.path().join("clean.safetensors");
    let dst = tmp.path().join("out.safetensors");
    let base = |dst: &Path| {
        vec![
            "convert".to_string(),
            src.to_string(),
            dst.to_str().unwrap().to_string(),
            "--dtype".into(),
            "bf16".into(),
            "--chunk-size".into(),
            "64KiB".into(),
            "--threads".into(),
            "1".into(),
        ]
    };
    let strs = |v: &[String]| {
        v.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{1}")
    };
    let run = |v: Vec<String>| modelconv(&strs(&v).split('\u{1}').collect::<Vec<_>>());
    ok(&run(base(&clean)));

    let journal = tmp.path().join(".out.safetensors.modelconv-journal");
    let child = Command::new(env!("CARGO_BIN_EXE_modelconv"))
        .args(base(&dst))
        .env("MODELCONV_TEST_CHUNK_DELAY_MS", "25")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_lines(&journal) < 10 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted — rerun with --resume"), "{err}");
    assert!(
        !dst.exists(),
        "an interrupted output must not look complete"
    );
    assert!(journal.exists(), "the journal is kept for --resume");
    // Without --resume or --overwrite, the leftovers are not silently reused or dropped.
    let again = run(base(&dst));
    assert_eq!(again.status.code(), Some(1));
    let mut resume = base(&dst);
    resume.push("--resume".into());
    let r = json(&run([resume, vec!["--json".into()]].concat()));
    assert!(r["resumed_chunks"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&clean).unwrap());
    assert!(!journal.exists());
}
