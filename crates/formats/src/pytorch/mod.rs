// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! PyTorch checkpoints: zip (`torch.save`, torch ≥ 1.6), legacy (pre-1.6
//! concatenated pickles) and TorchScript archives — read without executing
//! anything.
//!
//! - [`pickle`]: the opcode interpreter (hand-written, see its docs);
//! - [`host`]: what torch's globals mean, and the allow-list;
//! - this module: archives, storages, turning the unpickled object tree into
//!   named tensors (flattening nested dicts, picking the model weights out of
//!   training checkpoints, walking TorchScript and `torch.nn` module objects)
//!   and tensor sources (zero-copy for contiguous tensors, gathered for
//!   strided views).

pub mod host;
pub mod pickle;
pub mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::tensor::{MmapFile, Tensor, TensorInfo};

use self::host::{GlobalStatus, PidStyle, TensorRef, TorchHost};
use self::pickle::{Limits, Obj, PickleError, PickleErrorKind, Value, Vm};
use crate::inflate::{InflateBudget, Inflated};
use crate::strided::{StorageData, StridedSource};

/// Largest `data.pkl` accepted (decompressed).
pub(crate) const MAX_PICKLE_BYTES: u64 = 1 << 30;
/// Largest compressed storage member inflated into memory. torch stores
/// storages uncompressed; a large compressed one is a zip bomb or a
/// re-packed archive, refused rather than inflated.
const MAX_INFLATED_STORAGE: u64 = 64 << 20;
/// Maximum nesting walked when flattening.
const MAX_DEPTH: usize = 64;
/// Maximum values visited when flattening (guards against DAG blow-up).
const MAX_VISITS: usize = 4_000_000;
/// Keys of training checkpoints that hold the model weights.
const WEIGHT_KEYS: &[&str] = &[
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "model_state",
    "net",
    "weights",
];

/// Legacy magic number `0x1950A86A20F9469CFC6C`, as pickled LONG1 bytes.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Which kind of torch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchKind {
    /// `torch.save` zip.
    Zip,
    /// Pre-1.6 `torch.save`.
    Legacy,
    /// `torch.jit.save` archive.
    TorchScript,
    /// The pre-0.4 tar format.
    LegacyTar,
}

impl TorchKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            TorchKind::Zip => "pytorch",
            TorchKind::Legacy => "pytorch-legacy",
            TorchKind::TorchScript => "torchscript",
            TorchKind::LegacyTar => "pytorch-legacy-tar",
        }
    }
}

/// File extensions of PyTorch checkpoints (`torch.save`, legacy, tar).
pub const EXTENSIONS: &[&str] = &["pt", "pth", "bin", "ckpt", "pkl", "pickle", "tar"];

/// True if a file with first bytes `head` at `path` is read as a PyTorch
/// checkpoint: a zip or a pickle, or named like one.
pub fn sniff_file(head: &[u8], path: &Path) -> bool {
    let named = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e));
    head.starts_with(b"PK\x03\x04") || head.first() == Some(&0x80) || named
}

/// Every global the pickles of a model referenced, `module.name` →
/// allowed (forbidden ones appear only when read permissively, to inspect):
/// the PyTorch reader's native state on the [`modelconv_core::Model`].
#[derive(Debug, Clone, Default)]
pub struct PickleGlobals(pub BTreeMap<String, bool>);

/// A read torch file.
#[derive(Debug)]
pub struct TorchFile {
    /// Kind of file.
    pub kind: TorchKind,
    /// Tensors in pickle order (aliases of an earlier tensor removed).
    pub tensors: Vec<Tensor>,
    /// `(alias, kept)`: names that were exactly the same tensor as an
    /// earlier one (tied weights) and were not repeated.
    pub aliases: Vec<(String, String)>,
    /// The top-level key the weights were taken from (`state_dict`, `model`, ...), if any.
    pub weights_key: Option<String>,
    /// Top-level entries not converted (epoch, optimizer, ...).
    pub skipped: Vec<String>,
    /// Every global the pickle referenced and whether it is allowed.
    pub globals: BTreeMap<String, GlobalStatus>,
    /// File size.
    pub size: u64,
}

