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

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use modelconv_core::engine::{FileContent, OutTensor, TensorJob};
use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::tensor::{MmapFile, MmapSlice, Tensor, TensorInfo, TensorSource};
use modelconv_core::DType;
use serde::de::{Deserializer as _, MapAccess, Visitor};
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

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The parsed header: tensors in header order (sources not set yet) with
/// their byte ranges relative to the data section, and `__metadata__`.
/// Kept as two flat lists and sorted in place, so a header of a million
/// tensors holds each tensor once.
#[derive(Default)]
struct Header {
    tensors: Vec<Tensor>,
    ranges: Vec<(u64, u64)>,
    metadata: BTreeMap<String, String>,
}

/// Reads and validates a safetensors file: `read_prefix` (the length),
/// `parse_header` (the JSON, entry by entry), `validate_layout` (the byte
/// ranges tile the data section) and `build` (tensor sources).
pub fn read_file(path: &Path) -> Result<SafetensorsFile> {
    let file = MmapFile::open(path)?;
    let size = file.len() as u64;
    let n = read_prefix(path, &file)?;
    let data_start = 8 + n; // cannot overflow: n <= MAX_HEADER_SIZE
    let mut header = parse_header(path, &file, n)?;
    validate_layout(path, &mut header, data_start, size)?;
    build(&file, header, data_start, size)
}

fn invalid(path: &Path, kind: InvalidKind, detail: String) -> Error {
    Error::invalid(path, kind, detail)
}

/// The header length, checked against the cap and the file.
fn read_prefix(path: &Path, file: &MmapFile) -> Result<u64> {
    let size = file.len() as u64;
    let Some(len_bytes) = file.bytes().get(..8) else {
        return Err(invalid(
            path,
            InvalidKind::Truncated,
            format!("{size} bytes is too short for the 8-byte header length"),
        ));
    };
    let mut n_buf = [0u8; 8];
    n_buf.copy_from_slice(len_bytes);
    let n = u64::from_le_bytes(n_buf);
    // An impossible length and no JSON object after it: not a safetensors
    // file at all (a text file, another format under this name).
    let json_follows = file.bytes().get(8) == Some(&b'{');
    if (n > MAX_HEADER_SIZE || 8 + n > size) && !json_follows {
        let start =
            String::from_utf8_lossy(file.bytes().get(..16.min(file.len())).unwrap_or_default())
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect::<String>();
        return Err(invalid(
            path,
            InvalidKind::UnknownFormat,
            format!(
                "not a safetensors file: one starts with an 8-byte header length and a JSON object at byte 8; this one starts with \"{start}\""
            ),
        ));
    }
    if n > MAX_HEADER_SIZE {
        return Err(invalid(
            path,
            InvalidKind::HeaderTooLarge,
            format!("header length {n} exceeds the {MAX_HEADER_SIZE}-byte limit"),
        )
        .at_offset(0));
    }
    if 8 + n > size {
        return Err(invalid(
            path,
            InvalidKind::HeaderTooLarge,
            format!(
                "header length {n} is larger than the {} bytes after it",
                size - 8
            ),
        )
        .at_offset(0));
    }
    Ok(n)
}

