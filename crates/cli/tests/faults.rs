//! Faults while writing and reading: disk full and I/O errors at many
//! points (injected through the engine's fault hook,
//! `MODELCONV_TEST_FAIL_AT`), a read-only or full real filesystem when the
//! machine lets us mount one, an input truncated or rewritten while it is
//! read, and two conversions racing for one output.
//!
//! Expected every time: a clear error naming the file, exit code 3
//! (environment), no file at the target that looks complete, the source
//! untouched, and — for sharded outputs — `--resume` afterwards gives the
//! bytes of a clean run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const EXIT_ENV: i32 = 3;

fn content(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    entries(dir)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).unwrap();
            (n, b)
        })
        .collect()
}

/// The sharded conversion used throughout: 4 MiB f32 → f16 in 1 MB shards.
fn sharded(src: &str, dst: &str) -> Vec<String> {
    [
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
        "2",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String], fault: Option<&str>) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match fault {
        Some(f) => modelconv_env(&args, &[("MODELCONV_TEST_FAIL_AT", f)]),
        None => modelconv(&args),
    }
}

fn assert_env_error(out: &Output, what: &str, phrase: &str, path_part: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(EXIT_ENV),
        "{what}: expected exit {EXIT_ENV}, stderr: {err}"
    );
    assert!(err.contains(phrase), "{what}: no '{phrase}' in: {err}");
    assert!(err.contains(path_part), "{what}: file not named in: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
}

#[test]
fn disk_full_and_io_errors_in_a_sharded_write_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let before = content(&src);
    let src_s = src.to_str().unwrap();

    let clean = tmp.path().join("clean");
    ok(&run(&sharded(src_s, clean.to_str().unwrap()), None));
    let expected = files(&clean);
    let total: usize = expected.iter().map(|(_, b)| b.len()).sum();
    assert!(expected.len() >= 4, "expected shards + index: {expected:?}");

    // Disk full after 0 bytes, inside the first shard's header, mid-shard,
    // across a shard boundary and at the very end; EIO on an fsync and on
    // renames (first shard, last shard, the index).
    let faults: Vec<String> = [0, 7, 100_000, 1_000_050, 1_600_000, total as u64 - 10]
        .iter()
        .map(|n| format!("write:{n}=enospc"))
        .chain(
            [
                "write:500000=eio",
                "fsync:1",
                "fsync:3=eio",
                "rename:1",
                "rename:3",
            ]
            .map(String::from),
        )
        .collect();
    for (i, fault) in faults.iter().enumerate() {
        let dst: PathBuf = tmp.path().join(format!("run{i}"));
        let out = run(&sharded(src_s, dst.to_str().unwrap()), Some(fault));
        let phrase = if fault.contains("enospc") {
            "No space left on device"
        } else {
            "Input/output error"
        };
        assert_env_error(&out, fault, phrase, dst.to_str().unwrap());
        // The index marks a complete output: it must not be there, and no
        // file with a final name may differ from the clean run's.
        assert!(
            !dst.join("model.safetensors.index.json").exists(),
            "{fault}: index written"
        );
        for (name, bytes) in files(&dst) {
            if name.ends_with(".partial") || name.ends_with(".lock") {
                continue;
            }
            let want = expected.iter().find(|(n, _)| *n == name);
            assert_eq!(
                want.map(|(_, b)| b),
                Some(&bytes),
                "{fault}: {name} has a final name but is not the finished file"
            );
        }
        assert_eq!(content(&src), before, "{fault}: source changed");

        // Space is back: resume finishes with exactly the clean bytes.
        let mut resume = sharded(src_s, dst.to_str().unwrap());
        resume.push("--resume".into());
        ok(&run(&resume, None));
        let got: Vec<_> = files(&dst)
            .into_iter()
            .filter(|(n, _)| !n.ends_with(".partial"))
            .collect();
        assert_eq!(got, expected, "{fault}: resumed output differs");
    }
}