fn pickle_error(path: &Path, what: &str, e: PickleError) -> Error {
    let kind = match e.kind {
        PickleErrorKind::Malformed => InvalidKind::MalformedPickle,
        PickleErrorKind::Forbidden => InvalidKind::ForbiddenGlobal,
        PickleErrorKind::Limit => InvalidKind::LimitExceeded,
        PickleErrorKind::Unsupported => InvalidKind::UnsupportedContent,
        PickleErrorKind::MissingData => InvalidKind::MissingStorage,
    };
    Error::invalid(path, kind, format!("{what}: {}", e.detail)).at_offset(e.offset)
}

/// True if `head` starts like a legacy torch file (a pickled magic number).
pub fn sniff_legacy(head: &[u8]) -> bool {
    matches!(head, [0x80, _, 0x8a, 0x0a, rest @ ..] if rest.get(..10) == Some(&LEGACY_MAGIC[..]))
}

/// Reads a torch file (zip, legacy or TorchScript). With `permissive`,
/// forbidden globals are recorded as opaque objects instead of failing
/// (for `inspect`); tensors are still only taken from allowed rebuilds.
pub fn read_file(path: &Path, permissive: bool) -> Result<TorchFile> {
    let file = MmapFile::open(path)?;
    let bytes = file.bytes();
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_zip(path, &file, permissive)
    } else if bytes.get(257..262) == Some(b"ustar") {
        read_tar(path, &file, permissive)
    } else {
        // Legacy files start with a protocol-2 pickle; protocol 0/1 pickles
        // have no PROTO opcode, so any other start is tried as a pickle too.
        read_legacy(path, &file, permissive)
    }
}

