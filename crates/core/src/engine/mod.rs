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
//!   (the `pipeline` module). Resident memory is about `(2 × threads +
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
//!   from is checked again (`TensorSource::check_unchanged`): an input
//!   truncated or rewritten during the run fails it with
//!   [`Error::InputChanged`] instead of publishing mixed bytes.
//!
//! On any error the file being written is removed (kept for `resume` when
//! resuming, or when cancelled with `keep_on_cancel`), so no file with a
//! final name is incomplete; files finished
//! earlier stay with the journal so `--resume` can keep them, and the last
//! file of the plan (the shard index) is never written.
//!
//! Fault injection (tests, `test-hooks` feature): `EngineOptions::hooks`
//! makes one of the engine's own file operations fail on purpose — the write that crosses
//! byte N, the N-th fsync or the N-th rename — with a chosen errno
//! ([`Fault::parse`]: `write:N`, `fsync[:N]`, `rename[:N]`, optionally
//! `=enospc|eio|erofs`). Every write, fsync and rename of output data goes
//! through the same three helpers (and [`OutFile`] for streamed formats),
//! so a failure behaves exactly like the real one.
//!
//! Layout: `plan` (the types writers produce), `write` (one file under its
//! temporary name), `pipeline` (the chunk pipeline of laid-out files),
//! `journal` (resume), `lock`, `faults` (file operations and injection). The CLI sets it from
//! `MODELCONV_TEST_FAIL_AT` in debug builds only.

mod faults;
mod journal;
mod lock;
mod pipeline;
mod plan;
mod write;

use std::fs;
use std::sync::{Arc, Mutex};

use crate::checksum::sha256_reader;
use crate::error::{Error, IoContext, Result};
use crate::fsx::{Access, OutDir};
use crate::progress::Reporter;

pub use faults::{Fault, FaultOp, OutFile};
pub use lock::held_by_another;
pub use plan::*;

use faults::{rename_file, Faults};
use journal::{read_journal, Journal, JournalLine};
use lock::acquire_lock;

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
    #[cfg(feature = "test-hooks")]
    let fault = opts.hooks.fault;
    #[cfg(not(feature = "test-hooks"))]
    let fault = None;
    let faults = Arc::new(Faults::new(fault, opts.no_sync));
    let result = run_locked(plan, &out, opts, reporter, &faults, &mut written);
    let cancelled = matches!(result, Err(Error::Cancelled));
    let keep = cancelled && opts.keep_on_cancel;
    if cancelled && !opts.resume && !keep {
        // A cancelled run leaves nothing behind.
        remove_written(&out, &written);
        written.clear();
    }
    if result.is_err() && written.is_empty() && !opts.resume && !keep {
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

/// One run of a plan: what writing every file shares.
struct Run<'a> {
    plan: &'a OutputPlan,
    out: &'a OutDir,
    opts: &'a EngineOptions,
    reporter: &'a dyn Reporter,
    faults: Arc<Faults>,
    pool: rayon::ThreadPool,
    journal: Journal,
    /// What the interrupted run finished (empty when not resuming).
    state: journal::JournalState,
    resuming: bool,
}

fn run_locked(
    plan: &OutputPlan,
    out: &OutDir,
    opts: &EngineOptions,
    reporter: &dyn Reporter,
    faults: &Arc<Faults>,
    written: &mut Vec<String>,
) -> Result<WriteReport> {
    let run = Run::start(plan, out, opts, reporter, faults)?;
    let mut report = WriteReport::default();
    for (idx, file) in plan.files.iter().enumerate() {
        if reporter.cancelled() {
            return Err(Error::Cancelled);
        }
        let done = match run.keep(idx, file)? {
            Some(kept) => kept,
            None => {
                let w = run.publish(idx, file, &mut report)?;
                written.push(file.rel_path.clone());
                w
            }
        };
        report.files.push(done);
    }
    run.finish(report)
}

