// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Static safety scan of pickle-bearing files (`modelconv scan`).
//!
//! Reports what `torch.load(weights_only=False)` / `pickle.load` would
//! import, without importing anything: every pickle in the file runs on
//! modelconv's own VM with a permissive host, which records each GLOBAL /
//! STACK_GLOBAL (resolved from the VM's stack, so the memo tricks that fool
//! opcode-pattern scanners do not apply) and replaces the callable by an
//! inert placeholder. Globals are judged against the same allow-list the
//! reader uses, not a block-list.
//!
//! Which bytes are pickles is decided by content, not by name: every zip
//! member whose name ends in `.pkl` in any case or whose bytes start like
//! a protocol-2+ pickle, and for non-zip files the pickles concatenated
//! from the first byte (a legacy checkpoint holds five). Anything the scan
//! cannot read to the end is reported: a loader may be more lenient than
//! we are (PyTorch ignores zip CRCs), so "unreadable" is not "safe".

use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};
use std::path::Path;

use modelconv_core::error::Result;
use modelconv_core::tensor::MmapFile;

use std::rc::Rc;

use super::host::{is_allowed, GlobalStatus};
use super::pickle::{self, Host, Instance, Limits, Obj, PResult, Value, Vm};
use super::MAX_PICKLE_BYTES;

/// How many concatenated pickles a non-zip file is scanned for.
const MAX_PICKLES: usize = 16;

/// One pickle stream that was scanned.
#[derive(Debug, Clone, Default)]
pub struct ScannedPickle {
    /// Zip member name, or `@OFFSET` in a plain file.
    pub location: String,
    /// Every global referenced, with its allow-list status.
    pub globals: BTreeMap<String, GlobalStatus>,
    /// Why the VM stopped before STOP, if it did (malformed, limits).
    pub error: Option<String>,
}

/// What [`scan_file`] found.
#[derive(Debug, Clone, Default)]
pub struct PickleScan {
    /// `zip`, `torchscript` or `pickle`.
    pub container: &'static str,
    /// Every pickle found.
    pub pickles: Vec<ScannedPickle>,
    /// TorchScript code members (`code/*.py`): `torch.jit.load` runs them.
    pub code_members: Vec<String>,
    /// Archive-level problems (unreadable zip, duplicate or case-folded
    /// names, unreadable members).
    pub problems: Vec<String>,
    /// `.npy` members (of an `.npz`) holding object arrays:
    /// `np.load(allow_pickle=True)` unpickles their data.
    pub object_arrays: Vec<String>,
}

/// True if `b` starts like a protocol-2+ pickle (PROTO 2..=5).
fn looks_like_pickle(b: &[u8]) -> bool {
    matches!(b, [0x80, 2..=5, ..])
}

/// A host that records globals and builds nothing: calls give inert
/// objects, persistent ids give None, BUILD on anything is accepted. So
/// only a pickle that is malformed at the opcode level stops the scan,
/// never torch semantics (an unsupported storage class, say).
struct ScanHost {
    torchscript: bool,
    globals: BTreeMap<String, GlobalStatus>,
}

impl Host for ScanHost {
    fn global(&mut self, _vm: &mut Vm, module: &str, name: &str) -> PResult<Value> {
        let status = if is_allowed(module, name, self.torchscript) {
            GlobalStatus::Allowed
        } else {
            GlobalStatus::Forbidden
        };
        self.globals.insert(format!("{module}.{name}"), status);
        Ok(Value::Global(Rc::new((
            module.to_string(),
            name.to_string(),
        ))))
    }

    fn call(&mut self, vm: &mut Vm, callable: &Value, args: Value) -> PResult<Value> {
        let class = match callable {
            Value::Global(g) => Rc::clone(g),
            _ => Rc::new(("<result>".to_string(), "<call>".to_string())),
        };
        // Containers stay containers, so SETITEMS/APPENDS that follow work.
        match (class.0.as_str(), class.1.as_str()) {
            ("collections", "OrderedDict" | "defaultdict")
            | ("builtins" | "__builtin__", "dict") => return vm.alloc(Obj::Dict(Box::default())),
            ("builtins" | "__builtin__", "list") => return vm.alloc(Obj::List(Vec::new())),
            ("builtins" | "__builtin__", "set" | "frozenset") => {
                return vm.alloc(Obj::Set(Vec::new()))
            }
            _ => {}
        }
        vm.alloc(Obj::Object(Box::new(Instance {
            class,
            args: Some(args),
            state: None,
        })))
    }

    fn persistent_load(&mut self, _vm: &mut Vm, _pid: Value) -> PResult<Value> {
        Ok(Value::None)
    }

    fn build(&mut self, vm: &mut Vm, obj: &Value, state: Value) -> PResult<()> {
        let _ = vm.default_build(obj, state);
        Ok(())
    }
}