/// A zip member: where its bytes are.
struct Member {
    index: usize,
    stored: bool,
    method: zip::CompressionMethod,
    crc32: u32,
    data_start: u64,
    compressed: u64,
    size: u64,
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> Error {
    Error::invalid(path, InvalidKind::MalformedArchive, e.to_string())
}

fn read_zip(path: &Path, file: &Arc<MmapFile>, permissive: bool) -> Result<TorchFile> {
    let bytes = file.bytes();
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(path, e))?;
    if zip.has_duplicate_names() {
        return Err(Error::invalid(
            path,
            InvalidKind::DuplicateKey,
            "the archive has two members with the same name",
        ));
    }
    let mut members: BTreeMap<String, Member> = BTreeMap::new();
    for i in 0..zip.len() {
        let m = zip.by_index_raw(i).map_err(|e| zip_error(path, e))?;
        let name = m.name().map_err(|e| zip_error(path, e))?.to_string();
        if m.enclosed_name().is_none()
            || name.starts_with('/')
            || name.split(['/', '\\']).any(|c| c == "..")
        {
            return Err(Error::invalid(
                path,
                InvalidKind::PathTraversal,
                format!("member name '{name}'"),
            ));
        }
        let member = Member {
            index: i,
            stored: m.compression() == zip::CompressionMethod::Stored,
            method: m.compression(),
            crc32: m.crc32(),
            data_start: m.data_start().unwrap_or(0),
            compressed: m.compressed_size(),
            size: m.size(),
        };
        members.insert(name, member);
    }
    let pkl: Vec<&String> = members.keys().filter(|n| n.ends_with("data.pkl")).collect();
    let data_pkl = match pkl.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(Error::invalid(
                path,
                InvalidKind::MalformedArchive,
                "zip archive without data.pkl (not a torch checkpoint)",
            ))
        }
        _ => {
            return Err(Error::invalid(
                path,
                InvalidKind::DuplicateKey,
                format!("more than one data.pkl member: {pkl:?}"),
            ))
        }
    };
    let prefix = data_pkl.trim_end_matches("data.pkl").to_string();
    let torchscript = members.contains_key(&format!("{prefix}constants.pkl"))
        || members
            .keys()
            .any(|n| n.starts_with(&format!("{prefix}code/")));
    if let Some(m) = members.get(&format!("{prefix}byteorder")) {
        let order = read_member(path, &mut zip, m, 16)?;
        if order.trim_ascii() != b"little" {
            return Err(Error::invalid(
                path,
                InvalidKind::UnsupportedContent,
                format!(
                    "byte order '{}' (only little-endian checkpoints are read)",
                    String::from_utf8_lossy(&order)
                ),
            ));
        }
    }

    let pickle_bytes = {
        let m = members
            .get(&data_pkl)
            .ok_or_else(|| Error::Internal(format!("zip member {data_pkl} vanished")))?;
        read_member(path, &mut zip, m, MAX_PICKLE_BYTES)?
    };
    let constants_name = format!("{prefix}constants.pkl");
    let constants = match members.get(&constants_name) {
        Some(m) => Some(read_member(path, &mut zip, m, MAX_PICKLE_BYTES)?),
        None => None,
    };
    // Everything below works from `members` and the map; the archive's own
    // index (a few hundred bytes per member) is not kept while the pickle runs.
    drop(zip);
    let mut host = TorchHost::new(PidStyle::Zip, torchscript);
    host.permissive = permissive;
    let mut vm = Vm::new(Limits::default());
    let (root, _) = pickle::run(&pickle_bytes, &mut host, &mut vm)
        .map_err(|e| pickle_error(path, &data_pkl, e))?;
    drop(pickle_bytes);

    // Storage bytes: `<prefix>data/<key>`, zero-copy when stored uncompressed.
    let budget = InflateBudget::new(path);
    let mut storages = Vec::with_capacity(host.storages.len());
    for s in &host.storages {
        let name = format!("{prefix}data/{}", s.key);
        let m = members.get(&name).ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::MissingStorage,
                format!("storage '{}' has no member {name}", s.key),
            )
        })?;
        let declared = s.numel.checked_mul(s.dtype.size() as u64).ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::BadShape,
                format!("storage '{}' size overflows", s.key),
            )
        })?;
        let data = if m.stored {
            let start = m.data_start;
            let end = start
                .checked_add(m.size)
                .filter(|&e| e <= bytes.len() as u64 && m.size == m.compressed)
                .ok_or_else(|| {
                    Error::invalid(
                        path,
                        InvalidKind::Truncated,
                        format!("member {name} extends past the end of the file"),
                    )
                    .at_offset(start)
                })?;
            StorageData::Mapped(Arc::clone(file), start as usize..end as usize)
        } else {
            if declared > MAX_INFLATED_STORAGE {
                return Err(Error::invalid(
                    path,
                    InvalidKind::LimitExceeded,
                    format!(
                        "storage member {name} is compressed and would inflate to {declared} bytes; torch never compresses storages, and modelconv inflates at most {MAX_INFLATED_STORAGE}"
                    ),
                ));
            }
            if m.method != zip::CompressionMethod::Deflated {
                return Err(Error::invalid(
                    path,
                    InvalidKind::UnsupportedContent,
                    format!("storage member {name} is compressed with {:?}", m.method),
                ));
            }
            // Inflated when a tensor reads it, under the file's budget.
            let end = m.data_start.checked_add(m.compressed).ok_or_else(|| {
                Error::invalid(path, InvalidKind::Truncated, format!("member {name}"))
            })?;
            let member = Inflated::new(
                Arc::clone(file),
                &name,
                m.data_start as usize..usize::try_from(end).unwrap_or(usize::MAX),
                m.size,
                m.crc32,
                Arc::clone(&budget),
            )?;
            StorageData::Inflated(member, 0..usize::try_from(m.size).unwrap_or(usize::MAX))
        };
        if (data.len() as u64) < declared {
            return Err(Error::invalid(
                path,
                InvalidKind::OffsetOutOfBounds,
                format!(
                    "storage '{}' declares {declared} bytes but {name} holds {}",
                    s.key,
                    data.len()
                ),
            ));
        }
        storages.push(data);
    }
    let kind = if torchscript {
        TorchKind::TorchScript
    } else {
        TorchKind::Zip
    };
    let mut file = finish(path, kind, vm, &host, &root, &storages, bytes.len() as u64)?;
    // TorchScript code constants: checked like data.pkl (so hostile content
    // there is refused too) and counted; they are not parameters or buffers.
    if let Some(pickle_bytes) = constants {
        let mut chost = TorchHost::new(PidStyle::Zip, true);
        chost.permissive = permissive;
        let mut cvm = Vm::new(Limits::default());
        pickle::run(&pickle_bytes, &mut chost, &mut cvm)
            .map_err(|e| pickle_error(path, &constants_name, e))?;
        let n = chost
            .objects
            .iter()
            .filter(|o| matches!(o, host::HostObj::Tensor(_)))
            .count();
        if n > 0 {
            file.skipped
                .push(format!("{n} code constant tensors in constants.pkl"));
        }
        for (g, status) in chost.globals {
            file.globals.entry(g).or_insert(status);
        }
    }
    Ok(file)
}

