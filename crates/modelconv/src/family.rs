//! The family layer in a conversion: detection, `--model-type`,
//! `--mup-to-llama`, `--component`, `--key-map`, tokenizer export and the
//! seeds' `metadata.json`. The knowledge lives in `modelconv-arch`; this
//! module applies it to a [`Model`] before the writer plans its output.

use modelconv_core::checksum::HashWriter;
use std::path::Path;
use std::sync::Arc;

use modelconv_arch::bert::SentenceTransformers;
use modelconv_arch::detect::Evidence;
use modelconv_arch::metadata::{self, FamilyInfo};
use modelconv_arch::mup::{self, ScaledSource};
use modelconv_arch::{tokenizer, whisper, Component, Detection, Family, KeyMap};
use modelconv_core::engine::{FileContent, PlannedFile, StreamOut, StreamStats, StreamWriter};
use modelconv_core::error::IoContext;
use modelconv_core::model::AuxFile;
use modelconv_core::progress::Reporter;
use modelconv_core::tensor::Tensor;
use modelconv_core::{Error, Model, Result, TensorInfo};
use serde::Serialize;
use serde_json::{Map, Value};

/// Largest auxiliary file read for detection or tokenizer export.
const MAX_AUX_READ: u64 = 256 << 20;

/// The family-related conversion settings. Default: detect the family,
/// keep the whole model with Hugging Face names (the seeds' names for
/// Whisper in the seeds' Parquet layout), write `metadata.json`.
#[derive(Debug, Clone, Default)]
pub struct FamilyOptions {
    /// Force a family instead of detecting it (`--model-type`).
    pub model_type: Option<Family>,
    /// Extract a sub-model (`--component`).
    pub component: Option<Component>,
    /// Output tensor naming (`--key-map`); `None` = the default above.
    pub key_map: Option<KeyMap>,
    /// Fold MiniCPM muP scales into plain LLaMA weights (`--mup-to-llama`).
    pub mup_to_llama: bool,
    /// Do not write `metadata.json` (`--no-metadata`).
    pub no_metadata: bool,
    /// Do not check tensor shapes against the family (only `fake --shape`,
    /// which asks for other shapes on purpose). Default false.
    pub skip_shape_check: bool,
}

/// What the family layer did, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    /// The family used (detected or forced), if any.
    pub family: Option<Family>,
    /// How it was decided.
    pub detection: Detection,
    /// The extracted component, if any.
    pub component: Option<Component>,
    /// Output tensor naming.
    pub key_map: KeyMap,
    /// sentence-transformers settings of the source, if any.
    pub sentence_transformers: Option<SentenceTransformers>,
    /// Files written by the family layer (config.json, tokenizer.json).
    pub generated_files: Vec<String>,
    /// Things the user should know.
    pub notes: Vec<String>,
}

/// The text of an auxiliary file of `model`, if it exists and is small enough.
pub fn read_aux(model: &Model, rel: &str) -> Option<String> {
    read_aux_bytes(model, rel).and_then(|b| String::from_utf8(b).ok())
}

/// The bytes of a carried file (e.g. `tokenizer.model`), if small enough.
pub fn read_aux_bytes(model: &Model, rel: &str) -> Option<Vec<u8>> {
    let aux = model.aux_files.iter().find(|a| a.rel_path == rel)?;
    aux.bytes(MAX_AUX_READ).ok()
}

/// sentence-transformers settings of `model`, if it has a `modules.json`.
pub fn sentence_transformers(model: &Model) -> Option<SentenceTransformers> {
    SentenceTransformers::from_files(&|rel| read_aux(model, rel))
}

/// Detects the family of `model`.
pub fn detect_model(model: &Model) -> Detection {
    let names: Vec<&str> = model.tensors.iter().map(|t| t.info.name.as_str()).collect();
    let gguf_arch = model
        .metadata
        .get("general.architecture")
        .map(String::as_str);
    modelconv_arch::detect(
        Evidence {
            config: model.config.as_ref(),
            gguf_arch,
            sentence_transformers: model.aux_files.iter().any(|a| a.rel_path == "modules.json"),
        },
        &names,
    )
}

/// Renames tensors written with the seeds' key map back to Hugging Face
/// names (called when reading the seeds' Parquet layout).
pub fn undo_key_map(model: &mut Model) {
    let key_map = model.metadata.remove("modelconv.key_map");
    let family = model.metadata.remove("modelconv.family");
    model.metadata.retain(|k, _| !k.starts_with("modelconv."));
    if key_map.as_deref() == Some("seeds") && family.as_deref() == Some("whisper") {
        for t in &mut model.tensors {
            t.info.name = whisper::from_seeds(&t.info.name);
        }
        model
            .notes
            .push("tensor names mapped back from the seeds' Whisper key map".into());
    }
}

