//! `inspect`: what a model source holds, without reading tensor data.

use std::collections::BTreeMap;
use std::path::PathBuf;

use modelconv_core::{Result, TensorInfo};
use serde::Serialize;

use crate::source;

/// Per-dtype totals.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct DTypeStats {
    /// Number of tensors.
    pub tensors: usize,
    /// Number of elements.
    pub parameters: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A weight file of the source.
#[derive(Debug, Clone, Serialize)]
pub struct FileStats {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
}

/// What `inspect` reports.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// The source as given.
    pub source: String,
    /// Detected format, as the registry names it (`safetensors`, `gguf`, ...).
    pub format_name: String,
    /// How the format was found laid out (`hf-safetensors-sharded`, `gguf-v3 (llama)`, ...).
    pub format: String,
    /// Architecture from config.json (`architectures[0]`), if any.
    pub architecture: Option<String>,
    /// `model_type` from config.json, if any.
    pub model_type: Option<String>,
    /// The detected model family and why.
    pub detection: modelconv_arch::Detection,
    /// The family's summary of the config (the seeds' metadata fields).
    pub family_summary: serde_json::Map<String, serde_json::Value>,
    /// Components `--component` can extract.
    pub components: Vec<modelconv_arch::Component>,
    /// sentence-transformers settings, if any.
    pub sentence_transformers: Option<modelconv_arch::bert::SentenceTransformers>,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Number of parameters (elements).
    pub parameters: u64,
    /// Total tensor bytes.
    pub total_bytes: u64,
    /// Dtype name → totals.
    pub dtypes: BTreeMap<String, DTypeStats>,
    /// Weight files (shards), with sizes.
    pub files: Vec<FileStats>,
    /// Free-form metadata (safetensors `__metadata__`).
    pub metadata: BTreeMap<String, String>,
    /// Non-weight files that a conversion carries over.
    pub carried_files: Vec<String>,
    /// Weight files in formats not read by this conversion.
    pub skipped_files: Vec<String>,
    /// Globals referenced by pickled inputs: `module.name` → allowed
    /// (false = outside the allow-list; a conversion would refuse the file).
    pub pickle_globals: BTreeMap<String, bool>,
    /// Tied tensors (`alias` → kept name), written once by conversions.
    pub aliases: Vec<(String, String)>,
    /// Reader notes.
    pub notes: Vec<String>,
    /// Every tensor, in source order.
    pub tensors: Vec<TensorInfo>,
    /// For a GGUF file: its own view (stored types, quant mix, bits per weight).
    pub gguf: Option<GgufInspect>,
}

/// What a GGUF file stores, as stored (the rest of the report shows the
/// tensors as modelconv reads them: Hugging Face names, dequantized).
#[derive(Debug, Clone, Serialize)]
pub struct GgufInspect {
    /// Format version.
    pub version: u32,
    /// Data alignment.
    pub alignment: u64,
    /// `general.file_type` as llama-quantize names it, if it is a preset.
    pub file_type: Option<String>,
    /// Bits per weight over all tensors.
    pub bits_per_weight: f64,
    /// Per stored type: tensors, parameters, bytes.
    pub quant_mix: BTreeMap<String, DTypeStats>,
    /// Every metadata key with its value (arrays summarised).
    pub metadata: Vec<(String, String)>,
    /// Every tensor: GGUF name, stored type, C-order shape, bytes.
    pub tensors: Vec<(String, String, Vec<usize>, u64)>,
    /// Legal GGUF that llama.cpp would refuse.
    pub warnings: Vec<String>,
}

fn gguf_view(f: &modelconv_gguf::GgufFile) -> Result<GgufInspect> {
    let mut mix: BTreeMap<String, DTypeStats> = BTreeMap::new();
    let (mut params, mut bytes) = (0u64, 0u64);
    for t in &f.tensors {
        let s = mix.entry(t.ggml_type.name.to_string()).or_default();
        s.tensors += 1;
        s.parameters += t.numel();
        s.bytes += t.nbytes;
        params += t.numel();
        bytes += t.nbytes;
    }
    let file_type = f
        .get("general.file_type")
        .and_then(modelconv_gguf::Value::as_u64)
        .and_then(|ft| {
            modelconv_gguf::preset::PRESETS
                .iter()
                .find(|p| u64::from(p.file_type) == ft)
                .map(|p| p.name.to_string())
        });
    Ok(GgufInspect {
        version: f.version,
        alignment: f.alignment,
        file_type,
        bits_per_weight: if params == 0 {
            0.0
        } else {
            bytes as f64 * 8.0 / params as f64
        },
        quant_mix: mix,
        metadata: f
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.display_short()))
            .collect(),
        tensors: f
            .tensors
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.ggml_type.name.to_string(),
                    t.shape(),
                    t.nbytes,
                )
            })
            .collect(),
        warnings: f.warnings.clone(),
    })
}

/// Inspects `src` (path or hub id), listing every tensor.
pub fn inspect(src: &str) -> Result<InspectReport> {
    inspect_with(src, true)
}

/// Inspects `src`; the per-tensor list (`tensors`) only when `with_tensors`
/// (a model of a million tensors is summarised without copying them all).
pub fn inspect_with(src: &str, with_tensors: bool) -> Result<InspectReport> {
    let model = source::open_with(src, true)?;
    let mut dtypes: BTreeMap<String, DTypeStats> = BTreeMap::new();
    for t in &model.tensors {
        let s = dtypes.entry(t.info.dtype.name().to_string()).or_default();
        s.tensors += 1;
        s.parameters += t.info.numel() as u64;
        s.bytes += t.info.nbytes() as u64;
    }
    let detection = crate::family::detect_model(&model);
    Ok(InspectReport {
        source: src.to_string(),
        format_name: crate::registry::by_id(model.format)
            .map_or("generated", |f| f.name)
            .to_string(),
        format: model.format_description(),
        architecture: model.architecture(),
        model_type: model.model_type(),
        family_summary: match (detection.family, &model.config) {
            (Some(f), Some(c)) => f.summary(c, None),
            _ => serde_json::Map::new(),
        },
        components: detection
            .family
            .map(|f| f.components().to_vec())
            .unwrap_or_default(),
        sentence_transformers: crate::family::sentence_transformers(&model),
        detection,
        tensor_count: model.tensors.len(),
        parameters: model.total_parameters(),
        total_bytes: model.total_tensor_bytes(),
        dtypes,
        files: model
            .source_files
            .iter()
            .map(|f| FileStats {
                path: f.path.clone(),
                size: f.size,
            })
            .collect(),
        metadata: model.metadata.clone(),
        carried_files: model.aux_files.iter().map(|a| a.rel_path.clone()).collect(),
        skipped_files: model.skipped_files.clone(),
        pickle_globals: model
            .native::<modelconv_formats::pytorch::PickleGlobals>()
            .map(|g| g.0.clone())
            .unwrap_or_default(),
        aliases: model.aliases.clone(),
        notes: model.notes.clone(),
        tensors: match with_tensors {
            true => model.tensors.iter().map(|t| t.info.clone()).collect(),
            false => Vec::new(),
        },
        gguf: model
            .native::<modelconv_gguf::GgufSource>()
            .map(|s| gguf_view(&s.file))
            .transpose()?,
    })
}