fn read_member(
    path: &Path,
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    m: &Member,
    cap: u64,
) -> Result<Vec<u8>> {
    if m.size > cap {
        return Err(Error::invalid(
            path,
            InvalidKind::LimitExceeded,
            format!(
                "archive member of {} bytes is larger than the {cap}-byte limit",
                m.size
            ),
        ));
    }
    let f = zip.by_index(m.index).map_err(|e| zip_error(path, e))?;
    let mut out = Vec::new();
    // Never trust the declared size: read at most cap + 1 bytes.
    f.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::invalid(path, InvalidKind::MalformedArchive, e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(Error::invalid(
            path,
            InvalidKind::LimitExceeded,
            format!("archive member decompresses to more than {cap} bytes"),
        ));
    }
    Ok(out)
}

fn read_legacy(path: &Path, file: &Arc<MmapFile>, permissive: bool) -> Result<TorchFile> {
    let bytes = file.bytes();
    let mut pos = 0usize;
    let mut host = TorchHost::new(PidStyle::Legacy, false);
    host.permissive = permissive;
    let mut vm = Vm::new(Limits::default());
    let mut next = |vm: &mut Vm, host: &mut TorchHost, what: &str| -> Result<Value> {
        let rest = bytes.get(pos..).unwrap_or(&[]);
        let (v, used) = pickle::run(rest, host, vm).map_err(|mut e| {
            e.offset += pos as u64;
            pickle_error(path, what, e)
        })?;
        pos += used;
        Ok(v)
    };
    let magic = next(&mut vm, &mut host, "magic number")?;
    if !matches!(&magic, Value::BigInt(b) if **b == LEGACY_MAGIC) {
        return Err(Error::invalid(
            path,
            InvalidKind::UnknownFormat,
            "a pickle, but not a legacy torch checkpoint (magic number missing)",
        ));
    }
    let protocol = next(&mut vm, &mut host, "protocol version")?;
    if protocol.as_int() != Some(1001) {
        return Err(Error::invalid(
            path,
            InvalidKind::UnsupportedContent,
            format!("legacy protocol {protocol:?}"),
        ));
    }
    let sys_info = next(&mut vm, &mut host, "sys_info")?;
    let little = vm
        .dict(&sys_info)
        .and_then(|d| d.iter().find(|(k, _)| k.as_str() == Some("little_endian")))
        .map(|(_, v)| v.clone());
    if little == Some(Value::Bool(false)) {
        return Err(Error::invalid(
            path,
            InvalidKind::UnsupportedContent,
            "big-endian legacy checkpoint",
        ));
    }
    let root = next(&mut vm, &mut host, "object pickle")?;
    // `pickle::run` keeps the arena, so the root stays valid.
    let keys_value = next(&mut vm, &mut host, "storage key list")?;
    let keys: Vec<String> = vm
        .seq(&keys_value)
        .ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::MalformedPickle,
                "storage key list is not a list",
            )
        })?
        .iter()
        .map(|k| k.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::MalformedPickle,
                "storage keys are not strings",
            )
        })?;
    // Raw storages follow, in key-list order: i64 element count, then bytes.
    let mut data: Vec<Option<StorageData>> = vec![None; host.storages.len()];
    for key in &keys {
        let at = pos as u64;
        let count_bytes = bytes.get(pos..pos + 8).ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::Truncated,
                format!("storage '{key}' header"),
            )
            .at_offset(at)
        })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(count_bytes);
        let count = u64::from_le_bytes(a);
        pos += 8;
        let idx = host
            .storages
            .iter()
            .position(|s| &s.key == key)
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::MalformedPickle,
                    format!("storage '{key}' is listed but never used"),
                )
            })?;
        let s = host
            .storages
            .get(idx)
            .ok_or_else(|| Error::Internal(format!("storage index {idx} out of range")))?;
        if count != s.numel {
            return Err(Error::invalid(
                path,
                InvalidKind::OffsetOutOfBounds,
                format!(
                    "storage '{key}' declares {} elements but its header says {count}",
                    s.numel
                ),
            )
            .at_offset(at));
        }
        let len = count
            .checked_mul(s.dtype.size() as u64)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::BadShape,
                    format!("storage '{key}' size overflows"),
                )
            })?;
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::Truncated,
                    format!("storage '{key}' needs {len} bytes"),
                )
                .at_offset(pos as u64)
            })?;
        if let Some(slot) = data.get_mut(idx) {
            *slot = Some(StorageData::Mapped(Arc::clone(file), pos..end));
        }
        pos = end;
    }
    let storages: Vec<StorageData> = data
        .into_iter()
        .zip(&host.storages)
        .map(|(d, s)| {
            d.ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::MissingStorage,
                    format!("storage '{}' has no data", s.key),
                )
            })
        })
        .collect::<Result<_>>()?;
    finish(
        path,
        TorchKind::Legacy,
        vm,
        &host,
        &root,
        &storages,
        bytes.len() as u64,
    )
}

