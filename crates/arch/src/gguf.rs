//! How each family appears in GGUF, following llama.cpp's own converter
//! (`convert_hf_to_gguf.py` and its `conversion/` modules): the
//! architecture name, tensor names, per-tensor value changes (the Q/K row
//! permutation for LLaMA-class RoPE, Gemma's `norm + 1`), and the
//! hyper-parameter keys llama.cpp reads.
//!
//! This module only describes; the GGUF writer and reader apply it.

use modelconv_core::{Error, Result};
use serde_json::Value;

use crate::bert::SentenceTransformers;
use crate::config::Cfg;
use crate::family::Family;
use crate::llama::Decoder;

/// A GGUF metadata value, as the family layer describes it.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// `uint32`.
    U32(u32),
    /// `float32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// `string`.
    Str(String),
}

/// The GGUF `general.architecture` of a family (Mistral is written as `llama`).
pub fn arch_name(family: Family) -> Option<&'static str> {
    Some(match family {
        Family::Llama | Family::Mistral => "llama",
        Family::Qwen2 => "qwen2",
        Family::Gemma => "gemma",
        Family::MiniCpm => "minicpm",
        Family::Bert => "bert",
        Family::Clip | Family::Whisper => return None,
    })
}

/// What happens to a tensor's values on the way to GGUF.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueChange {
    /// Unchanged.
    None,
    /// Rows reordered per head from HF's rotate-half order to the
    /// interleaved order of ggml's normal RoPE ([`permute_rows`]), with
    /// this many heads.
    PermuteHeads(usize),
    /// Add this constant (Gemma stores RMSNorm weights as `w`, ggml multiplies by `1 + w`).
    Add(f32),
}

/// A tensor's GGUF name and value change.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensor {
    /// GGUF tensor name (e.g. `blk.0.attn_q.weight`).
    pub name: String,
    /// Value change.
    pub change: ValueChange,
}

/// True if llama.cpp runs this family with normal (interleaved) RoPE, so HF's
/// Q/K rows must be permuted back.
pub fn permutes_qk(family: Family) -> bool {
    matches!(family, Family::Llama | Family::Mistral | Family::MiniCpm)
}

fn split_layer(name: &str, prefix: &str) -> Option<(usize, String)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, tail) = rest.split_once('.')?;
    Some((n.parse().ok()?, tail.to_string()))
}

