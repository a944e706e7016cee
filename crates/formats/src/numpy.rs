// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! NumPy `.npy` and `.npz`.
//!
//! `.npy`: `\x93NUMPY`, version, header length, a Python-literal dict
//! header (`descr`, `fortran_order`, `shape`), then the array bytes. `.npz`:
//! a zip of `NAME.npy` members (stored, or deflated by `savez_compressed`).
//! Hand-written because the `npyz` crate cannot map members zero-copy or
//! write through modelconv's engine; the format is small.
//!
//! Reading: little-endian `f2/f4/f8`, `i1..i8`, `u1..u8`, `b1`; Fortran-order
//! arrays are read as strided views. Stored npz members are zero-copy;
//! deflated members are decompressed into memory (bounded by the declared
//! size).
//!
//! Writing: `.npy` headers byte-identical to `numpy.save` (version 1.0,
//! 64-byte aligned, growth padding); `.npz` as an uncompressed zip whose
//! CRCs the engine fills in.
//!
//! bf16 convention: NumPy has no bfloat16. modelconv writes BF16 tensors
//! with `descr '<V2'` (2-byte raw void, the bit patterns; view them with
//! `arr.view(np.uint16)` or `arr.view(ml_dtypes.bfloat16)`), and reads `<V2`
//! as BF16. F8 tensors have no NumPy convention: cast them first.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use modelconv_core::engine::{CrcPart, CrcPatch, FileContent, OutTensor, OutputPlan, PlannedFile};
use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::tensor::{MmapFile, Tensor, TensorInfo};
use modelconv_core::{DType, Model, OutputTarget};

use crate::inflate::{InflateBudget, Inflated};
use crate::strided::{StorageData, StridedSource};

const MAGIC: &[u8] = b"\x93NUMPY";
/// Largest accepted npy header.
const MAX_HEADER: usize = 1 << 20;

/// True if a file with first bytes `head` at `path` is NumPy: an `.npy`
/// file, or a zip named `.npz`.
pub fn sniff_file(head: &[u8], path: &Path) -> bool {
    sniff_npy(head) || (head.starts_with(b"PK") && path.extension().is_some_and(|e| e == "npz"))
}

/// True if `head` starts like a `.npy` file.
pub fn sniff_npy(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// The npy `descr` of a dtype, if it has one.
pub fn descr(dtype: DType) -> Option<&'static str> {
    Some(match dtype {
        DType::Bool => "|b1",
        DType::U8 => "|u1",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::U16 => "<u2",
        DType::F16 => "<f2",
        DType::BF16 => "<V2",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I64 => "<i8",
        DType::U64 => "<u8",
        DType::F8E4M3 | DType::F8E5M2 => return None,
    })
}

fn dtype_of(descr: &str) -> Option<DType> {
    let d = match descr {
        "|b1" | "<b1" | "b1" | "?" => DType::Bool,
        "|u1" | "<u1" | "u1" => DType::U8,
        "|i1" | "<i1" | "i1" => DType::I8,
        "<i2" => DType::I16,
        "<u2" => DType::U16,
        "<f2" => DType::F16,
        "<V2" | "|V2" => DType::BF16,
        "<i4" => DType::I32,
        "<u4" => DType::U32,
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<i8" => DType::I64,
        "<u8" => DType::U64,
        _ => return None,
    };
    Some(d)
}

/// A parsed npy header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: DType,
    /// Column-major layout.
    pub fortran_order: bool,
    /// Shape.
    pub shape: Vec<u64>,
    /// Offset of the data from the start of the npy bytes.
    pub data_offset: usize,
}

/// Minimal parser for the header's Python literal dict.
struct Lit<'a> {
    s: &'a [u8],
    i: usize,
}

#[derive(Debug, PartialEq)]
enum LitValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

