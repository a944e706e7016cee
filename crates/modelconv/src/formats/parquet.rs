//! Parquet weights: a `.parquet` file, or the seeds' directory layout
//! (`weights.parquet`, `metadata.json`, `tokenizer/`); schemas V1, V2 and
//! modelconv's chunked default.

use std::path::Path;

use modelconv_core::fsx::is_regular;
use modelconv_core::{FormatId, Model, OutputTarget, Result};
use modelconv_formats::hf;
use modelconv_parquet::layout;

use crate::registry::{FormatReader, FormatSpec, FormatWriter, OpenOptions, WriteJob, WritePlan};

/// The registry entry.
pub static FORMAT: FormatSpec = FormatSpec {
    id: FormatId::Parquet,
    name: "parquet",
    aliases: &["arrow"],
    extensions: &["parquet"],
    summary: "Parquet weights: a .parquet file or the seeds' directory layout (V1, V2, chunked)",
    sniff,
    sniff_dir,
    reader: Some(&Parquet),
    writer: Some(&Parquet),
    options: &[
        "parquet_schema",
        "compression",
        "compression_level",
        "quantize",
        "quant_axis",
        "quant_scheme",
    ],
};

fn sniff(head: &[u8], _path: &Path) -> bool {
    head.starts_with(b"PAR1")
}

/// The seeds' layout: `weights.parquet` and no Hugging Face weights beside it.
fn sniff_dir(dir: &Path) -> bool {
    let hf_weights = [
        hf::SINGLE_FILE,
        hf::INDEX_FILE,
        hf::BIN_FILE,
        hf::BIN_INDEX_FILE,
    ];
    is_regular(&dir.join(layout::WEIGHTS_FILE))
        && !hf_weights.iter().any(|w| is_regular(&dir.join(w)))
}

struct Parquet;

impl FormatReader for Parquet {
    fn open(&self, path: &Path, _how: &OpenOptions) -> Result<Model> {
        let mut model = if path.is_dir() {
            let (carried, skipped) = hf::carried_files(path)?;
            let mut model = layout::read_parquet_dir(path, carried)?;
            model.skipped_files = skipped
                .into_iter()
                .filter(|s| s != layout::WEIGHTS_FILE)
                .collect();
            model
        } else {
            layout::read_parquet_file(path)?
        };
        crate::family::undo_key_map(&mut model);
        Ok(model)
    }
}

impl FormatWriter for Parquet {
    fn seeds_layout(&self, target: &OutputTarget) -> bool {
        matches!(target, OutputTarget::Directory(_))
    }

    fn writes_metadata(&self) -> bool {
        true
    }

    fn plan(&self, job: WriteJob<'_>) -> Result<WritePlan> {
        if job.opts.max_shard_size.is_some() {
            return Err(modelconv_core::Error::InvalidOption(
                "--max-shard-size applies to safetensors and gguf output only".into(),
            ));
        }
        let fields = crate::family::metadata_fields(job.model, job.family);
        let plan = layout::plan(
            job.model,
            &job.tensors,
            job.target,
            &job.opts.parquet,
            &fields,
        )?;
        Ok(WritePlan {
            plan,
            tensors: job.tensors,
            types: None,
            notes: Vec::new(),
        })
    }
}
