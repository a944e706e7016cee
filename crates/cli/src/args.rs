//! Command-line definitions (clap). Behaviour lives in the subcommand modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// modelconv: a fast, safe, streaming converter for machine-learning model weights.
#[derive(Debug, Parser)]
#[command(name = "modelconv", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert a model (directory, file or cached hub id) to another format or dtype.
    Convert(Box<ConvertArgs>),
    /// Show what a model holds: format, architecture, tensors, dtypes, sizes.
    Inspect(InspectArgs),
    /// Compare two models tensor by tensor (bit-exactness, max error, RMSE, cosine, SNR).
    Verify(VerifyArgs),
    /// Create a complete checkpoint with generated values from a config.json (or mirror a model's tensors).
    Fake(FakeArgs),
    /// Run the source and the converted model through the same small forward pass and compare
    /// their embeddings or logits (cosine similarity per sample).
    CheckInference(CheckArgs),
    /// Report what loading files with the usual Python tools would do (pickle globals, TorchScript
    /// code, Jinja templates, remote code, malformed files) without executing anything.
    /// Exit code 5 when something of medium severity or worse is found.
    Scan(ScanArgs),
}

/// `modelconv scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also list files without findings.
    #[arg(long)]
    pub all: bool,
}

/// `modelconv check-inference`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The original model (path or cached hub id).
    pub source: String,
    /// The converted model.
    pub output: String,
    /// Lowest acceptable cosine similarity per sample (default 0.99).
    #[arg(long, default_value_t = 0.99)]
    pub threshold: f64,
    /// Texts to embed instead of the built-in sentences (BERT, CLIP text, decoders). Repeatable.
    #[arg(long)]
    pub text: Vec<String>,
    /// A file with one text per line.
    #[arg(long)]
    pub text_file: Option<PathBuf>,
    /// 16-bit PCM mono 16 kHz WAV files instead of the built-in audio (Whisper). Repeatable.
    #[arg(long)]
    pub audio: Vec<PathBuf>,
    /// PNG images instead of the built-in ones (CLIP; centre-cropped, resized bilinearly). Repeatable.
    #[arg(long)]
    pub image: Vec<PathBuf>,
    /// Force the source's family (default: detect).
    #[arg(long, default_value = "auto")]
    pub model_type: String,
    /// Read models whose tensors declare more than 64x the bytes their files hold.
    #[arg(long)]
    pub allow_amplification: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `modelconv fake`.
#[derive(Debug, Args)]
pub struct FakeArgs {
    /// A config.json (or a directory holding one) of a known family, or an existing model whose
    /// tensor list is mirrored with new values.
    pub source: String,
    /// Output directory (safetensors + config.json) or a .safetensors file.
    pub output: std::path::PathBuf,
    /// Value distribution: normal (default, std 0.02), uniform (±0.02) or zeros. Norm weights are
    /// ones and biases zeros unless zeros.
    #[arg(long, default_value = "normal")]
    pub init: String,
    /// Standard deviation (normal) or bound (uniform).
    #[arg(long, default_value_t = 0.02)]
    pub scale: f32,
    /// Random seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Float dtype of the weights: f32 (default), f16, bf16 (mirroring keeps each tensor's dtype
    /// unless this is given).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Override one tensor's shape, e.g. 'lm_head.weight=100,64'. Repeatable.
    #[arg(long = "shape", value_name = "NAME=D0,D1")]
    pub shapes: Vec<String>,
    /// Force the model family instead of detecting it from config.json.
    #[arg(long, default_value = "auto")]
    pub model_type: String,
    /// Split into shards of at most this many bytes (e.g. 2GB).
    #[arg(long)]
    pub max_shard_size: Option<String>,
    /// Write into a non-empty output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `modelconv verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The original model (path or cached hub id).
    pub source: String,
    /// The converted model.
    pub output: String,
    /// Require every tensor to be bit-exact (the default when no threshold is given).
    #[arg(long)]
    pub exact: bool,
    /// Lowest acceptable cosine similarity per tensor (e.g. 0.999).
    #[arg(long)]
    pub min_cosine: Option<f64>,
    /// Highest acceptable RMSE per tensor.
    #[arg(long)]
    pub max_rmse: Option<f64>,
    /// Source tensors missing from the output do not fail the check (e.g. a --component extraction).
    #[arg(long)]
    pub allow_missing: bool,
    /// Read models whose tensors declare more than 64x the bytes their files hold.
    #[arg(long)]
    pub allow_amplification: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// List every tensor, not only the failing ones.
    #[arg(long)]
    pub tensors: bool,
}

