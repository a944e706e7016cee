//! Command-line definitions (clap). Behaviour lives in the subcommand modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// modelconv: a fast, safe, streaming converter for machine-learning model weights.
#[derive(Debug, Parser)]
#[command(name = "modelconv", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Print a shell completion script (e.g. `modelconv completions bash > /etc/bash_completion.d/modelconv`).
    Completions(CompletionsArgs),
    /// Print the man page (roff; `modelconv man | man -l -`), or write one page per subcommand.
    Man(ManArgs),
}

/// `modelconv man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write modelconv.1 and modelconv-SUBCOMMAND.1 into this directory instead of printing
    /// modelconv.1.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// `modelconv completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// `modelconv scan`.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Files or directories to scan.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also list files without findings.
    #[arg(long)]
    pub all: bool,
    /// Print nothing on stdout unless --json: the exit code carries the result.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `modelconv check-inference`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
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
    #[arg(long, value_enum, value_name = "FAMILY", ignore_case = true)]
    pub model_type: Option<modelconv::request::ModelType>,
    /// Read models whose tensors declare more than 64x the bytes their files hold.
    #[arg(long)]
    pub allow_amplification: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on stdout unless --json: the exit code carries the result.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write a self-contained HTML report (charts and a sortable table) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// `modelconv fake`.
#[derive(Debug, Args)]
pub(crate) struct FakeArgs {
    /// A config.json (or a directory holding one) of a known family, or an existing model whose
    /// tensor list is mirrored with new values.
    pub source: String,
    /// Output directory (safetensors + config.json) or a .safetensors file.
    #[arg(value_name = "DST")]
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
    #[arg(long, value_enum, ignore_case = true)]
    pub dtype: Option<modelconv::request::CastDType>,
    /// Override one tensor's shape, e.g. 'lm_head.weight=100,64'. Repeatable.
    #[arg(long = "shape", value_name = "NAME=D0,D1")]
    pub shapes: Vec<String>,
    /// Force the model family instead of detecting it from config.json.
    #[arg(long, value_enum, value_name = "FAMILY", ignore_case = true)]
    pub model_type: Option<modelconv::request::ModelType>,
    /// Split into shards of at most this many bytes (e.g. 2GB).
    #[arg(long, value_name = "SIZE")]
    pub max_shard_size: Option<modelconv::request::Size>,
    /// Replace an existing output file, or write into a non-empty output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// When mirroring a model: mirror tensors that declare more than 64x the bytes its files
    /// store (stride-0 views, members that inflate a thousandfold). Not for a config.
    #[arg(long)]
    pub allow_amplification: bool,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `modelconv verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The original model (path or cached hub id).
    pub source: String,
    /// The converted model.
    pub output: String,
    /// Require every tensor to be bit-exact, dtype included. Without it (and without thresholds)
    /// each tensor is held to what a conversion promises: bit-exact when its dtype is unchanged,
    /// equal to the source cast to its dtype when cast, and a cosine bound per quant type when
    /// quantized (Q8: 0.9995, Q6: 0.999, Q5: 0.995, Q4: 0.99, Q3: 0.97, lower: 0.9; int8 per channel: 0.995).
    #[arg(long)]
    pub exact: bool,
    /// Judge every tensor that is not bit-exact by this lowest cosine similarity (e.g. 0.999).
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
    /// Print nothing on stdout unless --json: the exit code carries the result.
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write a self-contained HTML report (charts and a sortable table) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

/// `modelconv convert`: the source, the destination, the conversion
/// request (shared with the Python bindings) and how to print the report.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// Source: a model directory, a weight file, or a hub id (org/name[@rev]) in the local HF cache.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Destination: a file with a format's extension (x.safetensors), otherwise a directory.
    #[arg(value_name = "DST")]
    pub dst: PathBuf,
    /// What to convert to and how.
    #[command(flatten)]
    pub request: modelconv::ConvertRequest,
    /// Print a machine-readable JSON report on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `modelconv inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// A model directory, a weight file, or a cached hub id.
    pub path: String,
    /// List every tensor.
    #[arg(long)]
    pub tensors: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on stdout unless --json: the exit code carries the result.
    #[arg(long, short)]
    pub quiet: bool,
}