/// Parses the JSON header of `n` bytes from the map, entry by entry: a
/// header of a million tensors costs a million small entries, never a JSON
/// tree, and the pages of the text already parsed are given back as the
/// parse goes (see [`HeaderVisitor`]).
fn parse_header(path: &Path, file: &MmapFile, n: u64) -> Result<Header> {
    let end = 8 + n as usize;
    let bytes = file.bytes().get(8..end).unwrap_or_default();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err(invalid(path, InvalidKind::HeaderNotUtf8, e.to_string())
                .at_offset(8 + e.valid_up_to() as u64))
        }
    };
    file.release(0..end);
    if !text.starts_with('{') {
        return Err(invalid(
            path,
            InvalidKind::HeaderNotObject,
            "header does not start with '{'".into(),
        )
        .at_offset(8));
    }
    let entry_error = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_map(HeaderVisitor {
        path,
        file,
        text,
        shared_path: Arc::from(path),
        placeholder: Arc::new(modelconv_core::tensor::OwnedBytes(Arc::new(Vec::new()))),
        error: &entry_error,
    });
    if let Some(e) = entry_error.into_inner() {
        return Err(e);
    }
    let header = parsed.map_err(|e| {
        let kind = if e.is_data() {
            InvalidKind::HeaderNotObject
        } else {
            InvalidKind::HeaderNotJson
        };
        invalid(path, kind, format!("{e}")).at_offset(8)
    })?;
    if let Err(e) = de.end() {
        return Err(invalid(path, InvalidKind::HeaderNotJson, format!("{e}")).at_offset(8));
    }
    // Duplicate names: sort an index, compare neighbours.
    let names = &header.tensors;
    let mut order: Vec<u32> = (0..names.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| entry_name(names, a).cmp(entry_name(names, b)));
    let duplicate = order.windows(2).find_map(|w| match *w {
        [a, b] if entry_name(names, a) == entry_name(names, b) => Some(entry_name(names, a)),
        _ => None,
    });
    if let Some(name) = duplicate {
        return Err(invalid(
            path,
            InvalidKind::DuplicateKey,
            format!("key '{name}' appears twice"),
        )
        .at_offset(8));
    }
    Ok(header)
}

fn entry_name(tensors: &[Tensor], i: u32) -> &str {
    tensors.get(i as usize).map_or("", |t| t.info.name.as_str())
}

/// Turns each `name: {...}` of the header into an [`Entry`] as it is read;
/// the first entry error is kept in `error` (with its tensor name and kind)
/// and stops the parse.
struct HeaderVisitor<'a, 't> {
    path: &'a Path,
    /// The map the header text lives in, and the text: every few thousand
    /// entries the pages before the entry being read are given back, so
    /// the header is never resident as a whole.
    file: &'a MmapFile,
    text: &'t str,
    shared_path: Arc<Path>,
    /// The source every tensor has until [`build`] gives it its own.
    placeholder: Arc<dyn TensorSource>,
    error: &'a std::cell::RefCell<Option<Error>>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_, 'de> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Header, A::Error> {
        let mut header = Header::default();
        let mut saw_metadata = false;
        let fail = |e: Error| {
            *self.error.borrow_mut() = Some(e);
            serde::de::Error::custom("invalid entry")
        };
        while let Some(name) = map.next_key::<String>()? {
            let raw: &'de serde_json::value::RawValue = map.next_value()?;
            if header.tensors.len() % 4096 == 4095 {
                // Where this value starts in the text (a borrowed slice of it).
                let at = (raw.get().as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize);
                self.file.release(0..8 + at);
            }
            if name == "__metadata__" {
                if std::mem::replace(&mut saw_metadata, true) {
                    return Err(fail(
                        invalid(
                            self.path,
                            InvalidKind::DuplicateKey,
                            "key '__metadata__' appears twice".into(),
                        )
                        .at_offset(8),
                    ));
                }
                header.metadata = parse_metadata(self.path, raw.get()).map_err(fail)?;
                continue;
            }
            let (info, range) = parse_entry(self.path, name, raw.get()).map_err(fail)?;
            header.tensors.push(Tensor {
                info,
                source: Arc::clone(&self.placeholder),
                file: Arc::clone(&self.shared_path),
            });
            header.ranges.push(range);
        }
        Ok(header)
    }
}

