// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Hugging Face model directories (`save_pretrained` layout).
//!
//! Reading: weights from `model.safetensors` or a sharded checkpoint
//! (`model.safetensors.index.json` + `model-0000i-of-0000n.safetensors`),
//! `config.json`, and every other non-weight file (tokenizer files,
//! `generation_config.json`, sentence-transformers `modules.json`,
//! `1_Pooling/config.json`, README, ...) recorded to be carried over
//! unchanged. The index is checked strictly: shard paths must stay inside
//! the directory, every shard must exist, and the index and the shards must
//! agree on every tensor.
//!
//! Writing: the same layout; shards are cut greedily in source order by
//! `max_shard_size` (tensor bytes, decimal or binary units), named like
//! transformers does, and the index is written last, with sorted keys,
//! two-space indent and a trailing newline like transformers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Component, Path};

use modelconv_core::engine::{FileContent, OutTensor, OutputPlan, PlannedFile};
use modelconv_core::error::{Error, InvalidKind, IoContext, Result};
use modelconv_core::fsx;
use modelconv_core::model::{AuxFile, Model, SourceFile};
use modelconv_core::FormatId;
use serde::Serialize;

use crate::{safetensors, weights};

/// Name of the single-file weights in an HF directory.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index in an HF directory.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// File names (or suffixes) that hold weights in some format besides
/// PyTorch's ([`crate::pytorch::EXTENSIONS`]). They are never carried over
/// as auxiliary files.
const WEIGHT_SUFFIXES: &[&str] = &[
    ".safetensors",
    ".safetensors.index.json",
    ".bin.index.json",
    ".h5",
    ".msgpack",
    ".msgpack.index.json",
    ".ot",
    ".onnx",
    ".onnx_data",
    ".gguf",
    ".tflite",
    ".npz",
    ".npy",
    ".parquet",
    ".mlmodel",
    ".partial",
];

/// Directories of exported weights in other formats, skipped whole.
const WEIGHT_DIRS: &[&str] = &["onnx", "openvino", "coreml"];

const MAX_AUX_FILES: usize = 10_000;
const MAX_DEPTH: usize = 8;
const MAX_INDEX_BYTES: u64 = 256 << 20;
/// Largest `config.json` read (real ones are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Name of the single-file PyTorch weights in an HF directory.
pub const BIN_FILE: &str = "pytorch_model.bin";
/// Name of the PyTorch shard index in an HF directory.
pub const BIN_INDEX_FILE: &str = "pytorch_model.bin.index.json";

/// Reads an HF model directory: safetensors weights if present, else
/// PyTorch `.bin` weights (single or sharded).
pub fn read_dir(dir: &Path) -> Result<Model> {
    let mut model = Model {
        root: dir.to_path_buf(),
        ..Model::default()
    };
    let mut weight_files: Vec<String> = Vec::new();
    let candidates = [
        (
            INDEX_FILE,
            true,
            "hf-safetensors-sharded",
            FormatId::Safetensors,
        ),
        (SINGLE_FILE, false, "hf-safetensors", FormatId::Safetensors),
        (
            BIN_INDEX_FILE,
            true,
            "hf-pytorch-sharded",
            FormatId::PyTorch,
        ),
        (BIN_FILE, false, "hf-pytorch", FormatId::PyTorch),
    ];
    let Some((name, sharded, layout, format)) = candidates
        .iter()
        .find(|(n, ..)| fsx::is_regular(&dir.join(n)))
    else {
        let found = list_weight_like(dir)?;
        let detail = if found.is_empty() {
            "no model weights found (expected model.safetensors, pytorch_model.bin or their .index.json)".to_string()
        } else {
            format!(
                "no model.safetensors, pytorch_model.bin or shard index here; found {}. Give one of these files as the source to convert it alone",
                found.join(", ")
            )
        };
        return Err(Error::Unsupported {
            path: dir.to_path_buf(),
            detail,
        });
    };
    model.format = *format;
    model.layout = layout.to_string();
    let path = dir.join(name);
    if *sharded {
        read_sharded(&path, dir, &mut model, &mut weight_files)?;
    } else {
        let mut wf = weights::read(&path, false)?;
        wf.merge_info(&mut model);
        model.tensors = wf.tensors;
        model.source_files.push(SourceFile {
            path,
            size: wf.size,
        });
        weight_files.push(name.to_string());
    }

    let config_path = dir.join("config.json");
    if fsx::is_regular(&config_path) {
        let text = fsx::read_input_string(&config_path, MAX_CONFIG_BYTES)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid(&config_path, InvalidKind::HeaderNotJson, e.to_string()))?;
        model.config = Some(value);
    }
    collect_aux(dir, &weight_files, &mut model)?;
    model.aux_files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok(model)
}

