// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Reading the GGUF container (v2, v3; little-endian).
//!
//! Hand-written: no crate validates GGUF the way a file from a stranger
//! needs (the GGUF CVEs of 2024–2026 are all "a length from the file drives
//! an allocation or an offset"). Every length comes from the file, so every
//! length is checked against what is left of the file before anything is
//! allocated (an array that claims 2⁶⁰ elements in a 1 KB file fails at
//! once, and no string or array may exceed 2³⁰ bytes/elements, ggml's cap),
//! arithmetic is checked, nesting is bounded, and tensor data must be
//! aligned, inside the file and laid out exactly as ggml requires: in
//! tensor-info order, each at the previous one's padded end (a hole is
//! [`InvalidKind::OffsetGap`], going backwards is
//! [`InvalidKind::OverlappingOffsets`]). Errors name the file, the key or
//! tensor and the byte offset.
//!
//! Decisions where the tools disagree:
//! - tensor names longer than ggml's 63 bytes are read (gguf-py reads and
//!   writes them) but recorded in [`GgufFile::warnings`]: llama.cpp will
//!   refuse such a file, and modelconv's writer refuses to write one;
//! - an empty metadata key is an error (ggml rejects it);
//! - big-endian files (no flag marks them; the version reads byte-swapped)
//!   are [`Error::Unsupported`];
//! - tensor data is never copied: [`GgufFile::tensor_data`] is a slice of
//!   the memory map, [`crate::tensor_source`] a zero-copy
//!   [`modelconv_core::TensorSource`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelconv_core::tensor::MmapFile;
use modelconv_core::{Error, InvalidKind, Result};

use crate::types::GgmlType;

/// `GGUF` read as a little-endian u32.
pub const MAGIC: &[u8; 4] = b"GGUF";
/// Default data alignment.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest `general.alignment` accepted (ggml uses 32; some writers 64).
pub const MAX_ALIGNMENT: u64 = 1 << 16;
/// Deepest array nesting accepted.
pub const MAX_DEPTH: usize = 4;
/// ggml's GGML_MAX_DIMS.
pub const MAX_DIMS: usize = 4;
/// Longest string and largest array accepted (ggml's `GGUF_MAX_STRING_LENGTH`
/// and `GGUF_MAX_ARRAY_ELEMENTS`, 1 GiB).
pub const MAX_LEN: u64 = 1 << 30;
/// Longest tensor name llama.cpp accepts (`GGML_MAX_NAME` − 1).
pub const MAX_NAME: usize = 63;

/// A metadata value.
#[derive(Debug, Clone)]
pub enum Value {
    /// uint8
    U8(u8),
    /// int8
    I8(i8),
    /// uint16
    U16(u16),
    /// int16
    I16(i16),
    /// uint32
    U32(u32),
    /// int32
    I32(i32),
    /// float32
    F32(f32),
    /// bool
    Bool(bool),
    /// string
    Str(String),
    /// array of one element type (type id kept for empty arrays)
    Array(u32, Vec<Value>),
    /// array of strings (what the reader makes of every string array): one
    /// buffer, not a `String` per element. Equal to the same strings as an
    /// [`Value::Array`] of type 8.
    Strings(StrArray),
    /// uint64
    U64(u64),
    /// int64
    I64(i64),
    /// float64
    F64(f64),
}

