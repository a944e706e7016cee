//! `verify`: compares two models tensor by tensor.
//!
//! Tensors pair up by name, through the renames modelconv itself makes
//! (the seeds' Whisper key map, component extraction prefixes, an untied
//! `lm_head` that was the token embedding). For each pair: shapes, bit-exactness (same
//! dtype and bytes), and on the f32 values (cast, or dequantized for int8
//! with scales and GGUF quant types) the max absolute error, RMSE, cosine
//! similarity and SNR, accumulated in f64. NaNs must sit at the same
//! positions; ±Inf must match. One tensor pair is in memory at a time.
//!
//! What a pair must satisfy is what the conversion promised ([`Check`]): by
//! default a tensor of the same dtype is bit-exact, a float tensor of
//! another float dtype equals the source cast to it (bit for bit), and a
//! quantized tensor keeps a cosine bound that depends on its type
//! ([`lossy_min_cosine`]). `--exact` asks for identical bytes everywhere;
//! `--min-cosine` / `--max-rmse` judge every tensor by those numbers.

use std::collections::BTreeMap;

use modelconv_core::cast::{can_cast, cast};
use modelconv_core::{DType, Error};
use serde::Serialize;

use crate::loader::WeightLoader;
use crate::Result;

/// Pass criteria. `VerifyOptions::default()`: every tensor as the
/// conversion promised (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Require identical dtypes and bytes for every tensor.
    pub exact: bool,
    /// Lowest acceptable cosine similarity per tensor.
    pub min_cosine: Option<f64>,
    /// Highest acceptable RMSE per tensor.
    pub max_rmse: Option<f64>,
    /// Source tensors absent from the output do not fail the check (the
    /// output is a component extraction); they are still listed.
    pub allow_missing: bool,
    /// Read models whose tensors declare far more bytes than their files
    /// hold (see [`modelconv_core::Model::check_amplification`]).
    pub allow_amplification: bool,
}

/// What one tensor pair is held to.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Identical dtype and bytes.
    Exact,
    /// The output equals the source cast to the output's dtype, bit for bit.
    Cast(DType, DType),
    /// A quantized output (its type): cosine at least the bound.
    Quantized(String, f64),
    /// The thresholds given (`--min-cosine`, `--max-rmse`).
    Thresholds,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Exact => write!(f, "bit-exact"),
            Check::Cast(a, b) => write!(f, "bit-exact after the cast {a}->{b}"),
            Check::Quantized(t, c) => write!(f, "quantized {t}: cosine >= {c}"),
            Check::Thresholds => write!(f, "the given thresholds"),
        }
    }
}

/// The lowest cosine a tensor quantized to `encoding` must keep against
/// its source. The bounds leave a margin below what round-to-nearest
/// quantization gives on Gaussian weights (lowest per type over the family
/// fixtures and a 512-wide fake LLaMA for the k-quants: Q8_0 0.99998,
/// Q6_K 0.9998, Q5 0.9990, Q4 0.9960, Q3_K 0.9886, Q2_K 0.957; a test
/// checks them): a bug that scrambles blocks falls far below, honest
/// rounding does not.
pub fn lossy_min_cosine(encoding: &str) -> f64 {
    let e = encoding.to_ascii_uppercase();
    let bits = |p: &str| e.starts_with(p) || e.starts_with(&format!("I{p}"));
    if e == "I8" || e == "U8" {
        // Per channel, so one outlier widens a whole row's step
        // (all-MiniLM-L6-v2: 0.99941).
        0.995
    } else if bits("Q8") {
        0.9995
    } else if bits("Q6") {
        0.999
    } else if bits("Q5") {
        0.995
    } else if bits("Q4") {
        0.99
    } else if bits("Q3") {
        0.97
    } else {
        0.9
    }
}

impl VerifyOptions {
    /// What the pair (`src` in the source, `out` in the output, decoded
    /// from `encoding` if quantized) is held to.
    fn check(&self, src: DType, out: DType, encoding: Option<&str>) -> Check {
        if self.exact {
            Check::Exact
        } else if self.min_cosine.is_some() || self.max_rmse.is_some() {
            Check::Thresholds
        } else if let Some(e) = encoding {
            Check::Quantized(e.to_string(), lossy_min_cosine(e))
        } else if src == out {
            Check::Exact
        } else if can_cast(src, out) {
            Check::Cast(src, out)
        } else {
            // An int8 tensor with scales against its float source, or the
            // other way round.
            let e = if src.is_float() { out } else { src };
            Check::Quantized(e.name().to_string(), lossy_min_cosine(e.name()))
        }
    }
}

