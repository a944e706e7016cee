// Parser code: no indexing or slicing that can panic on hostile input (issue #8).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]
//! Reading Parquet weight files of any of the three schemas.
//!
//! Opening reads the footer and the small metadata columns only (names,
//! dtypes, shapes, chunk numbers, quantization parameters) and checks them.
//! Tensor data is decoded on demand by each tensor's source: in the
//! chunked schema only the rows that cover the requested byte range (so a
//! conversion never holds more than a few rows of a tensor); in V1/V2 the
//! tensor's single row, cached until the engine has consumed it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::Buffer;
use modelconv_core::error::{Error, InvalidKind, IoContext, Result};
use modelconv_core::tensor::{OwnedBytes, Tensor, TensorInfo, TensorSource};
use modelconv_core::DType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::arrow::ProjectionMask;

use crate::pages;
use crate::schema::{parse_dtype, SchemaVersion, KEY_SCHEMA, TYPED};
use crate::thrift::Thrift;

/// A read Parquet weights file.
#[derive(Debug)]
pub struct ParquetWeights {
    /// Schema found.
    pub schema: SchemaVersion,
    /// Tensors in file order (V2 scales and zero points as `X_scale`, `X_zero_point`).
    pub tensors: Vec<Tensor>,
    /// Key-value metadata of the file.
    pub key_values: BTreeMap<String, String>,
    /// File size.
    pub size: u64,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    /// First global row of each row group.
    group_starts: Vec<u64>,
    /// Recently decoded (row group, column) → each row's bytes. Tensors are
    /// read roughly in order, so a few entries make every row group of the
    /// chunked schema decode once instead of once per read.
    groups: Mutex<Vec<GroupEntry>>,
    /// The buffer of the last evicted typed group, decompressed into again
    /// by the next (its pages are already mapped: no page faults).
    spare: Mutex<Option<Vec<u8>>>,
}

/// The rows of one decoded (row group, column).
#[derive(Debug)]
enum GroupRows {
    /// A typed column decoded by [`pages`]: values interleaved on demand.
    Typed(pages::TypedGroup),
    /// Decoded by arrow-rs: each row's bytes (`None` = null).
    Arrow(Vec<Option<Buffer>>),
}

impl GroupRows {
    /// Byte length of row `i` (`Some(None)`: null), `None` if there is no row `i`.
    fn row_len(&self, i: usize) -> Option<Option<usize>> {
        match self {
            GroupRows::Typed(g) => g.row_len(i),
            GroupRows::Arrow(rows) => rows.get(i).map(|r| r.as_ref().map(Buffer::len)),
        }
    }

    /// Appends bytes `range` of row `i` to `dst`.
    fn copy(&self, i: usize, range: Range<usize>, dst: &mut Vec<u8>) -> Option<()> {
        match self {
            GroupRows::Typed(g) => g.copy(i, range, dst),
            GroupRows::Arrow(rows) => {
                dst.extend_from_slice(rows.get(i)?.as_ref()?.as_slice().get(range)?);
                Some(())
            }
        }
    }
}

type GroupEntry = ((usize, usize), Arc<GroupRows>);

/// Decoded row groups kept per file.
const GROUP_CACHE: usize = 2;

impl Shared {
    fn new(path: PathBuf, meta: ArrowReaderMetadata, group_starts: Vec<u64>) -> Self {
        Shared {
            path,
            meta,
            group_starts,
            groups: Mutex::new(Vec::new()),
            spare: Mutex::new(None),
        }
    }

    /// The rows of row group `g` in root column `column`.
    fn group(&self, g: usize, column: usize, esz: usize) -> Result<Arc<GroupRows>> {
        decode_guard(&self.path, || self.group_inner(g, column, esz))
    }

    fn group_inner(&self, g: usize, column: usize, esz: usize) -> Result<Arc<GroupRows>> {
        if let Ok(cache) = self.groups.lock() {
            if let Some((_, rows)) = cache.iter().find(|(k, _)| *k == (g, column)) {
                return Ok(Arc::clone(rows));
            }
        }
        let file = modelconv_core::fsx::open_input(&self.path)?;
        let reuse = self.spare.lock().ok().and_then(|mut s| s.take());
        let rows = match pages::decode_typed_group(
            &file,
            self.meta.metadata(),
            self.meta.parquet_schema(),
            g,
            column,
            esz,
            reuse,
        ) {
            Some(rows) => GroupRows::Typed(rows),
            None => GroupRows::Arrow(self.group_arrow(file, g, column, esz)?),
        };
        let rows = Arc::new(rows);
        if let Ok(mut cache) = self.groups.lock() {
            if !cache.iter().any(|(k, _)| *k == (g, column)) {
                if cache.len() >= GROUP_CACHE {
                    let (_, old) = cache.remove(0);
                    if let Ok(GroupRows::Typed(old)) = Arc::try_unwrap(old) {
                        if let Ok(mut spare) = self.spare.lock() {
                            *spare = Some(old.into_buffer());
                        }
                    }
                }
                cache.push(((g, column), Arc::clone(&rows)));
            }
        }
        Ok(rows)
    }

