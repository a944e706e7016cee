// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! safetensors: single files.
//!
//! Layout: `u64` little-endian header length `N`, `N` bytes of JSON, then
//! the tensor bytes. The reader validates everything before a tensor is
//! touched: header size cap (100 MB, like the reference crate), UTF-8, a
//! JSON object without duplicate keys, string-only `__metadata__`, known
//! dtypes, overflow-checked shapes, byte ranges that exactly tile the data
//! section (no gaps, overlaps or trailing bytes). Errors name the file, the
//! tensor and the absolute byte offset.
//!
//! Why not the `safetensors` crate here: its reader accepts duplicate keys
//! and does not say which tensor or offset is wrong, and its writer cannot
//! place tensors at precomputed offsets in parallel or resume. We follow
//! its rules and its output byte for byte instead (tensors ordered by dtype
//! rank descending then name, compact JSON, header padded with spaces to a
//! multiple of 8), and test against it and the Python package.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use modelconv_core::engine::{FileContent, OutTensor, TensorJob};
use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::tensor::{MmapFile, MmapSlice, Tensor, TensorInfo};
use modelconv_core::DType;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// Largest accepted header, as in the reference implementation.
pub const MAX_HEADER_SIZE: u64 = 100_000_000;

/// A parsed safetensors file.
#[derive(Debug)]
pub struct SafetensorsFile {
    /// Tensors in offset order.
    pub tensors: Vec<Tensor>,
    /// `__metadata__`.
    pub metadata: BTreeMap<String, String>,
    /// File size in bytes.
    pub size: u64,
}

