//! ggml block quantization: scalar reference kernels and their dispatch.
//!
//! Hand-written because no maintained crate reproduces ggml's reference
//! rounding bit for bit (and modelconv promises bit-exact output). Each
//! kernel works on one block; [`quantize`] / [`dequantize`] run them over a
//! buffer, [`quantize_par`] / [`dequantize_par`] over rows on rayon's pool
//! (blocks are independent, so the result does not depend on the thread
//! count).
//!
//! | type | quantize | dequantize | reference |
//! |---|---|---|---|
//! | F32, F16, BF16 | ✓ | ✓ | gguf-py (`astype`, its BF16 rounding) |
//! | Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 | ✓ | ✓ | gguf-py `quants.py` (= ggml `_ref`) |
//! | Q2_K, Q3_K, Q4_K, Q5_K, Q6_K | ✓ | ✓ | quantize: ggml `quantize_row_*_ref`; dequantize: gguf-py |
//! | Q8_K | ✓ | ✓ | ggml (an intermediate type; gguf-py has neither) |
//! | TQ1_0, TQ2_0, MXFP4 | ✓ | ✓ | gguf-py |
//! | NVFP4, IQ4_NL, IQ4_XS | — | ✓ | gguf-py |
//! | IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M | — | ✓ | gguf-py ([`iq`]) |
//! | Q1_0, Q2_0 | ✓ | ✓ | ggml C (`quantize_row_q{1,2}_0_ref`, `dequantize_row_*`); gguf-py has neither |
//! | Q8_1 | — | — | carried as raw blocks (an activation type; neither gguf-py nor ggml dequantizes it) |
//!
//! Sizes that are not whole blocks are a [`QuantError::NotBlockMultiple`], so a
//! caller can fall back to another type (llama.cpp's converter writes F16).

pub mod float;
pub mod iq;
pub mod kquants;
pub mod legacy;
pub mod other;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use modelconv_core::{DType, Error, Result, TensorSource};
use rayon::prelude::*;

use crate::types::GgmlType;

/// Q8_0: 32 values per block.
pub const Q8_0_BLOCK: usize = 32;

/// Why a quantization kernel refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuantError {
    /// The element count (or row length) is not a multiple of the type's block size.
    NotBlockMultiple {
        /// Target type.
        ggml_type: GgmlType,
        /// The length given.
        len: usize,
    },
    /// The byte count is not a whole number of blocks.
    NotWholeBlocks {
        /// Source type.
        ggml_type: GgmlType,
        /// The byte count given.
        len: usize,
    },
    /// The output buffer has the wrong size.
    OutputSize {
        /// Expected length (elements or bytes).
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// modelconv has no kernel for this type (in this direction).
    Unsupported {
        /// The type.
        ggml_type: GgmlType,
        /// `"quantizing"` or `"dequantizing"`.
        op: &'static str,
    },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::NotBlockMultiple { ggml_type, len } => write!(
                f,
                "{len} values are not a multiple of {ggml_type}'s block of {}",
                ggml_type.block_size
            ),
            QuantError::NotWholeBlocks { ggml_type, len } => write!(
                f,
                "{len} bytes are not a whole number of {ggml_type} blocks ({} bytes each)",
                ggml_type.type_size
            ),
            QuantError::OutputSize { expected, got } => {
                write!(f, "output buffer holds {got}, {expected} needed")
            }
            QuantError::Unsupported { ggml_type, op } => {
                write!(f, "{op} {ggml_type} is not supported yet")
            }
        }
    }
}

impl std::error::Error for QuantError {}

impl From<QuantError> for Error {
    fn from(e: QuantError) -> Self {
        match e {
            QuantError::Unsupported { .. } => Error::Unsupported {
                path: Default::default(),
                detail: e.to_string(),
            },
            QuantError::NotBlockMultiple { .. } => Error::InvalidOption(e.to_string()),
            QuantError::NotWholeBlocks { .. } | QuantError::OutputSize { .. } => {
                Error::Internal(e.to_string())
            }
        }
    }
}

type QFn = fn(&[f32], &mut [u8]);
type DFn = fn(&[u8], &mut [f32]);

