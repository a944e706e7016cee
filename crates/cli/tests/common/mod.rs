//! Shared helpers for the CLI integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's `tests/data`.
pub(crate) fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// Runs the modelconv binary with `args`.
pub(crate) fn modelconv(args: &[&str]) -> Output {
    modelconv_env(args, &[])
}

/// Runs the modelconv binary with `args` and extra environment variables.
pub(crate) fn modelconv_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelconv"));
    // metadata.json carries a timestamp; pin it so outputs compare byte for byte.
    cmd.env("SOURCE_DATE_EPOCH", "1700000000");
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run modelconv")
}

/// Asserts success and returns stdout.
pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "modelconv failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tensors of a safetensors file, read with the reference `safetensors` crate:
/// name → (dtype name, shape, bytes).
pub(crate) fn tensors(path: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                format!("{:?}", view.dtype()),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    out.sort();
    out
}

/// One tensor's bytes from a safetensors file (reference reader).
pub(crate) fn tensor_bytes(path: &Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().data().to_vec()
}

/// Tensors of every shard in an HF directory (or of one file).
pub(crate) fn all_tensors(dir_or_file: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    if dir_or_file.is_file() {
        return tensors(dir_or_file);
    }
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir_or_file).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "safetensors") {
            all.extend(tensors(&p));
        }
    }
    all.sort();
    all
}

/// Parses stdout as JSON.
pub(crate) fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Names of the entries in a directory (empty if it does not exist).
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes a 4 MiB f32 safetensors file with 8 tensors of deterministic values.
pub(crate) fn make_f32_shards_input(path: &Path) {
    let n = 131_072usize; // elements per tensor (512 KiB of f32)
    let mut header = String::from("{");
    let mut data = Vec::new();
    for t in 0..8 {
        let begin = data.len();
        for i in 0..n {
            let v = ((i * 7919 + t * 104_729) % 100_003) as f32 / 1000.0 - 50.0;
            data.extend_from_slice(&v.to_le_bytes());
        }
        if t > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            "\"layer.{t}.weight\":{{\"dtype\":\"F32\",\"shape\":[512,256],\"data_offsets\":[{begin},{}]}}",
            data.len()
        ));
    }
    header.push('}');
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}

/// A family fixture directory (`tests/data/families/NAME`) as a string.
pub(crate) fn fam(name: &str) -> String {
    data()
        .join("families")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The Python that runs the corpus generators (`$PYTHON`, else `python3`).
pub(crate) fn python() -> std::process::Command {
    std::process::Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
}