impl Value {
    /// The GGUF type id.
    pub fn type_id(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::Str(_) => 8,
            Value::Array(..) | Value::Strings(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    /// The number of elements, if this is an array.
    pub fn array_len(&self) -> Option<usize> {
        match self {
            Value::Array(_, v) => Some(v.len()),
            Value::Strings(s) => Some(s.len()),
            _ => None,
        }
    }

    /// The strings, if this is an array of strings.
    pub fn as_strings(&self) -> Option<&StrArray> {
        match self {
            Value::Strings(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(u64::from(v)),
            Value::U16(v) => Some(u64::from(v)),
            Value::U32(v) => Some(u64::from(v)),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(f64::from(v)),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    /// A short rendering for `inspect` (arrays summarised).
    pub fn display_short(&self) -> String {
        match self {
            Value::Str(s) if s.len() > 120 => format!(
                "{:?}… ({} bytes)",
                &s[..(0..=120)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0)],
                s.len()
            ),
            Value::Str(s) => format!("{s:?}"),
            Value::Array(_, v) if v.len() > 8 => format!("[{} items]", v.len()),
            Value::Strings(v) if v.len() > 8 => format!("[{} items]", v.len()),
            Value::Strings(v) => format!(
                "[{}]",
                v.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Array(_, v) => format!(
                "[{}]",
                v.iter()
                    .map(Value::display_short)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Value::Bool(b) => b.to_string(),
            Value::F32(f) => f.to_string(),
            Value::F64(f) => f.to_string(),
            other => other
                .as_u64()
                .map(|v| v.to_string())
                .unwrap_or_else(|| format!("{other:?}")),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (U8(a), U8(b)) => a == b,
            (I8(a), I8(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (F32(a), F32(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Array(ta, a), Array(tb, b)) => ta == tb && a == b,
            (Strings(a), Strings(b)) => a == b,
            (Strings(s), Array(t, v)) | (Array(t, v), Strings(s)) => {
                *t == 8 && s.len() == v.len() && s.iter().zip(v).all(|(a, b)| b.as_str() == Some(a))
            }
            (U64(a), U64(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F64(a), F64(b)) => a == b,
            _ => false,
        }
    }
}

/// An array of strings in one buffer: a 2M-token vocabulary is one text
/// and 2M offsets, not 2M `String`s and `Value`s (issue #23).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrArray {
    text: String,
    ends: Vec<usize>,
}

impl StrArray {
    /// The number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Appends a string.
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    /// The string at `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => *self.ends.get(i - 1)?,
        };
        self.text.get(start..end)
    }

    /// The strings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

impl<S: AsRef<str>> FromIterator<S> for StrArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut a = StrArray::default();
        for s in iter {
            a.push(s.as_ref());
        }
        a
    }
}

/// One tensor of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Name.
    pub name: String,
    /// ggml dimensions, innermost first (`ne[0]` is the row length).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes.
    pub nbytes: u64,
}

impl TensorEntry {
    /// The shape in C order (outermost first), as safetensors/numpy write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// The first `N` bytes of `b` as an array (zero-padded; callers pass
/// `chunks_exact(N)` pieces, so nothing is ever padded).
fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    a
}

/// A parsed GGUF file, its data memory-mapped.
#[derive(Debug, Clone)]
pub struct GgufFile {
    /// The file.
    pub path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensors in file order.
    pub tensors: Vec<TensorEntry>,
    /// Alignment of tensor data.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// The mapped file.
    pub map: Arc<MmapFile>,
    /// Things that are legal GGUF but that llama.cpp would refuse (long names).
    pub warnings: Vec<String>,
}

impl GgufFile {
    /// A metadata value by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&TensorEntry> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Absolute byte range of a tensor's data in the file.
    pub fn tensor_range(&self, t: &TensorEntry) -> Result<std::ops::Range<usize>> {
        let start = self.data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.nbytes));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.map.len() as u64 => Ok(s as usize..e as usize),
            _ => Err(Error::invalid(
                &self.path,
                InvalidKind::OffsetOutOfBounds,
                "tensor data outside the file",
            )
            .with_tensor(&t.name)),
        }
    }

    /// The raw bytes of a tensor (zero-copy: a slice of the memory map).
    pub fn tensor_data(&self, t: &TensorEntry) -> Result<&[u8]> {
        let r = self.tensor_range(t)?;
        self.map.bytes().get(r).ok_or_else(|| {
            Error::invalid(
                &self.path,
                InvalidKind::OffsetOutOfBounds,
                "tensor data outside the file",
            )
            .with_tensor(&t.name)
        })
    }

    /// A tensor's values as f32 (dequantized on rayon's pool when quantized;
    /// plain float and integer types are converted exactly as gguf-py does).
    pub fn dequantize(&self, t: &TensorEntry) -> Result<Vec<f32>> {
        let data = self.tensor_data(t)?;
        let fail = |e: crate::quant::QuantError| Error::from(e).with_tensor(&t.name);
        match t.ggml_type.name {
            "I8" => Ok(data.iter().map(|&b| f32::from(b as i8)).collect()),
            "I16" => Ok(data
                .chunks_exact(2)
                .map(|c| f32::from(i16::from_le_bytes(le(c))))
                .collect()),
            "I32" => Ok(data
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(le(c)) as f32)
                .collect()),
            "I64" => Ok(data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(le(c)) as f32)
                .collect()),
            "F64" => Ok(data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(le(c)) as f32)
                .collect()),
            _ => crate::quant::dequantize_par(t.ggml_type, data).map_err(|e| match e {
                crate::quant::QuantError::Unsupported { .. } => Error::Unsupported {
                    path: self.path.clone(),
                    detail: format!("tensor '{}': {e}", t.name),
                },
                other => fail(other),
            }),
        }
    }
}

