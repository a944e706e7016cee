//! modelconv: convert model weights between formats, safely and in bounded memory.
//!
//! This crate is the library front door used by the CLI and the Python
//! bindings: [`convert()`] and [`inspect()`] take a path or hub id and
//! options and return a serialisable report. Formats live in
//! `modelconv-formats`, the tensor model and the write engine in
//! `modelconv-core` (re-exported as [`core`]).

pub mod check;
pub mod convert;
pub mod fake;
pub mod family;
pub mod formats;
pub mod glob;
pub mod inspect;
pub mod loader;
pub mod registry;
pub mod report_html;
pub mod request;
pub mod scan;
pub mod source;
pub mod validate;
pub mod verify;

pub use clap;
pub use convert::{convert, ConversionReport, ConvertOptions, QuantizeOptions};
pub use family::FamilyOptions;
pub use inspect::{inspect, InspectReport};
pub use loader::WeightLoader;
pub use modelconv_arch as arch;
pub use modelconv_core as core;
pub use modelconv_core::engine::{EngineOptions, Fault};
pub use modelconv_core::progress::{NoProgress, Reporter};
pub use modelconv_core::quant::Scheme;
pub use modelconv_core::FormatId;
pub use modelconv_core::{Category, DType, Error, Result};
pub use modelconv_formats::hf::parse_size;
pub use modelconv_gguf as gguf;
pub use modelconv_parquet::{Codec, ParquetOptions, SchemaVersion};
pub use request::ConvertRequest;
pub use scan::{scan, ScanReport, Severity};
pub use verify::{verify, VerifyOptions, VerifyReport};

/// Parses a GGUF preset for `--quant` (case-insensitive: `q4_k_m`,
/// `Q8_0`, `F16`, ...).
pub fn gguf_preset(name: &str) -> Result<modelconv_gguf::preset::Preset> {
    modelconv_gguf::preset::Preset::from_name(name).ok_or_else(|| {
        Error::InvalidOption(format!(
            "unknown GGUF type '{name}'; modelconv writes {}",
            modelconv_gguf::preset::Preset::names()
        ))
    })
}