fn parse_metadata(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| invalid(path, InvalidKind::BadMetadata, e.to_string()))?;
    let obj = value.as_object().ok_or_else(|| {
        invalid(
            path,
            InvalidKind::BadMetadata,
            "__metadata__ is not an object".into(),
        )
    })?;
    let mut metadata = BTreeMap::new();
    for (k, v) in obj {
        let v = v.as_str().ok_or_else(|| {
            invalid(
                path,
                InvalidKind::BadMetadata,
                format!("__metadata__ value for '{k}' is not a string"),
            )
        })?;
        metadata.insert(k.clone(), v.to_string());
    }
    Ok(metadata)
}

/// One tensor entry: known dtype, overflow-checked shape, offsets that
/// begin before they end and span exactly dtype × shape.
fn parse_entry(path: &Path, name: String, text: &str) -> Result<(TensorInfo, (u64, u64))> {
    let raw: RawEntry = serde_json::from_str(text).map_err(|e| {
        invalid(path, InvalidKind::BadTensorEntry, e.to_string()).with_tensor(&name)
    })?;
    let dtype =
        parse_dtype(&raw.dtype).map_err(|(kind, d)| invalid(path, kind, d).with_tensor(&name))?;
    let shape: Vec<usize> = raw
        .shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            invalid(
                path,
                InvalidKind::BadShape,
                format!("shape {:?} does not fit in memory", raw.shape),
            )
            .with_tensor(&name)
        })?;
    let info = TensorInfo { name, dtype, shape };
    let nbytes = info.checked_nbytes().ok_or_else(|| {
        invalid(
            path,
            InvalidKind::BadShape,
            format!("shape {:?} overflows", raw.shape),
        )
        .with_tensor(&info.name)
    })?;
    let (begin, end) = raw.data_offsets;
    if begin > end {
        return Err(invalid(
            path,
            InvalidKind::BadTensorEntry,
            format!("data_offsets [{begin}, {end}] end before they begin"),
        )
        .with_tensor(&info.name));
    }
    if end - begin != nbytes as u64 {
        return Err(invalid(
            path,
            InvalidKind::SizeMismatch,
            format!(
                "data_offsets [{begin}, {end}] hold {} bytes but {dtype} {:?} needs {nbytes}",
                end - begin,
                info.shape
            ),
        )
        .with_tensor(&info.name));
    }
    Ok((info, (begin, end)))
}

/// The byte ranges must tile the data section exactly: sorts the tensors
/// into file order (in place) and refuses overlaps, gaps, truncation and
/// trailing bytes.
fn validate_layout(path: &Path, header: &mut Header, data_start: u64, size: u64) -> Result<()> {
    let mut order: Vec<u32> = (0..header.ranges.len() as u32).collect();
    order.sort_by_key(|&i| header.ranges.get(i as usize).copied());
    permute(&mut header.tensors, &order);
    permute(&mut header.ranges, &order);
    let data_len = size - data_start;
    let mut expected = 0u64;
    for (t, &(begin, end)) in header.tensors.iter().zip(&header.ranges) {
        let name = &t.info.name;
        let at = data_start.saturating_add(begin);
        if begin < expected {
            return Err(invalid(
                path,
                InvalidKind::OverlappingOffsets,
                format!(
                    "starts at data offset {begin}, but the previous tensor ends at {expected}"
                ),
            )
            .with_tensor(name)
            .at_offset(at));
        }
        if begin > expected {
            return Err(invalid(
                path,
                InvalidKind::OffsetGap,
                format!(
                    "starts at data offset {begin}, but the previous tensor ends at {expected}"
                ),
            )
            .with_tensor(name)
            .at_offset(data_start + expected));
        }
        if end > data_len {
            return Err(invalid(
                path,
                InvalidKind::Truncated,
                format!("data ends at offset {end} but the file has only {data_len} data bytes"),
            )
            .with_tensor(name)
            .at_offset(at));
        }
        expected = end;
    }
    if expected < data_len {
        return Err(invalid(
            path,
            InvalidKind::TrailingBytes,
            format!("{} bytes after the last tensor", data_len - expected),
        )
        .at_offset(data_start + expected));
    }
    Ok(())
}

