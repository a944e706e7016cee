//! CLIP towers (`CLIPVisionModelWithProjection`, `CLIPTextModelWithProjection`).
//! Works on a full `CLIPModel` or on an extracted tower: the tensor names are
//! the same.

use candle_core::{Device, Tensor};
use modelconv_arch::config::Cfg;
use modelconv_core::{Error, Result};
use serde_json::Value;

use crate::nn::{
    activation, attention, causal_mask, ce, embed, heads, ids_tensor, merge_heads, padding_mask,
    LayerNorm, Linear, Vb,
};

/// The vision (or text) sub-config of a CLIP config.
fn tower<'a>(config: &'a Value, model_type: &str, key: &str) -> Cfg<'a> {
    let c = Cfg::new(config);
    if c.str("model_type") == Some(model_type) {
        c
    } else {
        c.sub(key)
    }
}

fn encoder(
    vb: &Vb<'_>,
    c: Cfg<'_>,
    mut x: Tensor,
    mask: Option<&Tensor>,
    default_hidden: usize,
    default_heads: usize,
) -> Result<Tensor> {
    let h = c.usize("hidden_size", default_hidden);
    let nh = c.usize("num_attention_heads", default_heads);
    let d = h / nh.max(1);
    let eps = c.f64("layer_norm_eps", 1e-5);
    let act = c.str("hidden_act").unwrap_or("quick_gelu");
    for l in 0..c.usize("num_hidden_layers", 12) {
        let lv = vb.pp(format!("encoder.layers.{l}"));
        let y = LayerNorm::load(&lv.pp("layer_norm1"), eps)?.forward(&x)?;
        let sa = lv.pp("self_attn");
        let q = heads(&Linear::load(&sa.pp("q_proj"))?.forward(&y)?, nh, d)?;
        let k = heads(&Linear::load(&sa.pp("k_proj"))?.forward(&y)?, nh, d)?;
        let v = heads(&Linear::load(&sa.pp("v_proj"))?.forward(&y)?, nh, d)?;
        let a = merge_heads(&attention(&q, &k, &v, mask, 1.0 / (d as f64).sqrt())?)?;
        let a = Linear::load(&sa.pp("out_proj"))?.forward(&a)?;
        x = (x + a).map_err(ce)?;
        let y = LayerNorm::load(&lv.pp("layer_norm2"), eps)?.forward(&x)?;
        let y = activation(act, &Linear::load(&lv.pp("mlp.fc1"))?.forward(&y)?)?;
        let y = Linear::load(&lv.pp("mlp.fc2"))?.forward(&y)?;
        x = (x + y).map_err(ce)?;
    }
    Ok(x)
}

/// True if the weights hold a vision tower.
pub fn has_vision(vb: &Vb<'_>) -> bool {
    vb.contains("vision_model.embeddings.patch_embedding.weight")
        && vb.contains("visual_projection.weight")
}

/// True if the weights hold a text tower.
pub fn has_text(vb: &Vb<'_>) -> bool {
    vb.contains("text_model.embeddings.token_embedding.weight")
        && vb.contains("text_projection.weight")
}

/// `image_embeds` [b, projection_dim] for `pixels` [b, 3, s, s].
pub fn image_embeds(vb: &Vb<'_>, config: &Value, pixels: &Tensor) -> Result<Tensor> {
    let c = tower(config, "clip_vision_model", "vision_config");
    let vm = vb.pp("vision_model");
    let e = vm.pp("embeddings");
    let patch = c.usize("patch_size", 32);
    let w = e.pp("patch_embedding").get("weight")?;
    let x = pixels.conv2d(&w, 0, patch, 1, 1).map_err(ce)?; // [b, h, g, g]
    let (b, hd, g1, g2) = x.dims4().map_err(ce)?;
    let x = x
        .reshape((b, hd, g1 * g2))
        .and_then(|x| x.transpose(1, 2))
        .map_err(ce)?;
    let cls = e
        .get("class_embedding")?
        .reshape((1, 1, hd))
        .and_then(|c| c.expand((b, 1, hd)))
        .map_err(ce)?;
    let x = Tensor::cat(&[&cls, &x.contiguous().map_err(ce)?], 1).map_err(ce)?;
    let pos = e.pp("position_embedding").get("weight")?;
    let x = x.broadcast_add(&pos).map_err(ce)?;
    let eps = c.f64("layer_norm_eps", 1e-5);
    let x = LayerNorm::load(&vm.pp("pre_layrnorm"), eps)?.forward(&x)?;
    let x = encoder(&vm, c, x, None, 768, 12)?;
    let pooled = x.narrow(1, 0, 1).and_then(|p| p.squeeze(1)).map_err(ce)?;
    let pooled = LayerNorm::load(&vm.pp("post_layernorm"), eps)?.forward(&pooled)?;
    Linear::load(&vb.pp("visual_projection"))?.forward(&pooled)
}