struct Cursor<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, kind: InvalidKind, detail: impl Into<String>) -> Error {
        Error::invalid(self.path, kind, detail).at_offset(self.pos as u64)
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.err(InvalidKind::Truncated, format!("file ends inside {what}")))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.err(InvalidKind::Truncated, format!("file ends inside {what}")))?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        self.str_ref(what).map(str::to_string)
    }

    /// The next string, borrowed from the file.
    fn str_ref(&mut self, what: &str) -> Result<&'a str> {
        let len = self.u64(what)?;
        if len > MAX_LEN && len <= self.remaining() as u64 {
            return Err(self.err(
                InvalidKind::LimitExceeded,
                format!("{what}: string of {len} bytes (at most {MAX_LEN})"),
            ));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.remaining())
            .ok_or_else(|| {
                self.err(
                    InvalidKind::Truncated,
                    format!(
                        "{what}: string length {len} exceeds the {} bytes left",
                        self.remaining()
                    ),
                )
            })?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| self.err(InvalidKind::HeaderNotUtf8, format!("{what} is not UTF-8")))
    }

    /// Smallest encoded size of one value of `ty` (for bounding array counts).
    fn min_size(ty: u32) -> usize {
        match ty {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            _ => 1,
        }
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>(key)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(key)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(self.u32(key)?),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(
                        self.err(InvalidKind::BadMetadata, format!("'{key}': bool byte {b}"))
                    )
                }
            },
            8 => Value::Str(self.string(key)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(self.err(
                        InvalidKind::LimitExceeded,
                        format!("'{key}': arrays nested deeper than {MAX_DEPTH}"),
                    ));
                }
                let ety = self.u32(key)?;
                if ety > 12 {
                    return Err(self.err(
                        InvalidKind::BadMetadata,
                        format!("'{key}': array element type {ety}"),
                    ));
                }
                let n = self.u64(key)?;
                let max = self.remaining() / Self::min_size(ety);
                let n = usize::try_from(n)
                    .ok()
                    .filter(|&n| n <= max)
                    .ok_or_else(|| {
                        self.err(
                            InvalidKind::Truncated,
                            format!(
                                "'{key}': array of {n} elements cannot fit in the {} bytes left",
                                self.remaining()
                            ),
                        )
                    })?;
                if n as u64 > MAX_LEN {
                    return Err(self.err(
                        InvalidKind::LimitExceeded,
                        format!("'{key}': array of {n} elements (at most {MAX_LEN})"),
                    ));
                }
                if ety == 8 {
                    let mut a = StrArray::default();
                    for _ in 0..n {
                        a.push(self.str_ref(key)?);
                    }
                    return Ok(Value::Strings(a));
                }
                // Bounded by the bytes left, but a Value is larger than its
                // encoding: grow as elements are actually read.
                let mut v = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    v.push(self.value(ety, key, depth + 1)?);
                }
                Value::Array(ety, v)
            }
            10 => Value::U64(self.u64(key)?),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            other => {
                return Err(self.err(
                    InvalidKind::BadMetadata,
                    format!("'{key}': value type {other}"),
                ))
            }
        })
    }
}

