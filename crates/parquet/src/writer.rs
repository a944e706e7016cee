//! Writing weights to Parquet, streamed: rows are built from bounded chunks
//! of each tensor and written a row group at a time. In the chunked schema
//! the typed data columns are encoded by `crate::encode` and the small
//! columns by arrow-rs's column writers; V1/V2 go through arrow-rs's
//! `ArrowWriter`. Memory stays around two row groups, except in V1/V2 where
//! a row holds a whole tensor (as the seeds' format requires).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow_array::builder::{Int32Builder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer};
use modelconv_core::engine::{OutTensor, StreamOut, StreamStats, StreamWriter};
use modelconv_core::error::{Error, Result};
use modelconv_core::progress::Reporter;
use modelconv_core::DType;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnDescPtr;
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::encode::{encode_typed_column, Compressor, EncodedChunk};
use crate::quant::{find_companions, Companions};
use crate::schema::{arrow_schema, torch_name, typed_column, SchemaVersion, KEY_SCHEMA, TYPED};

/// Compression codecs offered for Parquet output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Codec {
    /// zstd at a level (1..=22).
    Zstd(i32),
    /// LZ4 (raw).
    Lz4,
    /// Snappy.
    Snappy,
    /// No compression.
    None,
}

impl Codec {
    /// Parses `zstd`, `zstd:9`, `lz4`, `snappy`, `none`; `level` overrides zstd's level.
    pub fn parse(s: &str, level: Option<i32>) -> Result<Codec> {
        let (name, lvl) = match s.split_once(':') {
            Some((n, l)) => (
                n,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| Error::InvalidOption(format!("bad level in '{s}'")))?,
                ),
            ),
            None => (s, None),
        };
        match name.to_ascii_lowercase().as_str() {
            "zstd" => {
                let l = level.or(lvl).unwrap_or(3);
                if !(1..=22).contains(&l) {
                    return Err(Error::InvalidOption(format!(
                        "zstd level {l} is outside 1..=22"
                    )));
                }
                Ok(Codec::Zstd(l))
            }
            "lz4" => Ok(Codec::Lz4),
            "snappy" => Ok(Codec::Snappy),
            "none" | "uncompressed" => Ok(Codec::None),
            _ => Err(Error::InvalidOption(format!(
                "unknown compression '{s}' (zstd, lz4, snappy, none)"
            ))),
        }
    }

    fn parquet(self) -> Result<PqCompression> {
        Ok(match self {
            Codec::Zstd(l) => PqCompression::ZSTD(
                ZstdLevel::try_new(l).map_err(|e| Error::InvalidOption(e.to_string()))?,
            ),
            Codec::Lz4 => PqCompression::LZ4_RAW,
            Codec::Snappy => PqCompression::SNAPPY,
            Codec::None => PqCompression::UNCOMPRESSED,
        })
    }

    /// Name for metadata.
    pub fn name(self) -> String {
        match self {
            Codec::Zstd(l) => format!("zstd-{l}"),
            Codec::Lz4 => "lz4".into(),
            Codec::Snappy => "snappy".into(),
            Codec::None => "none".into(),
        }
    }
}

/// Parquet output options. `ParquetOptions::default()`: schema chosen
/// automatically (chunked, or V2 when the tensors carry int8 quantization),
/// zstd level 3, rows of [`crate::schema::DEFAULT_CHUNK_ELEMENTS`]
/// elements, row groups of about 1 MiB of values.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Schema; `None` = chunked, or V2 when int8/uint8 tensors come with
    /// scale companions (from `--quantize int8` or an already quantized model).
    pub schema: Option<SchemaVersion>,
    /// Compression.
    pub codec: Codec,
    /// Elements per row (chunked schema).
    pub chunk_elements: usize,
    /// Row group size in bytes of values (before encoding), chunked schema.
    /// Default 1 MiB: readers decode and cache whole row groups, and the
    /// writer holds a few in flight, so small groups keep both small (4 MiB
    /// groups were no faster); a chunk row larger than that is a row group
    /// of its own.
    pub row_group_bytes: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            schema: None,
            codec: Codec::Zstd(3),
            chunk_elements: crate::schema::DEFAULT_CHUNK_ELEMENTS,
            row_group_bytes: 1 << 20,
        }
    }
}

