//! ggml tensor types: id, name, block size and bytes per block.
//!
//! The table is ggml's type enum (`ggml.h`, ggml 0.25.3 as vendored by
//! llama-cpp-python 0.3.36) with the sizes of `ggml-common.h`'s static
//! asserts; gguf-py's `GGML_QUANT_SIZES` agrees except for Q8_1, where it
//! says 40 bytes (two f32) and ggml's block is 36 (two f16), and Q2_0 (42),
//! which gguf-py 0.19.0 does not list yet. Ids 4, 5 and 31–33, 36–38 were
//! removed from ggml and are rejected like any unknown id.

use std::fmt;

/// A ggml tensor type. Every id current ggml defines is known, so any GGUF
/// in the wild opens; [`GgmlType::dtype`] says which ones modelconv reads
/// as plain dtypes, and [`crate::quant`] which ones it can (de)quantize.
/// Each type is also an associated constant (`GgmlType::Q4_K`), so code
/// can match on types like on an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType {
    /// The id stored in the file.
    pub id: u32,
    /// ggml's name (`F32`, `Q4_K`, ...).
    pub name: &'static str,
    /// Elements per block.
    pub block_size: u64,
    /// Bytes per block.
    pub type_size: u64,
}

const QK_K: u64 = 256;

macro_rules! consts {
    ($($name:ident = $id:expr, $bs:expr, $ts:expr;)*) => {
        impl GgmlType {
            $(
                #[doc = concat!("`", stringify!($name), "` (id ", stringify!($id), ").")]
                pub const $name: GgmlType = GgmlType {
                    id: $id,
                    name: stringify!($name),
                    block_size: $bs,
                    type_size: $ts,
                };
            )*
            /// Every type, in id order (the same list as [`GgmlType::all`]).
            pub const ALL: &'static [GgmlType] = &[$(GgmlType::$name),*];
        }
    };
}

consts! {
    F32 = 0, 1, 4;
    F16 = 1, 1, 2;
    Q4_0 = 2, 32, 2 + 16;
    Q4_1 = 3, 32, 2 + 2 + 16;
    Q5_0 = 6, 32, 2 + 4 + 16;
    Q5_1 = 7, 32, 2 + 2 + 4 + 16;
    Q8_0 = 8, 32, 2 + 32;
    Q8_1 = 9, 32, 2 + 2 + 32;
    Q2_K = 10, QK_K, 2 + 2 + QK_K / 16 + QK_K / 4;
    Q3_K = 11, QK_K, 2 + QK_K / 4 + QK_K / 8 + 12;
    Q4_K = 12, QK_K, 2 + 2 + QK_K / 2 + 12;
    Q5_K = 13, QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12;
    Q6_K = 14, QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16;
    Q8_K = 15, QK_K, 4 + QK_K + QK_K / 8;
    IQ2_XXS = 16, QK_K, 2 + QK_K / 4;
    IQ2_XS = 17, QK_K, 2 + QK_K / 4 + QK_K / 32;
    IQ3_XXS = 18, QK_K, 2 + QK_K / 4 + QK_K / 8;
    IQ1_S = 19, QK_K, 2 + QK_K / 8 + QK_K / 16;
    IQ4_NL = 20, 32, 2 + 16;
    IQ3_S = 21, QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4;
    IQ2_S = 22, QK_K, 2 + QK_K / 4 + QK_K / 16;
    IQ4_XS = 23, QK_K, 2 + 2 + QK_K / 2 + QK_K / 64;
    I8 = 24, 1, 1;
    I16 = 25, 1, 2;
    I32 = 26, 1, 4;
    I64 = 27, 1, 8;
    F64 = 28, 1, 8;
    IQ1_M = 29, QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32;
    BF16 = 30, 1, 2;
    TQ1_0 = 34, QK_K, 2 + 4 * 13;
    TQ2_0 = 35, QK_K, 2 + 64;
    MXFP4 = 39, 32, 1 + 16;
    NVFP4 = 40, 64, 4 + 32;
    Q1_0 = 41, 128, 2 + 16;
    Q2_0 = 42, 64, 2 + 16;
}

