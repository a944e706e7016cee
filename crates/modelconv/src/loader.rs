//! `WeightLoader`: read tensors of any supported model by name.
//!
//! Opens a file, directory or cached hub id like `convert` does, lists the
//! tensors, and returns one tensor's bytes (zero-copy from the memory map
//! where the format stores it contiguously) or its values as f32 — casting
//! F16/BF16/F8/F64, and dequantizing int8/uint8 tensors that carry
//! `NAME_scale` (and `NAME_zero_point`) companions, as Parquet V2 files and
//! quantized checkpoints do.

use std::borrow::Cow;
use std::collections::HashMap;

use modelconv_core::cast::cast;
use modelconv_core::{DType, Error, Model, Result, Tensor, TensorInfo};

use crate::source;

/// Tensors of one model, by name.
#[derive(Debug)]
pub struct WeightLoader {
    model: Model,
    index: HashMap<String, usize>,
}

impl WeightLoader {
    /// Opens `src` (a path or a cached hub id).
    pub fn open(src: &str) -> Result<Self> {
        Ok(Self::from_model(source::open(src)?))
    }

    /// Opens `src` and refuses it, before indexing its tensors, if it
    /// would amplify beyond the limits of
    /// [`Model::check_amplification`] (unless `allow_amplification`).
    pub fn open_checked(src: &str, allow_amplification: bool) -> Result<Self> {
        let model = source::open(src)?;
        model.check_amplification(allow_amplification)?;
        Ok(Self::from_model(model))
    }

    /// Wraps a model that was already read.
    pub fn from_model(model: Model) -> Self {
        let index = model
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.info.name.clone(), i))
            .collect();
        WeightLoader { model, index }
    }

    /// The underlying model (config, carried files, metadata).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Tensor descriptions in source order.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorInfo> {
        self.model.tensors.iter().map(|t| &t.info)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.model.tensors.len()
    }

    /// True if there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.model.tensors.is_empty()
    }

    /// True if a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn tensor(&self, name: &str) -> Result<&Tensor> {
        match self.index.get(name) {
            Some(&i) => Ok(&self.model.tensors[i]),
            None => {
                let mut close: Vec<&str> = self
                    .index
                    .keys()
                    .filter(|k| k.ends_with(name) || name.ends_with(k.as_str()) || k.contains(name))
                    .map(String::as_str)
                    .collect();
                close.sort_unstable();
                close.truncate(3);
                Err(Error::TensorNotFound {
                    source_path: self.model.root.clone(),
                    name: name.to_string(),
                    hint: if close.is_empty() {
                        String::new()
                    } else {
                        format!(" (similar: {})", close.join(", "))
                    },
                })
            }
        }
    }

    /// Description of one tensor.
    pub fn info(&self, name: &str) -> Result<&TensorInfo> {
        Ok(&self.tensor(name)?.info)
    }

    /// The lossy encoding a tensor's values are decoded from (a GGUF quant
    /// type), if any (see [`modelconv_core::TensorSource::encoding`]).
    pub fn encoding(&self, name: &str) -> Result<Option<String>> {
        Ok(self.tensor(name)?.source.encoding())
    }

    /// The raw little-endian, C-ordered bytes of a tensor (borrowed from the
    /// memory map when the format allows).
    pub fn get(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        let t = self.tensor(name)?;
        t.source.read(0..t.source.len())
    }

    /// The file and byte range holding a tensor's bytes, when it is stored
    /// contiguously and uncompressed (safetensors, torch zip/legacy, npy,
    /// stored npz members) — for zero-copy memory maps.
    pub fn file_range(
        &self,
        name: &str,
    ) -> Result<Option<(std::path::PathBuf, std::ops::Range<usize>)>> {
        Ok(self.tensor(name)?.source.file_range())
    }

    /// A tensor's values as f32: float tensors are cast (exactly for
    /// F16/BF16/F8, rounded for F64); int8/uint8 tensors with a `NAME_scale`
    /// companion are dequantized as `(q − zero_point) × scale`; other integer
    /// and bool tensors are converted value by value.
    pub fn get_f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        let bytes = self.get(name)?;
        let dtype = t.info.dtype;
        if dtype.is_float() {
            let mut out = vec![0u8; t.info.numel() * 4];
            cast(dtype, DType::F32, &bytes, &mut out)
                .map_err(|e| Error::Internal(e.to_string()))?;
            return Ok(out
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
        let ints: Vec<f64> = int_values(dtype, &bytes);
        let scale_name = [format!("{name}_scale"), format!("{name}.scale")]
            .into_iter()
            .find(|n| self.contains(n));
        if let (Some(sn), DType::I8 | DType::U8) = (scale_name, dtype) {
            let scales = self.get_f32(&sn)?;
            let zp_name = [format!("{name}_zero_point"), format!("{name}.zero_point")]
                .into_iter()
                .find(|n| self.contains(n));
            let zps: Vec<f64> = match zp_name {
                Some(z) => {
                    let zt = self.tensor(&z)?;
                    int_values(zt.info.dtype, &self.get(&z)?)
                }
                None => vec![0.0; scales.len()],
            };
            if zps.len() != scales.len() {
                return Err(Error::InvalidOption(format!(
                    "tensor '{name}': {} scales but {} zero points",
                    scales.len(),
                    zps.len()
                )));
            }
            // Per tensor, or per channel along the first axis whose size matches.
            let shape = &t.info.shape;
            let (channels, inner) = if scales.len() == 1 {
                (1, 1)
            } else {
                let axis = shape
                    .iter()
                    .position(|&d| d == scales.len())
                    .ok_or_else(|| {
                        Error::InvalidOption(format!(
                            "tensor '{name}': {} scales match no dimension of {shape:?}",
                            scales.len()
                        ))
                    })?;
                (
                    scales.len(),
                    shape.iter().skip(axis + 1).product::<usize>().max(1),
                )
            };
            return Ok(ints
                .iter()
                .enumerate()
                .map(|(i, &q)| {
                    let c = (i / inner) % channels;
                    ((q - zps[c]) * f64::from(scales[c])) as f32
                })
                .collect());
        }
        Ok(ints.into_iter().map(|v| v as f32).collect())
    }

    /// Every tensor as f32 (see [`WeightLoader::get_f32`]), in source order.
    /// Holds the whole model in memory: prefer [`WeightLoader::get_f32`] for large models.
    pub fn load_all_f32(&self) -> Result<Vec<(String, Vec<f32>)>> {
        self.model
            .tensors
            .iter()
            .map(|t| Ok((t.info.name.clone(), self.get_f32(&t.info.name)?)))
            .collect()
    }
}

fn int_values(dtype: DType, b: &[u8]) -> Vec<f64> {
    match dtype {
        DType::Bool | DType::U8 => b.iter().map(|&x| f64::from(x)).collect(),
        DType::I8 => b.iter().map(|&x| f64::from(x as i8)).collect(),
        DType::I16 => b
            .chunks_exact(2)
            .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::U16 => b
            .chunks_exact(2)
            .map(|c| f64::from(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        DType::I32 => b
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::U32 => b
            .chunks_exact(4)
            .map(|c| f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I64 => b
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64)
            .collect(),
        DType::U64 => b
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64)
            .collect(),
        _ => Vec::new(),
    }
}