    /// Row group `g` of `column` decoded by arrow-rs: the general path, for
    /// every column shape [`pages`] does not handle.
    fn group_arrow(
        &self,
        file: File,
        g: usize,
        column: usize,
        esz: usize,
    ) -> Result<Vec<Option<Buffer>>> {
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), [column]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .with_row_groups(vec![g])
            .with_batch_size(64)
            .build()
            .map_err(|e| bad(&self.path, InvalidKind::MalformedArchive, e.to_string()))?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch =
                batch.map_err(|e| bad(&self.path, InvalidKind::MalformedArchive, e.to_string()))?;
            let col = batch.column(0);
            for i in 0..batch.num_rows() {
                rows.push(row_bytes(col, i, esz));
            }
        }
        Ok(rows)
    }

    /// The decoded row group holding global row `row` of `column`, and the
    /// row's index in it.
    fn row(&self, row: u64, column: usize, esz: usize) -> Result<(Arc<GroupRows>, usize)> {
        let g = self
            .group_starts
            .partition_point(|&s| s <= row)
            .saturating_sub(1);
        let rows = self.group(g, column, esz)?;
        let start = self.group_starts.get(g).copied().unwrap_or(0);
        let i = usize::try_from(row.saturating_sub(start)).unwrap_or(usize::MAX);
        if rows.row_len(i).is_none() {
            return Err(bad(
                &self.path,
                InvalidKind::Truncated,
                format!("row {row} is missing"),
            ));
        }
        Ok((rows, i))
    }

    /// Decodes global rows `rows` (ascending) of root column `column`.
    fn read_rows(&self, column: usize, rows: &[u64]) -> Result<Vec<RecordBatch>> {
        decode_guard(&self.path, || self.read_rows_inner(column, rows))
    }

    fn read_rows_inner(&self, column: usize, rows: &[u64]) -> Result<Vec<RecordBatch>> {
        let file = modelconv_core::fsx::open_input(&self.path)?;
        let mut groups: Vec<usize> = Vec::new();
        for &r in rows {
            let g = self
                .group_starts
                .partition_point(|&s| s <= r)
                .saturating_sub(1);
            if groups.last() != Some(&g) {
                groups.push(g);
            }
        }
        // Row selection relative to the chosen row groups, concatenated.
        let mut selectors = Vec::new();
        let mut pos = 0u64;
        let mut base = 0u64;
        let mut gi = 0usize;
        for &r in rows {
            while let Some(&g) = groups.get(gi) {
                let start = self.group_starts.get(g).copied().unwrap_or(0);
                let end = self.group_starts.get(g + 1).copied().unwrap_or(u64::MAX);
                if r < end {
                    let rel = base + (r - start);
                    if rel > pos {
                        selectors.push(RowSelector::skip((rel - pos) as usize));
                    }
                    selectors.push(RowSelector::select(1));
                    pos = rel + 1;
                    break;
                }
                base += end - start;
                gi += 1;
            }
        }
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), [column]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .with_row_groups(groups)
            .with_row_selection(RowSelection::from(selectors))
            .with_batch_size(rows.len().max(1))
            .build()
            .map_err(|e| bad(&self.path, InvalidKind::MalformedArchive, e.to_string()))?;
        reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(&self.path, InvalidKind::MalformedArchive, e.to_string()))
    }
}

/// Runs arrow-rs decoding. Some malformed pages make arrow-rs assert
/// instead of returning an error (found by the `parquet_metadata` fuzz
/// target: definition levels running past their buffer); such a panic is
/// contained here and becomes a typed error naming the file.
fn decode_guard<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(bad(
            path,
            InvalidKind::MalformedArchive,
            format!("the Parquet decoder failed on malformed data ({msg})"),
        ))
    })
}

fn bad(path: &Path, kind: InvalidKind, detail: impl Into<String>) -> Error {
    Error::invalid(path, kind, detail)
}

/// The bytes of row `i` of a data column (list of typed values, or
/// binary): a zero-copy slice of the decoded buffer.
fn row_bytes(array: &ArrayRef, i: usize, esz: usize) -> Option<Buffer> {
    if array.is_null(i) {
        return None;
    }
    let slice = |buf: &Buffer, start: usize, len: usize| {
        (start.checked_add(len)? <= buf.len()).then(|| buf.slice_with_length(start, len))
    };
    if let Some(b) = array.as_binary_opt::<i32>() {
        let offsets = b.value_offsets();
        let start = usize::try_from(*offsets.get(i)?).ok()?;
        let end = usize::try_from(*offsets.get(i + 1)?).ok()?;
        return slice(b.values(), start, end.checked_sub(start)?);
    }
    let list = array.as_list_opt::<i32>()?;
    let values = list.value(i);
    let data = values.to_data();
    let buf = data.buffers().first()?;
    slice(buf, data.offset() * esz, data.len() * esz)
}

/// A tensor stored in chunk rows of the chunked schema.
#[derive(Debug)]
struct ChunkedSource {
    shared: Arc<Shared>,
    name: String,
    column: usize,
    esz: usize,
    rows: Vec<u64>,
    chunk_bytes: usize,
    len: usize,
}