/// Members of a tar archive: name → byte range of the data.
fn tar_members(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, std::ops::Range<usize>>> {
    let mut out = BTreeMap::new();
    let mut pos = 0usize;
    while let Some(header) = bytes.get(pos..pos + 512) {
        if header.iter().all(|&b| b == 0) {
            break;
        }
        // `header` is 512 bytes: the fixed fields below are inside it.
        let field = |r: std::ops::Range<usize>| header.get(r).unwrap_or_default();
        let name_field = field(0..100);
        let name_end = name_field.iter().position(|&b| b == 0).unwrap_or(100);
        let name =
            String::from_utf8_lossy(name_field.get(..name_end).unwrap_or_default()).into_owned();
        let size_field = String::from_utf8_lossy(field(124..136));
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
            .ok()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::MalformedArchive,
                    format!("tar member '{name}' has a bad size field"),
                )
                .at_offset(pos as u64 + 124)
            })?;
        let start = pos + 512;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::Truncated,
                    format!("tar member '{name}' ends past the file"),
                )
                .at_offset(pos as u64)
            })?;
        // Regular files only ('0' or NUL); PAX/GNU extension headers are skipped.
        if matches!(header.get(156), Some(b'0' | 0)) {
            if name.contains("..") || name.starts_with('/') {
                return Err(Error::invalid(
                    path,
                    InvalidKind::PathTraversal,
                    format!("tar member name '{name}'"),
                ));
            }
            if out.insert(name.clone(), start..end).is_some() {
                return Err(Error::invalid(
                    path,
                    InvalidKind::DuplicateKey,
                    format!("tar member '{name}' appears twice"),
                ));
            }
        }
        pos = start + size.div_ceil(512) * 512;
    }
    Ok(out)
}

