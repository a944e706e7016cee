//! What the engine runs: the plan types writers produce (files, their
//! content, tensor jobs and transforms), the engine's options and its report.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cast::{cast, CastStats};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::tensor::{TensorInfo, TensorSource};

use super::faults::OutFile;

/// What happens to a tensor's bytes on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Bytes are copied unchanged.
    Copy,
    /// Elements are cast between float types.
    Cast {
        /// Source dtype.
        from: DType,
        /// Output dtype.
        to: DType,
    },
}

impl Transform {
    /// Output bytes per input byte, as (numerator, denominator).
    pub(super) fn ratio(self) -> (usize, usize) {
        match self {
            Transform::Copy => (1, 1),
            Transform::Cast { from, to } => (to.size(), from.size()),
        }
    }

    /// Input element size (chunks are cut on element boundaries).
    pub(super) fn in_elem(self) -> usize {
        match self {
            Transform::Copy => 1,
            Transform::Cast { from, .. } => from.size(),
        }
    }
}

/// A tensor as a writer will lay it out: its output description, where its
/// input bytes come from and how they are transformed.
#[derive(Debug, Clone)]
pub struct OutTensor {
    /// Output name, dtype and shape.
    pub info: TensorInfo,
    /// Input bytes.
    pub source: Arc<dyn TensorSource>,
    /// Input → output transform.
    pub transform: Transform,
}

impl OutTensor {
    /// Output bytes per input byte, as (numerator, denominator).
    pub fn ratio(&self) -> (usize, usize) {
        self.transform.ratio()
    }

    /// The output bytes for the output byte range `out`, which must start
    /// and end on element boundaries. Casts as the transform says.
    pub fn read_output(
        &self,
        out: std::ops::Range<usize>,
    ) -> Result<(std::borrow::Cow<'_, [u8]>, CastStats)> {
        let (num, den) = self.transform.ratio();
        let input = out.start / num * den..out.end / num * den;
        let bytes = self.source.read(input)?;
        match self.transform {
            Transform::Copy => Ok((bytes, CastStats::default())),
            Transform::Cast { from, to } => {
                let mut buf = vec![0u8; out.end - out.start];
                let stats = cast(from, to, &bytes, &mut buf)
                    .map_err(|e| Error::Internal(format!("tensor '{}': {e}", self.info.name)))?;
                Ok((std::borrow::Cow::Owned(buf), stats))
            }
        }
    }

    /// The job placing this tensor at `offset` of a file.
    pub fn at(&self, offset: u64) -> TensorJob {
        TensorJob {
            name: self.info.name.clone(),
            source: Arc::clone(&self.source),
            transform: self.transform,
            offset,
        }
    }
}

/// One tensor's place in an output file.
#[derive(Debug, Clone)]
pub struct TensorJob {
    /// Tensor name (for messages and the report).
    pub name: String,
    /// Where the input bytes come from.
    pub source: Arc<dyn TensorSource>,
    /// What to do with them.
    pub transform: Transform,
    /// Byte offset of the tensor's output in the file.
    pub offset: u64,
}

impl TensorJob {
    /// Output length in bytes.
    pub fn out_len(&self) -> u64 {
        let (num, den) = self.transform.ratio();
        (self.source.len() / den * num) as u64
    }
}

/// The content of one output file.
#[derive(Debug, Clone)]
pub enum FileContent {
    /// A fixed layout: `prefix` at offset 0, more fixed byte `segments`
    /// and tensors at their offsets, total length `len`. Bytes covered by
    /// none of them are zero. `crcs` are CRC-32 fields (zip archives)
    /// computed from the written data and patched in at the end.
    Laid {
        /// Header bytes written at offset 0.
        prefix: Vec<u8>,
        /// Total file length.
        len: u64,
        /// Tensors and their offsets.
        tensors: Vec<TensorJob>,
        /// Other fixed bytes: `(offset, bytes)`.
        segments: Vec<(u64, Vec<u8>)>,
        /// CRC-32 fields to fill in.
        crcs: Vec<CrcPatch>,
    },
    /// A small file given whole (an index, a config).
    Bytes(Vec<u8>),
    /// A file copied unchanged from `source`.
    CopyOf(PathBuf),
    /// A file written front to back by format code (Parquet, JSON made
    /// from earlier results). Resumed as a whole file, not by chunks.
    Streamed(Arc<dyn StreamWriter>),
}

