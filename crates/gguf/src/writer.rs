//! Writing GGUF v3.
//!
//! The whole layout is computed up front by [`header`]: the header bytes
//! (magic, version, counts, metadata in the given order, tensor infos) and
//! every tensor's absolute offset and size, each tensor starting at the
//! previous one's end padded to `general.alignment` (default 32) and the
//! file padded to the alignment after the last tensor — exactly what
//! gguf-py's `GGUFWriter` produces (the tests compare the bytes). Because
//! nothing depends on tensor data, modelconv's engine writes the tensors in
//! parallel chunks and can resume ([`layout`] gives it a
//! [`FileContent::Laid`]); [`write_to`] is the simple in-memory path.
//!
//! Everything [`crate::container::read`] (and llama.cpp) would refuse is
//! refused here first: duplicate or empty keys, `general.alignment` that is
//! not a u32 power of two up to 65536, arrays whose items do not all have the
//! declared type or that nest deeper than the reader accepts, tensor names
//! over 63 bytes or repeated, 0 or more than 4 dimensions, zero
//! dimensions, rows that are not whole blocks.

use std::collections::HashSet;
use std::io::Write;

use modelconv_core::engine::{FileContent, OutTensor};
use modelconv_core::{Error, Result};

use crate::container::{
    Value, DEFAULT_ALIGNMENT, MAGIC, MAX_ALIGNMENT, MAX_DEPTH, MAX_DIMS, MAX_LEN,
};
use crate::types::GgmlType;

pub use crate::container::MAX_NAME;

/// A tensor to write: its GGUF name, type and ggml dims, and the bytes
/// (already encoded in that type).
#[derive(Debug, Clone)]
pub struct GgufTensor {
    /// Data source; `tensor.source.len()` must equal the encoded size.
    pub tensor: OutTensor,
    /// GGUF tensor name.
    pub name: String,
    /// Stored type.
    pub ggml_type: GgmlType,
    /// C-order shape (written reversed, innermost first).
    pub shape: Vec<usize>,
}

/// What the header says about one tensor.
#[derive(Debug, Clone, Copy)]
pub struct TensorHeader<'a> {
    /// GGUF tensor name (at most [`MAX_NAME`] bytes).
    pub name: &'a str,
    /// Stored type.
    pub ggml_type: GgmlType,
    /// C-order shape, outermost first (written reversed); empty = a scalar, written as `[1]`.
    pub shape: &'a [usize],
}

/// Where one tensor's data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Absolute offset in the file.
    pub offset: u64,
    /// Encoded size in bytes.
    pub nbytes: u64,
}

/// A laid-out GGUF file: write `header` at 0, each tensor's bytes at its
/// offset, zeros everywhere else, `len` bytes in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Magic, version, counts, metadata and tensor infos (not padded).
    pub header: Vec<u8>,
    /// Data alignment in force.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Each tensor, in order.
    pub tensors: Vec<Placed>,
    /// Total file length (a multiple of the alignment).
    pub len: u64,
}

