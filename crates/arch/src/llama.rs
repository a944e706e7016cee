//! LLaMA-style decoders: LLaMA, Mistral, Qwen2, Gemma and MiniCPM.
//!
//! They share one layout (`model.embed_tokens`, `model.layers.N.self_attn.
//! {q,k,v,o}_proj`, `mlp.{gate,up,down}_proj`, two RMSNorms per layer,
//! `model.norm`, `lm_head`) and differ in a few config-driven details that
//! [`Decoder`] collects: grouped-query attention (`num_key_value_heads`),
//! an explicit `head_dim`, q/k/v biases (Qwen2; LLaMA's `attention_bias`),
//! tied embeddings (no `lm_head.weight` in the checkpoint), rope settings,
//! and MiniCPM's muP scales (see [`crate::mup`]).

use modelconv_core::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::Cfg;
use crate::family::Family;
use crate::TensorSpec;

/// The hyper-parameters of a LLaMA-style decoder, with each family's
/// transformers defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decoder {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (GQA when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Per-head width (`head_dim`, else hidden / heads).
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// `rope_scaling` as in the config (null if none).
    pub rope_scaling: Value,
    /// Context length.
    pub max_position_embeddings: usize,
    /// `lm_head` shares the token embedding.
    pub tie_word_embeddings: bool,
    /// q/k/v projections have biases.
    pub qkv_bias: bool,
    /// o_proj has a bias.
    pub o_bias: bool,
    /// MLP projections have biases.
    pub mlp_bias: bool,
    /// Mistral's sliding window, if any.
    pub sliding_window: Option<usize>,
    /// MiniCPM muP: `scale_emb`.
    pub scale_emb: Option<f64>,
    /// MiniCPM muP: `scale_depth`.
    pub scale_depth: Option<f64>,
    /// MiniCPM muP: `dim_model_base`.
    pub dim_model_base: Option<f64>,
}

impl Decoder {
    /// Reads a decoder config of `family` (transformers defaults for missing fields).
    pub fn from_config(family: Family, config: &Value) -> Result<Decoder> {
        let c = Cfg::new(config);
        // (vocab, hidden, intermediate, layers, heads, kv heads, eps, theta, max pos, tied)
        let d = match family {
            Family::Mistral => (
                32000,
                4096,
                14336,
                32,
                32,
                Some(8),
                1e-6,
                10000.0,
                32768,
                false,
            ),
            Family::Qwen2 => (
                151936,
                4096,
                22016,
                32,
                32,
                Some(32),
                1e-6,
                10000.0,
                32768,
                false,
            ),
            Family::Gemma => (
                256000,
                3072,
                24576,
                28,
                16,
                Some(16),
                1e-6,
                10000.0,
                8192,
                true,
            ),
            Family::MiniCpm => (122753, 2304, 5760, 40, 36, None, 1e-6, 10000.0, 2048, true),
            _ => (32000, 4096, 11008, 32, 32, None, 1e-6, 10000.0, 2048, false),
        };
        let hidden = c.usize("hidden_size", d.1);
        let heads = c.usize("num_attention_heads", d.4);
        if heads == 0 {
            return Err(Error::InvalidOption(
                "config.json: num_attention_heads is 0".into(),
            ));
        }
        let kv = c.usize("num_key_value_heads", d.5.unwrap_or(heads));
        if kv == 0 || !heads.is_multiple_of(kv) {
            return Err(Error::InvalidOption(format!(
                "config.json: num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv})"
            )));
        }
        let default_head_dim = if family == Family::Gemma {
            256
        } else {
            hidden / heads
        };
        let attention_bias = c.bool("attention_bias", false);
        Ok(Decoder {
            vocab_size: c.usize("vocab_size", d.0),
            hidden_size: hidden,
            intermediate_size: c.usize("intermediate_size", d.2),
            num_layers: c.usize("num_hidden_layers", d.3),
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim: c.usize("head_dim", default_head_dim),
            rms_norm_eps: c.f64("rms_norm_eps", d.6),
            rope_theta: c
                .opt_f64("rope_theta")
                .or_else(|| c.sub("rope_parameters").opt_f64("rope_theta"))
                .unwrap_or(d.7),
            rope_scaling: c.get("rope_scaling").cloned().unwrap_or(Value::Null),
            max_position_embeddings: c.usize("max_position_embeddings", d.8),
            tie_word_embeddings: c.bool("tie_word_embeddings", d.9),
            qkv_bias: family == Family::Qwen2 || attention_bias,
            o_bias: attention_bias,
            mlp_bias: c.bool("mlp_bias", false),
            sliding_window: if family == Family::Mistral {
                c.opt_usize("sliding_window")
            } else {
                None
            },
            scale_emb: c.opt_f64("scale_emb"),
            scale_depth: c.opt_f64("scale_depth"),
            dim_model_base: c.opt_f64("dim_model_base"),
        })
    }
}

/// The seeds-style summary of a decoder config.
pub fn summary(family: Family, config: &Value) -> Map<String, Value> {
    match Decoder::from_config(family, config).map(serde_json::to_value) {
        Ok(Ok(Value::Object(mut m))) => {
            m.retain(|_, v| !v.is_null());
            m
        }
        _ => Map::new(),
    }
}

/// The tensors of a saved `*ForCausalLM`, in state-dict order
/// (`lm_head.weight` only when embeddings are not tied).
pub fn expected_tensors(family: Family, config: &Value) -> Result<Vec<TensorSpec>> {
    let d = Decoder::from_config(family, config)?;
    let (h, q, kv, i) = (
        d.hidden_size,
        d.num_attention_heads * d.head_dim,
        d.num_key_value_heads * d.head_dim,
        d.intermediate_size,
    );
    let mut out: Vec<TensorSpec> =
        vec![("model.embed_tokens.weight".into(), vec![d.vocab_size, h])];
    for l in 0..d.num_layers {
        let pre = format!("model.layers.{l}");
        for (proj, rows) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
            out.push((format!("{pre}.self_attn.{proj}.weight"), vec![rows, h]));
            if d.qkv_bias {
                out.push((format!("{pre}.self_attn.{proj}.bias"), vec![rows]));
            }
        }
        out.push((format!("{pre}.self_attn.o_proj.weight"), vec![h, q]));
        if d.o_bias {
            out.push((format!("{pre}.self_attn.o_proj.bias"), vec![h]));
        }
        for (proj, shape) in [
            ("gate_proj", vec![i, h]),
            ("up_proj", vec![i, h]),
            ("down_proj", vec![h, i]),
        ] {
            let rows = shape[0];
            out.push((format!("{pre}.mlp.{proj}.weight"), shape));
            if d.mlp_bias {
                out.push((format!("{pre}.mlp.{proj}.bias"), vec![rows]));
            }
        }
        out.push((format!("{pre}.input_layernorm.weight"), vec![h]));
        out.push((format!("{pre}.post_attention_layernorm.weight"), vec![h]));
    }
    out.push(("model.norm.weight".into(), vec![h]));
    if !d.tie_word_embeddings {
        out.push(("lm_head.weight".into(), vec![d.vocab_size, h]));
    }
    Ok(out)
}

/// True if `name` belongs to a LLaMA-style decoder.
pub fn matches_name(name: &str) -> bool {
    name.starts_with("model.layers.")
        && (name.ends_with("mlp.gate_proj.weight") || name.ends_with("self_attn.q_proj.weight"))
}
