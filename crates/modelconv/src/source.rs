//! Opening a model source: a local path (through the format registry) or
//! a hub id from the local cache.

use std::path::Path;

use modelconv_core::{Error, Model, Result};
use modelconv_formats::hub;

use crate::registry::{self, OpenOptions};

/// Opens `src`: an existing file or directory, else a hub id
/// (`org/name[@revision]`) resolved offline in the Hugging Face cache.
pub fn open(src: &str) -> Result<Model> {
    open_with(src, false)
}

/// Like [`open`]; with `inspect`, pickles that reference globals outside the
/// allow-list are read anyway (those globals are recorded, never called)
/// so the user can see what the file contains.
pub fn open_with(src: &str, inspect: bool) -> Result<Model> {
    let how = OpenOptions {
        permissive: inspect,
    };
    let path = Path::new(src);
    if path.exists() {
        return registry::open(path, &how);
    }
    if hub::looks_like_hub_id(src) {
        let snapshot = hub::resolve(src)?;
        let mut model = registry::open(&snapshot, &how)?;
        model.hub_id = Some(src.to_string());
        return Ok(model);
    }
    Err(Error::NotFound(path.to_path_buf()))
}