/// True if `head` starts like a GGUF file (either byte order).
pub fn sniff(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Reads and validates a GGUF file: the header (`read_header`), the
/// metadata (`read_metadata`, then `alignment`), the tensor infos
/// (`read_tensor_info`) and their layout in the data section
/// (`validate_layout`), before any tensor byte is touched.
pub fn read(path: &Path) -> Result<GgufFile> {
    let map = MmapFile::open(path)?;
    let buf = map.bytes();
    let mut c = Cursor { path, buf, pos: 0 };
    let (version, n_tensors, n_kv) = read_header(&mut c)?;
    let metadata = read_metadata(&mut c, n_kv)?;
    let alignment = alignment(path, &metadata)?;
    let mut tensors: Vec<TensorEntry> = Vec::with_capacity((n_tensors as usize).min(4096));
    let mut names = HashSet::new();
    let mut warnings = Vec::new();
    for _ in 0..n_tensors {
        let at = c.pos as u64;
        let t = read_tensor_info(&mut c, alignment)?;
        if !names.insert(t.name.clone()) {
            return Err(Error::invalid(
                path,
                InvalidKind::DuplicateTensor,
                "tensor name appears twice",
            )
            .with_tensor(&t.name)
            .at_offset(at));
        }
        if t.name.len() > MAX_NAME {
            warnings.push(format!(
                "tensor '{}': name is {} bytes; llama.cpp accepts at most {MAX_NAME}",
                t.name,
                t.name.len()
            ));
        }
        tensors.push(t);
    }
    let data_offset = (c.pos as u64)
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| Error::invalid(path, InvalidKind::Truncated, "header overflows"))?;
    validate_layout(path, &tensors, data_offset, buf.len() as u64, alignment)?;
    Ok(GgufFile {
        path: path.to_path_buf(),
        version,
        metadata,
        tensors,
        alignment,
        data_offset,
        map,
        warnings,
    })
}

/// Magic, version (2 or 3, little-endian) and the two counts, which must
/// fit in the bytes left: `(version, tensors, metadata entries)`.
fn read_header(c: &mut Cursor<'_>) -> Result<(u32, u64, u64)> {
    let path = c.path;
    let magic = c.take(4, "the magic")?;
    if magic != MAGIC {
        return Err(c.err(
            InvalidKind::UnknownFormat,
            "not a GGUF file (no GGUF magic)",
        ));
    }
    let version = c.u32("the version")?;
    if version.swap_bytes() == 3 || version.swap_bytes() == 2 {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            detail: "big-endian GGUF is not supported (convert it on the machine that made it)"
                .into(),
        });
    }
    if !(2..=3).contains(&version) {
        return Err(c.err(
            InvalidKind::UnknownFormat,
            format!("GGUF version {version} (modelconv reads 2 and 3)"),
        ));
    }
    let n_tensors = c.u64("the tensor count")?;
    let n_kv = c.u64("the metadata count")?;
    // Each key-value pair takes at least 8 + 4 + 1 bytes, each tensor info 8 + 4 + 8 + 4 + 8.
    let left = c.remaining() as u64;
    if n_kv > left / 13 || n_tensors > left / 32 {
        return Err(c.err(
            InvalidKind::Truncated,
            format!("{n_tensors} tensors and {n_kv} metadata entries cannot fit in the {left} bytes left"),
        ));
    }
    Ok((version, n_tensors, n_kv))
}

/// `n_kv` key-value pairs: non-empty, unique keys.
fn read_metadata(c: &mut Cursor<'_>, n_kv: u64) -> Result<Vec<(String, Value)>> {
    let path = c.path;
    let mut metadata: Vec<(String, Value)> = Vec::with_capacity((n_kv as usize).min(4096));
    let mut keys = HashSet::new();
    for _ in 0..n_kv {
        let at = c.pos;
        let key = c.string("a metadata key")?;
        if key.is_empty() {
            return Err(
                Error::invalid(path, InvalidKind::BadMetadata, "empty metadata key")
                    .at_offset(at as u64),
            );
        }
        let ty = c.u32(&key)?;
        let v = c.value(ty, &key, 0)?;
        if !keys.insert(key.clone()) {
            return Err(Error::invalid(
                path,
                InvalidKind::DuplicateKey,
                format!("metadata key '{key}' appears twice"),
            )
            .at_offset(at as u64));
        }
        metadata.push((key, v));
    }
    Ok(metadata)
}

/// `general.alignment`: a u32 power of two up to [`MAX_ALIGNMENT`], else the default.
fn alignment(path: &Path, metadata: &[(String, Value)]) -> Result<u64> {
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, Value::U32(a))) => u64::from(*a),
        Some((_, v)) => {
            return Err(Error::invalid(
                path,
                InvalidKind::BadMetadata,
                format!("general.alignment must be a u32, not {v:?}"),
            ))
        }
    };
    if alignment == 0 || !alignment.is_power_of_two() || alignment > MAX_ALIGNMENT {
        return Err(Error::invalid(
            path,
            InvalidKind::BadMetadata,
            format!("general.alignment {alignment} is not a power of two up to {MAX_ALIGNMENT}"),
        ));
    }
    Ok(alignment)
}

