//! The three Parquet weight schemas and their dtype names.
//!
//! - **V1** (the seeds): one row per tensor — `layer_name: string`,
//!   `shape: list<int32>`, `dtype: string` (`torch.float16`, ...),
//!   `data: binary` (raw little-endian bytes), `num_params: int64`.
//! - **V2** (the seeds, quantized): V1 plus `quant_type: string` (`none`,
//!   `int8`, `uint8`), `scales: list<float32>`, `zero_points: list<int64>`
//!   and `quant_axis: int32` (−1 = per tensor, else the channel axis).
//! - **Chunked** (modelconv's default): the V1 names where they fit
//!   (`layer_name`, `shape` as `list<int64>`, `dtype`, `num_params`) plus
//!   `chunk` and `num_chunks`; each tensor is split into rows of at most
//!   [`DEFAULT_CHUNK_ELEMENTS`] elements, and the elements go to a *typed*
//!   column — `data_f32: list<float>`, `data_f16: list<float16>`,
//!   `data_bf16: list<fixed_size_binary(2)>`, `data_f64: list<double>`,
//!   encoded with BYTE_STREAM_SPLIT (so zstd sees the exponent bytes
//!   together) — or, for integers, bool and F8, to `data: binary`. Every
//!   dtype is stored losslessly; no row needs a huge allocation.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use modelconv_core::DType;

/// Elements per row in the chunked schema (4 MiB of f32).
pub const DEFAULT_CHUNK_ELEMENTS: usize = 1 << 20;

/// Key-value metadata key naming the schema.
pub const KEY_SCHEMA: &str = "modelconv.schema";

/// Which schema a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaVersion {
    /// The seeds' V1.
    V1,
    /// The seeds' V2 (quantization columns).
    V2,
    /// modelconv's chunked, typed, lossless default.
    Chunked,
}

impl SchemaVersion {
    /// Parses `v1`, `v2`, `chunked` (also `default`, `v3`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "v1" => Some(SchemaVersion::V1),
            "v2" => Some(SchemaVersion::V2),
            "chunked" | "default" | "v3" => Some(SchemaVersion::Chunked),
            _ => None,
        }
    }

    /// Name stored in the key-value metadata.
    pub fn name(self) -> &'static str {
        match self {
            SchemaVersion::V1 => "v1",
            SchemaVersion::V2 => "v2",
            SchemaVersion::Chunked => "chunked",
        }
    }
}

/// The torch-style dtype name the seeds store (`torch.float16`).
pub fn torch_name(d: DType) -> &'static str {
    match d {
        DType::Bool => "torch.bool",
        DType::U8 => "torch.uint8",
        DType::I8 => "torch.int8",
        DType::F8E5M2 => "torch.float8_e5m2",
        DType::F8E4M3 => "torch.float8_e4m3fn",
        DType::I16 => "torch.int16",
        DType::U16 => "torch.uint16",
        DType::F16 => "torch.float16",
        DType::BF16 => "torch.bfloat16",
        DType::I32 => "torch.int32",
        DType::U32 => "torch.uint32",
        DType::F32 => "torch.float32",
        DType::F64 => "torch.float64",
        DType::I64 => "torch.int64",
        DType::U64 => "torch.uint64",
    }
}

/// Parses a stored dtype name: torch style (`torch.float16`), numpy style
/// (`float16`) or safetensors style (`F16`).
pub fn parse_dtype(s: &str) -> Option<DType> {
    let bare = s.strip_prefix("torch.").unwrap_or(s);
    match bare {
        "float" => Some(DType::F32),
        "half" => Some(DType::F16),
        "double" => Some(DType::F64),
        "long" => Some(DType::I64),
        "int" => Some(DType::I32),
        "short" => Some(DType::I16),
        _ => bare.parse().ok(),
    }
}

/// The typed data column of the chunked schema for a dtype (`None` = `data`).
pub fn typed_column(d: DType) -> Option<&'static str> {
    match d {
        DType::F32 => Some("data_f32"),
        DType::F16 => Some("data_f16"),
        DType::BF16 => Some("data_bf16"),
        DType::F64 => Some("data_f64"),
        _ => None,
    }
}

/// The typed data columns and their element types.
pub const TYPED: [(&str, DType); 4] = [
    ("data_f32", DType::F32),
    ("data_f16", DType::F16),
    ("data_bf16", DType::BF16),
    ("data_f64", DType::F64),
];

/// Arrow element type of a typed column. 16-bit floats are stored as
/// their bit patterns in `uint16` (Parquet INT32 with an INT(16, false)
/// annotation), a type every Parquet reader knows; arrow-rs also wrote
/// Float16 / fixed_size_binary(2) value by value, 4× slower (the typed
/// columns are now encoded by `encode`). Readers view the values as
/// float16 / bfloat16 (`.view(np.float16)`). Files of modelconv 0.1's first
/// releases (Float16 and fixed_size_binary(2) columns) are still read.
pub fn element_type(d: DType) -> DataType {
    match d {
        DType::F32 => DataType::Float32,
        DType::F64 => DataType::Float64,
        _ => DataType::UInt16,
    }
}

/// The list item field (named `element`, as the Parquet spec does).
pub fn item_field(d: DType) -> Arc<Field> {
    Arc::new(Field::new("element", element_type(d), false))
}

/// The Arrow schema of a version.
pub fn arrow_schema(v: SchemaVersion) -> SchemaRef {
    let mut fields = vec![Field::new("layer_name", DataType::Utf8, false)];
    match v {
        SchemaVersion::V1 | SchemaVersion::V2 => {
            fields.push(Field::new(
                "shape",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ));
            fields.push(Field::new("dtype", DataType::Utf8, true));
            fields.push(Field::new("data", DataType::Binary, true));
            fields.push(Field::new("num_params", DataType::Int64, true));
            if v == SchemaVersion::V2 {
                fields.push(Field::new("quant_type", DataType::Utf8, true));
                fields.push(Field::new(
                    "scales",
                    DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
                    true,
                ));
                fields.push(Field::new(
                    "zero_points",
                    DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
                    true,
                ));
                fields.push(Field::new("quant_axis", DataType::Int32, true));
            }
        }
        SchemaVersion::Chunked => {
            fields.push(Field::new(
                "shape",
                DataType::List(Arc::new(Field::new("element", DataType::Int64, false))),
                false,
            ));
            fields.push(Field::new("dtype", DataType::Utf8, false));
            fields.push(Field::new("num_params", DataType::Int64, false));
            fields.push(Field::new("chunk", DataType::Int32, false));
            fields.push(Field::new("num_chunks", DataType::Int32, false));
            for (name, d) in TYPED {
                fields.push(Field::new(name, DataType::List(item_field(d)), true));
            }
            fields.push(Field::new("data", DataType::Binary, true));
        }
    }
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_names_round_trip() {
        for d in DType::ALL {
            assert_eq!(parse_dtype(torch_name(d)), Some(d), "{d}");
            assert_eq!(parse_dtype(d.name()), Some(d));
        }
        assert_eq!(parse_dtype("torch.float"), Some(DType::F32));
        assert_eq!(parse_dtype("torch.complex64"), None);
    }
}
