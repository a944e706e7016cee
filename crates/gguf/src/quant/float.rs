//! Scalar float conversions exactly as the GGUF reference tools do them.
//!
//! Three slightly different roundings meet here, and bit-exactness needs each
//! in its place:
//! - gguf-py writes F16 with numpy's `astype(np.float16)` and rounds the
//!   legacy-quant scales the same way: round to nearest, ties to even, NaN
//!   payload kept (quiet bit set) — [`f32_to_f16`];
//! - ggml's C reference (`GGML_FP32_TO_FP16`, used by the k-quant `_ref`
//!   quantizers) rounds finite values the same way but turns every NaN into
//!   `0x7E00` with its sign — [`ggml_f32_to_f16`];
//! - gguf-py's BF16 (`ggml_compute_fp32_to_bf16`): NaN forced quiet by
//!   setting bit 22 and keeping the top payload bits, everything else rounded
//!   to nearest even on the raw bits, no subnormal flush — [`f32_to_bf16`].
//!
//! numpy's float → integer casts (`astype(np.uint8)` of a float array) go
//! through the C conversion `cvttss2si`, which gives `i32::MIN` for NaN and
//! out-of-range values; the integer is then truncated. [`np_cast_u8`] and
//! [`np_cast_i8`] reproduce that so non-finite inputs give the same bytes as
//! gguf-py.

use half::f16;

/// f32 → f16 bits, round to nearest even, NaN kept quiet with its payload (numpy / F16C).
pub fn f32_to_f16(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

/// f16 bits → f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

/// f32 → f16 bits as ggml's portable `ggml_compute_fp32_to_fp16`: round to
/// nearest even; every NaN becomes `sign | 0x7E00`.
pub fn ggml_f32_to_f16(x: f32) -> u16 {
    if x.is_nan() {
        let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
        return sign | 0x7E00;
    }
    f16::from_f32(x).to_bits()
}

/// f32 → bf16 bits as gguf-py / ggml (`ggml_compute_fp32_to_bf16`).
pub fn f32_to_bf16(x: f32) -> u16 {
    let n = x.to_bits();
    if n & 0x7fff_ffff > 0x7f80_0000 {
        return ((n & 0xffff_0000) | (64 << 16)).wrapping_shr(16) as u16;
    }
    ((u64::from(n) + 0x7fff + u64::from((n >> 16) & 1)) >> 16) as u16
}

/// bf16 bits → f32 (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// C's `(int32_t)x` on x86-64 (`cvttss2si`): truncation toward zero,
/// `i32::MIN` for NaN and for values outside the i32 range.
pub fn c_cast_i32(x: f32) -> i32 {
    if !(-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        i32::MIN
    } else {
        x as i32
    }
}

/// numpy's `astype(np.uint8)` of a float32 (via a 32-bit conversion, then truncation).
pub fn np_cast_u8(x: f32) -> u8 {
    c_cast_i32(x) as u8
}

/// numpy's `astype(np.int8)` of a float32.
pub fn np_cast_i8(x: f32) -> i8 {
    c_cast_i32(x) as i8
}

/// gguf-py's `np_roundf`: round half away from zero, NaN stays NaN.
pub fn np_roundf(x: f32) -> f32 {
    let a = x.abs();
    let fl = a.floor();
    let b = fl + (2.0 * (a - fl)).floor();
    np_sign(x) * b
}

/// numpy's `sign` on f32: -1, 0 (signed zero kept), 1, or NaN.
fn np_sign(x: f32) -> f32 {
    if x.is_nan() {
        f32::NAN
    } else if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

/// numpy's `max` over a slice: NaN if any element is NaN; among equal
/// values (±0) the last one wins, as numpy's reduction does (checked on
/// random sign patterns of zeros).
pub fn np_max(x: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &v in x {
        if v.is_nan() {
            return v;
        }
        if v >= m {
            m = v;
        }
    }
    m
}

/// numpy's `min` over a slice: NaN if any element is NaN; ties go to the last.
pub fn np_min(x: &[f32]) -> f32 {
    let mut m = f32::INFINITY;
    for &v in x {
        if v.is_nan() {
            return v;
        }
        if v <= m {
            m = v;
        }
    }
    m
}

/// numpy's `abs(x).max()`.
pub fn np_amax(x: &[f32]) -> f32 {
    let mut m = 0f32;
    for &v in x {
        let a = v.abs();
        if a.is_nan() {
            return a;
        }
        if a > m {
            m = a;
        }
    }
    m
}

/// numpy's `abs(x).argmax()`: the first index of the largest magnitude, or
/// of the first NaN.
pub fn np_argmax_abs(x: &[f32]) -> usize {
    let mut best = 0;
    let mut m = f32::NEG_INFINITY;
    for (i, &v) in x.iter().enumerate() {
        let a = v.abs();
        if a.is_nan() {
            return i;
        }
        if a > m {
            m = a;
            best = i;
        }
    }
    best
}

/// `np.where(d == 0, 0, 1 / d)`.
pub fn inv_or_zero(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nan() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80); // tie → even
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(f32_to_bf16(f32::from_bits(0x7f80_0001)), 0x7fc0);
        assert_eq!(f32_to_bf16(f32::INFINITY), 0x7f80);
    }

    #[test]
    fn roundf_is_half_away_from_zero() {
        assert_eq!(np_roundf(2.5), 3.0);
        assert_eq!(np_roundf(-2.5), -3.0);
        assert_eq!(np_roundf(1.49), 1.0);
        assert_eq!(np_roundf(-0.4), 0.0);
        assert!(np_roundf(f32::NAN).is_nan());
    }

    #[test]
    fn c_casts_match_cvttss2si() {
        assert_eq!(np_cast_u8(f32::NAN), 0);
        assert_eq!(np_cast_u8(f32::INFINITY), 0);
        assert_eq!(np_cast_u8(300.7), 44);
        assert_eq!(np_cast_i8(-1.9), -1);
        assert_eq!(ggml_f32_to_f16(-f32::NAN), 0xFE00);
    }
}
