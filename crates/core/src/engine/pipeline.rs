//! The chunk pipeline of a laid-out file (chunks sorted by offset):
//!
//! - `threads` workers take chunks in file order, read and cast them
//!   ([`Pipeline::produce`]);
//! - the calling thread puts them back in order and writes each with one
//!   positional write ([`Pipeline::write_loop`]; a single writer, because
//!   concurrent buffered writes to one file serialise on the inode lock and
//!   spin);
//! - a hasher thread computes the file's SHA-256 front to back from the
//!   written chunks, reading the bytes between them (header, padding) back
//!   from the file, so the file is not read again at the end
//!   ([`Pipeline::hash`]).
//!
//! Workers stay at most `threads + 2` chunks ahead of the writer — or, over
//! small chunks (many small tensors), as many as fit in a quarter of a full
//! chunk, up to [`MAX_AHEAD`] — and the hasher at most 2 messages
//! behind (small adjacent chunks go to it in one), so memory is bounded by
//! about `2 × threads + 5` chunks; chunk buffers are pooled ([`BufPool`]).
//! Without the byte window, 100k one-element tensors cost two thread
//! handoffs each and most of a conversion's time.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Condvar, Mutex};

use sha2::{Digest, Sha256};

use crate::cast::{cast, CastStats};
use crate::error::{Error, IoContext, Result};
use crate::progress::Reporter;

use super::faults::{write_at, Faults};
use super::journal::{Journal, JournalLine};
use super::{EngineOptions, TensorJob, Transform};

/// One piece of one tensor: input byte range and where its output goes.
pub(super) struct Chunk<'a> {
    /// Index of the tensor in its file.
    pub job: usize,
    /// The tensor.
    pub tensor: &'a TensorJob,
    /// Input byte range.
    pub in_start: usize,
    /// End of the input byte range.
    pub in_end: usize,
    /// Where the output goes in the file.
    pub out_offset: u64,
    /// Output length.
    pub out_len: u64,
}

/// What the pipeline needs from the file being written.
pub(super) struct LaidCtx<'a> {
    pub file: &'a File,
    pub len: u64,
    pub partial: &'a Path,
    pub faults: &'a Faults,
    pub reporter: &'a dyn Reporter,
    pub journal: &'a Journal,
    pub idx: usize,
    pub opts: &'a EngineOptions,
    pub threads: usize,
    /// Chunks kept from the interrupted run: `(offset, len)` → CRC-32.
    pub done: &'a HashMap<(u64, u64), u32>,
    /// Per tensor: finite values that overflowed when cast.
    pub overflow: &'a [AtomicU64],
    /// Per chunk: its CRC-32 (filled in as chunks are written).
    pub chunk_crcs: &'a [AtomicU32],
    /// Per tensor: chunks not written yet.
    pub remaining: &'a [AtomicUsize],
    pub kept: &'a AtomicU64,
    pub written: &'a AtomicU64,
}

/// A chunk's output, produced by a worker: its bytes (None: kept from the
/// interrupted run, already on disk) and their CRC-32.
type Produced = Result<(usize, Option<Vec<u8>>, u32)>;

/// Most chunks the workers run ahead of the writer (small chunks).
const MAX_AHEAD: usize = 4096;

/// The shared state of one file's pipeline.
struct Pipeline<'a, 'c> {
    ctx: &'a LaidCtx<'c>,
    chunks: &'a [Chunk<'c>],
    window: usize,
    /// Bytes of small chunks the workers may run ahead of the writer past
    /// `window` chunks (a quarter of a full chunk).
    window_bytes: u64,
    /// `ends[i]`: output bytes of chunks `0..i`.
    ends: Vec<u64>,
    next: AtomicUsize,
    /// Index of the next chunk the writer waits for; workers do not start a
    /// chunk `window` or more past it. `usize::MAX` = stop.
    gate: (Mutex<usize>, Condvar),
    /// Set when every chunk was written: only then does the hasher read the
    /// file's tail (after a failure it just stops).
    all_written: AtomicBool,
    pool: BufPool,
}