impl Lit<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Option<String> {
        self.ws();
        let q = *self.s.get(self.i)?;
        if q != b'\'' && q != b'"' {
            return None;
        }
        let start = self.i + 1;
        let end = start + self.s.get(start..)?.iter().position(|&c| c == q)?;
        self.i = end + 1;
        String::from_utf8(self.s.get(start..end)?.to_vec()).ok()
    }

    fn value(&mut self) -> Option<LitValue> {
        self.ws();
        let rest = self.s.get(self.i..)?;
        if rest.starts_with(b"True") {
            self.i += 4;
            return Some(LitValue::Bool(true));
        }
        if rest.starts_with(b"False") {
            self.i += 5;
            return Some(LitValue::Bool(false));
        }
        if self.eat(b'(') {
            let mut dims = Vec::new();
            loop {
                if self.eat(b')') {
                    return Some(LitValue::Tuple(dims));
                }
                self.ws();
                let start = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                let n: u64 = std::str::from_utf8(self.s.get(start..self.i)?)
                    .ok()?
                    .parse()
                    .ok()?;
                dims.push(n);
                if dims.len() > 64 {
                    return None;
                }
                self.ws();
                if !self.eat(b',') && self.s.get(self.i) != Some(&b')') {
                    return None;
                }
            }
        }
        self.string().map(LitValue::Str)
    }

    fn dict(&mut self) -> Option<Vec<(String, LitValue)>> {
        if !self.eat(b'{') {
            return None;
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                return Some(out);
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return None;
            }
            let v = self.value()?;
            out.push((k, v));
            if !self.eat(b',') {
                return if self.eat(b'}') { Some(out) } else { None };
            }
        }
    }
}

/// Where the data of npy bytes starting with `preamble` (at least 12
/// bytes, or the whole member) begins: magic, version, length and header.
fn header_len(preamble: &[u8]) -> Option<usize> {
    match (preamble.get(6), preamble.get(8..12)) {
        (Some(1), Some(&[a, b, _, _])) => Some(10 + usize::from(u16::from_le_bytes([a, b]))),
        (Some(2 | 3), Some(&[a, b, c, d])) => usize::try_from(u32::from_le_bytes([a, b, c, d]))
            .ok()?
            .checked_add(12),
        _ => None,
    }
}

/// Parses the header of npy bytes.
pub fn parse_header(path: &Path, b: &[u8]) -> Result<NpyHeader> {
    let bad = |kind, d: String| Error::invalid(path, kind, d);
    if !b.starts_with(MAGIC) {
        return Err(bad(
            InvalidKind::UnknownFormat,
            "missing \\x93NUMPY magic".into(),
        ));
    }
    let major = *b
        .get(6)
        .ok_or_else(|| bad(InvalidKind::Truncated, "no version".into()))?;
    let (hlen, start) = match major {
        1 => {
            let Some(&[h0, h1]) = b.get(8..10) else {
                return Err(bad(InvalidKind::Truncated, "no header length".into()));
            };
            (usize::from(u16::from_le_bytes([h0, h1])), 10)
        }
        2 | 3 => {
            let Some(&[h0, h1, h2, h3]) = b.get(8..12) else {
                return Err(bad(InvalidKind::Truncated, "no header length".into()));
            };
            let n = u32::from_le_bytes([h0, h1, h2, h3]);
            (usize::try_from(n).unwrap_or(usize::MAX), 12)
        }
        v => {
            return Err(bad(
                InvalidKind::UnsupportedContent,
                format!("npy version {v}"),
            ))
        }
    };
    if hlen > MAX_HEADER {
        return Err(bad(InvalidKind::HeaderTooLarge, format!("header length {hlen}")).at_offset(8));
    }
    let header = b.get(start..start + hlen).ok_or_else(|| {
        bad(
            InvalidKind::HeaderTooLarge,
            format!("header length {hlen} is larger than the file"),
        )
        .at_offset(8)
    })?;
    let dict = Lit { s: header, i: 0 }.dict().ok_or_else(|| {
        bad(
            InvalidKind::HeaderNotObject,
            "header is not a {'descr', 'fortran_order', 'shape'} dict".into(),
        )
        .at_offset(start as u64)
    })?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (k, v) in dict {
        match (k.as_str(), v) {
            ("descr", LitValue::Str(s)) => descr = Some(s),
            ("fortran_order", LitValue::Bool(f)) => fortran = Some(f),
            ("shape", LitValue::Tuple(t)) => shape = Some(t),
            (k, _) => {
                return Err(bad(
                    InvalidKind::HeaderNotObject,
                    format!("unexpected header entry '{k}'"),
                ))
            }
        }
    }
    let (Some(descr), Some(fortran_order), Some(shape)) = (descr, fortran, shape) else {
        return Err(bad(
            InvalidKind::HeaderNotObject,
            "header lacks descr, fortran_order or shape".into(),
        ));
    };
    let dtype = dtype_of(&descr).ok_or_else(|| {
        bad(
            InvalidKind::BadDtype,
            format!("descr '{descr}' (little-endian bool/int/uint/float, and '<V2' for bf16, are supported)"),
        )
    })?;
    Ok(NpyHeader {
        dtype,
        fortran_order,
        shape,
        data_offset: start + hlen,
    })
}

