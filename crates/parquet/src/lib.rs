//! The Parquet weight store of the seeds, and modelconv's better default.
//!
//! - [`schema`]: the V1 and V2 schemas of the seeds and the chunked, typed,
//!   lossless default (BYTE_STREAM_SPLIT + zstd);
//! - [`writer`]: streamed writing through the engine (a `StreamWriter`;
//!   typed data columns by `encode`, a column-chunk encoder of our own);
//! - [`reader`]: reading any of the three, tensor data decoded on demand
//!   (typed data columns by `pages`, a page decoder of our own; the rest
//!   by arrow-rs);
//! - [`quant`]: int8/uint8 tensors with scale/zero-point companions (V2);
//! - [`layout`]: the seeds' `weights.parquet` + `metadata.json` +
//!   `tokenizer/` directory, and its reverse.
//!
//! A separate crate because arrow/parquet are heavy to build.

mod encode;
pub mod layout;
mod pages;
pub mod quant;
pub mod reader;
pub mod schema;
mod thrift;
pub mod writer;

pub use schema::SchemaVersion;
pub use writer::{Codec, ParquetOptions};
