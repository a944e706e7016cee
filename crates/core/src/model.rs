//! The model manifest: everything a reader found, in one value.
//!
//! Every reader produces a [`Model`]; every writer consumes one. A model is
//! an ordered list of tensors (in the order the source stores them), the
//! parsed `config.json` if there is one, the non-weight files that travel
//! with the weights (tokenizer, sentence-transformers modules, ...) and
//! free-form string metadata (safetensors `__metadata__`, GGUF keys, ...).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::tensor::Tensor;

/// A non-weight file carried unchanged from the source to the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuxFile {
    /// Path relative to the model root, with `/` separators (e.g. `1_Pooling/config.json`).
    pub rel_path: String,
    /// Where to read it from.
    pub source: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// An input file that holds weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// What a reader found.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Short name of the source format (`safetensors`, `hf-safetensors`, ...).
    pub format: String,
    /// The path the user gave (or the resolved hub snapshot).
    pub root: PathBuf,
    /// Tensors in source order.
    pub tensors: Vec<Tensor>,
    /// Parsed `config.json`, if present.
    pub config: Option<serde_json::Value>,
    /// Non-weight files to carry over.
    pub aux_files: Vec<AuxFile>,
    /// Files that hold weights in a format this conversion does not read
    /// (e.g. `pytorch_model.bin` next to `model.safetensors`); not carried.
    pub skipped_files: Vec<String>,
    /// Free-form string metadata (e.g. safetensors `__metadata__`).
    pub metadata: BTreeMap<String, String>,
    /// Weight files read, in order.
    pub source_files: Vec<SourceFile>,
    /// `(alias, kept)`: tensor names that were the very same tensor as an
    /// earlier one (tied weights); only `kept` is in `tensors`.
    pub aliases: Vec<(String, String)>,
    /// Things the reader wants the user to know (checkpoint entries that
    /// hold no weights, ...).
    pub notes: Vec<String>,
    /// Globals referenced by pickled inputs: `module.name` → allowed.
    pub pickle_globals: BTreeMap<String, bool>,
}

impl Model {
    /// Total number of elements over all tensors.
    pub fn total_parameters(&self) -> u64 {
        self.tensors.iter().map(|t| t.info.numel() as u64).sum()
    }

    /// Total tensor bytes.
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.info.nbytes() as u64).sum()
    }

    /// Size of the weight files plus the carried files, in bytes.
    pub fn source_size_bytes(&self) -> u64 {
        self.source_files.iter().map(|f| f.size).sum::<u64>()
            + self.aux_files.iter().map(|f| f.size).sum::<u64>()
    }

    /// The architecture named by `config.json` (`architectures[0]`, else `model_type`).
    pub fn architecture(&self) -> Option<String> {
        let config = self.config.as_ref()?;
        if let Some(a) = config
            .get("architectures")
            .and_then(|a| a.as_array())
            .and_then(|a| a.first())
            .and_then(|a| a.as_str())
        {
            return Some(a.to_string());
        }
        config
            .get("model_type")
            .and_then(|m| m.as_str())
            .map(str::to_string)
    }

    /// `config.json`'s `model_type`, if any.
    pub fn model_type(&self) -> Option<String> {
        self.config
            .as_ref()?
            .get("model_type")
            .and_then(|m| m.as_str())
            .map(str::to_string)
    }
}
