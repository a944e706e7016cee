//! The engine's file operations — every write, fsync and rename of output
//! data — and the fault injection that can make one of them fail on purpose
//! (`test-hooks` feature: [`Fault`], set through `EngineOptions::hooks`).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsx::OutDir;

/// An output file being streamed. Writes go to the file; the engine's fault
/// injection (`EngineOptions::hooks`) sees them like all other writes.
#[derive(Debug)]
pub struct OutFile {
    pub(super) file: File,
    pub(super) faults: Arc<Faults>,
    /// The first I/O error a write returned: the engine reports it with the
    /// file's path, whatever error type the format's writer wrapped it in.
    pub(super) error: Option<std::io::Error>,
    /// SHA-256 of every byte written (streamed files are written front to
    /// back), so the report's checksum needs no second read.
    pub(super) sha256: Sha256,
}

impl OutFile {
    fn remember(&mut self, e: std::io::Error) -> std::io::Error {
        if self.error.is_none() {
            self.error = Some(match e.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code),
                None => std::io::Error::new(e.kind(), e.to_string()),
            });
        }
        e
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (ok, err) = self.faults.write(buf.len());
        if ok == 0 {
            if let Some(e) = err {
                return Err(self.remember(e));
            }
        }
        let part = buf.get(..ok).unwrap_or(buf);
        let n = self.file.write(part).map_err(|e| self.remember(e))?;
        self.sha256.update(part.get(..n).unwrap_or(part));
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Which engine operation a [`Fault`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultOp {
    /// Writing output bytes (all files together).
    Write,
    /// fsync of a finished output file.
    Fsync,
    /// Renaming a finished `.partial` file to its name.
    Rename,
}

/// A deliberate failure of one engine file operation (testing aid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The operation.
    pub op: FaultOp,
    /// [`FaultOp::Write`]: output bytes written successfully first (the
    /// failing write is short). Otherwise: which call fails, 1-based.
    pub after: u64,
    /// The OS error number returned (`ENOSPC` = 28, `EIO` = 5, `EROFS` = 30).
    pub errno: i32,
}

impl Fault {
    /// Parses `write:N`, `fsync[:N]` or `rename[:N]`, optionally followed
    /// by `=enospc`, `=eio` or `=erofs` (defaults: ENOSPC for writes, EIO
    /// otherwise).
    pub fn parse(spec: &str) -> Result<Fault> {
        let bad = || {
            Error::InvalidOption(format!(
                "fault '{spec}': expected write:N, fsync[:N] or rename[:N], optionally =enospc|eio|erofs"
            ))
        };
        let (what, errno) = match spec.split_once('=') {
            Some((w, e)) => (
                w,
                Some(match e {
                    "enospc" => 28,
                    "eio" => 5,
                    "erofs" => 30,
                    _ => return Err(bad()),
                }),
            ),
            None => (spec, None),
        };
        let (op, n) = match what.split_once(':') {
            Some((o, n)) => (o, Some(n.parse::<u64>().map_err(|_| bad())?)),
            None => (what, None),
        };
        let (op, after, default_errno) = match (op, n) {
            ("write", Some(n)) => (FaultOp::Write, n, 28),
            ("fsync", n) => (FaultOp::Fsync, n.unwrap_or(1).max(1), 5),
            ("rename", n) => (FaultOp::Rename, n.unwrap_or(1).max(1), 5),
            _ => return Err(bad()),
        };
        Ok(Fault {
            op,
            after,
            errno: errno.unwrap_or(default_errno),
        })
    }
}

/// Counts the engine's writes, fsyncs and renames and fails the one a
/// [`Fault`] names.
#[derive(Debug, Default)]
pub(super) struct Faults {
    fault: Option<Fault>,
    /// `EngineOptions::no_sync`: skip fsync (benchmarks).
    no_sync: bool,
    written: AtomicU64,
    fsyncs: AtomicU64,
    renames: AtomicU64,
}

impl Faults {
    pub(super) fn new(fault: Option<Fault>, no_sync: bool) -> Self {
        Faults {
            fault,
            no_sync,
            ..Faults::default()
        }
    }

    /// How many of `n` bytes may be written, and the error to return after them.
    pub(super) fn write(&self, n: usize) -> (usize, Option<std::io::Error>) {
        match self.fault {
            Some(f) if f.op == FaultOp::Write => {
                let before = self.written.fetch_add(n as u64, Ordering::SeqCst);
                let end = before.saturating_add(n as u64);
                if end <= f.after {
                    (n, None)
                } else {
                    let ok = usize::try_from(f.after.saturating_sub(before)).unwrap_or(0);
                    (ok.min(n), Some(std::io::Error::from_raw_os_error(f.errno)))
                }
            }
            _ => (n, None),
        }
    }

    fn nth(&self, op: FaultOp, counter: &AtomicU64) -> std::io::Result<()> {
        match self.fault {
            Some(f) if f.op == op => {
                if counter.fetch_add(1, Ordering::SeqCst) + 1 == f.after {
                    return Err(std::io::Error::from_raw_os_error(f.errno));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `write_all_at` through the fault injector.
pub(super) fn write_at(
    f: &File,
    buf: &[u8],
    offset: u64,
    faults: &Faults,
    path: &Path,
) -> Result<()> {
    let (ok, err) = faults.write(buf.len());
    f.write_all_at(buf.get(..ok).unwrap_or(buf), offset)
        .at(path)?;
    match err {
        Some(e) => Err(Error::io(path, e)),
        None => Ok(()),
    }
}

/// fsync through the fault injector. An fsync failure is final: the data
/// may be lost, so the file is never published.
pub(super) fn sync_file(f: &File, faults: &Faults, path: &Path) -> Result<()> {
    faults.nth(FaultOp::Fsync, &faults.fsyncs).at(path)?;
    if faults.no_sync {
        return Ok(());
    }
    f.sync_all().at(path)
}

/// rename (within one output directory) through the fault injector.
pub(super) fn rename_file(dir: &OutDir, from: &str, to: &str, faults: &Faults) -> Result<()> {
    let path = dir.path().join(to);
    faults.nth(FaultOp::Rename, &faults.renames).at(&path)?;
    dir.rename(from, to).at(&path)
}