impl TensorSource for ChunkedSource {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        if range.start >= range.end {
            return Ok(Cow::Owned(Vec::new()));
        }
        let first = range.start / self.chunk_bytes;
        let last = (range.end - 1) / self.chunk_bytes;
        let rows = self.rows.get(first..=last).ok_or_else(|| {
            Error::Internal(format!("tensor '{}': read past its rows", self.name))
        })?;
        // One copy: the requested part of each row, straight from the
        // decoded pages.
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(range.end - range.start)
            .map_err(|_| Error::Internal(format!("tensor '{}': out of memory", self.name)))?;
        for (k, &r) in rows.iter().enumerate() {
            let (group, i) = self.shared.row(r, self.column, self.esz)?;
            let chunk = first + k;
            let row_start = chunk * self.chunk_bytes;
            let expect = self.chunk_bytes.min(self.len - row_start);
            let len = group.row_len(i).flatten().ok_or_else(|| {
                bad(
                    &self.shared.path,
                    InvalidKind::MissingStorage,
                    "chunk row has no data in its dtype's column",
                )
                .with_tensor(&self.name)
            })?;
            if len != expect {
                return Err(bad(
                    &self.shared.path,
                    InvalidKind::SizeMismatch,
                    format!("chunk {chunk} holds {len} bytes, the shape needs {expect}"),
                )
                .with_tensor(&self.name));
            }
            let a = range.start.max(row_start) - row_start;
            let b = range.end.min(row_start + len) - row_start;
            group.copy(i, a..b, &mut bytes).ok_or_else(|| {
                Error::Internal(format!("parquet read {range:?} outside the decoded rows"))
            })?;
        }
        Ok(Cow::Owned(bytes))
    }

    fn identity(&self) -> String {
        format!(
            "{}:{}:{:?}",
            self.shared.path.display(),
            self.name,
            self.rows.first()
        )
    }
}

/// A tensor stored in one row (V1/V2), decoded once and kept until the
/// engine has read all of it.
#[derive(Debug)]
struct WholeSource {
    shared: Arc<Shared>,
    name: String,
    column: usize,
    row: u64,
    len: usize,
    cache: Mutex<Option<Buffer>>,
    released: AtomicUsize,
}

impl WholeSource {
    fn bytes(&self) -> Result<Buffer> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| Error::Internal("cache lock poisoned".into()))?;
        if let Some(b) = cache.as_ref() {
            return Ok(b.clone());
        }
        let batches = self.shared.read_rows(self.column, &[self.row])?;
        let row = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .and_then(|b| row_bytes(b.column(0), 0, 1))
            .ok_or_else(|| {
                bad(
                    &self.shared.path,
                    InvalidKind::MissingStorage,
                    "row has no data",
                )
                .with_tensor(&self.name)
            })?;
        if row.len() != self.len {
            return Err(bad(
                &self.shared.path,
                InvalidKind::SizeMismatch,
                format!(
                    "data holds {} bytes, but shape and dtype need {}",
                    row.len(),
                    self.len
                ),
            )
            .with_tensor(&self.name));
        }
        *cache = Some(row.clone());
        Ok(row)
    }
}

impl TensorSource for WholeSource {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        let b = self.bytes()?;
        b.as_slice()
            .get(range.clone())
            .map(|s| Cow::Owned(s.to_vec()))
            .ok_or_else(|| Error::Internal(format!("read {range:?} past tensor end")))
    }

    fn release(&self, range: Range<usize>) {
        let done = self
            .released
            .fetch_add(range.end - range.start, Ordering::AcqRel)
            + (range.end - range.start);
        if done >= self.len {
            if let Ok(mut c) = self.cache.lock() {
                *c = None;
            }
        }
    }

    fn identity(&self) -> String {
        format!("{}:{}:{}", self.shared.path.display(), self.name, self.row)
    }
}

fn column_index(meta: &ArrowReaderMetadata, name: &str) -> Option<usize> {
    meta.schema().fields().iter().position(|f| f.name() == name)
}

/// Opens a Parquet weights file.
pub fn read_file(path: &Path) -> Result<ParquetWeights> {
    decode_guard(path, || read_file_inner(path))
}

/// Reads a weights file: the footer, checked (`validate_footer`, then
/// every page header), its schema (`detect_schema`), then the metadata
/// columns row by row into tensors (`TableBuilder`); tensor data is read
/// only when asked for.
fn read_file_inner(path: &Path) -> Result<ParquetWeights> {
    let file = modelconv_core::fsx::open_input(path)?;
    let size = file.metadata().at(path)?.len();
    check_footer(path, &file, size)?;
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
        bad(
            path,
            InvalidKind::MalformedArchive,
            format!("not a readable Parquet file: {e}"),
        )
    })?;
    validate_footer(path, &meta, size)?;
    check_pages(path, &file, &meta)?;
    let key_values: BTreeMap<String, String> = meta
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    let schema = detect_schema(path, &meta)?;
    let tensors = TableBuilder::new(path, &meta, schema, &key_values).build(file)?;
    Ok(ParquetWeights {
        schema: if key_values.get(KEY_SCHEMA).map(String::as_str) == Some("v1") {
            SchemaVersion::V1
        } else {
            schema
        },
        tensors,
        key_values,
        size,
    })
}

/// The footer's claims against the file: row counts bound the work of
/// decoding (a footer claiming 2^60 rows of nulls would otherwise keep the
/// decoder busy for hours: no negative counts, and at most 8 rows per byte
/// of file, since a row holds at least a layer name), and every column
/// chunk lies inside the file (arrow-rs asserts they are not negative when
/// it opens a page reader: a typed error instead of a panic).
fn validate_footer(path: &Path, meta: &ArrowReaderMetadata, size: u64) -> Result<()> {
    let mut total_rows = 0u64;
    for (g, rg) in meta.metadata().row_groups().iter().enumerate() {
        let n = u64::try_from(rg.num_rows()).map_err(|_| {
            bad(
                path,
                InvalidKind::BadShape,
                format!("row group {g} claims {} rows", rg.num_rows()),
            )
        })?;
        total_rows = total_rows.saturating_add(n);
        if total_rows > size.saturating_mul(8).saturating_add(64) {
            return Err(bad(
                path,
                InvalidKind::LimitExceeded,
                format!("{total_rows} rows claimed by row group {g} cannot fit in {size} bytes"),
            ));
        }
    }
    for (g, rg) in meta.metadata().row_groups().iter().enumerate() {
        for c in rg.columns() {
            // As arrow-rs's `byte_range`: the dictionary page when there is one.
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let end = u64::try_from(start)
                .ok()
                .zip(u64::try_from(c.compressed_size()).ok())
                .and_then(|(a, b)| a.checked_add(b));
            if end.is_none_or(|e| e > size) {
                return Err(bad(
                    path,
                    InvalidKind::OffsetOutOfBounds,
                    format!(
                        "row group {g}, column {}: data at offset {start}, {} bytes, outside the file of {size} bytes",
                        c.column_path(),
                        c.compressed_size()
                    ),
                )
                .at_offset(u64::try_from(start).unwrap_or(0)));
            }
        }
    }
    Ok(())
}

