//! Opening a model source: a local path or a hub id from the local cache.

use std::path::Path;

use modelconv_core::model::SourceFile;
use modelconv_core::{Error, Model, Result};
use modelconv_formats::detect::{detect, SourceKind};
use modelconv_formats::{hf, hub, weights};

/// Opens `src`: an existing file or directory, else a hub id
/// (`org/name[@revision]`) resolved offline in the Hugging Face cache.
pub fn open(src: &str) -> Result<Model> {
    open_with(src, false)
}

/// Like [`open`]; with `inspect`, pickles that reference globals outside the
/// allow-list are read anyway (those globals are recorded, never called)
/// so the user can see what the file contains.
pub fn open_with(src: &str, inspect: bool) -> Result<Model> {
    let path = Path::new(src);
    if path.exists() {
        return open_path(path, inspect);
    }
    if hub::looks_like_hub_id(src) {
        let snapshot = hub::resolve(src)?;
        let mut model = open_path(&snapshot, inspect)?;
        model.format = format!("{} (hub: {src})", model.format);
        return Ok(model);
    }
    Err(Error::NotFound(path.to_path_buf()))
}

fn open_path(path: &Path, inspect: bool) -> Result<Model> {
    match detect(path)? {
        SourceKind::HfDirectory => hf::read_dir(path),
        SourceKind::Gguf => {
            let (model, file) = modelconv_gguf::read_model(path)?;
            modelconv_gguf::convert::to_hf(model, std::sync::Arc::new(file))
        }
        SourceKind::Parquet => {
            let mut model = modelconv_parquet::layout::read_parquet_file(path)?;
            crate::family::undo_key_map(&mut model);
            Ok(model)
        }
        SourceKind::ParquetDirectory => {
            let (carried, skipped) = hf::carried_files(path)?;
            let mut model = modelconv_parquet::layout::read_parquet_dir(path, carried)?;
            model.skipped_files = skipped
                .into_iter()
                .filter(|s| s != "weights.parquet")
                .collect();
            crate::family::undo_key_map(&mut model);
            Ok(model)
        }
        SourceKind::WeightFile => {
            let mut wf = weights::read(path, inspect)?;
            let mut model = Model {
                format: wf.format.to_string(),
                root: path.to_path_buf(),
                source_files: vec![SourceFile {
                    path: path.to_path_buf(),
                    size: wf.size,
                }],
                ..Model::default()
            };
            wf.merge_info(&mut model);
            model.tensors = wf.tensors;
            Ok(model)
        }
    }
}
