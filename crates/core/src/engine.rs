//! The streaming write engine: turns an [`OutputPlan`] into files on disk.
//!
//! Writers for fixed-layout formats (safetensors, later GGUF) only *plan*:
//! they compute each output file's header and where every tensor goes. The
//! engine then does all the I/O, the same way for every format:
//!
//! - tensors are cut into chunks of at most [`EngineOptions::chunk_bytes`]
//!   output bytes; worker threads read and cast chunks in file order, one
//!   writer thread writes them with positional writes, and a hasher thread
//!   computes the file's SHA-256 from the same bytes as they go by
//!   ([`write_chunks_in_order`]). Resident memory is about `(2 × threads +
//!   5) × chunk`, and source pages are released after use, so memory does not
//!   grow with model or tensor size;
//! - every file is written under a temporary name beside its target
//!   (`NAME.partial`), fsynced, then renamed; files are finished in plan
//!   order, so the last file of a plan (a shard index) appears last;
//! - a journal (`.NAME.modelconv-journal`) records each chunk with its CRC-32
//!   and each finished file with its SHA-256. After an interruption,
//!   `resume` keeps finished files whose checksum still matches and chunks of
//!   the unfinished file whose CRC matches, and redoes the rest: the result
//!   is byte-identical to an uninterrupted run. A journal from a different
//!   plan (other options or changed inputs) is ignored;
//! - an exclusive lock file keeps two conversions from writing the same
//!   output; free disk space is checked before anything is written.
//! - before a file is renamed into place, every tensor source it was made
//!   from is checked again ([`TensorSource::check_unchanged`]): an input
//!   truncated or rewritten during the run fails it with
//!   [`Error::InputChanged`] instead of publishing mixed bytes.
//!
//! On any error the file being written is removed (kept for `resume` when
//! resuming), so no file with a final name is incomplete; files finished
//! earlier stay with the journal so `--resume` can keep them, and the last
//! file of the plan (the shard index) is never written.
//!
//! Fault injection (tests): [`EngineOptions::fault`] makes one of the
//! engine's own file operations fail on purpose — the write that crosses
//! byte N, the N-th fsync or the N-th rename — with a chosen errno
//! ([`Fault::parse`]: `write:N`, `fsync[:N]`, `rename[:N]`, optionally
//! `=enospc|eio|erofs`). Every write, fsync and rename of output data goes
//! through the same three helpers (and [`OutFile`] for streamed formats),
//! so a failure behaves exactly like the real one. The CLI sets it from
//! `MODELCONV_TEST_FAIL_AT` in debug builds only.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cast::{cast, CastStats};
use crate::checksum::sha256_reader;
use crate::dtype::DType;
use crate::error::{Error, IoContext, Result};
use crate::fsx::{Access, OutDir};
use crate::progress::Reporter;
use crate::tensor::{TensorInfo, TensorSource};

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
    fn ratio(self) -> (usize, usize) {
        match self {
            Transform::Copy => (1, 1),
            Transform::Cast { from, to } => (to.size(), from.size()),
        }
    }

    /// Input element size (chunks are cut on element boundaries).
    fn in_elem(self) -> usize {
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

/// An output file being streamed. Writes go to the file; the engine's fault
/// injection ([`EngineOptions::fault`]) sees them like all other writes.
#[derive(Debug)]
pub struct OutFile {
    file: File,
    faults: Arc<Faults>,
    /// The first I/O error a write returned: the engine reports it with the
    /// file's path, whatever error type the format's writer wrapped it in.
    error: Option<std::io::Error>,
    /// SHA-256 of every byte written (streamed files are written front to
    /// back), so the report's checksum needs no second read.
    sha256: Sha256,
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
pub struct Faults {
    fault: Option<Fault>,
    /// `EngineOptions::no_sync`: skip fsync (benchmarks).
    no_sync: bool,
    written: AtomicU64,
    fsyncs: AtomicU64,
    renames: AtomicU64,
}

impl Faults {
    fn new(fault: Option<Fault>, no_sync: bool) -> Self {
        Faults {
            fault,
            no_sync,
            ..Faults::default()
        }
    }

    /// How many of `n` bytes may be written, and the error to return after them.
    fn write(&self, n: usize) -> (usize, Option<std::io::Error>) {
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
fn write_at(f: &File, buf: &[u8], offset: u64, faults: &Faults, path: &Path) -> Result<()> {
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
fn sync_file(f: &File, faults: &Faults, path: &Path) -> Result<()> {
    faults.nth(FaultOp::Fsync, &faults.fsyncs).at(path)?;
    if faults.no_sync {
        return Ok(());
    }
    f.sync_all().at(path)
}

/// rename (within one output directory) through the fault injector.
fn rename_file(dir: &OutDir, from: &str, to: &str, faults: &Faults) -> Result<()> {
    let path = dir.path().join(to);
    faults.nth(FaultOp::Rename, &faults.renames).at(&path)?;
    dir.rename(from, to).at(&path)
}

/// What a [`StreamWriter`] observed.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Tensors where finite values overflowed to ±Inf while casting: (name, count).
    pub overflows: Vec<(String, u64)>,
}

impl FileContent {
    fn len_hint(&self) -> u64 {
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

    fn journal_name(&self) -> String {
        format!(".{}.modelconv-journal", self.name)
    }

    fn lock_name(&self) -> String {
        format!(".{}.modelconv-lock", self.name)
    }

    /// A digest of everything that determines the output bytes.
    fn fingerprint(&self) -> String {
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
    /// Testing aid: sleep this many milliseconds after each chunk, so tests
    /// can interrupt a run at a known point. Default 0.
    pub chunk_delay_ms: u64,
    /// Testing aid: fail one file operation on purpose (see the module
    /// docs). Default none.
    pub fault: Option<Fault>,
    /// Skip fsync of the outputs (benchmarks that leave the final flush to
    /// the OS; a crash may then lose data). Default false.
    pub no_sync: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 0,
            chunk_bytes: 8 << 20,
            resume: false,
            check_space: true,
            chunk_delay_ms: 0,
            fault: None,
            no_sync: false,
        }
    }
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

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum JournalLine {
    Header { v: u32, fingerprint: String },
    Chunk { chunk: (usize, u64, u64, u32) },
    File { file: usize, sha256: String },
}

#[derive(Default)]
struct JournalState {
    chunks: HashMap<usize, Vec<(u64, u64, u32)>>,
    files: HashMap<usize, String>,
}

fn read_journal(dir: &OutDir, name: &str, fingerprint: &str) -> Option<JournalState> {
    let file = dir.open_existing(name, Access::Read).ok()??;
    let mut lines = BufReader::new(file).lines();
    let first = lines.next()?.ok()?;
    match serde_json::from_str::<JournalLine>(&first).ok()? {
        JournalLine::Header {
            v: 1,
            fingerprint: fp,
        } if fp == fingerprint => {}
        _ => return None,
    }
    let mut state = JournalState::default();
    // A torn last line (killed mid-write) simply fails to parse and is skipped.
    for line in lines.map_while(|l| l.ok()) {
        match serde_json::from_str::<JournalLine>(&line) {
            Ok(JournalLine::Chunk {
                chunk: (f, off, len, crc),
            }) => state.chunks.entry(f).or_default().push((off, len, crc)),
            Ok(JournalLine::File { file, sha256 }) => {
                state.files.insert(file, sha256);
            }
            _ => {}
        }
    }
    Some(state)
}

struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    fn append(&self, line: &JournalLine) -> Result<()> {
        let mut text = serde_json::to_string(line).map_err(|e| Error::Internal(e.to_string()))?;
        text.push('\n');
        let mut f = self
            .file
            .lock()
            .map_err(|_| Error::Internal("journal lock poisoned".into()))?;
        // One write per line: a kill leaves at most one torn line.
        f.write_all(text.as_bytes()).at(&self.path)
    }
}

/// Removes what a run wrote (`rel` paths below `out`) and the
/// subdirectories it leaves empty (e.g. `1_Pooling/`).
fn remove_written(out: &OutDir, written: &[String]) {
    for rel in written {
        if let Ok((dir, name)) = out.parent_of(rel, false) {
            let _ = dir.remove_regular(&name);
        }
        let mut parts: Vec<&str> = rel.split('/').collect();
        parts.pop();
        while !parts.is_empty() {
            let sub = parts.join("/");
            let removed = out
                .parent_of(&sub, false)
                .is_ok_and(|(dir, name)| dir.remove_empty_dir(&name));
            if !removed {
                break;
            }
            parts.pop();
        }
    }
}

/// Runs `plan`: writes every file atomically, reporting progress to `reporter`.
pub fn run(
    plan: &OutputPlan,
    opts: &EngineOptions,
    reporter: &dyn Reporter,
) -> Result<WriteReport> {
    plan.check_names()?;
    let created_root = !plan.root.exists();
    fs::create_dir_all(&plan.root).at(&plan.root)?;
    let out = OutDir::open(&plan.root)?;
    let lock = match acquire_lock(plan, &out) {
        Ok(l) => l,
        Err(e) => {
            if created_root {
                let _ = fs::remove_dir(&plan.root);
            }
            return Err(e);
        }
    };
    let mut written: Vec<String> = Vec::new();
    let faults = Arc::new(Faults::new(opts.fault, opts.no_sync));
    let result = run_locked(plan, &out, opts, reporter, &faults, &mut written);
    let cancelled = matches!(result, Err(Error::Cancelled));
    if cancelled && !opts.resume {
        // A cancelled run leaves nothing behind.
        remove_written(&out, &written);
        written.clear();
    }
    if result.is_err() && written.is_empty() && !opts.resume {
        let _ = out.remove_regular(&plan.journal_name());
    }
    drop(lock);
    let _ = out.remove_regular(&plan.lock_name());
    if result.is_err() && created_root {
        // Only succeeds if nothing is left in it.
        let _ = fs::remove_dir(&plan.root);
    }
    result
}

/// Whether another process holds the modelconv lock file at `path` (an
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
fn acquire_lock(plan: &OutputPlan, out: &OutDir) -> Result<File> {
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

fn run_locked(
    plan: &OutputPlan,
    out: &OutDir,
    opts: &EngineOptions,
    reporter: &dyn Reporter,
    faults: &Arc<Faults>,
    written: &mut Vec<String>,
) -> Result<WriteReport> {
    let fingerprint = plan.fingerprint();
    let journal_name = plan.journal_name();
    let journal_path = plan.root.join(&journal_name);
    let state = if opts.resume {
        let state = read_journal(out, &journal_name, &fingerprint);
        if state.is_none() && out.file_type(&journal_name).is_some() {
            reporter.note("the resume journal belongs to a different conversion (options or inputs changed); starting over");
        }
        state
    } else {
        None
    };
    let resuming = state.is_some();
    let state = state.unwrap_or_default();

    if opts.check_space {
        check_space(plan)?;
    }

    let journal_file = match resuming {
        true => out
            .open_existing(&journal_name, Access::Append)?
            .ok_or_else(|| Error::Internal("resume journal vanished".into()))?,
        false => out.create_new(&journal_name)?,
    };
    let journal = Journal {
        path: journal_path.clone(),
        file: Mutex::new(journal_file),
    };
    if !resuming {
        journal.append(&JournalLine::Header {
            v: 1,
            fingerprint: fingerprint.clone(),
        })?;
    }

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| Error::Internal(format!("cannot start worker threads: {e}")))?;

    let (total_tensors, total_bytes) =
        plan.files
            .iter()
            .fold((0u64, 0u64), |acc, f| match &f.content {
                FileContent::Laid { tensors, .. } => (
                    acc.0 + tensors.len() as u64,
                    acc.1 + tensors.iter().map(TensorJob::out_len).sum::<u64>(),
                ),
                _ => acc,
            });
    reporter.start("writing", total_tensors, total_bytes);

    let mut report = WriteReport::default();
    for (idx, file) in plan.files.iter().enumerate() {
        if reporter.cancelled() {
            return Err(Error::Cancelled);
        }
        let target = plan.root.join(&file.rel_path);
        let (dir, name) = out.parent_of(&file.rel_path, true)?;
        // A finished file from the interrupted run: keep it if it still matches.
        if let Some(sha) = state.files.get(&idx) {
            let kept = match dir.open_existing(&name, Access::Read)? {
                Some(mut f) => Some((
                    sha256_reader(&mut f, &target)?,
                    f.metadata().at(&target)?.len(),
                )),
                None => None,
            };
            if let Some((_, size)) = kept.filter(|(have, _)| have == sha) {
                if let FileContent::Laid { tensors, .. } = &file.content {
                    let bytes = tensors.iter().map(TensorJob::out_len).sum();
                    reporter.advance(bytes, tensors.len() as u64);
                }
                reporter.note(&format!("kept {} (checksum matches)", file.rel_path));
                report.files.push(WrittenFile {
                    path: target,
                    size,
                    sha256: sha.clone(),
                    kept: true,
                });
                continue;
            }
        }
        let partial_name = format!("{name}.partial");
        let partial = plan.root.join(format!("{}.partial", file.rel_path));
        let finished = write_one(
            idx,
            file,
            &dir,
            &partial_name,
            &partial,
            &state,
            resuming,
            opts,
            &pool,
            &journal,
            reporter,
            faults,
            &mut report,
        )
        .and_then(|hashed| {
            let (sha256, size) = hashed;
            // An input truncated or rewritten meanwhile: do not publish.
            if let FileContent::Laid { tensors, .. } = &file.content {
                for t in tensors {
                    t.source.check_unchanged()?;
                }
            }
            rename_file(&dir, &partial_name, &name, faults)?;
            Ok((sha256, size))
        });
        let (sha256, size) = match finished {
            Ok(v) => v,
            Err(e) => {
                // Finished files stay (the journal lets `resume` keep them);
                // the unfinished one is removed unless this run resumes.
                if !opts.resume {
                    let _ = dir.remove_regular(&partial_name);
                }
                return Err(e);
            }
        };
        if !opts.no_sync {
            dir.sync();
        }
        journal.append(&JournalLine::File {
            file: idx,
            sha256: sha256.clone(),
        })?;
        written.push(file.rel_path.clone());
        report.files.push(WrittenFile {
            path: target,
            size,
            sha256,
            kept: false,
        });
    }
    reporter.finish();
    drop(journal);
    out.unlink(&journal_name)?;
    if !opts.no_sync {
        out.sync();
    }
    report.overflows.sort();
    Ok(report)
}

fn check_space(plan: &OutputPlan) -> Result<()> {
    let needed = plan.total_bytes();
    let available = fs4::available_space(&plan.root).at(&plan.root)?;
    // Existing outputs are replaced only after the new file is complete, so
    // the full size is needed even when overwriting.
    if needed.saturating_add(1 << 20) > available {
        return Err(Error::NoSpace {
            path: plan.root.clone(),
            needed,
            available,
        });
    }
    Ok(())
}

struct Chunk<'a> {
    job: usize,
    tensor: &'a TensorJob,
    in_start: usize,
    in_end: usize,
    out_offset: u64,
    out_len: u64,
}

#[allow(clippy::too_many_arguments)]
fn write_one(
    idx: usize,
    file: &PlannedFile,
    dir: &OutDir,
    partial_name: &str,
    partial: &Path,
    state: &JournalState,
    resuming: bool,
    opts: &EngineOptions,
    pool: &rayon::ThreadPool,
    journal: &Journal,
    reporter: &dyn Reporter,
    faults: &Arc<Faults>,
    report: &mut WriteReport,
) -> Result<(String, u64)> {
    match &file.content {
        FileContent::Bytes(bytes) => {
            let f = dir.create_new(partial_name)?;
            write_at(&f, bytes, 0, faults, partial)?;
            sync_file(&f, faults, partial)?;
            Ok((crate::checksum::sha256_hex(bytes), bytes.len() as u64))
        }
        FileContent::Streamed(w) => {
            let file = dir.create_new(partial_name)?;
            let out = OutFile {
                file,
                faults: Arc::clone(faults),
                error: None,
                sha256: Sha256::new(),
            };
            let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
            let stats = match w.write(&mut out, reporter) {
                Ok(s) => s,
                // A write error (disk full, EIO) is an environment error
                // naming the file, however the format's writer wrapped it.
                Err(e) => {
                    return Err(match out.get_mut().error.take() {
                        Some(io) => Error::io(partial, io),
                        None => e,
                    })
                }
            };
            let out = out.into_inner().map_err(|e| {
                let (e, mut out) = e.into_parts();
                Error::io(partial, out.get_mut().error.take().unwrap_or(e))
            })?;
            report.overflows.extend(stats.overflows);
            sync_file(&out.file, faults, partial)?;
            let size = out.file.metadata().at(partial)?.len();
            // Written front to back: the hash of what went through is the file's.
            Ok((crate::checksum::hex(&out.sha256.finalize()), size))
        }
        FileContent::CopyOf(src) => {
            // The source: a regular file (never a FIFO or device); the copy
            // goes through the fault injector like every other write.
            let mut input = crate::fsx::open_input(src)?;
            let f = dir.create_new(partial_name)?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut at = 0u64;
            loop {
                let n = std::io::Read::read(&mut input, &mut buf).at(src)?;
                let Some(piece) = buf.get(..n).filter(|p| !p.is_empty()) else {
                    break;
                };
                write_at(&f, piece, at, faults, partial)?;
                h.update(piece);
                at += n as u64;
            }
            sync_file(&f, faults, partial)?;
            Ok((crate::checksum::hex(&h.finalize()), at))
        }
        FileContent::Laid {
            prefix,
            len,
            tensors,
            segments,
            crcs,
        } => {
            // Resuming: the interrupted run's partial file, if it has the
            // planned length; otherwise a new one.
            let existing = match resuming {
                true => dir
                    .open_existing(partial_name, Access::ReadWrite)?
                    .filter(|f| f.metadata().is_ok_and(|m| m.len() == *len)),
                false => None,
            };
            let reuse = existing.is_some();
            let f = match existing {
                Some(f) => f,
                None => {
                    let f = dir.create_new(partial_name)?;
                    f.set_len(*len).at(partial)?;
                    f
                }
            };
            write_at(&f, prefix, 0, faults, partial)?;
            for (off, bytes) in segments {
                write_at(&f, bytes, *off, faults, partial)?;
            }

            // Cut tensors into chunks on element boundaries.
            let mut chunks = Vec::new();
            for (job, t) in tensors.iter().enumerate() {
                let (num, den) = t.transform.ratio();
                let step_in = (opts.chunk_bytes.max(64) / num * den / t.transform.in_elem()).max(1)
                    * t.transform.in_elem();
                let in_len = t.source.len();
                let mut start = 0;
                loop {
                    let end = (start + step_in).min(in_len);
                    chunks.push(Chunk {
                        job,
                        tensor: t,
                        in_start: start,
                        in_end: end,
                        out_offset: t.offset + (start / den * num) as u64,
                        out_len: ((end - start) / den * num) as u64,
                    });
                    if end >= in_len {
                        break;
                    }
                    start = end;
                }
            }
            // File order: the pipeline below writes and hashes front to back.
            chunks.sort_by_key(|c| c.out_offset);
            let remaining: Vec<AtomicUsize> =
                (0..tensors.len()).map(|_| AtomicUsize::new(0)).collect();
            for c in &chunks {
                remaining[c.job].fetch_add(1, Ordering::Relaxed);
            }

            // Chunks the interrupted run finished and whose bytes still check out.
            let mut done: HashMap<(u64, u64), u32> = HashMap::new();
            if reuse {
                for &(off, clen, crc) in state.chunks.get(&idx).map(Vec::as_slice).unwrap_or(&[]) {
                    let mut buf = vec![0u8; usize::try_from(clen).unwrap_or(0)];
                    if f.read_exact_at(&mut buf, off).is_ok() && crc32fast::hash(&buf) == crc {
                        done.insert((off, clen), crc);
                    }
                }
            }

            let overflow: Vec<AtomicU64> = (0..tensors.len()).map(|_| AtomicU64::new(0)).collect();
            let chunk_crcs: Vec<AtomicU32> = (0..chunks.len()).map(|_| AtomicU32::new(0)).collect();
            let kept = AtomicU64::new(0);
            let written = AtomicU64::new(0);
            // The file's SHA-256 is computed while writing when nothing is
            // patched in afterwards (CRC fields are); otherwise it is read back.
            let hash_while_writing = crcs.is_empty();
            let ctx = LaidCtx {
                file: &f,
                len: *len,
                partial,
                faults,
                reporter,
                journal,
                idx,
                opts,
                threads: pool.current_num_threads().max(1),
                done: &done,
                overflow: &overflow,
                chunk_crcs: &chunk_crcs,
                remaining: &remaining,
                kept: &kept,
                written: &written,
            };
            let sha256 = write_chunks_in_order(&ctx, &chunks, hash_while_writing)?;
            report.chunks_kept += kept.into_inner();
            report.chunks_written += written.into_inner();
            for (t, o) in tensors.iter().zip(overflow) {
                let n = o.into_inner();
                if n > 0 {
                    report.overflows.push((t.name.clone(), n));
                }
            }
            for patch in crcs {
                let mut h = crc32fast::Hasher::new();
                for part in &patch.parts {
                    match part {
                        CrcPart::Bytes(b) => h.update(b.as_slice()),
                        CrcPart::Tensor(job) => {
                            for (c, crc) in chunks
                                .iter()
                                .zip(&chunk_crcs)
                                .filter(|(c, _)| c.job == *job)
                            {
                                h.combine(&crc32fast::Hasher::new_with_initial_len(
                                    crc.load(Ordering::Relaxed),
                                    c.out_len,
                                ));
                            }
                        }
                    }
                }
                let value = h.finalize().to_le_bytes();
                for &at in &patch.at {
                    write_at(&f, &value, at, faults, partial)?;
                }
            }
            sync_file(&f, faults, partial)?;
            let sha256 = match sha256 {
                Some(h) => h,
                None => crate::checksum::sha256_reader(&mut &f, partial)?,
            };
            Ok((sha256, *len))
        }
    }
}

/// What [`write_chunks_in_order`] needs from [`write_one`].
struct LaidCtx<'a> {
    file: &'a File,
    len: u64,
    partial: &'a Path,
    faults: &'a Faults,
    reporter: &'a dyn Reporter,
    journal: &'a Journal,
    idx: usize,
    opts: &'a EngineOptions,
    threads: usize,
    done: &'a HashMap<(u64, u64), u32>,
    overflow: &'a [AtomicU64],
    chunk_crcs: &'a [AtomicU32],
    remaining: &'a [AtomicUsize],
    kept: &'a AtomicU64,
    written: &'a AtomicU64,
}

/// A chunk's output, produced by a worker: its bytes (None: kept from the
/// interrupted run, already on disk) and their CRC-32.
type Produced = Result<(usize, Option<Vec<u8>>, u32)>;

/// The chunk pipeline of a laid-out file (chunks sorted by offset):
///
/// - `threads` workers take chunks in file order, read and cast them;
/// - this thread puts them back in order and writes each with one
///   positional write (a single writer: concurrent buffered writes to one
///   file serialise on the inode lock and spin);
/// - a hasher thread computes the file's SHA-256 front to back from the
///   written chunks, reading the bytes between them (header, padding) back
///   from the file, so the file is not read again at the end.
///
/// Workers stay at most `threads + 2` chunks ahead of the writer, and the
/// hasher at most 2 behind, so memory is bounded by about `2 × threads + 5`
/// chunks. Returns the SHA-256 when
/// `hash` is set.
fn write_chunks_in_order(
    ctx: &LaidCtx<'_>,
    chunks: &[Chunk<'_>],
    hash: bool,
) -> Result<Option<String>> {
    use std::sync::mpsc::{sync_channel, Receiver};
    use std::sync::Condvar;

    let window = ctx.threads + 2;
    let next = AtomicUsize::new(0);
    // Set when every chunk was written: only then does the hasher read the
    // file's tail (after a failure it just stops).
    let all_written = std::sync::atomic::AtomicBool::new(false);
    // Index of the next chunk the writer waits for; workers do not start a
    // chunk `window` or more past it. `usize::MAX` = stop.
    let gate = (Mutex::new(0usize), Condvar::new());
    let stop = || {
        if let Ok(mut g) = gate.0.lock() {
            *g = usize::MAX;
        }
        gate.1.notify_all();
    };

    // Chunk buffers go back to a pool once written and hashed: reusing them
    // saves the kernel from zeroing and mapping fresh pages for every chunk
    // (a bf16 -> f16 conversion of 2.2 GB spent more time in page faults
    // than in the cast).
    let pool = BufPool::new(window + 4);

    let produce = |ci: usize| -> Produced {
        let c = chunks
            .get(ci)
            .ok_or_else(|| Error::Internal("chunk index out of range".into()))?;
        if ctx.reporter.cancelled() {
            return Err(Error::Cancelled);
        }
        if let Some(&crc) = ctx.done.get(&(c.out_offset, c.out_len)) {
            return Ok((ci, None, crc));
        }
        let input = c.tensor.source.read(c.in_start..c.in_end)?;
        let out = match c.tensor.transform {
            Transform::Copy => match input {
                Cow::Owned(v) => v,
                Cow::Borrowed(b) => {
                    let mut out = pool.take(0);
                    out.extend_from_slice(b);
                    out
                }
            },
            Transform::Cast { from, to } => {
                let mut out = pool.take(usize::try_from(c.out_len).unwrap_or(0));
                let stats: CastStats = cast(from, to, &input, &mut out)
                    .map_err(|e| Error::Internal(format!("tensor '{}': {e}", c.tensor.name)))?;
                if stats.overflowed > 0 {
                    if let Some(o) = ctx.overflow.get(c.job) {
                        o.fetch_add(stats.overflowed, Ordering::Relaxed);
                    }
                }
                drop(input);
                out
            }
        };
        c.tensor.source.release(c.in_start..c.in_end);
        let crc = crc32fast::hash(&out);
        if ctx.opts.chunk_delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(ctx.opts.chunk_delay_ms));
        }
        Ok((ci, Some(out), crc))
    };

    // The hasher: chunks arrive in file order; the gaps before them are
    // read back from the file (they were written before the chunks).
    let hasher = |rx: Receiver<(u64, Vec<u8>)>| -> Result<String> {
        let mut h = Sha256::new();
        let mut pos = 0u64;
        let mut buf = Vec::new();
        let mut hash_file_range = |h: &mut Sha256, from: u64, to: u64| -> Result<()> {
            let mut at = from;
            while at < to {
                let n = usize::try_from((to - at).min(1 << 20)).unwrap_or(1 << 20);
                buf.resize(n, 0);
                ctx.file.read_exact_at(&mut buf, at).at(ctx.partial)?;
                h.update(&buf);
                at += n as u64;
            }
            Ok(())
        };
        for (off, bytes) in rx {
            if off > pos {
                hash_file_range(&mut h, pos, off)?;
            }
            h.update(bytes.as_slice());
            pos = off + bytes.len() as u64;
            pool.give(bytes);
        }
        if !all_written.load(Ordering::Acquire) {
            return Err(Error::Cancelled);
        }
        hash_file_range(&mut h, pos, ctx.len)?;
        Ok(crate::checksum::hex(&h.finalize()))
    };

    std::thread::scope(|scope| -> Result<Option<String>> {
        let (tx, rx) = sync_channel::<Produced>(window);
        for _ in 0..ctx.threads.min(chunks.len().max(1)) {
            let tx = tx.clone();
            let (next, gate, produce) = (&next, &gate, &produce);
            scope.spawn(move || loop {
                let ci = next.fetch_add(1, Ordering::Relaxed);
                if ci >= chunks.len() {
                    return;
                }
                {
                    let Ok(mut g) = gate.0.lock() else { return };
                    while *g != usize::MAX && ci >= g.saturating_add(window) {
                        g = match gate.1.wait(g) {
                            Ok(g) => g,
                            Err(_) => return,
                        };
                    }
                    if *g == usize::MAX {
                        return;
                    }
                }
                let failed = {
                    let r = produce(ci);
                    let failed = r.is_err();
                    if tx.send(r).is_err() {
                        return;
                    }
                    failed
                };
                if failed {
                    return;
                }
            });
        }
        drop(tx);
        let (hash_tx, hash_thread) = if hash {
            let (htx, hrx) = sync_channel::<(u64, Vec<u8>)>(2);
            let hasher = &hasher;
            (Some(htx), Some(scope.spawn(move || hasher(hrx))))
        } else {
            (None, None)
        };

        let result = (|| -> Result<()> {
            let mut pending: std::collections::BTreeMap<usize, (Option<Vec<u8>>, u32)> =
                std::collections::BTreeMap::new();
            let mut expected = 0usize;
            for produced in &rx {
                let (ci, bytes, crc) = produced?;
                pending.insert(ci, (bytes, crc));
                while let Some((bytes, crc)) = pending.remove(&expected) {
                    let Some(c) = chunks.get(expected) else { break };
                    if let Some(slot) = ctx.chunk_crcs.get(expected) {
                        slot.store(crc, Ordering::Relaxed);
                    }
                    let bytes = match bytes {
                        Some(b) => {
                            write_at(ctx.file, &b, c.out_offset, ctx.faults, ctx.partial)?;
                            ctx.journal.append(&JournalLine::Chunk {
                                chunk: (ctx.idx, c.out_offset, c.out_len, crc),
                            })?;
                            ctx.written.fetch_add(1, Ordering::Relaxed);
                            b
                        }
                        None => {
                            ctx.kept.fetch_add(1, Ordering::Relaxed);
                            if hash_tx.is_some() {
                                let mut b = vec![0u8; usize::try_from(c.out_len).unwrap_or(0)];
                                ctx.file
                                    .read_exact_at(&mut b, c.out_offset)
                                    .at(ctx.partial)?;
                                b
                            } else {
                                Vec::new()
                            }
                        }
                    };
                    if let Some(htx) = &hash_tx {
                        // A closed channel means the hasher failed; its error
                        // is reported below.
                        let _ = htx.send((c.out_offset, bytes));
                    } else {
                        pool.give(bytes);
                    }
                    let finished = ctx
                        .remaining
                        .get(c.job)
                        .is_some_and(|r| r.fetch_sub(1, Ordering::AcqRel) == 1);
                    ctx.reporter.advance(c.out_len, u64::from(finished));
                    expected += 1;
                    if let Ok(mut g) = gate.0.lock() {
                        if *g != usize::MAX {
                            *g = expected;
                        }
                    }
                    gate.1.notify_all();
                }
            }
            if expected < chunks.len() {
                return Err(Error::Internal(format!(
                    "chunk pipeline ended after {expected} of {} chunks",
                    chunks.len()
                )));
            }
            all_written.store(true, Ordering::Release);
            Ok(())
        })();
        if result.is_err() {
            stop();
        }
        drop(rx);
        drop(hash_tx);
        let digest = match hash_thread {
            Some(t) => Some(
                t.join()
                    .map_err(|_| Error::Internal("hasher thread panicked".into()))?,
            ),
            None => None,
        };
        result?;
        digest.transpose()
    })
}

/// Byte buffers kept for reuse, at most `cap` of them. Buffers are only
/// kept once someone has taken one: when every source hands over buffers of
/// its own, keeping them would only add to the peak memory.
struct BufPool {
    bufs: Mutex<Vec<Vec<u8>>>,
    cap: usize,
    used: std::sync::atomic::AtomicBool,
}

impl BufPool {
    fn new(cap: usize) -> Self {
        BufPool {
            bufs: Mutex::new(Vec::new()),
            cap,
            used: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A buffer of `len` bytes, reusing a returned one when there is one.
    /// Its contents are whatever the last user left (only the part beyond
    /// the old length is zeroed): callers overwrite all of it.
    fn take(&self, len: usize) -> Vec<u8> {
        self.used.store(true, Ordering::Relaxed);
        let mut v = self
            .bufs
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_default();
        v.truncate(len);
        v.resize(len, 0);
        v
    }

    /// Returns a buffer for reuse (dropped when the pool is full).
    fn give(&self, v: Vec<u8>) {
        if v.capacity() == 0 || !self.used.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(mut b) = self.bufs.lock() {
            if b.len() < self.cap {
                b.push(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::tensor::OwnedBytes;

    fn plan(root: &Path, data: Vec<u8>, transform: Transform) -> OutputPlan {
        let source: Arc<dyn TensorSource> = Arc::new(OwnedBytes(Arc::new(data)));
        let job = TensorJob {
            name: "t".into(),
            source,
            transform,
            offset: 4,
        };
        let len = 4 + job.out_len();
        OutputPlan {
            root: root.to_path_buf(),
            name: "test".into(),
            files: vec![
                PlannedFile {
                    rel_path: "out.bin".into(),
                    content: FileContent::Laid {
                        prefix: b"HEAD".to_vec(),
                        len,
                        tensors: vec![job],
                        segments: Vec::new(),
                        crcs: Vec::new(),
                    },
                },
                PlannedFile {
                    rel_path: "sub/index.json".into(),
                    content: FileContent::Bytes(b"{}".to_vec()),
                },
            ],
        }
    }

    #[test]
    fn writes_chunked_casts_and_cleans_up() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let values: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5 - 7.0).collect();
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = plan(
            dir.path(),
            data,
            Transform::Cast {
                from: DType::F32,
                to: DType::F16,
            },
        );
        let opts = EngineOptions {
            chunk_bytes: 1000,
            ..EngineOptions::default()
        };
        let report = run(&p, &opts, &NoProgress)?;
        let bytes = fs::read(dir.path().join("out.bin")).at("out.bin")?;
        assert_eq!(&bytes[..4], b"HEAD");
        let expect: Vec<u8> = values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes())
            .collect();
        assert_eq!(&bytes[4..], &expect[..]);
        assert!(report.chunks_written >= 20, "{}", report.chunks_written);
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.files[0].sha256, crate::checksum::sha256_hex(&bytes));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .at(dir.path())?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("modelconv") || n.ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        Ok(())
    }

    #[test]
    fn resume_keeps_verified_chunks_and_redoes_corrupt_ones() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let data: Vec<u8> = (0..40_000u32).flat_map(|v| v.to_le_bytes()).collect();
        let p = plan(dir.path(), data.clone(), Transform::Copy);
        let opts = EngineOptions {
            chunk_bytes: 4096,
            ..EngineOptions::default()
        };
        // Simulate an interrupted run: a journal with two chunks, one of
        // which was written correctly and one whose bytes are wrong.
        let partial = dir.path().join("out.bin.partial");
        let mut content = vec![0u8; 4 + data.len()];
        content[4..4 + 4096].copy_from_slice(&data[..4096]);
        content[4 + 4096..4 + 8192].fill(0xAB);
        fs::write(&partial, &content).at(&partial)?;
        let good = crc32fast::hash(&data[..4096]);
        let bad = crc32fast::hash(&data[4096..8192]);
        let journal = format!(
            "{}\n{}\n{}\n{{\"chunk\":[0,4,40",
            serde_json::json!({"v": 1, "fingerprint": p.fingerprint()}),
            serde_json::json!({"chunk": [0, 4, 4096, good]}),
            serde_json::json!({"chunk": [0, 4100, 4096, bad]}),
        );
        fs::write(p.root.join(p.journal_name()), journal).at("journal")?;
        let report = run(
            &p,
            &EngineOptions {
                resume: true,
                ..opts
            },
            &NoProgress,
        )?;
        assert_eq!(report.chunks_kept, 1);
        let bytes = fs::read(dir.path().join("out.bin")).at("out.bin")?;
        assert_eq!(&bytes[4..], &data[..]);
        Ok(())
    }

    #[test]
    fn too_little_disk_space_is_refused_before_writing() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let root = dir.path().join("out");
        let huge = 1u64 << 60; // more than any test machine has free
        let p = OutputPlan {
            root: root.clone(),
            name: "huge".into(),
            files: vec![PlannedFile {
                rel_path: "huge.bin".into(),
                content: FileContent::Laid {
                    prefix: Vec::new(),
                    len: huge,
                    tensors: Vec::new(),
                    segments: Vec::new(),
                    crcs: Vec::new(),
                },
            }],
        };
        match run(&p, &EngineOptions::default(), &NoProgress) {
            Err(Error::NoSpace {
                needed, available, ..
            }) => {
                assert_eq!(needed, huge);
                assert!(available < huge);
            }
            other => return Err(Error::Internal(format!("expected NoSpace, got {other:?}"))),
        }
        assert!(!root.exists(), "nothing may be left behind");
        Ok(())
    }

    /// Cancels after a number of progress events.
    struct CancelAfter(std::sync::atomic::AtomicU64, u64);

    impl Reporter for CancelAfter {
        fn advance(&self, _bytes: u64, _tensors: u64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn cancelled(&self) -> bool {
            self.0.load(Ordering::Relaxed) >= self.1
        }
    }

    #[test]
    fn cancelling_leaves_nothing_behind() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let root = dir.path().join("out");
        let data: Vec<u8> = (0..40_000u32).flat_map(|v| v.to_le_bytes()).collect();
        let mut p = plan(&root, data, Transform::Copy);
        // A finished file before the one that gets cancelled.
        p.files.insert(
            0,
            PlannedFile {
                rel_path: "sub/first.json".into(),
                content: FileContent::Bytes(b"{}".to_vec()),
            },
        );
        let opts = EngineOptions {
            chunk_bytes: 4096,
            threads: 1,
            ..EngineOptions::default()
        };
        let r = run(&p, &opts, &CancelAfter(AtomicU64::new(0), 5));
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        assert!(
            !root.exists(),
            "left behind: {:?}",
            fs::read_dir(&root).map(|d| d.count())
        );
        Ok(())
    }

    #[test]
    fn locked_output_is_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let p = plan(dir.path(), vec![0; 16], Transform::Copy);
        let lock = File::create(p.root.join(p.lock_name())).at("lock")?;
        lock.lock().at("lock")?;
        let err = run(&p, &EngineOptions::default(), &NoProgress);
        assert!(matches!(err, Err(Error::Locked(_))), "{err:?}");
        Ok(())
    }
}
