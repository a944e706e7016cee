//! What a user asks `convert` to do, as one type for both front doors.
//!
//! [`ConvertRequest`] is the raw request: the CLI's `convert` flags (clap
//! derive) and the Python keywords (serde, snake_case names of the same
//! fields) build the same struct, with the same value spellings — closed
//! sets are [`clap::ValueEnum`]s whose serde form goes through
//! `ValueEnum::from_str`, units are parsed by one [`Size`] type. It is
//! resolved once, against the destination and the format registry, into
//! the [`ConvertOptions`] the pipeline runs ([`ConvertRequest::resolve`],
//! the low/high split of ripgrep's `lowargs`/`hiargs`). Resolution refuses
//! an option that does not apply to the output format, naming it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::ValueEnum;
use modelconv_core::engine::EngineOptions;
use modelconv_core::{DType, Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::convert::{ConvertOptions, QuantizeOptions};
use crate::family::FamilyOptions;
use crate::registry;

/// Everything `convert` accepts besides the source and the destination.
/// `ConvertRequest::default()` asks for nothing: keep every dtype, write
/// what the destination's extension names (else safetensors), no shards.
#[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ConvertRequest {
    /// Output format (default: from DST's extension, else safetensors).
    #[arg(long, value_name = "FORMAT", help = registry::to_help())]
    pub to: Option<String>,
    /// Cast float tensors to this dtype (default: keep each tensor's dtype).
    #[arg(long, value_enum, ignore_case = true)]
    pub dtype: Option<CastDType>,
    /// Per-tensor dtype by glob, first match wins over --dtype, e.g. '*norm*=f32'. Repeatable.
    #[arg(long, value_name = "PATTERN=DTYPE")]
    #[serde(alias = "dtype_overrides")]
    pub dtype_override: Vec<DTypeOverride>,
    /// Split safetensors output into shards of at most this many tensor bytes (e.g. 5GB, 2GiB,
    /// 500MB); for GGUF output, gguf-split compatible parts NAME-00001-of-0000N.gguf (alias
    /// --split-max-size).
    #[arg(long, visible_alias = "split-max-size", value_name = "SIZE")]
    #[serde(alias = "split_max_size")]
    pub max_shard_size: Option<Size>,
    /// GGUF type mix, as llama-quantize names them (case-insensitive; default: F16, or BF16
    /// for BF16 models). The _M mixes keep the output and some attn_v/ffn_down layers at
    /// higher precision, like llama-quantize. Norms and 1-D tensors stay F32.
    #[arg(long, value_name = "TYPE", ignore_case = true)]
    pub quant: Option<GgufType>,
    /// Do not fsync the outputs (for benchmarks; the OS flushes them later, and a crash may
    /// lose them).
    #[arg(long)]
    pub no_sync: bool,
    /// GGUF per-tensor override PATTERN=TYPE (regex searched in the GGUF tensor name, first
    /// match wins), e.g. --tensor-type 'attn_v=q8_0'. Repeatable.
    #[arg(long, value_name = "PATTERN=TYPE")]
    pub tensor_type: Vec<TensorTypeOverride>,
    /// Quantize float weight tensors (2+ dimensions). Writes the seeds' V2 Parquet schema by
    /// default.
    #[arg(long, value_enum, value_name = "TYPE", ignore_case = true)]
    pub quantize: Option<QuantizeKind>,
    /// Quantization axis: a dimension index (default 0, per output channel) or "tensor" (one
    /// scale per tensor).
    #[arg(long, value_name = "AXIS")]
    pub quant_axis: Option<QuantAxis>,
    /// Quantization scheme: sym (int8, zero point 0; default) or asym (uint8 + zero point).
    #[arg(long, value_enum, value_name = "SCHEME", ignore_case = true)]
    pub quant_scheme: Option<QuantScheme>,
    /// Parquet schema: chunked (default: typed, lossless, bounded rows), v1 or v2 (the seeds').
    #[arg(long, value_enum, value_name = "SCHEMA", ignore_case = true)]
    pub parquet_schema: Option<ParquetSchema>,
    /// Parquet compression (default zstd).
    #[arg(long, value_enum, ignore_case = true)]
    pub compression: Option<Compression>,
    /// zstd level, 1..=22 (default 3).
    #[arg(long)]
    pub compression_level: Option<i32>,
    /// Model family (default: detect from config.json, GGUF metadata or tensor names).
    #[arg(long, value_enum, value_name = "FAMILY", ignore_case = true)]
    pub model_type: Option<ModelType>,
    /// Extract a sub-model: vision or text (CLIP, with its projection), encoder (Whisper).
    #[arg(long, value_enum, ignore_case = true)]
    pub component: Option<ComponentArg>,
    /// Output tensor names: hf (Hugging Face, default) or seeds (the seeds' Whisper names; the
    /// default for Whisper in the seeds' Parquet layout).
    #[arg(long, value_enum, ignore_case = true)]
    pub key_map: Option<KeyMapArg>,
    /// Fold MiniCPM muP scales (scale_emb, scale_depth, dim_model_base) into a plain LLaMA
    /// checkpoint.
    #[arg(long)]
    pub mup_to_llama: bool,
    /// Do not write metadata.json into directory outputs.
    #[arg(long)]
    pub no_metadata: bool,
    /// After writing, compare every tensor with the source as `verify` does (bit-exact when
    /// its dtype is unchanged, bit-exact after the cast when cast, its quant type's cosine bound
    /// when quantized) and run both models through check-inference when the family has a
    /// forward pass; exit code 4 if that fails.
    #[arg(long)]
    pub validate: bool,
    /// Also write a self-contained HTML report of the conversion (sizes by type and tensor kind,
    /// before -> after; with --validate, what each tensor was held to and the inference check).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Replace an existing output file, or write into a non-empty output directory, removing
    /// weight files the new output makes stale.
    #[arg(long)]
    pub overwrite: bool,
    /// Convert a model whose tensors declare more than 64x the bytes its files hold (stride-0
    /// views, highly compressed members): the output may be that much larger than the input.
    #[arg(long)]
    pub allow_amplification: bool,
    /// Continue an interrupted conversion: keep verified finished parts, redo the rest.
    #[arg(long)]
    pub resume: bool,
    /// Output bytes each worker processes at a time (e.g. 8MiB, the default); bounds memory.
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<Size>,
    /// Worker threads (default: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

impl ConvertRequest {
    /// The request's fields that differ from the default, by name (the
    /// Python keyword; the CLI flag is the same with dashes).
    pub fn set_fields(&self) -> Vec<&'static str> {
        let (Ok(serde_json::Value::Object(v)), Ok(serde_json::Value::Object(d))) = (
            serde_json::to_value(self),
            serde_json::to_value(ConvertRequest::default()),
        ) else {
            return Vec::new();
        };
        registry::REQUEST_FIELDS
            .iter()
            .copied()
            .filter(|f| v.get(*f) != d.get(*f))
            .collect()
    }

    /// Resolves the request for destination `dst`: picks the output format
    /// (from `to`, else `dst`'s extension, else safetensors), checks that
    /// every option given applies to it, and turns names and units into
    /// the settings the pipeline runs.
    pub fn resolve(&self, dst: &Path) -> Result<ConvertOptions> {
        let spec = registry::output_format(self.to.as_deref(), dst)?;
        registry::check_options(spec, &self.set_fields())?;
        let quantize = self.quantize.map(|kind| match kind {
            QuantizeKind::Int8 => QuantizeOptions {
                scheme: match self.quant_scheme.unwrap_or(QuantScheme::Sym) {
                    QuantScheme::Sym => modelconv_core::quant::Scheme::Symmetric,
                    QuantScheme::Asym => modelconv_core::quant::Scheme::Asymmetric,
                },
                axis: match self.quant_axis {
                    None => Some(0),
                    Some(QuantAxis::Tensor) => None,
                    Some(QuantAxis::Dim(d)) => Some(d),
                },
            },
        });
        if quantize.is_none() && (self.quant_axis.is_some() || self.quant_scheme.is_some()) {
            return Err(Error::InvalidOption(
                "--quant-axis and --quant-scheme need --quantize int8".into(),
            ));
        }
        let codec = modelconv_parquet::Codec::parse(
            self.compression.unwrap_or(Compression::Zstd).name(),
            self.compression_level,
        )?;
        let chunk_bytes = match self.chunk_size {
            Some(Size(n)) => usize::try_from(n)
                .map_err(|_| Error::InvalidOption(format!("chunk size {n} is too large")))?,
            None => EngineOptions::default().chunk_bytes,
        };
        Ok(ConvertOptions {
            to: Some(spec.id),
            dtype: self.dtype.and_then(CastDType::dtype),
            dtype_overrides: self
                .dtype_override
                .iter()
                .map(|o| (o.pattern.clone(), o.dtype))
                .collect(),
            max_shard_size: self.max_shard_size.map(|s| s.0),
            overwrite: self.overwrite,
            allow_amplification: self.allow_amplification,
            parquet: modelconv_parquet::ParquetOptions {
                schema: self.parquet_schema.map(ParquetSchema::version),
                codec,
                ..modelconv_parquet::ParquetOptions::default()
            },
            quantize,
            engine: EngineOptions {
                threads: self.threads,
                chunk_bytes,
                resume: self.resume,
                no_sync: self.no_sync,
                ..EngineOptions::default()
            },
            family: FamilyOptions {
                model_type: self.model_type.and_then(ModelType::family),
                component: self.component.map(ComponentArg::component),
                key_map: self.key_map.map(KeyMapArg::key_map),
                mup_to_llama: self.mup_to_llama,
                no_metadata: self.no_metadata,
                skip_shape_check: false,
            },
            gguf_preset: self.quant.map(|q| q.0),
            tensor_types: self.tensor_type.iter().map(|t| t.parsed.clone()).collect(),
            validate: self.validate,
            report: self.report.clone(),
            inference: None,
        })
    }
}

