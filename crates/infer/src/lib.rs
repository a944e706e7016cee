//! Small forward passes that prove a converted model still computes what
//! the source computed (`modelconv check-inference`).
//!
//! For each family, [`run`] feeds a fixed set of inputs through the model
//! and returns its outputs: sentence embeddings (BERT and
//! sentence-transformers, with the model's own pooling), image and text
//! embeddings (CLIP), encoder states (Whisper, from a log-mel front end
//! matching transformers), next-token logits (LLaMA-style decoders).
//! [`compare`] turns two runs into the seeds' validation report (cosine
//! per sample: average, min, max, std; PASS/FAIL against a threshold).
//!
//! Tensors are computed in f32 on the CPU with candle; weights come through
//! the [`Weights`] trait so any format modelconv reads can be checked.
//! Built-in inputs are generated here exactly as the fixture script
//! (tests/data/families/make_family_fixtures.py) generates them.

pub mod bert;
pub mod check;
pub mod clip;
pub mod decoder;
pub mod images;
pub mod nn;
pub mod whisper;

use std::path::{Path, PathBuf};

use modelconv_arch::bert::SentenceTransformers;
use modelconv_arch::Family;
use modelconv_core::{Error, Result};
use serde::Serialize;
use serde_json::Value;

pub use nn::Weights;
use nn::{ce, Vb};

/// The built-in sentences (BERT, CLIP text).
pub const SENTENCES: [&str; 4] = [
    "The quick brown fox jumps over the lazy dog.",
    "Model conversion should preserve embeddings.",
    "Héllo wörld! 123 numbers & symbols?",
    "short",
];

/// The built-in decoder prompts as token ids (used when the model has no tokenizer).
pub const DECODER_IDS: [[u32; 7]; 3] = [
    [1, 15, 27, 300, 4, 99, 250],
    [1, 7, 7, 7, 8, 9, 10],
    [1, 500, 2, 33, 120, 77, 3],
];

/// A model to run.
pub struct ModelRef<'a> {
    /// Its weights.
    pub weights: &'a dyn Weights,
    /// Its `config.json`.
    pub config: &'a Value,
    /// Its directory, for `tokenizer.json` and sentence-transformers files.
    pub dir: Option<&'a Path>,
}

/// What to feed the models.
#[derive(Debug, Clone, Default)]
pub enum Inputs {
    /// The built-in sentences, images, audio or prompts.
    #[default]
    Builtin,
    /// Texts (BERT, CLIP text, decoders with a tokenizer).
    Texts(Vec<String>),
    /// 16-bit PCM mono 16 kHz WAV files (Whisper).
    Audio(Vec<PathBuf>),
    /// PNG images (CLIP): centre-cropped to a square, resized bilinearly
    /// to the model's image size, normalised with CLIP's mean/std. Both
    /// models see the same pixels; this is not transformers' bicubic
    /// resize, so compare models with it, not with transformers.
    Images(Vec<PathBuf>),
}

/// One kind of output for every sample.
#[derive(Debug, Clone, Serialize)]
pub struct Output {
    /// `sentence_embedding`, `image_embeds`, `text_embeds`, `encoder_last_hidden_state`, `next_token_logits`.
    pub kind: String,
    /// One flattened vector per sample.
    pub samples: Vec<Vec<f32>>,
}

/// A 64-bit LCG (Knuth's MMIX constants), top 24 bits of each state; the
/// fixture script uses the same stream.
pub fn lcg(n: usize, seed: u64) -> Vec<u32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as u32
        })
        .collect()
}

/// The built-in CLIP images (uint8 RGB, HWC): a gradient, a checkerboard, noise.
pub fn builtin_images(size: usize) -> Vec<Vec<u8>> {
    let last = (size.max(2) - 1) as u32;
    let mut grad = Vec::new();
    let mut check = Vec::new();
    for y in 0..size as u32 {
        for x in 0..size as u32 {
            grad.extend(
                [x * 255 / last, y * 255 / last, (x + y) * 255 / (2 * last)].map(|v| v as u8),
            );
            let c = (((x / 4) + (y / 4)) % 2 * 255) as u8;
            check.extend([c, c, c]);
        }
    }
    let noise = lcg(size * size * 3, 1)
        .into_iter()
        .map(|v| (v & 255) as u8)
        .collect();
    vec![grad, check, noise]
}