/// A JSON object with its keys in file order, duplicates kept.
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedObject, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(entry);
                }
                Ok(OrderedObject(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Reads and validates a safetensors file.
pub fn read_file(path: &Path) -> Result<SafetensorsFile> {
    let file = MmapFile::open(path)?;
    let bytes = file.bytes();
    let size = bytes.len() as u64;
    let invalid = |kind, detail: String| Error::invalid(path, kind, detail);

    let Some(len_bytes) = bytes.get(..8) else {
        return Err(invalid(
            InvalidKind::Truncated,
            format!("{size} bytes is too short for the 8-byte header length"),
        ));
    };
    let mut n_buf = [0u8; 8];
    n_buf.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(n_buf);
    if n > MAX_HEADER_SIZE {
        return Err(invalid(
            InvalidKind::HeaderTooLarge,
            format!("header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit"),
        )
        .at_offset(0));
    }
    let data_start = 8 + n; // cannot overflow: n <= MAX_HEADER_SIZE
    if data_start > size {
        return Err(invalid(
            InvalidKind::HeaderTooLarge,
            format!(
                "header length {n} is larger than the {} bytes after it",
                size - 8
            ),
        )
        .at_offset(0));
    }
    let header = bytes.get(8..data_start as usize).ok_or_else(|| {
        invalid(
            InvalidKind::Truncated,
            "header past the end of the file".to_string(),
        )
        .at_offset(8)
    })?;
    let text = std::str::from_utf8(header).map_err(|e| {
        invalid(InvalidKind::HeaderNotUtf8, e.to_string()).at_offset(8 + e.valid_up_to() as u64)
    })?;
    if !text.starts_with('{') {
        return Err(invalid(
            InvalidKind::HeaderNotObject,
            "header does not start with '{'".into(),
        )
        .at_offset(8));
    }
    let object: OrderedObject = serde_json::from_str(text).map_err(|e| {
        let kind = if e.is_data() {
            InvalidKind::HeaderNotObject
        } else {
            InvalidKind::HeaderNotJson
        };
        invalid(kind, format!("{e}")).at_offset(8)
    })?;

    let mut seen = HashSet::new();
    let mut metadata = BTreeMap::new();
    let mut entries: Vec<(String, DType, Vec<usize>, u64, u64)> = Vec::new();
    for (name, value) in object.0 {
        if !seen.insert(name.clone()) {
            return Err(invalid(
                InvalidKind::DuplicateKey,
                format!("key '{name}' appears twice"),
            )
            .at_offset(8));
        }
        if name == "__metadata__" {
            let obj = value.as_object().ok_or_else(|| {
                invalid(
                    InvalidKind::BadMetadata,
                    "__metadata__ is not an object".into(),
                )
            })?;
            for (k, v) in obj {
                let v = v.as_str().ok_or_else(|| {
                    invalid(
                        InvalidKind::BadMetadata,
                        format!("__metadata__ value for '{k}' is not a string"),
                    )
                })?;
                metadata.insert(k.clone(), v.to_string());
            }
            continue;
        }
        let raw: RawEntry = serde_json::from_value(value)
            .map_err(|e| invalid(InvalidKind::BadTensorEntry, e.to_string()).with_tensor(&name))?;
        let dtype = parse_dtype(&raw.dtype)
            .map_err(|d| invalid(InvalidKind::BadDtype, d).with_tensor(&name))?;
        let shape: Vec<usize> = raw
            .shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                invalid(
                    InvalidKind::BadShape,
                    format!("shape {:?} does not fit in memory", raw.shape),
                )
                .with_tensor(&name)
            })?;
        let info = TensorInfo {
            name: name.clone(),
            dtype,
            shape,
        };
        let nbytes = info.checked_nbytes().ok_or_else(|| {
            invalid(
                InvalidKind::BadShape,
                format!("shape {:?} overflows", raw.shape),
            )
            .with_tensor(&name)
        })?;
        let (begin, end) = raw.data_offsets;
        if begin > end {
            return Err(invalid(
                InvalidKind::BadTensorEntry,
                format!("data_offsets [{begin}, {end}] end before they begin"),
            )
            .with_tensor(&name)
            .at_offset(data_start.saturating_add(begin)));
        }
        if end - begin != nbytes as u64 {
            return Err(invalid(
                InvalidKind::SizeMismatch,
                format!(
                    "data_offsets [{begin}, {end}] hold {} bytes but {dtype} {:?} needs {nbytes}",
                    end - begin,
                    info.shape
                ),
            )
            .with_tensor(&name)
            .at_offset(data_start.saturating_add(begin)));
        }
        entries.push((name, dtype, info.shape, begin, end));
    }

    // The byte ranges must tile the data section exactly.
    entries.sort_by_key(|e| (e.3, e.4));
    let data_len = size - data_start;
    let mut expected = 0u64;
    for (name, _, _, begin, end) in &entries {
        let at = data_start.saturating_add(*begin);
        if *begin < expected {
            return Err(invalid(
                InvalidKind::OverlappingOffsets,
                format!(
                    "starts at data offset {begin}, but the previous tensor ends at {expected}"
                ),
            )
            .with_tensor(name)
            .at_offset(at));
        }
        if *begin > expected {
            return Err(invalid(
                InvalidKind::OffsetGap,
                format!(
                    "starts at data offset {begin}, but the previous tensor ends at {expected}"
                ),
            )
            .with_tensor(name)
            .at_offset(data_start + expected));
        }
        if *end > data_len {
            return Err(invalid(
                InvalidKind::Truncated,
                format!("data ends at offset {end} but the file has only {data_len} data bytes"),
            )
            .with_tensor(name)
            .at_offset(at));
        }
        expected = *end;
    }
    if expected < data_len {
        return Err(invalid(
            InvalidKind::TrailingBytes,
            format!("{} bytes after the last tensor", data_len - expected),
        )
        .at_offset(data_start + expected));
    }

    let mut tensors = Vec::with_capacity(entries.len());
    for (name, dtype, shape, begin, end) in entries {
        // In bounds: checked above against the mapped length.
        let range = (data_start + begin) as usize..(data_start + end) as usize;
        let source = MmapSlice::new(Arc::clone(&file), range)?;
        tensors.push(Tensor {
            info: TensorInfo { name, dtype, shape },
            source: Arc::new(source),
            file: path.to_path_buf(),
        });
    }
    Ok(SafetensorsFile {
        tensors,
        metadata,
        size,
    })
}

fn parse_dtype(s: &str) -> std::result::Result<DType, String> {
    match s {
        "F4" | "F6_E2M3" | "F6_E3M2" | "F8_E8M0" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" | "C64" => Err(
            format!("dtype {s} is valid safetensors but not supported by modelconv yet"),
        ),
        _ => {
            let dt: DType = s.parse().map_err(|_| format!("unknown dtype '{s}'"))?;
            // Only the exact safetensors spelling is accepted in a file.
            if dt.name() == s {
                Ok(dt)
            } else {
                Err(format!("unknown dtype '{s}'"))
            }
        }
    }
}

