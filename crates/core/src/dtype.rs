//! Element types of tensors.
//!
//! [`DType`] names every element type a dense tensor can hold. Its string
//! names are the safetensors ones (`F32`, `BF16`, `F8_E4M3`, ...), which are
//! also what the CLI prints. Quantized block types (GGUF, GPTQ, ...) are not
//! dense element types and will get their own type next to this one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The element type of a dense tensor. All multi-byte types are little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DType {
    /// Boolean, one byte per element (0 or 1).
    #[serde(rename = "BOOL")]
    Bool,
    /// Unsigned 8-bit integer.
    #[serde(rename = "U8")]
    U8,
    /// Signed 8-bit integer.
    #[serde(rename = "I8")]
    I8,
    /// 8-bit float, 5 exponent bits, 2 mantissa bits (IEEE-like, has Inf).
    #[serde(rename = "F8_E5M2")]
    F8E5M2,
    /// 8-bit float, 4 exponent bits, 3 mantissa bits ("FN": no Inf, NaN = 0x7F/0xFF).
    #[serde(rename = "F8_E4M3")]
    F8E4M3,
    /// Signed 16-bit integer.
    #[serde(rename = "I16")]
    I16,
    /// Unsigned 16-bit integer.
    #[serde(rename = "U16")]
    U16,
    /// IEEE 754 binary16.
    #[serde(rename = "F16")]
    F16,
    /// bfloat16: the upper half of an IEEE binary32.
    #[serde(rename = "BF16")]
    BF16,
    /// Signed 32-bit integer.
    #[serde(rename = "I32")]
    I32,
    /// Unsigned 32-bit integer.
    #[serde(rename = "U32")]
    U32,
    /// IEEE 754 binary32.
    #[serde(rename = "F32")]
    F32,
    /// IEEE 754 binary64.
    #[serde(rename = "F64")]
    F64,
    /// Signed 64-bit integer.
    #[serde(rename = "I64")]
    I64,
    /// Unsigned 64-bit integer.
    #[serde(rename = "U64")]
    U64,
}

impl DType {
    /// Every dtype, in a stable order.
    pub const ALL: [DType; 15] = [
        DType::Bool,
        DType::U8,
        DType::I8,
        DType::F8E5M2,
        DType::F8E4M3,
        DType::I16,
        DType::U16,
        DType::F16,
        DType::BF16,
        DType::I32,
        DType::U32,
        DType::F32,
        DType::F64,
        DType::I64,
        DType::U64,
    ];

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 | DType::F8E5M2 | DType::F8E4M3 => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// True for floating-point types (the only ones a dtype cast touches).
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F8E5M2 | DType::F8E4M3 | DType::F16 | DType::BF16 | DType::F32 | DType::F64
        )
    }

    /// True for the float types modelconv can write by casting
    /// (F8 types are read-only for now).
    pub fn is_cast_target(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }

    /// The safetensors name (`F32`, `F8_E4M3`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::F8E5M2 => "F8_E5M2",
            DType::F8E4M3 => "F8_E4M3",
            DType::I16 => "I16",
            DType::U16 => "U16",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::I32 => "I32",
            DType::U32 => "U32",
            DType::F32 => "F32",
            DType::F64 => "F64",
            DType::I64 => "I64",
            DType::U64 => "U64",
        }
    }

    /// Position in the safetensors crate's `Dtype` enum. The safetensors
    /// writers order tensors by this rank (descending), then by name; we do
    /// the same so our files are byte-identical to theirs.
    pub fn safetensors_rank(self) -> u8 {
        // BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0,
        // F8_E4M3FNUZ, F8_E5M2FNUZ, I16, U16, F16, BF16, I32, U32, F32, C64,
        // F64, I64, U64
        match self {
            DType::Bool => 0,
            DType::U8 => 4,
            DType::I8 => 5,
            DType::F8E5M2 => 6,
            DType::F8E4M3 => 7,
            DType::I16 => 11,
            DType::U16 => 12,
            DType::F16 => 13,
            DType::BF16 => 14,
            DType::I32 => 15,
            DType::U32 => 16,
            DType::F32 => 17,
            DType::F64 => 19,
            DType::I64 => 20,
            DType::U64 => 21,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error returned when a dtype name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype '{0}' (expected one of F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)")]
pub struct UnknownDType(pub String);

impl FromStr for DType {
    type Err = UnknownDType;

    /// Parses safetensors names and the usual lower-case spellings
    /// (`f16`, `float16`, `half`, `bfloat16`, `float32`, `float`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        let dt = match lower.as_str() {
            "bool" => DType::Bool,
            "u8" | "uint8" => DType::U8,
            "i8" | "int8" => DType::I8,
            "f8_e5m2" | "float8_e5m2" => DType::F8E5M2,
            "f8_e4m3" | "f8_e4m3fn" | "float8_e4m3fn" => DType::F8E4M3,
            "i16" | "int16" => DType::I16,
            "u16" | "uint16" => DType::U16,
            "f16" | "fp16" | "float16" | "half" => DType::F16,
            "bf16" | "bfloat16" => DType::BF16,
            "i32" | "int32" => DType::I32,
            "u32" | "uint32" => DType::U32,
            "f32" | "fp32" | "float32" | "float" => DType::F32,
            "f64" | "fp64" | "float64" | "double" => DType::F64,
            "i64" | "int64" => DType::I64,
            "u64" | "uint64" => DType::U64,
            _ => return Err(UnknownDType(s.to_string())),
        };
        Ok(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for dt in DType::ALL {
            assert_eq!(dt.name().parse::<DType>(), Ok(dt));
            let json = serde_json::to_string(&dt).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", dt.name()));
        }
        assert_eq!("float16".parse::<DType>(), Ok(DType::F16));
        assert!("F4".parse::<DType>().is_err());
    }

    #[test]
    fn rank_is_strictly_ordered_like_the_enum() {
        let ranks: Vec<u8> = DType::ALL.iter().map(|d| d.safetensors_rank()).collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
    }
}
