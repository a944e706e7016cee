//! Hostile inputs, round 2 (issue #23).
//!
//! `every_case_through_every_subcommand`: each case that
//! `tests/bad_data/hostile/make_hostile.py` writes goes through every
//! subcommand the binary's `--help` lists, and `convert` through every
//! format the registry writes (a destination named with the format's
//! extension, and one given with `--to`). Every run must: give the exit
//! code (and message) `cases.json` expects, never panic or fail
//! internally, stay under 256 MB of RSS and 5 s, write nothing but its
//! destination (the corpus is unchanged, the working and temporary
//! directories stay clean), and copy no planted secret into an output.
//! The table is derived, so a new subcommand or format is covered without
//! touching this file (and fails until `cases.json` says what it must do).
//!
//! `planted_links_at_output_names_are_refused`: a symbolic link planted at
//! any temporary, journal or lock name of a conversion, for every writable
//! format, is refused by name and its target is left alone.
//!
//! `committed_cases_are_what_the_generator_writes`: the small cases in
//! the folder are byte for byte the generator's output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]
// The table is printed (shown with --nocapture) for the record.
#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use modelconv::registry::FORMATS;
use serde_json::Value;

const RSS_LIMIT_KB: i64 = 256 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// What `dir_aux_symlink_out`'s secret file holds.
const SECRET: &str = "hunter2";
/// Put in every run's environment: `/proc/self/environ` copied into an
/// output would carry it.
const CANARY: &str = "modelconv-canary-6f1d2c";

fn hostile() -> PathBuf {
    data().join("../bad_data/hostile")
}

/// Writes the whole corpus (`--big`, with the modelconv-made bases) into
/// `dir/corpus`.
fn make_corpus(dir: &Path) -> PathBuf {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).unwrap();
    let llama = data().join("families/llama");
    let gguf = base.join("llama-f32.gguf");
    let pq = base.join("llama-parquet");
    for args in [
        vec![
            "convert",
            llama.to_str().unwrap(),
            gguf.to_str().unwrap(),
            "--dtype",
            "float32",
            "--quiet",
        ],
        vec![
            "convert",
            llama.to_str().unwrap(),
            pq.to_str().unwrap(),
            "--to",
            "parquet",
            "--quiet",
        ],
    ] {
        ok(&modelconv(&args));
    }
    let corpus = dir.join("corpus");
    let out = python()
        .arg(hostile().join("make_hostile.py"))
        .arg(&corpus)
        .args(["--big", "--gguf-base"])
        .arg(&gguf)
        .arg("--parquet-base")
        .arg(&pq)
        .output()
        .expect("run python3 make_hostile.py");
    assert!(
        out.status.success(),
        "make_hostile.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    corpus
}

/// The subcommands `modelconv --help` lists (but `help`).
fn subcommands() -> Vec<String> {
    let help = ok(&modelconv(&["--help"]));
    let subs: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(
        subs.iter().any(|s| s == "convert") && subs.len() >= 6,
        "could not read the subcommands from --help: {help}"
    );
    subs
}

/// True if `modelconv SUB` takes a path: some positional argument without
/// a fixed set of values (`completions <SHELL>` and `man` read no model).
fn reads_paths(sub: &str) -> bool {
    let help = ok(&modelconv(&[sub, "--help"]));
    let args: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Arguments:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    args.iter()
        .any(|l| l.trim_start().starts_with('<') && !l.contains("[possible values:"))
}

/// The positional arguments of `modelconv SUB`, from its usage line:
/// `Usage: modelconv convert [OPTIONS] <SRC> <DST>` gives `[SRC, DST]`.
fn positionals(sub: &str) -> Vec<String> {
    let help = ok(&modelconv(&[sub, "--help"]));
    let usage = help
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .unwrap_or_else(|| panic!("no usage line in `{sub} --help`"));
    let names: Vec<String> = usage
        .split_whitespace()
        .skip(2)
        .filter(|w| *w != "[OPTIONS]")
        .map(|w| w.trim_matches(|c| "<>[].".contains(c)).to_string())
        .collect();
    assert!(!names.is_empty(), "`{sub}` takes no path: {usage}");
    names
}