/// One tensor pair.
#[derive(Debug, Clone, Serialize)]
pub struct TensorDiff {
    /// Tensor name.
    pub name: String,
    /// What the pair was held to (see [`Check`]).
    pub check: String,
    /// Dtype in the source and the output.
    pub dtypes: (String, String),
    /// Shape in the source and the output.
    pub shapes: (Vec<usize>, Vec<usize>),
    /// Same dtype and same bytes.
    pub bit_exact: bool,
    /// Largest |a − b| over finite values.
    pub max_abs_error: f64,
    /// Root mean square error.
    pub rmse: f64,
    /// Cosine similarity (1 for two all-zero tensors).
    pub cosine: f64,
    /// Signal-to-noise ratio in dB (infinite when equal).
    pub snr_db: f64,
    /// Passed the thresholds.
    pub passed: bool,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Every compared tensor passed and none is missing.
    pub passed: bool,
    /// Tensors compared.
    pub compared: usize,
    /// Of those, bit-exact.
    pub bit_exact: usize,
    /// Lowest cosine over all tensors.
    pub min_cosine: f64,
    /// Highest RMSE over all tensors.
    pub max_rmse: f64,
    /// Highest absolute error over all tensors.
    pub max_abs_error: f64,
    /// Source tensors absent from the output.
    pub missing: Vec<String>,
    /// Output tensors absent from the source (quantization companions
    /// `*_scale` / `*_zero_point` of a compared tensor are not listed).
    pub extra: Vec<String>,
    /// How many pairs were held to each kind of check (its description).
    pub checks: BTreeMap<String, usize>,
    /// Per-tensor results, in source order.
    pub tensors: Vec<TensorDiff>,
}

/// The source tensor an output tensor pairs with: the same name, else the
/// name before one of modelconv's own renames.
fn source_name(a: &WeightLoader, out: &str) -> Option<String> {
    use modelconv_arch::whisper::from_seeds;
    let unseeded = from_seeds(out);
    let mut candidates = vec![
        out.to_string(),
        unseeded.clone(),
        format!("model.encoder.{out}"),
        format!("model.encoder.{unseeded}"),
        format!("encoder.{out}"),
    ];
    if out == "lm_head.weight" {
        // Tied embeddings written as a separate head (muP folding, GGUF).
        candidates.push("model.embed_tokens.weight".into());
    }
    candidates.into_iter().find(|c| a.contains(c))
}

/// Metrics of two equally long value slices.
pub fn metrics(a: &[f32], b: &[f32]) -> std::result::Result<(f64, f64, f64, f64), String> {
    let (mut max_abs, mut err2, mut dot, mut na, mut nb) = (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut n = 0usize;
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        if x.is_nan() || y.is_nan() {
            if x.is_nan() != y.is_nan() {
                return Err(format!("NaN at element {i} in only one of them"));
            }
            continue;
        }
        if x.is_infinite() || y.is_infinite() {
            if x != y {
                return Err(format!("element {i}: {x} vs {y}"));
            }
            continue;
        }
        let (x, y) = (f64::from(x), f64::from(y));
        let d = x - y;
        max_abs = max_abs.max(d.abs());
        err2 += d * d;
        dot += x * y;
        na += x * x;
        nb += y * y;
        n += 1;
    }
    let rmse = if n > 0 { (err2 / n as f64).sqrt() } else { 0.0 };
    let cosine = if na == 0.0 && nb == 0.0 {
        1.0
    } else if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    };
    let snr_db = if err2 == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (na / err2).log10()
    };
    Ok((max_abs, rmse, cosine, snr_db))
}