/// Adapts a fixed-size block kernel to slices (lengths are checked by the caller).
/// A block kernel as a slice function (the slices hold whole blocks).
/// `qk!(f, T)` adapts `f(&[f32; B], &mut [u8])` for the block of `T`: the
/// array length is `T.block_size`, so a kernel written for another block
/// size does not compile.
macro_rules! qk {
    ($f:path, $t:expr) => {{
        fn k(x: &[f32], out: &mut [u8]) {
            if let Ok(b) = <&[f32; $t.block_size as usize]>::try_from(x) {
                $f(b, out)
            }
        }
        Some(k as QFn)
    }};
}
/// The dequantizing counterpart of [`qk!`].
macro_rules! dk {
    ($f:path, $t:expr) => {{
        fn k(b: &[u8], y: &mut [f32]) {
            if let Ok(y) = <&mut [f32; $t.block_size as usize]>::try_from(y) {
                $f(b, y)
            }
        }
        Some(k as DFn)
    }};
}

fn q_f32(x: &[f32], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(4).zip(x) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}
fn d_f32(b: &[u8], y: &mut [f32]) {
    for (v, c) in y.iter_mut().zip(b.chunks_exact(4)) {
        *v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}
fn q_f16(x: &[f32], out: &mut [u8]) {
    for (o, &v) in out.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&float::f32_to_f16(v).to_le_bytes());
    }
}
fn d_f16(b: &[u8], y: &mut [f32]) {
    for (v, c) in y.iter_mut().zip(b.chunks_exact(2)) {
        *v = float::f16_to_f32(u16::from_le_bytes([c[0], c[1]]));
    }
}
fn q_bf16(x: &[f32], out: &mut [u8]) {
    for (o, &v) in out.chunks_exact_mut(2).zip(x) {
        o.copy_from_slice(&float::f32_to_bf16(v).to_le_bytes());
    }
}
fn d_bf16(b: &[u8], y: &mut [f32]) {
    for (v, c) in y.iter_mut().zip(b.chunks_exact(2)) {
        *v = float::bf16_to_f32(u16::from_le_bytes([c[0], c[1]]));
    }
}

/// The kernels of one ggml type: its block quantizer and dequantizer. Block
/// and byte sizes are the type's own ([`GgmlType`] states them once).
struct Kernels {
    ty: GgmlType,
    quantize: Option<QFn>,
    dequantize: Option<DFn>,
}