fn scan_pickle(location: String, bytes: &[u8], torchscript: bool) -> (ScannedPickle, usize) {
    let mut host = ScanHost {
        torchscript,
        globals: BTreeMap::new(),
    };
    let mut vm = Vm::new(Limits::default());
    let (error, used) = match pickle::run(bytes, &mut host, &mut vm) {
        Ok((_, used)) => (None, used),
        Err(e) => (
            Some(format!("{} at byte {}", e.detail, e.offset)),
            bytes.len(),
        ),
    };
    (
        ScannedPickle {
            location,
            globals: host.globals,
            error,
        },
        used,
    )
}

/// Scans a zip, legacy or plain pickle file. Errors only for I/O on the
/// file itself; everything about its content is in the result.
pub fn scan_file(path: &Path) -> Result<PickleScan> {
    let file = MmapFile::open(path)?;
    let bytes = file.bytes();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Ok(scan_zip(bytes));
    }
    Ok(scan_plain(bytes, 0))
}

/// Scans the pickles of a plain (non-zip) file from byte `start` on, e.g.
/// the data of an `.npy` object array.
pub fn scan_file_from(path: &Path, start: usize) -> Result<PickleScan> {
    let file = MmapFile::open(path)?;
    Ok(scan_plain(file.bytes(), start))
}

fn scan_plain(bytes: &[u8], start: usize) -> PickleScan {
    let mut out = PickleScan {
        container: "pickle",
        ..PickleScan::default()
    };
    let mut pos = start;
    while out.pickles.len() < MAX_PICKLES {
        let Some(rest) = bytes.get(pos..) else { break };
        // The first pickle may be protocol 0/1 (no PROTO opcode); later
        // ones are only followed while they look like pickles.
        if rest.is_empty() || (pos > start && !looks_like_pickle(rest)) {
            break;
        }
        let (p, used) = scan_pickle(format!("@{pos}"), rest, false);
        let stop = p.error.is_some() || used == 0;
        out.pickles.push(p);
        if stop {
            break;
        }
        pos += used;
    }
    out
}

fn scan_zip(bytes: &[u8]) -> PickleScan {
    let mut out = PickleScan {
        container: "zip",
        ..PickleScan::default()
    };
    let mut zip = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(z) => z,
        Err(e) => {
            out.problems.push(format!(
                "the zip archive cannot be read ({e}); a lenient loader may still load it"
            ));
            return out;
        }
    };
    if zip.has_duplicate_names() {
        out.problems.push(
            "two members share a name: Python's zipfile opens the last, torch's miniz the first"
                .into(),
        );
    }
    // From the central directory only: no member's local header is read.
    let names: Vec<String> = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i)?.ok().map(String::from))
        .collect();
    let mut lower: BTreeMap<String, &str> = BTreeMap::new();
    for n in &names {
        if let Some(prev) = lower.insert(n.to_ascii_lowercase(), n) {
            if prev != n {
                out.problems
                    .push(format!("members '{prev}' and '{n}' differ only in case"));
            }
        }
    }
    let torchscript = names
        .iter()
        .any(|n| n.ends_with("constants.pkl") || n.contains("/code/") || n.starts_with("code/"));
    if torchscript {
        out.container = "torchscript";
    }
    // `torch.load` unpickles only `<prefix>/data.pkl` (and TorchScript's
    // `.pkl` members); a storage `<prefix>/data/<n>` is raw tensor bytes,
    // which may start like a pickle by chance (65541.0f32 is `80 02 80 47`).
    let archives: HashSet<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("/data.pkl"))
        .collect();
    let is_storage = |name: &str| {
        name.rsplit_once("/data/").is_some_and(|(prefix, key)| {
            archives.contains(prefix) && !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit())
        })
    };
    for (i, name) in names.iter().enumerate() {
        if is_storage(name) {
            continue;
        }
        let is_code =
            (name.contains("/code/") || name.starts_with("code/")) && !name.ends_with(".debug_pkl");
        if is_code && !name.ends_with('/') {
            out.code_members.push(name.clone());
        }
        let named_pkl = name.to_ascii_lowercase().ends_with(".pkl");
        let mut m = match zip.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                out.problems
                    .push(format!("member '{name}' cannot be read: {e}"));
                continue;
            }
        };
        let mut head = [0u8; 2];
        let mut data = Vec::new();
        let mut reader = (&mut m).take(MAX_PICKLE_BYTES + 1);
        let mut location = name.clone();
        let read = if named_pkl {
            reader.read_to_end(&mut data).map(|_| ())
        } else {
            // Only pull the whole member in if it starts like a pickle, or
            // is an npy object array (whose data is a pickle).
            match reader.read_exact(&mut head) {
                Ok(()) if looks_like_pickle(&head) => {
                    data.extend_from_slice(&head);
                    reader.read_to_end(&mut data).map(|_| ())
                }
                Ok(()) if head == [0x93, b'N'] => match npy_object_header(&mut reader) {
                    Some(offset) => {
                        out.object_arrays.push(name.clone());
                        location = format!("{name}@{offset}");
                        reader.read_to_end(&mut data).map(|_| ())
                    }
                    None => continue,
                },
                Ok(()) => continue,
                Err(_) => continue,
            }
        };
        if let Err(e) = read {
            out.problems.push(format!(
                "member '{name}' cannot be read ({e}); PyTorch ignores CRC errors and would load it"
            ));
        }
        if data.len() as u64 > MAX_PICKLE_BYTES {
            out.problems.push(format!(
                "member '{name}' is larger than {MAX_PICKLE_BYTES} bytes"
            ));
            continue;
        }
        if !data.is_empty() {
            let (p, _) = scan_pickle(location, &data, torchscript);
            out.pickles.push(p);
        }
    }
    out
}

