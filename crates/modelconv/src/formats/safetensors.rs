//! safetensors: single files, and Hugging Face directories (single or
//! sharded safetensors; the directory reader also serves PyTorch `.bin`
//! directories, see [`super::pytorch`]).

use std::path::Path;

use modelconv_core::fsx::is_regular;
use modelconv_core::{FormatId, Model, OutputTarget, Result};
use modelconv_formats::hf;

use crate::registry::{FormatReader, FormatSpec, FormatWriter, OpenOptions, WriteJob, WritePlan};

/// The registry entry.
pub static FORMAT: FormatSpec = FormatSpec {
    id: FormatId::Safetensors,
    name: "safetensors",
    aliases: &["st", "hf"],
    extensions: &["safetensors"],
    summary: "safetensors files and Hugging Face model directories (sharded with an index)",
    sniff: modelconv_formats::safetensors::sniff_file,
    sniff_dir,
    reader: Some(&Safetensors),
    writer: Some(&Safetensors),
    options: &["max_shard_size", "quantize", "quant_axis", "quant_scheme"],
};

fn sniff_dir(dir: &Path) -> bool {
    is_regular(&dir.join(hf::INDEX_FILE)) || is_regular(&dir.join(hf::SINGLE_FILE))
}

struct Safetensors;

impl FormatReader for Safetensors {
    fn open(&self, path: &Path, how: &OpenOptions) -> Result<Model> {
        if path.is_dir() {
            return hf::read_dir(path);
        }
        let _ = how;
        let st = modelconv_formats::safetensors::read_file(path)?;
        Ok(modelconv_formats::weights::WeightFile {
            format: FormatId::Safetensors,
            layout: "safetensors",
            tensors: st.tensors,
            metadata: st.metadata,
            size: st.size,
            ..Default::default()
        }
        .into_model(path))
    }
}

impl FormatWriter for Safetensors {
    fn plan(&self, job: WriteJob<'_>) -> Result<WritePlan> {
        let shards = job.opts.max_shard_size;
        let plan = match job.target {
            OutputTarget::Directory(dir) => hf::plan_dir(job.model, &job.tensors, dir, shards)?,
            OutputTarget::File(file) => hf::plan_file(job.model, &job.tensors, file, shards)?,
        };
        Ok(WritePlan {
            plan,
            tensors: job.tensors,
            types: None,
            notes: Vec::new(),
        })
    }
}
