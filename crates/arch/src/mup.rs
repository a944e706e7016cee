//! Folding MiniCPM's muP scales into plain LLaMA weights (`--mup-to-llama`).
//!
//! MiniCPM multiplies the token embeddings by `scale_emb`, each residual
//! branch by `scale_depth / sqrt(num_layers)`, and divides the final hidden
//! state by `hidden_size / dim_model_base` before `lm_head`. All three are
//! linear, so they fold into weights:
//!
//! | tensor | factor |
//! |---|---|
//! | `model.embed_tokens.weight` | `scale_emb` |
//! | `model.layers.N.self_attn.o_proj.{weight,bias}` | `scale_depth / sqrt(num_layers)` |
//! | `model.layers.N.mlp.down_proj.{weight,bias}` | `scale_depth / sqrt(num_layers)` |
//! | `lm_head.weight` | `dim_model_base / hidden_size` |
//!
//! With tied embeddings the folded embedding and head differ, so the
//! result is untied: `lm_head.weight` is written from the (unscaled)
//! embedding times its own factor. Values are computed in f32 and rounded
//! once to the tensor's dtype.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use modelconv_core::cast::cast;
use modelconv_core::{DType, Error, Result, TensorSource};
use serde_json::{json, Value};

use crate::config::Cfg;

/// What folding does to one output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// Output tensor name.
    pub name: String,
    /// Source tensor it is computed from (differs for an untied `lm_head`).
    pub source: String,
    /// Multiplier (1.0 = unchanged).
    pub factor: f64,
}

/// The folding plan for a muP model.
#[derive(Debug, Clone, PartialEq)]
pub struct MupPlan {
    /// Every output tensor, in source order (plus `lm_head.weight` last when untied).
    pub tensors: Vec<Fold>,
    /// The plain LLaMA `config.json`.
    pub config: Value,
    /// True if `lm_head.weight` was added because embeddings were tied.
    pub untied: bool,
}

/// Plans the fold for a model with `config` and tensor `names`.
pub fn plan<S: AsRef<str>>(config: &Value, names: &[S]) -> Result<MupPlan> {
    let c = Cfg::new(config);
    let need = |k: &str| {
        c.opt_f64(k).ok_or_else(|| {
            Error::InvalidOption(format!(
                "--mup-to-llama: config.json has no '{k}' (is this a MiniCPM / muP model?)"
            ))
        })
    };
    let scale_emb = need("scale_emb")?;
    let scale_depth = need("scale_depth")?;
    let dim_model_base = need("dim_model_base")?;
    let layers = c.usize("num_hidden_layers", 0);
    let hidden = c.usize("hidden_size", 0);
    if layers == 0 || hidden == 0 || dim_model_base <= 0.0 {
        return Err(Error::InvalidOption(
            "--mup-to-llama: config.json needs positive num_hidden_layers, hidden_size and dim_model_base".into(),
        ));
    }
    let residual = scale_depth / (layers as f64).sqrt();
    let head = dim_model_base / hidden as f64;
    let has_head = names.iter().any(|n| n.as_ref() == "lm_head.weight");
    let has_embed = names
        .iter()
        .any(|n| n.as_ref() == "model.embed_tokens.weight");
    if !has_embed {
        return Err(Error::InvalidOption(
            "--mup-to-llama: the model has no model.embed_tokens.weight".into(),
        ));
    }
    let factor = |n: &str| -> f64 {
        if n == "model.embed_tokens.weight" {
            scale_emb
        } else if n == "lm_head.weight" {
            head
        } else if n.starts_with("model.layers.")
            && (n.contains(".self_attn.o_proj.") || n.contains(".mlp.down_proj."))
        {
            residual
        } else {
            1.0
        }
    };
    let mut tensors: Vec<Fold> = names
        .iter()
        .map(|n| Fold {
            name: n.as_ref().to_string(),
            source: n.as_ref().to_string(),
            factor: factor(n.as_ref()),
        })
        .collect();
    let untied = !has_head;
    if untied {
        tensors.push(Fold {
            name: "lm_head.weight".into(),
            source: "model.embed_tokens.weight".into(),
            factor: head,
        });
    }
    let mut cfg = match config {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for k in ["scale_emb", "scale_depth", "dim_model_base", "auto_map"] {
        cfg.remove(k);
    }
    cfg.insert("model_type".into(), json!("llama"));
    cfg.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    cfg.insert("tie_word_embeddings".into(), json!(false));
    Ok(MupPlan {
        tensors,
        config: Value::Object(cfg),
        untied,
    })
}

/// A float tensor multiplied by a constant: decoded to f32, scaled, and
/// rounded back to its own dtype.
#[derive(Debug)]
pub struct ScaledSource {
    inner: Arc<dyn TensorSource>,
    dtype: DType,
    factor: f32,
}

impl ScaledSource {
    /// Scales `inner` (elements of `dtype`, a float type other than F64) by `factor`.
    pub fn new(inner: Arc<dyn TensorSource>, dtype: DType, factor: f64) -> Result<Self> {
        if !dtype.is_float() || dtype == DType::F64 {
            return Err(Error::InvalidOption(format!(
                "cannot scale a {dtype} tensor (f32, f16 and bf16 can be scaled)"
            )));
        }
        Ok(ScaledSource {
            inner,
            dtype,
            factor: factor as f32,
        })
    }
}

impl TensorSource for ScaledSource {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let bytes = self.inner.read(range)?;
        let n = bytes.len() / self.dtype.size();
        let mut f = vec![0u8; n * 4];
        cast(self.dtype, DType::F32, &bytes, &mut f).map_err(|e| Error::Internal(e.to_string()))?;
        for c in f.chunks_exact_mut(4) {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * self.factor;
            c.copy_from_slice(&v.to_le_bytes());
        }
        if self.dtype == DType::F32 {
            return Ok(Cow::Owned(f));
        }
        let mut out = vec![0u8; bytes.len()];
        cast(DType::F32, self.dtype, &f, &mut out).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Cow::Owned(out))
    }

    fn release(&self, range: Range<usize>) {
        self.inner.release(range);
    }

    fn check_unchanged(&self) -> Result<()> {
        self.inner.check_unchanged()
    }

    fn identity(&self) -> String {
        format!("{}*{}", self.inner.identity(), self.factor)
    }
}