/// One row of the table: a subcommand (and output format) on one case.
struct Job {
    /// `inspect`, `convert:parquet:ext`, ... (the `expect` keys).
    key: String,
    args: Vec<OsString>,
}

/// The runs for one case: every subcommand; `convert` once per writable
/// format and destination kind. A positional named DST is the run's
/// destination (`out`), every other one the case.
fn jobs(subs: &[(String, Vec<String>)], case: &Path, run_dir: &Path) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (sub, pos) in subs {
        let fill = |dst: &Path| -> Vec<OsString> {
            let mut a: Vec<OsString> = vec![sub.into()];
            a.extend(pos.iter().map(|p| match p.as_str() {
                "DST" => dst.as_os_str().to_owned(),
                _ => case.as_os_str().to_owned(),
            }));
            a
        };
        if sub == "convert" {
            for f in FORMATS.iter().filter(|f| f.writer.is_some()) {
                if let Some(ext) = f.extensions.first() {
                    jobs.push(Job {
                        key: format!("convert:{}:ext", f.name),
                        args: fill(&run_dir.join(format!("out.{ext}"))),
                    });
                }
                let mut args = fill(&run_dir.join("out"));
                args.extend(["--to".into(), f.name.into()]);
                jobs.push(Job {
                    key: format!("convert:{}:to", f.name),
                    args,
                });
            }
        } else {
            jobs.push(Job {
                key: sub.clone(),
                args: fill(&run_dir.join("out")),
            });
        }
    }
    jobs
}

/// What a case's `expect` (then `every_case`) says for `key`: the most
/// specific entry, `default` last.
fn expected(expect: &Value, every: &Value, key: &str) -> Option<(i32, Option<String>)> {
    let parts: Vec<&str> = key.split(':').collect();
    let keys = (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join(":"))
        .chain(["default".to_string()]);
    for k in keys {
        for table in [expect, every] {
            match table.get(&k) {
                Some(Value::Number(n)) => return Some((n.as_i64()? as i32, None)),
                Some(Value::Array(a)) => {
                    return Some((
                        a.first()?.as_i64()? as i32,
                        a.get(1).and_then(Value::as_str).map(str::to_string),
                    ))
                }
                Some(other) => panic!("{key}: bad expectation {other}"),
                None => {}
            }
        }
    }
    None
}

/// How a run ended.
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    timed_out: bool,
    secs: f64,
    max_rss_kb: i64,
}

/// Runs the binary in `cwd` with `TMPDIR=tmp`, stdout and stderr to files
/// in `logs`, and reaps it with `wait4` for its peak RSS.
fn run_measured(args: &[OsString], cwd: &Path, tmp: &Path, logs: &Path) -> Outcome {
    let stdout = std::fs::File::create(logs.join("stdout")).unwrap();
    let stderr = std::fs::File::create(logs.join("stderr")).unwrap();
    let start = Instant::now();
    // Reaped by wait4 below (for its rusage), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_modelconv"))
        .args(args)
        .current_dir(cwd)
        .env("TMPDIR", tmp)
        .env("MODELCONV_CANARY", CANARY)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if timed_out { 0 } else { libc::WNOHANG };
        // SAFETY: both pointers are to live locals of the right types; the
        // child is ours and has not been reaped.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == pid {
            return Outcome {
                code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
                signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
                timed_out,
                secs: start.elapsed().as_secs_f64(),
                max_rss_kb: usage.ru_maxrss,
            };
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > TIME_LIMIT * 6 {
            let _ = child.kill();
            timed_out = true;
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// (type, size, mtime) of everything under `root`, links not followed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.insert(
                p.strip_prefix(root).unwrap().to_path_buf(),
                (m.mode(), m.size(), m.mtime(), m.mtime_nsec()),
            );
            if m.is_dir() {
                todo.push(p);
            }
        }
    }
    out
}

/// Regular files under `p` (or `p` itself), links not followed.
fn files_under(p: &Path) -> Vec<PathBuf> {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return Vec::new();
    };
    if m.is_file() {
        return vec![p.to_path_buf()];
    }
    if !m.is_dir() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        out.extend(files_under(&e.unwrap().path()));
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Empties `dir` (links removed, not followed).
fn clear(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
}

