//! Which format a model was read from: the identity every reader stamps on
//! its [`crate::Model`]. What each format can do (names, extensions,
//! sniffing, reading, writing, options) is in modelconv's format registry;
//! this enum only names them, so the manifest is typed, not a string.

use serde::Serialize;

/// A model-weight format modelconv knows (read, written, or planned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FormatId {
    /// safetensors files and Hugging Face directories of them.
    Safetensors,
    /// PyTorch checkpoints (`torch.save`, zip or legacy) and directories of them.
    PyTorch,
    /// TorchScript archives (`torch.jit.save`).
    TorchScript,
    /// NumPy `.npy` / `.npz`.
    Numpy,
    /// GGUF (llama.cpp).
    Gguf,
    /// Parquet weights (the seeds' V1/V2 and the chunked schema).
    Parquet,
    /// ONNX.
    Onnx,
    /// MLX (mlx-lm directories).
    Mlx,
    /// GPTQ checkpoints.
    Gptq,
    /// AWQ checkpoints.
    Awq,
    /// compressed-tensors (llm-compressor).
    CompressedTensors,
    /// Megatron-LM checkpoints.
    Megatron,
    /// Not read from a file: generated (`fake`).
    #[default]
    Generated,
}
