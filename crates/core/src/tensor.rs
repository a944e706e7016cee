//! Tensors: what they are ([`TensorInfo`]) and where their bytes come from
//! ([`TensorSource`]).
//!
//! Readers do not load tensor data. They describe each tensor and hand out a
//! source that can produce any byte range of it on demand; for files that
//! store tensors contiguously this is a zero-copy slice of a memory map
//! ([`MmapSlice`]). The engine pulls bounded chunks from sources, so memory
//! stays independent of tensor and model size.
//!
//! Inputs can change under us (another process truncates or rewrites a
//! file while it is converted). Touching a mapped page past the new end of
//! a truncated file raises SIGBUS, so tensor *data* is never read through
//! the map: [`MmapFile::read_at`] checks the file's size and modification
//! time (one `fstat`) and then copies the range with `pread`, which turns a
//! truncation into a short read and a clean [`Error::InputChanged`]. The
//! map only serves headers and archive directories, parsed right after
//! opening, and strided gathers (checked with the same `fstat` first). The
//! engine checks every source again before it publishes a file, which
//! catches same-size rewrites with a new modification time.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use serde::Serialize;

use crate::dtype::DType;
use crate::error::{Error, IoContext, Result};

/// Name, element type and shape of a tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Full tensor name, e.g. `encoder.layer.0.attention.self.query.weight`.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape, outermost dimension first (C order). Empty for a scalar.
    pub shape: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements, or `None` on overflow.
    pub fn checked_numel(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Number of elements. Shapes are validated by readers, so overflow
    /// saturates instead of panicking.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Size of the data in bytes, or `None` on overflow.
    pub fn checked_nbytes(&self) -> Option<usize> {
        self.checked_numel()?.checked_mul(self.dtype.size())
    }

    /// Size of the data in bytes (saturating; see [`TensorInfo::numel`]).
    pub fn nbytes(&self) -> usize {
        self.checked_nbytes().unwrap_or(usize::MAX)
    }

    /// Whether the shape is one that the readers of every output format
    /// accept: numpy, torch and safetensors keep dimensions and the byte
    /// size of the non-zero dimensions in a signed 64-bit integer, so
    /// `[0, 2^63, 2^63]` (zero elements) is still refused by all of them.
    pub fn check_portable_shape(&self) -> std::result::Result<(), String> {
        let max = i64::MAX as u128;
        let mut bytes = self.dtype.size() as u128;
        for &d in &self.shape {
            if d as u128 > max {
                return Err(format!("dimension {d} is larger than 2^63 - 1"));
            }
            if d > 0 {
                bytes = bytes.saturating_mul(d as u128);
            }
        }
        if bytes > max {
            return Err(format!(
                "shape {:?} of {} spans more than 2^63 - 1 bytes (ignoring zero dimensions)",
                self.shape, self.dtype
            ));
        }
        Ok(())
    }
}

/// Produces the raw little-endian, C-ordered bytes of one tensor.
///
/// `read` may return a borrowed slice (zero-copy) or an owned buffer (for
/// sources that must decode or gather). Ranges are byte ranges within the
/// tensor's data and are always within `0..len()` and element-aligned.
pub trait TensorSource: Send + Sync + fmt::Debug {
    /// Total byte length of the tensor's data.
    fn len(&self) -> usize;

    /// True if the tensor has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in `range`.
    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>>;

    /// Tells the source that `range` will not be read again, so it can drop
    /// cached pages (keeps resident memory bounded on huge inputs).
    fn release(&self, _range: Range<usize>) {}

    /// A stable description of where the bytes come from (file, offsets),
    /// used to fingerprint a conversion for `--resume`.
    fn identity(&self) -> String;

    /// Fails with [`Error::InputChanged`] if the file these bytes come from
    /// was truncated or modified since it was opened. Sources held in
    /// memory have nothing to check.
    fn check_unchanged(&self) -> Result<()> {
        Ok(())
    }

    /// The file and byte range holding exactly these bytes, if they are
    /// stored contiguously and uncompressed (lets callers map them
    /// zero-copy, e.g. `numpy.memmap`).
    fn file_range(&self) -> Option<(PathBuf, Range<usize>)> {
        None
    }

    /// The lossy encoding these values are decoded from (a GGUF quant type
    /// such as `Q4_K`), or `None` when they are stored as they read. Lets
    /// `verify` judge a quantized tensor by its type's bound, not as a copy.
    fn encoding(&self) -> Option<String> {
        None
    }
}

/// A read-only memory map of a whole file, shared by all tensors in it.
#[derive(Debug)]
pub struct MmapFile {
    path: PathBuf,
    file: File,
    map: Option<Mmap>,
    identity: String,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl MmapFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<Arc<Self>> {
        let file = crate::fsx::open_input(path)?;
        let meta = file.metadata().at(path)?;
        let mtime = meta.modified().ok();
        let modified = mtime
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let identity = format!("{}:{}:{}", path.display(), meta.len(), modified);
        // An empty file cannot be mapped on every platform; keep no map.
        let map = if meta.len() == 0 {
            None
        } else {
            Some(map_file(&file).at(path)?)
        };
        Ok(Arc::new(MmapFile {
            path: path.to_path_buf(),
            file,
            map,
            identity,
            len: meta.len(),
            modified: mtime,
        }))
    }

