//! `convert`: read a model, plan dtypes and layout, write it, report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use modelconv_core::cast::can_cast;
use modelconv_core::engine::{self, EngineOptions, OutTensor, OutputPlan, Transform, WrittenFile};
use modelconv_core::progress::Reporter;
use modelconv_core::quant::{self, Scheme};
use modelconv_core::tensor::OwnedBytes;
use modelconv_core::{DType, Error, FormatId, Model, OutputTarget, Result, TensorInfo};
use modelconv_formats::hf;
use modelconv_parquet::ParquetOptions;
use serde::Serialize;

use crate::family::{self, FamilyOptions, FamilyReport};
use crate::glob;
use crate::registry;
use crate::source;

/// Where the bytes are: by dtype (GGUF type in a GGUF output) and by
/// tensor kind (the name without its layer prefix, `self_attn.q_proj.weight`),
/// in the source (as read) and in the output.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SizeBreakdown {
    /// Source bytes by dtype.
    pub source_by_dtype: BTreeMap<String, u64>,
    /// Output bytes by dtype or stored type.
    pub output_by_type: BTreeMap<String, u64>,
    /// Source bytes by tensor kind.
    pub source_by_kind: BTreeMap<String, u64>,
    /// Output bytes by tensor kind.
    pub output_by_kind: BTreeMap<String, u64>,
}

/// What `convert` runs: a [`crate::ConvertRequest`] resolved against the
/// destination and the registry (or built directly by a Rust caller).
/// `ConvertOptions::default()` keeps every dtype, writes safetensors (or
/// what the destination's extension says), does not shard, does not
/// validate, and uses [`EngineOptions::default`].
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Output format; `None` = from the destination's extension, else safetensors.
    pub to: Option<FormatId>,
    /// Target dtype for float tensors; `None` = keep each tensor's dtype.
    pub dtype: Option<DType>,
    /// Per-tensor dtype overrides `(glob, dtype)`; the first matching glob wins
    /// over `dtype`. Integer and bool tensors are never cast.
    pub dtype_overrides: Vec<(String, DType)>,
    /// Largest shard (tensor bytes); `None` = one file.
    pub max_shard_size: Option<u64>,
    /// Allow writing into a non-empty output directory; weight files there
    /// that the new output does not replace are removed after success.
    /// Default false (a non-empty directory is refused).
    pub overwrite: bool,
    /// Convert a model whose tensors declare more than 64x the bytes its
    /// files hold (stride-0 views, highly compressed members). Default false.
    pub allow_amplification: bool,
    /// Parquet output settings (schema, compression).
    pub parquet: ParquetOptions,
    /// int8-quantize float weight tensors (2 or more dimensions); `None` = no.
    pub quantize: Option<QuantizeOptions>,
    /// Engine settings (threads, chunk size, resume).
    pub engine: EngineOptions,
    /// Model-family settings (detection override, component extraction,
    /// key map, muP folding, metadata.json).
    pub family: FamilyOptions,
    /// GGUF preset (`Q4_K_M`, `Q8_0`, `F16`, ... with llama-quantize's
    /// per-tensor mix); `None` = `dtype` if given, else BF16 for BF16
    /// sources and F16 otherwise.
    pub gguf_preset: Option<modelconv_gguf::preset::Preset>,
    /// Per-tensor GGUF type overrides (`--tensor-type PATTERN=TYPE`); the
    /// first match wins. Default none.
    pub tensor_types: Vec<modelconv_gguf::preset::Override>,
    /// After writing, compare the output with the source (`--validate`):
    /// tensor by tensor, and through the forward passes of `inference`.
    /// Default false.
    pub validate: bool,
    /// The forward-pass check `validate` runs (`modelconv-infer`'s
    /// `Checker`); `None` = tensors only.
    pub inference: Option<std::sync::Arc<dyn crate::check::InferenceCheck>>,
    /// Also write the HTML report of the conversion here
    /// ([`crate::report_html::conversion_page`]). Default none.
    pub report: Option<PathBuf>,
}