/// The checks of one run; returns what went wrong.
fn check_run(
    label: &str,
    key: &str,
    (expect, every): (&Value, &Value),
    case: &Value,
    o: &Outcome,
    dirs: (&Path, &Path, &Path),
) -> Vec<String> {
    let (run_dir, tmp, logs) = dirs;
    let mut bad = Vec::new();
    let stderr = std::fs::read_to_string(logs.join("stderr")).unwrap_or_default();
    let stdout = std::fs::read(logs.join("stdout")).unwrap_or_default();
    let last = stderr.lines().last().unwrap_or("").to_string();
    if o.timed_out {
        bad.push(format!("{label}: killed after {:.1} s (hang?)", o.secs));
    } else if o.secs > TIME_LIMIT.as_secs_f64() {
        bad.push(format!("{label}: took {:.2} s", o.secs));
    }
    if let Some(s) = o.signal.filter(|_| !o.timed_out) {
        bad.push(format!("{label}: killed by signal {s}"));
    }
    if stderr.contains("panicked") || o.code == Some(101) || o.code == Some(70) {
        bad.push(format!("{label}: panic or internal error: {last}"));
    }
    if o.max_rss_kb > RSS_LIMIT_KB {
        bad.push(format!("{label}: peak RSS {} MB", o.max_rss_kb / 1024));
    }
    match expected(expect, every, key) {
        None => bad.push(format!("{label}: cases.json has no expectation")),
        Some((code, phrase)) => {
            if o.code != Some(code) && !o.timed_out {
                bad.push(format!(
                    "{label}: exit {:?}, expected {code}: {last}",
                    o.code
                ));
            }
            if let Some(p) = phrase {
                if !stderr.contains(&p) && !contains(&stdout, &p) {
                    bad.push(format!("{label}: no '{p}' in the output: {last}"));
                }
            }
        }
    }
    // Nothing but the destination in the working directory, nothing left
    // in TMPDIR.
    for e in std::fs::read_dir(run_dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if !n.starts_with("out") {
            bad.push(format!("{label}: wrote '{n}' outside its destination"));
        }
    }
    if std::fs::read_dir(tmp).unwrap().next().is_some() {
        bad.push(format!("{label}: left files in TMPDIR"));
    }
    for f in files_under(run_dir) {
        let bytes = std::fs::read(&f).unwrap();
        for s in [SECRET, CANARY] {
            if contains(&bytes, s) {
                bad.push(format!("{label}: {} holds the planted '{s}'", f.display()));
            }
        }
    }
    if let Some(lacks) = case.get("dst_lacks").and_then(Value::as_object) {
        for (name, text) in lacks {
            let f = run_dir.join("out").join(name);
            if let (Ok(bytes), Some(t)) = (std::fs::read(&f), text.as_str()) {
                if contains(&bytes, t) {
                    bad.push(format!("{label}: {} holds '{t}'", f.display()));
                }
            }
        }
    }
    bad
}

