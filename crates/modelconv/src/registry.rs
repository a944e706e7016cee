//! The format registry: one entry per format, read by everything that
//! needs to know what formats exist.
//!
//! Detection ([`detect`]), `scan`'s classification, `inspect`, the values
//! `--to` accepts and its help text ([`to_help`]), the errors for unknown
//! or unsupported formats, which request options apply to which output
//! ([`check_options`]) and the Python bindings all read [`FORMATS`]. A
//! format is its module in [`crate::formats`] (a [`FormatSpec`] with its
//! reader and writer) and one line in [`FORMATS`]; see
//! `docs/adding-a-format.md`.

use std::path::Path;

use modelconv_core::engine::{OutTensor, OutputPlan};
use modelconv_core::{Error, FormatId, InvalidKind, Model, OutputTarget, Result};

use crate::convert::ConvertOptions;
use crate::family::FamilyReport;
use crate::formats;

/// Every format modelconv knows, in detection order (the first whose
/// sniffer accepts a file or directory reads it).
pub static FORMATS: &[&FormatSpec] = &[
    &formats::parquet::FORMAT,
    &formats::gguf::FORMAT,
    &formats::safetensors::FORMAT,
    &formats::numpy::FORMAT,
    &formats::pytorch::FORMAT,
    &formats::planned::TORCHSCRIPT,
    &formats::planned::ONNX,
    &formats::planned::MLX,
    &formats::planned::GPTQ,
    &formats::planned::AWQ,
    &formats::planned::COMPRESSED_TENSORS,
    &formats::planned::MEGATRON,
];

/// What the registry knows about one format.
pub struct FormatSpec {
    /// Its identity (what readers stamp on the [`Model`]).
    pub id: FormatId,
    /// Name (`--to` value, reports).
    pub name: &'static str,
    /// Other accepted `--to` spellings.
    pub aliases: &'static [&'static str],
    /// File extensions (without the dot) that name a single-file output of
    /// this format and hint at it on input.
    pub extensions: &'static [&'static str],
    /// One line for `--help` and error messages.
    pub summary: &'static str,
    /// Recognises a file from its first bytes (at least 16 when the file
    /// has them) and its path.
    pub sniff: fn(head: &[u8], path: &Path) -> bool,
    /// Recognises a directory in this format's layout.
    pub sniff_dir: fn(dir: &Path) -> bool,
    /// Reads it, if modelconv reads it (yet).
    pub reader: Option<&'static dyn FormatReader>,
    /// Writes it, if modelconv writes it (yet).
    pub writer: Option<&'static dyn FormatWriter>,
    /// Request fields (`ConvertRequest` names) that apply only to some
    /// outputs and apply to this one. Fields no format lists apply to all.
    pub options: &'static [&'static str],
}

impl std::fmt::Debug for FormatSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// How a source is opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Read pickles that reference globals outside the allow-list anyway,
    /// recording them (never calling them), so `inspect` can show them.
    pub permissive: bool,
}

/// Reads one format into a [`Model`].
pub trait FormatReader: Sync {
    /// Opens `path`, a file or directory this format's sniffers accepted.
    fn open(&self, path: &Path, how: &OpenOptions) -> Result<Model>;
}

/// What a writer is asked to lay out.
pub struct WriteJob<'a> {
    /// The model after the family layer (renamed, extracted, folded).
    pub model: &'a Model,
    /// Its tensors with their planned output dtypes (cast, int8).
    pub tensors: Vec<OutTensor>,
    /// Where the output goes.
    pub target: &'a OutputTarget,
    /// The resolved options.
    pub opts: &'a ConvertOptions,
    /// What the family layer detected and did.
    pub family: &'a FamilyReport,
}

/// A writer's plan.
pub struct WritePlan {
    /// Every file to write, for the engine.
    pub plan: OutputPlan,
    /// The tensors as written (the report counts them).
    pub tensors: Vec<OutTensor>,
    /// Each tensor's stored type name when it is not a dtype (GGUF's
    /// ggml types); `None` to report dtypes.
    pub types: Option<Vec<String>>,
    /// What the user should know about choices the writer made.
    pub notes: Vec<String>,
}