fn json_bytes(v: &Value) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}

fn rename(t: &Tensor, name: &str) -> Tensor {
    Tensor {
        info: TensorInfo {
            name: name.to_string(),
            ..t.info.clone()
        },
        source: Arc::clone(&t.source),
        file: t.file.clone(),
    }
}

/// Applies the family options to `model` (tensors, config, generated
/// files). `seeds_layout` is true when the output is the seeds' Parquet
/// directory layout; `directory` when the output is any directory.
pub fn apply(
    model: &mut Model,
    opts: &FamilyOptions,
    seeds_layout: bool,
    directory: bool,
) -> Result<FamilyReport> {
    let detection = detect_model(model);
    let family = opts.model_type.or(detection.family);
    // A family's weights must have the shapes its config gives them
    // before anything is extracted, folded or re-laid.
    if let (Some(f), Some(config), false) = (family, model.config.as_ref(), opts.skip_shape_check) {
        modelconv_arch::shapes::check(
            f,
            config,
            model
                .tensors
                .iter()
                .map(|t| (t.info.name.as_str(), t.info.shape.as_slice())),
            &model.root,
        )?;
    }
    let mut notes = Vec::new();
    let mut generated = Vec::new();
    let mut config_changed = false;
    if let (Some(forced), Some(found)) = (opts.model_type, detection.family) {
        if forced != found {
            notes.push(format!(
                "--model-type {forced} overrides the detected family ({})",
                detection.reason
            ));
        }
    }

    if opts.mup_to_llama {
        let config = model.config.clone().ok_or_else(|| {
            Error::InvalidOption("--mup-to-llama needs the model's config.json".into())
        })?;
        let names: Vec<&str> = model.tensors.iter().map(|t| t.info.name.as_str()).collect();
        let plan = mup::plan(&config, &names)?;
        let mut out = Vec::with_capacity(plan.tensors.len());
        for fold in &plan.tensors {
            let src = model
                .tensors
                .iter()
                .find(|t| t.info.name == fold.source)
                .ok_or_else(|| Error::Internal(format!("fold source {} missing", fold.source)))?;
            let mut t = rename(src, &fold.name);
            if fold.factor != 1.0 {
                t.source = Arc::new(ScaledSource::new(
                    Arc::clone(&src.source),
                    src.info.dtype,
                    fold.factor,
                )?);
            }
            out.push(t);
        }
        model.tensors = out;
        model.config = Some(plan.config);
        model.aliases.retain(|(alias, _)| alias != "lm_head.weight");
        config_changed = true;
        notes.push(format!(
            "muP scales folded into the weights (plain LLaMA output){}",
            if plan.untied {
                "; embeddings untied: lm_head.weight written separately"
            } else {
                ""
            }
        ));
    }
    let family = if opts.mup_to_llama {
        Some(Family::Llama)
    } else {
        family
    };

    if let Some(component) = opts.component {
        let fam = family.ok_or_else(|| {
            Error::InvalidOption(format!(
                "--component {component}: the model family is unknown ({}); add --model-type",
                detection.reason
            ))
        })?;
        let config = model.config.clone().unwrap_or(Value::Object(Map::new()));
        let names: Vec<String> = model.tensors.iter().map(|t| t.info.name.clone()).collect();
        let ex = fam.extract(component, &config, &names)?;
        let mut out = Vec::with_capacity(ex.tensors.len());
        for (src, dst) in &ex.tensors {
            if let Some(t) = model.tensors.iter().find(|t| &t.info.name == src) {
                out.push(rename(t, dst));
            }
        }
        let dropped = model.tensors.len() - out.len();
        model.tensors = out;
        model.config = Some(ex.config);
        config_changed = true;
        notes.push(format!(
            "--component {component}: kept {} tensors, left out {dropped}",
            model.tensors.len()
        ));
    }

    let key_map = opts
        .key_map
        .unwrap_or(if seeds_layout && family == Some(Family::Whisper) {
            KeyMap::Seeds
        } else {
            KeyMap::Hf
        });
    if key_map == KeyMap::Seeds {
        if family == Some(Family::Whisper) {
            for t in &mut model.tensors {
                t.info.name = whisper::to_seeds(&t.info.name);
            }
            notes.push("tensor names use the seeds' Whisper key map (embed_positions → position_embedding); --key-map hf keeps Hugging Face names".into());
        } else {
            notes.push(format!(
                "--key-map seeds changes no names for {} models",
                family.map(Family::name).unwrap_or("unknown")
            ));
        }
    }

    if config_changed && directory {
        if let Some(c) = &model.config {
            model.set_aux_file(AuxFile::generated("config.json", json_bytes(c)?));
            generated.push("config.json".to_string());
        }
    }

    if directory {
        let has = |rel: &str| model.aux_files.iter().any(|a| a.rel_path == rel);
        if !has("tokenizer.json") && has("vocab.txt") && !has("vocab.json") {
            let vocab = read_aux(model, "vocab.txt").ok_or_else(|| {
                Error::InvalidOption("vocab.txt could not be read as UTF-8 text".into())
            })?;
            let cfg: Option<Value> = read_aux(model, "tokenizer_config.json")
                .and_then(|t| serde_json::from_str(&t).ok());
            let bytes = tokenizer::wordpiece_from_vocab(&vocab, cfg.as_ref())?;
            model.set_aux_file(AuxFile::generated("tokenizer.json", bytes));
            generated.push("tokenizer.json".to_string());
            notes.push("tokenizer.json built from vocab.txt (WordPiece, as transformers' BertTokenizerFast)".into());
        } else if !has("tokenizer.json") {
            for sp in ["tokenizer.model", "spiece.model", "sentencepiece.bpe.model"] {
                if has(sp) {
                    notes.push(tokenizer::sentencepiece_note(sp));
                }
            }
        }
    }

    Ok(FamilyReport {
        family,
        detection,
        component: opts.component,
        key_map,
        sentence_transformers: sentence_transformers(model),
        generated_files: generated,
        notes,
    })
}