    /// The mapped file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// File length in bytes.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// True if the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Path, size and modification time: changes when the file does.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Fails with [`Error::InputChanged`] if the file's size or modification
    /// time differs from when it was opened (one `fstat` of the open file).
    pub fn check_unchanged(&self) -> Result<()> {
        let meta = self.file.metadata().at(&self.path)?;
        if meta.len() != self.len {
            return Err(Error::InputChanged {
                path: self.path.clone(),
                detail: format!("size was {} bytes, is now {}", self.len, meta.len()),
            });
        }
        if meta.modified().ok() != self.modified {
            return Err(Error::InputChanged {
                path: self.path.clone(),
                detail: "modification time changed".into(),
            });
        }
        Ok(())
    }

    /// Copies `range` out of the file with `pread`, after
    /// [`MmapFile::check_unchanged`]. Unlike reading the map, this cannot
    /// raise SIGBUS if the file is truncated meanwhile: a short read is
    /// reported as [`Error::InputChanged`].
    pub fn read_at(&self, range: Range<usize>) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        self.check_unchanged()?;
        let len = range
            .end
            .checked_sub(range.start)
            .ok_or_else(|| Error::Internal(format!("read of reversed range {range:?}")))?;
        let mut buf = vec![0u8; len];
        match self.file.read_exact_at(&mut buf, range.start as u64) {
            Ok(()) => Ok(buf),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::InputChanged {
                path: self.path.clone(),
                detail: format!(
                    "the file ended before byte {} while reading it (truncated?)",
                    range.end
                ),
            }),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    /// Drops the resident pages of `range` (whole pages inside it only);
    /// later reads fault them back in from the file.
    pub fn release(&self, range: Range<usize>) {
        if let Some(map) = &self.map {
            release_pages(map, range);
        }
    }
}

#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the map is read-only. Another process truncating or rewriting
    // the file while we read it is outside Rust's memory model; modelconv
    // treats inputs as read-only and validates every offset against the
    // length observed at open time.
    unsafe { Mmap::map(file) }
}

#[allow(unsafe_code)]
fn release_pages(map: &Mmap, range: Range<usize>) {
    const PAGE: usize = 4096;
    let start = range.start.div_ceil(PAGE) * PAGE;
    let end = (range.end / PAGE) * PAGE;
    if end > start && end <= map.len() {
        // SAFETY: the map is a read-only shared file mapping, so dropping its
        // pages only discards page-table entries; later reads fault the same
        // file contents back in. No Rust reference to these bytes outlives
        // this call in the engine (chunks are released after being written).
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

/// A tensor stored contiguously inside a memory-mapped file.
#[derive(Debug, Clone)]
pub struct MmapSlice {
    file: Arc<MmapFile>,
    start: usize,
    end: usize,
}

impl MmapSlice {
    /// A slice of `file`; fails if the range is outside the file.
    pub fn new(file: Arc<MmapFile>, range: Range<usize>) -> Result<Self> {
        if range.start > range.end || range.end > file.len() {
            return Err(Error::invalid(
                file.path(),
                crate::error::InvalidKind::OffsetOutOfBounds,
                format!(
                    "byte range {}..{} outside file of {} bytes",
                    range.start,
                    range.end,
                    file.len()
                ),
            )
            .at_offset(range.start as u64));
        }
        Ok(MmapSlice {
            file,
            start: range.start,
            end: range.end,
        })
    }

    /// The whole slice.
    pub fn bytes(&self) -> &[u8] {
        self.file.bytes().get(self.start..self.end).unwrap_or(&[])
    }
}

impl TensorSource for MmapSlice {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        if range.start > range.end || range.end > self.len() {
            return Err(Error::Internal(format!(
                "read {range:?} past tensor end {}",
                self.len()
            )));
        }
        // pread, not the map: see the module docs (SIGBUS on truncation).
        self.file
            .read_at(self.start + range.start..self.start + range.end)
            .map(Cow::Owned)
    }

    fn release(&self, range: Range<usize>) {
        self.file
            .release(self.start + range.start..self.start + range.end);
    }

    fn check_unchanged(&self) -> Result<()> {
        self.file.check_unchanged()
    }

    fn identity(&self) -> String {
        format!("{}@{}..{}", self.file.identity(), self.start, self.end)
    }

    fn file_range(&self) -> Option<(PathBuf, Range<usize>)> {
        Some((self.file.path().to_path_buf(), self.start..self.end))
    }
}

/// Tensor bytes held in memory (tests, small generated tensors).
#[derive(Debug, Clone)]
pub struct OwnedBytes(pub Arc<Vec<u8>>);

impl TensorSource for OwnedBytes {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        self.0.get(range.clone()).map(Cow::Borrowed).ok_or_else(|| {
            Error::Internal(format!("read {range:?} past tensor end {}", self.0.len()))
        })
    }

    fn identity(&self) -> String {
        let mut h = crc32fast::Hasher::new();
        h.update(&self.0);
        format!("owned:{}:{:08x}", self.0.len(), h.finalize())
    }
}

/// A tensor of a model: its description and its bytes.
#[derive(Debug, Clone)]
pub struct Tensor {
    /// Name, dtype, shape.
    pub info: TensorInfo,
    /// Where the bytes come from.
    pub source: Arc<dyn TensorSource>,
    /// Which input file holds it (for messages and `inspect`; shared by
    /// all tensors of a file, so a million tensors cost one path).
    pub file: Arc<Path>,
}