/// Reads the rest of an `.npy` header (the magic's first two bytes are
/// read) and returns where the data starts if the array holds Python
/// objects (`'descr': '|O'`), else `None`.
fn npy_object_header(reader: &mut impl Read) -> Option<usize> {
    let mut pre = [0u8; 8];
    reader.read_exact(&mut pre).ok()?;
    // pre = "UMPY", major, minor, then the first 2 bytes of the length.
    let [_, _, _, _, major, _, l0, l1] = pre;
    let (len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([l0, l1])), 10),
        2 | 3 => {
            let mut hi = [0u8; 2];
            reader.read_exact(&mut hi).ok()?;
            let [h0, h1] = hi;
            (u32::from_le_bytes([l0, l1, h0, h1]) as usize, 12)
        }
        _ => return None,
    };
    if len > 1 << 20 {
        return None;
    }
    let mut header = vec![0u8; len];
    reader.read_exact(&mut header).ok()?;
    let text = String::from_utf8_lossy(&header);
    let object = text.contains("'|O'") || text.contains("'O'") || text.contains("'<O'");
    object.then_some(start + len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `cos\nsystem\n(S'echo hi'\ntR.` — protocol 0, GLOBAL + REDUCE.
    const OS_SYSTEM: &[u8] = b"cos\nsystem\n(S'echo hi'\ntR.";

    #[test]
    fn names_the_global_of_a_protocol_0_pickle() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        std::fs::write(&p, OS_SYSTEM).unwrap();
        let s = scan_file(&p).unwrap();
        assert_eq!(s.pickles.len(), 1);
        assert_eq!(
            s.pickles[0].globals.get("os.system"),
            Some(&GlobalStatus::Forbidden)
        );
    }

    #[test]
    fn stack_global_through_the_memo_is_resolved() {
        // PROTO 4, 'builtins' MEMOIZE, 'eval' MEMOIZE, BINGET 0, BINGET 1,
        // STACK_GLOBAL, '1+1' TUPLE1 REDUCE STOP.
        let mut p = vec![0x80, 4];
        for s in [&b"builtins"[..], b"eval"] {
            p.push(0x8c);
            p.push(s.len() as u8);
            p.extend_from_slice(s);
            p.push(0x94);
        }
        p.extend_from_slice(&[b'h', 0, b'h', 1, 0x93]);
        p.extend_from_slice(&[0x8c, 3, b'1', b'+', b'1', 0x85, b'R', b'.']);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pkl");
        std::fs::write(&path, &p).unwrap();
        let s = scan_file(&path).unwrap();
        assert_eq!(
            s.pickles[0].globals.get("builtins.eval"),
            Some(&GlobalStatus::Forbidden),
            "{s:?}"
        );
    }

    #[test]
    fn storages_that_start_like_a_pickle_are_data() {
        use std::io::Write;
        // 65541.0f32 is 80 02 80 47: PROTO 2 then garbage, as a storage.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pt");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("archive/data.pkl", opts).unwrap();
        z.write_all(b"\x80\x02}.").unwrap();
        for name in ["archive/data/0", "archive/extra.bin"] {
            z.start_file(name, opts).unwrap();
            z.write_all(&65541f32.to_le_bytes()).unwrap();
        }
        z.finish().unwrap();
        let s = scan_file(&path).unwrap();
        // The storage is skipped; the same bytes elsewhere are still read
        // as a (broken) pickle.
        let locations: Vec<&str> = s.pickles.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(
            locations,
            ["archive/data.pkl", "archive/extra.bin"],
            "{s:?}"
        );
        assert!(s.pickles[1].error.is_some());
    }
}