/// Plans the output of one format; the engine does the writing.
pub trait FormatWriter: Sync {
    /// Where `dst` goes: a file when it ends in one of the format's
    /// extensions, else a directory in the format's layout.
    fn target(&self, spec: &FormatSpec, dst: &Path) -> Result<OutputTarget> {
        Ok(if has_extension(spec, dst) {
            OutputTarget::File(dst.to_path_buf())
        } else {
            OutputTarget::Directory(dst.to_path_buf())
        })
    }

    /// True when the output at `target` is the seeds' layout (their
    /// Whisper key map is then the default).
    fn seeds_layout(&self, _target: &OutputTarget) -> bool {
        false
    }

    /// True when the format writes its own `metadata.json` into directory
    /// outputs (else the pipeline adds the seeds' sidecar).
    fn writes_metadata(&self) -> bool {
        false
    }

    /// Lays the output out.
    fn plan(&self, job: WriteJob<'_>) -> Result<WritePlan>;
}

/// True if `path`'s file name ends in one of `spec`'s extensions.
pub fn has_extension(spec: &FormatSpec, path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| spec.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// A sniffer that accepts nothing (formats with no reader, no directory layout).
pub fn never(_: &[u8], _: &Path) -> bool {
    false
}

/// A directory sniffer that accepts nothing.
pub fn never_dir(_: &Path) -> bool {
    false
}

/// The registry entry named `name` (a name or an alias, any case).
pub fn by_name(name: &str) -> Option<&'static FormatSpec> {
    let lower = name.to_ascii_lowercase();
    FORMATS
        .iter()
        .copied()
        .find(|f| f.name == lower || f.aliases.contains(&lower.as_str()))
}

/// The registry entry of a format id.
pub fn by_id(id: FormatId) -> Option<&'static FormatSpec> {
    FORMATS.iter().copied().find(|f| f.id == id)
}

fn names(filter: fn(&FormatSpec) -> bool) -> String {
    FORMATS
        .iter()
        .filter(|f| filter(f))
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The formats this build writes, for messages.
pub fn writable_names() -> String {
    names(|f| f.writer.is_some())
}

/// The formats this build reads, for messages.
pub fn readable_names() -> String {
    names(|f| f.reader.is_some())
}

/// `--to`'s help text.
pub fn to_help() -> String {
    let mut s = String::from("Output format (default: from DST's extension, else safetensors):");
    for f in FORMATS {
        let alias = if f.aliases.is_empty() {
            String::new()
        } else {
            format!(" (alias {})", f.aliases.join(", "))
        };
        let status = if f.writer.is_some() {
            ""
        } else {
            " [not written yet]"
        };
        s.push_str(&format!(" {}{alias}{status};", f.name));
    }
    s.pop();
    s.push('.');
    s
}

/// The output format: `to` if given (a registry name or alias), else the
/// one whose extension `dst` has, else safetensors. A format modelconv
/// does not write yet is an error saying so.
pub fn output_format(to: Option<&str>, dst: &Path) -> Result<&'static FormatSpec> {
    let spec = match to {
        Some(name) => by_name(name).ok_or_else(|| {
            Error::InvalidOption(format!(
                "unknown output format '{name}'; this build writes: {}",
                writable_names()
            ))
        })?,
        // By extension: a format modelconv does not write yet is refused
        // below, never turned into a directory of that name.
        None => match FORMATS.iter().copied().find(|f| has_extension(f, dst)) {
            Some(f) => f,
            None => {
                if let Some(ext) = foreign_model_extension(dst) {
                    return Err(Error::InvalidOption(format!(
                        "{}: .{ext} is a model file format modelconv does not write; this build writes: {} (or give a directory name)",
                        dst.display(),
                        writable_names()
                    )));
                }
                &formats::safetensors::FORMAT
            }
        },
    };
    if spec.writer.is_none() {
        return Err(Error::InvalidOption(format!(
            "writing {} is not supported yet; this build writes: {}",
            spec.name,
            writable_names()
        )));
    }
    Ok(spec)
}

