//! Writing one planned file under its temporary name: small files given
//! whole, copies of carried files, streamed files (Parquet, metadata), and
//! laid-out files (safetensors, GGUF, npz), whose tensors go through the
//! chunk pipeline ([`super::pipeline`]).

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result};
use crate::fsx::{Access, OutDir};

use super::faults::{sync_file, write_at, OutFile};
use super::pipeline::{self, Chunk, LaidCtx};
use super::{
    CrcPart, CrcPatch, FileContent, PlannedFile, Run, StreamWriter, TensorJob, WriteReport,
};

/// Where one file is being written: its directory, temporary name and path.
pub(super) struct Partial<'a> {
    /// The directory the file goes into.
    pub dir: &'a OutDir,
    /// `NAME.partial`.
    pub name: &'a str,
    /// Its full path (messages).
    pub path: &'a Path,
}

impl Run<'_> {
    /// Writes file `idx` of the plan to `partial` and fsyncs it; returns its
    /// SHA-256 and size.
    pub(super) fn write_file(
        &self,
        idx: usize,
        file: &PlannedFile,
        partial: &Partial<'_>,
        report: &mut WriteReport,
    ) -> Result<(String, u64)> {
        match &file.content {
            FileContent::Bytes(bytes) => {
                let f = partial.dir.create_new(partial.name)?;
                write_at(&f, bytes, 0, &self.faults, partial.path)?;
                sync_file(&f, &self.faults, partial.path)?;
                Ok((crate::checksum::sha256_hex(bytes), bytes.len() as u64))
            }
            FileContent::Streamed(w) => self.write_streamed(w.as_ref(), partial, report),
            FileContent::CopyOf(src) => self.write_copy(src, partial),
            FileContent::Laid {
                prefix,
                len,
                tensors,
                segments,
                crcs,
            } => {
                let laid = Laid {
                    idx,
                    prefix,
                    len: *len,
                    tensors,
                    segments,
                    crcs,
                };
                self.write_laid(&laid, partial, report)
            }
        }
    }

    /// A file written front to back by format code.
    fn write_streamed(
        &self,
        w: &dyn StreamWriter,
        partial: &Partial<'_>,
        report: &mut WriteReport,
    ) -> Result<(String, u64)> {
        let file = partial.dir.create_new(partial.name)?;
        let out = OutFile {
            file,
            faults: Arc::clone(&self.faults),
            error: None,
            sha256: Sha256::new(),
        };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        let stats = match w.write(&mut out, self.reporter) {
            Ok(s) => s,
            // A write error (disk full, EIO) is an environment error
            // naming the file, however the format's writer wrapped it.
            Err(e) => {
                return Err(match out.get_mut().error.take() {
                    Some(io) => Error::io(partial.path, io),
                    None => e,
                })
            }
        };
        let out = out.into_inner().map_err(|e| {
            let (e, mut out) = e.into_parts();
            Error::io(partial.path, out.get_mut().error.take().unwrap_or(e))
        })?;
        report.overflows.extend(stats.overflows);
        sync_file(&out.file, &self.faults, partial.path)?;
        let size = out.file.metadata().at(partial.path)?.len();
        // Written front to back: the hash of what went through is the file's.
        Ok((crate::checksum::hex(&out.sha256.finalize()), size))
    }

    /// A carried file: the source must be a regular file (never a FIFO or
    /// device); the copy goes through the fault injector like every write.
    fn write_copy(&self, src: &Path, partial: &Partial<'_>) -> Result<(String, u64)> {
        let mut input = crate::fsx::open_input(src)?;
        let f = partial.dir.create_new(partial.name)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        loop {
            let n = std::io::Read::read(&mut input, &mut buf).at(src)?;
            let Some(piece) = buf.get(..n).filter(|p| !p.is_empty()) else {
                break;
            };
            write_at(&f, piece, at, &self.faults, partial.path)?;
            h.update(piece);
            at += n as u64;
        }
        sync_file(&f, &self.faults, partial.path)?;
        Ok((crate::checksum::hex(&h.finalize()), at))
    }

    /// A laid-out file: header and fixed segments, then the tensors through
    /// the chunk pipeline (resuming keeps chunks whose CRC still matches),
    /// then the CRC-32 fields patched in.
    fn write_laid(
        &self,
        laid: &Laid<'_>,
        partial: &Partial<'_>,
        report: &mut WriteReport,
    ) -> Result<(String, u64)> {
        // Resuming: the interrupted run's partial file, if it has the
        // planned length; otherwise a new one.
        let existing = match self.resuming {
            true => partial
                .dir
                .open_existing(partial.name, Access::ReadWrite)?
                .filter(|f| f.metadata().is_ok_and(|m| m.len() == laid.len)),
            false => None,
        };
        let reuse = existing.is_some();
        let f = match existing {
            Some(f) => f,
            None => {
                let f = partial.dir.create_new(partial.name)?;
                f.set_len(laid.len).at(partial.path)?;
                f
            }
        };
        write_at(&f, laid.prefix, 0, &self.faults, partial.path)?;
        for (off, bytes) in laid.segments {
            write_at(&f, bytes, *off, &self.faults, partial.path)?;
        }
        let chunks = cut_chunks(laid.tensors, self.opts.chunk_bytes);
        let remaining: Vec<AtomicUsize> = (0..laid.tensors.len())
            .map(|_| AtomicUsize::new(0))
            .collect();
        for c in &chunks {
            if let Some(r) = remaining.get(c.job) {
                r.fetch_add(1, Ordering::Relaxed);
            }
        }
        let done = match reuse {
            true => self.verified_chunks(laid.idx, &f),
            false => HashMap::new(),
        };
        let overflow: Vec<AtomicU64> = (0..laid.tensors.len()).map(|_| AtomicU64::new(0)).collect();
        let chunk_crcs: Vec<AtomicU32> = (0..chunks.len()).map(|_| AtomicU32::new(0)).collect();
        let (kept, written) = (AtomicU64::new(0), AtomicU64::new(0));
        let ctx = LaidCtx {
            file: &f,
            len: laid.len,
            partial: partial.path,
            faults: &self.faults,
            reporter: self.reporter,
            journal: &self.journal,
            idx: laid.idx,
            opts: self.opts,
            threads: self.pool.current_num_threads().max(1),
            done: &done,
            overflow: &overflow,
            chunk_crcs: &chunk_crcs,
            remaining: &remaining,
            kept: &kept,
            written: &written,
        };
        // The file's SHA-256 is computed while writing when nothing is
        // patched in afterwards (CRC fields are); otherwise it is read back.
        let sha256 = pipeline::write_in_order(&ctx, &chunks, laid.crcs.is_empty())?;
        report.chunks_kept += kept.into_inner();
        report.chunks_written += written.into_inner();
        for (t, o) in laid.tensors.iter().zip(overflow) {
            let n = o.into_inner();
            if n > 0 {
                report.overflows.push((t.name.clone(), n));
            }
        }
        // Chunk indices by tensor (then file order), for the CRC patches:
        // one lookup per tensor, not a scan of all chunks (an .npz of 50k
        // members has 50k patches).
        let mut by_job: Vec<usize> = (0..chunks.len()).collect();
        by_job.sort_by_key(|&i| chunks.get(i).map(|c| (c.job, c.out_offset)));
        for patch in laid.crcs {
            let value = patch_value(patch, &chunks, &by_job, &chunk_crcs).to_le_bytes();
            for &at in &patch.at {
                write_at(&f, &value, at, &self.faults, partial.path)?;
            }
        }
        sync_file(&f, &self.faults, partial.path)?;
        let sha256 = match sha256 {
            Some(h) => h,
            None => crate::checksum::sha256_reader(&mut &f, partial.path)?,
        };
        Ok((sha256, laid.len))
    }

    /// Chunks of file `idx` the interrupted run finished whose bytes still
    /// check out: `(offset, len) → CRC-32`.
    fn verified_chunks(&self, idx: usize, f: &std::fs::File) -> HashMap<(u64, u64), u32> {
        let mut done = HashMap::new();
        let journaled = self
            .state
            .chunks
            .get(&idx)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for &(off, clen, crc) in journaled {
            let mut buf = vec![0u8; usize::try_from(clen).unwrap_or(0)];
            if f.read_exact_at(&mut buf, off).is_ok() && crc32fast::hash(&buf) == crc {
                done.insert((off, clen), crc);
            }
        }
        done
    }
}

