//! PyTorch checkpoints: `torch.save` zip and legacy files, the pre-0.4 tar
//! format, TorchScript archives, and Hugging Face directories of `.bin`
//! shards. Read only, by modelconv's own pickle VM (nothing is executed).

use std::path::Path;

use modelconv_core::fsx::is_regular;
use modelconv_core::{FormatId, Model, Result};
use modelconv_formats::hf;

use crate::registry::{FormatReader, FormatSpec, OpenOptions};

/// The registry entry.
pub static FORMAT: FormatSpec = FormatSpec {
    id: FormatId::PyTorch,
    name: "pytorch",
    aliases: &["pt", "bin"],
    extensions: modelconv_formats::pytorch::EXTENSIONS,
    summary: "PyTorch checkpoints (torch.save zip, legacy, tar; TorchScript) and directories of .bin shards",
    sniff: modelconv_formats::pytorch::sniff_file,
    sniff_dir,
    reader: Some(&PyTorch),
    writer: None,
    options: &[],
};

fn sniff_dir(dir: &Path) -> bool {
    is_regular(&dir.join(hf::BIN_INDEX_FILE)) || is_regular(&dir.join(hf::BIN_FILE))
}

struct PyTorch;

impl FormatReader for PyTorch {
    fn open(&self, path: &Path, how: &OpenOptions) -> Result<Model> {
        if path.is_dir() {
            return hf::read_dir(path);
        }
        Ok(modelconv_formats::weights::read(path, how.permissive)?.into_model(path))
    }
}