fn list_weight_like(dir: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_weight_file(&name) {
            found.push(name);
        }
    }
    found.sort();
    Ok(found)
}

/// True if `name` looks like a weight file of any format (never carried over).
pub fn is_weight_file(name: &str) -> bool {
    let torch = name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| crate::pytorch::EXTENSIONS.contains(&ext));
    torch || WEIGHT_SUFFIXES.iter().any(|s| name.ends_with(s)) || name.contains(".modelconv-")
}

fn read_sharded(
    index_path: &Path,
    dir: &Path,
    model: &mut Model,
    weight_files: &mut Vec<String>,
) -> Result<()> {
    let text = fsx::read_input_string(index_path, MAX_INDEX_BYTES)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(index_path, InvalidKind::HeaderNotJson, e.to_string()))?;
    let weight_map = value
        .as_object()
        .and_then(|o| o.get("weight_map"))
        .and_then(|w| w.as_object())
        .ok_or_else(|| {
            Error::invalid(
                index_path,
                InvalidKind::HeaderNotObject,
                "expected an object with a \"weight_map\" object",
            )
        })?;
    // Shard names (read in sorted order) and where each tensor should be.
    let mut shards: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut expected: HashMap<String, String> = HashMap::new();
    for (tensor, shard) in weight_map {
        let shard = shard.as_str().ok_or_else(|| {
            Error::invalid(
                index_path,
                InvalidKind::HeaderNotObject,
                "weight_map values must be file names",
            )
            .with_tensor(tensor)
        })?;
        check_relative(shard).map_err(|why| {
            Error::invalid(
                index_path,
                InvalidKind::PathTraversal,
                format!("shard path '{shard}' {why}"),
            )
            .with_tensor(tensor)
        })?;
        shards.insert(shard.to_string());
        expected.insert(tensor.clone(), shard.to_string());
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for shard in &shards {
        let path = dir.join(shard);
        if !path.is_file() {
            return Err(Error::invalid(
                index_path,
                InvalidKind::MissingShard,
                format!("shard '{shard}' named by the index does not exist"),
            ));
        }
        let mut st = weights::read(&path, false)?;
        for t in &st.tensors {
            let name = &t.info.name;
            if let Some(other) = seen.insert(name.clone(), shard.clone()) {
                return Err(Error::invalid(
                    &path,
                    InvalidKind::DuplicateTensor,
                    format!("also present in shard '{other}'"),
                )
                .with_tensor(name));
            }
            match expected.get(name) {
                Some(s) if s == shard => {}
                Some(s) => {
                    return Err(Error::invalid(
                        &path,
                        InvalidKind::ShardMismatch,
                        format!("the index says this tensor is in '{s}'"),
                    )
                    .with_tensor(name))
                }
                None => {
                    return Err(Error::invalid(
                        &path,
                        InvalidKind::ShardMismatch,
                        "tensor is not listed in the index",
                    )
                    .with_tensor(name))
                }
            }
        }
        st.merge_info(model);
        model.tensors.append(&mut st.tensors);
        model.source_files.push(SourceFile {
            path,
            size: st.size,
        });
        weight_files.push(shard.clone());
    }
    // Tied tensors written once by the reader count as present.
    let aliased: HashSet<&str> = model.aliases.iter().map(|(a, _)| a.as_str()).collect();
    if let Some((tensor, shard)) = expected
        .iter()
        .find(|(t, _)| !seen.contains_key(*t) && !aliased.contains(t.as_str()))
    {
        return Err(Error::invalid(
            index_path,
            InvalidKind::ShardMismatch,
            format!("the index lists this tensor in '{shard}', which does not contain it"),
        )
        .with_tensor(tensor));
    }
    model.source_files.push(SourceFile {
        path: index_path.to_path_buf(),
        size: text.len() as u64,
    });
    weight_files.push(
        index_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    Ok(())
}

/// A path from an index must be relative and stay inside the directory.
fn check_relative(p: &str) -> std::result::Result<(), &'static str> {
    if p.is_empty() {
        return Err("is empty");
    }
    if p.contains('\\') || p.contains('\0') {
        return Err("contains a backslash or NUL");
    }
    let path = Path::new(p);
    for c in path.components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Err("leaves the model directory"),
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
            Component::CurDir => {}
        }
    }
    Ok(())
}

