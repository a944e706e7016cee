//! BERT encoders (`BertModel`) and sentence-transformers models built on them.
//!
//! Tensor names are those of a saved `BertModel` (no `bert.` prefix);
//! sentence-transformers keep the same weights and add `modules.json`,
//! `sentence_bert_config.json` and a pooling module, summarised by
//! [`SentenceTransformers`].

use modelconv_core::Result;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::Cfg;
use crate::TensorSpec;

/// The seeds' summary: sizes that describe the encoder.
pub fn summary(config: &Value) -> Map<String, Value> {
    let c = Cfg::new(config);
    let mut m = Map::new();
    m.insert("vocab_size".into(), json!(c.usize("vocab_size", 30522)));
    m.insert("hidden_size".into(), json!(c.usize("hidden_size", 768)));
    m.insert("num_layers".into(), json!(c.usize("num_hidden_layers", 12)));
    m.insert(
        "num_attention_heads".into(),
        json!(c.usize("num_attention_heads", 12)),
    );
    m.insert(
        "intermediate_size".into(),
        json!(c.usize("intermediate_size", 3072)),
    );
    m.insert(
        "max_position_embeddings".into(),
        json!(c.usize("max_position_embeddings", 512)),
    );
    m.insert(
        "layer_norm_eps".into(),
        json!(c.f64("layer_norm_eps", 1e-12)),
    );
    m.insert(
        "hidden_act".into(),
        json!(c.str("hidden_act").unwrap_or("gelu")),
    );
    m
}

/// The tensors of a saved `BertModel` (with pooler), in state-dict order.
pub fn expected_tensors(config: &Value) -> Result<Vec<TensorSpec>> {
    let c = Cfg::new(config);
    let h = c.usize("hidden_size", 768);
    let i = c.usize("intermediate_size", 3072);
    let v = c.usize("vocab_size", 30522);
    let p = c.usize("max_position_embeddings", 512);
    let t = c.usize("type_vocab_size", 2);
    let layers = c.usize("num_hidden_layers", 12);
    let mut out: Vec<TensorSpec> = vec![
        ("embeddings.word_embeddings.weight".into(), vec![v, h]),
        ("embeddings.position_embeddings.weight".into(), vec![p, h]),
        ("embeddings.token_type_embeddings.weight".into(), vec![t, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    for l in 0..layers {
        let pre = format!("encoder.layer.{l}");
        for proj in ["query", "key", "value"] {
            out.push((format!("{pre}.attention.self.{proj}.weight"), vec![h, h]));
            out.push((format!("{pre}.attention.self.{proj}.bias"), vec![h]));
        }
        out.push((format!("{pre}.attention.output.dense.weight"), vec![h, h]));
        out.push((format!("{pre}.attention.output.dense.bias"), vec![h]));
        out.push((format!("{pre}.attention.output.LayerNorm.weight"), vec![h]));
        out.push((format!("{pre}.attention.output.LayerNorm.bias"), vec![h]));
        out.push((format!("{pre}.intermediate.dense.weight"), vec![i, h]));
        out.push((format!("{pre}.intermediate.dense.bias"), vec![i]));
        out.push((format!("{pre}.output.dense.weight"), vec![h, i]));
        out.push((format!("{pre}.output.dense.bias"), vec![h]));
        out.push((format!("{pre}.output.LayerNorm.weight"), vec![h]));
        out.push((format!("{pre}.output.LayerNorm.bias"), vec![h]));
    }
    out.push(("pooler.dense.weight".into(), vec![h, h]));
    out.push(("pooler.dense.bias".into(), vec![h]));
    Ok(out)
}

/// True if `name` is a tensor of a BERT encoder (with or without a `bert.` prefix).
pub fn matches_name(name: &str) -> bool {
    name.contains("encoder.layer.") && name.contains(".attention.self.query.")
}

/// What a sentence-transformers model adds around the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct SentenceTransformers {
    /// Pooling: `mean`, `cls`, `max`, `lasttoken`, ... (from the pooling module's config).
    pub pooling_mode: Option<String>,
    /// True if the module list ends with a `Normalize` module.
    pub normalize: bool,
    /// `sentence_bert_config.json` `max_seq_length`.
    pub max_seq_length: Option<u64>,
    /// `sentence_bert_config.json` `do_lower_case`.
    pub do_lower_case: Option<bool>,
    /// The module types in order (e.g. `sentence_transformers.models.Transformer`).
    pub modules: Vec<String>,
}

impl SentenceTransformers {
    /// Reads the sentence-transformers files through `read` (relative path
    /// → file text). `None` if there is no `modules.json`.
    pub fn from_files(read: &dyn Fn(&str) -> Option<String>) -> Option<SentenceTransformers> {
        let modules: Value = serde_json::from_str(&read("modules.json")?).ok()?;
        let modules = modules.as_array()?;
        let mut st = SentenceTransformers::default();
        for m in modules {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
            st.modules.push(ty.to_string());
            if ty.ends_with(".Normalize") {
                st.normalize = true;
            }
            if ty.ends_with(".Pooling") {
                let path = m.get("path").and_then(Value::as_str).unwrap_or_default();
                let cfg: Option<Value> = read(&format!("{path}/config.json"))
                    .and_then(|t| serde_json::from_str(&t).ok());
                st.pooling_mode = cfg.as_ref().and_then(pooling_mode);
            }
        }
        if let Some(cfg) =
            read("sentence_bert_config.json").and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            st.max_seq_length = cfg.get("max_seq_length").and_then(Value::as_u64);
            st.do_lower_case = cfg.get("do_lower_case").and_then(Value::as_bool);
        }
        Some(st)
    }

    /// The fields added to the seeds' metadata summary.
    pub fn summary(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("sentence_transformers".into(), json!(true));
        m.insert("pooling_mode".into(), json!(self.pooling_mode));
        m.insert("normalize".into(), json!(self.normalize));
        m.insert("max_seq_length".into(), json!(self.max_seq_length));
        m
    }
}

/// The pooling mode named by a sentence-transformers pooling config.
fn pooling_mode(cfg: &Value) -> Option<String> {
    if let Some(mode) = cfg.get("pooling_mode").and_then(Value::as_str) {
        return Some(mode.to_string());
    }
    let modes = [
        ("pooling_mode_cls_token", "cls"),
        ("pooling_mode_mean_tokens", "mean"),
        ("pooling_mode_max_tokens", "max"),
        ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
        ("pooling_mode_weightedmean_tokens", "weightedmean"),
        ("pooling_mode_lasttoken", "lasttoken"),
    ];
    modes
        .iter()
        .find(|(k, _)| cfg.get(*k).and_then(Value::as_bool) == Some(true))
        .map(|(_, m)| m.to_string())
}