impl ConvertOptions {
    /// Parses `PATTERN=DTYPE` overrides.
    pub fn parse_override(spec: &str) -> Result<(String, DType)> {
        let (pat, dt) = spec.rsplit_once('=').ok_or_else(|| {
            Error::InvalidOption(format!("override '{spec}' is not PATTERN=DTYPE"))
        })?;
        let dtype = parse_target_dtype(dt)?;
        Ok((pat.to_string(), dtype))
    }
}

/// `--quantize int8` settings. Default: symmetric, per channel along axis 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantizeOptions {
    /// Symmetric (int8) or asymmetric (uint8 + zero point).
    pub scheme: Scheme,
    /// Channel axis, or `None` for one scale per tensor.
    pub axis: Option<usize>,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            scheme: Scheme::Symmetric,
            axis: Some(0),
        }
    }
}

/// Replaces float tensors of 2+ dimensions by int8/uint8 tensors plus
/// `NAME_scale` (F32) and, for the asymmetric scheme, `NAME_zero_point`
/// (I64) companions — the layout the Parquet V2 writer folds into one row.
pub fn quantize_tensors(tensors: Vec<OutTensor>, q: &QuantizeOptions) -> Result<Vec<OutTensor>> {
    let mut out = Vec::with_capacity(tensors.len());
    for t in tensors {
        if !t.info.dtype.is_float() || t.info.shape.len() < 2 {
            out.push(t);
            continue;
        }
        let (params, source) = quant::quantize(&t.info, Arc::clone(&t.source), q.scheme, q.axis)?;
        let mut info = t.info.clone();
        info.dtype = params.dtype();
        let shape = if params.axis.is_some() {
            vec![params.scales.len()]
        } else {
            Vec::new()
        };
        let name = info.name.clone();
        out.push(OutTensor {
            info,
            source: Arc::new(source),
            transform: Transform::Copy,
        });
        let scales: Vec<u8> = params.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        out.push(owned_tensor(
            format!("{name}_scale"),
            DType::F32,
            shape.clone(),
            scales,
        ));
        if params.scheme == Scheme::Asymmetric {
            let zps: Vec<u8> = params
                .zero_points
                .iter()
                .flat_map(|z| z.to_le_bytes())
                .collect();
            out.push(owned_tensor(
                format!("{name}_zero_point"),
                DType::I64,
                shape,
                zps,
            ));
        }
    }
    Ok(out)
}

fn owned_tensor(name: String, dtype: DType, shape: Vec<usize>, bytes: Vec<u8>) -> OutTensor {
    OutTensor {
        info: modelconv_core::TensorInfo { name, dtype, shape },
        source: Arc::new(OwnedBytes(Arc::new(bytes))),
        transform: Transform::Copy,
    }
}

/// Parses a cast target dtype (`f16`, `bf16`, `f32`, `f64`).
pub fn parse_target_dtype(s: &str) -> Result<DType> {
    let dt: DType = s
        .parse()
        .map_err(|e: modelconv_core::dtype::UnknownDType| Error::InvalidOption(e.to_string()))?;
    if !dt.is_cast_target() {
        return Err(Error::InvalidOption(format!(
            "cannot cast to {dt}: target dtypes are f16, bf16, f32 and f64"
        )));
    }
    Ok(dt)
}

/// An output file in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFile {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// True if kept from an interrupted run (`--resume`).
    pub kept: bool,
}

impl From<WrittenFile> for ReportFile {
    fn from(f: WrittenFile) -> Self {
        ReportFile {
            path: f.path,
            size: f.size,
            sha256: f.sha256,
            kept: f.kept,
        }
    }
}