/// Lays out one safetensors file: returns the file content (header prefix,
/// total length and tensor placements). Tensors are ordered like the
/// reference writer (dtype rank descending, then name) so the bytes match
/// what `safetensors.numpy.save_file` writes for the same tensors and
/// metadata.
pub fn layout(tensors: &[&OutTensor], metadata: &BTreeMap<String, String>) -> Result<FileContent> {
    let mut order: Vec<&OutTensor> = tensors.to_vec();
    order.sort_by(|a, b| {
        b.info
            .dtype
            .safetensors_rank()
            .cmp(&a.info.dtype.safetensors_rank())
            .then_with(|| a.info.name.cmp(&b.info.name))
    });
    let mut header = String::from("{");
    if !metadata.is_empty() {
        header.push_str("\"__metadata__\":");
        header.push_str(&json(metadata)?);
    }
    let mut offset = 0u64;
    let mut placed = Vec::with_capacity(order.len());
    for (i, t) in order.iter().enumerate() {
        let n = t.info.nbytes() as u64;
        if i > 0 || !metadata.is_empty() {
            header.push(',');
        }
        header.push_str(&json(&t.info.name)?);
        header.push_str(&format!(
            ":{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{},{}]}}",
            t.info.dtype.name(),
            json(&t.info.shape)?,
            offset,
            offset + n
        ));
        placed.push((*t, offset));
        offset += n;
    }
    header.push('}');
    let pad = (8 - header.len() % 8) % 8;
    header.extend(std::iter::repeat_n(' ', pad));
    let mut prefix = (header.len() as u64).to_le_bytes().to_vec();
    prefix.extend_from_slice(header.as_bytes());
    let base = prefix.len() as u64;
    let jobs: Vec<TensorJob> = placed
        .into_iter()
        .map(|(t, off)| t.at(base + off))
        .collect();
    Ok(FileContent::Laid {
        len: base + offset,
        prefix,
        tensors: jobs,
        segments: Vec::new(),
        crcs: Vec::new(),
    })
}

fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("JSON encoding failed: {e}")))
}

/// Returns true if `bytes` (the start of a file) look like safetensors.
pub fn sniff(bytes: &[u8]) -> bool {
    bytes.get(8) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::*;
    use modelconv_core::engine::Transform;
    use modelconv_core::tensor::OwnedBytes;

    fn out(name: &str, dtype: DType, shape: Vec<usize>) -> OutTensor {
        let n = shape.iter().product::<usize>() * dtype.size();
        OutTensor {
            info: TensorInfo {
                name: name.into(),
                dtype,
                shape,
            },
            source: Arc::new(OwnedBytes(Arc::new(vec![7u8; n]))),
            transform: Transform::Copy,
        }
    }

    #[test]
    fn header_matches_the_documented_reference_bytes() -> Result<()> {
        // The header the Python package writes for
        // {"a": f32[1,3], "b": f16[2], "c": u8[3]} with metadata format=pt
        // (shared/reference/formats.md §10, checked with safetensors 0.8.0).
        let a = out("a", DType::F32, vec![1, 3]);
        let b = out("b", DType::F16, vec![2]);
        let c = out("c", DType::U8, vec![3]);
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let FileContent::Laid {
            prefix,
            len,
            tensors,
            ..
        } = layout(&[&c, &b, &a], &meta)?
        else {
            return Err(Error::Internal("not laid".into()));
        };
        let expect = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]},"b":{"dtype":"F16","shape":[2],"data_offsets":[12,16]},"c":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}   "#;
        assert_eq!(
            u64::from_le_bytes(prefix[..8].try_into().unwrap_or_default()),
            200
        );
        assert_eq!(&prefix[8..], expect.as_bytes());
        assert_eq!(len, 8 + 200 + 19);
        let names: Vec<_> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        Ok(())
    }

    #[test]
    fn dtype_spellings_must_be_exact() {
        assert_eq!(parse_dtype("F16"), Ok(DType::F16));
        assert!(parse_dtype("f16").is_err());
        assert!(parse_dtype("F4").is_err());
        assert!(parse_dtype("Q4").is_err());
    }
}