/// The extension of `dst` if it names a model file format of another
/// framework (Keras, TensorFlow, Core ML, TensorRT, ...), which must not
/// silently become a safetensors directory of that name.
fn foreign_model_extension(dst: &Path) -> Option<String> {
    const FOREIGN: &[&str] = &[
        "h5",
        "keras",
        "tflite",
        "pb",
        "mlmodel",
        "mlpackage",
        "engine",
        "trt",
        "ort",
        "pte",
        "llamafile",
        "ggml",
        "msgpack",
    ];
    let ext = dst.extension()?.to_str()?.to_ascii_lowercase();
    FOREIGN.contains(&ext.as_str()).then_some(ext)
}

/// The request fields that apply only to some output formats (the union
/// of every entry's `options`).
pub fn format_specific_fields() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = FORMATS
        .iter()
        .flat_map(|f| f.options.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Refuses a request field that is set but applies only to other output
/// formats than `spec`, naming it and where it applies.
pub fn check_options(spec: &FormatSpec, set: &[&str]) -> Result<()> {
    for field in set {
        let applies: Vec<&str> = FORMATS
            .iter()
            .filter(|f| f.options.contains(field))
            .map(|f| f.name)
            .collect();
        if !applies.is_empty() && !spec.options.contains(field) {
            return Err(Error::InvalidOption(format!(
                "--{} applies to {} output only, not to {}",
                field.replace('_', "-"),
                applies.join(" and "),
                spec.name
            )));
        }
    }
    Ok(())
}

/// The names of `ConvertRequest`'s fields (derived from its clap
/// definition: the CLI flags with `-` turned into `_`, which are also the
/// Python keywords).
pub static REQUEST_FIELDS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| {
        use clap::Args;
        let cmd = crate::request::ConvertRequest::augment_args(clap::Command::new("convert"));
        cmd.get_arguments()
            .map(|a| &*Box::leak(a.get_id().as_str().to_string().into_boxed_str()))
            .collect()
    });

/// What `path` is: the first registry entry whose sniffer accepts it
/// (directories by layout, files by their first bytes). Entries without a
/// reader are recognised too, so the error can say "not supported yet".
pub fn detect(path: &Path) -> Result<&'static FormatSpec> {
    if path.is_dir() {
        return FORMATS
            .iter()
            .copied()
            .find(|f| (f.sniff_dir)(path))
            .ok_or_else(|| Error::Unsupported {
                path: path.to_path_buf(),
                detail: "no model weights found (expected model.safetensors, pytorch_model.bin, weights.parquet or their .index.json)".into(),
            });
    }
    let head = modelconv_core::fsx::read_head(path, 16)?;
    if let Some(f) = FORMATS.iter().copied().find(|f| (f.sniff)(&head, path)) {
        return Ok(f);
    }
    // Known by its extension only: a format modelconv does not read.
    if let Some(f) = FORMATS
        .iter()
        .copied()
        .find(|f| f.reader.is_none() && has_extension(f, path))
    {
        return Ok(f);
    }
    Err(if head.len() < 8 {
        Error::invalid(
            path,
            InvalidKind::Truncated,
            format!("{} bytes is too short for any weight format", head.len()),
        )
    } else {
        Error::invalid(
            path,
            InvalidKind::UnknownFormat,
            format!(
                "not a file of any format modelconv reads ({})",
                readable_names()
            ),
        )
    })
}

/// Opens `path` with the reader of the format [`detect`] finds.
pub fn open(path: &Path, how: &OpenOptions) -> Result<Model> {
    let spec = detect(path)?;
    let reader = spec.reader.ok_or_else(|| Error::Unsupported {
        path: path.to_path_buf(),
        detail: format!(
            "reading {} is not supported yet; this build reads: {}",
            spec.name,
            readable_names()
        ),
    })?;
    reader.open(path, how)
}