impl<'a> Run<'a> {
    /// Reads the journal when resuming, checks free space, opens the journal,
    /// starts the workers and the progress report.
    fn start(
        plan: &'a OutputPlan,
        out: &'a OutDir,
        opts: &'a EngineOptions,
        reporter: &'a dyn Reporter,
        faults: &Arc<Faults>,
    ) -> Result<Self> {
        let fingerprint = plan.fingerprint();
        let journal_name = plan.journal_name();
        let state = match opts.resume {
            true => {
                let state = read_journal(out, &journal_name, &fingerprint);
                if state.is_none() && out.file_type(&journal_name).is_some() {
                    reporter.note("the resume journal belongs to a different conversion (options or inputs changed); starting over");
                }
                state
            }
            false => None,
        };
        let resuming = state.is_some();
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
            path: plan.root.join(&journal_name),
            file: Mutex::new(journal_file),
        };
        if !resuming {
            journal.append(&JournalLine::Header { v: 1, fingerprint })?;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| Error::Internal(format!("cannot start worker threads: {e}")))?;
        let (tensors, bytes) = plan
            .files
            .iter()
            .fold((0u64, 0u64), |acc, f| match &f.content {
                FileContent::Laid { tensors, .. } => (
                    acc.0 + tensors.len() as u64,
                    acc.1 + tensors.iter().map(TensorJob::out_len).sum::<u64>(),
                ),
                _ => acc,
            });
        reporter.start("writing", tensors, bytes);
        Ok(Run {
            plan,
            out,
            opts,
            reporter,
            faults: Arc::clone(faults),
            pool,
            journal,
            state: state.unwrap_or_default(),
            resuming,
        })
    }

    /// A file the interrupted run finished, kept if its checksum still matches.
    fn keep(&self, idx: usize, file: &PlannedFile) -> Result<Option<WrittenFile>> {
        let Some(sha) = self.state.files.get(&idx) else {
            return Ok(None);
        };
        let target = self.plan.root.join(&file.rel_path);
        let (dir, name) = self.out.parent_of(&file.rel_path, true)?;
        let Some(mut f) = dir.open_existing(&name, Access::Read)? else {
            return Ok(None);
        };
        if sha256_reader(&mut f, &target)? != *sha {
            return Ok(None);
        }
        let size = f.metadata().at(&target)?.len();
        if let FileContent::Laid { tensors, .. } = &file.content {
            let bytes = tensors.iter().map(TensorJob::out_len).sum();
            self.reporter.advance(bytes, tensors.len() as u64);
        }
        self.reporter
            .note(&format!("kept {} (checksum matches)", file.rel_path));
        Ok(Some(WrittenFile {
            path: target,
            size,
            sha256: sha.clone(),
            kept: true,
        }))
    }

    /// Writes file `idx` under its temporary name, checks that its inputs
    /// did not change, renames it into place and journals it.
    fn publish(
        &self,
        idx: usize,
        file: &PlannedFile,
        report: &mut WriteReport,
    ) -> Result<WrittenFile> {
        let target = self.plan.root.join(&file.rel_path);
        let (dir, name) = self.out.parent_of(&file.rel_path, true)?;
        let partial_name = format!("{name}.partial");
        let partial_path = self.plan.root.join(format!("{}.partial", file.rel_path));
        let partial = write::Partial {
            dir: &dir,
            name: &partial_name,
            path: &partial_path,
        };
        let finished = self
            .write_file(idx, file, &partial, report)
            .and_then(|done| {
                // An input truncated or rewritten meanwhile: do not publish.
                if let FileContent::Laid { tensors, .. } = &file.content {
                    for t in tensors {
                        t.source.check_unchanged()?;
                    }
                }
                rename_file(&dir, &partial_name, &name, &self.faults)?;
                Ok(done)
            });
        let (sha256, size) = match finished {
            Ok(v) => v,
            Err(e) => {
                // Finished files stay (the journal lets `resume` keep them);
                // the unfinished one is removed unless this run resumes.
                let keep = self.opts.keep_on_cancel && matches!(e, Error::Cancelled);
                if !self.opts.resume && !keep {
                    let _ = dir.remove_regular(&partial_name);
                }
                return Err(e);
            }
        };
        if !self.opts.no_sync {
            dir.sync();
        }
        self.journal.append(&JournalLine::File {
            file: idx,
            sha256: sha256.clone(),
        })?;
        Ok(WrittenFile {
            path: target,
            size,
            sha256,
            kept: false,
        })
    }

    /// Ends the run: the journal goes, the directory is synced.
    fn finish(self, mut report: WriteReport) -> Result<WriteReport> {
        self.reporter.finish();
        let journal_name = self.plan.journal_name();
        drop(self.journal);
        self.out.unlink(&journal_name)?;
        if !self.opts.no_sync {
            self.out.sync();
        }
        report.overflows.sort();
        Ok(report)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::progress::NoProgress;
    use crate::tensor::{OwnedBytes, TensorSource};
    use std::fs::File;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

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