/// The non-weight files of a directory that a conversion carries over
/// (recursively, hidden directories skipped), and weight files of other
/// formats that it does not.
pub fn carried_files(dir: &Path) -> Result<(Vec<AuxFile>, Vec<String>)> {
    let mut model = Model::default();
    collect_aux(dir, &[], &mut model)?;
    model.aux_files.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    Ok((model.aux_files, model.skipped_files))
}

fn collect_aux(root: &Path, weight_files: &[String], model: &mut Model) -> Result<()> {
    // Hidden directories and exported weights of other formats are not entered.
    let weight_dirs = std::cell::RefCell::new(Vec::new());
    let descend = |rel: &str, name: &str| {
        if WEIGHT_DIRS.contains(&name) {
            weight_dirs.borrow_mut().push(format!("{rel}/"));
            return false;
        }
        !name.starts_with('.')
    };
    let limits = fsx::WalkLimits {
        max_depth: MAX_DEPTH,
        ..fsx::WalkLimits::default()
    };
    let entries = fsx::walk(root, &limits, &descend)?;
    model.skipped_files.append(&mut weight_dirs.borrow_mut());
    for entry in entries {
        match entry {
            fsx::Entry::Skipped { rel, reason, why } => {
                if reason != fsx::Skip::Revisited {
                    model.notes.push(format!("not carried over: {rel} ({why})"));
                }
            }
            fsx::Entry::File { rel, path, size } => {
                let name = rel.rsplit('/').next().unwrap_or(&rel);
                if weight_files.contains(&rel) || name.contains(".modelconv-") {
                    continue;
                }
                if is_weight_file(name) {
                    model.skipped_files.push(rel);
                    continue;
                }
                if model.aux_files.len() >= MAX_AUX_FILES {
                    return Err(Error::Unsupported {
                        path: root.to_path_buf(),
                        detail: format!(
                            "more than {MAX_AUX_FILES} non-weight files; is this a model directory?"
                        ),
                    });
                }
                model.aux_files.push(AuxFile::carried(rel, path, size));
            }
        }
    }
    Ok(())
}

/// Parses a shard size: plain bytes, or a number with KB/MB/GB/TB (powers
/// of 1000, as transformers) or KiB/MiB/GiB/TiB (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" | "K" => 1_000,
        "MB" | "M" => 1_000_000,
        "GB" | "G" => 1_000_000_000,
        "TB" | "T" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        _ => {
            return Err(Error::InvalidOption(format!(
                "invalid size '{s}': unknown unit '{unit}'"
            )))
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| Error::InvalidOption(format!("invalid size '{s}'")))?;
    let bytes = (value * mult as f64).floor();
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(Error::InvalidOption(format!(
            "invalid size '{s}': must be at least 1 byte"
        )));
    }
    Ok(bytes as u64)
}

/// Groups tensors into shards: greedy in order; a new shard starts when the
/// next tensor would push the current one past `max` bytes; a tensor larger
/// than `max` gets a shard of its own.
pub fn split_shards(tensors: &[OutTensor], max: Option<u64>) -> Vec<Vec<&OutTensor>> {
    let mut shards: Vec<Vec<&OutTensor>> = vec![Vec::new()];
    let mut current = 0u64;
    for t in tensors {
        let n = t.info.nbytes() as u64;
        if let (Some(max), Some(last)) = (max, shards.last()) {
            if !last.is_empty() && current + n > max {
                shards.push(Vec::new());
                current = 0;
            }
        }
        current += n;
        if let Some(last) = shards.last_mut() {
            last.push(t);
        }
    }
    shards
}

#[derive(Serialize)]
struct Index<'a> {
    metadata: IndexMeta,
    weight_map: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct IndexMeta {
    total_parameters: u64,
    total_size: u64,
}