/// Gives each tensor its source, a slice of the map (one shared empty
/// source for all zero-size tensors).
fn build(
    file: &Arc<MmapFile>,
    mut header: Header,
    data_start: u64,
    size: u64,
) -> Result<SafetensorsFile> {
    let empty: Arc<dyn TensorSource> = Arc::new(MmapSlice::new(Arc::clone(file), 0..0)?);
    for (t, &(begin, end)) in header.tensors.iter_mut().zip(&header.ranges) {
        // In bounds: checked by validate_layout against the mapped length.
        t.source = if begin == end {
            Arc::clone(&empty)
        } else {
            let range = (data_start + begin) as usize..(data_start + end) as usize;
            Arc::new(MmapSlice::new(Arc::clone(file), range)?)
        };
    }
    Ok(SafetensorsFile {
        tensors: header.tensors,
        metadata: header.metadata,
        size,
    })
}

/// Reorders `v` so that `v[k]` becomes the old `v[order[k]]`, in place
/// (following the permutation's cycles with swaps).
fn permute<T>(v: &mut [T], order: &[u32]) {
    let mut done = vec![false; order.len()];
    for start in 0..order.len() {
        if done.get(start).copied().unwrap_or(true) {
            continue;
        }
        // Walk the cycle: position k takes the element from order[k].
        let mut k = start;
        loop {
            if let Some(d) = done.get_mut(k) {
                *d = true;
            }
            let from = order.get(k).map_or(start, |&o| o as usize);
            if from == start {
                break;
            }
            v.swap(k, from);
            k = from;
        }
    }
}

/// A dtype of the file: valid safetensors dtypes modelconv does not
/// convert are [`InvalidKind::UnsupportedContent`] (the file is fine),
/// anything else [`InvalidKind::BadDtype`].
fn parse_dtype(s: &str) -> std::result::Result<DType, (InvalidKind, String)> {
    match s {
        "F4" | "F6_E2M3" | "F6_E3M2" | "F8_E8M0" | "F8_E4M3FNUZ" | "F8_E5M2FNUZ" | "C64" => Err((
            InvalidKind::UnsupportedContent,
            format!("dtype {s} is valid safetensors but not supported by modelconv yet"),
        )),
        _ => {
            let dt: DType = s
                .parse()
                .map_err(|_| (InvalidKind::BadDtype, format!("unknown dtype '{s}'")))?;
            // Only the exact safetensors spelling is accepted in a file.
            if dt.name() == s {
                Ok(dt)
            } else {
                Err((InvalidKind::BadDtype, format!("unknown dtype '{s}'")))
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

/// True if a file with first bytes `head` at `path` is read as safetensors:
/// it looks like one, or is named `.safetensors` and long enough to say
/// what is wrong with it.
pub fn sniff_file(head: &[u8], path: &Path) -> bool {
    sniff(head) || (head.len() >= 8 && path.extension().is_some_and(|e| e == "safetensors"))
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
    fn permute_reorders_in_place() {
        for n in 0..40u32 {
            // A fixed shuffle of 0..n (multiplicative step coprime to n).
            let step = (1..=n.max(1))
                .rev()
                .find(|s| gcd(*s, n.max(1)) == 1)
                .unwrap_or(1);
            let order: Vec<u32> = (0..n).map(|i| (i * step + 3) % n.max(1)).collect();
            let mut v: Vec<u32> = (100..100 + n).collect();
            permute(&mut v, &order);
            let want: Vec<u32> = order.iter().map(|&o| 100 + o).collect();
            assert_eq!(v, want, "n={n}");
        }
    }

    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
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
        assert_eq!(
            parse_dtype("F4").map_err(|e| e.0),
            Err(InvalidKind::UnsupportedContent)
        );
        assert_eq!(
            parse_dtype("Q4").map_err(|e| e.0),
            Err(InvalidKind::BadDtype)
        );
    }
}