fn tensor_from(path: &Path, name: &str, h: &NpyHeader, storage: StorageData) -> Result<Tensor> {
    let numel = h
        .shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            Error::invalid(path, InvalidKind::BadShape, "shape overflows").with_tensor(name)
        })?;
    let nbytes = numel.checked_mul(h.dtype.size() as u64).ok_or_else(|| {
        Error::invalid(path, InvalidKind::BadShape, "size overflows").with_tensor(name)
    })?;
    let have = storage.len() as u64;
    if have != nbytes {
        let kind = if have < nbytes {
            InvalidKind::Truncated
        } else {
            InvalidKind::TrailingBytes
        };
        return Err(Error::invalid(
            path,
            kind,
            format!(
                "shape {:?} of {} needs {nbytes} bytes, the data has {have}",
                h.shape, h.dtype
            ),
        )
        .with_tensor(name));
    }
    // Strides in elements: C order, or reversed for Fortran order.
    let n = h.shape.len();
    let mut stride = vec![0u64; n];
    let mut acc = 1u64;
    let order: Vec<usize> = if h.fortran_order {
        (0..n).collect()
    } else {
        (0..n).rev().collect()
    };
    for d in order {
        if let (Some(s), Some(&dim)) = (stride.get_mut(d), h.shape.get(d)) {
            *s = acc;
            acc = acc.saturating_mul(dim);
        }
    }
    let source = StridedSource::new(storage, h.dtype, 0, &h.shape, &stride)
        .map_err(|d| Error::invalid(path, InvalidKind::OffsetOutOfBounds, d).with_tensor(name))?;
    let shape = h
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| {
            Error::invalid(path, InvalidKind::BadShape, "shape does not fit in memory")
                .with_tensor(name)
        })?;
    Ok(Tensor {
        info: TensorInfo {
            name: name.to_string(),
            dtype: h.dtype,
            shape,
        },
        source: Arc::new(source),
        file: std::sync::Arc::from(path),
    })
}

/// Reads a `.npy` file as one tensor named after the file stem.
pub fn read_npy(path: &Path) -> Result<(Vec<Tensor>, u64)> {
    let file = MmapFile::open(path)?;
    let h = parse_header(path, file.bytes())?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "array".into());
    let storage = StorageData::Mapped(Arc::clone(&file), h.data_offset..file.len());
    Ok((
        vec![tensor_from(path, &name, &h, storage)?],
        file.len() as u64,
    ))
}