/// The pre-0.4 tar format: `storages` (count, then per storage a pickled
/// `(key, location, storage_class)`, an i64 element count and the bytes,
/// then a pickled list of storage views), `tensors` (count, then per tensor
/// a pickled `(key, storage_key, type)`, i32 ndim, 4 pad bytes, sizes,
/// strides and offset as i64) and `pickle` (the object, referring to tensor
/// keys by persistent id).
fn read_tar(path: &Path, file: &Arc<MmapFile>, permissive: bool) -> Result<TorchFile> {
    let bytes = file.bytes();
    let members = tar_members(path, bytes)?;
    let member = |name: &str| {
        members.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                path,
                InvalidKind::MalformedArchive,
                format!("tar archive without a '{name}' member (not a torch checkpoint)"),
            )
        })
    };
    let mut host = TorchHost::new(PidStyle::Tar, false);
    host.permissive = permissive;
    let mut vm = Vm::new(Limits::default());
    let malformed =
        |what: &str| Error::invalid(path, InvalidKind::MalformedPickle, what.to_string());
    let run_at = |vm: &mut Vm,
                  host: &mut TorchHost,
                  pos: &mut usize,
                  end: usize,
                  what: &str|
     -> Result<Value> {
        let data = bytes.get(*pos..end).unwrap_or(&[]);
        let (v, used) = pickle::run(data, host, vm).map_err(|mut e| {
            e.offset += *pos as u64;
            pickle_error(path, what, e)
        })?;
        *pos += used;
        Ok(v)
    };
    let read_i64 = |pos: &mut usize, end: usize| -> Result<i64> {
        let b = bytes
            .get(*pos..*pos + 8)
            .filter(|_| *pos + 8 <= end)
            .ok_or_else(|| {
                Error::invalid(path, InvalidKind::Truncated, "record header").at_offset(*pos as u64)
            })?;
        *pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    };

    // storages
    let r = member("storages")?;
    let (mut pos, end) = (r.start, r.end);
    let count = run_at(&mut vm, &mut host, &mut pos, end, "storages")?
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| malformed("storage count is not a count"))?;
    let mut storages: Vec<StorageData> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..count.min(1 << 20) {
        let rec = run_at(&mut vm, &mut host, &mut pos, end, "storage record")?;
        let items = vm
            .seq(&rec)
            .map(<[Value]>::to_vec)
            .ok_or_else(|| malformed("storage record is not a tuple"))?;
        let [key, _location, class] = items.as_slice() else {
            return Err(malformed("storage record is not (key, location, class)"));
        };
        let dtype = match class {
            Value::Global(g) => match host::storage_dtype(&g.1) {
                Some(Some(d)) => d,
                _ => {
                    return Err(Error::invalid(
                        path,
                        InvalidKind::UnsupportedContent,
                        format!("storage class {}.{}", g.0, g.1),
                    ))
                }
            },
            _ => return Err(malformed("storage record without a storage class")),
        };
        let numel = u64::try_from(read_i64(&mut pos, end)?)
            .map_err(|_| malformed("negative storage size"))?;
        let len = numel
            .checked_mul(dtype.size() as u64)
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| pos + l <= end)
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::Truncated,
                    format!("storage of {numel} elements"),
                )
                .at_offset(pos as u64)
            })?;
        let key = key_name(key);
        host.storages.push(host::StorageRef {
            key: key.clone(),
            dtype,
            numel,
        });
        storages.push(StorageData::Mapped(Arc::clone(file), pos..pos + len));
        keys.push(key);
        pos += len;
    }
    let views = run_at(&mut vm, &mut host, &mut pos, end, "storage views")?;
    for view in vm.seq(&views).map(<[Value]>::to_vec).unwrap_or_default() {
        let v = vm.seq(&view).map(<[Value]>::to_vec).unwrap_or_default();
        let [target, root, offset, numel] = v.as_slice() else {
            return Err(malformed(
                "storage view is not (target, root, offset, numel)",
            ));
        };
        let root_idx = keys
            .iter()
            .position(|k| *k == key_name(root))
            .ok_or_else(|| malformed("storage view of an unknown storage"))?;
        let dtype = host
            .storages
            .get(root_idx)
            .map(|s| s.dtype)
            .ok_or_else(|| malformed("storage view of an unknown storage"))?;
        let (off, n) = (offset.as_int().unwrap_or(-1), numel.as_int().unwrap_or(-1));
        let (Ok(off), Ok(n)) = (usize::try_from(off), usize::try_from(n)) else {
            return Err(malformed("storage view with a negative offset or size"));
        };
        let Some(StorageData::Mapped(f, r)) = storages.get(root_idx) else {
            continue;
        };
        let bytes_at = |k: usize| k.checked_mul(dtype.size());
        let range = bytes_at(off)
            .and_then(|o| r.start.checked_add(o))
            .and_then(|s| Some(s..s.checked_add(bytes_at(n)?)?));
        let Some(std::ops::Range { start, end: stop }) = range.filter(|x| x.end <= r.end) else {
            return Err(Error::invalid(
                path,
                InvalidKind::OffsetOutOfBounds,
                "storage view outside its storage",
            ));
        };
        let f = Arc::clone(f);
        host.storages.push(host::StorageRef {
            key: key_name(target),
            dtype,
            numel: n as u64,
        });
        storages.push(StorageData::Mapped(f, start..stop));
        keys.push(key_name(target));
    }

    // tensors
    let r = member("tensors")?;
    let (mut pos, end) = (r.start, r.end);
    let count = run_at(&mut vm, &mut host, &mut pos, end, "tensors")?
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| malformed("tensor count is not a count"))?;
    for _ in 0..count.min(1 << 20) {
        let rec = run_at(&mut vm, &mut host, &mut pos, end, "tensor record")?;
        let items = vm
            .seq(&rec)
            .map(<[Value]>::to_vec)
            .ok_or_else(|| malformed("tensor record is not a tuple"))?;
        let [key, storage_key, _ty] = items.as_slice() else {
            return Err(malformed("tensor record is not (key, storage, type)"));
        };
        let storage = keys
            .iter()
            .position(|k| *k == key_name(storage_key))
            .ok_or_else(|| {
                Error::invalid(
                    path,
                    InvalidKind::MissingStorage,
                    format!("tensor '{}' refers to an unknown storage", key_name(key)),
                )
            })?;
        let ndim = read_i64(&mut pos, end)? & 0xffff_ffff; // i32 ndim + 4 padding bytes
        if ndim > 64 {
            return Err(Error::invalid(
                path,
                InvalidKind::LimitExceeded,
                format!("tensor with {ndim} dimensions"),
            ));
        }
        let mut dims = Vec::new();
        for _ in 0..ndim * 2 + 1 {
            dims.push(
                u64::try_from(read_i64(&mut pos, end)?)
                    .map_err(|_| malformed("negative size, stride or offset"))?,
            );
        }
        let n = ndim as usize;
        let (shape, rest) = dims.split_at(n);
        let (stride, offset) = rest.split_at(n);
        let dtype = host
            .storages
            .get(storage)
            .map(|s| s.dtype)
            .ok_or_else(|| malformed("tensor of an unknown storage"))?;
        host.tar_tensors.insert(
            key_name(key),
            TensorRef {
                storage,
                dtype,
                offset: offset.first().copied().unwrap_or(0),
                shape: shape.to_vec(),
                stride: stride.to_vec(),
            },
        );
    }

    // the object
    let r = member("pickle")?;
    let (mut pos, end) = (r.start, r.end);
    let root = run_at(&mut vm, &mut host, &mut pos, end, "pickle")?;
    finish(
        path,
        TorchKind::LegacyTar,
        vm,
        &host,
        &root,
        &storages,
        bytes.len() as u64,
    )
}