#[test]
fn faults_in_single_file_outputs_leave_no_target() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let before = content(&src);
    let src_s = src.to_str().unwrap();
    let llama = data().join("families/llama");
    let llama_s = llama.to_str().unwrap();

    // (output name, input, extra arguments)
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("out.safetensors", src_s, vec!["--dtype", "bf16"]),
        ("out.parquet", src_s, vec![]),
        ("out.gguf", llama_s, vec!["--dtype", "f16"]),
    ];
    for (name, input, extra) in cases {
        let args = |dst: &Path| -> Vec<String> {
            let mut a: Vec<String> =
                vec!["convert".into(), input.into(), dst.to_str().unwrap().into()];
            a.extend(extra.iter().map(|s| s.to_string()));
            a.push("--quiet".into());
            a
        };
        let clean = tmp.path().join(format!("clean-{name}"));
        ok(&run(&args(&clean), None));
        let size = std::fs::metadata(&clean).unwrap().len();
        let faults = [
            "write:0".to_string(),
            format!("write:{}=enospc", size / 3),
            format!("write:{}=eio", size * 2 / 3),
            "fsync:1".into(),
            "rename:1".into(),
        ];
        for fault in faults {
            let stem = format!("{fault}-{name}").replace([':', '='], "_");
            let dst = tmp.path().join(&stem);
            let out = run(&args(&dst), Some(&fault));
            let phrase = if fault.starts_with("write") && !fault.contains("eio") {
                "No space left on device"
            } else {
                "Input/output error"
            };
            assert_env_error(
                &out,
                &format!("{name} {fault}"),
                phrase,
                dst.to_str().unwrap(),
            );
            assert!(
                !dst.exists(),
                "{name} {fault}: target exists after a failure"
            );
            let leftovers: Vec<String> = entries(tmp.path())
                .into_iter()
                .filter(|n| n.contains(&stem))
                .collect();
            assert!(leftovers.is_empty(), "{name} {fault}: left {leftovers:?}");
        }
    }
    assert_eq!(content(&src), before);
}

/// Mounts a small tmpfs (root only; skipped with a message elsewhere).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, opts: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs", dir.to_str().unwrap()])
            .stderr(Stdio::null())
            .status()
            .ok()?;
        st.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn real_read_only_and_full_filesystems() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let src_s = src.to_str().unwrap();

    let Some(ro) = Tmpfs::mount(&tmp.path().join("ro"), "ro,size=8m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the injected faults cover the engine"
        );
        return;
    };
    let dst = ro.0.join("out");
    let out = run(&sharded(src_s, dst.to_str().unwrap()), None);
    assert_env_error(
        &out,
        "read-only",
        "Read-only file system",
        ro.0.to_str().unwrap(),
    );

    // 1 MiB of space for 2 MiB of output: refused before anything is written.
    let small = Tmpfs::mount(&tmp.path().join("small"), "size=1m").unwrap();
    let dst = small.0.join("out");
    let out = run(&sharded(src_s, dst.to_str().unwrap()), None);
    assert_eq!(out.status.code(), Some(EXIT_ENV), "{}", stderr(&out));
    assert!(stderr(&out).contains("space"), "{}", stderr(&out));
    assert!(entries(&small.0).is_empty() || !dst.join("model.safetensors.index.json").exists());
    drop(small);
    drop(ro);
}

/// Starts a slowed-down conversion in the background.
fn spawn_slow(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_modelconv"))
        .args(args)
        .env("MODELCONV_TEST_CHUNK_DELAY_MS", "40")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(path: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(Instant::now() < deadline, "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn input_truncated_or_rewritten_while_read() {
    let tmp = tempfile::tempdir().unwrap();
    for how in ["truncate", "rewrite"] {
        let src = tmp.path().join(format!("{how}.safetensors"));
        make_f32_shards_input(&src);
        let dst = tmp.path().join(format!("{how}-out"));
        let mut child = spawn_slow(&sharded(src.to_str().unwrap(), dst.to_str().unwrap()));
        wait_for(&dst.join(".model.modelconv-journal"), &mut child);
        let len = std::fs::metadata(&src).unwrap().len();
        match how {
            "truncate" => {
                let f = std::fs::OpenOptions::new().write(true).open(&src).unwrap();
                f.set_len(len / 2).unwrap();
            }
            _ => {
                // Same size, new bytes and a new modification time.
                std::thread::sleep(Duration::from_millis(20));
                use std::os::unix::fs::FileExt;
                let f = std::fs::OpenOptions::new().write(true).open(&src).unwrap();
                f.write_all_at(&[0xAB; 4096], len - 8192).unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert_env_error(
            &out,
            how,
            "input changed during conversion",
            src.to_str().unwrap(),
        );
        assert!(
            !dst.join("model.safetensors.index.json").exists(),
            "{how}: output published"
        );
    }
}

#[test]
fn two_conversions_racing_for_one_output() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("in.safetensors");
    make_f32_shards_input(&src);
    let src_s = src.to_str().unwrap();
    let clean = tmp.path().join("clean");
    ok(&run(&sharded(src_s, clean.to_str().unwrap()), None));

    let dst = tmp.path().join("raced");
    let args = sharded(src_s, dst.to_str().unwrap());
    let mut first = spawn_slow(&args);
    wait_for(&dst.join(".model.modelconv-journal"), &mut first);
    let second = run(&args, None);
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another modelconv process is writing this output"),
        "{}",
        stderr(&second)
    );
    let first = first.wait_with_output().unwrap();
    ok(&first);
    assert_eq!(
        files(&dst),
        files(&clean),
        "the winner's output is complete and exact"
    );
}