/// serde for a [`ValueEnum`]: the canonical name out, any accepted
/// spelling (case-insensitive, aliases) in — the same set clap accepts.
macro_rules! value_enum_serde {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                match self.to_possible_value() {
                    Some(v) => s.serialize_str(v.get_name()),
                    None => s.serialize_none(),
                }
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t as ValueEnum>::from_str(&s, true).map_err(|_| {
                    let names: Vec<String> = <$t as ValueEnum>::value_variants()
                        .iter()
                        .filter_map(|v| v.to_possible_value())
                        .map(|v| v.get_name().to_string())
                        .collect();
                    serde::de::Error::custom(format!(
                        "invalid value '{s}'; possible values: {}",
                        names.join(", ")
                    ))
                })
            }
        }
    )*};
}

/// serde through `FromStr`/`Display`, for values with their own syntax.
macro_rules! from_str_serde {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                let text = match &v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    other => other.to_string(),
                };
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

/// A float dtype to cast to (`keep` = leave every tensor as it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum CastDType {
    /// Keep each tensor's dtype.
    Keep,
    /// float16.
    #[value(alias = "fp16", alias = "float16", alias = "half")]
    F16,
    /// bfloat16.
    #[value(alias = "bfloat16")]
    Bf16,
    /// float32.
    #[value(alias = "fp32", alias = "float32", alias = "float")]
    F32,
    /// float64.
    #[value(alias = "fp64", alias = "float64", alias = "double")]
    F64,
}