/// Reads a `.npz` archive: one tensor per `NAME.npy` member, in archive order.
pub fn read_npz(path: &Path) -> Result<(Vec<Tensor>, u64)> {
    let file = MmapFile::open(path)?;
    let bytes = file.bytes();
    let zerr = |e: zip::result::ZipError| {
        Error::invalid(path, InvalidKind::MalformedArchive, e.to_string())
    };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zerr)?;
    if zip.has_duplicate_names() {
        return Err(Error::invalid(
            path,
            InvalidKind::DuplicateKey,
            "two members with the same name",
        ));
    }
    let budget = InflateBudget::new(path);
    let mut tensors = Vec::new();
    for i in 0..zip.len() {
        let (name, method, start, size, csize, crc) = {
            let m = zip.by_index_raw(i).map_err(zerr)?;
            let name = m.name().map_err(zerr)?.to_string();
            (
                name,
                m.compression(),
                m.data_start().unwrap_or(0),
                m.size(),
                m.compressed_size(),
                m.crc32(),
            )
        };
        let stored = method == zip::CompressionMethod::Stored;
        let Some(tensor_name) = name.strip_suffix(".npy") else {
            continue;
        };
        let (storage, h) = if stored {
            let end = start
                .checked_add(size)
                .filter(|&e| e <= bytes.len() as u64 && size == csize)
                .ok_or_else(|| {
                    Error::invalid(
                        path,
                        InvalidKind::Truncated,
                        format!("member {name} extends past the end"),
                    )
                    .at_offset(start)
                })?;
            let member = bytes.get(start as usize..end as usize).unwrap_or_default();
            let h = parse_header(path, member).map_err(|e| e.with_tensor(tensor_name))?;
            let data = start as usize + h.data_offset..end as usize;
            (StorageData::Mapped(Arc::clone(&file), data), h)
        } else {
            if method != zip::CompressionMethod::Deflated {
                return Err(Error::invalid(
                    path,
                    InvalidKind::UnsupportedContent,
                    format!("member {name} is compressed with {method:?} (deflate is read)"),
                ));
            }
            let end = start.checked_add(csize).ok_or_else(|| {
                Error::invalid(path, InvalidKind::Truncated, format!("member {name}"))
            })?;
            let member = Inflated::new(
                Arc::clone(&file),
                &name,
                start as usize..usize::try_from(end).unwrap_or(usize::MAX),
                size,
                crc,
                Arc::clone(&budget),
            )?;
            // Only the header is inflated here; the data when it is read.
            let preamble = member.head(12)?;
            let h = match header_len(&preamble) {
                Some(total) if total <= MAX_HEADER + 12 => parse_header(path, &member.head(total)?)
                    .map_err(|e| e.with_tensor(tensor_name))?,
                _ => parse_header(path, &preamble).map_err(|e| e.with_tensor(tensor_name))?,
            };
            let range = h.data_offset..member.len();
            (StorageData::Inflated(member, range), h)
        };
        tensors.push(tensor_from(path, tensor_name, &h, storage)?);
    }
    Ok((tensors, bytes.len() as u64))
}

/// The npy header bytes numpy's `save` writes for `dtype` and `shape`
/// (version 1.0, or 2.0 when the header needs more than 65535 bytes).
pub fn npy_header(dtype: DType, shape: &[usize]) -> Result<Vec<u8>> {
    let descr = descr(dtype).ok_or_else(|| {
        Error::InvalidOption(format!(
            "{dtype} has no NumPy representation; cast it first (e.g. --dtype f16)"
        ))
    })?;
    let shape_repr = match shape {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_repr}, }}");
    // numpy leaves room to grow the first axis in place (GROWTH_AXIS_MAX_DIGITS = 21).
    if let Some(first) = shape.first() {
        h.push_str(&" ".repeat(21usize.saturating_sub(first.to_string().len())));
    }
    let hlen = h.len() + 1;
    let (version, prefix_len): (u8, usize) = if hlen + 10 < 65536 { (1, 10) } else { (2, 12) };
    // As numpy: 1..=64 spaces, so the data starts 64-byte aligned.
    let pad = 64 - (prefix_len + hlen) % 64;
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    let total = hlen + pad;
    if version == 1 {
        out.extend_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    Ok(out)
}

/// Lays out a `.npy` file for exactly one tensor.
pub fn layout_npy(tensor: &OutTensor) -> Result<FileContent> {
    let prefix = npy_header(tensor.info.dtype, &tensor.info.shape)?;
    let base = prefix.len() as u64;
    Ok(FileContent::Laid {
        len: base + tensor.info.nbytes() as u64,
        prefix,
        tensors: vec![tensor.at(base)],
        segments: Vec::new(),
        crcs: Vec::new(),
    })
}

