//! int8 quantization: per-channel (along one axis) or per-tensor,
//! symmetric (int8, zero point 0, range ±127) or asymmetric (uint8 with a
//! zero point).
//!
//! Every element dequantizes to within `scale / 2` of its original value:
//! the asymmetric range always contains 0, and after rounding the zero
//! point the scale is widened just enough that no value is clipped.
//!
//! [`quantize`] computes the parameters in one streaming pass over the
//! source (bounded chunks) and returns a [`QuantizedSource`] that produces
//! the int8/uint8 bytes of any range on demand, so the engine can write
//! quantized tensors in parallel like any other.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use crate::cast::cast;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{TensorInfo, TensorSource};

/// Quantization scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// int8, zero point 0, values in −127..=127.
    Symmetric,
    /// uint8 with a zero point, values in 0..=255.
    Asymmetric,
}

/// Quantization parameters of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Scheme used.
    pub scheme: Scheme,
    /// Channel axis, or `None` for per-tensor.
    pub axis: Option<usize>,
    /// One scale per channel (one in total for per-tensor).
    pub scales: Vec<f32>,
    /// One zero point per channel (all 0 for symmetric).
    pub zero_points: Vec<i64>,
}

impl Params {
    /// The output dtype.
    pub fn dtype(&self) -> DType {
        match self.scheme {
            Scheme::Symmetric => DType::I8,
            Scheme::Asymmetric => DType::U8,
        }
    }
}

const CHUNK: usize = 1 << 20; // elements per pass step

/// Reads `source` (float dtype `dtype`) as f32 in bounded chunks.
fn for_each_f32(
    source: &dyn TensorSource,
    dtype: DType,
    mut f: impl FnMut(usize, &[f32]),
) -> Result<()> {
    let esz = dtype.size();
    let n = source.len() / esz;
    let mut start = 0;
    let mut buf = Vec::new();
    while start < n {
        let end = (start + CHUNK).min(n);
        let bytes = source.read(start * esz..end * esz)?;
        buf.resize((end - start) * 4, 0);
        cast(dtype, DType::F32, &bytes, &mut buf).map_err(|e| Error::Internal(e.to_string()))?;
        let vals: Vec<f32> = buf
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        f(start, &vals);
        start = end;
    }
    Ok(())
}

/// `x` as f32, rounded up.
fn f32_up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f32::from_bits(f.to_bits() + 1)
    } else {
        f
    }
}

/// (channel count, elements per channel step): element `i` is in channel
/// `(i / inner) % channels`.
fn layout(info: &TensorInfo, axis: Option<usize>) -> (usize, usize) {
    match axis {
        Some(a) => {
            let channels = info.shape.get(a).copied().unwrap_or(1).max(1);
            let inner = info.shape.iter().skip(a + 1).product::<usize>().max(1);
            (channels, inner)
        }
        None => (1, 1),
    }
}

/// Computes quantization parameters for a float tensor and returns the
/// source of its quantized bytes.
pub fn quantize(
    info: &TensorInfo,
    source: Arc<dyn TensorSource>,
    scheme: Scheme,
    axis: Option<usize>,
) -> Result<(Params, QuantizedSource)> {
    if !info.dtype.is_float() {
        return Err(Error::InvalidOption(format!(
            "tensor '{}' is {}, not a float tensor",
            info.name, info.dtype
        )));
    }
    if let Some(a) = axis {
        if a >= info.shape.len() {
            return Err(Error::InvalidOption(format!(
                "tensor '{}' has {} dimensions; cannot quantize along axis {a}",
                info.name,
                info.shape.len()
            )));
        }
    }
    let (channels, inner) = layout(info, axis);
    let mut lo = vec![0f32; channels];
    let mut hi = vec![0f32; channels];
    let mut non_finite = false;
    for_each_f32(source.as_ref(), info.dtype, |start, vals| {
        for (k, &v) in vals.iter().enumerate() {
            if !v.is_finite() {
                non_finite = true;
                continue;
            }
            let c = ((start + k) / inner) % channels;
            lo[c] = lo[c].min(v);
            hi[c] = hi[c].max(v);
        }
    })?;
    if non_finite {
        return Err(Error::InvalidOption(format!(
            "tensor '{}' holds NaN or infinite values and cannot be quantized",
            info.name
        )));
    }
    let mut scales = Vec::with_capacity(channels);
    let mut zero_points = Vec::with_capacity(channels);
    for c in 0..channels {
        // Parameters in f64, scales rounded up to f32 so no value is clipped.
        let (min, max) = (f64::from(lo[c]), f64::from(hi[c]));
        let (s, z) = match scheme {
            Scheme::Symmetric => {
                let m = min.abs().max(max.abs());
                (if m > 0.0 { m / 127.0 } else { 1.0 }, 0.0)
            }
            Scheme::Asymmetric => {
                let (min, max) = (min.min(0.0), max.max(0.0));
                if max - min <= 0.0 {
                    (1.0, 0.0)
                } else {
                    let s = (max - min) / 255.0;
                    let z = (-min / s).round().clamp(0.0, 255.0);
                    // With z rounded, widen s so min and max still land within
                    // half a step of 0..=255 (then rounding never clips further).
                    (s.max(-min / (z + 0.5)).max(max / (255.5 - z)), z)
                }
            }
        };
        scales.push(f32_up(s));
        zero_points.push(z as i64);
    }
    let params = Params {
        scheme,
        axis,
        scales,
        zero_points,
    };
    let q = QuantizedSource {
        source,
        dtype: info.dtype,
        params: params.clone(),
        channels,
        inner,
    };
    Ok((params, q))
}

