//! CLIP (`CLIPModel`): a ViT vision tower, a text transformer, and two
//! projections into the shared embedding space.
//!
//! Components: `vision` keeps `vision_model.*` and `visual_projection.weight`
//! (loads as `CLIPVisionModelWithProjection`, the seeds' CLIP default);
//! `text` keeps `text_model.*` and `text_projection.weight`
//! (`CLIPTextModelWithProjection`). Tensor names are unchanged by an
//! extraction: those classes use the same names as `CLIPModel`.

use modelconv_core::{Error, Result};
use serde_json::{json, Map, Value};

use crate::config::Cfg;
use crate::family::{Component, Extraction};
use crate::TensorSpec;

/// transformers' `CLIPVisionConfig` / `CLIPTextConfig` defaults.
struct Tower {
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    eps: f64,
}

fn vision(c: Cfg<'_>) -> (Tower, usize, usize, usize) {
    (
        Tower {
            hidden: c.usize("hidden_size", 768),
            intermediate: c.usize("intermediate_size", 3072),
            layers: c.usize("num_hidden_layers", 12),
            heads: c.usize("num_attention_heads", 12),
            eps: c.f64("layer_norm_eps", 1e-5),
        },
        c.usize("image_size", 224),
        c.usize("patch_size", 32),
        c.usize("num_channels", 3),
    )
}

fn text(c: Cfg<'_>) -> (Tower, usize, usize) {
    (
        Tower {
            hidden: c.usize("hidden_size", 512),
            intermediate: c.usize("intermediate_size", 2048),
            layers: c.usize("num_hidden_layers", 12),
            heads: c.usize("num_attention_heads", 8),
            eps: c.f64("layer_norm_eps", 1e-5),
        },
        c.usize("vocab_size", 49408),
        c.usize("max_position_embeddings", 77),
    )
}

/// The config of the vision tower: `vision_config` of a `CLIPModel`
/// config, or the config itself for a `clip_vision_model`.
fn vision_cfg(config: &Value) -> Cfg<'_> {
    let c = Cfg::new(config);
    if c.str("model_type") == Some("clip_vision_model") {
        c
    } else {
        c.sub("vision_config")
    }
}

fn text_cfg(config: &Value) -> Cfg<'_> {
    let c = Cfg::new(config);
    if c.str("model_type") == Some("clip_text_model") {
        c
    } else {
        c.sub("text_config")
    }
}

/// The seeds' summary. For the vision component it has exactly the seeds'
/// CLIP fields (image_size, patch_size, hidden_size, num_layers,
/// num_attention_heads, intermediate_size, layer_norm_eps, projection_dim).
pub fn summary(config: &Value, component: Option<Component>) -> Map<String, Value> {
    let projection_dim = Cfg::new(config).usize("projection_dim", 512);
    let (v, image_size, patch_size, _) = vision(vision_cfg(config));
    let mut vm = Map::new();
    vm.insert("image_size".into(), json!(image_size));
    vm.insert("patch_size".into(), json!(patch_size));
    vm.insert("hidden_size".into(), json!(v.hidden));
    vm.insert("num_layers".into(), json!(v.layers));
    vm.insert("num_attention_heads".into(), json!(v.heads));
    vm.insert("intermediate_size".into(), json!(v.intermediate));
    vm.insert("layer_norm_eps".into(), json!(v.eps));
    vm.insert("projection_dim".into(), json!(projection_dim));
    let (t, vocab, max_pos) = text(text_cfg(config));
    let mut tm = Map::new();
    tm.insert("vocab_size".into(), json!(vocab));
    tm.insert("max_position_embeddings".into(), json!(max_pos));
    tm.insert("hidden_size".into(), json!(t.hidden));
    tm.insert("num_layers".into(), json!(t.layers));
    tm.insert("num_attention_heads".into(), json!(t.heads));
    tm.insert("intermediate_size".into(), json!(t.intermediate));
    tm.insert("layer_norm_eps".into(), json!(t.eps));
    tm.insert("projection_dim".into(), json!(projection_dim));
    match component {
        Some(Component::Vision) => vm,
        Some(Component::Text) => tm,
        _ => {
            let mut m = Map::new();
            m.insert("projection_dim".into(), json!(projection_dim));
            m.insert("vision".into(), Value::Object(vm));
            m.insert("text".into(), Value::Object(tm));
            m
        }
    }
}

fn encoder_layers(out: &mut Vec<TensorSpec>, prefix: &str, t: &Tower) {
    let (h, i) = (t.hidden, t.intermediate);
    for l in 0..t.layers {
        let pre = format!("{prefix}.encoder.layers.{l}");
        for proj in ["k_proj", "v_proj", "q_proj", "out_proj"] {
            out.push((format!("{pre}.self_attn.{proj}.weight"), vec![h, h]));
            out.push((format!("{pre}.self_attn.{proj}.bias"), vec![h]));
        }
        out.push((format!("{pre}.layer_norm1.weight"), vec![h]));
        out.push((format!("{pre}.layer_norm1.bias"), vec![h]));
        out.push((format!("{pre}.mlp.fc1.weight"), vec![i, h]));
        out.push((format!("{pre}.mlp.fc1.bias"), vec![i]));
        out.push((format!("{pre}.mlp.fc2.weight"), vec![h, i]));
        out.push((format!("{pre}.mlp.fc2.bias"), vec![h]));
        out.push((format!("{pre}.layer_norm2.weight"), vec![h]));
        out.push((format!("{pre}.layer_norm2.bias"), vec![h]));
    }
}

