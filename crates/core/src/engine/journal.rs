//! The resume journal: one JSON line per finished chunk (with its CRC-32)
//! and per finished file (with its SHA-256), after a header naming the
//! plan's fingerprint. A journal of another plan is ignored.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::fsx::{Access, OutDir};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum JournalLine {
    Header { v: u32, fingerprint: String },
    Chunk { chunk: (usize, u64, u64, u32) },
    File { file: usize, sha256: String },
}

#[derive(Default)]
pub(super) struct JournalState {
    pub(super) chunks: HashMap<usize, Vec<(u64, u64, u32)>>,
    pub(super) files: HashMap<usize, String>,
}

pub(super) fn read_journal(dir: &OutDir, name: &str, fingerprint: &str) -> Option<JournalState> {
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

pub(super) struct Journal {
    pub(super) path: PathBuf,
    pub(super) file: Mutex<File>,
}

impl Journal {
    pub(super) fn append(&self, line: &JournalLine) -> Result<()> {
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