/// The family fields of `metadata.json` for a conversion.
pub fn metadata_fields(model: &Model, report: &FamilyReport) -> Map<String, Value> {
    metadata::family_fields(&FamilyInfo {
        config: model.config.as_ref(),
        family: report.family,
        component: report.component,
        key_map: report.key_map,
        sentence_transformers: report.sentence_transformers.as_ref(),
    })
}

/// The model's name for `metadata.json`: `_name_or_path` from the config,
/// else the source's file or directory name.
pub fn model_name(model: &Model) -> String {
    model
        .config
        .as_ref()
        .and_then(|c| c.get("_name_or_path"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            Path::new(&model.root)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
}

/// The seeds' `metadata.json` describing the output `tensors`, as a file
/// written after the weights. Its resume identity leaves out the
/// timestamp, so an interrupted conversion resumes.
pub fn metadata_json(
    model: &Model,
    report: &FamilyReport,
    tensors: &[TensorInfo],
) -> Result<PlannedFile> {
    let fields = metadata_fields(model, report);
    let doc = metadata::document(&model_name(model), &fields, tensors);
    Ok(PlannedFile {
        rel_path: "metadata.json".into(),
        content: FileContent::Streamed(Arc::new(MetadataJson {
            doc,
            tensors: tensors.to_vec(),
        })),
    })
}

/// `metadata.json`: the small fields as a map, `layer_info` written from
/// the tensor list as the file is written.
#[derive(Debug)]
struct MetadataJson {
    doc: serde_json::Map<String, Value>,
    tensors: Vec<TensorInfo>,
}

impl MetadataJson {
    /// Writes the document (pretty, then a newline) to `w`, with
    /// `converted_at` replaced by `time`, or left out if `None`.
    fn write_to(&self, w: impl std::io::Write, time: Option<String>) -> serde_json::Result<()> {
        let mut doc = self.doc.clone();
        match time {
            Some(t) => {
                doc.insert("converted_at".into(), Value::String(t));
            }
            None => {
                doc.remove("converted_at");
            }
        }
        let mut w = w;
        serde_json::to_writer_pretty(
            &mut w,
            &modelconv_core::json::WithEntry {
                doc: &doc,
                key: metadata::LAYER_INFO,
                value: metadata::LayerInfo(&self.tensors),
            },
        )?;
        w.write_all(b"\n").map_err(serde_json::Error::io)
    }
}

impl StreamWriter for MetadataJson {
    fn size_hint(&self) -> u64 {
        let mut sink = HashWriter::default();
        let time = Some(modelconv_core::timestamp::converted_at());
        match self.write_to(&mut sink, time) {
            Ok(()) => sink.len(),
            Err(_) => 1 << 20,
        }
    }

    fn identity(&self) -> String {
        // Everything but the timestamp, so an interrupted conversion resumes.
        let mut sink = HashWriter::default();
        match self.write_to(&mut sink, None) {
            Ok(()) => format!("metadata.json sha256:{}", sink.hex()),
            Err(e) => format!("metadata.json unserializable: {e}"),
        }
    }

    fn write(&self, out: &mut StreamOut, _reporter: &dyn Reporter) -> Result<StreamStats> {
        let time = Some(modelconv_core::timestamp::converted_at());
        self.write_to(&mut *out, time)
            .map_err(std::io::Error::from)
            .at("metadata.json")?;
        Ok(StreamStats::default())
    }
}