/// Plans safetensors output: `stem.safetensors` alone, or `stem-0000i-of-0000n.safetensors`
/// shards plus `index_name`. Returns the planned files (index last).
pub fn plan_safetensors_files(
    tensors: &[OutTensor],
    metadata: &BTreeMap<String, String>,
    max_shard_size: Option<u64>,
    stem: &str,
    index_name: &str,
) -> Result<Vec<PlannedFile>> {
    let shards = split_shards(tensors, max_shard_size);
    let mut files = Vec::new();
    if shards.len() == 1 {
        let all: Vec<&OutTensor> = tensors.iter().collect();
        files.push(PlannedFile {
            rel_path: format!("{stem}.safetensors"),
            content: safetensors::layout(&all, metadata)?,
        });
        return Ok(files);
    }
    let n = shards.len();
    let mut weight_map = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        let name = format!("{stem}-{:05}-of-{n:05}.safetensors", i + 1);
        for t in shard {
            weight_map.insert(t.info.name.as_str(), name.clone());
        }
        files.push(PlannedFile {
            rel_path: name,
            content: safetensors::layout(shard, metadata)?,
        });
    }
    let index = Index {
        metadata: IndexMeta {
            total_parameters: tensors.iter().map(|t| t.info.numel() as u64).sum(),
            total_size: tensors.iter().map(|t| t.info.nbytes() as u64).sum(),
        },
        weight_map,
    };
    let mut text =
        serde_json::to_string_pretty(&index).map_err(|e| Error::Internal(e.to_string()))?;
    text.push('\n');
    files.push(PlannedFile {
        rel_path: index_name.to_string(),
        content: FileContent::Bytes(text.into_bytes()),
    });
    Ok(files)
}

/// The metadata written to output safetensors files: the source's
/// `__metadata__`, with `format: pt` added when absent (transformers
/// refuses files without a known format).
pub fn output_metadata(model: &Model) -> BTreeMap<String, String> {
    let mut meta = model.metadata.clone();
    meta.entry("format".into()).or_insert_with(|| "pt".into());
    meta
}

/// Plans an HF directory: carried files first, then weights, index last.
pub fn plan_dir(
    model: &Model,
    tensors: &[OutTensor],
    dir: &Path,
    max_shard_size: Option<u64>,
) -> Result<OutputPlan> {
    let mut files: Vec<PlannedFile> = model
        .aux_files
        .iter()
        .map(|a| PlannedFile {
            rel_path: a.rel_path.clone(),
            content: a.content(),
        })
        .collect();
    files.extend(plan_safetensors_files(
        tensors,
        &output_metadata(model),
        max_shard_size,
        "model",
        INDEX_FILE,
    )?);
    Ok(OutputPlan {
        root: dir.to_path_buf(),
        name: "model".into(),
        files,
    })
}

/// Plans a single `.safetensors` file target (shards beside it when needed).
pub fn plan_file(
    model: &Model,
    tensors: &[OutTensor],
    file: &Path,
    max_shard_size: Option<u64>,
) -> Result<OutputPlan> {
    let (root, fname) = modelconv_core::split_file_path(file)?;
    let stem = fname
        .strip_suffix(".safetensors")
        .unwrap_or(&fname)
        .to_string();
    let files = plan_safetensors_files(
        tensors,
        &output_metadata(model),
        max_shard_size,
        &stem,
        &format!("{stem}.safetensors.index.json"),
    )?;
    Ok(OutputPlan {
        root,
        name: fname,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() -> Result<()> {
        assert_eq!(parse_size("5GB")?, 5_000_000_000);
        assert_eq!(parse_size("2GiB")?, 2 << 30);
        assert_eq!(parse_size("20MB")?, 20_000_000);
        assert_eq!(parse_size("1.5KB")?, 1500);
        assert_eq!(parse_size("123")?, 123);
        assert!(parse_size("5XB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("").is_err());
        Ok(())
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative("model-00001-of-00002.safetensors").is_ok());
        assert!(check_relative("sub/x.safetensors").is_ok());
        assert!(check_relative("../x.safetensors").is_err());
        assert!(check_relative("a/../../x").is_err());
        assert!(check_relative("/etc/passwd").is_err());
        assert!(check_relative("").is_err());
        assert!(check_relative("a\\..\\b").is_err());
    }
}