/// Which of the weight-table schemas the columns are, refusing tables
/// that are not weight tables.
fn detect_schema(path: &Path, meta: &ArrowReaderMetadata) -> Result<SchemaVersion> {
    let has = |n: &str| column_index(meta, n).is_some();
    let schema = if has("chunk") && has("num_chunks") {
        SchemaVersion::Chunked
    } else if has("quant_type") {
        SchemaVersion::V2
    } else {
        SchemaVersion::V1
    };
    for required in ["layer_name", "shape", "dtype", "num_params"] {
        if !has(required) {
            return Err(bad(
                path,
                InvalidKind::HeaderNotObject,
                format!("not a weights table: missing column '{required}'"),
            ));
        }
    }
    if schema != SchemaVersion::Chunked && !has("data") {
        return Err(bad(
            path,
            InvalidKind::HeaderNotObject,
            "not a weights table: missing column 'data'",
        ));
    }
    Ok(schema)
}

/// Turns the metadata columns into tensors, row by row: V1/V2 rows are
/// tensors, chunked rows are assembled into tensors from consecutive rows.
struct TableBuilder<'a> {
    path: &'a Path,
    meta: &'a ArrowReaderMetadata,
    schema: SchemaVersion,
    chunk_elements: Option<usize>,
    shared: Arc<Shared>,
    shared_path: Arc<Path>,
    tensors: Vec<Tensor>,
    /// Chunked: the tensor being assembled (its info, rows, chunk count).
    open: Option<(TensorInfo, Vec<u64>, i32)>,
}

/// The metadata columns of one record batch.
struct Columns {
    names: arrow_array::StringArray,
    dtypes: arrow_array::StringArray,
    shapes: arrow_array::ListArray,
    nparams: arrow_array::Int64Array,
}

impl<'a> TableBuilder<'a> {
    fn new(
        path: &'a Path,
        meta: &'a ArrowReaderMetadata,
        schema: SchemaVersion,
        key_values: &BTreeMap<String, String>,
    ) -> Self {
        let mut group_starts = Vec::new();
        let mut acc = 0u64;
        for rg in meta.metadata().row_groups() {
            group_starts.push(acc);
            acc += rg.num_rows() as u64;
        }
        TableBuilder {
            path,
            meta,
            schema,
            chunk_elements: key_values
                .get("modelconv.chunk_elements")
                .and_then(|v| v.parse().ok()),
            shared: Arc::new(Shared::new(path.to_path_buf(), meta.clone(), group_starts)),
            shared_path: Arc::from(path),
            tensors: Vec::new(),
            open: None,
        }
    }