/// The quantized bytes of a float tensor, produced on demand.
#[derive(Debug)]
pub struct QuantizedSource {
    source: Arc<dyn TensorSource>,
    dtype: DType,
    params: Params,
    channels: usize,
    inner: usize,
}

impl TensorSource for QuantizedSource {
    fn len(&self) -> usize {
        self.source.len() / self.dtype.size()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let esz = self.dtype.size();
        let bytes = self.source.read(range.start * esz..range.end * esz)?;
        let mut wide = vec![0u8; (range.end - range.start) * 4];
        cast(self.dtype, DType::F32, &bytes, &mut wide)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let out: Vec<u8> = wide
            .chunks_exact(4)
            .enumerate()
            .map(|(k, b)| {
                let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let c = ((range.start + k) / self.inner) % self.channels;
                // Divide in f64: an f32 quotient can round across a .5
                // boundary and break the scale/2 bound by a hair.
                let s = f64::from(self.params.scales[c]);
                let x = (f64::from(v) / s).round();
                match self.params.scheme {
                    Scheme::Symmetric => (x.clamp(-127.0, 127.0) as i8) as u8,
                    Scheme::Asymmetric => {
                        (x + self.params.zero_points[c] as f64).clamp(0.0, 255.0) as u8
                    }
                }
            })
            .collect();
        Ok(Cow::Owned(out))
    }

    fn release(&self, range: Range<usize>) {
        let esz = self.dtype.size();
        self.source.release(range.start * esz..range.end * esz);
    }

    fn check_unchanged(&self) -> Result<()> {
        self.source.check_unchanged()
    }

    fn identity(&self) -> String {
        format!(
            "int8:{:?}:{:?}:{}",
            self.params.scheme,
            self.params.axis,
            self.source.identity()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::OwnedBytes;
    use proptest::prelude::*;

    fn run(
        vals: &[f32],
        shape: Vec<usize>,
        scheme: Scheme,
        axis: Option<usize>,
    ) -> Result<(Params, Vec<u8>)> {
        let info = TensorInfo {
            name: "t".into(),
            dtype: DType::F32,
            shape,
        };
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let src: Arc<dyn TensorSource> = Arc::new(OwnedBytes(Arc::new(bytes)));
        let (p, q) = quantize(&info, src, scheme, axis)?;
        let out = q.read(0..vals.len())?.into_owned();
        Ok((p, out))
    }

    fn check_bound(
        vals: &[f32],
        shape: Vec<usize>,
        scheme: Scheme,
        axis: Option<usize>,
    ) -> Result<()> {
        let inner: usize = match axis {
            Some(a) => shape.iter().skip(a + 1).product::<usize>().max(1),
            None => 1,
        };
        let channels = axis.map(|a| shape[a]).unwrap_or(1);
        let (p, q) = run(vals, shape, scheme, axis)?;
        for (i, (&v, &b)) in vals.iter().zip(&q).enumerate() {
            let c = (i / inner) % channels;
            let s = p.scales[c];
            let deq = match scheme {
                Scheme::Symmetric => f64::from(b as i8) * f64::from(s),
                Scheme::Asymmetric => (f64::from(b) - p.zero_points[c] as f64) * f64::from(s),
            };
            let err = (deq - f64::from(v)).abs();
            let s = f64::from(s);
            if err > s * 0.5 * (1.0 + 1e-12) {
                return Err(Error::Internal(format!(
                    "element {i}: {v} -> {deq}, err {err} > scale/2 {}",
                    s / 2.0
                )));
            }
        }
        Ok(())
    }

    #[test]
    fn per_channel_and_per_tensor_bounds() -> Result<()> {
        let vals: Vec<f32> = (0..24)
            .map(|i| (i as f32 - 7.3) * if i < 12 { 0.01 } else { 3.0 })
            .collect();
        for scheme in [Scheme::Symmetric, Scheme::Asymmetric] {
            check_bound(&vals, vec![2, 12], scheme, Some(0))?;
            check_bound(&vals, vec![2, 12], scheme, None)?;
            check_bound(&vals, vec![4, 6], scheme, Some(1))?;
        }
        let (p, q) = run(&[0.0; 4], vec![4], Scheme::Symmetric, None)?;
        assert_eq!(p.scales, vec![1.0]);
        assert_eq!(q, vec![0; 4]);
        assert!(run(&[f32::NAN, 1.0], vec![2], Scheme::Symmetric, None).is_err());
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn error_is_at_most_half_a_step(vals in proptest::collection::vec(-1e4f32..1e4, 1..64), asym in any::<bool>()) {
            let scheme = if asym { Scheme::Asymmetric } else { Scheme::Symmetric };
            let n = vals.len();
            prop_assert!(check_bound(&vals, vec![n], scheme, None).is_ok());
            prop_assert!(check_bound(&vals, vec![n, 1], scheme, Some(0)).is_ok());
        }
    }
}
