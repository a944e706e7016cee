//! A small random model directory (issue #23): the input is a program that
//! builds a tree of files, symbolic links, FIFOs, sub-directories and
//! index files in a fresh scratch directory; then `modelconv::scan`, the
//! reader (`inspect`'s and `convert`'s open) and, when the model opens, a
//! conversion run on it.
//!
//! What must hold: no panic and no hang (a FIFO is never opened blocking;
//! libFuzzer's `-timeout` catches a hang or a link-loop walk); an accepted
//! model reads tensors and carries files only from inside the directory;
//! nothing outside the directory is written; no output holds the secret
//! beside the directory or the process environment.
#![no_main]

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelconv::core::model::AuxContent;

const SECRET: &str = "SECRET-beside-the-model";
const CANARY: &str = "modelconv-fuzz-canary";

/// Names the program picks from (index files, shards, tokenizer files,
/// the layouts' sub-directories).
const NAMES: &[&str] = &[
    "model.safetensors",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "weights.parquet",
    "metadata.json",
    "model.gguf",
    "weights.npz",
    "tokenizer",
    "tokenizer/tokenizer.json",
    "tokenizer/config.json",
    "sub",
    "sub/model.safetensors",
    "1_Pooling",
    "1_Pooling/config.json",
    "loop",
    ".hidden",
];

/// Where a link may point.
fn link_target(i: u8, root: &Path) -> PathBuf {
    match i % 10 {
        0 => ".".into(),
        1 => "..".into(),
        2 => "../secret.txt".into(),
        3 => root.parent().unwrap_or(root).join("secret.txt"),
        4 => "/proc/self/environ".into(),
        5 => "/dev/zero".into(),
        6 => "missing".into(),
        7 => root.into(),
        _ => NAMES[usize::from(i) % NAMES.len()].into(),
    }
}

/// A safetensors file of one small tensor.
fn shard(name: &str) -> Vec<u8> {
    let header =
        format!("{{\"{name}\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}}}");
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[0, 0, 128, 63, 0, 0, 0, 64]);
    out
}

/// File contents the program picks from; `rest` gives raw bytes.
fn content(kind: u8, rest: &[u8]) -> Vec<u8> {
    match kind % 8 {
        0 => shard("a"),
        1 => shard("b"),
        2 => br#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#.to_vec(),
        3 => br#"{"weight_map": {"a": "../secret.txt", "b": "sub/model.safetensors", "c": "loop/model.safetensors"}}"#.to_vec(),
        4 => br#"{"model_type": "bert", "hidden_size": 2, "num_hidden_layers": 1}"#.to_vec(),
        5 => br#"{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}"#.to_vec(),
        6 => Vec::new(),
        _ => rest.iter().copied().take(512).collect(),
    }
}

/// The scratch root (`…/tree`) and the secret beside it.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = modelconv_fuzz::scratch_dir();
        if std::fs::write(base.join("secret.txt"), SECRET).is_err() {
            std::process::abort();
        }
        // In the environment, so /proc/self/environ holds it.
        std::env::set_var("MODELCONV_FUZZ_CANARY", CANARY);
        base.join("tree")
    })
}

fn reset(p: &Path) {
    let _ = std::fs::remove_dir_all(p);
    if std::fs::create_dir_all(p).is_err() {
        std::process::abort();
    }
}

/// Makes `rel`'s parent directories inside `dir` without following a
/// link the program planted, and clears a non-directory at `rel` itself.
/// `None` when a parent is not a real directory or `rel` is one: the
/// harness itself must never write through a planted link or into a FIFO.
fn place(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    let (last, parents) = parts.split_last()?;
    for part in parents {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return None,
            Err(_) => std::fs::create_dir(&path).ok()?,
        }
    }
    path.push(last);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => None,
        Ok(_) => std::fs::remove_file(&path).ok().map(|()| path),
        Err(_) => Some(path),
    }
}

/// Runs the program in `data` in `dir`: 3 bytes per step (op, name, arg).
fn build(dir: &Path, data: &[u8]) {
    for (step, op) in data.chunks(3).take(24).enumerate() {
        let [op, name, arg] = [0, 1, 2].map(|i| op.get(i).copied().unwrap_or(0));
        let Some(path) = place(dir, NAMES[usize::from(name) % NAMES.len()]) else {
            continue;
        };
        let rest = data.get((step + 1) * 3..).unwrap_or_default();
        let _ = match op % 5 {
            0 | 1 => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&content(arg, rest))),
            2 => symlink(link_target(arg, dir), &path),
            3 => rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::from(0o644))
                .map_err(std::io::Error::from),
            _ => std::fs::create_dir(&path),
        };
    }
}

fn inside(dir: &Path, p: &Path) -> bool {
    match (dir.canonicalize(), p.canonicalize()) {
        (Ok(d), Ok(p)) => p.starts_with(d),
        _ => false,
    }
}

fn holds_secret(bytes: &[u8]) -> bool {
    [SECRET, CANARY]
        .iter()
        .any(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
}

fuzz_target!(|data: &[u8]| {
    // The fuzzer learns the secret from the comparisons below and puts it
    // into file contents; then finding it in the output proves nothing.
    if holds_secret(data) {
        return;
    }
    let dir = root();
    reset(dir);
    build(dir, data);
    let out = dir.with_file_name("out");
    let _ = std::fs::remove_dir_all(&out);

    let _ = modelconv::scan(dir);
    let Ok(model) = modelconv::source::open(dir.to_str().unwrap_or_default()) else {
        return;
    };
    for t in &model.tensors {
        assert!(inside(dir, &t.file), "tensor {} read from {}", t.info.name, t.file.display());
    }
    for a in &model.aux_files {
        if let AuxContent::Carried(p) = &a.content {
            assert!(inside(dir, p), "aux file {} carried from {}", a.rel_path, p.display());
        }
    }
    modelconv_fuzz::touch_all(&model.tensors);
    let opts = modelconv::ConvertOptions::default();
    let _ = modelconv::convert::convert_model(
        model,
        "fuzz",
        &out,
        &opts,
        &modelconv::NoProgress,
        std::time::Instant::now(),
    );
    // Nothing beside the directory changed; no output holds a secret.
    let secret = std::fs::read(dir.with_file_name("secret.txt")).unwrap_or_default();
    assert_eq!(secret, SECRET.as_bytes(), "the file beside the model was written");
    let mut todo = vec![out.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => todo.push(p),
                Ok(m) if m.is_file() => {
                    let b = std::fs::read(&p).unwrap_or_default();
                    assert!(!holds_secret(&b), "{} holds a secret", p.display());
                }
                _ => {}
            }
        }
    }
});