const DECODER_LAYER: &[(&str, &str)] = &[
    ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("post_attention_layernorm", "ffn_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];

const BERT_LAYER: &[(&str, &str)] = &[
    ("attention.self.query", "attn_q"),
    ("attention.self.key", "attn_k"),
    ("attention.self.value", "attn_v"),
    ("attention.output.dense", "attn_output"),
    ("attention.output.LayerNorm", "attn_output_norm"),
    ("intermediate.dense", "ffn_up"),
    ("output.dense", "ffn_down"),
    ("output.LayerNorm", "layer_output_norm"),
];

const BERT_TOP: &[(&str, &str)] = &[
    ("embeddings.word_embeddings", "token_embd"),
    ("embeddings.token_type_embeddings", "token_types"),
    ("embeddings.position_embeddings", "position_embd"),
    ("embeddings.LayerNorm", "token_embd_norm"),
];

const DECODER_TOP: &[(&str, &str)] = &[
    ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"),
    ("lm_head", "output"),
];

fn map_suffix(table: &[(&str, &str)], name: &str) -> Option<(String, &'static str)> {
    for (hf, gg) in table {
        if let Some(rest) = name.strip_prefix(hf) {
            if let Some(kind) = rest.strip_prefix('.') {
                let kind: &'static str = match kind {
                    "weight" => "weight",
                    "bias" => "bias",
                    _ => return None,
                };
                return Some((gg.to_string(), kind));
            }
        }
    }
    None
}

/// The GGUF name of an HF tensor, or `None` if llama.cpp leaves it out
/// (rotary `inv_freq`, BERT's pooler and `position_ids`, Gemma's `lm_head`).
/// Tensors the family does not know are an error naming them.
pub fn tensor(family: Family, config: &Value, hf: &str) -> Result<Option<GgufTensor>> {
    let plain = |name: String| GgufTensor {
        name,
        change: ValueChange::None,
    };
    if family == Family::Bert {
        let hf = hf.strip_prefix("bert.").unwrap_or(hf);
        if hf == "embeddings.position_ids" || hf.starts_with("pooler.") || hf.starts_with("cls.") {
            return Ok(None);
        }
        if let Some((gg, kind)) = map_suffix(BERT_TOP, hf) {
            return Ok(Some(plain(format!("{gg}.{kind}"))));
        }
        if let Some((n, tail)) = split_layer(hf, "encoder.layer.") {
            if let Some((gg, kind)) = map_suffix(BERT_LAYER, &tail) {
                return Ok(Some(plain(format!("blk.{n}.{gg}.{kind}"))));
            }
        }
        return Err(unknown(family, hf));
    }
    if !family.is_decoder() {
        return Err(Error::InvalidOption(format!(
            "GGUF output is supported for LLaMA-style decoders and BERT, not {family}"
        )));
    }
    if hf.ends_with(".rotary_emb.inv_freq") {
        return Ok(None);
    }
    if family == Family::Gemma && hf == "lm_head.weight" {
        return Ok(None);
    }
    let gemma_norm = family == Family::Gemma && hf.ends_with("norm.weight");
    if let Some((gg, kind)) = map_suffix(DECODER_TOP, hf) {
        let mut t = plain(format!("{gg}.{kind}"));
        if gemma_norm {
            t.change = ValueChange::Add(1.0);
        }
        return Ok(Some(t));
    }
    if let Some((n, tail)) = split_layer(hf, "model.layers.") {
        if let Some((gg, kind)) = map_suffix(DECODER_LAYER, &tail) {
            let d = Decoder::from_config(family, config)?;
            let change = match gg.as_str() {
                "attn_q" if permutes_qk(family) => ValueChange::PermuteHeads(d.num_attention_heads),
                "attn_k" if permutes_qk(family) => ValueChange::PermuteHeads(d.num_key_value_heads),
                _ if gemma_norm => ValueChange::Add(1.0),
                _ => ValueChange::None,
            };
            return Ok(Some(GgufTensor {
                name: format!("blk.{n}.{gg}.{kind}"),
                change,
            }));
        }
    }
    Err(unknown(family, hf))
}

fn unknown(family: Family, hf: &str) -> Error {
    Error::InvalidOption(format!(
        "tensor '{hf}' has no GGUF name in llama.cpp's {family} layout"
    ))
}

/// The HF name of a GGUF tensor of `family` (the inverse of [`tensor`]),
/// with the value change to undo.
pub fn hf_tensor(family: Family, config: &Value, gguf: &str) -> Result<Option<GgufTensor>> {
    let (table_top, table_layer, layer_prefix) = if family == Family::Bert {
        (BERT_TOP, BERT_LAYER, "encoder.layer.")
    } else {
        (DECODER_TOP, DECODER_LAYER, "model.layers.")
    };
    let (stem, kind) = match gguf.rsplit_once('.') {
        Some((s, k @ ("weight" | "bias"))) => (s, k),
        _ => return Ok(None),
    };
    let mut hf = None;
    if let Some((hfname, _)) = table_top.iter().find(|(_, g)| *g == stem) {
        hf = Some(format!("{hfname}.{kind}"));
    } else if let Some(rest) = stem.strip_prefix("blk.") {
        if let Some((n, gg)) = rest.split_once('.') {
            if let Some((hfname, _)) = table_layer.iter().find(|(_, g)| *g == gg) {
                hf = Some(format!("{layer_prefix}{n}.{hfname}.{kind}"));
            }
        }
    }
    let Some(hf) = hf else { return Ok(None) };
    // The forward mapping tells which change to undo.
    Ok(tensor(family, config, &hf)?.map(|t| GgufTensor {
        name: hf,
        change: t.change,
    }))
}

/// The row order of a Q or K projection in GGUF: output row `i` is HF row
/// `perm[i]`. Within each head of `d` rows, HF keeps the rotate-half order
/// (first halves, then second halves); ggml pairs them: `[0, d/2, 1, d/2+1, ...]`.
pub fn permute_rows(rows: usize, heads: usize) -> Result<Vec<usize>> {
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return Err(Error::InvalidOption(format!(
            "cannot permute {rows} rows into {heads} RoPE heads"
        )));
    }
    let d = rows / heads;
    let half = d / 2;
    Ok((0..rows)
        .map(|i| {
            let (h, r) = (i / d, i % d);
            h * d + (r % 2) * half + r / 2
        })
        .collect())
}

/// The inverse of [`permute_rows`]: HF row `i` is GGUF row `inv[i]`.
pub fn unpermute_rows(rows: usize, heads: usize) -> Result<Vec<usize>> {
    let p = permute_rows(rows, heads)?;
    let mut inv = vec![0; rows];
    for (i, &src) in p.iter().enumerate() {
        inv[src] = i;
    }
    Ok(inv)
}

