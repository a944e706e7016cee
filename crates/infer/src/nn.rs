//! The few neural-network pieces the forward passes need, on candle tensors
//! (f32, CPU). Written out here rather than taken from candle-transformers
//! because those models fix details our families vary (Whisper's
//! `encoder_ffn_dim`, LLaMA-style `head_dim` and q/k/v biases, Gemma's norm)
//! and the checks must match transformers exactly.

use candle_core::{DType, Device, Tensor, D};
use modelconv_core::{Error, Result};

/// Turns a candle error into an internal error (our inputs are validated first).
/// A captured backtrace is left out of the message: the CLI prints
/// internal errors in one line (RUST_BACKTRACE still shows where).
pub fn ce(e: candle_core::Error) -> Error {
    let e = match e {
        candle_core::Error::WithBacktrace { inner, .. } => *inner,
        e => e,
    };
    Error::Internal(format!("candle: {e}"))
}

/// Where a forward pass gets its weights: f32 values by tensor name.
pub trait Weights {
    /// Every tensor name.
    fn names(&self) -> Vec<String>;
    /// The shape of `name`, if present.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// The values of `name` as f32 (cast or dequantized), C order.
    fn get_f32(&self, name: &str) -> Result<Vec<f32>>;
}

/// Weights under a name prefix, as candle tensors.
#[derive(Clone)]
pub struct Vb<'a> {
    weights: &'a dyn Weights,
    prefix: String,
}

impl<'a> Vb<'a> {
    /// The root of `weights`.
    pub fn new(weights: &'a dyn Weights) -> Self {
        Vb {
            weights,
            prefix: String::new(),
        }
    }

    /// A sub-path (`pp("encoder")` → `encoder.`).
    pub fn pp(&self, name: impl AsRef<str>) -> Vb<'a> {
        Vb {
            weights: self.weights,
            prefix: format!("{}{}.", self.prefix, name.as_ref()),
        }
    }

    /// The full name of `name` under this prefix.
    pub fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// True if `name` exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.weights.shape(&self.path(name)).is_some()
    }

    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Result<Tensor> {
        let full = self.path(name);
        let shape = self.weights.shape(&full).ok_or_else(|| {
            Error::InvalidOption(format!(
                "the model has no tensor '{full}', which this forward pass needs"
            ))
        })?;
        let values = self.weights.get_f32(&full)?;
        Tensor::from_vec(values, shape, &Device::Cpu).map_err(ce)
    }

    /// The tensor `name`, if present.
    pub fn get_opt(&self, name: &str) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.get(name).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// `y = x Wᵀ + b`.
pub struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    /// Loads `{prefix}.weight` and, if present, `{prefix}.bias`.
    pub fn load(vb: &Vb<'_>) -> Result<Linear> {
        Ok(Linear {
            w: vb.get("weight")?.t().map_err(ce)?,
            b: vb.get_opt("bias")?,
        })
    }

    /// A linear map with the given `[out, in]` weight and no bias.
    pub fn from_weight(w: Tensor) -> Result<Linear> {
        Ok(Linear {
            w: w.t().map_err(ce)?,
            b: None,
        })
    }

    /// Applies the map to the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.broadcast_matmul(&self.w).map_err(ce)?;
        match &self.b {
            Some(b) => y.broadcast_add(b).map_err(ce),
            None => Ok(y),
        }
    }
}

/// LayerNorm over the last dimension.
pub struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `{prefix}.weight` / `{prefix}.bias`.
    pub fn load(vb: &Vb<'_>, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            w: vb.get("weight")?,
            b: vb.get("bias")?,
            eps,
        })
    }

    /// Normalises `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let f = || -> candle_core::Result<Tensor> {
            let mean = x.mean_keepdim(D::Minus1)?;
            let xc = x.broadcast_sub(&mean)?;
            let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
            let xn = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
            xn.broadcast_mul(&self.w)?.broadcast_add(&self.b)
        };
        f().map_err(ce)
    }
}

/// RMSNorm over the last dimension: `x / rms(x) * (w + offset)`.
pub struct RmsNorm {
    w: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Loads `{prefix}.weight`; `offset` is added to it (1 for Gemma).
    pub fn load(vb: &Vb<'_>, eps: f64, offset: f64) -> Result<RmsNorm> {
        let w = vb.get("weight")?;
        let w = if offset != 0.0 {
            (w + offset).map_err(ce)?
        } else {
            w
        };
        Ok(RmsNorm { w, eps })
    }

    /// Normalises `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let f = || -> candle_core::Result<Tensor> {
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_div(&(ms + self.eps)?.sqrt()?)?
                .broadcast_mul(&self.w)
        };
        f().map_err(ce)
    }
}

