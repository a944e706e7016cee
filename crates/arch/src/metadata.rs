//! The seeds' `metadata.json` sidecar.
//!
//! ```json
//! { "model_name": ..., "model_type": ..., "architecture": ..., "family": ...,
//!   "config": { family summary, e.g. image_size, patch_size, ... },
//!   "hf_config": { the full config.json },
//!   "total_parameters": ..., "num_weight_tensors": ..., "layer_info": { name: {shape, dtype, num_params} },
//!   "converted_at": "...", "converter_version": "modelconv X.Y.Z" }
//! ```
//!
//! `config` holds the seeds' family fields; the complete `config.json`
//! travels as `hf_config` so a reverse conversion can restore it.

use modelconv_core::TensorInfo;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::bert::SentenceTransformers;
use crate::family::{Component, Family, KeyMap};

/// What the family layer knows about a conversion, for `metadata.json`.
#[derive(Debug, Clone, Default)]
pub struct FamilyInfo<'a> {
    /// The output's `config.json` (after any extraction or folding).
    pub config: Option<&'a Value>,
    /// The detected or forced family.
    pub family: Option<Family>,
    /// The extracted component, if any.
    pub component: Option<Component>,
    /// The tensor naming of the output.
    pub key_map: KeyMap,
    /// sentence-transformers settings, if the source is one.
    pub sentence_transformers: Option<&'a SentenceTransformers>,
}

/// The family-dependent fields of `metadata.json`: `model_type`,
/// `architecture`, `family`, `component`, `key_map`, `config` (the seeds'
/// summary) and `hf_config`.
pub fn family_fields(info: &FamilyInfo<'_>) -> Map<String, Value> {
    let cfg = info.config;
    let get = |k: &str| cfg.and_then(|c| c.get(k)).cloned().unwrap_or(Value::Null);
    let architecture = cfg
        .and_then(|c| c.get("architectures"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_else(|| get("model_type"));
    let mut summary = match (info.family, cfg) {
        (Some(f), Some(c)) => f.summary(c, info.component),
        _ => Map::new(),
    };
    if let Some(st) = info.sentence_transformers {
        summary.extend(st.summary());
    }
    let mut m = Map::new();
    m.insert("model_type".into(), get("model_type"));
    m.insert("architecture".into(), architecture);
    m.insert("family".into(), json!(info.family.map(Family::name)));
    m.insert(
        "component".into(),
        json!(info.component.map(Component::name)),
    );
    m.insert("key_map".into(), json!(info.key_map.name()));
    m.insert("config".into(), Value::Object(summary));
    m.insert("hf_config".into(), cfg.cloned().unwrap_or(Value::Null));
    m
}

/// `layer_info`: name → shape, dtype, num_params, in tensor order. It
/// serializes straight from the tensor list: a model with 200k tensors
/// never becomes a tree of 200k JSON maps (issue #23).
#[derive(Debug, Clone, Copy)]
pub struct LayerInfo<'a>(pub &'a [TensorInfo]);

impl Serialize for LayerInfo<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            shape: &'a [usize],
            dtype: &'a str,
            num_params: usize,
        }
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for t in self.0 {
            m.serialize_entry(
                &t.name,
                &Entry {
                    shape: &t.shape,
                    dtype: t.dtype.name(),
                    num_params: t.numel(),
                },
            )?;
        }
        m.end()
    }
}

/// The key of the entry written from the tensor list.
pub const LAYER_INFO: &str = "layer_info";

/// A complete `metadata.json` for `tensors`, with `fields` from
/// [`family_fields`] and a conversion timestamp. `layer_info` is a
/// placeholder: write the document through
/// [`modelconv_core::json::WithEntry`] with [`LayerInfo`] of the same tensors.
pub fn document(
    model_name: &str,
    fields: &Map<String, Value>,
    tensors: &[TensorInfo],
) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("model_name".into(), json!(model_name));
    doc.extend(fields.clone());
    doc.insert(
        "total_parameters".into(),
        json!(tensors.iter().map(|t| t.numel() as u64).sum::<u64>()),
    );
    doc.insert("num_weight_tensors".into(), json!(tensors.len()));
    doc.insert(LAYER_INFO.into(), Value::Null);
    doc.insert(
        "converted_at".into(),
        json!(modelconv_core::timestamp::converted_at()),
    );
    doc.insert(
        "converter_version".into(),
        json!(format!("modelconv {}", env!("CARGO_PKG_VERSION"))),
    );
    doc
}
