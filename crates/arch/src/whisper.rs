//! Whisper (`WhisperForConditionalGeneration`): a convolutional front end
//! and transformer encoder over log-mel features, and a text decoder.
//!
//! `--component encoder` keeps the encoder under the names a standalone
//! `WhisperEncoder` uses (`model.encoder.` stripped), so
//! `WhisperEncoder.from_pretrained` loads it with no missing or unexpected
//! keys.
//!
//! The seeds' key map (`--key-map seeds`; the default for the seeds'
//! Parquet layout) renames tensors as in [`SEEDS_KEY_MAP`]; reading such
//! files back reverses it.

use modelconv_core::{Error, Result};
use serde_json::{json, Map, Value};

use crate::config::Cfg;
use crate::family::{Component, Extraction};
use crate::TensorSpec;

/// The seeds' renames, as `(Hugging Face name suffix, seeds name suffix)`.
/// They apply to encoder tensors only (the seeds converted the encoder).
///
/// | Hugging Face (`WhisperEncoder`) | seeds |
/// |---|---|
/// | `embed_positions.weight` | `position_embedding.weight` |
pub const SEEDS_KEY_MAP: &[(&str, &str)] =
    &[("embed_positions.weight", "position_embedding.weight")];

fn is_encoder_name(name: &str) -> bool {
    // Whole model (`model.encoder.`), `WhisperModel` (`encoder.`) or an
    // extracted encoder (no prefix, no `decoder.`).
    !name.contains("decoder.")
}

/// The seeds' name of an HF tensor name (unchanged if the map does not touch it).
pub fn to_seeds(name: &str) -> String {
    rename(name, false)
}

/// The HF name of a seeds tensor name (unchanged if the map does not touch it).
pub fn from_seeds(name: &str) -> String {
    rename(name, true)
}

fn rename(name: &str, reverse: bool) -> String {
    if !is_encoder_name(name) {
        return name.to_string();
    }
    for (hf, seeds) in SEEDS_KEY_MAP {
        let (from, to) = if reverse { (seeds, hf) } else { (hf, seeds) };
        if let Some(head) = name.strip_suffix(from) {
            if head.is_empty() || head.ends_with('.') {
                return format!("{head}{to}");
            }
        }
    }
    name.to_string()
}

struct Sizes {
    d_model: usize,
    mels: usize,
    enc_layers: usize,
    enc_heads: usize,
    enc_ffn: usize,
    dec_layers: usize,
    dec_heads: usize,
    dec_ffn: usize,
    vocab: usize,
    max_source: usize,
    max_target: usize,
}

/// transformers' `WhisperConfig` defaults (whisper-tiny sizes).
fn sizes(config: &Value) -> Sizes {
    let c = Cfg::new(config);
    Sizes {
        d_model: c.usize("d_model", 384),
        mels: c.usize("num_mel_bins", 80),
        enc_layers: c.usize("encoder_layers", 4),
        enc_heads: c.usize("encoder_attention_heads", 6),
        enc_ffn: c.usize("encoder_ffn_dim", 1536),
        dec_layers: c.usize("decoder_layers", 4),
        dec_heads: c.usize("decoder_attention_heads", 6),
        dec_ffn: c.usize("decoder_ffn_dim", 1536),
        vocab: c.usize("vocab_size", 51865),
        max_source: c.usize("max_source_positions", 1500),
        max_target: c.usize("max_target_positions", 448),
    }
}

/// The seeds' summary. For the encoder it has exactly the seeds' Whisper
/// fields (n_mels, hidden_size, num_layers, num_attention_heads,
/// intermediate_size, layer_norm_eps, max_positions).
pub fn summary(config: &Value, component: Option<Component>) -> Map<String, Value> {
    let s = sizes(config);
    let mut m = Map::new();
    m.insert("n_mels".into(), json!(s.mels));
    m.insert("hidden_size".into(), json!(s.d_model));
    m.insert("num_layers".into(), json!(s.enc_layers));
    m.insert("num_attention_heads".into(), json!(s.enc_heads));
    m.insert("intermediate_size".into(), json!(s.enc_ffn));
    // Whisper's LayerNorms use torch's default epsilon.
    m.insert("layer_norm_eps".into(), json!(1e-5));
    m.insert("max_positions".into(), json!(s.max_source));
    if component != Some(Component::Encoder) {
        m.insert("decoder_layers".into(), json!(s.dec_layers));
        m.insert("decoder_attention_heads".into(), json!(s.dec_heads));
        m.insert("decoder_ffn_dim".into(), json!(s.dec_ffn));
        m.insert("vocab_size".into(), json!(s.vocab));
        m.insert("max_target_positions".into(), json!(s.max_target));
    }
    m
}

