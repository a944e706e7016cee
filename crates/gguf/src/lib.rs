//! GGUF for modelconv: the container ([`container`], [`writer`]), ggml types
//! ([`types`]), block quantization ([`quant`]), and the conversion between
//! Hugging Face models and llama.cpp's layout ([`convert`]).
//!
//! Status: the container reads every GGUF (all value and ggml types) and
//! writes v3. Kernels ([`quant`]): F32/F16/BF16, the legacy quants, the
//! k-quants, TQ1_0/TQ2_0, MXFP4, Q1_0 and Q2_0 are quantized and
//! dequantized; NVFP4 and every IQ type are dequantized; Q8_1 (an
//! activation type nothing dequantizes) is carried as raw blocks. The converter (`--quant`) writes
//! llama-quantize's presets (Q2_K … Q6_K, Q4_0 … Q8_0, F16, BF16, F32) with
//! the same per-tensor type mix ([`preset`]) and `--tensor-type` overrides.
//!
//! Main entry points: [`read`] → [`GgufFile`] (metadata, [`TensorEntry`]s,
//! [`GgufFile::tensor_data`], [`GgufFile::dequantize`]), [`tensor_source`]
//! (a zero-copy or dequantizing [`TensorSource`]), [`writer::header`] /
//! [`writer::layout`] / [`writer::write_to`], [`quant::quantize`] /
//! [`quant::dequantize`] and their `_par` forms.

pub mod container;
pub mod convert;
pub mod preset;
pub mod quant;
pub mod split;
pub mod spm;
pub mod types;
pub mod vocab;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use modelconv_core::model::SourceFile;
use modelconv_core::tensor::{MmapSlice, Tensor, TensorInfo};
use modelconv_core::{DType, Error, Model, Result, TensorSource};

pub use container::{read, GgufFile, StrArray, TensorEntry, Value};
pub use types::GgmlType;

/// The source of one GGUF tensor: zero-copy for plain types (F32, F16,
/// BF16, F64, I8–I64 map to their [`DType`]), dequantized to f32 (block by
/// block, on demand) for types with a kernel, the raw blocks as U8 otherwise.
pub fn tensor_source(file: &GgufFile, t: &TensorEntry) -> Result<(DType, Arc<dyn TensorSource>)> {
    let raw: Arc<dyn TensorSource> = Arc::new(MmapSlice::new(
        Arc::clone(&file.map),
        file.tensor_range(t)?,
    )?);
    if let Some(dt) = t.ggml_type.dtype() {
        return Ok((dt, raw));
    }
    if quant::can_dequantize(t.ggml_type) {
        return Ok((
            DType::F32,
            Arc::new(quant::DequantSource::new(
                raw,
                t.ggml_type,
                t.numel() as usize,
            )?),
        ));
    }
    Ok((DType::U8, raw))
}

/// What the GGUF reader parsed, kept on the [`Model`] as its native state
/// so nothing is parsed twice: the header (the first part's metadata, split
/// keys removed, with every part's tensor entries) and each tensor's stored
/// bytes as a zero-copy slice of its part, in the same order (for copying
/// tensors as stored: split, merge).
#[derive(Debug)]
pub struct GgufSource {
    /// The merged header (its data offsets belong to different parts: use
    /// `raw` for the bytes).
    pub file: GgufFile,
    /// The stored bytes of `file.tensors[i]`.
    pub raw: Vec<Arc<dyn TensorSource>>,
    /// Number of parts read.
    pub parts: usize,
}

/// Reads a GGUF file as a model: tensors under their GGUF names (see
/// [`convert::to_hf`] for Hugging Face names), metadata as strings. The
/// first part of a split model reads all parts ([`split::read_parts`]).
pub fn read_model(path: &Path) -> Result<(Model, GgufSource)> {
    let parts = split::read_parts(path)?;
    let n_parts = parts.len();
    let mut raw: Vec<Arc<dyn TensorSource>> = Vec::new();
    let mut model = Model {
        format: modelconv_core::FormatId::Gguf,
        root: path.to_path_buf(),
        ..Model::default()
    };
    for file in &parts {
        model.source_files.push(SourceFile {
            path: file.path.clone(),
            size: file.map.len() as u64,
        });
        model.notes.extend(file.warnings.iter().cloned());
        let shared_path: Arc<Path> = Arc::from(file.path.as_path());
        for t in &file.tensors {
            raw.push(Arc::new(MmapSlice::new(
                Arc::clone(&file.map),
                file.tensor_range(t)?,
            )?));
            let (dtype, source) = tensor_source(file, t)?;
            let shape = if dtype == DType::U8 {
                model.notes.push(format!(
                    "tensor '{}' is {} (read and carried as raw blocks; converting it to floats is not supported yet)",
                    t.name, t.ggml_type
                ));
                vec![t.nbytes as usize]
            } else {
                t.shape()
            };
            model.tensors.push(Tensor {
                info: TensorInfo {
                    name: t.name.clone(),
                    dtype,
                    shape,
                },
                source,
                file: Arc::clone(&shared_path),
            });
        }
    }
    let mut parts = parts.into_iter();
    let Some(mut file) = parts.next() else {
        return Err(Error::Internal("no GGUF part read".into()));
    };
    for p in parts {
        file.tensors.extend(p.tensors);
    }
    file.metadata.retain(|(k, _)| !split::is_split_key(k));
    model.layout = format!("gguf-v{}", file.version);
    for (k, v) in &file.metadata {
        model.metadata.insert(
            k.clone(),
            match v {
                Value::Str(s) => s.clone(),
                other => other.display_short(),
            },
        );
    }
    Ok((
        model,
        GgufSource {
            file,
            raw,
            parts: n_parts,
        },
    ))
}