/// Writes one file front to back. Implemented by formats whose layout is
/// not known up front.
pub trait StreamWriter: Send + Sync + std::fmt::Debug {
    /// An upper bound of the file size, for the free-space check.
    fn size_hint(&self) -> u64;
    /// A stable description of everything that determines the bytes (for
    /// the resume fingerprint).
    fn identity(&self) -> String;
    /// Writes the whole file to `out`, reporting progress.
    fn write(&self, out: &mut StreamOut, reporter: &dyn Reporter) -> Result<StreamStats>;
}

/// Where a [`StreamWriter`] writes: a buffered [`OutFile`].
pub type StreamOut = std::io::BufWriter<OutFile>;

/// What a [`StreamWriter`] observed.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Tensors where finite values overflowed to ±Inf while casting: (name, count).
    pub overflows: Vec<(String, u64)>,
}

impl FileContent {
    pub(super) fn len_hint(&self) -> u64 {
        match self {
            FileContent::Laid { len, .. } => *len,
            FileContent::Bytes(b) => b.len() as u64,
            FileContent::CopyOf(p) => fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            FileContent::Streamed(w) => w.size_hint(),
        }
    }
}

/// Part of the data a CRC-32 covers, in order.
#[derive(Debug, Clone)]
pub enum CrcPart {
    /// Fixed bytes.
    Bytes(Vec<u8>),
    /// The output bytes of tensor job `i` of the same file.
    Tensor(usize),
}

/// A CRC-32 (little-endian u32) of `parts`, written at each offset in `at`.
#[derive(Debug, Clone)]
pub struct CrcPatch {
    /// What the checksum covers.
    pub parts: Vec<CrcPart>,
    /// Where to write it.
    pub at: Vec<u64>,
}

/// A file to write, relative to [`OutputPlan::root`].
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Path relative to the output root, `/`-separated.
    pub rel_path: String,
    /// What goes in it.
    pub content: FileContent,
}

/// Everything a conversion will write.
#[derive(Debug, Clone)]
pub struct OutputPlan {
    /// Directory the files go to.
    pub root: PathBuf,
    /// Name used for the journal and lock files (`.NAME.modelconv-journal`).
    pub name: String,
    /// Files, in the order they are finished. Put the file that marks the
    /// output complete (an index) last.
    pub files: Vec<PlannedFile>,
}

impl OutputPlan {
    /// Checks the planned names before anything is written: each a relative
    /// `/`-separated path of plain components, no name twice, and no file
    /// where another needs a directory. (A source whose files would collide
    /// once laid out, e.g. `tokenizer.json` and `tokenizer/tokenizer.json`
    /// in the seeds' Parquet layout, is refused here.)
    pub fn check_names(&self) -> Result<()> {
        use std::collections::HashSet;
        let bad = |rel: &str, why: &str| Error::Unsupported {
            path: self.root.join(rel),
            detail: format!("output file '{rel}' {why}"),
        };
        let mut files: HashSet<&str> = HashSet::new();
        let mut dirs: HashSet<String> = HashSet::new();
        for f in &self.files {
            let rel = f.rel_path.as_str();
            if rel.is_empty()
                || rel.starts_with('/')
                || rel
                    .split('/')
                    .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
            {
                return Err(bad(rel, "is not a plain relative path"));
            }
            if !files.insert(rel) {
                return Err(bad(
                    rel,
                    "would be written twice (two sources land on one name)",
                ));
            }
            let mut parts: Vec<&str> = rel.split('/').collect();
            parts.pop();
            let mut prefix = String::new();
            for p in parts {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(p);
                dirs.insert(prefix.clone());
            }
        }
        if let Some(clash) = files.iter().find(|f| dirs.contains(**f)) {
            return Err(bad(clash, "is both a file and a directory of other files"));
        }
        Ok(())
    }