/// Every type with a kernel (the others are read as raw blocks).
static KERNELS: &[Kernels] = {
    use iq::*;
    use kquants::*;
    use legacy::*;
    use other::*;
    type T = GgmlType;
    &[
        Kernels {
            ty: T::F32,
            quantize: Some(q_f32),
            dequantize: Some(d_f32),
        },
        Kernels {
            ty: T::F16,
            quantize: Some(q_f16),
            dequantize: Some(d_f16),
        },
        Kernels {
            ty: T::BF16,
            quantize: Some(q_bf16),
            dequantize: Some(d_bf16),
        },
        Kernels {
            ty: T::Q4_0,
            quantize: qk!(quantize_q4_0, T::Q4_0),
            dequantize: dk!(dequantize_q4_0, T::Q4_0),
        },
        Kernels {
            ty: T::Q4_1,
            quantize: qk!(quantize_q4_1, T::Q4_1),
            dequantize: dk!(dequantize_q4_1, T::Q4_1),
        },
        Kernels {
            ty: T::Q5_0,
            quantize: qk!(quantize_q5_0, T::Q5_0),
            dequantize: dk!(dequantize_q5_0, T::Q5_0),
        },
        Kernels {
            ty: T::Q5_1,
            quantize: qk!(quantize_q5_1, T::Q5_1),
            dequantize: dk!(dequantize_q5_1, T::Q5_1),
        },
        Kernels {
            ty: T::Q8_0,
            quantize: qk!(quantize_q8_0, T::Q8_0),
            dequantize: dk!(dequantize_q8_0, T::Q8_0),
        },
        Kernels {
            ty: T::Q2_K,
            quantize: qk!(quantize_q2_k, T::Q2_K),
            dequantize: dk!(dequantize_q2_k, T::Q2_K),
        },
        Kernels {
            ty: T::Q3_K,
            quantize: qk!(quantize_q3_k, T::Q3_K),
            dequantize: dk!(dequantize_q3_k, T::Q3_K),
        },
        Kernels {
            ty: T::Q4_K,
            quantize: qk!(quantize_q4_k, T::Q4_K),
            dequantize: dk!(dequantize_q4_k, T::Q4_K),
        },
        Kernels {
            ty: T::Q5_K,
            quantize: qk!(quantize_q5_k, T::Q5_K),
            dequantize: dk!(dequantize_q5_k, T::Q5_K),
        },
        Kernels {
            ty: T::Q6_K,
            quantize: qk!(quantize_q6_k, T::Q6_K),
            dequantize: dk!(dequantize_q6_k, T::Q6_K),
        },
        Kernels {
            ty: T::Q8_K,
            quantize: qk!(quantize_q8_k, T::Q8_K),
            dequantize: dk!(dequantize_q8_k, T::Q8_K),
        },
        Kernels {
            ty: T::TQ1_0,
            quantize: qk!(quantize_tq1_0, T::TQ1_0),
            dequantize: dk!(dequantize_tq1_0, T::TQ1_0),
        },
        Kernels {
            ty: T::TQ2_0,
            quantize: qk!(quantize_tq2_0, T::TQ2_0),
            dequantize: dk!(dequantize_tq2_0, T::TQ2_0),
        },
        Kernels {
            ty: T::MXFP4,
            quantize: qk!(quantize_mxfp4, T::MXFP4),
            dequantize: dk!(dequantize_mxfp4, T::MXFP4),
        },
        Kernels {
            ty: T::Q1_0,
            quantize: qk!(quantize_q1_0, T::Q1_0),
            dequantize: dk!(dequantize_q1_0, T::Q1_0),
        },
        Kernels {
            ty: T::Q2_0,
            quantize: qk!(quantize_q2_0, T::Q2_0),
            dequantize: dk!(dequantize_q2_0, T::Q2_0),
        },
        Kernels {
            ty: T::NVFP4,
            quantize: None,
            dequantize: dk!(dequantize_nvfp4, T::NVFP4),
        },
        Kernels {
            ty: T::IQ4_NL,
            quantize: None,
            dequantize: dk!(dequantize_iq4_nl, T::IQ4_NL),
        },
        Kernels {
            ty: T::IQ4_XS,
            quantize: None,
            dequantize: dk!(dequantize_iq4_xs, T::IQ4_XS),
        },
        Kernels {
            ty: T::IQ2_XXS,
            quantize: None,
            dequantize: dk!(dequantize_iq2_xxs, T::IQ2_XXS),
        },
        Kernels {
            ty: T::IQ2_XS,
            quantize: None,
            dequantize: dk!(dequantize_iq2_xs, T::IQ2_XS),
        },
        Kernels {
            ty: T::IQ2_S,
            quantize: None,
            dequantize: dk!(dequantize_iq2_s, T::IQ2_S),
        },
        Kernels {
            ty: T::IQ3_XXS,
            quantize: None,
            dequantize: dk!(dequantize_iq3_xxs, T::IQ3_XXS),
        },
        Kernels {
            ty: T::IQ3_S,
            quantize: None,
            dequantize: dk!(dequantize_iq3_s, T::IQ3_S),
        },
        Kernels {
            ty: T::IQ1_S,
            quantize: None,
            dequantize: dk!(dequantize_iq1_s, T::IQ1_S),
        },
        Kernels {
            ty: T::IQ1_M,
            quantize: None,
            dequantize: dk!(dequantize_iq1_m, T::IQ1_M),
        },
    ]
};

fn kernels(t: GgmlType) -> Option<&'static Kernels> {
    KERNELS.iter().find(|k| k.ty == t)
}

fn quantizer(t: GgmlType) -> Option<QFn> {
    kernels(t)?.quantize
}

fn dequantizer(t: GgmlType) -> Option<DFn> {
    kernels(t)?.dequantize
}