impl CastDType {
    /// The dtype, `None` for `keep`.
    pub fn dtype(self) -> Option<DType> {
        match self {
            CastDType::Keep => None,
            CastDType::F16 => Some(DType::F16),
            CastDType::Bf16 => Some(DType::BF16),
            CastDType::F32 => Some(DType::F32),
            CastDType::F64 => Some(DType::F64),
        }
    }
}

/// `--quantize`: the quantization `convert` applies itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum QuantizeKind {
    /// int8 per channel (or per tensor), with scales (and zero points).
    Int8,
}

/// `--quant-scheme`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum QuantScheme {
    /// int8, zero point 0.
    #[value(alias = "symmetric")]
    Sym,
    /// uint8 with a zero point.
    #[value(alias = "asymmetric")]
    Asym,
}

/// `--parquet-schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ParquetSchema {
    /// Typed, lossless, bounded rows (modelconv's default).
    Chunked,
    /// The seeds' V1 (one row per tensor, binary data).
    V1,
    /// The seeds' V2 (V1 plus int8 quantization metadata).
    V2,
}

impl ParquetSchema {
    fn version(self) -> modelconv_parquet::SchemaVersion {
        match self {
            ParquetSchema::Chunked => modelconv_parquet::SchemaVersion::Chunked,
            ParquetSchema::V1 => modelconv_parquet::SchemaVersion::V1,
            ParquetSchema::V2 => modelconv_parquet::SchemaVersion::V2,
        }
    }
}

