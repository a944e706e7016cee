//! Split GGUF models, compatible with llama.cpp's `gguf-split`: parts
//! named `NAME-00001-of-00003.gguf`, each a complete GGUF holding
//! `split.no` (u16, 0-based), `split.count` (u16) and
//! `split.tensors.count` (i32, tensors in all parts); all other metadata
//! in the first part only; a new part starts when the next tensor (its
//! size padded to 32 bytes) would pass the size limit. llama.cpp loads such
//! a model from its first part, and so does [`read_parts`].
//!
//! Merging drops the `split.*` keys, so merging the parts of a file gives
//! that file back byte for byte (gguf-split itself keeps `split.count = 0`
//! in its merged output).

use std::path::{Path, PathBuf};

use modelconv_core::error::{Error, InvalidKind, Result};

use crate::container::{self, GgufFile, Value};
use crate::writer::GgufTensor;

/// Metadata key: part number, 0-based.
pub const KEY_NO: &str = "split.no";
/// Metadata key: number of parts.
pub const KEY_COUNT: &str = "split.count";
/// Metadata key: tensors in all parts together.
pub const KEY_TENSORS: &str = "split.tensors.count";

/// The path of part `i` (0-based) of `n` for an output named `path`
/// (`model.gguf` → `model-00001-of-00003.gguf`).
pub fn part_path(path: &Path, i: usize, n: usize) -> PathBuf {
    let stem = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.strip_suffix(".gguf").unwrap_or(&stem).to_string();
    path.with_file_name(format!("{stem}-{:05}-of-{:05}.gguf", i + 1, n))
}

/// Whether `m` has split keys (a part of a split model).
pub fn is_split_key(k: &str) -> bool {
    k == KEY_NO || k == KEY_COUNT || k == KEY_TENSORS
}

/// One part: its metadata and tensors.
pub type Part = (Vec<(String, Value)>, Vec<GgufTensor>);

/// Cuts `tensors` into parts of at most `max_bytes` of tensor data each
/// (a single larger tensor gets a part of its own), the way gguf-split
/// does. Returns each part's metadata and tensors; `metadata` must not
/// hold `split.*` keys.
pub fn plan(
    metadata: Vec<(String, Value)>,
    tensors: Vec<GgufTensor>,
    max_bytes: u64,
) -> Result<Vec<Part>> {
    let n_tensors = i32::try_from(tensors.len())
        .map_err(|_| Error::InvalidOption("too many tensors for split.tensors.count".into()))?;
    let mut parts: Vec<Vec<GgufTensor>> = vec![Vec::new()];
    let mut size = 0u64;
    for t in tensors {
        let n = crate::writer::tensor_nbytes(&t.name, t.ggml_type, &t.shape)?.div_ceil(32) * 32;
        let next = size.saturating_add(n);
        let current_empty = parts.last().is_none_or(Vec::is_empty);
        if next > max_bytes && !current_empty {
            parts.push(Vec::new());
            size = n;
        } else {
            size = next;
        }
        if let Some(p) = parts.last_mut() {
            p.push(t);
        }
    }
    let count = u16::try_from(parts.len()).map_err(|_| {
        Error::InvalidOption(format!(
            "{} parts: gguf-split numbers parts with 16 bits; raise --split-max-size",
            parts.len()
        ))
    })?;
    let mut out = Vec::with_capacity(parts.len());
    for (i, ts) in parts.into_iter().enumerate() {
        let mut m = if i == 0 { metadata.clone() } else { Vec::new() };
        m.push((KEY_NO.into(), Value::U16(i as u16)));
        m.push((KEY_COUNT.into(), Value::U16(count)));
        m.push((KEY_TENSORS.into(), Value::I32(n_tensors)));
        out.push((m, ts));
    }
    Ok(out)
}

fn bad(path: &Path, what: String) -> Error {
    Error::invalid(path, InvalidKind::MalformedArchive, what)
}

/// Reads a GGUF model; for the first part of a split model, reads every
/// part (found by name next to it) and checks they belong together.
pub fn read_parts(path: &Path) -> Result<Vec<GgufFile>> {
    let first = container::read(path)?;
    let count = first.get(KEY_COUNT).and_then(Value::as_u64).unwrap_or(0);
    if count <= 1 {
        return Ok(vec![first]);
    }
    let no = first.get(KEY_NO).and_then(Value::as_u64).unwrap_or(0);
    if no != 0 {
        return Err(bad(
            path,
            format!("this is part {} of {count}; open the first part", no + 1),
        ));
    }
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let suffix = format!("-00001-of-{count:05}.gguf");
    let Some(prefix) = name.strip_suffix(&suffix) else {
        return Err(bad(
            path,
            format!("a split model's first part must be named NAME{suffix}"),
        ));
    };
    let total = first.get(KEY_TENSORS).and_then(Value::as_u64).unwrap_or(0);
    let mut parts = vec![first];
    for i in 1..count as usize {
        let p = path.with_file_name(format!("{prefix}-{:05}-of-{count:05}.gguf", i + 1));
        if !p.exists() {
            return Err(bad(
                path,
                format!("part {} is missing: {}", i + 1, p.display()),
            ));
        }
        let f = container::read(&p)?;
        let (pno, pcount) = (
            f.get(KEY_NO).and_then(Value::as_u64),
            f.get(KEY_COUNT).and_then(Value::as_u64),
        );
        if pno != Some(i as u64) || pcount != Some(count) {
            return Err(bad(
                &p,
                format!("split.no/split.count are {pno:?}/{pcount:?}, expected {i}/{count}"),
            ));
        }
        parts.push(f);
    }
    let seen: usize = parts.iter().map(|p| p.tensors.len()).sum();
    if seen as u64 != total {
        return Err(bad(
            path,
            format!("split.tensors.count is {total} but the parts hold {seen} tensors"),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for p in &parts {
        for t in &p.tensors {
            if !names.insert(t.name.as_str()) {
                return Err(bad(&p.path, format!("tensor '{}' is in two parts", t.name))
                    .with_tensor(&t.name));
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_follow_llama_cpp() {
        assert_eq!(
            part_path(Path::new("/x/model.gguf"), 0, 3),
            PathBuf::from("/x/model-00001-of-00003.gguf")
        );
        assert_eq!(
            part_path(Path::new("m"), 11, 12),
            PathBuf::from("m-00012-of-00012.gguf")
        );
    }
}
