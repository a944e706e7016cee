//! GGUF (llama.cpp): one file, or gguf-split parts. Reading maps a known
//! architecture back to Hugging Face names and config; writing lays out
//! llama-quantize's presets with their per-tensor mix, the family's
//! hyper-parameters and the tokenizer; GGUF → GGUF without a type copies
//! tensors as stored (split, merge).

use std::path::Path;
use std::sync::Arc;

use modelconv_core::engine::{OutTensor, OutputPlan, PlannedFile, Transform};
use modelconv_core::{DType, Error, FormatId, Model, OutputTarget, Result, TensorInfo};
use modelconv_gguf::preset::Preset;
use modelconv_gguf::{GgmlType, GgufSource};

use crate::convert::ConvertOptions;
use crate::family::FamilyReport;
use crate::registry::{FormatReader, FormatSpec, FormatWriter, OpenOptions, WriteJob, WritePlan};

/// The registry entry.
pub static FORMAT: FormatSpec = FormatSpec {
    id: FormatId::Gguf,
    name: "gguf",
    aliases: &[],
    extensions: &["gguf"],
    summary: "GGUF (llama.cpp), one file or gguf-split parts, with llama-quantize's presets",
    sniff,
    sniff_dir: crate::registry::never_dir,
    reader: Some(&Gguf),
    writer: Some(&Gguf),
    options: &["max_shard_size", "quant", "tensor_type"],
};

fn sniff(head: &[u8], _path: &Path) -> bool {
    head.starts_with(b"GGUF")
}

struct Gguf;

impl FormatReader for Gguf {
    fn open(&self, path: &Path, _how: &OpenOptions) -> Result<Model> {
        let (model, source) = modelconv_gguf::read_model(path)?;
        modelconv_gguf::convert::to_hf(model, Arc::new(source))
    }
}

impl FormatWriter for Gguf {
    fn target(&self, _spec: &FormatSpec, dst: &Path) -> Result<OutputTarget> {
        if crate::registry::has_extension(&FORMAT, dst) {
            Ok(OutputTarget::File(dst.to_path_buf()))
        } else {
            Err(Error::InvalidOption(format!(
                "GGUF output is one file: give {} a .gguf name",
                dst.display()
            )))
        }
    }

    fn plan(&self, job: WriteJob<'_>) -> Result<WritePlan> {
        let OutputTarget::File(file) = job.target else {
            return Err(Error::Internal("GGUF target is not a file".into()));
        };
        let family = job.family.family.ok_or_else(|| {
            Error::InvalidOption(format!(
                "GGUF output needs a model family llama.cpp knows ({}); add --model-type",
                job.family.detection.reason
            ))
        })?;
        let source = job.model.native::<GgufSource>();
        match source {
            Some(s) if copies_as_stored(job.opts) => copy_as_stored(s, file, job.opts),
            _ => from_model(job.model, job.family, family, source, job.opts, file),
        }
    }
}

/// GGUF → GGUF with nothing asked of the tensors: copied as stored.
fn copies_as_stored(opts: &ConvertOptions) -> bool {
    opts.gguf_preset.is_none()
        && opts.dtype.is_none()
        && opts.quantize.is_none()
        && opts.tensor_types.is_empty()
        && opts.family.component.is_none()
        && !opts.family.mup_to_llama
}

/// Every tensor as stored, the metadata as it was (split keys aside), e.g.
/// to split or merge.
fn copy_as_stored(source: &GgufSource, file: &Path, opts: &ConvertOptions) -> Result<WritePlan> {
    let metadata = source.file.metadata.clone();
    let mut gts = Vec::with_capacity(source.file.tensors.len());
    for (t, raw) in source.file.tensors.iter().zip(&source.raw) {
        gts.push(modelconv_gguf::writer::GgufTensor {
            tensor: OutTensor {
                info: TensorInfo {
                    name: t.name.clone(),
                    dtype: t.ggml_type.dtype().unwrap_or(DType::U8),
                    shape: match t.ggml_type.dtype() {
                        Some(_) => t.shape(),
                        None => vec![t.nbytes as usize],
                    },
                },
                source: Arc::clone(raw),
                transform: Transform::Copy,
            },
            name: t.name.clone(),
            ggml_type: t.ggml_type,
            shape: t.shape(),
        });
    }
    let note = format!(
        "GGUF copied as stored ({} tensors{}); add --quant to change types",
        gts.len(),
        if source.parts > 1 {
            format!(", merged from {} parts", source.parts)
        } else {
            String::new()
        }
    );
    let mut out = files(file, metadata, gts, opts.max_shard_size)?;
    out.notes.push(note);
    Ok(out)
}

/// The type mix: `--quant`, else the preset of `--dtype`, else BF16 for
/// BF16 models and F16 otherwise.
fn preset(model: &Model, opts: &ConvertOptions) -> Result<Preset> {
    match (opts.gguf_preset, opts.dtype) {
        (Some(p), _) => Ok(p),
        (None, Some(dt)) => GgmlType::from_dtype(dt)
            .and_then(|t| Preset::from_name(t.name))
            .ok_or_else(|| Error::InvalidOption(format!("GGUF has no {dt} preset"))),
        (None, None) => {
            let bf16 = model.tensors.iter().any(|t| t.info.dtype == DType::BF16);
            Preset::from_name(if bf16 { "BF16" } else { "F16" })
                .ok_or_else(|| Error::Internal("F16 preset missing".into()))
        }
    }
}