/// Compares `source` and `output` (paths or hub ids).
pub fn verify(source: &str, output: &str, opts: &VerifyOptions) -> Result<VerifyReport> {
    // Each side is checked as soon as it is read, so a refused source is
    // not held in memory while the output is read.
    let a = WeightLoader::open_checked(source, opts.allow_amplification)?;
    let b = WeightLoader::open_checked(output, opts.allow_amplification)?;
    let mut report = VerifyReport {
        passed: true,
        compared: 0,
        bit_exact: 0,
        min_cosine: 1.0,
        max_rmse: 0.0,
        max_abs_error: 0.0,
        missing: Vec::new(),
        extra: Vec::new(),
        checks: BTreeMap::new(),
        tensors: Vec::new(),
    };
    // Output name for each source name; a source tensor may feed several
    // outputs (a tied embedding written twice): each pair is compared.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut extra = Vec::new();
    for info in b.tensors() {
        let n = &info.name;
        match source_name(&a, n) {
            Some(src) => pairs.push((src, n.clone())),
            None => {
                let companion = ["_scale", "_zero_point", ".scale", ".zero_point"]
                    .iter()
                    .any(|s| n.strip_suffix(s).is_some_and(|base| b.contains(base)));
                if !companion {
                    extra.push(n.clone());
                }
            }
        }
    }
    let order: std::collections::HashMap<&str, usize> = a
        .tensors()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    pairs.sort_by_key(|(src, _)| order.get(src.as_str()).copied().unwrap_or(usize::MAX));
    let paired: std::collections::HashSet<&str> = pairs.iter().map(|(s, _)| s.as_str()).collect();
    for info in a.tensors() {
        if !paired.contains(info.name.as_str()) {
            report.missing.push(info.name.clone());
        }
    }
    drop(paired);
    report.extra = extra;
    for (src, out) in &pairs {
        let info = a.info(src)?;
        let other = b.info(out)?;
        let diff_name = if src == out {
            src.clone()
        } else {
            format!("{src} -> {out}")
        };
        let encoding = b.encoding(out)?;
        let check = opts.check(info.dtype, other.dtype, encoding.as_deref());
        let mut diff = TensorDiff {
            name: diff_name,
            check: check.to_string(),
            dtypes: (info.dtype.name().into(), other.dtype.name().into()),
            shapes: (info.shape.clone(), other.shape.clone()),
            bit_exact: false,
            max_abs_error: 0.0,
            rmse: 0.0,
            cosine: 1.0,
            snr_db: f64::INFINITY,
            passed: true,
            problem: None,
        };
        report.compared += 1;
        *report.checks.entry(diff.check.clone()).or_insert(0) += 1;
        if info.shape != other.shape {
            diff.passed = false;
            diff.problem = Some("shapes differ".into());
        } else {
            compare(&a, src, &b, out, &check, opts, &mut diff)?;
        }
        report.bit_exact += usize::from(diff.bit_exact);
        report.min_cosine = report.min_cosine.min(diff.cosine);
        report.max_rmse = report.max_rmse.max(diff.rmse);
        report.max_abs_error = report.max_abs_error.max(diff.max_abs_error);
        report.passed &= diff.passed;
        report.tensors.push(diff);
    }
    report.passed &= (opts.allow_missing || report.missing.is_empty()) && report.extra.is_empty();
    Ok(report)
}

/// Compares one pair of the same shape by `check`, filling `diff`.
fn compare(
    a: &WeightLoader,
    src: &str,
    b: &WeightLoader,
    out: &str,
    check: &Check,
    opts: &VerifyOptions,
    diff: &mut TensorDiff,
) -> Result<()> {
    let (sa, sb) = (a.info(src)?.dtype, b.info(out)?.dtype);
    let (src_bytes, out_bytes) = (a.get(src)?, b.get(out)?);
    diff.bit_exact = sa == sb && src_bytes == out_bytes;
    if !diff.bit_exact {
        match metrics(&a.get_f32(src)?, &b.get_f32(out)?) {
            Ok((m, r, c, s)) => {
                diff.max_abs_error = m;
                diff.rmse = r;
                diff.cosine = c;
                diff.snr_db = s;
            }
            Err(p) => {
                diff.passed = false;
                diff.problem = Some(p);
                return Ok(());
            }
        }
    }
    if diff.bit_exact {
        return Ok(());
    }
    let problem = match check {
        Check::Exact => Some("not bit-exact".to_string()),
        Check::Cast(from, to) => {
            let mut cast_bytes = vec![0u8; src_bytes.len() / from.size() * to.size()];
            cast(*from, *to, &src_bytes, &mut cast_bytes)
                .map_err(|e| Error::Internal(format!("tensor '{src}': {e}")))?;
            (cast_bytes != *out_bytes).then(|| format!("differs from the source cast to {to}"))
        }
        Check::Quantized(_, min) => {
            (diff.cosine < *min).then(|| format!("cosine {:.6} below {min}", diff.cosine))
        }
        Check::Thresholds => {
            if opts.min_cosine.is_some_and(|m| diff.cosine < m) {
                Some(format!("cosine {:.6} below the threshold", diff.cosine))
            } else if opts.max_rmse.is_some_and(|m| diff.rmse > m) {
                Some(format!("RMSE {:.3e} above the threshold", diff.rmse))
            } else {
                None
            }
        }
    };
    if let Some(p) = problem {
        diff.passed = false;
        diff.problem = Some(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::metrics;

    #[test]
    fn metric_definitions() {
        let (m, r, c, s) = metrics(&[1.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).unwrap_or_default();
        assert_eq!(m, 1.0);
        assert!((r - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((c - 11.0 / (3.0 * 14f64.sqrt())).abs() < 1e-12);
        assert!((s - 10.0 * 9f64.log10()).abs() < 1e-12);
        assert!(metrics(&[f32::NAN], &[1.0]).is_err());
        assert!(metrics(&[f32::NAN, 1.0], &[f32::NAN, 1.0]).is_ok());
        let (_, _, c, s) = metrics(&[0.0; 3], &[0.0; 3]).unwrap_or_default();
        assert_eq!((c, s), (1.0, f64::INFINITY));
    }
}
