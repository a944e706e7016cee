// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Compressed zip members (`.npz` arrays, deflated torch storages),
//! inflated lazily and under one budget per input file.
//!
//! A zip member can inflate to a thousand times its compressed size, so
//! opening an archive inflates nothing: an [`Inflated`] member knows its
//! declared size and inflates only when a tensor's bytes are read (never to
//! list or `inspect` a file). The inflated bytes are kept while tensors read
//! them and dropped once every user has released its range. Every byte
//! inflated from one input is charged to that input's [`InflateBudget`],
//! which allows twice the declared size of all its compressed members plus
//! [`BUDGET_SLACK`]: a member that inflates past its declared size, or
//! re-inflation without end, is a typed error, not a memory blow-up.
//!
//! Hand-written over `flate2` rather than through the `zip` crate's reader
//! because the `zip` reader needs the archive (`!Sync`, one cursor) for
//! every read, while tensor sources are shared by worker threads.

use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::tensor::MmapFile;

/// Inflated bytes allowed per input beyond twice its members' declared sizes.
pub const BUDGET_SLACK: u64 = 64 << 20;

/// How many bytes may still be inflated from one input file.
#[derive(Debug)]
pub struct InflateBudget {
    path: std::path::PathBuf,
    allowed: AtomicU64,
    used: AtomicU64,
}

impl InflateBudget {
    /// A budget for the archive at `path` with nothing declared yet.
    pub fn new(path: &Path) -> Arc<Self> {
        Arc::new(InflateBudget {
            path: path.to_path_buf(),
            allowed: AtomicU64::new(BUDGET_SLACK),
            used: AtomicU64::new(0),
        })
    }

    /// Adds a member of `size` declared bytes (allows twice that).
    pub fn declare(&self, size: u64) {
        let _ = self
            .allowed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                Some(a.saturating_add(size.saturating_mul(2)))
            });
    }

    /// Charges `n` inflated bytes; an error once the budget is spent.
    pub fn charge(&self, n: u64, member: &str) -> Result<()> {
        let used = self.used.fetch_add(n, Ordering::Relaxed).saturating_add(n);
        let allowed = self.allowed.load(Ordering::Relaxed);
        if used > allowed {
            return Err(Error::invalid(
                &self.path,
                InvalidKind::LimitExceeded,
                format!(
                    "member {member}: inflating more than {allowed} bytes from this archive (twice what its members declare, plus {BUDGET_SLACK})"
                ),
            ));
        }
        Ok(())
    }

    /// Bytes inflated so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// A deflated zip member, inflated as it is read (see the module docs).
#[derive(Debug)]
pub struct Inflated {
    file: Arc<MmapFile>,
    name: String,
    /// The compressed bytes in the archive.
    compressed: Range<usize>,
    /// Declared inflated size.
    size: usize,
    /// CRC-32 of the inflated bytes, from the zip directory.
    crc32: u32,
    budget: Arc<InflateBudget>,
    stream: Mutex<Option<Stream>>,
}

/// Bytes kept behind the read position, so that chunks read slightly out
/// of order by parallel workers do not restart the inflation.
const WINDOW: usize = 32 << 20;

/// An inflation in progress: the decoder, how far it got, the CRC so far,
/// and the last inflated bytes (`window` holds `[pos - window.len(), pos)`).
struct Stream {
    decoder: flate2::read::DeflateDecoder<std::io::BufReader<OwnedPread>>,
    pos: usize,
    crc: crc32fast::Hasher,
    window: std::collections::VecDeque<u8>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream@{}", self.pos)
    }
}

impl Inflated {
    /// A member of `file` whose deflated bytes are `compressed`, declared to
    /// inflate to `size` bytes with CRC-32 `crc32`.
    pub fn new(
        file: Arc<MmapFile>,
        name: &str,
        compressed: Range<usize>,
        size: u64,
        crc32: u32,
        budget: Arc<InflateBudget>,
    ) -> Result<Arc<Self>> {
        if compressed.start > compressed.end || compressed.end > file.len() {
            return Err(Error::invalid(
                file.path(),
                InvalidKind::Truncated,
                format!("member {name} extends past the end of the file"),
            )
            .at_offset(compressed.start as u64));
        }
        let size = usize::try_from(size).map_err(|_| {
            Error::invalid(
                file.path(),
                InvalidKind::LimitExceeded,
                format!("member {name} declares {size} bytes"),
            )
        })?;
        budget.declare(size as u64);
        Ok(Arc::new(Inflated {
            file,
            name: name.to_string(),
            compressed,
            size,
            crc32,
            budget,
            stream: Mutex::new(None),
        }))
    }

