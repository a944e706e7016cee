//! Helpers shared by the fuzz targets: the parsers read files, so each
//! input is written to a per-process scratch file on tmpfs first.

use std::path::PathBuf;
use modelconv_core::Tensor;

/// Scratch directory: `/dev/shm` when present (no disk I/O), else the temp dir.
pub fn scratch_dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("modelconv-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Writes `data` to `<scratch>/<name>` and returns the path.
pub fn write_input(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch_dir().join(name);
    if let Err(e) = std::fs::write(&path, data) {
        // Not a finding: the harness itself cannot work.
        eprintln!("cannot write {}: {e}", path.display());
        std::process::abort();
    }
    path
}

/// Reads every byte of every tensor (and checks the length), so sources
/// are exercised too, not only headers.
pub fn touch_all(tensors: &[Tensor]) {
    for t in tensors {
        let len = t.source.len();
        if let Ok(b) = t.source.read(0..len) {
            assert_eq!(b.len(), len, "tensor {} read length", t.info.name);
        }
    }
}
