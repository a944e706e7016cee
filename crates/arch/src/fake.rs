//! Fake weights: complete checkpoints with generated values.
//!
//! Values come from a counter-based generator (SplitMix64 of seed, tensor
//! index and element index), so any byte range of any tensor can be
//! produced on its own: a fake 7B model streams through the write engine
//! in bounded memory, and the same seed always gives the same bytes.
//!
//! With `normal` or `uniform` init, norm weights are ones and biases zeros
//! (as freshly initialised transformers models have); `zeros` makes
//! everything zero.

use std::borrow::Cow;
use std::ops::Range;

use modelconv_core::cast::cast;
use modelconv_core::{DType, Error, Result, TensorSource};

/// How values are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Normal with mean 0 and this standard deviation (transformers' `initializer_range`, 0.02).
    Normal(f32),
    /// Uniform on `[-a, a)`.
    Uniform(f32),
}

impl Init {
    /// Parses `zeros`, `normal`, `uniform` (std / bound `scale`).
    pub fn parse(s: &str, scale: f32) -> Result<Init> {
        match s.to_ascii_lowercase().as_str() {
            "zeros" | "zero" => Ok(Init::Zeros),
            "normal" | "randn" => Ok(Init::Normal(scale)),
            "uniform" | "rand" => Ok(Init::Uniform(scale)),
            _ => Err(Error::InvalidOption(format!(
                "unknown init '{s}'; inits are: zeros, normal, uniform"
            ))),
        }
    }
}

/// What one tensor is filled with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    Constant(f32),
    Random(Init),
}

fn fill_for(name: &str, init: Init, gemma: bool) -> Fill {
    if init == Init::Zeros {
        return Fill::Constant(0.0);
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".bias") {
        return Fill::Constant(0.0);
    }
    let norm = lower.ends_with("norm.weight")
        || lower.contains("layernorm")
        || lower.contains("layer_norm")
        || lower.contains("layrnorm")
        || lower.ends_with("norm1.weight")
        || lower.ends_with("norm2.weight");
    if norm {
        // Gemma's RMSNorm multiplies by (1 + weight).
        return Fill::Constant(if gemma { 0.0 } else { 1.0 });
    }
    Fill::Random(init)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(bits: u64) -> f64 {
    // 53 random bits → [0, 1).
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A tensor whose bytes are generated on demand.
#[derive(Debug)]
pub struct FakeSource {
    dtype: DType,
    numel: usize,
    fill: Fill,
    stream: u64,
    identity: String,
}

impl FakeSource {
    /// The `index`-th tensor of a fake model: `name` decides constant fills
    /// (norms, biases); `seed` and `index` pick the random stream.
    pub fn new(
        name: &str,
        dtype: DType,
        numel: usize,
        init: Init,
        seed: u64,
        index: usize,
        gemma: bool,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(Error::InvalidOption(format!(
                "fake weights are f32, f16 or bf16, not {dtype}"
            )));
        }
        if numel.checked_mul(dtype.size()).is_none() {
            return Err(Error::InvalidOption(format!(
                "tensor '{name}' is too large"
            )));
        }
        let fill = fill_for(name, init, gemma);
        Ok(FakeSource {
            dtype,
            numel,
            fill,
            stream: splitmix(seed ^ splitmix(index as u64)),
            identity: format!("fake:{name}:{dtype}:{numel}:{fill:?}:{seed}:{index}"),
        })
    }

    fn value(&self, k: u64) -> f32 {
        match self.fill {
            Fill::Constant(c) => c,
            Fill::Random(Init::Zeros) => 0.0,
            Fill::Random(Init::Uniform(a)) => {
                let u = unit(splitmix(
                    self.stream ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93),
                ));
                ((2.0 * u - 1.0) * f64::from(a)) as f32
            }
            Fill::Random(Init::Normal(std)) => {
                // Box-Muller on two independent uniforms of element k.
                let b = splitmix(self.stream ^ k.wrapping_mul(0xD6E8_FEB8_6659_FD93));
                let u1 = 1.0 - unit(b); // (0, 1]
                let u2 = unit(splitmix(b));
                let r = (-2.0 * u1.ln()).sqrt();
                (r * (std::f64::consts::TAU * u2).cos() * f64::from(std)) as f32
            }
        }
    }
}

impl TensorSource for FakeSource {
    fn len(&self) -> usize {
        self.numel * self.dtype.size()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let size = self.dtype.size();
        let first = (range.start / size) as u64;
        let n = (range.end - range.start) / size;
        let mut f = Vec::with_capacity(n * 4);
        for k in 0..n as u64 {
            f.extend_from_slice(&self.value(first + k).to_le_bytes());
        }
        if self.dtype == DType::F32 {
            return Ok(Cow::Owned(f));
        }
        let mut out = vec![0u8; n * size];
        cast(DType::F32, self.dtype, &f, &mut out).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Cow::Owned(out))
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }
}

/// Parses `--shape NAME=D0,D1,...`.
pub fn parse_shape_override(spec: &str) -> Result<(String, Vec<usize>)> {
    let (name, dims) = spec
        .rsplit_once('=')
        .ok_or_else(|| Error::InvalidOption(format!("--shape '{spec}' is not NAME=D0,D1,...")))?;
    let dims = if dims.trim().is_empty() {
        Vec::new()
    } else {
        dims.split(',')
            .map(|d| {
                d.trim().parse::<usize>().map_err(|_| {
                    Error::InvalidOption(format!("--shape '{spec}': '{d}' is not a dimension"))
                })
            })
            .collect::<Result<Vec<_>>>()?
    };
    Ok((name.to_string(), dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_whole_reads_and_stats_are_plausible() -> Result<()> {
        let s = FakeSource::new("w", DType::F32, 10_000, Init::Normal(0.02), 7, 3, false)?;
        let whole = s.read(0..40_000)?.into_owned();
        let part = s.read(4_000..8_000)?.into_owned();
        assert_eq!(&whole[4_000..8_000], &part[..]);
        let v: Vec<f32> = whole
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
        let var = v
            .iter()
            .map(|x| (f64::from(*x) - mean).powi(2))
            .sum::<f64>()
            / v.len() as f64;
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((var.sqrt() - 0.02).abs() < 0.001, "std {}", var.sqrt());
        let other = FakeSource::new("w", DType::F32, 10_000, Init::Normal(0.02), 8, 3, false)?;
        assert_ne!(other.read(0..40)?.into_owned(), whole[..40].to_vec());
        let norm = FakeSource::new(
            "model.norm.weight",
            DType::BF16,
            4,
            Init::Normal(0.02),
            7,
            0,
            false,
        )?;
        assert_eq!(norm.read(0..8)?.into_owned(), [0x80, 0x3f].repeat(4));
        Ok(())
    }
}
