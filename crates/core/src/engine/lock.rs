//! The output lock: one conversion at a time writes an output.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::fsx::OutDir;

use super::OutputPlan;

/// output being written right now). Used before touching an existing
/// output directory, e.g. to clear it for `--overwrite`.
pub fn held_by_another(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    // Never follow a link planted at the lock's name, never block on a FIFO.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let Ok(f) = OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    else {
        return false;
    };
    f.metadata().is_ok_and(|m| m.is_file())
        && matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock))
}

/// Takes the output's lock file. The holder before us deletes the file
/// when it finishes, so a lock on a file that is no longer at the path
/// (unlinked between our open and our lock) does not count: try again.
pub(super) fn acquire_lock(plan: &OutputPlan, out: &OutDir) -> Result<File> {
    let name = plan.lock_name();
    let lock_path = plan.root.join(&name);
    for _ in 0..16 {
        let lock = out.open_lock(&name)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Locked(plan.root.clone())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let ours = lock.metadata().at(&lock_path)?;
        if out.identity(&name) == Some((ours.dev(), ours.ino())) {
            return Ok(lock);
        }
    }
    Err(Error::Locked(plan.root.clone()))
}
