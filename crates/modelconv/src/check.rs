//! The inference check's report, and the hook that runs it.
//!
//! The forward passes live in `modelconv-infer` (candle, tokenizers); this
//! crate only knows the report they produce and the [`InferenceCheck`]
//! trait that `convert --validate` calls, so the CLI and the Python
//! bindings render one typed report and the conversion library does not
//! build candle.

use serde::Serialize;

use crate::Result;

/// One output kind compared (`sentence_embedding`, `image_embeds`, ...).
#[derive(Debug, Clone, Serialize)]
pub struct KindComparison {
    /// Output kind.
    pub kind: String,
    /// Cosine similarity per sample.
    pub cosines: Vec<f64>,
    /// Average cosine.
    pub average: f64,
    /// Lowest cosine.
    pub min: f64,
    /// Highest cosine.
    pub max: f64,
    /// Standard deviation of the cosines.
    pub std: f64,
    /// Largest |a − b| over all values.
    pub max_abs_diff: f64,
}

/// The seeds' validation report.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Number of samples compared (over all kinds).
    pub samples: usize,
    /// Per output kind.
    pub kinds: Vec<KindComparison>,
    /// Lowest cosine over everything.
    pub min_cosine: f64,
    /// Threshold the lowest cosine must reach.
    pub threshold: f64,
    /// Non-finite values (NaN, ±Inf) in the source's and the output's
    /// outputs: any fails the check, whatever the cosines say.
    pub non_finite: (usize, usize),
    /// No non-finite value and `min_cosine >= threshold`.
    pub passed: bool,
}

/// One side of the check.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Path or hub id.
    pub path: String,
    /// Format detected.
    pub format: String,
    /// Family the forward pass used.
    pub family: modelconv_arch::Family,
    /// Size of its files in bytes.
    pub size_bytes: u64,
}

/// What `check-inference` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The source model.
    pub source: Side,
    /// The converted model.
    pub output: Side,
    /// `source.size_bytes / output.size_bytes`.
    pub compression_ratio: f64,
    /// The comparison (cosine statistics, PASS/FAIL).
    pub comparison: Comparison,
}

/// How `convert --validate` asks for the check.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Force the source's family.
    pub model_type: Option<modelconv_arch::Family>,
    /// Read models whose tensors declare far more bytes than their files hold.
    pub allow_amplification: bool,
}

/// Runs both models through the same forward pass and compares them
/// (implemented by `modelconv-infer`).
pub trait InferenceCheck: Send + Sync + std::fmt::Debug {
    /// Compares `output` with `source`.
    fn check(&self, source: &str, output: &str, req: &CheckRequest) -> Result<CheckReport>;
}