/// Writes `chunks` into the file in order; returns the file's SHA-256 when
/// `hash` is set (see the module docs).
pub(super) fn write_in_order(
    ctx: &LaidCtx<'_>,
    chunks: &[Chunk<'_>],
    hash: bool,
) -> Result<Option<String>> {
    let window = ctx.threads + 2;
    let mut ends = Vec::with_capacity(chunks.len() + 1);
    ends.push(0u64);
    for c in chunks {
        ends.push(ends.last().copied().unwrap_or(0) + c.out_len);
    }
    let p = Pipeline {
        ctx,
        chunks,
        window,
        window_bytes: (ctx.opts.chunk_bytes / 4).max(1) as u64,
        ends,
        next: AtomicUsize::new(0),
        gate: (Mutex::new(0), Condvar::new()),
        all_written: AtomicBool::new(false),
        // Chunk buffers go back to the pool once written and hashed: reusing
        // them saves the kernel from zeroing and mapping fresh pages for every
        // chunk (a bf16 -> f16 conversion of 2.2 GB spent more time in page
        // faults than in the cast).
        pool: BufPool::new(window + 4),
    };
    std::thread::scope(|scope| -> Result<Option<String>> {
        let (tx, rx) = sync_channel::<Produced>(MAX_AHEAD);
        for _ in 0..ctx.threads.min(chunks.len().max(1)) {
            let tx = tx.clone();
            let p = &p;
            scope.spawn(move || p.worker(&tx));
        }
        drop(tx);
        let (hash_tx, hash_thread) = if hash {
            let (htx, hrx) = sync_channel::<(u64, Vec<u8>)>(2);
            let p = &p;
            (Some(htx), Some(scope.spawn(move || p.hash(hrx))))
        } else {
            (None, None)
        };
        let result = p.write_loop(&rx, hash_tx.as_ref());
        if result.is_err() {
            p.stop();
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

impl Pipeline<'_, '_> {
    fn stop(&self) {
        if let Ok(mut g) = self.gate.0.lock() {
            *g = usize::MAX;
        }
        self.gate.1.notify_all();
    }

    /// True if a worker must wait before starting chunk `ci` while the
    /// writer waits for chunk `next`.
    fn too_far_ahead(&self, ci: usize, next: usize) -> bool {
        if ci < next.saturating_add(self.window) {
            return false;
        }
        let bytes = |i: usize| self.ends.get(i).copied().unwrap_or(u64::MAX);
        ci >= next.saturating_add(MAX_AHEAD)
            || bytes(ci + 1).saturating_sub(bytes(next)) > self.window_bytes
    }

    /// A worker: takes chunks in file order, waiting while it is too far
    /// ahead of the writer; stops after its first error.
    fn worker(&self, tx: &SyncSender<Produced>) {
        loop {
            let ci = self.next.fetch_add(1, Ordering::Relaxed);
            if ci >= self.chunks.len() {
                return;
            }
            {
                let Ok(mut g) = self.gate.0.lock() else {
                    return;
                };
                while *g != usize::MAX && self.too_far_ahead(ci, *g) {
                    g = match self.gate.1.wait(g) {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                }
                if *g == usize::MAX {
                    return;
                }
            }
            let r = self.produce(ci);
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                return;
            }
        }
    }

    /// Reads and casts chunk `ci` (or notes it as kept from the interrupted run).
    fn produce(&self, ci: usize) -> Produced {
        let ctx = self.ctx;
        let c = self
            .chunks
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
                    let mut out = self.pool.take(0);
                    out.extend_from_slice(b);
                    out
                }
            },
            Transform::Cast { from, to } => {
                let mut out = self.pool.take(usize::try_from(c.out_len).unwrap_or(0));
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
        #[cfg(feature = "test-hooks")]
        if ctx.opts.hooks.chunk_delay_ms > 0 {
            std::thread::sleep(std::time::Duration::from_millis(
                ctx.opts.hooks.chunk_delay_ms,
            ));
        }
        #[cfg(not(feature = "test-hooks"))]
        let _ = ctx.opts;
        Ok((ci, Some(out), crc))
    }

    /// The writer: puts produced chunks back in file order and writes each,
    /// journaling it; sends the bytes on to the hasher.
    fn write_loop(
        &self,
        rx: &Receiver<Produced>,
        hash_tx: Option<&SyncSender<(u64, Vec<u8>)>>,
    ) -> Result<()> {
        let ctx = self.ctx;
        let mut pending: BTreeMap<usize, (Option<Vec<u8>>, u32)> = BTreeMap::new();
        let mut expected = 0usize;
        // Small adjacent chunks go to the hasher together.
        let mut to_hash: Option<(u64, Vec<u8>)> = None;
        let small = self.ctx.opts.chunk_bytes.max(1) / 4;
        let send = |t: &mut Option<(u64, Vec<u8>)>| {
            if let (Some(htx), Some(m)) = (hash_tx, t.take()) {
                // A closed channel means the hasher failed; its error is
                // reported by its thread.
                let _ = htx.send(m);
            }
        };
        for produced in rx {
            let (ci, bytes, crc) = produced?;
            pending.insert(ci, (bytes, crc));
            while let Some((bytes, crc)) = pending.remove(&expected) {
                let Some(c) = self.chunks.get(expected) else {
                    break;
                };
                if let Some(slot) = ctx.chunk_crcs.get(expected) {
                    slot.store(crc, Ordering::Relaxed);
                }
                let bytes = self.write_chunk(c, bytes, crc, hash_tx.is_some())?;
                if hash_tx.is_none() {
                    self.pool.give(bytes);
                } else {
                    match &mut to_hash {
                        Some((off, buf))
                            if *off + buf.len() as u64 == c.out_offset
                                && buf.len() + bytes.len() <= small =>
                        {
                            buf.extend_from_slice(&bytes);
                            self.pool.give(bytes);
                        }
                        _ => {
                            send(&mut to_hash);
                            to_hash = Some((c.out_offset, bytes));
                        }
                    }
                    if to_hash.as_ref().is_some_and(|(_, b)| b.len() > small) {
                        send(&mut to_hash);
                    }
                }
                let finished = ctx
                    .remaining
                    .get(c.job)
                    .is_some_and(|r| r.fetch_sub(1, Ordering::AcqRel) == 1);
                ctx.reporter.advance(c.out_len, u64::from(finished));
                expected += 1;
                if let Ok(mut g) = self.gate.0.lock() {
                    if *g != usize::MAX {
                        *g = expected;
                    }
                }
                self.gate.1.notify_all();
            }
        }
        send(&mut to_hash);
        if expected < self.chunks.len() {
            return Err(Error::Internal(format!(
                "chunk pipeline ended after {expected} of {} chunks",
                self.chunks.len()
            )));
        }
        self.all_written.store(true, Ordering::Release);
        Ok(())
    }

    /// Writes one chunk (or counts a kept one, reading it back when it is to
    /// be hashed); returns its bytes.
    fn write_chunk(
        &self,
        c: &Chunk<'_>,
        bytes: Option<Vec<u8>>,
        crc: u32,
        hashing: bool,
    ) -> Result<Vec<u8>> {
        let ctx = self.ctx;
        match bytes {
            Some(b) => {
                write_at(ctx.file, &b, c.out_offset, ctx.faults, ctx.partial)?;
                ctx.journal.append(&JournalLine::Chunk {
                    chunk: (ctx.idx, c.out_offset, c.out_len, crc),
                })?;
                ctx.written.fetch_add(1, Ordering::Relaxed);
                Ok(b)
            }
            None => {
                ctx.kept.fetch_add(1, Ordering::Relaxed);
                if !hashing {
                    return Ok(Vec::new());
                }
                let mut b = vec![0u8; usize::try_from(c.out_len).unwrap_or(0)];
                ctx.file
                    .read_exact_at(&mut b, c.out_offset)
                    .at(ctx.partial)?;
                Ok(b)
            }
        }
    }

    /// The hasher: chunks arrive in file order; the gaps before them are
    /// read back from the file (they were written before the chunks).
    fn hash(&self, rx: Receiver<(u64, Vec<u8>)>) -> Result<String> {
        let ctx = self.ctx;
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
            self.pool.give(bytes);
        }
        if !self.all_written.load(Ordering::Acquire) {
            return Err(Error::Cancelled);
        }
        hash_file_range(&mut h, pos, ctx.len)?;
        Ok(crate::checksum::hex(&h.finalize()))
    }
}

/// Byte buffers kept for reuse, at most `cap` of them. Buffers are only
/// kept once someone has taken one: when every source hands over buffers of
/// its own, keeping them would only add to the peak memory.
struct BufPool {
    bufs: Mutex<Vec<Vec<u8>>>,
    cap: usize,
    used: AtomicBool,
}

impl BufPool {
    fn new(cap: usize) -> Self {
        BufPool {
            bufs: Mutex::new(Vec::new()),
            cap,
            used: AtomicBool::new(false),
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