/// The built-in audio: 1.5 s of 440 + 880 Hz tones with a chirp, and 2 s of
/// uniform noise, quantised to 16-bit PCM as a WAV file would hold them.
pub fn builtin_audio() -> Vec<Vec<f32>> {
    let sr = whisper::SAMPLE_RATE as f64;
    let quant = |v: f64| ((v * 32767.0).round().clamp(-32768.0, 32767.0) as i16) as f32 / 32768.0;
    let tau = 2.0 * std::f64::consts::PI;
    let a0 = (0..(1.5 * sr) as usize)
        .map(|i| {
            let t = i as f64 / sr;
            let chirp = (tau * (200.0 + 400.0 * t) * t).sin();
            quant(0.3 * (tau * 440.0 * t).sin() + 0.2 * (tau * 880.0 * t).sin() + 0.1 * chirp)
        })
        .collect();
    let a1 = lcg(2 * whisper::SAMPLE_RATE, 2)
        .into_iter()
        .map(|v| quant(0.1 * (2.0 * f64::from(v) / f64::from(1u32 << 24) - 1.0)))
        .collect();
    vec![a0, a1]
}

fn tokenizer(dir: Option<&Path>) -> Result<Option<tokenizers::Tokenizer>> {
    let Some(dir) = dir else { return Ok(None) };
    for p in [
        dir.join("tokenizer.json"),
        dir.join("tokenizer/tokenizer.json"),
    ] {
        if p.is_file() {
            let mut tok = tokenizers::Tokenizer::from_file(&p)
                .map_err(|e| Error::InvalidOption(format!("{}: {e}", p.display())))?;
            // Padding and the attention mask are ours; a tokenizer.json that
            // pads to a fixed length would hide the real sequence lengths.
            tok.with_padding(None);
            tok.with_truncation(None)
                .map_err(|e| Error::InvalidOption(format!("{}: {e}", p.display())))?;
            return Ok(Some(tok));
        }
    }
    Ok(None)
}

/// Rows of token ids (or of a 0/1 attention mask).
pub type Ids = Vec<Vec<u32>>;

/// Token ids (with special tokens) padded to the longest, and the 0/1 mask.
fn encode_padded(tok: &tokenizers::Tokenizer, texts: &[String], pad: u32) -> Result<(Ids, Ids)> {
    let mut ids = Vec::new();
    for t in texts {
        let e = tok
            .encode(t.as_str(), true)
            .map_err(|e| Error::InvalidOption(format!("tokenizer: {e}")))?;
        ids.push(e.get_ids().to_vec());
    }
    let n = ids.iter().map(Vec::len).max().unwrap_or(0);
    let mask = ids
        .iter()
        .map(|r| (0..n).map(|i| u32::from(i < r.len())).collect())
        .collect();
    for r in &mut ids {
        r.resize(n, pad);
    }
    Ok((ids, mask))
}

fn texts(inputs: &Inputs) -> Vec<String> {
    match inputs {
        Inputs::Texts(t) => t.clone(),
        _ => SENTENCES.iter().map(|s| s.to_string()).collect(),
    }
}

fn out(kind: &str, t: &candle_core::Tensor) -> Result<Output> {
    Ok(Output {
        kind: kind.into(),
        samples: nn::rows(t)?,
    })
}

fn sentence_transformers(dir: Option<&Path>) -> Option<SentenceTransformers> {
    let dir = dir?;
    SentenceTransformers::from_files(&|rel| {
        modelconv_core::fsx::read_input_string(&dir.join(rel), 64 << 20).ok()
    })
}