/// A tensor name becomes the member name `NAME.npy`: numpy accepts any
/// string, but unzip tools write members as paths, so names that are
/// absolute, climb with `..`, hold NUL or backslashes or control
/// characters are refused (naming the tensor) rather than written.
fn check_member_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('/') {
        Some("is an absolute path")
    } else if name
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        Some("has an empty, '.' or '..' path component")
    } else if name.chars().any(|c| c == '\\' || c.is_control()) {
        Some("holds a backslash, NUL or control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::InvalidOption(format!(
            "tensor '{}' cannot be an .npz member name: it {why}; write safetensors or Parquet instead",
            name.escape_debug()
        ))),
        None => Ok(()),
    }
}

/// Lays out an uncompressed `.npz` (zip) of `NAME.npy` members. CRC-32
/// fields are filled in by the engine once the data is written.
pub fn layout_npz(tensors: &[OutTensor]) -> Result<FileContent> {
    const DOS_DATE: u16 = 0x21; // 1980-01-01, deterministic
                                // Checked first, before anything is laid out.
    if tensors.len() > usize::from(u16::MAX) {
        return Err(Error::InvalidOption(format!(
            "{} tensors: an .npz written by modelconv holds at most 65535 (no ZIP64 yet); write safetensors or parquet instead",
            tensors.len()
        )));
    }
    let mut segments: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut jobs = Vec::new();
    let mut crcs = Vec::new();
    let mut central = Vec::new();
    let mut offset = 0u64;
    let mut seen = BTreeMap::new();
    for (i, t) in tensors.iter().enumerate() {
        if seen.insert(t.info.name.as_str(), i).is_some() {
            return Err(Error::Internal(format!(
                "duplicate tensor '{}'",
                t.info.name
            )));
        }
        check_member_name(&t.info.name)?;
        let name = format!("{}.npy", t.info.name);
        let header = npy_header(t.info.dtype, &t.info.shape)?;
        let size = header.len() as u64 + t.info.nbytes() as u64;
        let size32 = u32::try_from(size)
            .ok()
            .filter(|&s| s != u32::MAX)
            .ok_or_else(|| {
                Error::InvalidOption(format!(
                    "tensor '{}': npz members over 4 GiB are not supported yet",
                    t.info.name
                ))
            })?;
        let off32 = u32::try_from(offset)
            .ok()
            .filter(|&s| s != u32::MAX)
            .ok_or_else(|| {
                Error::InvalidOption("npz files over 4 GiB are not supported yet".into())
            })?;
        let name_len = u16::try_from(name.len()).map_err(|_| {
            Error::InvalidOption(format!("tensor name '{}' is too long", t.info.name))
        })?;
        // Local file header; CRC at +14.
        let mut local = Vec::with_capacity(30 + name.len());
        local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes()); // version needed
        local.extend_from_slice(&0u16.to_le_bytes()); // flags
        local.extend_from_slice(&0u16.to_le_bytes()); // stored
        local.extend_from_slice(&0u16.to_le_bytes()); // time
        local.extend_from_slice(&DOS_DATE.to_le_bytes());
        local.extend_from_slice(&0u32.to_le_bytes()); // crc, patched
        local.extend_from_slice(&size32.to_le_bytes());
        local.extend_from_slice(&size32.to_le_bytes());
        local.extend_from_slice(&name_len.to_le_bytes());
        local.extend_from_slice(&0u16.to_le_bytes()); // extra
        local.extend_from_slice(name.as_bytes());
        let local_crc_at = offset + 14;
        let header_at = offset + local.len() as u64;
        let data_at = header_at + header.len() as u64;
        segments.push((offset, local));
        segments.push((header_at, header.clone()));
        jobs.push(t.at(data_at));
        // Central directory entry; CRC at +16 within it (offset fixed later).
        let mut c = Vec::with_capacity(46 + name.len());
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes()); // version made by
        c.extend_from_slice(&20u16.to_le_bytes()); // version needed
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&DOS_DATE.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes()); // crc, patched
        c.extend_from_slice(&size32.to_le_bytes());
        c.extend_from_slice(&size32.to_le_bytes());
        c.extend_from_slice(&name_len.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes()); // extra
        c.extend_from_slice(&0u16.to_le_bytes()); // comment
        c.extend_from_slice(&0u16.to_le_bytes()); // disk
        c.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        c.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        c.extend_from_slice(&off32.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        let central_crc_rel = central.len() as u64 + 16;
        central.extend_from_slice(&c);
        crcs.push(CrcPatch {
            parts: vec![CrcPart::Bytes(header), CrcPart::Tensor(i)],
            at: vec![local_crc_at, central_crc_rel], // second one rebased below
        });
        offset = data_at + t.info.nbytes() as u64;
    }
    let cd_at = offset;
    for p in &mut crcs {
        if let Some(rel) = p.at.get_mut(1) {
            *rel += cd_at;
        }
    }
    let n = u16::try_from(tensors.len())
        .map_err(|_| Error::InvalidOption("npz with more than 65535 tensors".into()))?;
    let cd_len = u32::try_from(central.len())
        .map_err(|_| Error::InvalidOption("npz directory too large".into()))?;
    let cd_off = u32::try_from(cd_at)
        .map_err(|_| Error::InvalidOption("npz files over 4 GiB are not supported yet".into()))?;
    let mut end = central;
    end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    end.extend_from_slice(&n.to_le_bytes());
    end.extend_from_slice(&n.to_le_bytes());
    end.extend_from_slice(&cd_len.to_le_bytes());
    end.extend_from_slice(&cd_off.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes());
    let len = cd_at + end.len() as u64;
    segments.push((cd_at, end));
    Ok(FileContent::Laid {
        prefix: Vec::new(),
        len,
        tensors: jobs,
        segments,
        crcs,
    })
}