/// A laid-out file's content, borrowed from its [`FileContent::Laid`].
struct Laid<'a> {
    idx: usize,
    prefix: &'a [u8],
    len: u64,
    tensors: &'a [TensorJob],
    segments: &'a [(u64, Vec<u8>)],
    crcs: &'a [CrcPatch],
}

/// Cuts the tensors into chunks of at most `chunk_bytes` output bytes, on
/// element boundaries, in file order. Zero-size tensors get no chunk.
fn cut_chunks(tensors: &[TensorJob], chunk_bytes: usize) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    for (job, t) in tensors.iter().enumerate() {
        let (num, den) = t.transform.ratio();
        let elem = t.transform.in_elem();
        let step_in = (chunk_bytes.max(64) / num * den / elem).max(1) * elem;
        let in_len = t.source.len();
        let mut start = 0;
        while start < in_len {
            let end = (start + step_in).min(in_len);
            chunks.push(Chunk {
                job,
                tensor: t,
                in_start: start,
                in_end: end,
                out_offset: t.offset + (start / den * num) as u64,
                out_len: ((end - start) / den * num) as u64,
            });
            start = end;
        }
    }
    // File order: the pipeline writes and hashes front to back.
    chunks.sort_by_key(|c| c.out_offset);
    chunks
}

/// The CRC-32 a patch covers, combined from its fixed bytes and the CRCs
/// of the chunks of the tensors it covers. `by_job` lists chunk indices
/// sorted by (tensor, offset).
fn patch_value(
    patch: &CrcPatch,
    chunks: &[Chunk<'_>],
    by_job: &[usize],
    chunk_crcs: &[AtomicU32],
) -> u32 {
    let job_of = |i: &usize| chunks.get(*i).map_or(usize::MAX, |c| c.job);
    let mut h = crc32fast::Hasher::new();
    for part in &patch.parts {
        match part {
            CrcPart::Bytes(b) => h.update(b.as_slice()),
            CrcPart::Tensor(job) => {
                let first = by_job.partition_point(|i| job_of(i) < *job);
                let last = by_job.partition_point(|i| job_of(i) <= *job);
                for i in by_job.get(first..last).unwrap_or_default() {
                    if let (Some(c), Some(crc)) = (chunks.get(*i), chunk_crcs.get(*i)) {
                        h.combine(&crc32fast::Hasher::new_with_initial_len(
                            crc.load(Ordering::Relaxed),
                            c.out_len,
                        ));
                    }
                }
            }
        }
    }
    h.finalize()
}