/// Per-tensor facts recorded while writing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorRecord {
    /// Name.
    pub name: String,
    /// Stored dtype (torch style).
    pub dtype: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Element count.
    pub num_params: u64,
    /// SHA-256 of the stored bytes (little-endian, C order).
    pub sha256: String,
    /// Quantization, if the tensor carries scales (V2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quant_type: Option<String>,
}

/// What the writer produced; shared with writers of sidecar files.
#[derive(Debug, Clone, Default)]
pub struct ParquetSummary {
    /// Tensors in file order.
    pub tensors: Vec<TensorRecord>,
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
}

/// A Parquet weights file, written by the engine as a streamed file.
#[derive(Debug)]
pub struct ParquetFile {
    tensors: Vec<OutTensor>,
    schema: SchemaVersion,
    options: ParquetOptions,
    key_values: BTreeMap<String, String>,
    /// Filled in when the file has been written.
    pub summary: Arc<Mutex<Option<ParquetSummary>>>,
}

impl ParquetFile {
    /// The schema this file is written in (resolved from the options).
    pub fn schema(&self) -> SchemaVersion {
        self.schema
    }

    /// A file of `tensors` with extra key-value metadata.
    pub fn new(
        tensors: Vec<OutTensor>,
        options: ParquetOptions,
        key_values: BTreeMap<String, String>,
    ) -> Self {
        let schema = options.schema.unwrap_or_else(|| {
            if find_companions(&tensors).quant.is_empty() {
                SchemaVersion::Chunked
            } else {
                SchemaVersion::V2
            }
        });
        ParquetFile {
            tensors,
            schema,
            options,
            key_values,
            summary: Arc::new(Mutex::new(None)),
        }
    }

    fn properties(&self) -> Result<WriterProperties> {
        let mut b = WriterProperties::builder()
            .set_compression(self.options.codec.parquet()?)
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(1 << 20))
            .set_created_by(format!("modelconv {}", env!("CARGO_PKG_VERSION")));
        // No statistics on tensor bytes. (The typed columns of the chunked
        // schema are written by `encode`, not through these properties.)
        b = b.set_column_statistics_enabled(ColumnPath::from("data"), EnabledStatistics::None);
        if self.schema == SchemaVersion::Chunked {
            // The per-row columns are a few bytes a row: compressing them
            // saves about 3 KB on all-MiniLM, while the zstd contexts made
            // for each of them in every row group cost about 3% of the
            // write's CPU and 10% of a full load.
            for small in [
                vec!["layer_name".to_string()],
                vec!["shape".into(), "list".into(), "element".into()],
                vec!["dtype".into()],
                vec!["num_params".into()],
                vec!["chunk".into()],
                vec!["num_chunks".into()],
            ] {
                b = b.set_column_compression(ColumnPath::new(small), PqCompression::UNCOMPRESSED);
            }
        }
        Ok(b.build())
    }
}

fn pq_err(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("parquet writer: {e}"))
}

/// Rows of the chunked schema waiting to become a record batch.
#[derive(Default)]
struct ChunkRows {
    names: Vec<String>,
    dtypes: Vec<&'static str>,
    shapes: Vec<Vec<i64>>,
    num_params: Vec<i64>,
    chunk: Vec<i32>,
    num_chunks: Vec<i32>,
    /// Per typed column: raw value bytes and per-row element counts (None = null).
    typed: [(Vec<u8>, Vec<Option<usize>>); 4],
    raw: (Vec<u8>, Vec<Option<usize>>),
    bytes: usize,
}