/// Plans NumPy output: `x.npy` (one tensor), `x.npz`, or a directory with
/// `model.npz` and the model's carried files.
pub fn plan(model: &Model, tensors: &[OutTensor], target: &OutputTarget) -> Result<OutputPlan> {
    match target {
        OutputTarget::File(file) => {
            let (root, fname) = modelconv_core::split_file_path(file)?;
            let content = if fname.ends_with(".npy") {
                match tensors {
                    [one] => layout_npy(one)?,
                    _ => {
                        return Err(Error::InvalidOption(format!(
                        "a .npy file holds one array but the model has {} tensors; write a .npz",
                        tensors.len()
                    )))
                    }
                }
            } else {
                layout_npz(tensors)?
            };
            Ok(OutputPlan {
                root,
                name: fname.clone(),
                files: vec![PlannedFile {
                    rel_path: fname,
                    content,
                }],
            })
        }
        OutputTarget::Directory(dir) => {
            let mut files: Vec<PlannedFile> = model
                .aux_files
                .iter()
                .map(|a| PlannedFile {
                    rel_path: a.rel_path.clone(),
                    content: a.content(),
                })
                .collect();
            files.push(PlannedFile {
                rel_path: "model.npz".into(),
                content: layout_npz(tensors)?,
            });
            Ok(OutputPlan {
                root: dir.clone(),
                name: "model".into(),
                files,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_literal() -> Result<()> {
        let mut b = npy_header(DType::F32, &[2, 3])?;
        assert_eq!(b.len() % 64, 0);
        b.extend_from_slice(&[0u8; 24]);
        let h = parse_header(Path::new("x.npy"), &b)?;
        assert_eq!(h.dtype, DType::F32);
        assert_eq!(h.shape, vec![2, 3]);
        assert!(!h.fortran_order);
        let text = std::str::from_utf8(&b[10..h.data_offset]).unwrap_or("");
        assert!(
            text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
            "{text}"
        );
        for bad in [
            "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
            "[1]",
            "{'descr': '<f4'}",
        ] {
            let mut v = b"\x93NUMPY\x01\x00".to_vec();
            v.extend_from_slice(&(bad.len() as u16).to_le_bytes());
            v.extend_from_slice(bad.as_bytes());
            assert!(parse_header(Path::new("x.npy"), &v).is_err(), "{bad}");
        }
        Ok(())
    }
}