/// The hyper-parameter keys llama.cpp reads for a model of `family`.
pub fn hparams(
    family: Family,
    config: &Value,
    st: Option<&SentenceTransformers>,
) -> Result<Vec<(String, MetaValue)>> {
    let arch = arch_name(family).ok_or_else(|| {
        Error::InvalidOption(format!(
            "GGUF output is supported for LLaMA-style decoders and BERT, not {family}"
        ))
    })?;
    let c = Cfg::new(config);
    let u = |v: usize| -> Result<MetaValue> {
        u32::try_from(v)
            .map(MetaValue::U32)
            .map_err(|_| Error::InvalidOption(format!("config value {v} does not fit in u32")))
    };
    let k = |s: &str| format!("{arch}.{s}");
    let mut out: Vec<(String, MetaValue)> =
        vec![("general.architecture".into(), MetaValue::Str(arch.into()))];
    if family == Family::Bert {
        out.push((
            k("context_length"),
            u(c.usize("max_position_embeddings", 512))?,
        ));
        out.push((k("embedding_length"), u(c.usize("hidden_size", 768))?));
        out.push((
            k("feed_forward_length"),
            u(c.usize("intermediate_size", 3072))?,
        ));
        out.push((k("block_count"), u(c.usize("num_hidden_layers", 12))?));
        out.push((
            k("attention.head_count"),
            u(c.usize("num_attention_heads", 12))?,
        ));
        out.push((
            k("attention.layer_norm_epsilon"),
            MetaValue::F32(c.f64("layer_norm_eps", 1e-12) as f32),
        ));
        out.push((k("attention.causal"), MetaValue::Bool(false)));
        // llama.cpp's LLAMA_POOLING_TYPE: NONE 0, MEAN 1, CLS 2, LAST 3.
        if let Some(mode) = st.and_then(|s| s.pooling_mode.as_deref()) {
            let t = match mode {
                "mean" => 1,
                "cls" => 2,
                "lasttoken" => 3,
                other => {
                    return Err(Error::InvalidOption(format!(
                        "sentence-transformers pooling '{other}' has no llama.cpp pooling type"
                    )))
                }
            };
            out.push((k("pooling_type"), MetaValue::U32(t)));
        }
        return Ok(out);
    }
    let d = Decoder::from_config(family, config)?;
    out.push((k("vocab_size"), u(d.vocab_size)?));
    out.push((k("context_length"), u(d.max_position_embeddings)?));
    out.push((k("embedding_length"), u(d.hidden_size)?));
    out.push((k("feed_forward_length"), u(d.intermediate_size)?));
    out.push((k("block_count"), u(d.num_layers)?));
    out.push((k("attention.head_count"), u(d.num_attention_heads)?));
    out.push((k("attention.head_count_kv"), u(d.num_key_value_heads)?));
    out.push((k("rope.freq_base"), MetaValue::F32(d.rope_theta as f32)));
    out.push((
        k("attention.layer_norm_rms_epsilon"),
        MetaValue::F32(d.rms_norm_eps as f32),
    ));
    out.push((k("rope.dimension_count"), u(d.head_dim)?));
    if d.head_dim * d.num_attention_heads != d.hidden_size || family == Family::Gemma {
        out.push((k("attention.key_length"), u(d.head_dim)?));
        out.push((k("attention.value_length"), u(d.head_dim)?));
    }
    match &d.rope_scaling {
        Value::Null => {}
        Value::Object(rs) => {
            let ty = rs
                .get("rope_type")
                .or_else(|| rs.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let factor = rs.get("factor").and_then(Value::as_f64);
            match (ty, factor) {
                ("linear", Some(f)) | ("yarn", Some(f)) => {
                    out.push((k("rope.scaling.type"), MetaValue::Str(ty.into())));
                    out.push((k("rope.scaling.factor"), MetaValue::F32(f as f32)));
                    if ty == "yarn" {
                        let orig = rs
                            .get("original_max_position_embeddings")
                            .and_then(Value::as_u64)
                            .unwrap_or(d.max_position_embeddings as u64);
                        out.push((
                            k("rope.scaling.original_context_length"),
                            u(orig as usize)?,
                        ));
                    }
                }
                ("default", _) => {}
                _ => {
                    return Err(Error::InvalidOption(format!(
                        "rope_scaling type '{ty}' is not supported for GGUF output yet (linear and yarn are)"
                    )))
                }
            }
        }
        other => {
            return Err(Error::InvalidOption(format!(
                "config.json rope_scaling is not an object: {other}"
            )))
        }
    }
    if family == Family::MiniCpm {
        let need = |key: &str| {
            d_field(key, &d)
                .ok_or_else(|| Error::InvalidOption(format!("minicpm config.json has no '{key}'")))
        };
        let (emb, depth, base) = (
            need("scale_emb")?,
            need("scale_depth")?,
            need("dim_model_base")?,
        );
        out.push((k("embedding_scale"), MetaValue::F32(emb as f32)));
        out.push((
            k("residual_scale"),
            MetaValue::F32((depth / (d.num_layers as f64).sqrt()) as f32),
        ));
        out.push((
            k("logit_scale"),
            MetaValue::F32((d.hidden_size as f64 / base) as f32),
        ));
    }
    Ok(out)
}

fn d_field(key: &str, d: &Decoder) -> Option<f64> {
    match key {
        "scale_emb" => d.scale_emb,
        "scale_depth" => d.scale_depth,
        "dim_model_base" => d.dim_model_base,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn permutation_interleaves_halves_per_head() -> Result<()> {
        // One head of 8 rows: GGUF order [0,4,1,5,2,6,3,7] of the HF rows.
        assert_eq!(permute_rows(8, 1)?, vec![0, 4, 1, 5, 2, 6, 3, 7]);
        let p = permute_rows(16, 2)?;
        assert_eq!(&p[8..], &[8, 12, 9, 13, 10, 14, 11, 15]);
        let inv = unpermute_rows(16, 2)?;
        for (i, &s) in p.iter().enumerate() {
            assert_eq!(inv[s], i);
        }
        assert!(permute_rows(10, 2).is_err());
        Ok(())
    }

    #[test]
    fn names_round_trip_and_follow_llama_cpp() -> Result<()> {
        let cfg = json!({"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2});
        let t = tensor(
            Family::Llama,
            &cfg,
            "model.layers.3.self_attn.k_proj.weight",
        )?;
        assert_eq!(
            t,
            Some(GgufTensor {
                name: "blk.3.attn_k.weight".into(),
                change: ValueChange::PermuteHeads(2)
            })
        );
        let q = tensor(Family::Qwen2, &cfg, "model.layers.0.self_attn.q_proj.bias")?;
        assert_eq!(
            q.map(|t| (t.name, t.change)),
            Some(("blk.0.attn_q.bias".into(), ValueChange::None))
        );
        let g = tensor(Family::Gemma, &cfg, "model.layers.0.input_layernorm.weight")?;
        assert_eq!(g.map(|t| t.change), Some(ValueChange::Add(1.0)));
        assert_eq!(tensor(Family::Gemma, &cfg, "lm_head.weight")?, None);
        assert_eq!(tensor(Family::Bert, &cfg, "pooler.dense.weight")?, None);
        let b = tensor(Family::Bert, &cfg, "encoder.layer.2.output.LayerNorm.bias")?;
        assert_eq!(
            b.map(|t| t.name),
            Some("blk.2.layer_output_norm.bias".into())
        );
        assert!(tensor(Family::Llama, &cfg, "model.layers.0.weird.weight").is_err());
        for (fam, hf) in [
            (Family::Llama, "model.layers.1.mlp.down_proj.weight"),
            (Family::Llama, "lm_head.weight"),
            (Family::Bert, "embeddings.token_type_embeddings.weight"),
            (Family::Bert, "encoder.layer.0.attention.self.query.bias"),
        ] {
            let g = tensor(fam, &cfg, hf)?.map(|t| t.name).unwrap_or_default();
            assert_eq!(
                hf_tensor(fam, &cfg, &g)?.map(|t| t.name),
                Some(hf.to_string())
            );
        }
        Ok(())
    }

    #[test]
    fn hparams_for_gqa_gemma_and_minicpm() -> Result<()> {
        let cfg = json!({"model_type": "gemma", "hidden_size": 64, "num_attention_heads": 4,
                         "num_key_value_heads": 1, "head_dim": 32, "num_hidden_layers": 2,
                         "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 64,
                         "rms_norm_eps": 1e-6, "rope_theta": 10000.0});
        let h = hparams(Family::Gemma, &cfg, None)?;
        let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            get("general.architecture"),
            Some(MetaValue::Str("gemma".into()))
        );
        assert_eq!(
            get("gemma.attention.head_count_kv"),
            Some(MetaValue::U32(1))
        );
        assert_eq!(get("gemma.attention.key_length"), Some(MetaValue::U32(32)));
        let m = json!({"model_type": "minicpm", "hidden_size": 64, "num_attention_heads": 4,
                       "num_hidden_layers": 4, "scale_emb": 12, "scale_depth": 1.4, "dim_model_base": 16});
        let h = hparams(Family::MiniCpm, &m, None)?;
        assert!(h.contains(&("minicpm.logit_scale".into(), MetaValue::F32(4.0))));
        assert!(h.contains(&("minicpm.residual_scale".into(), MetaValue::F32(0.7))));
        let bad = json!({"rope_scaling": {"rope_type": "longrope"}});
        assert!(hparams(Family::Llama, &bad, None).is_err());
        Ok(())
    }
}