/// Runs the family's forward pass on `inputs`.
pub fn run(family: Family, model: &ModelRef<'_>, inputs: &Inputs) -> Result<Vec<Output>> {
    let vb = Vb::new(model.weights);
    let cfg = model.config;
    match family {
        Family::Bert => {
            let tok = tokenizer(model.dir)?.ok_or_else(|| {
                Error::InvalidOption(
                    "check-inference for BERT needs a tokenizer.json next to the model".into(),
                )
            })?;
            let (ids, mask) = encode_padded(&tok, &texts(inputs), 0)?;
            let hidden = bert::forward(&vb, cfg, &ids, &mask)?;
            let st = sentence_transformers(model.dir);
            let mode = st
                .as_ref()
                .and_then(|s| s.pooling_mode.clone())
                .unwrap_or_else(|| "mean".into());
            let normalize = st.as_ref().is_some_and(|s| s.normalize);
            Ok(vec![out(
                "sentence_embedding",
                &bert::pool(&hidden, &mask, &mode, normalize)?,
            )?])
        }
        Family::Clip => {
            let mut outs = Vec::new();
            if clip::has_vision(&vb) {
                let size = modelconv_arch::config::Cfg::new(cfg)
                    .sub("vision_config")
                    .opt_usize("image_size")
                    .or_else(|| modelconv_arch::config::Cfg::new(cfg).opt_usize("image_size"))
                    .unwrap_or(224);
                let images = match inputs {
                    Inputs::Images(paths) => paths
                        .iter()
                        .map(|p| images::load_png(p, size))
                        .collect::<Result<Vec<_>>>()?,
                    _ => builtin_images(size),
                };
                let pixels = clip::pixels_from_uint8(&images, size)?;
                outs.push(out(
                    "image_embeds",
                    &clip::image_embeds(&vb, cfg, &pixels)?,
                )?);
            }
            if clip::has_text(&vb) {
                let (ids, mask) = match tokenizer(model.dir)? {
                    Some(tok) => encode_padded(&tok, &texts(inputs), 0)?,
                    None => clip_builtin_ids(cfg),
                };
                outs.push(out(
                    "text_embeds",
                    &clip::text_embeds(&vb, cfg, &ids, &mask)?,
                )?);
            }
            if outs.is_empty() {
                return Err(Error::InvalidOption(
                    "no CLIP vision or text tower (with projection) in the model".into(),
                ));
            }
            Ok(outs)
        }
        Family::Whisper => {
            let evb = whisper::encoder_vb(&vb).ok_or_else(|| {
                Error::InvalidOption("no Whisper encoder (conv1.weight) in the model".into())
            })?;
            let clips = match inputs {
                Inputs::Audio(paths) => paths
                    .iter()
                    .map(|p| whisper::read_wav(p))
                    .collect::<Result<Vec<_>>>()?,
                _ => builtin_audio(),
            };
            let n_mels = modelconv_arch::config::Cfg::new(cfg).usize("num_mel_bins", 80);
            let feats = whisper::features(&clips, n_mels)?;
            Ok(vec![out(
                "encoder_last_hidden_state",
                &whisper::encode(&evb, cfg, &feats)?,
            )?])
        }
        f if f.is_decoder() => {
            let ids: Vec<Vec<u32>> = match (inputs, tokenizer(model.dir)?) {
                (Inputs::Texts(t), Some(tok)) => {
                    let mut v = Vec::new();
                    for s in t {
                        let e = tok
                            .encode(s.as_str(), true)
                            .map_err(|e| Error::InvalidOption(format!("tokenizer: {e}")))?;
                        v.push(e.get_ids().to_vec());
                    }
                    v
                }
                _ => DECODER_IDS.iter().map(|r| r.to_vec()).collect(),
            };
            let mut samples = Vec::new();
            for row in &ids {
                let logits = decoder::forward(&vb, f, cfg, std::slice::from_ref(row))?;
                let t = logits.dim(1).map_err(ce)?;
                let last = logits.narrow(1, t - 1, 1).map_err(ce)?;
                samples.extend(nn::rows(&last)?);
            }
            Ok(vec![Output {
                kind: "next_token_logits".into(),
                samples,
            }])
        }
        other => Err(Error::InvalidOption(format!(
            "check-inference does not support {other} yet"
        ))),
    }
}