/// True if there is a kernel that encodes f32 values as `t`.
pub fn has_quantizer(t: GgmlType) -> bool {
    quantizer(t).is_some()
}

/// True if there is a kernel that decodes `t` to f32 values.
pub fn has_dequantizer(t: GgmlType) -> bool {
    dequantizer(t).is_some()
}

/// True if modelconv can turn tensors of this type into floats: every
/// plain dtype, and every type with a dequantization kernel.
pub fn can_dequantize(t: GgmlType) -> bool {
    t.dtype().is_some() || has_dequantizer(t)
}

fn blocks_for(t: GgmlType, n_values: usize) -> Result<usize, QuantError> {
    let bs = t.block_size as usize;
    if bs == 0 || !n_values.is_multiple_of(bs) {
        return Err(QuantError::NotBlockMultiple {
            ggml_type: t,
            len: n_values,
        });
    }
    Ok(n_values / bs)
}

/// Bytes needed to store `n_values` values as `t`.
pub fn quantized_len(t: GgmlType, n_values: usize) -> Result<usize, QuantError> {
    let blocks = blocks_for(t, n_values)?;
    blocks
        .checked_mul(t.type_size as usize)
        .ok_or(QuantError::NotBlockMultiple {
            ggml_type: t,
            len: n_values,
        })
}

/// Encodes `x` as `t` into `out` (exactly [`quantized_len`] bytes).
pub fn quantize_into(t: GgmlType, x: &[f32], out: &mut [u8]) -> Result<(), QuantError> {
    let q = quantizer(t).ok_or(QuantError::Unsupported {
        ggml_type: t,
        op: "quantizing",
    })?;
    let need = quantized_len(t, x.len())?;
    if out.len() != need {
        return Err(QuantError::OutputSize {
            expected: need,
            got: out.len(),
        });
    }
    let (bs, ts) = (t.block_size as usize, t.type_size as usize);
    for (xb, ob) in x.chunks_exact(bs).zip(out.chunks_exact_mut(ts)) {
        q(xb, ob);
    }
    Ok(())
}

/// Encodes `x` as `t` (scalar, one thread).
pub fn quantize(t: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let mut out = vec![0u8; quantized_len(t, x.len())?];
    quantize_into(t, x, &mut out)?;
    Ok(out)
}

/// Decodes `bytes` (whole blocks of `t`) into `out` (exactly the number of values).
pub fn dequantize_into(t: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let d = dequantizer(t).ok_or(QuantError::Unsupported {
        ggml_type: t,
        op: "dequantizing",
    })?;
    let (bs, ts) = (t.block_size as usize, t.type_size as usize);
    if ts == 0 || !bytes.len().is_multiple_of(ts) {
        return Err(QuantError::NotWholeBlocks {
            ggml_type: t,
            len: bytes.len(),
        });
    }
    let need = bytes.len() / ts * bs;
    if out.len() != need {
        return Err(QuantError::OutputSize {
            expected: need,
            got: out.len(),
        });
    }
    for (b, y) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        d(b, y);
    }
    Ok(())
}

/// Decodes `bytes` (whole blocks of `t`) to f32 values (scalar, one thread).
pub fn dequantize(t: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let ts = t.type_size as usize;
    let n = bytes
        .len()
        .checked_div(ts)
        .unwrap_or(0)
        .saturating_mul(t.block_size as usize);
    let mut out = vec![0f32; n];
    dequantize_into(t, bytes, &mut out)?;
    Ok(out)
}

/// Encodes a matrix of rows of `row_len` values as `t`, rows in parallel.
/// Fails (before any work) if `row_len` is not a multiple of the block size.
pub fn quantize_par(t: GgmlType, x: &[f32], row_len: usize) -> Result<Vec<u8>, QuantError> {
    let row_bytes = quantized_len(t, row_len)?;
    if row_len == 0 || !x.len().is_multiple_of(row_len) {
        return Err(QuantError::NotBlockMultiple {
            ggml_type: t,
            len: x.len(),
        });
    }
    let mut out = vec![0u8; x.len() / row_len * row_bytes];
    out.par_chunks_mut(row_bytes)
        .zip(x.par_chunks(row_len))
        .try_for_each(|(o, r)| quantize_into(t, r, o))?;
    Ok(out)
}