/// A GGUF of `model` (Hugging Face names, a known family) in the preset's mix.
fn from_model(
    model: &Model,
    fam: &FamilyReport,
    family: modelconv_arch::Family,
    source: Option<&GgufSource>,
    opts: &ConvertOptions,
    file: &Path,
) -> Result<WritePlan> {
    let mut notes = Vec::new();
    if source.is_some_and(|s| s.file.tensors.iter().any(|t| t.ggml_type.dtype().is_none())) {
        notes.push("requantizing a model that is already quantized: the errors of both quantizations add up; start from the F16/BF16/F32 original when you have it".into());
    }
    let preset = preset(model, opts)?;
    let config = model.config.clone().unwrap_or_default();
    let tokenizer = tokenizer_metadata(model, family, source, &config, &mut notes)?;
    let name = crate::family::model_name(model);
    let gp = modelconv_gguf::convert::from_hf(
        model,
        family,
        preset,
        opts.tensor_types.clone(),
        tokenizer,
        &name,
        fam.sentence_transformers.as_ref(),
    )?;
    notes.extend(gp.notes);
    if !gp.fallbacks.is_empty() {
        notes.push(format!(
            "{} tensor(s) fell back to another type because their rows are not whole blocks (as llama-quantize does):",
            gp.fallbacks.len()
        ));
        notes.extend(gp.fallbacks.iter().map(|f| format!("  {f}")));
    }
    let mut out = files(file, gp.metadata, gp.tensors, opts.max_shard_size)?;
    out.notes.splice(0..0, notes);
    Ok(out)
}

/// The `tokenizer.*` metadata: a GGUF source's as it was (requantizing),
/// else built from `tokenizer.model` (SentencePiece, which wins for
/// LLaMA-style families, as in llama.cpp's converter) or `tokenizer.json`.
fn tokenizer_metadata(
    model: &Model,
    family: modelconv_arch::Family,
    source: Option<&GgufSource>,
    config: &serde_json::Value,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, modelconv_gguf::Value)>> {
    if let Some(s) = source {
        let from_gguf: Vec<_> = s
            .file
            .metadata
            .iter()
            .filter(|(k, _)| k.starts_with("tokenizer."))
            .cloned()
            .collect();
        if !from_gguf.is_empty() {
            return Ok(from_gguf);
        }
    }
    let tok_text = crate::family::read_aux(model, "tokenizer.json");
    let parsed = tok_text
        .as_deref()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let spm =
        crate::family::read_aux_bytes(model, "tokenizer.model").filter(|_| family.is_decoder());
    let tc: Option<serde_json::Value> = crate::family::read_aux(model, "tokenizer_config.json")
        .and_then(|t| serde_json::from_str(&t).ok());
    let vocab_size = config
        .get("vocab_size")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    if let Some(spm) = spm {
        notes.push("tokenizer: SentencePiece vocabulary (llama) from tokenizer.model".into());
        return modelconv_gguf::vocab::metadata_spm(
            &spm,
            parsed.as_ref(),
            tc.as_ref(),
            config,
            vocab_size,
        );
    }
    let Some(tok) = parsed else {
        notes.push(
            "no tokenizer.json: the GGUF has no tokenizer metadata (llama.cpp needs one to run it)"
                .into(),
        );
        return Ok(Vec::new());
    };
    let fp = tok_text.as_deref().and_then(pre_fingerprint);
    let (meta, how) =
        modelconv_gguf::vocab::metadata(&tok, tc.as_ref(), config, vocab_size, fp.as_deref())?;
    if !how.is_empty() {
        notes.push(how);
    }
    Ok(meta)
}

/// llama.cpp's fingerprint of a tokenizer.json: the ids of its check text,
/// tokenized the way `AutoTokenizer(...).encode` does (special tokens
/// added). `None` if the tokenizer cannot be loaded.
fn pre_fingerprint(tokenizer_json: &str) -> Option<String> {
    let t: tokenizers::Tokenizer = tokenizer_json.parse().ok()?;
    let enc = t.encode(modelconv_gguf::vocab::PRE_CHECK_TEXT, true).ok()?;
    Some(modelconv_gguf::vocab::fingerprint(enc.get_ids()))
}

/// Lays out one GGUF file, or gguf-split parts of at most `max_bytes` of
/// tensor data each (`NAME-00001-of-0000N.gguf` next to `file`).
fn files(
    file: &Path,
    metadata: Vec<(String, modelconv_gguf::Value)>,
    tensors: Vec<modelconv_gguf::writer::GgufTensor>,
    max_bytes: Option<u64>,
) -> Result<WritePlan> {
    let types = tensors
        .iter()
        .map(|t| t.ggml_type.name.to_string())
        .collect();
    let (root, fname) = modelconv_core::split_file_path(file)?;
    let out_tensors = tensors.iter().map(|t| t.tensor.clone()).collect();
    let files = match max_bytes {
        None => vec![PlannedFile {
            rel_path: fname.clone(),
            content: modelconv_gguf::writer::layout(&metadata, &tensors)?,
        }],
        Some(max) => {
            let parts = modelconv_gguf::split::plan(metadata, tensors, max)?;
            let n = parts.len();
            parts
                .into_iter()
                .enumerate()
                .map(|(i, (m, ts))| {
                    let name = modelconv_gguf::split::part_path(Path::new(&fname), i, n);
                    Ok(PlannedFile {
                        rel_path: name.to_string_lossy().into_owned(),
                        content: modelconv_gguf::writer::layout(&m, &ts)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    Ok(WritePlan {
        plan: OutputPlan {
            root,
            name: fname,
            files,
        },
        tensors: out_tensors,
        types: Some(types),
        notes: Vec::new(),
    })
}
