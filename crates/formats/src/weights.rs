//! One weight file of any supported format, read into tensors plus what
//! the reader noticed. Used for single files and for each shard of a
//! directory, so sharded safetensors and sharded PyTorch checkpoints share
//! one code path.

use std::collections::BTreeMap;
use std::path::Path;

use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::model::Model;
use modelconv_core::tensor::Tensor;
use modelconv_core::FormatId;

use crate::{numpy, pytorch, safetensors};

/// A read weight file.
#[derive(Debug, Default)]
pub struct WeightFile {
    /// Its format.
    pub format: FormatId,
    /// Its layout, for reports (`safetensors`, `pytorch-legacy`, ...).
    pub layout: &'static str,
    /// Tensors in file order.
    pub tensors: Vec<Tensor>,
    /// Free-form metadata (safetensors `__metadata__`).
    pub metadata: BTreeMap<String, String>,
    /// File size.
    pub size: u64,
    /// `(alias, kept)` tied tensors written once.
    pub aliases: Vec<(String, String)>,
    /// Reader notes (skipped entries).
    pub notes: Vec<String>,
    /// Pickle globals referenced, with allowed flags.
    pub globals: BTreeMap<String, bool>,
}

impl WeightFile {
    /// The model of a single weight file at `path`.
    pub fn into_model(mut self, path: &Path) -> Model {
        let mut model = Model {
            format: self.format,
            layout: self.layout.to_string(),
            root: path.to_path_buf(),
            source_files: vec![modelconv_core::model::SourceFile {
                path: path.to_path_buf(),
                size: self.size,
            }],
            ..Model::default()
        };
        self.merge_info(&mut model);
        model.tensors = self.tensors;
        model
    }

    /// Moves notes, globals and metadata into `model` (tensors are left to
    /// the caller). Pickle globals become the model's native state
    /// ([`pytorch::PickleGlobals`]).
    pub fn merge_info(&mut self, model: &mut Model) {
        model.notes.append(&mut self.notes);
        model.aliases.append(&mut self.aliases);
        if !self.globals.is_empty() {
            let mut all = model
                .native::<pytorch::PickleGlobals>()
                .map(|g| g.0.clone())
                .unwrap_or_default();
            all.append(&mut self.globals);
            model.native = Some(std::sync::Arc::new(pytorch::PickleGlobals(all)));
        }
        if model.metadata.is_empty() {
            model.metadata = std::mem::take(&mut self.metadata);
        }
    }
}

/// Reads one weight file, choosing the format from its first bytes.
/// `permissive` applies to pickles (see [`pytorch::read_file`]).
pub fn read(path: &Path, permissive: bool) -> Result<WeightFile> {
    let h = modelconv_core::fsx::read_head(path, 16)?;
    if safetensors::sniff_file(&h, path) {
        let st = safetensors::read_file(path)?;
        return Ok(WeightFile {
            format: FormatId::Safetensors,
            layout: "safetensors",
            tensors: st.tensors,
            metadata: st.metadata,
            size: st.size,
            ..WeightFile::default()
        });
    }
    if numpy::sniff_npy(&h) {
        let (tensors, size) = numpy::read_npy(path)?;
        return Ok(WeightFile {
            format: FormatId::Numpy,
            layout: "numpy",
            tensors,
            size,
            ..WeightFile::default()
        });
    }
    if numpy::sniff_file(&h, path) {
        let (tensors, size) = numpy::read_npz(path)?;
        return Ok(WeightFile {
            format: FormatId::Numpy,
            layout: "npz",
            tensors,
            size,
            ..WeightFile::default()
        });
    }
    if pytorch::sniff_file(&h, path) {
        let t = pytorch::read_file(path, permissive)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut notes = Vec::new();
        match (&t.weights_key, t.skipped.is_empty()) {
            (Some(k), false) => notes.push(format!(
                "{name}: weights taken from '{k}'; other entries not converted: {}",
                t.skipped.join(", ")
            )),
            (None, false) => notes.push(format!(
                "{name}: entries without tensors not converted: {}",
                t.skipped.join(", ")
            )),
            _ => {}
        }
        return Ok(WeightFile {
            format: match t.kind {
                pytorch::TorchKind::TorchScript => FormatId::TorchScript,
                _ => FormatId::PyTorch,
            },
            layout: t.kind.name(),
            tensors: t.tensors,
            size: t.size,
            aliases: t.aliases,
            notes,
            globals: t
                .globals
                .into_iter()
                .map(|(g, s)| (g, s == pytorch::host::GlobalStatus::Allowed))
                .collect(),
            ..WeightFile::default()
        });
    }
    if h.len() < 8 {
        return Err(Error::invalid(
            path,
            InvalidKind::Truncated,
            format!("{} bytes is too short for any weight format", h.len()),
        ));
    }
    Err(Error::invalid(
        path,
        InvalidKind::UnknownFormat,
        "not a safetensors file or a PyTorch checkpoint",
    ))
}