fn text_tensors(config: &Value) -> Vec<TensorSpec> {
    let (t, vocab, max_pos) = text(text_cfg(config));
    let mut out: Vec<TensorSpec> = vec![
        (
            "text_model.embeddings.token_embedding.weight".into(),
            vec![vocab, t.hidden],
        ),
        (
            "text_model.embeddings.position_embedding.weight".into(),
            vec![max_pos, t.hidden],
        ),
    ];
    encoder_layers(&mut out, "text_model", &t);
    out.push(("text_model.final_layer_norm.weight".into(), vec![t.hidden]));
    out.push(("text_model.final_layer_norm.bias".into(), vec![t.hidden]));
    out
}

fn vision_tensors(config: &Value) -> Vec<TensorSpec> {
    let (v, image, patch, channels) = vision(vision_cfg(config));
    let h = v.hidden;
    let positions = (image / patch.max(1)).pow(2) + 1;
    let mut out: Vec<TensorSpec> = vec![
        ("vision_model.embeddings.class_embedding".into(), vec![h]),
        (
            "vision_model.embeddings.patch_embedding.weight".into(),
            vec![h, channels, patch, patch],
        ),
        (
            "vision_model.embeddings.position_embedding.weight".into(),
            vec![positions, h],
        ),
        ("vision_model.pre_layrnorm.weight".into(), vec![h]),
        ("vision_model.pre_layrnorm.bias".into(), vec![h]),
    ];
    encoder_layers(&mut out, "vision_model", &v);
    out.push(("vision_model.post_layernorm.weight".into(), vec![h]));
    out.push(("vision_model.post_layernorm.bias".into(), vec![h]));
    out
}

/// The tensors of a saved `CLIPModel`, in state-dict order.
pub fn expected_tensors(config: &Value) -> Result<Vec<TensorSpec>> {
    let c = Cfg::new(config);
    let proj = c.usize("projection_dim", 512);
    let vh = vision(vision_cfg(config)).0.hidden;
    let th = text(text_cfg(config)).0.hidden;
    let mut out = match c.str("model_type") {
        Some("clip_vision_model") => {
            let mut v = vision_tensors(config);
            v.push(("visual_projection.weight".into(), vec![proj, vh]));
            return Ok(v);
        }
        Some("clip_text_model") => {
            let mut t = text_tensors(config);
            t.push(("text_projection.weight".into(), vec![proj, th]));
            return Ok(t);
        }
        _ => text_tensors(config),
    };
    out.extend(vision_tensors(config));
    out.push(("visual_projection.weight".into(), vec![proj, vh]));
    out.push(("text_projection.weight".into(), vec![proj, th]));
    out.push(("logit_scale".into(), vec![]));
    Ok(out)
}

/// True if `name` belongs to a CLIP model.
pub fn matches_name(name: &str) -> bool {
    name.starts_with("vision_model.embeddings.patch_embedding")
        || name.starts_with("text_model.embeddings.token_embedding")
        || name == "visual_projection.weight"
}

/// Plans `--component vision` or `--component text`.
pub fn extract(component: Component, config: &Value, names: &[String]) -> Result<Extraction> {
    let (prefix, projection, model_type, class, sub) = match component {
        Component::Vision => (
            "vision_model.",
            "visual_projection.weight",
            "clip_vision_model",
            "CLIPVisionModelWithProjection",
            "vision_config",
        ),
        _ => (
            "text_model.",
            "text_projection.weight",
            "clip_text_model",
            "CLIPTextModelWithProjection",
            "text_config",
        ),
    };
    let tensors: Vec<(String, String)> = names
        .iter()
        .filter(|n| n.starts_with(prefix) || n.as_str() == projection)
        .map(|n| (n.clone(), n.clone()))
        .collect();
    if !tensors.iter().any(|(n, _)| n.starts_with(prefix)) {
        return Err(Error::InvalidOption(format!(
            "--component {component}: the model has no {prefix}* tensors"
        )));
    }
    if !tensors.iter().any(|(n, _)| n == projection) {
        return Err(Error::InvalidOption(format!(
            "--component {component}: the model has no {projection}; {class} needs it"
        )));
    }
    let c = Cfg::new(config);
    let mut out = match c.sub(sub).0 {
        Some(Value::Object(m)) => m.clone(),
        _ if c.str("model_type") == Some(model_type) => match config {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        },
        _ => Map::new(),
    };
    out.insert("model_type".into(), json!(model_type));
    out.insert("architectures".into(), json!([class]));
    out.insert(
        "projection_dim".into(),
        json!(c.usize("projection_dim", 512)),
    );
    for key in ["torch_dtype", "dtype", "transformers_version"] {
        if let Some(v) = c.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    Ok(Extraction {
        tensors,
        config: Value::Object(out),
    })
}