impl ChunkRows {
    fn push(&mut self, t: &OutTensor, chunk: i32, num_chunks: i32, data: &[u8]) {
        self.names.push(t.info.name.clone());
        self.dtypes.push(torch_name(t.info.dtype));
        self.shapes
            .push(t.info.shape.iter().map(|&d| d as i64).collect());
        self.num_params.push(t.info.numel() as i64);
        self.chunk.push(chunk);
        self.num_chunks.push(num_chunks);
        let col = TYPED.iter().position(|(_, d)| *d == t.info.dtype);
        for (i, (values, rows)) in self.typed.iter_mut().enumerate() {
            if Some(i) == col {
                values.extend_from_slice(data);
                rows.push(Some(data.len() / t.info.dtype.size()));
            } else {
                rows.push(None);
            }
        }
        if col.is_none() {
            self.raw.0.extend_from_slice(data);
            self.raw.1.push(Some(data.len()));
        } else {
            self.raw.1.push(None);
        }
        self.bytes += data.len();
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The rows as a row group: arrays for the small columns, raw values
    /// for the typed ones.
    fn take_group(&mut self) -> Result<RowGroup> {
        let rows = std::mem::take(self);
        let mut shape = ListBuilder::new(Int64Builder::new()).with_field(Arc::new(
            arrow_schema::Field::new("element", arrow_schema::DataType::Int64, false),
        ));
        for s in &rows.shapes {
            shape.values().append_slice(s);
            shape.append(true);
        }
        let (raw, lens) = rows.raw;
        let offsets = OffsetBuffer::<i32>::from_lengths(lens.iter().map(|l| l.unwrap_or(0)));
        let nulls = NullBuffer::from(lens.iter().map(Option::is_some).collect::<Vec<_>>());
        Ok(RowGroup {
            small: vec![
                Arc::new(StringArray::from(rows.names)),
                Arc::new(shape.finish()),
                Arc::new(StringArray::from(rows.dtypes)),
                Arc::new(Int64Array::from(rows.num_params)),
                Arc::new(Int32Array::from(rows.chunk)),
                Arc::new(Int32Array::from(rows.num_chunks)),
            ],
            typed: rows.typed,
            encoded: Vec::new(),
            raw: Arc::new(
                BinaryArray::try_new(offsets, Buffer::from_vec(raw), Some(nulls))
                    .map_err(pq_err)?,
            ),
        })
    }
}

/// One row group of the chunked schema on its way to the file.
struct RowGroup {
    /// `layer_name`, `shape`, `dtype`, `num_params`, `chunk`, `num_chunks`.
    small: Vec<ArrayRef>,
    /// Per typed column: values and per-row element counts.
    typed: [(Vec<u8>, Vec<Option<usize>>); 4],
    /// The `data` column.
    raw: ArrayRef,
    /// The typed columns once encoded (their raw values are then dropped).
    encoded: Vec<EncodedChunk>,
}

impl RowGroup {
    /// Encodes and compresses the typed columns, whose leaves are `descs`.
    fn encode(&mut self, descs: &[ColumnDescPtr], compressor: &mut Compressor) -> Result<()> {
        for ((desc, (_, dtype)), (values, rows)) in descs.iter().zip(&TYPED).zip(&mut self.typed) {
            let chunk =
                encode_typed_column(desc, *dtype, values, rows, compressor).map_err(pq_err)?;
            *values = Vec::new();
            self.encoded.push(chunk);
        }
        Ok(())
    }

    /// Appends the row group to the file: arrow-rs encodes the small
    /// columns and `data`, [`encode_typed_column`] the typed ones.
    fn write(
        self,
        file: &mut SerializedFileWriter<&mut StreamOut>,
        factory: &ArrowRowGroupWriterFactory,
        schema: &arrow_schema::SchemaRef,
        index: usize,
    ) -> Result<()> {
        // One arrow-rs column writer per leaf, in leaf order.
        let mut writers = factory
            .create_column_writers(index)
            .map_err(pq_err)?
            .into_iter();
        let too_few = || Error::Internal("parquet writer: schema and columns disagree".into());
        let mut group = file.next_row_group().map_err(pq_err)?;
        let n_small = self.small.len();
        let mut encoded = self.encoded.into_iter();
        for (i, field) in schema.fields().iter().enumerate() {
            if (n_small..n_small + TYPED.len()).contains(&i) {
                let chunk = encoded.next().ok_or_else(too_few)?;
                group
                    .append_column(&chunk.bytes, chunk.close)
                    .map_err(pq_err)?;
                writers.next(); // this leaf's arrow-rs writer is not used
                continue;
            }
            let array = self.small.get(i).unwrap_or(&self.raw);
            for l in compute_leaves(field, array).map_err(pq_err)? {
                let mut w = writers.next().ok_or_else(too_few)?;
                w.write(&l).map_err(pq_err)?;
                w.close()
                    .map_err(pq_err)?
                    .append_to_row_group(&mut group)
                    .map_err(pq_err)?;
            }
        }
        group.close().map_err(pq_err)?;
        Ok(())
    }
}

impl StreamWriter for ParquetFile {
    fn size_hint(&self) -> u64 {
        self.tensors
            .iter()
            .map(|t| t.info.nbytes() as u64)
            .sum::<u64>()
            + (1 << 20)
    }

