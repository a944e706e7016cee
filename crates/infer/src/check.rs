//! `check-inference`: run the source and the converted model through the
//! same forward pass and compare their outputs (the seeds' validation).
//!
//! Both models are opened with modelconv's [`WeightLoader`], so any two
//! formats it reads can be compared (HF ↔ Parquet ↔ safetensors ↔ NumPy,
//! quantized tensors dequantized). Each side runs with its own family,
//! config and tokenizer: a muP model folded into plain LLaMA runs as
//! LLaMA, a vision-only CLIP extraction is compared on the image
//! embeddings it shares with the full model.

use std::path::{Path, PathBuf};

use modelconv::arch::Family;
use modelconv::WeightLoader;
use modelconv_core::{Error, Result};

use crate::{compare, run, Inputs, ModelRef, Weights};

/// `check-inference` settings. Default: built-in inputs, threshold 0.99,
/// families detected.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Lowest acceptable cosine similarity.
    pub threshold: f64,
    /// Inputs (built-in, texts, audio files).
    pub inputs: Inputs,
    /// Force the source's family.
    pub model_type: Option<Family>,
    /// Read models whose tensors declare far more bytes than their files hold.
    pub allow_amplification: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threshold: 0.99,
            inputs: Inputs::Builtin,
            model_type: None,
            allow_amplification: false,
        }
    }
}

pub use modelconv::check::{CheckReport, Side};

struct Loaded(WeightLoader);

impl Weights for Loaded {
    fn names(&self) -> Vec<String> {
        self.0.tensors().map(|t| t.name.clone()).collect()
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.0.info(name).ok().map(|t| t.shape.clone())
    }
    fn get_f32(&self, name: &str) -> Result<Vec<f32>> {
        self.0.get_f32(name)
    }
}

fn side(
    src: &str,
    forced: Option<Family>,
    allow_amplification: bool,
) -> Result<(Loaded, Side, serde_json::Value, Option<PathBuf>)> {
    let loader = WeightLoader::open_checked(src, allow_amplification)?;
    let model = loader.model();
    let family = match forced {
        Some(f) => f,
        None => {
            let d = modelconv::family::detect_model(model);
            d.family.ok_or_else(|| {
                Error::InvalidOption(format!(
                    "{src}: {} (check-inference needs a known family; add --model-type)",
                    d.reason
                ))
            })?
        }
    };
    let config = model.config.clone().ok_or_else(|| {
        Error::InvalidOption(format!(
            "{src}: no config.json (or Parquet metadata) to build the model from"
        ))
    })?;
    // Wrong shapes are a typed error naming the tensor, not a failure
    // inside the forward pass.
    modelconv::arch::shapes::check(
        family,
        &config,
        model
            .tensors
            .iter()
            .map(|t| (t.info.name.as_str(), t.info.shape.as_slice())),
        &model.root,
    )?;
    let dir = if model.root.is_dir() {
        Some(model.root.clone())
    } else {
        model.root.parent().map(Path::to_path_buf)
    };
    let info = Side {
        path: src.to_string(),
        format: model.format_description(),
        family,
        size_bytes: model.source_size_bytes(),
    };
    Ok((Loaded(loader), info, config, dir))
}

/// Runs `source` and `output` through their forward passes and compares them.
pub fn check_inference(source: &str, output: &str, opts: &CheckOptions) -> Result<CheckReport> {
    let allow = opts.allow_amplification;
    let (a, sa, ca, da) = side(source, opts.model_type, allow)?;
    // The output keeps the source's family unless its own config says
    // otherwise (a muP model folded into LLaMA).
    let (b, sb, cb, db) =
        side(output, None, allow).or_else(|_| side(output, Some(sa.family), allow))?;
    // A single-file output (GGUF, .safetensors) without its own tokenizer
    // uses the source's, so both sides see the same token ids.
    let has_tok = |d: &Option<PathBuf>| {
        d.as_ref().is_some_and(|d| {
            d.join("tokenizer.json").is_file() || d.join("tokenizer/tokenizer.json").is_file()
        })
    };
    let db = if has_tok(&db) { db } else { da.clone() };
    let ra = run(
        sa.family,
        &ModelRef {
            weights: &a,
            config: &ca,
            dir: da.as_deref(),
        },
        &opts.inputs,
    )?;
    let rb = run(
        sb.family,
        &ModelRef {
            weights: &b,
            config: &cb,
            dir: db.as_deref(),
        },
        &opts.inputs,
    )?;
    let comparison = compare(&ra, &rb, opts.threshold)?;
    Ok(CheckReport {
        compression_ratio: if sb.size_bytes > 0 {
            sa.size_bytes as f64 / sb.size_bytes as f64
        } else {
            0.0
        },
        source: sa,
        output: sb,
        comparison,
    })
}

/// The forward-pass check as the hook `convert --validate` calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checker;

impl modelconv::check::InferenceCheck for Checker {
    fn check(
        &self,
        source: &str,
        output: &str,
        req: &modelconv::check::CheckRequest,
    ) -> Result<CheckReport> {
        let opts = CheckOptions {
            model_type: req.model_type,
            allow_amplification: req.allow_amplification,
            ..CheckOptions::default()
        };
        check_inference(source, output, &opts)
    }
}
