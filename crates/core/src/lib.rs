//! Core of modelconv: the tensor model every format shares.
//!
//! - [`dtype`]: element types;
//! - [`tensor`]: tensor descriptions and zero-copy byte sources;
//! - [`model`]: the manifest readers produce and writers consume;
//! - [`cast`]: exact float casts;
//! - [`engine`]: the streaming, atomic, resumable write engine;
//! - [`progress`]: the reporter trait (libraries never print);
//! - [`error`]: the typed error shared by all library crates.

pub mod cast;
pub mod checksum;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod format;
pub mod fsx;
pub mod json;
pub mod model;
pub mod progress;
pub mod quant;
pub mod tensor;
pub mod timestamp;

pub use dtype::DType;
pub use error::{Category, Error, InvalidKind, Result};
pub use format::FormatId;
pub use model::Model;
pub use tensor::{Tensor, TensorInfo, TensorSource};

use std::path::{Path, PathBuf};

/// Where a conversion writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// One file (sharded parts, if any, go beside it).
    File(PathBuf),
    /// A directory in the format's usual layout.
    Directory(PathBuf),
}

impl OutputTarget {
    /// The path the user gave.
    pub fn path(&self) -> &Path {
        match self {
            OutputTarget::File(p) | OutputTarget::Directory(p) => p,
        }
    }
}

/// Splits a file path into the directory it goes in (`.` for a bare name)
/// and its file name — how writers lay out single-file outputs.
pub fn split_file_path(file: &Path) -> Result<(PathBuf, String)> {
    let root = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::InvalidOption(format!("{}: not a file name", file.display())))?;
    Ok((root, name))
}

/// Reads one kind of model source into a [`Model`].
pub trait Reader {
    /// Short format name (`safetensors`, `hf`, ...).
    fn name(&self) -> &'static str;
    /// Reads and validates the source's structure (not its tensor bytes).
    fn read(&self, path: &Path) -> Result<Model>;
}

/// Plans the output of one format; the [`engine`] does the writing.
pub trait Writer {
    /// Short format name.
    fn name(&self) -> &'static str;
    /// Lays out `tensors` (already renamed/cast as requested) and the
    /// model's carried files for `target`.
    fn plan(
        &self,
        model: &Model,
        tensors: &[engine::OutTensor],
        target: &OutputTarget,
    ) -> Result<engine::OutputPlan>;
}
