//! BERT (`BertModel`) forward and sentence-transformers pooling.

use candle_core::{Tensor, D};
use modelconv_arch::config::Cfg;
use modelconv_core::Result;
use serde_json::Value;

use crate::nn::{
    activation, attention, ce, embed, heads, ids_tensor, merge_heads, padding_mask, LayerNorm,
    Linear, Vb,
};

/// Runs `BertModel` on padded `ids` with `mask`; returns `last_hidden_state` [b, t, h].
pub fn forward(vb: &Vb<'_>, config: &Value, ids: &[Vec<u32>], mask: &[Vec<u32>]) -> Result<Tensor> {
    let c = Cfg::new(config);
    let vb = if vb.contains("bert.embeddings.word_embeddings.weight") {
        vb.pp("bert")
    } else {
        vb.clone()
    };
    let eps = c.f64("layer_norm_eps", 1e-12);
    let h = c.usize("hidden_size", 768);
    let nh = c.usize("num_attention_heads", 12);
    let d = h / nh.max(1);
    let act = c.str("hidden_act").unwrap_or("gelu");
    let ids_t = ids_tensor(ids)?;
    let t = ids.first().map_or(0, Vec::len);
    let e = vb.pp("embeddings");
    let words = embed(&e.pp("word_embeddings").get("weight")?, &ids_t)?;
    let pos = e
        .pp("position_embeddings")
        .get("weight")?
        .narrow(0, 0, t)
        .map_err(ce)?;
    let types = e
        .pp("token_type_embeddings")
        .get("weight")?
        .narrow(0, 0, 1)
        .map_err(ce)?;
    let x = words
        .broadcast_add(&pos)
        .and_then(|x| x.broadcast_add(&types))
        .map_err(ce)?;
    let mut x = LayerNorm::load(&e.pp("LayerNorm"), eps)?.forward(&x)?;
    let m = padding_mask(mask)?;
    let layers = c.usize("num_hidden_layers", 12);
    for l in 0..layers {
        let lv = vb.pp(format!("encoder.layer.{l}"));
        let sa = lv.pp("attention.self");
        let q = heads(&Linear::load(&sa.pp("query"))?.forward(&x)?, nh, d)?;
        let k = heads(&Linear::load(&sa.pp("key"))?.forward(&x)?, nh, d)?;
        let v = heads(&Linear::load(&sa.pp("value"))?.forward(&x)?, nh, d)?;
        let a = merge_heads(&attention(&q, &k, &v, Some(&m), 1.0 / (d as f64).sqrt())?)?;
        let a = Linear::load(&lv.pp("attention.output.dense"))?.forward(&a)?;
        x = LayerNorm::load(&lv.pp("attention.output.LayerNorm"), eps)?
            .forward(&(a + &x).map_err(ce)?)?;
        let i = activation(
            act,
            &Linear::load(&lv.pp("intermediate.dense"))?.forward(&x)?,
        )?;
        let o = Linear::load(&lv.pp("output.dense"))?.forward(&i)?;
        x = LayerNorm::load(&lv.pp("output.LayerNorm"), eps)?.forward(&(o + &x).map_err(ce)?)?;
    }
    Ok(x)
}

/// sentence-transformers pooling of `hidden` [b, t, h] with `mask`, then
/// L2 normalisation when `normalize`.
pub fn pool(hidden: &Tensor, mask: &[Vec<u32>], mode: &str, normalize: bool) -> Result<Tensor> {
    let b = mask.len();
    let t = mask.first().map_or(0, Vec::len);
    let mvals: Vec<f32> = mask
        .iter()
        .flat_map(|r| r.iter().map(|&m| m as f32))
        .collect();
    let f = || -> candle_core::Result<Tensor> {
        let m = Tensor::from_vec(mvals, (b, t, 1), hidden.device())?;
        let pooled = match mode {
            "cls" => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            "max" => {
                let neg = ((m.ones_like()? - &m)? * -1e9)?;
                hidden.broadcast_add(&neg)?.max(1)?
            }
            _ => {
                let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
                sum.broadcast_div(&count)?
            }
        };
        if !normalize {
            return Ok(pooled);
        }
        let norm = pooled
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        pooled.broadcast_div(&norm)
    };
    f().map_err(ce)
}
