//! Formats modelconv knows by name but does not read or write yet: they
//! are in the registry so that `--to` and detection say "not supported
//! yet" instead of "unknown". Each moves to a module of its own when it is
//! built (see `docs/adding-a-format.md`).

use modelconv_core::FormatId;

use crate::registry::{never, never_dir, FormatSpec};

const fn planned(
    id: FormatId,
    name: &'static str,
    aliases: &'static [&'static str],
    extensions: &'static [&'static str],
    summary: &'static str,
) -> FormatSpec {
    FormatSpec {
        id,
        name,
        aliases,
        extensions,
        summary,
        sniff: never,
        sniff_dir: never_dir,
        reader: None,
        writer: None,
        options: &[],
    }
}

/// TorchScript (read by the PyTorch reader; written later).
pub static TORCHSCRIPT: FormatSpec = planned(
    FormatId::TorchScript,
    "torchscript",
    &[],
    &[],
    "TorchScript archives (read as PyTorch checkpoints; not written yet)",
);
/// ONNX.
pub static ONNX: FormatSpec = planned(
    FormatId::Onnx,
    "onnx",
    &[],
    &["onnx"],
    "ONNX graphs (planned)",
);
/// MLX (mlx-lm directories).
pub static MLX: FormatSpec = planned(
    FormatId::Mlx,
    "mlx",
    &[],
    &[],
    "MLX / mlx-lm directories (planned)",
);
/// GPTQ.
pub static GPTQ: FormatSpec = planned(
    FormatId::Gptq,
    "gptq",
    &[],
    &[],
    "GPTQ checkpoints (planned)",
);
/// AWQ.
pub static AWQ: FormatSpec = planned(FormatId::Awq, "awq", &[], &[], "AWQ checkpoints (planned)");
/// compressed-tensors.
pub static COMPRESSED_TENSORS: FormatSpec = planned(
    FormatId::CompressedTensors,
    "compressed-tensors",
    &[],
    &[],
    "compressed-tensors checkpoints (planned)",
);
/// Megatron-LM.
pub static MEGATRON: FormatSpec = planned(
    FormatId::Megatron,
    "megatron",
    &[],
    &[],
    "Megatron-LM checkpoints (planned)",
);