fn attention(out: &mut Vec<TensorSpec>, pre: &str, d: usize) {
    // k_proj has no bias in Whisper.
    out.push((format!("{pre}.k_proj.weight"), vec![d, d]));
    for proj in ["v_proj", "q_proj", "out_proj"] {
        out.push((format!("{pre}.{proj}.weight"), vec![d, d]));
        out.push((format!("{pre}.{proj}.bias"), vec![d]));
    }
}

fn norm(out: &mut Vec<TensorSpec>, name: &str, d: usize) {
    out.push((format!("{name}.weight"), vec![d]));
    out.push((format!("{name}.bias"), vec![d]));
}

fn ffn(out: &mut Vec<TensorSpec>, pre: &str, d: usize, f: usize) {
    out.push((format!("{pre}.fc1.weight"), vec![f, d]));
    out.push((format!("{pre}.fc1.bias"), vec![f]));
    out.push((format!("{pre}.fc2.weight"), vec![d, f]));
    out.push((format!("{pre}.fc2.bias"), vec![d]));
}

/// The tensors of a standalone `WhisperEncoder` (prefix `prefix`, e.g. `model.encoder.` or empty).
pub fn encoder_tensors(config: &Value, prefix: &str) -> Vec<TensorSpec> {
    let s = sizes(config);
    let d = s.d_model;
    let mut out: Vec<TensorSpec> = vec![
        (format!("{prefix}conv1.weight"), vec![d, s.mels, 3]),
        (format!("{prefix}conv1.bias"), vec![d]),
        (format!("{prefix}conv2.weight"), vec![d, d, 3]),
        (format!("{prefix}conv2.bias"), vec![d]),
        (
            format!("{prefix}embed_positions.weight"),
            vec![s.max_source, d],
        ),
    ];
    for l in 0..s.enc_layers {
        let pre = format!("{prefix}layers.{l}");
        attention(&mut out, &format!("{pre}.self_attn"), d);
        norm(&mut out, &format!("{pre}.self_attn_layer_norm"), d);
        ffn(&mut out, &pre, d, s.enc_ffn);
        norm(&mut out, &format!("{pre}.final_layer_norm"), d);
    }
    norm(&mut out, &format!("{prefix}layer_norm"), d);
    out
}

/// The tensors of a saved `WhisperForConditionalGeneration` (`proj_out`
/// is tied to the decoder's token embedding and not saved).
pub fn expected_tensors(config: &Value) -> Result<Vec<TensorSpec>> {
    let s = sizes(config);
    let d = s.d_model;
    let mut out = encoder_tensors(config, "model.encoder.");
    out.push(("model.decoder.embed_tokens.weight".into(), vec![s.vocab, d]));
    out.push((
        "model.decoder.embed_positions.weight".into(),
        vec![s.max_target, d],
    ));
    for l in 0..s.dec_layers {
        let pre = format!("model.decoder.layers.{l}");
        attention(&mut out, &format!("{pre}.self_attn"), d);
        norm(&mut out, &format!("{pre}.self_attn_layer_norm"), d);
        attention(&mut out, &format!("{pre}.encoder_attn"), d);
        norm(&mut out, &format!("{pre}.encoder_attn_layer_norm"), d);
        ffn(&mut out, &pre, d, s.dec_ffn);
        norm(&mut out, &format!("{pre}.final_layer_norm"), d);
    }
    norm(&mut out, "model.decoder.layer_norm", d);
    Ok(out)
}

/// True if `name` belongs to a Whisper model.
pub fn matches_name(name: &str) -> bool {
    name.ends_with("encoder.conv1.weight")
        || (name.contains("encoder.embed_positions") && !name.contains("layer."))
        || name.ends_with("encoder_attn.k_proj.weight")
}

/// Plans `--component encoder`: `model.encoder.X` (or `encoder.X`) → `X`.
pub fn extract_encoder(config: &Value, names: &[String]) -> Result<Extraction> {
    let tensors: Vec<(String, String)> = names
        .iter()
        .filter_map(|n| {
            n.strip_prefix("model.encoder.")
                .or_else(|| n.strip_prefix("encoder."))
                .map(|rest| (n.clone(), rest.to_string()))
        })
        .collect();
    if tensors.is_empty() {
        return Err(Error::InvalidOption(
            "--component encoder: the model has no model.encoder.* tensors".into(),
        ));
    }
    let mut out = match config {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    out.insert("architectures".into(), json!(["WhisperEncoder"]));
    // The extracted model has no decoder.
    out.insert("decoder_layers".into(), json!(0));
    Ok(Extraction {
        tensors,
        config: Value::Object(out),
    })
}