/// Named tensors found in the object tree.
struct Found {
    tensors: Vec<(String, usize)>,
    visits: usize,
}

/// Turns the unpickled object tree into tensors. Takes the VM to drop it
/// (the arena and memo, most of the memory) before the tensors are built.
fn finish(
    path: &Path,
    kind: TorchKind,
    owned_vm: Vm,
    host: &TorchHost,
    root: &Value,
    storages: &[StorageData],
    size: u64,
) -> Result<TorchFile> {
    let mut skipped = Vec::new();
    let mut found = Found {
        tensors: Vec::new(),
        visits: 0,
    };
    // A training checkpoint: take the weights, list the rest as skipped.
    let vm = &owned_vm;
    let weights_key = vm.dict(root).and_then(|entries| {
        WEIGHT_KEYS.iter().find_map(|k| {
            entries
                .iter()
                .find(|(key, v)| key.as_str() == Some(k) && has_tensor(vm, host, v, 0))
                .map(|(_, v)| (k.to_string(), v.clone()))
        })
    });
    match (&weights_key, vm.dict(root)) {
        (Some((key, value)), Some(entries)) => {
            found.walk(path, vm, host, value, "", 0)?;
            for (k, _) in entries {
                let name = key_name(k);
                if name != *key {
                    skipped.push(name);
                }
            }
        }
        _ => {
            found.walk(path, vm, host, root, "", 0)?;
            if let Some(entries) = vm.dict(root) {
                for (k, v) in entries {
                    if !has_tensor(vm, host, v, 0) {
                        skipped.push(key_name(k));
                    }
                }
            }
        }
    }

    let weights_key = weights_key.map(|(k, _)| k);
    drop(owned_vm);

    let mut names = HashSet::with_capacity(found.tensors.len());
    for (name, _) in &found.tensors {
        if !names.insert(name.as_str()) {
            return Err(Error::invalid(
                path,
                InvalidKind::DuplicateTensor,
                "two tensors flatten to the same name",
            )
            .with_tensor(name));
        }
    }
    drop(names);
    let file: Arc<Path> = Arc::from(path);
    let mut tensors: Vec<Tensor> = Vec::with_capacity(found.tensors.len());
    let mut aliases = Vec::new();
    // Tensor views already taken → index into `tensors`.
    let mut seen: HashMap<&TensorRef, usize> = HashMap::new();
    for (name, obj) in found.tensors {
        let Some(host::HostObj::Tensor(t)) = host.objects.get(obj) else {
            continue;
        };
        if let Some(first) = seen.get(t).and_then(|&i| tensors.get(i)) {
            aliases.push((name, first.info.name.clone()));
            continue;
        }
        seen.insert(t, tensors.len());
        let storage = storages.get(t.storage).ok_or_else(|| {
            Error::Internal(format!("tensor '{name}' refers to an unknown storage"))
        })?;
        let source = StridedSource::new(storage.clone(), t.dtype, t.offset, &t.shape, &t.stride)
            .map_err(|detail| {
                Error::invalid(path, InvalidKind::OffsetOutOfBounds, detail).with_tensor(&name)
            })?;
        let shape = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::invalid(path, InvalidKind::BadShape, "shape does not fit in memory")
                    .with_tensor(&name)
            })?;
        tensors.push(Tensor {
            info: TensorInfo {
                name,
                dtype: t.dtype,
                shape,
            },
            source: Arc::new(source),
            file: Arc::clone(&file),
        });
    }
    Ok(TorchFile {
        kind,
        tensors,
        aliases,
        weights_key,
        skipped,
        globals: host.globals.clone(),
        size,
    })
}

