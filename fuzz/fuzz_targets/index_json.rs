//! Arbitrary bytes as `model.safetensors.index.json` in a directory that
//! also holds two valid shards (and a decoy file outside it): reading the
//! directory gives a model or a typed error; an accepted model only uses
//! files inside the directory.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use modelconv_formats::hf;

fn shard(name: &str, dtype: &str) -> Vec<u8> {
    let header = format!(
        "{{\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[2],\"data_offsets\":[0,8]}}}}"
    );
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    out
}

fn model_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = modelconv_fuzz::scratch_dir();
        let dir = root.join("model");
        let _ = std::fs::create_dir_all(&dir);
        let w = |p: PathBuf, b: Vec<u8>| {
            if std::fs::write(&p, b).is_err() {
                std::process::abort();
            }
        };
        w(dir.join("model-00001-of-00002.safetensors"), shard("a", "F32"));
        w(dir.join("model-00002-of-00002.safetensors"), shard("b", "I32"));
        w(root.join("outside.safetensors"), shard("c", "F32"));
        w(dir.join("config.json"), b"{}".to_vec());
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = model_dir();
    let index = dir.join("model.safetensors.index.json");
    if std::fs::write(&index, data).is_err() {
        std::process::abort();
    }
    if let Ok(model) = hf::read_dir(dir) {
        for t in &model.tensors {
            assert!(t.file.starts_with(dir), "tensor {} read from {}", t.info.name, t.file.display());
        }
        modelconv_fuzz::touch_all(&model.tensors);
    }
});
