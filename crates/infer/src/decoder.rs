//! One forward pass for the LLaMA-style decoders (LLaMA, Mistral, Qwen2,
//! Gemma, MiniCPM), following transformers' modeling code: RMSNorm,
//! rotate-half RoPE, grouped-query attention, gated MLP. The differences
//! come from [`modelconv_arch::llama::Decoder`]: `head_dim`, q/k/v and o
//! biases (from the weights), tied embeddings, Gemma's `sqrt(hidden)`
//! embedding scale, `(1 + w)` norms and tanh-GELU, MiniCPM's muP scales.

use candle_core::{Device, Tensor};
use modelconv_arch::llama::Decoder;
use modelconv_arch::Family;
use modelconv_core::Result;
use serde_json::Value;

use crate::nn::{
    activation, attention, causal_mask, ce, embed, heads, ids_tensor, merge_heads, Linear, RmsNorm,
    Vb,
};

/// cos and sin tables [t, d] for rotate-half RoPE.
fn rope(t: usize, d: usize, theta: f64) -> Result<(Tensor, Tensor)> {
    let half = d / 2;
    // As transformers: inv_freq in f32, positions × inv_freq in f32.
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / d as f32))
        .collect();
    let mut cos = Vec::with_capacity(t * d);
    let mut sin = Vec::with_capacity(t * d);
    for p in 0..t {
        // transformers concatenates the frequencies with themselves.
        for _ in 0..2 {
            for f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
    }
    Ok((
        Tensor::from_vec(cos, (1, 1, t, d), &Device::Cpu).map_err(ce)?,
        Tensor::from_vec(sin, (1, 1, t, d), &Device::Cpu).map_err(ce)?,
    ))
}

fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let f = || -> candle_core::Result<Tensor> {
        let d = x.dim(3)?;
        let x1 = x.narrow(3, 0, d / 2)?;
        let x2 = x.narrow(3, d / 2, d / 2)?;
        let rot = Tensor::cat(&[&x2.neg()?, &x1], 3)?;
        x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?
    };
    f().map_err(ce)
}

/// Logits [b, t, vocab] for `ids` (no padding).
pub fn forward(vb: &Vb<'_>, family: Family, config: &Value, ids: &[Vec<u32>]) -> Result<Tensor> {
    let cfg = Decoder::from_config(family, config)?;
    let gemma = family == Family::Gemma;
    let act = config
        .get("hidden_activation")
        .or_else(|| config.get("hidden_act"))
        .and_then(Value::as_str)
        .unwrap_or(if gemma { "gelu_pytorch_tanh" } else { "silu" });
    let norm_offset = if gemma { 1.0 } else { 0.0 };
    let t = ids.first().map_or(0, Vec::len);
    let table = vb.get("model.embed_tokens.weight")?;
    let mut h = embed(&table, &ids_tensor(ids)?)?;
    if gemma {
        h = (h * (cfg.hidden_size as f64).sqrt()).map_err(ce)?;
    }
    let mup = family == Family::MiniCpm;
    if mup {
        h = (h * cfg.scale_emb.unwrap_or(1.0)).map_err(ce)?;
    }
    let residual = if mup {
        cfg.scale_depth.unwrap_or(1.0) / (cfg.num_layers as f64).sqrt()
    } else {
        1.0
    };
    let (cos, sin) = rope(t, cfg.head_dim, cfg.rope_theta)?;
    let mask = causal_mask(t)?;
    let (nh, nkv, hd) = (
        cfg.num_attention_heads,
        cfg.num_key_value_heads,
        cfg.head_dim,
    );
    for l in 0..cfg.num_layers {
        let lv = vb.pp(format!("model.layers.{l}"));
        let x =
            RmsNorm::load(&lv.pp("input_layernorm"), cfg.rms_norm_eps, norm_offset)?.forward(&h)?;
        let at = lv.pp("self_attn");
        let q = apply_rope(
            &heads(&Linear::load(&at.pp("q_proj"))?.forward(&x)?, nh, hd)?,
            &cos,
            &sin,
        )?;
        let k = apply_rope(
            &heads(&Linear::load(&at.pp("k_proj"))?.forward(&x)?, nkv, hd)?,
            &cos,
            &sin,
        )?;
        let v = heads(&Linear::load(&at.pp("v_proj"))?.forward(&x)?, nkv, hd)?;
        let a = merge_heads(&attention(
            &q,
            &k,
            &v,
            Some(&mask),
            1.0 / (hd as f64).sqrt(),
        )?)?;
        let a = Linear::load(&at.pp("o_proj"))?.forward(&a)?;
        h = (h + (a * residual).map_err(ce)?).map_err(ce)?;
        let x = RmsNorm::load(
            &lv.pp("post_attention_layernorm"),
            cfg.rms_norm_eps,
            norm_offset,
        )?
        .forward(&h)?;
        let mlp = lv.pp("mlp");
        let g = activation(act, &Linear::load(&mlp.pp("gate_proj"))?.forward(&x)?)?;
        let u = Linear::load(&mlp.pp("up_proj"))?.forward(&x)?;
        let m = Linear::load(&mlp.pp("down_proj"))?.forward(&(g * u).map_err(ce)?)?;
        h = (h + (m * residual).map_err(ce)?).map_err(ce)?;
    }
    let mut h = RmsNorm::load(&vb.pp("model.norm"), cfg.rms_norm_eps, norm_offset)?.forward(&h)?;
    if mup {
        let base = cfg.dim_model_base.unwrap_or(cfg.hidden_size as f64);
        h = (h / (cfg.hidden_size as f64 / base)).map_err(ce)?;
    }
    let head = match vb.get_opt("lm_head.weight")? {
        Some(w) => Linear::from_weight(w)?,
        None => Linear::from_weight(table)?,
    };
    head.forward(&h)
}