/// `--compression` (Parquet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Compression {
    /// zstd (default, level 3).
    Zstd,
    /// LZ4 (raw).
    Lz4,
    /// Snappy.
    Snappy,
    /// No compression.
    None,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
            Compression::None => "none",
        }
    }
}

/// `--model-type`: a family, or `auto` to detect it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ModelType {
    /// Detect from config.json, GGUF metadata or tensor names.
    Auto,
    /// BERT / sentence-transformers.
    #[value(
        alias = "sentence-transformers",
        alias = "sentence_transformers",
        alias = "st"
    )]
    Bert,
    /// CLIP.
    #[value(alias = "clip_vision_model", alias = "clip_text_model")]
    Clip,
    /// Whisper.
    Whisper,
    /// LLaMA.
    Llama,
    /// Mistral.
    Mistral,
    /// Qwen2.
    Qwen2,
    /// Gemma.
    Gemma,
    /// MiniCPM (muP).
    Minicpm,
}

impl ModelType {
    /// The family, `None` for `auto`.
    pub fn family(self) -> Option<modelconv_arch::Family> {
        use modelconv_arch::Family;
        Some(match self {
            ModelType::Auto => return None,
            ModelType::Bert => Family::Bert,
            ModelType::Clip => Family::Clip,
            ModelType::Whisper => Family::Whisper,
            ModelType::Llama => Family::Llama,
            ModelType::Mistral => Family::Mistral,
            ModelType::Qwen2 => Family::Qwen2,
            ModelType::Gemma => Family::Gemma,
            ModelType::Minicpm => Family::MiniCpm,
        })
    }
}

/// `--component`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ComponentArg {
    /// CLIP's vision tower and projection.
    #[value(alias = "visual", alias = "image")]
    Vision,
    /// CLIP's text tower and projection.
    Text,
    /// Whisper's encoder.
    #[value(alias = "audio")]
    Encoder,
}

impl ComponentArg {
    fn component(self) -> modelconv_arch::Component {
        match self {
            ComponentArg::Vision => modelconv_arch::Component::Vision,
            ComponentArg::Text => modelconv_arch::Component::Text,
            ComponentArg::Encoder => modelconv_arch::Component::Encoder,
        }
    }
}

/// `--key-map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum KeyMapArg {
    /// Hugging Face names.
    #[value(alias = "none", alias = "huggingface")]
    Hf,
    /// The seeds' Whisper names.
    Seeds,
}

impl KeyMapArg {
    fn key_map(self) -> modelconv_arch::KeyMap {
        match self {
            KeyMapArg::Hf => modelconv_arch::KeyMap::Hf,
            KeyMapArg::Seeds => modelconv_arch::KeyMap::Seeds,
        }
    }
}