    /// Reads the metadata columns only and builds every tensor.
    fn build(mut self, file: std::fs::File) -> Result<Vec<Tensor>> {
        let path = self.path;
        let mut wanted: Vec<&str> = vec!["layer_name", "shape", "dtype", "num_params"];
        match self.schema {
            SchemaVersion::Chunked => wanted.extend(["chunk", "num_chunks"]),
            SchemaVersion::V2 => {
                wanted.extend(["quant_type", "scales", "zero_points", "quant_axis"])
            }
            SchemaVersion::V1 => {}
        }
        let indices: Vec<usize> = wanted
            .iter()
            .filter_map(|n| column_index(self.meta, n))
            .collect();
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), indices);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_projection(mask)
            .with_batch_size(8192)
            .build()
            .map_err(|e| bad(path, InvalidKind::MalformedArchive, e.to_string()))?;
        let mut row_index = 0u64;
        for batch in reader {
            let batch =
                batch.map_err(|e| bad(path, InvalidKind::MalformedArchive, e.to_string()))?;
            let cols = self.columns(&batch)?;
            for i in 0..batch.num_rows() {
                let global = row_index + i as u64;
                let info = self.row_info(&cols, i, global)?;
                match self.schema {
                    SchemaVersion::Chunked => self.chunk_row(&batch, i, global, info)?,
                    SchemaVersion::V1 | SchemaVersion::V2 => {
                        self.whole_row(&batch, i, global, info)?
                    }
                }
            }
            row_index += batch.num_rows() as u64;
        }
        if let Some((o, rows, n)) = self.open.take() {
            self.finish_chunked(o, rows, n)?;
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.tensors {
            if !names.insert(t.info.name.as_str()) {
                return Err(
                    bad(path, InvalidKind::DuplicateTensor, "tensor appears twice")
                        .with_tensor(&t.info.name),
                );
            }
        }
        Ok(self.tensors)
    }

    fn columns(&self, batch: &RecordBatch) -> Result<Columns> {
        let col = |n: &str| {
            batch
                .schema()
                .index_of(n)
                .ok()
                .map(|i| batch.column(i).clone())
        };
        let names = col("layer_name").and_then(|c| c.as_string_opt::<i32>().cloned());
        let dtypes = col("dtype").and_then(|c| c.as_string_opt::<i32>().cloned());
        let shapes = col("shape").and_then(|c| c.as_list_opt::<i32>().cloned());
        let nparams = col("num_params").and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
        match (names, dtypes, shapes, nparams) {
            (Some(names), Some(dtypes), Some(shapes), Some(nparams)) => Ok(Columns {
                names,
                dtypes,
                shapes,
                nparams,
            }),
            _ => Err(bad(
                self.path,
                InvalidKind::HeaderNotObject,
                "metadata columns have unexpected types",
            )),
        }
    }

    /// Row `i`'s name, dtype and shape, checked against its `num_params`.
    fn row_info(&self, cols: &Columns, i: usize, global: u64) -> Result<TensorInfo> {
        let path = self.path;
        let name = cols.names.value(i).to_string();
        let dtype_s = cols.dtypes.value(i);
        let dtype = parse_dtype(dtype_s).ok_or_else(|| {
            bad(path, InvalidKind::BadDtype, format!("dtype '{dtype_s}'"))
                .with_tensor(&name)
                .at_offset(global)
        })?;
        let shape_arr = cols.shapes.value(i);
        let shape: Vec<i64> = if let Some(a) = shape_arr.as_primitive_opt::<Int64Type>() {
            a.values().to_vec()
        } else if let Some(a) = shape_arr.as_primitive_opt::<Int32Type>() {
            a.values().iter().map(|&v| i64::from(v)).collect()
        } else {
            return Err(bad(
                path,
                InvalidKind::BadShape,
                "shape is not a list of integers",
            )
            .with_tensor(&name));
        };
        let shape: Vec<usize> = shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                bad(path, InvalidKind::BadShape, format!("shape {shape:?}")).with_tensor(&name)
            })?;
        let info = TensorInfo { name, dtype, shape };
        let numel = info.checked_numel().ok_or_else(|| {
            bad(path, InvalidKind::BadShape, "shape overflows").with_tensor(&info.name)
        })?;
        if cols.nparams.value(i) != numel as i64 {
            return Err(bad(
                path,
                InvalidKind::SizeMismatch,
                format!(
                    "num_params {} but shape {:?} has {numel} elements",
                    cols.nparams.value(i),
                    info.shape
                ),
            )
            .with_tensor(&info.name));
        }
        Ok(info)
    }

    /// A chunked row: continues the open tensor, or closes it and opens the next.
    fn chunk_row(
        &mut self,
        batch: &RecordBatch,
        i: usize,
        global: u64,
        info: TensorInfo,
    ) -> Result<()> {
        let int = |n: &str| {
            batch
                .column_by_name(n)
                .and_then(|c| c.as_primitive_opt::<Int32Type>().map(|a| a.value(i)))
                .unwrap_or(-1)
        };
        let (chunk, num) = (int("chunk"), int("num_chunks"));
        match &mut self.open {
            Some((o, rows, n)) if chunk as usize == rows.len() && *n == num && *o == info => {
                rows.push(global);
                Ok(())
            }
            _ => {
                if let Some((o, rows, n)) = self.open.take() {
                    self.finish_chunked(o, rows, n)?;
                }
                if chunk != 0 || num < 1 {
                    return Err(bad(
                        self.path,
                        InvalidKind::BadTensorEntry,
                        format!("chunk {chunk} of {num} out of order"),
                    )
                    .with_tensor(&info.name)
                    .at_offset(global));
                }
                self.open = Some((info, vec![global], num));
                Ok(())
            }
        }
    }

    /// A tensor's rows are complete: check the count, build its source.
    fn finish_chunked(&mut self, info: TensorInfo, rows: Vec<u64>, num_chunks: i32) -> Result<()> {
        let path = self.path;
        if rows.len() != num_chunks as usize {
            return Err(bad(
                path,
                InvalidKind::Truncated,
                format!("{} of {num_chunks} chunks", rows.len()),
            )
            .with_tensor(&info.name));
        }
        let nbytes = info.checked_nbytes().ok_or_else(|| {
            bad(path, InvalidKind::BadShape, "shape overflows").with_tensor(&info.name)
        })?;
        let esz = info.dtype.size();
        let column = match TYPED.iter().find(|(_, d)| *d == info.dtype) {
            Some((n, _)) => column_index(self.meta, n),
            None => column_index(self.meta, "data"),
        }
        .ok_or_else(|| {
            bad(
                path,
                InvalidKind::HeaderNotObject,
                format!("no data column for {}", info.dtype),
            )
            .with_tensor(&info.name)
        })?;
        let chunk_bytes = match self.chunk_elements {
            Some(c) if rows.len() > 1 => c * esz,
            _ => nbytes.div_ceil(rows.len().max(1)).max(esz),
        };
        if rows.len() > 1
            && chunk_bytes
                .checked_mul(rows.len() - 1)
                .is_none_or(|b| b >= nbytes.max(1))
        {
            return Err(bad(
                path,
                InvalidKind::SizeMismatch,
                format!("{} chunks do not fit {nbytes} bytes", rows.len()),
            )
            .with_tensor(&info.name));
        }
        let source = ChunkedSource {
            shared: Arc::clone(&self.shared),
            name: info.name.clone(),
            column,
            esz,
            rows,
            chunk_bytes: chunk_bytes.max(1),
            len: nbytes,
        };
        self.tensors.push(Tensor {
            info,
            source: Arc::new(source),
            file: Arc::clone(&self.shared_path),
        });
        Ok(())
    }

    /// A V1/V2 row: one tensor (and, for V2, its quantization companions).
    fn whole_row(
        &mut self,
        batch: &RecordBatch,
        i: usize,
        global: u64,
        info: TensorInfo,
    ) -> Result<()> {
        let len = info.checked_nbytes().ok_or_else(|| {
            bad(self.path, InvalidKind::BadShape, "size overflows").with_tensor(&info.name)
        })?;
        let column = column_index(self.meta, "data").unwrap_or(0);
        let quant_of = info.clone();
        self.tensors.push(Tensor {
            source: Arc::new(WholeSource {
                shared: Arc::clone(&self.shared),
                name: info.name.clone(),
                column,
                row: global,
                len,
                cache: Mutex::new(None),
                released: AtomicUsize::new(0),
            }),
            info,
            file: Arc::clone(&self.shared_path),
        });
        if self.schema == SchemaVersion::V2 {
            push_quant_companions(self.path, batch, i, &quant_of, &mut self.tensors)?;
        }
        Ok(())
    }
}