/// Where the text tower pools: at the end-of-text token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pool {
    /// At the highest id of each row: `eos_token_id` 2 (original CLIP, as
    /// transformers does), or an `eos_token_id` outside the vocabulary.
    HighestId,
    /// At the first occurrence of this id.
    At(u32),
}

/// How `config`'s text tower finds its end-of-text token.
pub fn eos_pooling(config: &Value) -> Pool {
    let c = tower(config, "clip_text_model", "text_config");
    let vocab = c.usize("vocab_size", 49408);
    match c.usize("eos_token_id", 2) {
        2 => Pool::HighestId,
        e if e >= vocab => Pool::HighestId,
        e => Pool::At(e as u32),
    }
}

/// `text_embeds` [b, projection_dim] for padded `ids` with `mask`.
pub fn text_embeds(
    vb: &Vb<'_>,
    config: &Value,
    ids: &[Vec<u32>],
    mask: &[Vec<u32>],
) -> Result<Tensor> {
    let c = tower(config, "clip_text_model", "text_config");
    let tm = vb.pp("text_model");
    let t = ids.first().map_or(0, Vec::len);
    let x = embed(
        &tm.pp("embeddings.token_embedding").get("weight")?,
        &ids_tensor(ids)?,
    )?;
    let pos = tm
        .pp("embeddings.position_embedding")
        .get("weight")?
        .narrow(0, 0, t)
        .map_err(ce)?;
    let x = x.broadcast_add(&pos).map_err(ce)?;
    let m = causal_mask(t)?
        .broadcast_add(&padding_mask(mask)?)
        .map_err(ce)?;
    let x = encoder(&tm, c, x, Some(&m), 512, 8)?;
    let x =
        LayerNorm::load(&tm.pp("final_layer_norm"), c.f64("layer_norm_eps", 1e-5))?.forward(&x)?;
    let pool = eos_pooling(config);
    let mut rows = Vec::new();
    for (i, row) in ids.iter().enumerate() {
        let pos = match pool {
            Pool::HighestId => row
                .iter()
                .enumerate()
                .max_by_key(|(j, v)| (**v, std::cmp::Reverse(*j)))
                .map(|(j, _)| j),
            Pool::At(eos) => row.iter().position(|&v| v == eos),
        }
        .ok_or_else(|| {
            Error::InvalidOption(format!("text {i} has no end-of-text token ({pool:?})"))
        })?;
        rows.push(x.get(i).and_then(|r| r.get(pos)).map_err(ce)?);
    }
    let pooled = Tensor::stack(&rows, 0).map_err(ce)?;
    Linear::load(&vb.pp("text_projection"))?.forward(&pooled)
}

/// CLIP's preprocessing without resizing: `x / 255`, mean/std, CHW.
pub fn pixels_from_uint8(images: &[Vec<u8>], size: usize) -> Result<Tensor> {
    const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
    #[allow(clippy::excessive_precision)] // the values transformers uses, as written there
    const STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_1];
    let mut v = Vec::with_capacity(images.len() * 3 * size * size);
    for img in images {
        for ch in 0..3 {
            for p in 0..size * size {
                let x = f32::from(img[p * 3 + ch]) / 255.0;
                v.push((x - MEAN[ch]) / STD[ch]);
            }
        }
    }
    Tensor::from_vec(v, (images.len(), 3, size, size), &Device::Cpu).map_err(ce)
}