/// Decodes whole blocks of `t` to f32 values, in parallel chunks of blocks.
pub fn dequantize_par(t: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, QuantError> {
    let (bs, ts) = (t.block_size as usize, t.type_size as usize);
    if ts == 0 || !bytes.len().is_multiple_of(ts) {
        return Err(QuantError::NotWholeBlocks {
            ggml_type: t,
            len: bytes.len(),
        });
    }
    const BLOCKS: usize = 256;
    let mut out = vec![0f32; bytes.len() / ts * bs];
    out.par_chunks_mut(BLOCKS * bs)
        .zip(bytes.par_chunks(BLOCKS * ts))
        .try_for_each(|(y, b)| dequantize_into(t, b, y))?;
    Ok(out)
}

/// A quantized GGUF tensor read as little-endian f32 values (block by block).
#[derive(Debug)]
pub struct DequantSource {
    inner: Arc<dyn TensorSource>,
    ggml_type: GgmlType,
    numel: usize,
}

impl DequantSource {
    /// Dequantizes `inner` (the raw bytes of a tensor of `ggml_type` with `numel` elements).
    pub fn new(inner: Arc<dyn TensorSource>, ggml_type: GgmlType, numel: usize) -> Result<Self> {
        if !has_dequantizer(ggml_type) {
            return Err(QuantError::Unsupported {
                ggml_type,
                op: "dequantizing",
            }
            .into());
        }
        let need = quantized_len(ggml_type, numel)?;
        if need != inner.len() {
            return Err(Error::Internal(format!(
                "{ggml_type} tensor of {numel} values has {} bytes, {need} expected",
                inner.len()
            )));
        }
        Ok(DequantSource {
            inner,
            ggml_type,
            numel,
        })
    }
}

impl TensorSource for DequantSource {
    fn check_unchanged(&self) -> Result<()> {
        self.inner.check_unchanged()
    }

    fn encoding(&self) -> Option<String> {
        Some(self.ggml_type.to_string())
    }

    fn len(&self) -> usize {
        self.numel * 4
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let (bs, ts) = (
            self.ggml_type.block_size as usize,
            self.ggml_type.type_size as usize,
        );
        let (first, last) = (range.start / 4, range.end.div_ceil(4));
        let (b0, b1) = (first / bs, last.div_ceil(bs));
        let bytes = self.inner.read(b0 * ts..b1 * ts)?;
        let mut vals = vec![0f32; (b1 - b0) * bs];
        dequantize_into(self.ggml_type, &bytes, &mut vals)?;
        let skip = first - b0 * bs;
        let out: Vec<u8> = vals
            .get(skip..skip + (last - first))
            .unwrap_or_default()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let lo = range.start - first * 4;
        Ok(Cow::Owned(
            out.get(lo..lo + range.len()).unwrap_or_default().to_vec(),
        ))
    }

    fn release(&self, range: Range<usize>) {
        let (bs, ts) = (
            self.ggml_type.block_size as usize,
            self.ggml_type.type_size as usize,
        );
        let (b0, b1) = (range.start / 4 / bs, (range.end / 4) / bs);
        self.inner.release(b0 * ts..b1 * ts);
    }

    fn identity(&self) -> String {
        format!("dequant {} {}", self.ggml_type, self.inner.identity())
    }
}

/// Elements widened to f32 and quantized at a time by [`QuantSource`].
const STEP_ELEMENTS: usize = 1 << 16;

/// A float tensor quantized to a ggml type on the fly (whole blocks).
#[derive(Debug)]
pub struct QuantSource {
    inner: Arc<dyn TensorSource>,
    dtype: DType,
    numel: usize,
    ggml_type: GgmlType,
}

impl QuantSource {
    /// Quantizes `inner` (elements of float `dtype`) to `ggml_type`; `numel`
    /// must be a whole number of blocks (callers check per row first).
    pub fn new(
        inner: Arc<dyn TensorSource>,
        dtype: DType,
        numel: usize,
        ggml_type: GgmlType,
    ) -> Result<Self> {
        if !dtype.is_float() {
            return Err(Error::InvalidOption(format!(
                "{ggml_type} needs float values, not {dtype}"
            )));
        }
        if !has_quantizer(ggml_type) {
            return Err(QuantError::Unsupported {
                ggml_type,
                op: "quantizing",
            }
            .into());
        }
        quantized_len(ggml_type, numel)?;
        Ok(QuantSource {
            inner,
            dtype,
            numel,
            ggml_type,
        })
    }

    /// Quantizes `inner` to Q8_0.
    pub fn q8_0(inner: Arc<dyn TensorSource>, dtype: DType, numel: usize) -> Result<Self> {
        Self::new(inner, dtype, numel, GgmlType::Q8_0)
    }
}

impl TensorSource for QuantSource {
    fn check_unchanged(&self) -> Result<()> {
        self.inner.check_unchanged()
    }

    fn len(&self) -> usize {
        quantized_len(self.ggml_type, self.numel).unwrap_or(0)
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let (bs, ts) = (
            self.ggml_type.block_size as usize,
            self.ggml_type.type_size as usize,
        );
        let (b0, b1) = (range.start / ts, range.end.div_ceil(ts));
        let es = self.dtype.size();
        // Blocks are independent: read, widen and quantize a few thousand
        // at a time, so the input and its f32 copy stay in cache and memory
        // is the output of the read (reading the whole range and widening
        // it was 8x the output of a 4-bit type: 445 MB of RSS for a 1B
        // model).
        let step = (STEP_ELEMENTS / bs).max(1) * bs;
        let mut out = Vec::with_capacity((b1 - b0) * ts);
        let mut vals = vec![0f32; step];
        let (start, end) = (b0 * bs * es, b1 * bs * es);
        for at in (start..end).step_by(step * es) {
            let part = self.inner.read(at..(at + step * es).min(end))?;
            let vals = &mut vals[..part.len() / es];
            // Cast straight into the f32 buffer; `cast` writes
            // little-endian bytes.
            modelconv_core::cast::cast(
                self.dtype,
                DType::F32,
                &part,
                bytemuck::cast_slice_mut(vals),
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
            #[cfg(target_endian = "big")]
            for v in vals.iter_mut() {
                *v = f32::from_le_bytes(v.to_ne_bytes());
            }
            out.extend_from_slice(&quantize(self.ggml_type, vals)?);
        }
        let skip = range.start - b0 * ts;
        if skip == 0 && out.len() == range.len() {
            return Ok(Cow::Owned(out));
        }
        out.get(skip..skip + range.len())
            .map(|s| Cow::Owned(s.to_vec()))
            .ok_or_else(|| Error::Internal(format!("quantized read {range:?} out of range")))
    }

    fn release(&self, range: Range<usize>) {
        let (bs, ts) = (
            self.ggml_type.block_size as usize,
            self.ggml_type.type_size as usize,
        );
        let es = self.dtype.size();
        self.inner
            .release(range.start / ts * bs * es..range.end / ts * bs * es);
    }

    fn identity(&self) -> String {
        format!("{} {}", self.ggml_type, self.inner.identity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_round_trips_whole_blocks_and_refuses_partial_ones() {
        for t in GgmlType::all() {
            if !has_quantizer(t) {
                continue;
            }
            let n = t.block_size as usize * 3;
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.03)
                .collect();
            let q = quantize(t, &x).unwrap_or_default();
            assert_eq!(
                q.len(),
                n / t.block_size as usize * t.type_size as usize,
                "{t}"
            );
            if has_dequantizer(t) {
                let back = dequantize(t, &q).unwrap_or_default();
                assert_eq!(back.len(), n, "{t}");
                let err = x
                    .iter()
                    .zip(&back)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1.6, "{t}: max error {err}");
            }
            if t.block_size > 1 {
                assert!(matches!(
                    quantize(t, &x[..n - 1]),
                    Err(QuantError::NotBlockMultiple { .. })
                ));
            }
            assert_eq!(quantize_par(t, &x, n).ok(), Some(q), "{t}");
        }
    }
}
