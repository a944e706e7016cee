//! NumPy: `.npy` (one array) and `.npz` (one array per member).

use std::path::Path;

use modelconv_core::{FormatId, Model, Result};

use crate::registry::{FormatReader, FormatSpec, FormatWriter, OpenOptions, WriteJob, WritePlan};

/// The registry entry.
pub static FORMAT: FormatSpec = FormatSpec {
    id: FormatId::Numpy,
    name: "numpy",
    aliases: &["npz", "npy"],
    extensions: &["npz", "npy"],
    summary: "NumPy .npz archives and .npy arrays",
    sniff: modelconv_formats::numpy::sniff_file,
    sniff_dir: crate::registry::never_dir,
    reader: Some(&Numpy),
    writer: Some(&Numpy),
    options: &["quantize", "quant_axis", "quant_scheme"],
};

struct Numpy;

impl FormatReader for Numpy {
    fn open(&self, path: &Path, how: &OpenOptions) -> Result<Model> {
        Ok(modelconv_formats::weights::read(path, how.permissive)?.into_model(path))
    }
}

impl FormatWriter for Numpy {
    fn plan(&self, job: WriteJob<'_>) -> Result<WritePlan> {
        if job.opts.max_shard_size.is_some() {
            return Err(modelconv_core::Error::InvalidOption(
                "--max-shard-size applies to safetensors and gguf output only".into(),
            ));
        }
        let plan = modelconv_formats::numpy::plan(job.model, &job.tensors, job.target)?;
        Ok(WritePlan {
            plan,
            tensors: job.tensors,
            types: None,
            notes: Vec::new(),
        })
    }
}
