//! Format detection from a path: directories, magic bytes, file names.

use std::path::Path;

use modelconv_core::error::Result;

/// What a source path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A Hugging Face style model directory.
    HfDirectory,
    /// A single weight file (safetensors, PyTorch, NumPy).
    WeightFile,
    /// A Parquet weights file.
    Parquet,
    /// A directory in the seeds' Parquet layout (`weights.parquet`, `metadata.json`, `tokenizer/`).
    ParquetDirectory,
    /// A GGUF file.
    Gguf,
}

/// Decides what `path` (which exists) holds.
pub fn detect(path: &Path) -> Result<SourceKind> {
    if path.is_dir() {
        let weights = [
            "model.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        ];
        if path.join("weights.parquet").is_file() && !weights.iter().any(|w| path.join(w).is_file())
        {
            return Ok(SourceKind::ParquetDirectory);
        }
        return Ok(SourceKind::HfDirectory);
    }
    let head = modelconv_core::fsx::read_head(path, 16)?;
    if head.starts_with(b"PAR1") {
        return Ok(SourceKind::Parquet);
    }
    if head.starts_with(b"GGUF") {
        return Ok(SourceKind::Gguf);
    }
    Ok(SourceKind::WeightFile)
}