/// Fixed CLIP text ids when the model has no tokenizer: bos, a few ids, eos.
/// Special-token ids from the config that lie outside the vocabulary (tiny
/// and pruned CLIPs have them) are replaced by ids inside it: bos by 0,
/// eos by the highest id, which the text tower then pools at
/// ([`clip::eos_pooling`]).
fn clip_builtin_ids(config: &Value) -> (Ids, Ids) {
    let c = modelconv_arch::config::Cfg::new(config);
    let t = c.sub("text_config");
    let vocab = (t.usize("vocab_size", c.usize("vocab_size", 49408)) as u32).max(2);
    let eos = match clip::eos_pooling(config) {
        clip::Pool::At(id) => id,
        clip::Pool::HighestId => {
            let eos = t.usize("eos_token_id", 2) as u32;
            if eos < vocab {
                eos
            } else {
                vocab - 1
            }
        }
    };
    let bos = Some(t.usize("bos_token_id", 1) as u32)
        .filter(|&b| b < vocab)
        .unwrap_or(0);
    // Body ids stay below the eos id when pooling at the highest id.
    let top = if eos == vocab - 1 { vocab - 1 } else { vocab };
    let body: [&[u32]; 3] = [&[5, 17, 33], &[44, 2], &[60, 61, 62, 63, 64]];
    let rows: Vec<Vec<u32>> = body
        .iter()
        .map(|b| {
            let mut r = vec![bos];
            r.extend(b.iter().map(|v| v % top));
            r.push(eos);
            r
        })
        .collect();
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mask = rows
        .iter()
        .map(|r| (0..n).map(|i| u32::from(i < r.len())).collect())
        .collect();
    let ids = rows
        .into_iter()
        .map(|mut r| {
            r.resize(n, 0);
            r
        })
        .collect();
    (ids, mask)
}

/// Cosine similarity in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 && bb == 0.0 {
        1.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

pub use modelconv::check::{Comparison, KindComparison};

/// Compares the outputs of two runs kind by kind (kinds only one side has
/// are left out, e.g. the text tower of a full CLIP against a vision-only
/// extraction).
pub fn compare(a: &[Output], b: &[Output], threshold: f64) -> Result<Comparison> {
    let mut kinds = Vec::new();
    let mut non_finite = (0usize, 0usize);
    for x in a {
        let Some(y) = b.iter().find(|y| y.kind == x.kind) else {
            continue;
        };
        let bad = |o: &Output| {
            o.samples
                .iter()
                .flat_map(|s| s.iter())
                .filter(|v| !v.is_finite())
                .count()
        };
        non_finite.0 += bad(x);
        non_finite.1 += bad(y);
        if x.samples.len() != y.samples.len() {
            return Err(Error::InvalidOption(format!(
                "{}: {} vs {} samples",
                x.kind,
                x.samples.len(),
                y.samples.len()
            )));
        }
        let mut cosines = Vec::new();
        let mut max_abs = 0f64;
        for (s, t) in x.samples.iter().zip(&y.samples) {
            if s.len() != t.len() {
                return Err(Error::InvalidOption(format!(
                    "{}: outputs have different sizes ({} vs {})",
                    x.kind,
                    s.len(),
                    t.len()
                )));
            }
            cosines.push(cosine(s, t));
            for (p, q) in s.iter().zip(t) {
                max_abs = max_abs.max((f64::from(*p) - f64::from(*q)).abs());
            }
        }
        let n = cosines.len().max(1) as f64;
        let average = cosines.iter().sum::<f64>() / n;
        let std = (cosines.iter().map(|c| (c - average).powi(2)).sum::<f64>() / n).sqrt();
        kinds.push(KindComparison {
            kind: x.kind.clone(),
            min: cosines.iter().copied().fold(f64::INFINITY, nan_min),
            max: cosines.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            average,
            std,
            max_abs_diff: max_abs,
            cosines,
        });
    }
    if kinds.is_empty() {
        return Err(Error::InvalidOption(
            "the two models have no output kind in common".into(),
        ));
    }
    let min_cosine = kinds.iter().map(|k| k.min).fold(f64::INFINITY, nan_min);
    Ok(Comparison {
        samples: kinds.iter().map(|k| k.cosines.len()).sum(),
        kinds,
        min_cosine,
        threshold,
        non_finite,
        // NaN compares false: a NaN cosine never passes.
        passed: non_finite == (0, 0) && min_cosine >= threshold,
    })
}

/// The smaller of two values, NaN if either is (`f64::min` drops NaN).
fn nan_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}
