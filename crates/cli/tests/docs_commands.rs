//! Every `modelconv` command shown in `README.md` and `docs/*.md` runs
//! (issue #21). Commands are taken from the ```sh / ```bash blocks, in
//! order, with the placeholder paths of the docs set up from the fixtures
//! (`path/to/model` is the tiny LLaMA, hub ids live in a scratch Hugging
//! Face cache, ...) and sizes scaled down to the fixtures; each must exit 0.
//! A command with a placeholder this test does not know fails the test, so
//! a new example in the docs is either runnable or noticed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `modelconv ...` lines of the shell blocks of one Markdown file.
fn commands(md: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(md).unwrap();
    let mut out = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_block = !in_block && (t == "```sh" || t == "```bash");
            continue;
        }
        if !in_block {
            continue;
        }
        let cmd = t.split(" #").next().unwrap_or_default().trim();
        if let Some(rest) = cmd.strip_prefix("cargo run --release -p modelconv-cli -- ") {
            out.push(format!("modelconv {rest}"));
        } else if cmd.starts_with("modelconv ") {
            out.push(cmd.to_string());
        }
    }
    out
}

/// Splits a command line like a shell would for these examples
/// (whitespace, single quotes, one `> FILE` redirection).
fn words(cmd: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmd.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let redirect = words.iter().position(|w| w == ">").map(|i| {
        let f = words[i + 1].clone();
        words.truncate(i);
        f
    });
    (words, redirect)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The placeholders of the docs, made from fixtures inside `w`.
fn setup(w: &Path) {
    let fam = |n: &str| repo().join("tests/data/families").join(n);
    copy_dir(&fam("llama"), &w.join("path/to/model"));
    copy_dir(&fam("llama"), &w.join("path/to/llama"));
    copy_dir(
        &repo().join("tests/data/tiny/sharded_bf16"),
        &w.join("path/to/sharded-model"),
    );
    copy_dir(
        &repo().join("tests/data/tiny-bert"),
        &w.join("path/to/download"),
    );
    copy_dir(&fam("whisper"), &w.join("whisper-tiny"));
    copy_dir(&fam("minicpm"), &w.join("MiniCPM-1B"));
    std::fs::copy(fam("llama").join("config.json"), w.join("config.json")).unwrap();
    // Hub ids, in a Hugging Face cache of our own.
    for (id, from) in [
        (
            "sentence-transformers/all-MiniLM-L6-v2",
            repo().join("tests/data/tiny-bert"),
        ),
        ("openai/clip-vit-base-patch32", fam("clip")),
    ] {
        let repo_dir = w
            .join("hub")
            .join(format!("models--{}", id.replace('/', "--")));
        copy_dir(&from, &repo_dir.join("snapshots/0123456789abcdef"));
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs/main"), "0123456789abcdef").unwrap();
    }
    std::fs::create_dir_all(w.join("home")).unwrap();
}

/// Sizes and names of the examples, scaled to the fixtures.
fn scaled(word: &str, w: &Path) -> String {
    let word = match word {
        "5GB" => "100KB",
        // The tiny LLaMA at Q4_K_M in three parts, as the example's names say.
        "2GB" => "50KB",
        other => other,
    };
    let word = word.replace("/tmp/", &format!("{}/", w.display()));
    match word.strip_prefix("~/") {
        Some(rest) => w.join("home").join(rest).display().to_string(),
        None => word,
    }
}

#[test]
fn every_documented_command_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let w = tmp.path();
    setup(w);
    let mut docs: Vec<PathBuf> = vec![repo().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    let mut ran = 0;
    for md in &docs {
        for cmd in commands(md) {
            let (args, redirect) = words(&cmd);
            let mut args: Vec<String> = args[1..].iter().map(|a| scaled(a, w)).collect();
            // The quick start reads a fixture of the repository.
            for a in &mut args {
                if a.starts_with("tests/data/") {
                    *a = repo().join(&*a).display().to_string();
                }
            }
            // A convert/fake example writes DST afresh (the examples share
            // names), except the one that resumes.
            if matches!(args[0].as_str(), "convert" | "fake")
                && !args.iter().any(|a| a == "--resume")
            {
                let dst = w.join(&args[2]);
                let _ = std::fs::remove_dir_all(&dst);
                let _ = std::fs::remove_file(&dst);
            }
            let out = Command::new(env!("CARGO_BIN_EXE_modelconv"))
                .args(&args)
                .current_dir(w)
                .env("HF_HUB_CACHE", w.join("hub"))
                .env("HOME", w.join("home"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: `{cmd}` exited {:?}\n{}",
                md.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(file) = redirect {
                let path = PathBuf::from(scaled(&file, w));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &out.stdout).unwrap();
            }
            ran += 1;
        }
    }
    assert!(ran >= 20, "only {ran} commands found");
    // What the examples promise: the merge gives back the split file.
    assert_eq!(
        std::fs::read(w.join("merged.gguf")).unwrap(),
        std::fs::read(w.join("model.gguf")).unwrap()
    );
}
