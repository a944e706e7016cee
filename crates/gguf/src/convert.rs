//! Hugging Face ↔ GGUF: tensor names, value changes (Q/K row permutation,
//! Gemma's norm offset), tensor types and metadata, using the family
//! knowledge in `modelconv_arch::gguf`.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use modelconv_arch::gguf::{self as ag, MetaValue, ValueChange};
use modelconv_arch::Family;
use modelconv_core::engine::{OutTensor, Transform};
use modelconv_core::tensor::{Tensor, TensorInfo};
use modelconv_core::{DType, Error, Model, Result, TensorSource};
use serde_json::{json, Value as Json};

use crate::container::{GgufFile, Value};
use crate::preset::{Chooser, Override, Preset};
use crate::quant::QuantSource;
use crate::types::GgmlType;
use crate::writer::GgufTensor;

/// Rows of a 2-D (or 1-D) tensor in another order: output row `i` is input row `perm[i]`.
#[derive(Debug)]
pub struct RowPermuted {
    inner: Arc<dyn TensorSource>,
    row_bytes: usize,
    perm: Vec<usize>,
}

impl RowPermuted {
    /// Permutes the rows (`row_bytes` each) of `inner`.
    pub fn new(inner: Arc<dyn TensorSource>, row_bytes: usize, perm: Vec<usize>) -> Self {
        RowPermuted {
            inner,
            row_bytes,
            perm,
        }
    }
}

impl TensorSource for RowPermuted {
    fn check_unchanged(&self) -> Result<()> {
        self.inner.check_unchanged()
    }

    fn encoding(&self) -> Option<String> {
        self.inner.encoding()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let rb = self.row_bytes.max(1);
        let (r0, r1) = (range.start / rb, range.end.div_ceil(rb));
        let mut buf = Vec::with_capacity((r1 - r0) * rb);
        for r in r0..r1 {
            let src = *self
                .perm
                .get(r)
                .ok_or_else(|| Error::Internal("row permutation out of range".into()))?;
            buf.extend_from_slice(&self.inner.read(src * rb..(src + 1) * rb)?);
        }
        let skip = range.start - r0 * rb;
        Ok(Cow::Owned(buf[skip..skip + range.len()].to_vec()))
    }

    fn identity(&self) -> String {
        format!(
            "rows {:?}.. of {}",
            self.perm.get(..4),
            self.inner.identity()
        )
    }
}

/// A float tensor plus a constant (computed in f32, rounded to its dtype).
#[derive(Debug)]
pub struct Offset {
    inner: Arc<dyn TensorSource>,
    dtype: DType,
    add: f32,
}

impl TensorSource for Offset {
    fn check_unchanged(&self) -> Result<()> {
        self.inner.check_unchanged()
    }

    fn encoding(&self) -> Option<String> {
        self.inner.encoding()
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let raw = self.inner.read(range)?;
        let n = raw.len() / self.dtype.size();
        let mut f = vec![0u8; n * 4];
        modelconv_core::cast::cast(self.dtype, DType::F32, &raw, &mut f)
            .map_err(|e| Error::Internal(e.to_string()))?;
        for c in f.chunks_exact_mut(4) {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) + self.add;
            c.copy_from_slice(&v.to_le_bytes());
        }
        let mut out = vec![0u8; raw.len()];
        modelconv_core::cast::cast(DType::F32, self.dtype, &f, &mut out)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Cow::Owned(out))
    }

    fn identity(&self) -> String {
        format!("{}+{}", self.inner.identity(), self.add)
    }
}

fn change(t: &Tensor, change: ValueChange, inverse: bool) -> Result<Arc<dyn TensorSource>> {
    let src = Arc::clone(&t.source);
    Ok(match change {
        ValueChange::None => src,
        ValueChange::PermuteHeads(heads) => {
            let rows = t.info.shape.first().copied().unwrap_or(1);
            let row_bytes = t.info.nbytes() / rows.max(1);
            let perm = if inverse {
                ag::unpermute_rows(rows, heads)?
            } else {
                ag::permute_rows(rows, heads)?
            };
            Arc::new(RowPermuted::new(src, row_bytes, perm))
        }
        ValueChange::Add(a) => Arc::new(Offset {
            inner: src,
            dtype: t.info.dtype,
            add: if inverse { -a } else { a },
        }),
    })
}

fn meta(v: MetaValue) -> Value {
    match v {
        MetaValue::U32(x) => Value::U32(x),
        MetaValue::F32(x) => Value::F32(x),
        MetaValue::Bool(x) => Value::Bool(x),
        MetaValue::Str(x) => Value::Str(x),
    }
}

/// What [`from_hf`] produced.
pub struct GgufPlan {
    /// Metadata in write order.
    pub metadata: Vec<(String, Value)>,
    /// Tensors in write order.
    pub tensors: Vec<GgufTensor>,
    /// Things the user should know (dropped tensors).
    pub notes: Vec<String>,
    /// Every tensor whose rows forced a type other than the mix's choice.
    pub fallbacks: Vec<String>,
}