/// What a conversion did. The first seven fields are the seeds'
/// `ConversionResult` fields.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ConversionReport {
    /// True if the output was written completely.
    pub success: bool,
    /// Number of parameters (tensor elements) converted.
    pub total_parameters: u64,
    /// Bytes of the source's weight files and carried files.
    pub source_size_bytes: u64,
    /// Bytes of all output files.
    pub output_size_bytes: u64,
    /// `source_size_bytes / output_size_bytes`.
    pub compression_ratio: f64,
    /// Wall time in seconds.
    pub conversion_time_sec: f64,
    /// Why it failed, if it did.
    pub error_message: Option<String>,
    /// The source as given.
    pub source: String,
    /// Source format detected.
    pub source_format: String,
    /// The output path.
    pub output: PathBuf,
    /// Output format.
    pub output_format: String,
    /// Number of tensors written.
    pub tensors: usize,
    /// Output dtype histogram: dtype name → tensor count.
    pub dtypes: BTreeMap<String, usize>,
    /// Tensors whose dtype changed.
    pub tensors_cast: usize,
    /// Output files with checksums, in write order.
    pub files: Vec<ReportFile>,
    /// Non-weight files carried over (relative paths).
    pub carried_files: Vec<String>,
    /// Things the user should know (overflows, skipped files, ...).
    pub warnings: Vec<String>,
    /// Chunks kept from an interrupted run (`--resume`).
    pub resumed_chunks: u64,
    /// What the family layer detected and did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyReport>,
    /// Tensor-by-tensor comparison with the source (`--validate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<crate::verify::VerifyReport>,
    /// The check-inference report (`--validate`, when the family has a
    /// forward pass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference: Option<crate::check::CheckReport>,
    /// Bytes by dtype and by tensor kind, in the source and in the output.
    pub sizes: SizeBreakdown,
}

impl ConversionReport {
    /// A report for a conversion that failed with `error`.
    pub fn failed(src: &str, dst: &Path, error: &Error, elapsed: f64) -> Self {
        ConversionReport {
            success: false,
            error_message: Some(error.to_string()),
            source: src.to_string(),
            output: dst.to_path_buf(),
            conversion_time_sec: elapsed,
            ..ConversionReport::default()
        }
    }
}

/// Chooses each tensor's output dtype and transform.
pub fn plan_tensors(model: &Model, opts: &ConvertOptions) -> Result<Vec<OutTensor>> {
    model
        .tensors
        .iter()
        .map(|t| {
            let wanted = opts
                .dtype_overrides
                .iter()
                .find(|(pat, _)| glob::matches(pat, &t.info.name))
                .map(|(_, d)| *d)
                .or(opts.dtype);
            let from = t.info.dtype;
            let to = match wanted {
                Some(to) if to != from && from.is_float() => to,
                _ => from,
            };
            if to != from && !can_cast(from, to) {
                return Err(Error::InvalidOption(format!(
                    "tensor '{}': cannot cast {from} to {to}",
                    t.info.name
                )));
            }
            let mut info = t.info.clone();
            info.dtype = to;
            Ok(OutTensor {
                info,
                source: Arc::clone(&t.source),
                transform: if to == from {
                    Transform::Copy
                } else {
                    Transform::Cast { from, to }
                },
            })
        })
        .collect()
}

fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    // Not there yet: canonicalize the parent and keep the name.
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            absolute(parent).join(name)
        }
        _ => p.to_path_buf(),
    }
}

/// Refuses plans that would write over one of the model's input files or
/// into the input directory itself.
fn check_no_overwrite(model: &Model, target: &OutputTarget, plan: &OutputPlan) -> Result<()> {
    let inputs: std::collections::HashSet<PathBuf> = model
        .source_files
        .iter()
        .map(|f| f.path.clone())
        .chain(
            model
                .aux_files
                .iter()
                .filter_map(|a| a.carried_from().map(std::path::Path::to_path_buf)),
        )
        .map(|p| absolute(&p))
        .collect();
    let root = absolute(&model.root);
    let out_root = absolute(&plan.root);
    let directory = matches!(target, OutputTarget::Directory(_));
    if model.root.is_dir() && directory && out_root == root {
        return Err(Error::WouldOverwriteInput {
            output: plan.root.clone(),
            input: model.root.clone(),
        });
    }
    // An output inside the input directory would be read back as part of
    // the input by its next conversion.
    if model.root.is_dir() && out_root.starts_with(&root) {
        let out = match target {
            OutputTarget::File(f) | OutputTarget::Directory(f) => f,
        };
        return Err(Error::InvalidOption(format!(
            "the output {} is inside the input directory {}: the next conversion of that input would read it as part of the model; choose a destination outside it",
            out.display(),
            model.root.display()
        )));
    }
    for out in plan.paths() {
        let abs = absolute(&out);
        if inputs.contains(&abs) {
            return Err(Error::WouldOverwriteInput {
                output: out,
                input: abs,
            });
        }
    }
    Ok(())
}