    fn identity(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("{:?} {:?}", self.options, self.key_values));
        for t in &self.tensors {
            h.update(format!(
                "{:?} {:?} {}",
                t.info,
                t.transform,
                t.source.identity()
            ));
        }
        format!("parquet:{}", modelconv_core::checksum::hex(&h.finalize()))
    }

    fn write(&self, out: &mut StreamOut, reporter: &dyn Reporter) -> Result<StreamStats> {
        let schema = arrow_schema(self.schema);
        let writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(self.properties()?))
            .map_err(pq_err)?;
        let mut summary = ParquetSummary::default();
        let mut stats = StreamStats::default();
        let total: u64 = self.tensors.iter().map(|t| t.info.nbytes() as u64).sum();
        reporter.start("writing parquet", self.tensors.len() as u64, total);
        let meta = match self.schema {
            SchemaVersion::Chunked => {
                // Row groups are written through the `SerializedFileWriter`
                // under the `ArrowWriter`, which has already put the Arrow
                // schema into the key-value metadata.
                let (mut file, factory) = writer.into_serialized_writer().map_err(pq_err)?;
                self.write_chunked(
                    &mut file,
                    &factory,
                    &schema,
                    &mut summary,
                    &mut stats,
                    reporter,
                )?;
                for kv in self.key_values(&summary)? {
                    file.append_key_value_metadata(kv);
                }
                file.close().map_err(pq_err)?
            }
            v => {
                let mut writer = writer;
                self.write_whole(&mut writer, &schema, v, &mut summary, &mut stats, reporter)?;
                for kv in self.key_values(&summary)? {
                    writer.append_key_value_metadata(kv);
                }
                writer.close().map_err(pq_err)?
            }
        };
        summary.row_groups = meta.num_row_groups();
        reporter.finish();
        if let Ok(mut s) = self.summary.lock() {
            *s = Some(summary);
        }
        Ok(stats)
    }
}