    /// Declared inflated size.
    pub fn len(&self) -> usize {
        self.size
    }

    /// True if the member is empty.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The archive.
    pub fn file(&self) -> &Arc<MmapFile> {
        &self.file
    }

    /// A description for resume fingerprints.
    pub fn identity(&self) -> String {
        format!(
            "{}@{}..{}:deflate:{}",
            self.file.identity(),
            self.compressed.start,
            self.compressed.end,
            self.size
        )
    }

    fn invalid(&self, kind: InvalidKind, detail: String) -> Error {
        Error::invalid(
            self.file.path(),
            kind,
            format!("member {}: {detail}", self.name),
        )
    }

    fn start(&self) -> Stream {
        let raw = OwnedPread {
            file: Arc::clone(&self.file),
            pos: self.compressed.start,
            end: self.compressed.end,
        };
        Stream {
            decoder: flate2::read::DeflateDecoder::new(std::io::BufReader::with_capacity(
                64 << 10,
                raw,
            )),
            pos: 0,
            crc: crc32fast::Hasher::new(),
            window: std::collections::VecDeque::new(),
        }
    }

    /// The first bytes of the member, at most `n` (a header), inflated
    /// without inflating the rest.
    pub fn head(&self, n: usize) -> Result<Vec<u8>> {
        let want = n.min(self.size);
        let mut out = Vec::with_capacity(want);
        (&mut self.start().decoder)
            .take(want as u64)
            .read_to_end(&mut out)
            .map_err(|e| self.invalid(InvalidKind::MalformedArchive, e.to_string()))?;
        self.budget.charge(out.len() as u64, &self.name)?;
        Ok(out)
    }

    /// The inflated bytes `range` of the member. Reads in order continue
    /// the inflation where the last one stopped; a read behind the kept
    /// window starts it again (charged to the budget like the first).
    pub fn read(&self, range: Range<usize>) -> Result<Vec<u8>> {
        if range.start > range.end || range.end > self.size {
            return Err(Error::Internal(format!(
                "read {range:?} past the end of member {} ({} bytes)",
                self.name, self.size
            )));
        }
        let mut slot = self
            .stream
            .lock()
            .map_err(|_| Error::Internal("inflate lock poisoned".into()))?;
        let behind = |s: &Stream| range.start < s.pos - s.window.len();
        if slot.as_ref().is_none_or(behind) {
            *slot = Some(self.start());
        }
        let stream = slot
            .as_mut()
            .ok_or_else(|| Error::Internal("inflate stream missing".into()))?;
        if stream.pos < range.end {
            self.advance(stream, range.end)?;
        }
        let first = stream.pos - stream.window.len();
        let out: Vec<u8> = stream
            .window
            .range(range.start - first..range.end - first)
            .copied()
            .collect();
        let keep = WINDOW.max(2 * range.len());
        while stream.window.len() > keep {
            let drop = stream.window.len() - keep;
            stream.window.drain(..drop);
        }
        Ok(out)
    }

