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
    /// Split safetensors output into shards of at most this many tensor bytes (e.g. 5GB, 2GiB, 500MB).
    #[arg(long)]
    pub max_shard_size: Option<String>,
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
    /// After writing, compare every tensor with the source (bit-exact for lossless conversions,
    /// cosine >= 0.99 when casting or quantizing); exit code 4 if that fails.
    #[arg(long)]
    pub validate: bool,
    /// Write into a non-empty output directory, removing weight files the new output makes stale.
    #[arg(long)]
    pub overwrite: bool,
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
