//! Writing GGUF v3: the whole header (metadata in order, tensor infos) is
//! computed up front, with every tensor's aligned offset, so the engine
//! writes tensor data in parallel chunks and can resume.

use modelconv_core::engine::{FileContent, OutTensor};
use modelconv_core::{Error, Result};

use crate::container::{Value, DEFAULT_ALIGNMENT, MAGIC};
use crate::types::GgmlType;

/// Longest tensor name ggml accepts (GGML_MAX_NAME − 1).
pub const MAX_NAME: usize = 63;

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

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
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

/// Bytes a tensor occupies in the output (after its transform).
fn out_len(t: &OutTensor) -> u64 {
    let (num, den) = t.ratio();
    (t.source.len() / den * num) as u64
}

/// Lays out a GGUF v3 file: header bytes, then each tensor at an offset
/// aligned to `general.alignment` (default 32), in the given order.
pub fn layout(metadata: &[(String, Value)], tensors: &[GgufTensor]) -> Result<FileContent> {
    let alignment = metadata
        .iter()
        .find(|(k, _)| k == "general.alignment")
        .and_then(|(_, v)| v.as_u64())
        .unwrap_or(DEFAULT_ALIGNMENT);
    if !alignment.is_power_of_two() {
        return Err(Error::InvalidOption(format!(
            "general.alignment {alignment} is not a power of two"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, _) in metadata {
        if !seen.insert(k.as_str()) {
            return Err(Error::InvalidOption(format!(
                "metadata key '{k}' given twice"
            )));
        }
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
    let mut offset = 0u64;
    let mut offsets = Vec::with_capacity(tensors.len());
    let mut names = std::collections::HashSet::new();
    for t in tensors {
        if t.name.len() > MAX_NAME {
            return Err(Error::InvalidOption(format!(
                "tensor name '{}' is longer than ggml's {MAX_NAME} bytes",
                t.name
            )));
        }
        if !names.insert(t.name.as_str()) {
            return Err(Error::InvalidOption(format!(
                "tensor '{}' given twice",
                t.name
            )));
        }
        let numel: u64 = t.shape.iter().map(|&d| d as u64).product();
        let row = t.shape.last().copied().unwrap_or(1) as u64;
        let nbytes = t
            .ggml_type
            .row_bytes(row)
            .map(|r| r * (numel / row.max(1)))
            .ok_or_else(|| {
                Error::InvalidOption(format!(
                    "tensor '{}': rows of {row} are not a multiple of {}'s block size {}",
                    t.name, t.ggml_type, t.ggml_type.block_size
                ))
            })?;
        if nbytes != out_len(&t.tensor) {
            return Err(Error::Internal(format!(
                "tensor '{}': {} bytes planned for {}, the source gives {}",
                t.name,
                nbytes,
                t.ggml_type,
                out_len(&t.tensor)
            )));
        }
        put_str(&mut h, &t.name);
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
        offsets.push(offset);
        offset = (offset + nbytes).next_multiple_of(alignment);
    }
    let data_start = (h.len() as u64).next_multiple_of(alignment);
    let len = match tensors.last() {
        Some(t) => data_start + offsets.last().copied().unwrap_or(0) + out_len(&t.tensor),
        None => data_start,
    };
    Ok(FileContent::Laid {
        prefix: h,
        len,
        tensors: tensors
            .iter()
            .zip(offsets)
            .map(|(t, o)| t.tensor.at(data_start + o))
            .collect(),
        segments: Vec::new(),
        crcs: Vec::new(),
    })
}