/// Checks what is already at the destination. Returns weight files that
/// the new output will make stale (removed after success with `overwrite`).
fn check_destination(
    target: &OutputTarget,
    plan: &OutputPlan,
    opts: &ConvertOptions,
) -> Result<Vec<PathBuf>> {
    let dir = match target {
        OutputTarget::File(f) => {
            if f.is_dir() {
                return Err(Error::InvalidOption(format!(
                    "{} is a directory; give a new file name, or a directory name without a format extension",
                    f.display()
                )));
            }
            if opts.overwrite || opts.engine.resume {
                return Ok(Vec::new());
            }
            match f.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::PlantedPath {
                        path: f.clone(),
                        what: "a symbolic link".into(),
                    })
                }
                Ok(_) => {
                    return Err(Error::InvalidOption(format!(
                        "{} exists; pass --overwrite to replace it",
                        f.display()
                    )))
                }
                Err(_) => {}
            }
            // A journal of ours (a regular file; anything else planted
            // there is refused by the engine, naming it).
            let journal = plan.root.join(plan.journal_name());
            if journal.symlink_metadata().is_ok_and(|m| m.is_file()) {
                return Err(Error::InvalidOption(format!(
                    "{} was interrupted ({} is its journal): add --resume to continue it, or --overwrite to start over",
                    f.display(),
                    journal.display()
                )));
            }
            return Ok(Vec::new());
        }
        OutputTarget::Directory(d) => d,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::InvalidOption(format!(
            "{} exists and is not a directory",
            dir.display()
        )));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // A conversion running right now: neither resume nor clear it.
    if names.iter().any(|n| {
        n.ends_with(".modelconv-lock") && modelconv_core::engine::held_by_another(&dir.join(n))
    }) {
        return Err(Error::Locked(dir.to_path_buf()));
    }
    let interrupted = names.iter().any(|n| n.ends_with(".modelconv-journal"));
    if opts.engine.resume {
        return Ok(Vec::new());
    }
    if interrupted && !opts.overwrite {
        return Err(Error::InvalidOption(format!(
            "{} holds an interrupted conversion: add --resume to continue it, or --overwrite to start over",
            dir.display()
        )));
    }
    let ours = |n: &str| n.contains(".modelconv-") || n.ends_with(".partial");
    let existing: Vec<&String> = names.iter().filter(|n| !ours(n)).collect();
    if existing.is_empty() {
        return Ok(Vec::new());
    }
    if !opts.overwrite {
        let shown: Vec<&str> = existing.iter().take(5).map(|s| s.as_str()).collect();
        return Err(Error::InvalidOption(format!(
            "output directory {} is not empty ({}{}); add --overwrite to replace the model in it",
            dir.display(),
            shown.join(", "),
            if existing.len() > 5 { ", ..." } else { "" }
        )));
    }
    let planned: std::collections::HashSet<&str> =
        plan.files.iter().map(|f| f.rel_path.as_str()).collect();
    Ok(existing
        .into_iter()
        .filter(|n| hf::is_weight_file(n) && !planned.contains(n.as_str()))
        .map(|n| dir.join(n))
        .collect())
}

/// Converts `src` (path or hub id) to `dst`.
pub fn convert(
    src: &str,
    dst: &Path,
    opts: &ConvertOptions,
    reporter: &dyn Reporter,
) -> Result<ConversionReport> {
    let start = Instant::now();
    // A destination the format cannot write is an option error: say so
    // before reading the source.
    output_target(opts, dst)?;
    let model = source::open(src)?;
    let r = convert_model(model, src, dst, opts, reporter, start)?;
    if let Some(path) = &opts.report {
        crate::report_html::write(path, &crate::report_html::conversion_page(&r))?;
    }
    Ok(r)
}

/// The output format, its writer and what `dst` is to it.
fn output_target(
    opts: &ConvertOptions,
    dst: &Path,
) -> Result<(
    &'static registry::FormatSpec,
    &'static dyn registry::FormatWriter,
    OutputTarget,
)> {
    let spec = match opts.to {
        Some(id) => registry::by_id(id)
            .ok_or_else(|| Error::Internal(format!("{id:?} is not in the registry")))?,
        None => registry::output_format(None, dst)?,
    };
    let writer = spec.writer.ok_or_else(|| {
        Error::InvalidOption(format!(
            "writing {} is not supported yet; this build writes: {}",
            spec.name,
            registry::writable_names()
        ))
    })?;
    let target = writer.target(spec, dst)?;
    Ok((spec, writer, target))
}