impl ParquetFile {
    /// The key-value metadata of the finished file.
    fn key_values(&self, summary: &ParquetSummary) -> Result<Vec<KeyValue>> {
        let mut kv = self.key_values.clone();
        kv.insert(KEY_SCHEMA.into(), self.schema.name().into());
        if self.schema == SchemaVersion::Chunked {
            kv.insert(
                "modelconv.chunk_elements".into(),
                self.options.chunk_elements.max(1).to_string(),
            );
        }
        kv.insert("modelconv.version".into(), env!("CARGO_PKG_VERSION").into());
        kv.insert(
            "modelconv.tensors".into(),
            serde_json::to_string(&summary.tensors).map_err(|e| Error::Internal(e.to_string()))?,
        );
        Ok(kv.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
    }

    /// The chunked schema, as a three-stage pipeline: a producer thread
    /// reads, casts and hashes chunks and gathers them into row groups; an
    /// encoder thread encodes and compresses their typed columns; this
    /// thread encodes the small columns and writes. Channels of one row
    /// group each bound memory.
    fn write_chunked(
        &self,
        file: &mut SerializedFileWriter<&mut StreamOut>,
        factory: &ArrowRowGroupWriterFactory,
        schema: &arrow_schema::SchemaRef,
        summary: &mut ParquetSummary,
        stats: &mut StreamStats,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let mut compressor = Compressor::new(self.options.codec).map_err(pq_err)?;
        let descs = file.schema_descr().columns().to_vec();
        // The leaves of the typed columns, in `TYPED` order.
        let typed_descs = TYPED
            .iter()
            .map(|(name, _)| {
                descs
                    .iter()
                    .find(|d| d.path().parts().first().map(String::as_str) == Some(*name))
                    .cloned()
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Internal("parquet writer: typed columns missing".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<RowGroup>(1);
        let (tx2, rx2) = std::sync::mpsc::sync_channel::<RowGroup>(1);
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || self.produce_chunked(tx, reporter));
            let encoder = scope.spawn(move || {
                for mut group in rx.iter() {
                    group.encode(&typed_descs, &mut compressor)?;
                    if tx2.send(group).is_err() {
                        break; // the writer stopped
                    }
                }
                Ok::<(), Error>(())
            });
            let mut write_result = Ok(());
            for (index, group) in rx2.iter().enumerate() {
                write_result = group.write(file, factory, schema, index);
                if write_result.is_err() {
                    break; // dropping `rx2` stops the encoder, and so the producer
                }
            }
            drop(rx2);
            let encoded = encoder
                .join()
                .map_err(|_| Error::Internal("parquet encoder thread panicked".into()))?;
            let produced = producer
                .join()
                .map_err(|_| Error::Internal("parquet producer thread panicked".into()))?;
            // The first stage to fail is the cause (the stages before it
            // only see a closed channel).
            write_result?;
            encoded?;
            let (tensors, rows, overflows) = produced?;
            summary.tensors.extend(tensors);
            summary.rows += rows;
            stats.overflows.extend(overflows);
            Ok(())
        })
    }

    /// The producer of [`Self::write_chunked`]: every tensor's chunks as
    /// rows, one row group per `row_group_bytes` of values.
    #[allow(clippy::type_complexity)]
    fn produce_chunked(
        &self,
        tx: std::sync::mpsc::SyncSender<RowGroup>,
        reporter: &dyn Reporter,
    ) -> Result<(Vec<TensorRecord>, u64, Vec<(String, u64)>)> {
        let mut rows = ChunkRows::default();
        let mut records = Vec::with_capacity(self.tensors.len());
        let mut overflows = Vec::new();
        let mut n_rows = 0u64;
        let send = |b: RowGroup| {
            tx.send(b)
                .map_err(|_| Error::Internal("parquet writer stopped".into()))
        };
        for t in &self.tensors {
            let esz = t.info.dtype.size();
            let nbytes = t.info.nbytes();
            let step = self.options.chunk_elements.max(1) * esz;
            let num_chunks = nbytes.div_ceil(step).max(1);
            let num_chunks_i32 = i32::try_from(num_chunks).map_err(|_| {
                Error::InvalidOption(format!("tensor '{}' is too large", t.info.name))
            })?;
            let mut hasher = Sha256::new();
            let mut overflowed = 0u64;
            for c in 0..num_chunks {
                if reporter.cancelled() {
                    return Err(Error::Cancelled);
                }
                let range = c * step..((c + 1) * step).min(nbytes);
                let (data, s) = t.read_output(range.clone())?;
                overflowed += s.overflowed;
                hasher.update(&data);
                rows.push(t, c as i32, num_chunks_i32, &data);
                t.source.release(
                    range.start / t.ratio().0 * t.ratio().1..range.end / t.ratio().0 * t.ratio().1,
                );
                reporter.advance(data.len() as u64, u64::from(c + 1 == num_chunks));
                n_rows += 1;
                // One row group per batch of about `row_group_bytes` of
                // values: bounded memory when writing, and readers decode
                // (and cache) small groups.
                if rows.bytes >= self.options.row_group_bytes {
                    send(rows.take_group()?)?;
                }
            }
            if overflowed > 0 {
                overflows.push((t.info.name.clone(), overflowed));
            }
            records.push(record(t, hasher, None));
        }
        if !rows.is_empty() {
            send(rows.take_group()?)?;
        }
        Ok((records, n_rows, overflows))
    }

    fn write_whole(
        &self,
        writer: &mut ArrowWriter<&mut StreamOut>,
        schema: &arrow_schema::SchemaRef,
        version: SchemaVersion,
        summary: &mut ParquetSummary,
        stats: &mut StreamStats,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let companions: Companions = if version == SchemaVersion::V2 {
            find_companions(&self.tensors)
        } else {
            Companions::default()
        };
        let mut pending = 0usize;
        let mut batch = WholeRows::default();
        for (i, t) in self.tensors.iter().enumerate() {
            if companions.folded.contains(&i) {
                continue;
            }
            if reporter.cancelled() {
                return Err(Error::Cancelled);
            }
            let (data, s) = t.read_output(0..t.info.nbytes())?;
            if s.overflowed > 0 {
                stats.overflows.push((t.info.name.clone(), s.overflowed));
            }
            let mut hasher = Sha256::new();
            hasher.update(&data);
            let quant = companions.quant.get(&i);
            let mut shape32 = Vec::with_capacity(t.info.shape.len());
            for &d in &t.info.shape {
                shape32.push(i32::try_from(d).map_err(|_| {
                    Error::InvalidOption(format!(
                        "tensor '{}': dimension {d} does not fit schema {}'s int32 shape",
                        t.info.name,
                        version.name()
                    ))
                })?);
            }
            batch.names.push(t.info.name.clone());
            batch.shapes.push(shape32);
            batch.dtypes.push(torch_name(t.info.dtype));
            batch.data.push(data.to_vec());
            batch.num_params.push(t.info.numel() as i64);
            match quant {
                Some(q) => {
                    batch.quant_type.push(q.quant_type.clone());
                    batch.scales.push(q.scales.clone());
                    batch.zero_points.push(q.zero_points.clone());
                    batch.quant_axis.push(q.axis);
                }
                None => {
                    batch.quant_type.push("none".into());
                    batch.scales.push(Vec::new());
                    batch.zero_points.push(Vec::new());
                    batch.quant_axis.push(-1);
                }
            }
            pending += data.len();
            reporter.advance(t.info.nbytes() as u64, 1);
            summary.rows += 1;
            summary
                .tensors
                .push(record(t, hasher, quant.map(|q| q.quant_type.clone())));
            drop(data);
            t.source.release(0..t.source.len());
            // Small batches, like the seeds (10 rows), bounded by bytes too.
            if batch.names.len() >= 10 || pending >= 64 << 20 {
                writer
                    .write(&batch.take(schema, version)?)
                    .map_err(pq_err)?;
                writer.flush().map_err(pq_err)?;
                pending = 0;
            }
        }
        if !batch.names.is_empty() {
            writer
                .write(&batch.take(schema, version)?)
                .map_err(pq_err)?;
        }
        Ok(())
    }
}

fn record(t: &OutTensor, hasher: Sha256, quant_type: Option<String>) -> TensorRecord {
    TensorRecord {
        name: t.info.name.clone(),
        dtype: torch_name(t.info.dtype).to_string(),
        shape: t.info.shape.clone(),
        num_params: t.info.numel() as u64,
        sha256: modelconv_core::checksum::hex(&hasher.finalize()),
        quant_type,
    }
}

#[derive(Default)]
struct WholeRows {
    names: Vec<String>,
    shapes: Vec<Vec<i32>>,
    dtypes: Vec<&'static str>,
    data: Vec<Vec<u8>>,
    num_params: Vec<i64>,
    quant_type: Vec<String>,
    scales: Vec<Vec<f32>>,
    zero_points: Vec<Vec<i64>>,
    quant_axis: Vec<i32>,
}

impl WholeRows {
    fn take(
        &mut self,
        schema: &arrow_schema::SchemaRef,
        version: SchemaVersion,
    ) -> Result<RecordBatch> {
        let rows = std::mem::take(self);
        let mut shape = ListBuilder::new(Int32Builder::new());
        for s in &rows.shapes {
            shape.values().append_slice(s);
            shape.append(true);
        }
        let data: Vec<&[u8]> = rows.data.iter().map(Vec::as_slice).collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(rows.names)),
            Arc::new(shape.finish()),
            Arc::new(StringArray::from(rows.dtypes)),
            Arc::new(BinaryArray::from(data)),
            Arc::new(Int64Array::from(rows.num_params)),
        ];
        if version == SchemaVersion::V2 {
            let mut qt = StringBuilder::new();
            for q in &rows.quant_type {
                qt.append_value(q);
            }
            let mut scales = ListBuilder::new(arrow_array::builder::Float32Builder::new());
            for s in &rows.scales {
                scales.values().append_slice(s);
                scales.append(true);
            }
            let mut zps = ListBuilder::new(Int64Builder::new());
            for z in &rows.zero_points {
                zps.values().append_slice(z);
                zps.append(true);
            }
            cols.push(Arc::new(qt.finish()));
            cols.push(Arc::new(scales.finish()));
            cols.push(Arc::new(zps.finish()));
            cols.push(Arc::new(Int32Array::from(rows.quant_axis)));
        }
        RecordBatch::try_new(Arc::clone(schema), cols).map_err(pq_err)
    }
}

/// The typed column a dtype goes to in the chunked schema, for docs/tests.
pub fn column_for(d: DType) -> &'static str {
    typed_column(d).unwrap_or("data")
}