impl GgmlType {
    /// Every type, by id.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        GgmlType::ALL.iter().copied()
    }

    /// True for block-quantized types (block size > 1).
    pub fn is_quantized(self) -> bool {
        self.block_size > 1
    }

    /// The type with this id, if ggml defines it.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GgmlType::all().find(|t| t.id == id)
    }

    /// The type with this name (case-insensitive).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::all().find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// `F32`.
    pub fn f32() -> GgmlType {
        GgmlType::F32
    }

    /// The plain dtype of this type, if it is one.
    pub fn dtype(self) -> Option<modelconv_core::DType> {
        use modelconv_core::DType;
        Some(match self.id {
            0 => DType::F32,
            1 => DType::F16,
            24 => DType::I8,
            25 => DType::I16,
            26 => DType::I32,
            27 => DType::I64,
            28 => DType::F64,
            30 => DType::BF16,
            _ => return None,
        })
    }

    /// The ggml type of a plain dtype, if GGUF has one.
    pub fn from_dtype(dtype: modelconv_core::DType) -> Option<GgmlType> {
        use modelconv_core::DType;
        let id = match dtype {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::I8 => 24,
            DType::I16 => 25,
            DType::I32 => 26,
            DType::I64 => 27,
            DType::F64 => 28,
            DType::BF16 => 30,
            _ => return None,
        };
        GgmlType::from_id(id)
    }

    /// Bytes of a row of `n` elements, or `None` if `n` is not a multiple of
    /// the block size (or overflows).
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        if !n.is_multiple_of(self.block_size) {
            return None;
        }
        (n / self.block_size).checked_mul(self.type_size)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes per block as ggml's `type_traits` table has them (`ggml.c`),
    /// against the layouts the constants state.
    const GGML_TYPE_SIZES: &[(&str, u64)] = &[
        ("F32", 4),
        ("F16", 2),
        ("Q4_0", 18),
        ("Q4_1", 20),
        ("Q5_0", 22),
        ("Q5_1", 24),
        ("Q8_0", 34),
        ("Q8_1", 36),
        ("Q2_K", 84),
        ("Q3_K", 110),
        ("Q4_K", 144),
        ("Q5_K", 176),
        ("Q6_K", 210),
        ("Q8_K", 292),
        ("IQ2_XXS", 66),
        ("IQ2_XS", 74),
        ("IQ3_XXS", 98),
        ("IQ1_S", 50),
        ("IQ4_NL", 18),
        ("IQ3_S", 110),
        ("IQ2_S", 82),
        ("IQ4_XS", 136),
        ("I8", 1),
        ("I16", 2),
        ("I32", 4),
        ("I64", 8),
        ("F64", 8),
        ("IQ1_M", 56),
        ("BF16", 2),
        ("TQ1_0", 54),
        ("TQ2_0", 66),
        ("MXFP4", 17),
        ("NVFP4", 36),
        ("Q1_0", 18),
        ("Q2_0", 18),
    ];

    #[test]
    fn sizes_are_ggml_s() {
        for (name, size) in GGML_TYPE_SIZES {
            let t = GgmlType::from_name(name);
            assert_eq!(t.map(|t| t.type_size), Some(*size), "{name}");
        }
        assert_eq!(GGML_TYPE_SIZES.len(), GgmlType::ALL.len());
    }

    #[test]
    fn lookups() {
        for t in GgmlType::all() {
            assert_eq!(GgmlType::from_name(&t.name.to_lowercase()), Some(t));
        }
        assert_eq!(GgmlType::from_id(12), Some(GgmlType::Q4_K));
        assert_eq!(GgmlType::from_name("q8_0"), Some(GgmlType::Q8_0));
        assert_eq!(GgmlType::from_id(4), None);
        assert_eq!(GgmlType::from_id(43), None);
        assert_eq!(GgmlType::Q8_1.type_size, 36);
    }
}