/// Converts an opened model (`src` is how the report names it):
/// `prepare` (family layer, dtypes, int8, checks), the format's writer
/// plans the output, `write` runs the engine, `report` says what
/// happened, then `--validate` compares the output with the source.
pub fn convert_model(
    mut model: Model,
    src: &str,
    dst: &Path,
    opts: &ConvertOptions,
    reporter: &dyn Reporter,
    start: Instant,
) -> Result<ConversionReport> {
    model.check_amplification(opts.allow_amplification)?;
    let (spec, writer, target) = output_target(opts, dst)?;
    let (fam, tensors) = prepare(&mut model, opts, writer, &target)?;
    let out = writer.plan(registry::WriteJob {
        model: &model,
        tensors,
        target: &target,
        opts,
        family: &fam,
    })?;
    let written = write(&model, &fam, &target, writer, &out, opts, reporter)?;
    let mut r = report(&model, fam, &target, spec, &out, written);
    r.source = src.to_string();
    r.output = dst.to_path_buf();
    r.conversion_time_sec = start.elapsed().as_secs_f64();
    if opts.validate {
        crate::validate::validate(src, dst, opts, &mut r)?;
    }
    Ok(r)
}

/// The family layer, then each tensor's output dtype (`--dtype`, overrides,
/// `--quantize`), checked against what every format's readers accept.
fn prepare(
    model: &mut Model,
    opts: &ConvertOptions,
    writer: &dyn registry::FormatWriter,
    target: &OutputTarget,
) -> Result<(FamilyReport, Vec<OutTensor>)> {
    let directory = matches!(target, OutputTarget::Directory(_));
    let fam = family::apply(model, &opts.family, writer.seeds_layout(target), directory)?;
    let mut tensors = plan_tensors(model, opts)?;
    if let Some(q) = &opts.quantize {
        tensors = quantize_tensors(tensors, q)?;
    }
    for t in &tensors {
        t.info.check_portable_shape().map_err(|why| {
            Error::invalid(&model.root, modelconv_core::InvalidKind::BadShape, why)
                .with_tensor(&t.info.name)
        })?;
    }
    Ok((fam, tensors))
}

/// What [`write`] did: the engine's report and warnings about stale files.
type Written = (engine::WriteReport, Vec<String>);

/// Adds the seeds' `metadata.json` to directory outputs (unless the
/// format writes its own, or `--no-metadata`), checks the destination and
/// runs the engine.
fn write(
    model: &Model,
    fam: &FamilyReport,
    target: &OutputTarget,
    writer: &dyn registry::FormatWriter,
    out: &registry::WritePlan,
    opts: &ConvertOptions,
    reporter: &dyn Reporter,
) -> Result<Written> {
    let mut plan = out.plan.clone();
    let directory = matches!(target, OutputTarget::Directory(_));
    if directory && !writer.writes_metadata() && !opts.family.no_metadata {
        let infos: Vec<TensorInfo> = out.tensors.iter().map(|t| t.info.clone()).collect();
        plan.files.retain(|f| f.rel_path != "metadata.json");
        // Before the shard index, which is written last because its
        // presence marks a complete output.
        let at = plan
            .files
            .iter()
            .position(|f| f.rel_path.ends_with(".index.json"))
            .unwrap_or(plan.files.len());
        plan.files
            .insert(at, family::metadata_json(model, fam, &infos)?);
    }
    check_no_overwrite(model, target, &plan)?;
    let stale = check_destination(target, &plan, opts)?;
    let written = engine::run(&plan, &opts.engine, reporter)?;
    let mut warnings = Vec::new();
    for path in stale {
        match std::fs::remove_file(&path) {
            Ok(()) => warnings.push(format!(
                "removed stale weight file {} (--overwrite)",
                path.display()
            )),
            Err(e) => warnings.push(format!(
                "could not remove stale weight file {}: {e}",
                path.display()
            )),
        }
    }
    Ok((written, warnings))
}