#[test]
fn every_case_through_every_subcommand() {
    let table: Value =
        serde_json::from_slice(&std::fs::read(hostile().join("cases.json")).unwrap()).unwrap();
    let cases = table["cases"].as_object().unwrap();
    let every = &table["every_case"];
    let tmp = tempfile::tempdir().unwrap();
    let corpus = make_corpus(tmp.path());

    // Every case has expectations, every expectation a case.
    let written: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "secret.txt")
        .collect();
    let mut unlisted: Vec<&String> = written.iter().filter(|n| !cases.contains_key(*n)).collect();
    unlisted.sort();
    assert!(
        unlisted.is_empty(),
        "cases without expectations: {unlisted:?}"
    );
    let missing: Vec<&String> = cases.keys().filter(|k| !written.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "expectations without a case: {missing:?}"
    );

    let subs: Vec<(String, Vec<String>)> = subcommands()
        .into_iter()
        .filter(|s| reads_paths(s))
        .map(|s| {
            let p = positionals(&s);
            (s, p)
        })
        .collect();
    let before = snapshot(&corpus);
    let (run_dir, scratch, logs) = (
        tmp.path().join("run"),
        tmp.path().join("tmp"),
        tmp.path().join("logs"),
    );
    for d in [&run_dir, &scratch, &logs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut slowest = (0.0, String::new());
    let mut biggest = (0, String::new());
    for (name, case) in cases {
        let expect = &case["expect"];
        for job in jobs(&subs, &corpus.join(name), &run_dir) {
            let label = format!("{name} {}", job.key);
            let o = run_measured(&job.args, &run_dir, &scratch, &logs);
            runs += 1;
            eprintln!(
                "{label:60} exit {:>4} {:6.2} s {:5} MB",
                o.code.map_or("-".into(), |c| c.to_string()),
                o.secs,
                o.max_rss_kb / 1024
            );
            if o.secs > slowest.0 {
                slowest = (o.secs, label.clone());
            }
            if o.max_rss_kb > biggest.0 {
                biggest = (o.max_rss_kb, label.clone());
            }
            failures.extend(check_run(
                &label,
                &job.key,
                (expect, every),
                case,
                &o,
                (&run_dir, &scratch, &logs),
            ));
            clear(&run_dir);
            clear(&scratch);
        }
    }
    let after = snapshot(&corpus);
    if before != after {
        let changed: Vec<_> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k.display().to_string())
            .chain(
                before
                    .keys()
                    .filter(|k| !after.contains_key(*k))
                    .map(|k| format!("{} (removed)", k.display())),
            )
            .collect();
        failures.push(format!("the corpus changed: {changed:?}"));
    }
    assert!(runs > 300, "only {runs} runs");
    assert!(
        failures.is_empty(),
        "{} of {runs} runs failed (slowest {:.2} s: {}; biggest {} MB: {}):\n{}",
        failures.len(),
        slowest.0,
        slowest.1,
        biggest.0 / 1024,
        biggest.1,
        failures.join("\n")
    );
}

/// A clean run's output files, relative to `dst` (or `dst` itself).
fn output_files(dst: &Path) -> Vec<PathBuf> {
    files_under(dst)
        .into_iter()
        .map(|f| f.strip_prefix(dst).unwrap().to_path_buf())
        .collect()
}