/// `modelconv convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Source: a model directory, a weight file, or a hub id (org/name[@rev]) in the local HF cache.
    pub src: String,
    /// Destination: a file with a format's extension (x.safetensors), otherwise a directory.
    pub dst: PathBuf,
    /// Output format (default: from DST's extension, else safetensors).
    #[arg(long)]
    pub to: Option<String>,
    /// Cast float tensors to this dtype: f16, bf16, f32, f64 (default: keep each tensor's dtype).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Per-tensor dtype by glob, first match wins over --dtype, e.g. '*norm*=f32'. Repeatable.
    #[arg(long = "dtype-override", value_name = "PATTERN=DTYPE")]
    pub dtype_overrides: Vec<String>,
    /// Split safetensors output into shards of at most this many tensor bytes (e.g. 5GB, 2GiB,
    /// 500MB); for GGUF output, gguf-split compatible parts NAME-00001-of-0000N.gguf (alias
    /// --split-max-size).
    #[arg(long, visible_alias = "split-max-size")]
    pub max_shard_size: Option<String>,
    /// GGUF type mix, as llama-quantize names them: Q2_K, Q3_K_S/M/L, Q4_0, Q4_1, Q4_K_S/M,
    /// Q5_0, Q5_1, Q5_K_S/M, Q6_K, Q8_0, F16, BF16, F32 (case-insensitive; default: F16, or BF16
    /// for BF16 models). The _M mixes keep the output and some attn_v/ffn_down layers at higher
    /// precision, like llama-quantize. Norms and 1-D tensors stay F32.
    #[arg(long, value_name = "TYPE")]
    pub quant: Option<String>,
    /// Do not fsync the outputs (for benchmarks; the OS flushes them later, and a crash may lose
    /// them).
    #[arg(long)]
    pub no_sync: bool,
    /// GGUF per-tensor override PATTERN=TYPE (regex searched in the GGUF tensor name, first match
    /// wins), e.g. --tensor-type 'attn_v=q8_0'. Repeatable.
    #[arg(long, value_name = "PATTERN=TYPE")]
    pub tensor_type: Vec<String>,
    /// Quantize float weight tensors (2+ dimensions): int8. Writes the seeds' V2 Parquet schema by default.
    #[arg(long, value_name = "TYPE")]
    pub quantize: Option<String>,
    /// Quantization axis: a dimension index (default 0, per output channel) or "tensor" (one scale per tensor).
    #[arg(long, value_name = "AXIS")]
    pub quant_axis: Option<String>,
    /// Quantization scheme: sym (int8, zero point 0; default) or asym (uint8 + zero point).
    #[arg(long, value_name = "SCHEME")]
    pub quant_scheme: Option<String>,
    /// Parquet schema: chunked (default: typed, lossless, bounded rows), v1 or v2 (the seeds').
    #[arg(long, value_name = "SCHEMA")]
    pub parquet_schema: Option<String>,
    /// Parquet compression: zstd (default), lz4, snappy, none.
    #[arg(long)]
    pub compression: Option<String>,
    /// zstd level, 1..=22 (default 3).
    #[arg(long)]
    pub compression_level: Option<i32>,
    /// Model family: auto (default: detect from config.json, GGUF metadata or tensor names), or
    /// bert, clip, whisper, llama, mistral, qwen2, gemma, minicpm.
    #[arg(long, default_value = "auto")]
    pub model_type: String,
    /// Extract a sub-model: vision or text (CLIP, with its projection), encoder (Whisper).
    #[arg(long)]
    pub component: Option<String>,
    /// Output tensor names: hf (Hugging Face, default) or seeds (the seeds' Whisper names; the
    /// default for Whisper in the seeds' Parquet layout).
    #[arg(long)]
    pub key_map: Option<String>,
    /// Fold MiniCPM muP scales (scale_emb, scale_depth, dim_model_base) into a plain LLaMA checkpoint.
    #[arg(long)]
    pub mup_to_llama: bool,
    /// Do not write metadata.json into directory outputs.
    #[arg(long)]
    pub no_metadata: bool,
    /// After writing, compare every tensor with the source (bit-exact for lossless conversions,
    /// cosine >= 0.99 when casting or quantizing); exit code 4 if that fails.
    #[arg(long)]
    pub validate: bool,
    /// Write into a non-empty output directory, removing weight files the new output makes stale.
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
    #[arg(long)]
    pub chunk_size: Option<String>,
    /// Worker threads (default: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `modelconv inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A model directory, a weight file, or a cached hub id.
    pub path: String,
    /// List every tensor.
    #[arg(long)]
    pub tensors: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