fn invalid(msg: String) -> Error {
    Error::InvalidOption(msg)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn check_value(key: &str, v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Str(s) if s.len() as u64 > MAX_LEN => Err(invalid(format!(
            "metadata '{key}': string of {} bytes (at most {MAX_LEN})",
            s.len()
        ))),
        Value::Strings(items) => {
            if items.len() as u64 > MAX_LEN {
                return Err(invalid(format!("metadata '{key}': array too long")));
            }
            match items.iter().find(|s| s.len() as u64 > MAX_LEN) {
                Some(s) => Err(invalid(format!(
                    "metadata '{key}': string of {} bytes (at most {MAX_LEN})",
                    s.len()
                ))),
                None => Ok(()),
            }
        }
        Value::Array(ty, items) => {
            if depth >= MAX_DEPTH {
                return Err(invalid(format!(
                    "metadata '{key}': arrays nested deeper than {MAX_DEPTH}"
                )));
            }
            if *ty > 12 {
                return Err(invalid(format!(
                    "metadata '{key}': array element type {ty}"
                )));
            }
            if items.len() as u64 > MAX_LEN {
                return Err(invalid(format!("metadata '{key}': array too long")));
            }
            for i in items {
                if i.type_id() != *ty {
                    return Err(invalid(format!(
                        "metadata '{key}': array of type {ty} holds a value of type {}",
                        i.type_id()
                    )));
                }
                check_value(key, i, depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Str(s) => put_str(out, s),
        Value::Strings(items) => {
            out.extend_from_slice(&8u32.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for s in items.iter() {
                put_str(out, s);
            }
        }
        Value::Array(ty, items) => {
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                put_value(out, i);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

/// The alignment `metadata` asks for (`general.alignment`, default 32).
pub fn alignment_of(metadata: &[(String, Value)]) -> Result<u64> {
    match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => Ok(DEFAULT_ALIGNMENT),
        Some((_, Value::U32(a))) => {
            let a = u64::from(*a);
            if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
                Err(invalid(format!(
                    "general.alignment {a} is not a power of two up to {MAX_ALIGNMENT}"
                )))
            } else {
                Ok(a)
            }
        }
        Some((_, v)) => Err(invalid(format!(
            "general.alignment must be a u32 (GGUF type 4), not {v:?}"
        ))),
    }
}

/// Bytes of a tensor of `ggml_type` and C-order `shape`, or why it cannot be stored.
pub fn tensor_nbytes(name: &str, ggml_type: GgmlType, shape: &[usize]) -> Result<u64> {
    if shape.len() > MAX_DIMS {
        return Err(invalid(format!(
            "tensor '{name}': {} dimensions (ggml allows at most {MAX_DIMS})",
            shape.len()
        )));
    }
    if shape.contains(&0) {
        return Err(invalid(format!(
            "tensor '{name}': shape {shape:?} has a zero dimension (GGUF cannot store empty tensors)"
        )));
    }
    let row = shape.last().copied().unwrap_or(1) as u64;
    let rows = shape
        .iter()
        .rev()
        .skip(1)
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let row_bytes = ggml_type.row_bytes(row).ok_or_else(|| {
        invalid(format!(
            "tensor '{name}': rows of {row} are not a multiple of {ggml_type}'s block size {}",
            ggml_type.block_size
        ))
    })?;
    rows.and_then(|r| r.checked_mul(row_bytes))
        .ok_or_else(|| invalid(format!("tensor '{name}': size overflows")))
}

/// Lays out a GGUF v3 file: validates everything, builds the header and
/// places each tensor (see the module docs).
pub fn header(metadata: &[(String, Value)], tensors: &[TensorHeader<'_>]) -> Result<Layout> {
    let alignment = alignment_of(metadata)?;
    let mut seen = HashSet::new();
    for (k, v) in metadata {
        if k.is_empty() {
            return Err(invalid("empty metadata key".into()));
        }
        if !seen.insert(k.as_str()) {
            return Err(invalid(format!("metadata key '{k}' given twice")));
        }
        check_value(k, v, 0)?;
    }
    let mut h = Vec::new();
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&3u32.to_le_bytes());
    h.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    h.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut h, k);
        h.extend_from_slice(&v.type_id().to_le_bytes());
        put_value(&mut h, v);
    }
    let mut names = HashSet::new();
    let mut rel = Vec::with_capacity(tensors.len());
    let mut offset = 0u64;
    for t in tensors {
        if t.name.len() > MAX_NAME {
            return Err(invalid(format!(
                "tensor name '{}' is longer than ggml's {MAX_NAME} bytes",
                t.name
            )));
        }
        if !names.insert(t.name) {
            return Err(invalid(format!("tensor '{}' given twice", t.name)));
        }
        let nbytes = tensor_nbytes(t.name, t.ggml_type, t.shape)?;
        put_str(&mut h, t.name);
        let dims: Vec<u64> = if t.shape.is_empty() {
            vec![1]
        } else {
            t.shape.iter().rev().map(|&d| d as u64).collect()
        };
        h.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in &dims {
            h.extend_from_slice(&d.to_le_bytes());
        }
        h.extend_from_slice(&t.ggml_type.id.to_le_bytes());
        h.extend_from_slice(&offset.to_le_bytes());
        rel.push((offset, nbytes));
        offset = offset
            .checked_add(nbytes)
            .and_then(|e| e.checked_next_multiple_of(alignment))
            .ok_or_else(|| invalid("file size overflows".into()))?;
    }
    let data_offset = (h.len() as u64).next_multiple_of(alignment);
    let len = data_offset
        .checked_add(offset)
        .ok_or_else(|| invalid("file size overflows".into()))?;
    Ok(Layout {
        header: h,
        alignment,
        data_offset,
        tensors: rel
            .into_iter()
            .map(|(o, n)| Placed {
                offset: data_offset + o,
                nbytes: n,
            })
            .collect(),
        len,
    })
}

/// Bytes a tensor occupies in the output (after its transform).
fn out_len(t: &OutTensor) -> u64 {
    let (num, den) = t.ratio();
    (t.source.len() / den * num) as u64
}

/// Lays out a GGUF v3 file for modelconv's write engine: the header as the
/// prefix, each tensor at its aligned offset, zero padding to the end.
pub fn layout(metadata: &[(String, Value)], tensors: &[GgufTensor]) -> Result<FileContent> {
    let heads: Vec<TensorHeader<'_>> = tensors
        .iter()
        .map(|t| TensorHeader {
            name: &t.name,
            ggml_type: t.ggml_type,
            shape: &t.shape,
        })
        .collect();
    let l = header(metadata, &heads)?;
    for (t, p) in tensors.iter().zip(&l.tensors) {
        if p.nbytes != out_len(&t.tensor) {
            return Err(Error::Internal(format!(
                "tensor '{}': {} bytes planned for {}, the source gives {}",
                t.name,
                p.nbytes,
                t.ggml_type,
                out_len(&t.tensor)
            )));
        }
    }
    Ok(FileContent::Laid {
        prefix: l.header,
        len: l.len,
        tensors: tensors
            .iter()
            .zip(&l.tensors)
            .map(|(t, p)| t.tensor.at(p.offset))
            .collect(),
        segments: Vec::new(),
        crcs: Vec::new(),
    })
}

/// Writes a whole GGUF v3 file to `out` from in-memory tensor bytes
/// (each already encoded in its type). Returns the number of bytes written.
pub fn write_to(
    out: &mut impl Write,
    metadata: &[(String, Value)],
    tensors: &[(TensorHeader<'_>, &[u8])],
) -> Result<u64> {
    let heads: Vec<TensorHeader<'_>> = tensors.iter().map(|(h, _)| *h).collect();
    let l = header(metadata, &heads)?;
    let io = |e: std::io::Error| Error::io("<gguf output>", e);
    out.write_all(&l.header).map_err(io)?;
    let mut pos = l.header.len() as u64;
    for ((h, bytes), p) in tensors.iter().zip(&l.tensors) {
        if bytes.len() as u64 != p.nbytes {
            return Err(invalid(format!(
                "tensor '{}': {} bytes given, {} {} needs {}",
                h.name,
                bytes.len(),
                h.ggml_type,
                format_args!("{:?}", h.shape),
                p.nbytes
            )));
        }
        write_zeros(out, p.offset - pos).map_err(io)?;
        out.write_all(bytes).map_err(io)?;
        pos = p.offset + p.nbytes;
    }
    write_zeros(out, l.len - pos).map_err(io)?;
    Ok(l.len)
}

fn write_zeros(out: &mut impl Write, n: u64) -> std::io::Result<()> {
    const Z: [u8; 4096] = [0; 4096];
    let mut left = n;
    while left > 0 {
        let k = left.min(Z.len() as u64) as usize;
        out.write_all(Z.get(..k).unwrap_or_default())?;
        left -= k as u64;
    }
    Ok(())
}