#[test]
fn planted_links_at_output_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("families/llama");
    let victim = tmp.path().join("victim");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mut failures = Vec::new();
    let mut refused = 0;
    let mut tested = std::collections::BTreeSet::new();
    let writable: Vec<_> = FORMATS.iter().filter(|f| f.writer.is_some()).collect();
    for f in &writable {
        // Two destinations: a file named with the format's extension, and a
        // directory (--to, existing, so --overwrite).
        let mut variants = Vec::new();
        if let Some(ext) = f.extensions.first() {
            variants.push((format!("out.{ext}"), Vec::<String>::new()));
        }
        variants.push((
            "out".to_string(),
            vec!["--to".into(), f.name.into(), "--overwrite".into()],
        ));
        for (dst_name, extra) in variants {
            let work = tmp.path().join("work");
            let dst = work.join(&dst_name);
            let convert = |plant: &dyn Fn()| {
                if work.exists() {
                    std::fs::remove_dir_all(&work).unwrap();
                }
                std::fs::create_dir(&work).unwrap();
                if !extra.is_empty() {
                    std::fs::create_dir(&dst).unwrap();
                }
                plant();
                let mut args = vec![
                    "convert".to_string(),
                    src.to_str().unwrap().into(),
                    dst.to_str().unwrap().into(),
                    "--quiet".into(),
                ];
                args.extend(extra.iter().cloned());
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                modelconv(&a)
            };
            let clean = convert(&|| {});
            if !extra.is_empty() && clean.status.code() == Some(1) {
                // The format writes single files only (GGUF).
                continue;
            }
            ok(&clean);
            tested.insert(f.name);
            let (dir, files) = if extra.is_empty() {
                (work.clone(), vec![PathBuf::from(&dst_name)])
            } else {
                (dst.clone(), output_files(&dst))
            };
            // The plan's name: the file's name, or the directory layout's
            // stem (`.model.…`, `.weights.…`: the engine's naming).
            let stems: Vec<String> = if extra.is_empty() {
                vec![dst_name.clone()]
            } else {
                vec!["model".into(), "weights".into()]
            };
            let mut names: Vec<(PathBuf, bool)> = files
                .iter()
                .map(|f| (PathBuf::from(format!("{}.partial", f.display())), true))
                .collect();
            for s in &stems {
                for kind in ["journal", "lock"] {
                    names.push((PathBuf::from(format!(".{s}.modelconv-{kind}")), false));
                }
            }
            let mut state_refused = 0;
            for (name, must_refuse) in &names {
                std::fs::write(&victim, "victim").unwrap();
                let link = dir.join(name);
                let out = convert(&|| {
                    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
                    std::os::unix::fs::symlink(&victim, &link).unwrap();
                });
                let label = format!("{} -> {}: link at {}", f.name, dst_name, name.display());
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                if std::fs::read_to_string(&victim).unwrap() != "victim" {
                    failures.push(format!("{label}: the link's target was written"));
                }
                let was_refused = out.status.code() == Some(1)
                    && err.contains("symbolic link planted")
                    && err.contains(&*name.file_name().unwrap().to_string_lossy());
                if was_refused {
                    refused += 1;
                    if !must_refuse {
                        state_refused += 1;
                    }
                } else if *must_refuse || out.status.code() != Some(0) {
                    failures.push(format!(
                        "{label}: exit {:?}, expected a refusal naming it: {err}",
                        out.status.code()
                    ));
                }
                if std::fs::symlink_metadata(&link).is_ok_and(|m| !m.file_type().is_symlink()) {
                    failures.push(format!("{label}: the link was replaced"));
                }
            }
            // The journal and the lock of this plan are among the names tried.
            if state_refused < 2 {
                failures.push(format!(
                    "{} -> {dst_name}: links at the journal and lock names were not both refused ({state_refused})",
                    f.name
                ));
            }
            // A directory of the output planted as a link to elsewhere.
            for sub in files.iter().filter_map(|f| {
                let mut c = f.components();
                let first = c.next()?;
                c.next().map(|_| PathBuf::from(first.as_os_str()))
            }) {
                let link = dir.join(&sub);
                let out = convert(&|| {
                    std::os::unix::fs::symlink(&outside, &link).unwrap();
                });
                if std::fs::read_dir(&outside).unwrap().next().is_some() {
                    failures.push(format!(
                        "{} -> {dst_name}: wrote through a link at {}",
                        f.name,
                        sub.display()
                    ));
                    clear(&outside);
                }
                if out.status.code() != Some(1) {
                    failures.push(format!(
                        "{} -> {dst_name}: link at directory {}: exit {:?}",
                        f.name,
                        sub.display(),
                        out.status.code()
                    ));
                }
            }
        }
    }
    assert_eq!(tested.len(), writable.len(), "formats tested: {tested:?}");
    assert!(refused >= 10, "only {refused} refusals");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn committed_cases_are_what_the_generator_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = python()
        .arg(hostile().join("make_hostile.py"))
        .arg(tmp.path())
        .output()
        .expect("run python3 make_hostile.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = snapshot(tmp.path());
    assert!(made.len() >= 8, "{made:?}");
    for (rel, _) in made {
        let (a, b) = (tmp.path().join(&rel), hostile().join(&rel));
        if a.is_dir() {
            assert!(b.is_dir(), "{} is not committed", rel.display());
            continue;
        }
        let committed = std::fs::read(&b)
            .unwrap_or_else(|_| panic!("{} is not committed: run make_hostile.py", rel.display()));
        let fresh = std::fs::read(&a).unwrap();
        // Deflated bytes depend on the zlib Python links; a zip is compared
        // by its directory (names, methods, sizes, CRCs) instead.
        let same = match (zip_directory(&fresh), zip_directory(&committed)) {
            (Some(x), Some(y)) => x == y,
            _ => fresh == committed,
        };
        assert!(
            same,
            "{} differs from what make_hostile.py writes",
            rel.display()
        );
    }
}

/// A zip's members: name, method, sizes and CRC-32 (`None` if not a zip).
fn zip_directory(bytes: &[u8]) -> Option<Vec<(String, String, u64, u32)>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    (0..z.len())
        .map(|i| {
            let m = z.by_index_raw(i).ok()?;
            Some((
                m.name().ok()?.to_string(),
                format!("{:?}", m.compression()),
                m.size(),
                m.crc32(),
            ))
        })
        .collect()
}