/// Activations by their transformers names.
pub fn activation(name: &str, x: &Tensor) -> Result<Tensor> {
    let r = match name {
        "gelu" => x.gelu_erf(),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => x.gelu(),
        "quick_gelu" => {
            x.broadcast_mul(&candle_nn::ops::sigmoid(&(x * 1.702).map_err(ce)?).map_err(ce)?)
        }
        "silu" | "swish" => x.silu(),
        "relu" => x.relu(),
        other => {
            return Err(Error::InvalidOption(format!(
                "activation '{other}' is not supported by check-inference"
            )))
        }
    };
    r.map_err(ce)
}

/// Scaled dot-product attention. `q`: [b, h, t, d], `k`/`v`: [b, kv, s, d]
/// (kv heads repeated to h); `mask`: additive, broadcastable to [b, h, t, s].
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f64,
) -> Result<Tensor> {
    let f = || -> candle_core::Result<Tensor> {
        let (_, h, _, _) = q.dims4()?;
        let (_, kvh, _, _) = k.dims4()?;
        let (k, v) = if kvh != h {
            let rep = h / kvh;
            (repeat_kv(k, rep)?, repeat_kv(v, rep)?)
        } else {
            (k.clone(), v.clone())
        };
        let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * scale)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let p = candle_nn::ops::softmax_last_dim(&scores)?;
        p.matmul(&v.contiguous()?)
    };
    f().map_err(ce)
}

fn repeat_kv(x: &Tensor, rep: usize) -> candle_core::Result<Tensor> {
    let (b, kv, s, d) = x.dims4()?;
    x.unsqueeze(2)?
        .expand((b, kv, rep, s, d))?
        .reshape((b, kv * rep, s, d))
}

/// Splits [b, t, h*d] into [b, h, t, d].
pub fn heads(x: &Tensor, h: usize, d: usize) -> Result<Tensor> {
    let f = || -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        x.reshape((b, t, h, d))?.transpose(1, 2)
    };
    f().map_err(ce)
}

/// Joins [b, h, t, d] into [b, t, h*d].
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let f = || -> candle_core::Result<Tensor> {
        let (b, h, t, d) = x.dims4()?;
        x.transpose(1, 2)?.contiguous()?.reshape((b, t, h * d))
    };
    f().map_err(ce)
}

/// An additive causal mask [1, 1, t, t] (0 on and below the diagonal, -inf above).
pub fn causal_mask(t: usize) -> Result<Tensor> {
    let v: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t > i / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(v, (1, 1, t, t), &Device::Cpu).map_err(ce)
}

/// An additive padding mask [b, 1, 1, s] from a 0/1 attention mask (as transformers: finfo.min).
pub fn padding_mask(mask: &[Vec<u32>]) -> Result<Tensor> {
    let b = mask.len();
    let s = mask.first().map_or(0, Vec::len);
    let v: Vec<f32> = mask
        .iter()
        .flat_map(|row| row.iter().map(|&m| if m == 0 { f32::MIN } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (b, 1, 1, s), &Device::Cpu).map_err(ce)
}

/// Token ids as a [b, t] u32 tensor (rows must have equal length).
pub fn ids_tensor(ids: &[Vec<u32>]) -> Result<Tensor> {
    let b = ids.len();
    let t = ids.first().map_or(0, Vec::len);
    if ids.iter().any(|r| r.len() != t) {
        return Err(Error::InvalidOption(
            "token id rows differ in length".into(),
        ));
    }
    Tensor::from_vec(ids.concat(), (b, t), &Device::Cpu).map_err(ce)
}

/// Embedding lookup: rows of `table` [v, d] for `ids` [b, t] → [b, t, d].
/// An id past the table is a typed error (candle's would be internal).
pub fn embed(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let rows = table.dim(0).map_err(ce)?;
    let max = ids
        .flatten_all()
        .and_then(|i| i.max(0))
        .and_then(|m| m.to_scalar::<u32>())
        .map_err(ce)?;
    if max as usize >= rows {
        return Err(Error::InvalidOption(format!(
            "token id {max} is outside the vocabulary: the embedding table has {rows} rows"
        )));
    }
    let f = || -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let d = table.dim(1)?;
        table
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, d))
    };
    f().map_err(ce)
}

/// Rows of a [b, t, d] tensor as `Vec<f32>` per batch item.
pub fn rows(x: &Tensor) -> Result<Vec<Vec<f32>>> {
    let b = x.dim(0).map_err(ce)?;
    (0..b)
        .map(|i| {
            x.get(i)
                .and_then(|r| r.to_dtype(DType::F32))
                .and_then(|r| r.flatten_all())
                .and_then(|r| r.to_vec1::<f32>())
                .map_err(ce)
        })
        .collect()
}