/// One tensor info: 1..=4 non-zero dimensions that do not overflow, a
/// known type whose blocks tile each row, an aligned offset.
fn read_tensor_info(c: &mut Cursor<'_>, alignment: u64) -> Result<TensorEntry> {
    let path = c.path;
    let at = c.pos as u64;
    let name = c.string("a tensor name")?;
    let bad = |kind, d: String| {
        Error::invalid(path, kind, d)
            .with_tensor(&name)
            .at_offset(at)
    };
    let n_dims = c.u32(&name)? as usize;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(bad(
            InvalidKind::BadShape,
            format!("{n_dims} dimensions (1..={MAX_DIMS} allowed)"),
        ));
    }
    let mut dims = Vec::with_capacity(n_dims);
    for _ in 0..n_dims {
        dims.push(c.u64(&name)?);
    }
    let type_id = c.u32(&name)?;
    let offset = c.u64(&name)?;
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| {
        bad(
            InvalidKind::BadDtype,
            format!("ggml type id {type_id} is unknown"),
        )
    })?;
    if dims.contains(&0) {
        return Err(bad(
            InvalidKind::BadShape,
            format!("zero dimension in {dims:?}"),
        ));
    }
    let numel = dims
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .filter(|&n| n < (1u64 << 62))
        .ok_or_else(|| {
            bad(
                InvalidKind::BadShape,
                format!("dimensions {dims:?} overflow"),
            )
        })?;
    let row = dims.first().copied().unwrap_or(0);
    if !row.is_multiple_of(ggml_type.block_size) {
        return Err(bad(
            InvalidKind::BadShape,
            format!(
                "row length {row} is not a multiple of {}'s block size {}",
                ggml_type, ggml_type.block_size
            ),
        ));
    }
    let nbytes = (numel / ggml_type.block_size)
        .checked_mul(ggml_type.type_size)
        .ok_or_else(|| bad(InvalidKind::BadShape, "tensor size overflows".into()))?;
    if !offset.is_multiple_of(alignment) {
        return Err(bad(
            InvalidKind::OffsetOutOfBounds,
            format!("data offset {offset} is not aligned to {alignment}"),
        ));
    }
    Ok(TensorEntry {
        name,
        dims,
        ggml_type,
        offset,
        nbytes,
    })
}

/// ggml's rule: tensor i starts exactly where tensor i-1's padded data
/// ends, and every tensor lies inside the data section.
fn validate_layout(
    path: &Path,
    tensors: &[TensorEntry],
    data_offset: u64,
    file_len: u64,
    alignment: u64,
) -> Result<()> {
    let data_len = file_len.saturating_sub(data_offset);
    let mut expected = 0u64;
    for t in tensors {
        let at = data_offset.saturating_add(t.offset);
        let bad = |kind, d: String| {
            Error::invalid(path, kind, d)
                .with_tensor(&t.name)
                .at_offset(at)
        };
        let end = t
            .offset
            .checked_add(t.nbytes)
            .filter(|&e| e <= data_len)
            .ok_or_else(|| {
                bad(
                    InvalidKind::OffsetOutOfBounds,
                    format!(
                        "data {}..+{} is outside the {data_len}-byte data section",
                        t.offset, t.nbytes
                    ),
                )
            })?;
        if t.offset < expected {
            return Err(bad(
                InvalidKind::OverlappingOffsets,
                format!(
                    "data offset {} overlaps the previous tensor, which ends at {expected}",
                    t.offset
                ),
            ));
        }
        if t.offset > expected {
            return Err(bad(
                InvalidKind::OffsetGap,
                format!(
                    "data offset {} leaves a gap: the previous tensor ends at {expected} (ggml requires consecutive tensors)",
                    t.offset
                ),
            ));
        }
        expected = end
            .checked_next_multiple_of(alignment)
            .ok_or_else(|| bad(InvalidKind::OffsetOutOfBounds, "data end overflows".into()))?;
    }
    Ok(())
}