fn key_name(k: &Value) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The BUILD state of an object as dict entries (modules pickle a dict).
fn object_state<'a>(vm: &'a Vm, v: &Value) -> Option<&'a [(Value, Value)]> {
    match vm.obj(v)? {
        Obj::Object(o) => vm.dict(o.state.as_ref()?),
        _ => None,
    }
}

fn has_tensor(vm: &Vm, host: &TorchHost, v: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match vm.obj(v) {
        Some(Obj::Host(i)) => matches!(host.objects.get(*i), Some(host::HostObj::Tensor(_))),
        Some(Obj::Dict(d)) => d
            .entries()
            .iter()
            .any(|(_, x)| has_tensor(vm, host, x, depth + 1)),
        Some(Obj::Object(_)) => object_state(vm, v)
            .is_some_and(|d| d.iter().any(|(_, x)| has_tensor(vm, host, x, depth + 1))),
        Some(Obj::List(l)) | Some(Obj::Tuple(l)) => {
            l.iter().any(|x| has_tensor(vm, host, x, depth + 1))
        }
        _ => false,
    }
}

impl Found {
    /// Collects the tensors under `v`, naming them `prefix.key...`.
    fn walk(
        &mut self,
        path: &Path,
        vm: &Vm,
        host: &TorchHost,
        v: &Value,
        prefix: &str,
        depth: usize,
    ) -> Result<()> {
        self.visits += 1;
        if depth > MAX_DEPTH || self.visits > MAX_VISITS {
            return Err(Error::invalid(
                path,
                InvalidKind::LimitExceeded,
                format!("object tree deeper than {MAX_DEPTH} or larger than {MAX_VISITS} values"),
            ));
        }
        let mut children: Vec<(String, &Value)> = Vec::new();
        match vm.obj(v) {
            Some(Obj::Host(i)) => {
                if matches!(host.objects.get(*i), Some(host::HostObj::Tensor(_))) {
                    self.tensors.push((prefix.to_string(), *i));
                }
            }
            Some(Obj::Dict(d)) => children.extend(
                d.entries()
                    .iter()
                    .map(|(k, x)| (join(prefix, &key_name(k)), x)),
            ),
            Some(Obj::List(l)) | Some(Obj::Tuple(l)) => children.extend(
                l.iter()
                    .enumerate()
                    .map(|(i, x)| (join(prefix, &i.to_string()), x)),
            ),
            Some(Obj::Object(_)) => {
                let state = object_state(vm, v).unwrap_or(&[]);
                let module_dicts = ["_parameters", "_buffers", "_modules"];
                let is_module = |k: &Value| k.as_str().is_some_and(|k| module_dicts.contains(&k));
                if state.iter().any(|(k, _)| is_module(k)) {
                    // A pickled torch.nn.Module: its parameters, buffers and submodules.
                    children.extend(
                        state
                            .iter()
                            .filter(|(k, _)| is_module(k))
                            .map(|(_, x)| (prefix.to_string(), x)),
                    );
                } else {
                    // A TorchScript object: attributes by name.
                    children.extend(state.iter().map(|(k, x)| (join(prefix, &key_name(k)), x)));
                }
            }
            _ => {}
        }
        for (name, x) in children {
            self.walk(path, vm, host, x, &name, depth + 1)?;
        }
        Ok(())
    }
}
