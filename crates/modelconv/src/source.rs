//! Opening a model source: a local path or a hub id from the local cache.

use std::path::Path;

use modelconv_core::{Error, Model, Result};
use modelconv_formats::detect::{detect, SourceKind};
use modelconv_formats::{hf, hub, safetensors};

/// Opens `src`: an existing file or directory, else a hub id
/// (`org/name[@revision]`) resolved offline in the Hugging Face cache.
pub fn open(src: &str) -> Result<Model> {
    let path = Path::new(src);
    if path.exists() {
        return open_path(path);
    }
    if hub::looks_like_hub_id(src) {
        let snapshot = hub::resolve(src)?;
        let mut model = open_path(&snapshot)?;
        model.format = format!("{} (hub: {src})", model.format);
        return Ok(model);
    }
    Err(Error::NotFound(path.to_path_buf()))
}

fn open_path(path: &Path) -> Result<Model> {
    match detect(path)? {
        SourceKind::HfDirectory => hf::read_dir(path),
        SourceKind::Safetensors => {
            let st = safetensors::read_file(path)?;
            Ok(Model {
                format: "safetensors".into(),
                root: path.to_path_buf(),
                tensors: st.tensors,
                metadata: st.metadata,
                source_files: vec![modelconv_core::model::SourceFile {
                    path: path.to_path_buf(),
                    size: st.size,
                }],
                ..Model::default()
            })
        }
    }
}