/// V2 rows with quantization: adds `X_scale` (F32) and `X_zero_point` (I64) tensors.
fn push_quant_companions(
    path: &Path,
    batch: &RecordBatch,
    i: usize,
    info: &TensorInfo,
    out: &mut Vec<Tensor>,
) -> Result<()> {
    let qt = batch
        .column_by_name("quant_type")
        .and_then(|c| {
            c.as_string_opt::<i32>().map(|a| {
                if a.is_null(i) {
                    "none".to_string()
                } else {
                    a.value(i).to_string()
                }
            })
        })
        .unwrap_or_else(|| "none".into());
    if qt == "none" || qt.is_empty() {
        return Ok(());
    }
    let scales: Vec<f32> = batch
        .column_by_name("scales")
        .and_then(|c| c.as_list_opt::<i32>().cloned())
        .filter(|l| !l.is_null(i))
        .and_then(|l| {
            l.value(i)
                .as_primitive_opt::<Float32Type>()
                .map(|a| a.values().to_vec())
        })
        .unwrap_or_default();
    let zps: Vec<i64> = batch
        .column_by_name("zero_points")
        .and_then(|c| c.as_list_opt::<i32>().cloned())
        .filter(|l| !l.is_null(i))
        .and_then(|l| {
            let v = l.value(i);
            v.as_primitive_opt::<Int64Type>()
                .map(|a| a.values().to_vec())
                .or_else(|| {
                    v.as_primitive_opt::<Int32Type>()
                        .map(|a| a.values().iter().map(|&x| i64::from(x)).collect())
                })
        })
        .unwrap_or_default();
    let axis = batch
        .column_by_name("quant_axis")
        .and_then(|c| c.as_primitive_opt::<Int32Type>().map(|a| a.value(i)))
        .unwrap_or(-1);
    if scales.is_empty() {
        return Err(bad(
            path,
            InvalidKind::BadTensorEntry,
            format!("quant_type '{qt}' without scales"),
        )
        .with_tensor(&info.name));
    }
    let channels = if axis < 0 {
        1
    } else {
        info.shape.get(axis as usize).copied().unwrap_or(0)
    };
    if scales.len() != channels || (!zps.is_empty() && zps.len() != scales.len()) {
        return Err(bad(
            path,
            InvalidKind::SizeMismatch,
            format!(
                "{} scales / {} zero points for {channels} channels on axis {axis}",
                scales.len(),
                zps.len()
            ),
        )
        .with_tensor(&info.name));
    }
    let shape = if axis < 0 {
        Vec::new()
    } else {
        vec![scales.len()]
    };
    let scale_bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    out.push(Tensor {
        info: TensorInfo {
            name: format!("{}_scale", info.name),
            dtype: DType::F32,
            shape: shape.clone(),
        },
        source: Arc::new(OwnedBytes(Arc::new(scale_bytes))),
        file: std::sync::Arc::from(path),
    });
    if !zps.is_empty() {
        let zp_bytes: Vec<u8> = zps.iter().flat_map(|z| z.to_le_bytes()).collect();
        out.push(Tensor {
            info: TensorInfo {
                name: format!("{}_zero_point", info.name),
                dtype: DType::I64,
                shape,
            },
            source: Arc::new(OwnedBytes(Arc::new(zp_bytes))),
            file: std::sync::Arc::from(path),
        });
    }
    Ok(())
}

