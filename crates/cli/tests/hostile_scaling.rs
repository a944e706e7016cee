//! Many entries of one kind cost linear time (issue #23): every lookup over
//! names, shards, storages, tensors and tokens is a hash map or sorted.
//!
//! Per input kind, the cases `make_hostile.py --entries N` writes at 25k
//! and at 200k entries go through `inspect`, `verify`, `scan` and
//! `convert` to every writable format. Eight times the entries may cost
//! at most 24 times the time (a linear scan per entry, as before the fix,
//! costs 64 times). Reading each kind at 200k entries (`inspect`) takes
//! under 2 s in an optimised build (`cargo test --release`), under 4 s in
//! a debug one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The timings are printed (shown with --nocapture) for the record.
#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::time::Instant;

use modelconv::registry::FORMATS;

const SMALL: usize = 25_000;
const BIG: usize = 200_000;
const MAX_RATIO: f64 = 24.0;

/// The generator's cases with an entry count.
const KINDS: &[&str] = &[
    "index_many_shards",
    "pt_many_tensors.pt",
    "st_many_tensors.safetensors",
    "npz_many_members.npz",
    "gguf_many_tensors.gguf",
    "gguf_many_tokens.gguf",
];

fn generate(dir: &Path, entries: usize) {
    let script = common::data().join("../bad_data/hostile/make_hostile.py");
    let out = common::python()
        .arg(script)
        .arg(dir)
        .args([
            "--only",
            &KINDS.join(","),
            "--entries",
            &entries.to_string(),
        ])
        .output()
        .expect("run python3 make_hostile.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The runs for one input: (label, args); `out` is a fresh destination.
fn commands(input: &Path, out: &Path) -> Vec<(String, Vec<String>)> {
    let p = input.to_str().unwrap().to_string();
    let mut cmds = vec![
        ("inspect".to_string(), vec!["inspect".into(), p.clone()]),
        ("verify".into(), vec!["verify".into(), p.clone(), p.clone()]),
        ("scan".into(), vec!["scan".into(), p.clone()]),
    ];
    for f in FORMATS.iter().filter(|f| f.writer.is_some()) {
        if let Some(ext) = f.extensions.first() {
            let dst = out.join(format!("out.{ext}"));
            cmds.push((
                format!("convert {}", f.name),
                vec![
                    "convert".into(),
                    p.clone(),
                    dst.to_str().unwrap().into(),
                    "--quiet".into(),
                ],
            ));
        }
    }
    cmds
}

/// Runs `args` in a fresh destination folder; returns seconds.
fn time(args: &[String], out: &Path, label: &str) -> f64 {
    if out.exists() {
        std::fs::remove_dir_all(out).unwrap();
    }
    std::fs::create_dir(out).unwrap();
    let start = Instant::now();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = common::modelconv(&a);
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains("panicked") && !matches!(o.status.code(), Some(70 | 101) | None),
        "{label}: {err}"
    );
    secs
}

#[test]
fn eight_times_the_entries_cost_at_most_24_times_the_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, big, out) = (
        tmp.path().join("small"),
        tmp.path().join("big"),
        tmp.path().join("out"),
    );
    generate(&small, SMALL);
    generate(&big, BIG);
    let limit = if cfg!(debug_assertions) { 4.0 } else { 2.0 };
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for kind in KINDS {
        for ((label, small_args), (_, big_args)) in commands(&small.join(kind), &out)
            .into_iter()
            .zip(commands(&big.join(kind), &out))
        {
            let label = format!("{kind} {label}");
            let t_small = time(&small_args, &out, &label);
            let t_big = time(&big_args, &out, &label);
            let ratio = t_big / t_small.max(0.02);
            table.push(format!(
                "{label}: {t_small:.2} s -> {t_big:.2} s ({ratio:.1}x)"
            ));
            if ratio > MAX_RATIO {
                failures.push(format!(
                    "{label}: {ratio:.1}x the time for 8x the entries ({t_small:.2} s -> {t_big:.2} s)"
                ));
            }
            if label.ends_with(" inspect") && t_big > limit {
                failures.push(format!("{label}: {t_big:.2} s at {BIG} entries"));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(table.len() >= KINDS.len() * 5, "{table:?}");
    assert!(
        failures.is_empty(),
        "{}\n\nall runs:\n{}",
        failures.join("\n"),
        table.join("\n")
    );
}
