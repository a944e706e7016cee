//! Block quantization kernels, bit-exact with llama.cpp's reference
//! (`ggml-quants.c`, mirrored in numpy by gguf-py's `quants.py`).
//!
//! This session's kernels: Q8_0 (quantize and dequantize). Tensors of other
//! quantized types are read, carried and reported, but converting them to
//! floats fails with a clear "not supported yet" error.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use half::f16;
use modelconv_core::{DType, Error, Result, TensorSource};

use crate::types::GgmlType;

/// Q8_0: 32 values per block, an f16 scale then 32 int8.
pub const Q8_0_BLOCK: usize = 32;
const Q8_0_BYTES: usize = 34;

/// Round half away from zero (C `roundf`), as gguf-py's `np_roundf`.
fn roundf(x: f32) -> f32 {
    let a = x.abs();
    let fl = a.floor();
    let b = fl + (2.0 * (a - fl)).floor();
    if x == 0.0 {
        0.0
    } else {
        b.copysign(x)
    }
}

/// Quantizes whole Q8_0 blocks of `x` (length a multiple of 32) into `out`.
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        for v in block {
            out.push(roundf(v * id) as i8 as u8);
        }
    }
}

/// Dequantizes whole Q8_0 blocks.
pub fn dequantize_q8_0(bytes: &[u8], out: &mut Vec<f32>) {
    for block in bytes.chunks_exact(Q8_0_BYTES) {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        out.extend(block[2..].iter().map(|&q| f32::from(q as i8) * d));
    }
}

/// True if modelconv can turn tensors of this type into floats.
pub fn can_dequantize(t: GgmlType) -> bool {
    t.dtype().is_some() || t.name == "Q8_0"
}

/// True if modelconv can write tensors of this type.
pub fn can_quantize(t: GgmlType) -> bool {
    matches!(t.name, "F32" | "F16" | "BF16" | "Q8_0")
}

/// A quantized GGUF tensor read as f32 values (block by block).
#[derive(Debug)]
pub struct DequantSource {
    inner: Arc<dyn TensorSource>,
    ggml_type: GgmlType,
    numel: usize,
}

impl DequantSource {
    /// Dequantizes `inner` (the raw bytes of a tensor of `ggml_type` with `numel` elements).
    pub fn new(inner: Arc<dyn TensorSource>, ggml_type: GgmlType, numel: usize) -> Result<Self> {
        if ggml_type.name != "Q8_0" {
            return Err(Error::Unsupported {
                path: Default::default(),
                detail: format!("dequantizing {ggml_type} is not supported yet (Q8_0 is)"),
            });
        }
        Ok(DequantSource {
            inner,
            ggml_type,
            numel,
        })
    }
}

impl TensorSource for DequantSource {
    fn len(&self) -> usize {
        self.numel * 4
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let (first, last) = (range.start / 4, range.end.div_ceil(4));
        let (b0, b1) = (first / Q8_0_BLOCK, last.div_ceil(Q8_0_BLOCK));
        let bytes = self.inner.read(b0 * Q8_0_BYTES..b1 * Q8_0_BYTES)?;
        let mut vals = Vec::with_capacity((b1 - b0) * Q8_0_BLOCK);
        dequantize_q8_0(&bytes, &mut vals);
        let skip = first - b0 * Q8_0_BLOCK;
        let out: Vec<u8> = vals[skip..skip + (last - first)]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        Ok(Cow::Owned(out))
    }

    fn release(&self, range: Range<usize>) {
        self.inner.release(range);
    }

    fn identity(&self) -> String {
        format!("dequant {} {}", self.ggml_type, self.inner.identity())
    }
}

/// A float tensor quantized to Q8_0 on the fly (rows of whole blocks).
#[derive(Debug)]
pub struct QuantSource {
    inner: Arc<dyn TensorSource>,
    dtype: DType,
    numel: usize,
}

impl QuantSource {
    /// Quantizes `inner` (elements of float `dtype`) to Q8_0; `numel` must be a multiple of 32.
    pub fn q8_0(inner: Arc<dyn TensorSource>, dtype: DType, numel: usize) -> Result<Self> {
        if !numel.is_multiple_of(Q8_0_BLOCK) || !dtype.is_float() {
            return Err(Error::InvalidOption(format!(
                "Q8_0 needs float rows of a multiple of {Q8_0_BLOCK} elements"
            )));
        }
        Ok(QuantSource {
            inner,
            dtype,
            numel,
        })
    }
}

impl TensorSource for QuantSource {
    fn len(&self) -> usize {
        self.numel / Q8_0_BLOCK * Q8_0_BYTES
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let (b0, b1) = (range.start / Q8_0_BYTES, range.end.div_ceil(Q8_0_BYTES));
        let es = self.dtype.size();
        let raw = self
            .inner
            .read(b0 * Q8_0_BLOCK * es..b1 * Q8_0_BLOCK * es)?;
        let mut f = vec![0u8; (b1 - b0) * Q8_0_BLOCK * 4];
        modelconv_core::cast::cast(self.dtype, DType::F32, &raw, &mut f)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let vals: Vec<f32> = f
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut out = Vec::with_capacity((b1 - b0) * Q8_0_BYTES);
        quantize_q8_0(&vals, &mut out);
        let skip = range.start - b0 * Q8_0_BYTES;
        Ok(Cow::Owned(out[skip..skip + range.len()].to_vec()))
    }

    fn release(&self, range: Range<usize>) {
        self.inner.release(range);
    }

    fn identity(&self) -> String {
        format!("q8_0 {}", self.inner.identity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundf_is_half_away_from_zero() {
        assert_eq!(roundf(2.5), 3.0);
        assert_eq!(roundf(-2.5), -3.0);
        assert_eq!(roundf(1.49), 1.0);
        assert_eq!(roundf(-0.4), 0.0);
    }

    #[test]
    fn q8_0_round_trip_is_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.37).collect();
        let mut q = Vec::new();
        quantize_q8_0(&x, &mut q);
        assert_eq!(q.len(), 68);
        let mut back = Vec::new();
        dequantize_q8_0(&q, &mut back);
        for (block, bq) in x.chunks(32).zip(back.chunks(32)) {
            let d = block.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (a, b) in block.iter().zip(bq) {
                assert!((a - b).abs() <= d * 0.5 + d * 1e-3, "{a} {b}");
            }
        }
    }
}