/// Walks the page headers of every column chunk before arrow-rs decodes
/// them. arrow-rs's Thrift skipper treats a `list<bool>` element as zero
/// bytes, so a hostile header claiming 2^32 such elements kept it spinning
/// for minutes (fuzz finding). Here every list, set, map and binary length
/// is checked against the bytes left before anything is skipped, and each
/// page must lie inside its column chunk.
fn check_pages(path: &Path, file: &File, meta: &ArrowReaderMetadata) -> Result<()> {
    use std::os::unix::fs::FileExt;
    for rg in meta.metadata().row_groups() {
        for c in rg.columns() {
            let start = c
                .dictionary_page_offset()
                .unwrap_or_else(|| c.data_page_offset());
            let (Ok(start), Ok(len)) = (u64::try_from(start), u64::try_from(c.compressed_size()))
            else {
                continue; // refused earlier with a clearer message
            };
            // Page by page: read a window at the header, parse it, jump
            // over the page. Headers are small, so the window starts at
            // 4 KiB and grows (up to 1 MiB) only when a header does not fit:
            // the check reads headers, not the pages between them.
            const WINDOW: u64 = 1 << 20;
            let end = start.saturating_add(len);
            let mut at = start;
            let mut window = Vec::new();
            while at < end {
                let mut want = 4096u64;
                let (page_size, header_len) = loop {
                    let n = (end - at).min(want).min(WINDOW) as usize;
                    window.resize(n, 0);
                    file.read_exact_at(&mut window, at).at(path)?;
                    let mut t = Thrift::new(&window);
                    match t.page_size() {
                        Ok(size) => break (size, t.pos()),
                        Err(_) if n < (end - at).min(WINDOW) as usize => want *= 16,
                        Err(why) => {
                            return Err(bad(
                                path,
                                InvalidKind::MalformedArchive,
                                format!("column {}: bad page header ({why})", c.column_path()),
                            )
                            .at_offset(at))
                        }
                    }
                };
                let size = page_size
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(|| {
                        bad(
                            path,
                            InvalidKind::MalformedArchive,
                            format!(
                                "column {}: page header without a page size",
                                c.column_path()
                            ),
                        )
                        .at_offset(at)
                    })?;
                at = at
                    .checked_add(header_len as u64)
                    .and_then(|p| p.checked_add(size))
                    .filter(|&p| p <= end)
                    .ok_or_else(|| {
                        bad(
                            path,
                            InvalidKind::OffsetOutOfBounds,
                            format!(
                                "column {}: a page runs past its column chunk",
                                c.column_path()
                            ),
                        )
                        .at_offset(at)
                    })?;
            }
        }
    }
    Ok(())
}

/// Checks the footer before arrow-rs parses it: a schema element claiming
/// 2^30 children made arrow-rs reserve gigabytes (fuzz finding).
fn check_footer(path: &Path, file: &File, size: u64) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut tail = [0u8; 8];
    if size < 12 || file.read_exact_at(&mut tail, size - 8).is_err() {
        return Ok(()); // arrow-rs gives the clearer error for a non-Parquet file
    }
    let [a, b, c, d, m0, m1, m2, m3] = tail;
    if [m0, m1, m2, m3] != *b"PAR1" {
        return Ok(());
    }
    let len = u64::from(u32::from_le_bytes([a, b, c, d]));
    // arrow-rs reads a footer that starts anywhere from byte 0 (it does
    // not insist on the leading magic), so every footer it would parse is
    // walked here (a fuzz finding: a 30-byte file whose footer overlapped
    // the leading magic's place kept arrow-rs skipping for over 10 s).
    if len > size - 8 || len > 256 << 20 {
        return Ok(()); // refused by arrow-rs without allocating
    }
    let mut footer = vec![0u8; len as usize];
    file.read_exact_at(&mut footer, size - 8 - len).at(path)?;
    let mut t = Thrift::new(&footer);
    t.check_schema().map_err(|why| {
        bad(
            path,
            InvalidKind::MalformedArchive,
            format!("bad footer ({why})"),
        )
        .at_offset(size - 8 - len)
    })
}

