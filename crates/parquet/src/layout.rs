//! The seeds' output layout and its reverse:
//!
//! ```text
//! OUT_DIR/weights.parquet   the weights
//! OUT_DIR/metadata.json     model_name, model_type, architecture, config, total_parameters,
//!                           num_weight_tensors, layer_info, converted_at, converter_version,
//!                           compression, schema, sizes, per-tensor sha256
//! OUT_DIR/tokenizer/        tokenizer files
//! OUT_DIR/...               every other carried file (config.json, modules.json, 1_Pooling/, ...)
//! ```
//!
//! Reading such a directory gives back a model whose carried files are the
//! original ones (tokenizer files moved back to the top level), so Parquet →
//! HF directory restores config, tokenizer and sentence-transformers files.
//!
//! `converted_at` is the time of conversion, or `SOURCE_DATE_EPOCH` when set
//! (for reproducible output).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use modelconv_core::engine::{
    FileContent, OutTensor, OutputPlan, PlannedFile, StreamOut, StreamStats, StreamWriter,
};
use modelconv_core::error::{Error, IoContext, Result};
use modelconv_core::json::WithEntry;
use modelconv_core::model::{AuxFile, SourceFile};
use modelconv_core::progress::Reporter;
use modelconv_core::{Model, OutputTarget};
use serde_json::json;

use crate::reader;
use crate::writer::{ParquetFile, ParquetOptions, ParquetSummary, TensorRecord};

/// Weights file name in the seeds' layout.
pub const WEIGHTS_FILE: &str = "weights.parquet";
/// Sidecar file name in the seeds' layout.
pub const METADATA_FILE: &str = "metadata.json";
/// Tokenizer directory in the seeds' layout.
pub const TOKENIZER_DIR: &str = "tokenizer";

const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "preprocessor_config.json",
];

fn is_tokenizer_file(rel: &str) -> bool {
    !rel.contains('/') && TOKENIZER_FILES.contains(&rel)
}