    /// Total bytes of all planned files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.content.len_hint()).sum()
    }

    /// Absolute paths of all planned files.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .map(|f| self.root.join(&f.rel_path))
            .collect()
    }

    /// The journal's file name in `root` (`.NAME.modelconv-journal`).
    pub fn journal_name(&self) -> String {
        format!(".{}.modelconv-journal", self.name)
    }

    pub(super) fn lock_name(&self) -> String {
        format!(".{}.modelconv-lock", self.name)
    }

    /// A digest of everything that determines the output bytes.
    pub(super) fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("modelconv-engine/1 {}\n", self.files.len()));
        for f in &self.files {
            h.update(format!("file {}\n", f.rel_path));
            match &f.content {
                FileContent::Laid {
                    prefix,
                    len,
                    tensors,
                    segments,
                    crcs,
                } => {
                    h.update(format!(
                        "laid {len} {} {} {}\n",
                        prefix.len(),
                        segments.len(),
                        crcs.len()
                    ));
                    h.update(prefix);
                    for (off, b) in segments {
                        h.update(format!("seg {off} {}\n", b.len()));
                        h.update(b);
                    }
                    for t in tensors {
                        h.update(format!(
                            "t {} {:?} {} {}\n",
                            t.name,
                            t.transform,
                            t.offset,
                            t.source.identity()
                        ));
                    }
                }
                FileContent::Bytes(b) => {
                    h.update(format!("bytes {}\n", b.len()));
                    h.update(b);
                }
                FileContent::Streamed(w) => {
                    h.update(format!("streamed {}\n", w.identity()));
                }
                FileContent::CopyOf(p) => {
                    let meta = fs::metadata(p).ok();
                    let modified = meta.as_ref().and_then(|m| m.modified().ok());
                    h.update(format!(
                        "copy {} {:?} {:?}\n",
                        p.display(),
                        meta.map(|m| m.len()),
                        modified
                    ));
                }
            }
        }
        crate::checksum::hex(&h.finalize())
    }
}

/// Engine settings. `EngineOptions::default()` documents the defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Worker threads; 0 (default) = one per CPU.
    pub threads: usize,
    /// Maximum output bytes per chunk of work. Default 8 MiB. Peak memory is
    /// roughly `threads × chunk_bytes × 3`.
    pub chunk_bytes: usize,
    /// Continue an interrupted run of the same plan. Default false (start over).
    pub resume: bool,
    /// Check free disk space before writing. Default true.
    pub check_space: bool,
    /// Skip fsync of the outputs (benchmarks that leave the final flush to
    /// the OS; a crash may then lose data). Default false.
    pub no_sync: bool,
    /// When the reporter cancels, keep what was written and the journal,
    /// so a run with `resume` continues it (the CLI's Ctrl-C). Default
    /// false: a cancelled run leaves nothing behind (the Python bindings).
    pub keep_on_cancel: bool,
    /// Testing aids (`test-hooks` feature): a slow engine, a failing file
    /// operation. Default none.
    #[cfg(feature = "test-hooks")]
    pub hooks: TestHooks,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 0,
            chunk_bytes: 8 << 20,
            resume: false,
            check_space: true,
            no_sync: false,
            keep_on_cancel: false,
            #[cfg(feature = "test-hooks")]
            hooks: TestHooks::default(),
        }
    }
}

/// Testing aids of the engine (`test-hooks` feature, which the CLI and the
/// Python bindings enable for their tests; library users do not see them).
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// Sleep this many milliseconds after each chunk, so tests can interrupt
    /// a run at a known point.
    pub chunk_delay_ms: u64,
    /// Fail one file operation on purpose (see [`super::Fault`]).
    pub fault: Option<super::Fault>,
}

/// A file the engine wrote (or kept, on resume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrittenFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the contents.
    pub sha256: String,
    /// True if a previous run's copy was verified and kept (`resume`).
    pub kept: bool,
}

/// What the engine did.
#[derive(Debug, Clone, Default)]
pub struct WriteReport {
    /// Files in plan order.
    pub files: Vec<WrittenFile>,
    /// Tensors where finite values overflowed to ±Inf while casting: (name, count).
    pub overflows: Vec<(String, u64)>,
    /// Chunks found complete in the journal and kept (resume).
    pub chunks_kept: u64,
    /// Chunks written by this run.
    pub chunks_written: u64,
}