/// Plans a GGUF for an HF model of `family` with the types of `preset`
/// (llama-quantize's per-tensor mix, see [`crate::preset`]) and the
/// `overrides`. 1-D tensors, norms, position and token-type embeddings are
/// F32, as llama.cpp's converter writes them. `tokenizer` metadata comes
/// from [`crate::vocab::metadata`].
pub fn from_hf(
    model: &Model,
    family: Family,
    preset: Preset,
    overrides: Vec<Override>,
    tokenizer: Vec<(String, Value)>,
    name: &str,
    st: Option<&modelconv_arch::bert::SentenceTransformers>,
) -> Result<GgufPlan> {
    let config = model
        .config
        .clone()
        .ok_or_else(|| Error::InvalidOption("GGUF output needs config.json".into()))?;
    let mut metadata: Vec<(String, Value)> = Vec::new();
    let hp = ag::hparams(family, &config, st)?;
    let mut hp = hp.into_iter();
    if let Some((k, v)) = hp.next() {
        metadata.push((k, meta(v))); // general.architecture first
    }
    metadata.push(("general.type".into(), Value::Str("model".into())));
    metadata.push(("general.name".into(), Value::Str(name.into())));
    metadata.push(("general.file_type".into(), Value::U32(preset.file_type)));
    if preset.default.dtype().is_none() {
        metadata.push(("general.quantization_version".into(), Value::U32(2)));
    }
    metadata.extend(hp.map(|(k, v)| (k, meta(v))));
    metadata.extend(tokenizer);

    // GGUF names first: the type mix depends on what the file holds.
    let mut mapped = Vec::new();
    let mut notes = Vec::new();
    for t in &model.tensors {
        match ag::tensor(family, &config, &t.info.name)? {
            Some(g) => mapped.push((t, g)),
            None => notes.push(format!(
                "'{}' is not used by llama.cpp; left out",
                t.info.name
            )),
        }
    }
    // llama.cpp's order (its loader's `weight_name_comparer`): tensors
    // outside blocks first, then block by block (numerically), by name
    // within each. llama-quantize walks tensors in this order and its
    // attn_v / ffn_down choices count positions in it.
    mapped.sort_by(|(_, a), (_, b)| llama_order(&a.name).cmp(&llama_order(&b.name)));
    let names: Vec<&str> = mapped.iter().map(|(_, g)| g.name.as_str()).collect();
    let cfg_u = |k: &str| config.get(k).and_then(Json::as_u64).unwrap_or(0) as usize;
    let n_layer = cfg_u("num_hidden_layers");
    let n_head = cfg_u("num_attention_heads");
    let n_kv = match cfg_u("num_key_value_heads") {
        0 => n_head,
        n => n,
    };
    let mut chooser = Chooser::new(preset, overrides, &names, n_layer, n_head / n_kv.max(1));

    let mut tensors = Vec::new();
    let mut fallbacks = Vec::new();
    for (t, g) in mapped {
        if !t.info.dtype.is_float() {
            return Err(Error::InvalidOption(format!(
                "tensor '{}' is {}; GGUF output takes float tensors",
                t.info.name, t.info.dtype
            )));
        }
        let source = change(t, g.change, false)?;
        let choice = chooser.choose(&g.name, &t.info.shape, GgmlType::f32());
        if let Some(f) = choice.fallback {
            fallbacks.push(f);
        }
        let ty = choice.ggml_type;
        let numel = t.info.numel();
        let (source, transform): (Arc<dyn TensorSource>, Transform) = match ty.dtype() {
            Some(dt) if dt == t.info.dtype => (source, Transform::Copy),
            Some(dt) => (
                source,
                Transform::Cast {
                    from: t.info.dtype,
                    to: dt,
                },
            ),
            None => (
                Arc::new(QuantSource::new(source, t.info.dtype, numel, ty)?),
                Transform::Copy,
            ),
        };
        let out_dtype = ty.dtype().unwrap_or(DType::U8);
        let info = TensorInfo {
            name: g.name.clone(),
            dtype: out_dtype,
            shape: t.info.shape.clone(),
        };
        let ot = OutTensor {
            info,
            source,
            transform,
        };
        tensors.push(GgufTensor {
            tensor: ot,
            name: g.name,
            ggml_type: ty,
            shape: t.info.shape.clone(),
        });
    }
    Ok(GgufPlan {
        metadata,
        tensors,
        notes,
        fallbacks,
    })
}

/// Sort key of a GGUF tensor name in llama.cpp's order: block number
/// (-1 outside blocks), then the name.
fn llama_order(name: &str) -> (i64, &str) {
    let layer = name
        .strip_prefix("blk.")
        .and_then(|r| r.split('.').next())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(-1);
    (layer, name)
}

fn get<'a>(file: &'a GgufFile, key: &str) -> Option<&'a Value> {
    file.get(key)
}