impl Thrift<'_> {
    /// Walks a `FileMetaData` struct and checks every schema element's
    /// `num_children` (field 5) against the number of schema elements
    /// (field 2): arrow-rs reserves that many children up front.
    fn check_schema(&mut self) -> std::result::Result<(), &'static str> {
        self.fields(|t, field, ty| {
            if field != 2 || ty != 9 {
                return t.skip(ty, 0);
            }
            let (n, elem) = t.list_header()?;
            if n > t.left() || elem != 12 {
                return Err("schema list longer than the footer");
            }
            for _ in 0..n {
                t.fields(|t, f, et| {
                    if f == 5 && et == 5 {
                        let children = t.zigzag()?;
                        if children < 0 || children as u64 > n {
                            return Err(
                                "a schema element has more children than the schema has elements",
                            );
                        }
                        Ok(())
                    } else {
                        t.skip(et, 1)
                    }
                })?;
            }
            Ok(())
        })
    }

    /// Walks a `PageHeader` struct; returns its field 3,
    /// `compressed_page_size`.
    fn page_size(&mut self) -> std::result::Result<Option<i64>, &'static str> {
        let mut size = None;
        self.fields(|t, field, ty| {
            if field == 3 && ty == 5 {
                size = Some(t.zigzag()?);
                Ok(())
            } else {
                t.skip(ty, 0)
            }
        })?;
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use arrow_array::{Float32Array, Float64Array, ListArray, UInt16Array};
    use arrow_buffer::{NullBuffer, OffsetBuffer};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Encoding;
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::schema::types::ColumnPath;

    use crate::schema::item_field;

    /// Rows of varying lengths: null rows, empty rows, rows longer than a
    /// page, single values.
    fn lengths() -> Vec<Option<usize>> {
        let mut v = vec![Some(3000), None, Some(0), Some(1), None, Some(70_000)];
        v.extend((0..40).map(|i| if i % 7 == 3 { None } else { Some(i * 37 % 500) }));
        v.push(Some(5));
        v
    }

    fn list(d: DType, lens: &[Option<usize>], seed: u32) -> ArrayRef {
        let total: usize = lens.iter().flatten().sum();
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x
        };
        let values: ArrayRef = match d {
            DType::F32 => Arc::new(Float32Array::from_iter_values(
                (0..total).map(|_| f32::from_bits(next())),
            )),
            DType::F64 => {
                Arc::new(Float64Array::from_iter_values((0..total).map(|_| {
                    f64::from_bits(u64::from(next()) << 32 | u64::from(next()))
                })))
            }
            _ => Arc::new(UInt16Array::from_iter_values(
                (0..total).map(|_| (next() >> 8) as u16),
            )),
        };
        let offsets = OffsetBuffer::from_lengths(lens.iter().map(|l| l.unwrap_or(0)));
        let nulls = NullBuffer::from_iter(lens.iter().map(Option::is_some));
        Arc::new(ListArray::new(item_field(d), offsets, values, Some(nulls)))
    }

    /// Fuzz findings: a footer that starts at byte 0 (no room for the
    /// leading magic) is still walked by our bounded Thrift check, and
    /// nested lists of booleans, which arrow-rs skips without consuming
    /// bytes, are refused by the walker's step budget.
    #[test]
    fn footer_checks_refuse_fuzz_findings_fast() {
        for name in [
            "footer_without_leading_magic.parquet",
            "nested_bool_lists.parquet",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/bad_data/parquet")
                .join(name);
            let t = std::time::Instant::now();
            let err = read_file(&path).unwrap_err();
            assert_eq!(
                err.invalid_kind(),
                Some(InvalidKind::MalformedArchive),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("bad footer"), "{name}: {err}");
            assert!(t.elapsed().as_secs_f64() < 0.2, "{name}: {:?}", t.elapsed());
        }
    }

    /// The page decoder gives the same rows as arrow-rs for every typed
    /// column, page version, encoding and codec, with rows spanning pages,
    /// whole rows and parts of rows cut inside values.
    #[test]
    fn page_decoder_matches_arrow() {
        use parquet::basic::{Compression, ZstdLevel};
        let dir = tempfile::tempdir().unwrap();
        let lens = lengths();
        let cols = [DType::F32, DType::F16, DType::F64];
        let fields: Vec<arrow_schema::Field> = cols
            .iter()
            .map(|&d| {
                arrow_schema::Field::new(
                    format!("c_{d}"),
                    arrow_schema::DataType::List(item_field(d)),
                    true,
                )
            })
            .collect();
        let schema = Arc::new(arrow_schema::Schema::new(fields));
        let codecs = [
            Compression::UNCOMPRESSED,
            Compression::ZSTD(ZstdLevel::try_new(3).unwrap()),
            Compression::SNAPPY,
            Compression::LZ4_RAW,
        ];
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for enc in [Encoding::PLAIN, Encoding::BYTE_STREAM_SPLIT] {
                for codec in codecs {
                    let what = format!("{version:?} {enc} {codec}");
                    let path = dir.path().join("t.parquet");
                    let mut b = WriterProperties::builder()
                        .set_writer_version(version)
                        .set_compression(codec)
                        .set_dictionary_enabled(false)
                        .set_data_page_size_limit(4096)
                        .set_write_batch_size(97)
                        .set_max_row_group_row_count(Some(20));
                    for &d in &cols {
                        b = b.set_column_encoding(
                            ColumnPath::new(vec![
                                format!("c_{d}"),
                                "list".into(),
                                "element".into(),
                            ]),
                            enc,
                        );
                    }
                    let file = File::create(&path).unwrap();
                    let mut w =
                        ArrowWriter::try_new(file, schema.clone(), Some(b.build())).unwrap();
                    let arrays = cols
                        .iter()
                        .enumerate()
                        .map(|(i, &d)| list(d, &lens, i as u32 + 1))
                        .collect();
                    w.write(&RecordBatch::try_new(schema.clone(), arrays).unwrap())
                        .unwrap();
                    w.close().unwrap();

                    let file = File::open(&path).unwrap();
                    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).unwrap();
                    let shared = Shared::new(path.clone(), meta.clone(), Vec::new());
                    let groups = meta.metadata().num_row_groups();
                    assert!(groups >= 3, "{groups} row groups");
                    let mut reuse = None;
                    for (c, &d) in cols.iter().enumerate() {
                        for g in 0..groups {
                            let esz = d.size();
                            let fast = pages::decode_typed_group(
                                &file,
                                meta.metadata(),
                                meta.parquet_schema(),
                                g,
                                c,
                                esz,
                                reuse.take(),
                            )
                            .unwrap_or_else(|| panic!("{what} {d} group {g}: not handled"));
                            let slow = shared
                                .group_arrow(File::open(&path).unwrap(), g, c, esz)
                                .unwrap();
                            assert_eq!(fast.len(), slow.len(), "{what} {d} group {g}");
                            for (i, want) in slow.iter().enumerate() {
                                let want = want.as_ref().map(|b| b.as_slice());
                                assert_eq!(
                                    fast.row_len(i),
                                    Some(want.map(<[u8]>::len)),
                                    "{what} {d} group {g} row {i}"
                                );
                                let Some(want) = want else { continue };
                                let mut got = vec![7u8];
                                fast.copy(i, 0..want.len(), &mut got).unwrap();
                                assert_eq!(&got[1..], want, "{what} {d} group {g} row {i}");
                                if want.len() >= 3 {
                                    let part = 1..want.len() - 1;
                                    let mut got = Vec::new();
                                    fast.copy(i, part.clone(), &mut got).unwrap();
                                    assert_eq!(got, want[part], "{what} {d} group {g} row {i}");
                                }
                                assert!(fast.copy(i, 0..want.len() + 1, &mut got).is_none());
                            }
                            reuse = Some(fast.into_buffer());
                        }
                    }
                }
            }
        }
    }
}
