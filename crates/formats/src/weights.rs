//! One weight file of any supported format, read into tensors plus what
//! the reader noticed. Used for single files and for each shard of a
//! directory, so sharded safetensors and sharded PyTorch checkpoints share
//! one code path.

use std::collections::BTreeMap;
use std::path::Path;

use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::model::Model;
use modelconv_core::tensor::Tensor;

use crate::{numpy, pytorch, safetensors};

/// A read weight file.
#[derive(Debug, Default)]
pub struct WeightFile {
    /// Format name.
    pub format: &'static str,
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
    /// Moves notes, globals and metadata into `model` (tensors are left to the caller).
    pub fn merge_info(&mut self, model: &mut Model) {
        model.notes.append(&mut self.notes);
        model.aliases.append(&mut self.aliases);
        model.pickle_globals.append(&mut self.globals);
        if model.metadata.is_empty() {
            model.metadata = std::mem::take(&mut self.metadata);
        }
    }
}

fn head(path: &Path) -> Result<Vec<u8>> {
    modelconv_core::fsx::read_head(path, 16)
}

/// True if the file starts like a PyTorch checkpoint (zip or pickle).
pub fn looks_like_torch(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.first() == Some(&0x80)
}

/// Reads one weight file, choosing the format from its first bytes.
/// `permissive` applies to pickles (see [`pytorch::read_file`]).
pub fn read(path: &Path, permissive: bool) -> Result<WeightFile> {
    let h = head(path)?;
    if safetensors::sniff(&h)
        || (h.len() >= 8 && path.extension().is_some_and(|e| e == "safetensors"))
    {
        let st = safetensors::read_file(path)?;
        return Ok(WeightFile {
            format: "safetensors",
            tensors: st.tensors,
            metadata: st.metadata,
            size: st.size,
            ..WeightFile::default()
        });
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if numpy::sniff_npy(&h) {
        let (tensors, size) = numpy::read_npy(path)?;
        return Ok(WeightFile {
            format: "numpy",
            tensors,
            size,
            ..WeightFile::default()
        });
    }
    if h.starts_with(b"PK") && ext == "npz" {
        let (tensors, size) = numpy::read_npz(path)?;
        return Ok(WeightFile {
            format: "npz",
            tensors,
            size,
            ..WeightFile::default()
        });
    }
    let pickle_ext = matches!(
        ext,
        "pt" | "pth" | "bin" | "ckpt" | "pkl" | "pickle" | "tar"
    );
    if looks_like_torch(&h) || pickle_ext {
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
            format: t.kind.name(),
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