    /// Inflates up to byte `to`, checking size and CRC at the end.
    fn advance(&self, s: &mut Stream, to: usize) -> Result<()> {
        let mut buf = vec![0u8; 256 << 10];
        while s.pos < to {
            let want = (to - s.pos).min(buf.len());
            let piece = buf.get_mut(..want).unwrap_or_default();
            let n = s
                .decoder
                .read(piece)
                .map_err(|e| self.invalid(InvalidKind::MalformedArchive, e.to_string()))?;
            if n == 0 {
                return Err(self.invalid(
                    InvalidKind::MalformedArchive,
                    format!(
                        "inflates to {} bytes, the directory says {}",
                        s.pos, self.size
                    ),
                ));
            }
            self.budget.charge(n as u64, &self.name)?;
            let got = piece.get(..n).unwrap_or_default();
            s.crc.update(got);
            s.window.extend(got);
            s.pos += n;
        }
        if s.pos == self.size {
            let mut extra = [0u8; 1];
            let more = s.decoder.read(&mut extra).unwrap_or(0);
            if more > 0 {
                return Err(self.invalid(
                    InvalidKind::MalformedArchive,
                    format!(
                        "inflates to more than the {} bytes the directory says",
                        self.size
                    ),
                ));
            }
            if s.crc.clone().finalize() != self.crc32 {
                return Err(self.invalid(
                    InvalidKind::MalformedArchive,
                    "CRC-32 of the inflated bytes does not match the zip directory".into(),
                ));
            }
        }
        Ok(())
    }

    /// Lets go of the inflation state (once every reader is done).
    pub fn release(&self) {
        if let Ok(mut s) = self.stream.lock() {
            *s = None;
        }
    }
}

/// [`FileRange`] owning its file, for a decoder kept between reads.
struct OwnedPread {
    file: Arc<MmapFile>,
    pos: usize,
    end: usize,
}

impl Read for OwnedPread {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut r = FileRange {
            file: &self.file,
            pos: self.pos,
            end: self.end,
        };
        let n = r.read(buf)?;
        self.pos += n;
        Ok(n)
    }
}

/// Reads a byte range of a file with `pread` (not through the map: a file
/// truncated meanwhile gives an error, not SIGBUS).
pub struct FileRange<'a> {
    file: &'a MmapFile,
    pos: usize,
    end: usize,
}

impl<'a> FileRange<'a> {
    /// A reader of `range` of `file`.
    pub fn new(file: &'a MmapFile, range: Range<usize>) -> Self {
        FileRange {
            file,
            pos: range.start,
            end: range.end,
        }
    }
}

impl Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.end.saturating_sub(self.pos));
        if n == 0 {
            return Ok(0);
        }
        let bytes = self
            .file
            .read_at(self.pos..self.pos + n)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let got = bytes.len().min(n);
        if let (Some(dst), Some(src)) = (buf.get_mut(..got), bytes.get(..got)) {
            dst.copy_from_slice(src);
        }
        self.pos += got;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap_or_default();
        e.finish().unwrap_or_default()
    }

    #[test]
    fn inflates_lazily_within_the_budget() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let data = vec![7u8; 1 << 20];
        let z = deflate(&data);
        let p = tmp.path().join("a.bin");
        std::fs::write(&p, &z).map_err(|e| Error::io(&p, e))?;
        let file = MmapFile::open(&p)?;
        let budget = InflateBudget::new(&p);
        let m = Inflated::new(
            Arc::clone(&file),
            "m",
            0..z.len(),
            data.len() as u64,
            crc32fast::hash(&data),
            Arc::clone(&budget),
        )?;
        assert_eq!(budget.used(), 0);
        assert_eq!(m.head(16)?, vec![7u8; 16]);
        // In order, slightly out of order (from the window), and again from the start.
        assert_eq!(m.read(0..1000)?, data[..1000]);
        assert_eq!(m.read(2000..data.len())?, data[2000..]);
        assert_eq!(m.read(1000..2000)?, data[1000..2000]);
        assert_eq!(m.read(0..10)?, data[..10]);
        // A member that lies about its size or CRC is refused.
        let liar = Inflated::new(
            Arc::clone(&file),
            "liar",
            0..z.len(),
            1000,
            0,
            Arc::clone(&budget),
        )?;
        assert!(liar.read(0..1000).is_err());
        let crc = Inflated::new(file, "crc", 0..z.len(), data.len() as u64, 1, budget)?;
        assert!(crc.read(0..data.len()).is_err());
        Ok(())
    }

    #[test]
    fn the_budget_stops_repeated_inflation() {
        let budget = InflateBudget::new(Path::new("x"));
        budget.declare(10);
        assert!(budget.charge(BUDGET_SLACK, "a").is_ok());
        assert!(budget.charge(20, "a").is_ok());
        assert!(budget.charge(1, "a").is_err());
    }
}