/// The report of a finished conversion (everything but the time and the
/// names of the source and the output, which the caller fills in).
fn report(
    model: &Model,
    fam: FamilyReport,
    target: &OutputTarget,
    spec: &registry::FormatSpec,
    out: &registry::WritePlan,
    (written, mut warnings): Written,
) -> ConversionReport {
    let tensors = &out.tensors;
    let out_dtypes: std::collections::HashMap<&str, DType> = tensors
        .iter()
        .map(|t| (t.info.name.as_str(), t.info.dtype))
        .collect();
    for (name, n) in &written.overflows {
        let to = out_dtypes
            .get(name.as_str())
            .map(|d| d.name())
            .unwrap_or("?");
        warnings.push(format!(
            "tensor '{name}': {n} finite values overflowed to ±Inf when cast to {to}"
        ));
    }
    for (alias, kept) in &model.aliases {
        warnings.push(format!("tensor '{alias}' is the same tensor as '{kept}' (tied weights); written once as '{kept}'"));
    }
    warnings.extend(model.notes.iter().cloned());
    warnings.extend(fam.notes.iter().cloned());
    warnings.extend(out.notes.iter().cloned());
    for s in &model.skipped_files {
        warnings.push(format!(
            "not carried over: {s} (weights in a format this conversion does not read)"
        ));
    }
    let directory = matches!(target, OutputTarget::Directory(_));
    if !directory && !model.aux_files.is_empty() {
        warnings.push(format!(
            "{} non-weight files (config, tokenizer, ...) are not written next to a single-file output; give a directory to keep them",
            model.aux_files.len()
        ));
    }
    let mut dtypes = BTreeMap::new();
    let names: Vec<String> = match &out.types {
        Some(types) => types.clone(),
        None => tensors
            .iter()
            .map(|t| t.info.dtype.name().to_string())
            .collect(),
    };
    for t in names {
        *dtypes.entry(t).or_insert(0) += 1;
    }
    let mut sizes = SizeBreakdown::default();
    for t in &model.tensors {
        let n = t.info.nbytes() as u64;
        *sizes
            .source_by_dtype
            .entry(t.info.dtype.name().to_string())
            .or_insert(0) += n;
        *sizes
            .source_by_kind
            .entry(crate::report_html::kind_of(&t.info.name))
            .or_insert(0) += n;
    }
    for (i, t) in tensors.iter().enumerate() {
        let (num, den) = t.ratio();
        let n = (t.source.len() / den.max(1) * num) as u64;
        let ty = match &out.types {
            Some(types) => types.get(i).cloned().unwrap_or_default(),
            None => t.info.dtype.name().to_string(),
        };
        *sizes.output_by_type.entry(ty).or_insert(0) += n;
        *sizes
            .output_by_kind
            .entry(crate::report_html::kind_of(&t.info.name))
            .or_insert(0) += n;
    }
    let files: Vec<ReportFile> = written.files.into_iter().map(ReportFile::from).collect();
    let output_size_bytes: u64 = files.iter().map(|f| f.size).sum();
    let source_size_bytes = model.source_size_bytes();
    ConversionReport {
        success: true,
        total_parameters: model.total_parameters(),
        source_size_bytes,
        output_size_bytes,
        compression_ratio: if output_size_bytes > 0 {
            source_size_bytes as f64 / output_size_bytes as f64
        } else {
            0.0
        },
        conversion_time_sec: 0.0,
        error_message: None,
        source: String::new(),
        source_format: model.format_description(),
        output: PathBuf::new(),
        output_format: spec.name.to_string(),
        tensors: tensors.len(),
        dtypes,
        tensors_cast: tensors
            .iter()
            .filter(|t| t.transform != Transform::Copy)
            .count(),
        files,
        carried_files: if directory {
            model
                .aux_files
                .iter()
                .filter(|a| a.carried_from().is_some())
                .map(|a| a.rel_path.clone())
                .collect()
        } else {
            Vec::new()
        },
        warnings,
        resumed_chunks: written.chunks_kept,
        family: Some(fam),
        validation: None,
        inference: None,
        sizes,
    }
}