/// Turns a GGUF model (from [`crate::read_model`]) into Hugging Face names,
/// values and a `config.json`, for families modelconv knows.
pub fn to_hf(mut model: Model, source: std::sync::Arc<crate::GgufSource>) -> Result<Model> {
    let file_arc = std::sync::Arc::clone(&source);
    model.native =
        Some(std::sync::Arc::clone(&source) as std::sync::Arc<dyn std::any::Any + Send + Sync>);
    let file: &GgufFile = &source.file;
    let arch = get(file, "general.architecture")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(family) =
        Family::from_gguf_arch(&arch).filter(|f| f.is_decoder() || *f == Family::Bert)
    else {
        model.notes.push(format!(
            "GGUF architecture '{arch}' has no Hugging Face mapping in modelconv; tensors keep their GGUF names"
        ));
        return Ok(model);
    };
    let u = |k: &str| get(file, &format!("{arch}.{k}")).and_then(Value::as_u64);
    let f = |k: &str| get(file, &format!("{arch}.{k}")).and_then(Value::as_f64);
    let has_output = file.tensors.iter().any(|t| t.name == "output.weight");
    let vocab = u("vocab_size")
        .or_else(|| {
            get(file, "tokenizer.ggml.tokens")
                .and_then(Value::array_len)
                .map(|n| n as u64)
        })
        .or_else(|| {
            file.tensors
                .iter()
                .find(|t| t.name == "token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
        })
        .unwrap_or(0);
    let config = if family == Family::Bert {
        json!({
            "model_type": "bert", "architectures": ["BertModel"],
            "vocab_size": vocab, "hidden_size": u("embedding_length"), "num_hidden_layers": u("block_count"),
            "num_attention_heads": u("attention.head_count"), "intermediate_size": u("feed_forward_length"),
            "max_position_embeddings": u("context_length"), "layer_norm_eps": f("attention.layer_norm_epsilon"),
            "type_vocab_size": get(file, "tokenizer.ggml.token_type_count").and_then(Value::as_u64).unwrap_or(2),
            "hidden_act": "gelu"
        })
    } else {
        let heads = u("attention.head_count").unwrap_or(1);
        let hidden = u("embedding_length").unwrap_or(0);
        let mut c = json!({
            "model_type": family.name(),
            "architectures": [match family { Family::Qwen2 => "Qwen2ForCausalLM", Family::Gemma => "GemmaForCausalLM", Family::MiniCpm => "MiniCPMForCausalLM", _ => "LlamaForCausalLM" }],
            "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": u("feed_forward_length"),
            "num_hidden_layers": u("block_count"), "num_attention_heads": heads,
            "num_key_value_heads": u("attention.head_count_kv").unwrap_or(heads),
            "max_position_embeddings": u("context_length"), "rms_norm_eps": f("attention.layer_norm_rms_epsilon"),
            "rope_theta": f("rope.freq_base").unwrap_or(10000.0),
            "tie_word_embeddings": !has_output
        });
        if let Some(hd) = u("attention.key_length") {
            c["head_dim"] = json!(hd);
        }
        if family == Family::MiniCpm {
            let layers = u("block_count").unwrap_or(1) as f64;
            c["scale_emb"] = json!(f("embedding_scale"));
            c["scale_depth"] = json!(f("residual_scale").map(|r| r * layers.sqrt()));
            c["dim_model_base"] = json!(f("logit_scale").map(|l| hidden as f64 / l));
        }
        c
    };
    let mut out = Vec::with_capacity(model.tensors.len());
    for t in &model.tensors {
        match ag::hf_tensor(family, &config, &t.info.name)? {
            Some(h) => {
                let source = change(t, h.change, true)?;
                out.push(Tensor {
                    info: TensorInfo {
                        name: h.name,
                        ..t.info.clone()
                    },
                    source,
                    file: t.file.clone(),
                });
            }
            None => model.notes.push(format!(
                "GGUF tensor '{}' has no Hugging Face name; left out",
                t.info.name
            )),
        }
    }
    model.tensors = out;
    model.config = Some(config);
    match crate::vocab::can_rebuild(file) {
        Ok(true) => {
            // Built when an output carries them; the size is an estimate.
            let tokens = get(file, "tokenizer.ggml.tokens")
                .and_then(Value::array_len)
                .unwrap_or(0) as u64;
            for (name, config, size) in [
                ("tokenizer.json", false, 64 * tokens + 4096),
                ("tokenizer_config.json", true, 64 * 1024),
            ] {
                let deferred = crate::vocab::DeferredTokenizer {
                    file: std::sync::Arc::clone(&file_arc),
                    config,
                };
                model.set_aux_file(modelconv_core::model::AuxFile::deferred(
                    name,
                    std::sync::Arc::new(deferred),
                    size,
                ));
            }
            model.notes.push(
                "tokenizer.json and tokenizer_config.json rebuilt from the GGUF tokenizer metadata"
                    .into(),
            );
        }
        Ok(false) => {}
        Err(e) => model.notes.push(e.to_string()),
    }
    model.layout = format!("{} ({arch})", model.layout);
    Ok(model)
}

/// The JSON value of GGUF metadata (for reports).
pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Str(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Array(_, items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Strings(items) => Json::Array(items.iter().map(|s| json!(s)).collect()),
        other => other.as_u64().map(|x| json!(x)).unwrap_or(Json::Null),
    }
}