/// Key-value metadata stored in the Parquet footer.
fn key_values(model: &Model) -> BTreeMap<String, String> {
    let mut kv = BTreeMap::new();
    if let Some(c) = &model.config {
        kv.insert("modelconv.config".into(), c.to_string());
    }
    if let Some(a) = model.architecture() {
        kv.insert("modelconv.architecture".into(), a);
    }
    if let Some(t) = model.model_type() {
        kv.insert("modelconv.model_type".into(), t);
    }
    kv.insert("modelconv.source_format".into(), model.format_description());
    kv.insert(
        "modelconv.source".into(),
        model
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    for (k, v) in &model.metadata {
        kv.insert(format!("safetensors.{k}"), v.clone());
    }
    kv
}

/// Plans Parquet output: a `.parquet` file, or the seeds' directory layout.
///
/// `family_fields` (from the family layer: `model_type`, `architecture`,
/// `family`, `key_map`, the seeds' `config` summary, `hf_config`, ...)
/// override the plain values in `metadata.json`; `family` and `key_map`
/// are also stored in the footer.
pub fn plan(
    model: &Model,
    tensors: &[OutTensor],
    target: &OutputTarget,
    options: &ParquetOptions,
    family_fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<OutputPlan> {
    let mut kv = key_values(model);
    for key in ["family", "key_map", "component"] {
        if let Some(v) = family_fields.get(key).and_then(|v| v.as_str()) {
            kv.insert(format!("modelconv.{key}"), v.to_string());
        }
    }
    let file = Arc::new(ParquetFile::new(tensors.to_vec(), options.clone(), kv));
    match target {
        OutputTarget::File(path) => {
            let (root, name) = modelconv_core::split_file_path(path)?;
            Ok(OutputPlan {
                root,
                name: name.clone(),
                files: vec![PlannedFile {
                    rel_path: name,
                    content: FileContent::Streamed(file),
                }],
            })
        }
        OutputTarget::Directory(dir) => {
            // metadata.json and weights.parquet are written here; a carried
            // file of either name (a re-conversion) is replaced.
            let mut files: Vec<PlannedFile> = model
                .aux_files
                .iter()
                .filter(|a| a.rel_path != METADATA_FILE && a.rel_path != WEIGHTS_FILE)
                .map(|a| PlannedFile {
                    rel_path: if is_tokenizer_file(&a.rel_path) {
                        format!("{TOKENIZER_DIR}/{}", a.rel_path)
                    } else {
                        a.rel_path.clone()
                    },
                    content: a.content(),
                })
                .collect();
            let sidecar = MetadataJson {
                summary: Arc::clone(&file.summary),
                weights: dir.join(WEIGHTS_FILE),
                model_name: model_name(model),
                model_type: model.model_type(),
                architecture: model.architecture(),
                config: model.config.clone(),
                source_size: model.source_size_bytes(),
                compression: options.codec.name(),
                schema: file.schema().name(),
                family_fields: family_fields.clone(),
            };
            files.push(PlannedFile {
                rel_path: WEIGHTS_FILE.into(),
                content: FileContent::Streamed(file),
            });
            files.push(PlannedFile {
                rel_path: METADATA_FILE.into(),
                content: FileContent::Streamed(Arc::new(sidecar)),
            });
            Ok(OutputPlan {
                root: dir.clone(),
                name: "weights".into(),
                files,
            })
        }
    }
}

fn model_name(model: &Model) -> String {
    model
        .config
        .as_ref()
        .and_then(|c| c.get("_name_or_path"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            model
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

/// The seeds' `metadata.json`, written after `weights.parquet`.
#[derive(Debug)]
struct MetadataJson {
    summary: Arc<Mutex<Option<ParquetSummary>>>,
    weights: PathBuf,
    model_name: String,
    model_type: Option<String>,
    architecture: Option<String>,
    config: Option<serde_json::Value>,
    source_size: u64,
    compression: String,
    schema: &'static str,
    family_fields: serde_json::Map<String, serde_json::Value>,
}

impl StreamWriter for MetadataJson {
    fn size_hint(&self) -> u64 {
        1 << 20
    }

    fn identity(&self) -> String {
        format!(
            "metadata.json:{}:{}:{}",
            self.model_name, self.compression, self.schema
        )
    }

    fn write(&self, out: &mut StreamOut, _reporter: &dyn Reporter) -> Result<StreamStats> {
        let summary = self
            .summary
            .lock()
            .map_err(|_| Error::Internal("summary lock poisoned".into()))?
            .clone()
            .ok_or_else(|| {
                Error::Internal("metadata.json planned before weights.parquet".into())
            })?;
        // The weights file is complete (renamed) by now.
        let file_size = std::fs::metadata(&self.weights).at(&self.weights)?.len();
        let total: u64 = summary.tensors.iter().map(|t| t.num_params).sum();
        let mut doc = json!({
            "model_name": self.model_name,
            "model_type": self.model_type,
            "architecture": self.architecture,
            "config": self.config,
            "total_parameters": total,
            "num_weight_tensors": summary.tensors.len(),
            "layer_info": null,
            "converted_at": modelconv_core::timestamp::converted_at(),
            "converter_version": format!("modelconv {}", env!("CARGO_PKG_VERSION")),
            "compression": self.compression,
            "parquet_schema": self.schema,
            "weights_file": WEIGHTS_FILE,
            "file_size_bytes": file_size,
            "file_size_mb": file_size as f64 / (1024.0 * 1024.0),
            "original_size_bytes": self.source_size,
            "compression_ratio": if file_size > 0 { self.source_size as f64 / file_size as f64 } else { 0.0 },
            "row_groups": summary.row_groups,
        });
        if let Some(obj) = doc.as_object_mut() {
            for (k, v) in &self.family_fields {
                obj.insert(k.clone(), v.clone());
            }
        }
        let doc = match doc {
            serde_json::Value::Object(m) => m,
            _ => return Err(Error::Internal("metadata.json is not an object".into())),
        };
        let full = WithEntry {
            doc: &doc,
            key: "layer_info",
            value: LayerInfo(&summary.tensors),
        };
        serde_json::to_writer_pretty(&mut *out, &full)
            .map_err(std::io::Error::from)
            .at(self.weights.with_file_name(METADATA_FILE))?;
        out.write_all(b"\n")
            .at(self.weights.with_file_name(METADATA_FILE))?;
        Ok(StreamStats::default())
    }
}

/// Reads a `.parquet` file into a model.
pub fn read_parquet_file(path: &Path) -> Result<Model> {
    let w = reader::read_file(path)?;
    let config = w
        .key_values
        .get("modelconv.config")
        .and_then(|c| serde_json::from_str(c).ok());
    let metadata = w
        .key_values
        .iter()
        .filter_map(|(k, v)| {
            if k.starts_with("modelconv.") && k != "modelconv.config" {
                return Some((k.clone(), v.clone()));
            }
            k.strip_prefix("safetensors.")
                .map(|k| (k.to_string(), v.clone()))
        })
        .collect();
    Ok(Model {
        format: modelconv_core::FormatId::Parquet,
        layout: format!("parquet-{}", w.schema.name()),
        root: path.to_path_buf(),
        tensors: w.tensors,
        config,
        metadata,
        source_files: vec![SourceFile {
            path: path.to_path_buf(),
            size: w.size,
        }],
        ..Model::default()
    })
}

/// True if `dir` is in the seeds' layout.
pub fn is_parquet_dir(dir: &Path) -> bool {
    dir.join(WEIGHTS_FILE).is_file()
}

/// Reads the seeds' directory layout. `carried` are the directory's other
/// files (from the HF reader's walk); tokenizer files move back to the top
/// level and `metadata.json` is dropped.
pub fn read_parquet_dir(dir: &Path, carried: Vec<AuxFile>) -> Result<Model> {
    let mut model = read_parquet_file(&dir.join(WEIGHTS_FILE))?;
    model.root = dir.to_path_buf();
    let config_path = dir.join("config.json");
    if modelconv_core::fsx::is_regular(&config_path) {
        let text = modelconv_core::fsx::read_input_string(&config_path, 64 << 20)?;
        model.config = serde_json::from_str(&text).ok().or(model.config);
    } else if model.config.is_none() {
        let meta = dir.join(METADATA_FILE);
        if let Ok(text) = modelconv_core::fsx::read_input_string(&meta, 256 << 20) {
            model.config = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    // `hf_config` is the full config.json; older files only
                    // have `config`.
                    let full = v.get("hf_config").filter(|c| c.is_object());
                    full.or_else(|| v.get("config")).cloned()
                })
                .filter(|c| c.is_object());
        }
    }
    // Tokenizer files go back to the top level (only those: anything else
    // under tokenizer/ stays where it is); two files landing on one name
    // is an error, never a silent replacement.
    let mut aux: Vec<AuxFile> = carried
        .into_iter()
        .filter(|a| a.rel_path != METADATA_FILE)
        .map(|mut a| {
            if let Some(rest) = a.rel_path.strip_prefix(&format!("{TOKENIZER_DIR}/")) {
                if is_tokenizer_file(rest) {
                    a.rel_path = rest.to_string();
                }
            }
            a
        })
        .collect();
    aux.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    if let Some(w) = aux.windows(2).find(|w| w[0].rel_path == w[1].rel_path) {
        return Err(modelconv_core::Error::invalid(
            dir,
            modelconv_core::InvalidKind::DuplicateKey,
            format!(
                "{TOKENIZER_DIR}/{0} and {0} would both be restored as {0}",
                w[0].rel_path
            ),
        ));
    }
    // The config lives in the footer when config.json was not carried.
    if !aux.iter().any(|a| a.rel_path == "config.json") {
        if let Some(_c) = &model.config {
            model
                .notes
                .push("config.json restored from the Parquet metadata".into());
        }
    }
    aux.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
    model.aux_files = aux;
    Ok(model)
}

/// `layer_info` with each tensor's SHA-256, written from the summary.
struct LayerInfo<'a>(&'a [TensorRecord]);

impl serde::Serialize for LayerInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(serde::Serialize)]
        struct Entry<'a> {
            shape: &'a [usize],
            dtype: &'a str,
            num_params: u64,
            sha256: &'a str,
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for t in self.0 {
            m.serialize_entry(
                &t.name,
                &Entry {
                    shape: &t.shape,
                    dtype: &t.dtype,
                    num_params: t.num_params,
                    sha256: &t.sha256,
                },
            )?;
        }
        m.end()
    }
}