/// `--quant`: one of llama-quantize's presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgufType(pub modelconv_gguf::preset::Preset);

static GGUF_TYPES: std::sync::LazyLock<Vec<GgufType>> = std::sync::LazyLock::new(|| {
    modelconv_gguf::preset::PRESETS
        .iter()
        .copied()
        .map(GgufType)
        .collect()
});

impl ValueEnum for GgufType {
    fn value_variants<'a>() -> &'a [Self] {
        &GGUF_TYPES
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let name = self.0.name;
        let v = clap::builder::PossibleValue::new(name);
        // llama-quantize's short spellings of the _M mixes.
        Some(match name {
            "Q3_K_M" => v.alias("Q3_K"),
            "Q4_K_M" => v.alias("Q4_K"),
            "Q5_K_M" => v.alias("Q5_K"),
            _ => v,
        })
    }
}

/// `PATTERN=DTYPE` for `--dtype-override`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DTypeOverride {
    /// Glob over tensor names (case-insensitive).
    pub pattern: String,
    /// The dtype of matching float tensors.
    pub dtype: DType,
}

impl FromStr for DTypeOverride {
    type Err = String;
    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        let (pattern, dt) = spec
            .rsplit_once('=')
            .ok_or_else(|| format!("override '{spec}' is not PATTERN=DTYPE"))?;
        let dtype = CastDType::from_str(dt, true)
            .ok()
            .and_then(CastDType::dtype)
            .ok_or_else(|| {
                format!("override '{spec}': cannot cast to '{dt}' (f16, bf16, f32, f64)")
            })?;
        Ok(DTypeOverride {
            pattern: pattern.to_string(),
            dtype,
        })
    }
}

impl fmt::Display for DTypeOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={}",
            self.pattern,
            self.dtype.name().to_ascii_lowercase()
        )
    }
}

/// `PATTERN=TYPE` for `--tensor-type` (the spelling kept for messages).
#[derive(Debug, Clone)]
pub struct TensorTypeOverride {
    /// As given.
    pub spec: String,
    /// Parsed.
    pub parsed: modelconv_gguf::preset::Override,
}

impl PartialEq for TensorTypeOverride {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl FromStr for TensorTypeOverride {
    type Err = String;
    fn from_str(spec: &str) -> std::result::Result<Self, String> {
        Ok(TensorTypeOverride {
            spec: spec.to_string(),
            parsed: modelconv_gguf::preset::Override::parse(spec)?,
        })
    }
}

impl fmt::Display for TensorTypeOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// `--quant-axis`: a dimension, or `tensor` (one scale per tensor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QuantAxis {
    /// One scale per index of this dimension.
    Dim(usize),
    /// One scale for the whole tensor.
    Tensor,
}

impl FromStr for QuantAxis {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tensor" | "per-tensor" => Ok(QuantAxis::Tensor),
            _ => s
                .parse()
                .map(QuantAxis::Dim)
                .map_err(|_| format!("'{s}' is not a dimension or 'tensor'")),
        }
    }
}

impl fmt::Display for QuantAxis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantAxis::Dim(d) => write!(f, "{d}"),
            QuantAxis::Tensor => f.write_str("tensor"),
        }
    }
}

/// A size in bytes: a number with KB/MB/GB/TB (powers of 1000, as
/// transformers) or KiB/MiB/GiB/TiB (powers of 1024); plain bytes from
/// Python may be an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        modelconv_formats::hf::parse_size(s)
            .map(Size)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

value_enum_serde!(
    CastDType,
    QuantizeKind,
    QuantScheme,
    ParquetSchema,
    Compression,
    ModelType,
    ComponentArg,
    KeyMapArg,
    GgufType,
);
from_str_serde!(DTypeOverride, TensorTypeOverride, QuantAxis, Size);
