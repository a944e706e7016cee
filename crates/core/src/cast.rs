//! Exact dtype casts between float types.
//!
//! Rules (IEEE 754, what numpy's `astype` does):
//! - narrowing rounds to nearest, ties to even, in one step from the source
//!   value (F64 → F16 never double-rounds through F32);
//! - NaN stays NaN (quiet, sign and top payload bits kept), ±Inf and -0
//!   are kept, subnormals are produced and consumed;
//! - a finite value too large for the target becomes ±Inf and is counted in
//!   [`CastStats::overflowed`] so the report can warn.
//!
//! F8 types (E4M3FN, E5M2) can be read (cast from) but not written.
//! Integer and bool tensors are never cast.
//!
//! Input bytes may be unaligned (they often come straight from a memory
//! map), so the kernels decode fixed-size blocks into aligned stack buffers.
//! F32 → F16 uses `half`'s slice conversion, which picks the F16C
//! instructions at run time when the CPU has them.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use crate::dtype::DType;

/// What a cast observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CastStats {
    /// Finite source values that became ±Inf in the target type.
    pub overflowed: u64,
}

impl std::ops::AddAssign for CastStats {
    fn add_assign(&mut self, rhs: Self) {
        self.overflowed += rhs.overflowed;
    }
}

/// Why a cast cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CastError {
    /// Source or target is not a float type we can cast between.
    #[error("cannot cast {from} to {to}: only float tensors are cast, to F64, F32, F16 or BF16")]
    Unsupported {
        /// Source dtype.
        from: DType,
        /// Target dtype.
        to: DType,
    },
    /// Input and output buffers do not hold the same number of elements.
    #[error("cast buffer sizes disagree: {input} input bytes vs {output} output bytes")]
    Length {
        /// Input length in bytes.
        input: usize,
        /// Output length in bytes.
        output: usize,
    },
}

/// True if `from` can be cast to `to` by [`cast`].
pub fn can_cast(from: DType, to: DType) -> bool {
    from.is_float() && to.is_cast_target()
}

const BLOCK: usize = 1024;

/// Casts the little-endian elements in `input` (dtype `from`) into `output`
/// (dtype `to`). `output` must hold exactly as many elements as `input`.
pub fn cast(
    from: DType,
    to: DType,
    input: &[u8],
    output: &mut [u8],
) -> Result<CastStats, CastError> {
    if !can_cast(from, to) {
        return Err(CastError::Unsupported { from, to });
    }
    let n = input.len() / from.size();
    if !input.len().is_multiple_of(from.size()) || output.len() != n * to.size() {
        return Err(CastError::Length {
            input: input.len(),
            output: output.len(),
        });
    }
    if from == to {
        output.copy_from_slice(input);
        return Ok(CastStats::default());
    }
    let mut stats = CastStats::default();
    if from == DType::BF16 && to == DType::F16 {
        stats.overflowed = bf16_to_f16(input, output);
        return Ok(stats);
    }
    let in_chunks = input.chunks(BLOCK * from.size());
    let out_chunks = output.chunks_mut(BLOCK * to.size());
    if from == DType::F64 {
        let mut buf = [0f64; BLOCK];
        for (inp, out) in in_chunks.zip(out_chunks) {
            let vals = &mut buf[..inp.len() / 8];
            for (v, b) in vals.iter_mut().zip(inp.chunks_exact(8)) {
                *v = f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            }
            stats.overflowed += encode_from_f64(vals, to, out);
        }
    } else {
        let mut buf = [0f32; BLOCK];
        for (inp, out) in in_chunks.zip(out_chunks) {
            let vals = &mut buf[..inp.len() / from.size()];
            decode_to_f32(from, inp, vals);
            stats.overflowed += encode_from_f32(vals, to, out);
        }
    }
    Ok(stats)
}

/// BF16 → F16, the common conversion of LLM checkpoints, in loops that
/// vectorize; returns how many finite values became ±Inf. A finite bf16
/// overflows f16 exactly when its magnitude is at least 2^16 (the largest
/// bf16 below that, 65280, is a finite f16; f16 rounds to Inf from 65520).
fn bf16_to_f16(input: &[u8], output: &mut [u8]) -> u64 {
    const FIRST_OVER: i16 = 0x4780; // 65536
    const INF: i16 = 0x7f80;
    let mut overflowed = 0u64;
    let mut wide = [0f32; BLOCK];
    let mut halves = [f16::ZERO; BLOCK];
    for (inp, out) in input.chunks(BLOCK * 2).zip(output.chunks_mut(BLOCK * 2)) {
        let bits = inp.as_chunks::<2>().0;
        let n = bits.len();
        let (wide, halves) = (&mut wide[..n], &mut halves[..n]);
        for (w, b) in wide.iter_mut().zip(bits) {
            *w = f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16);
        }
        // Signed 16-bit compares (the magnitude fits in 15 bits), which
        // SSE2 has and the vectorizer uses.
        let over: i16 = bits
            .iter()
            .map(|b| {
                let m = (i16::from_le_bytes(*b)) & 0x7fff;
                i16::from(m >= FIRST_OVER) & i16::from(m < INF)
            })
            .fold(0i16, i16::wrapping_add);
        let over = u32::from(over.cast_unsigned());
        halves.convert_from_f32_slice(wide);
        for (o, h) in out.as_chunks_mut::<2>().0.iter_mut().zip(halves.iter()) {
            *o = h.to_bits().to_le_bytes();
        }
        overflowed += u64::from(over);
    }
    overflowed
}

/// Decodes `input` (any float dtype except F64) into `out`.
fn decode_to_f32(from: DType, input: &[u8], out: &mut [f32]) {
    match from {
        DType::F32 => {
            for (v, b) in out.iter_mut().zip(input.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        DType::F16 => {
            let mut halves = [f16::ZERO; BLOCK];
            let halves = &mut halves[..out.len()];
            for (h, b) in halves.iter_mut().zip(input.chunks_exact(2)) {
                *h = f16::from_bits(u16::from_le_bytes([b[0], b[1]]));
            }
            halves.convert_to_f32_slice(out);
        }
        DType::BF16 => {
            for (v, b) in out.iter_mut().zip(input.chunks_exact(2)) {
                *v = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
            }
        }
        DType::F8E4M3 => {
            for (v, &b) in out.iter_mut().zip(input) {
                *v = f8_e4m3_to_f32(b);
            }
        }
        DType::F8E5M2 => {
            for (v, &b) in out.iter_mut().zip(input) {
                *v = f8_e5m2_to_f32(b);
            }
        }
        // Not reachable: `cast` checked the dtype and F64 has its own path.
        _ => out.fill(f32::NAN),
    }
}

fn encode_from_f32(vals: &[f32], to: DType, out: &mut [u8]) -> u64 {
    let mut overflowed = 0u64;
    match to {
        DType::F64 => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(8)) {
                o.copy_from_slice(&f64::from(*v).to_le_bytes());
            }
        }
        DType::F32 => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(4)) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F16 => {
            let mut halves = [f16::ZERO; BLOCK];
            let halves = &mut halves[..vals.len()];
            halves.convert_from_f32_slice(vals);
            for ((h, v), o) in halves.iter().zip(vals).zip(out.chunks_exact_mut(2)) {
                o.copy_from_slice(&h.to_bits().to_le_bytes());
                overflowed += u64::from(h.is_infinite() && v.is_finite());
            }
        }
        DType::BF16 => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(2)) {
                let b = bf16::from_f32(*v);
                o.copy_from_slice(&b.to_bits().to_le_bytes());
                overflowed += u64::from(b.is_infinite() && v.is_finite());
            }
        }
        _ => {}
    }
    overflowed
}

fn encode_from_f64(vals: &[f64], to: DType, out: &mut [u8]) -> u64 {
    let mut overflowed = 0u64;
    match to {
        DType::F32 => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(4)) {
                // `as` rounds to nearest, ties to even, and keeps NaN/Inf.
                let f = *v as f32;
                o.copy_from_slice(&f.to_le_bytes());
                overflowed += u64::from(f.is_infinite() && v.is_finite());
            }
        }
        DType::F16 | DType::BF16 => {
            let (exp_bits, man_bits) = if to == DType::F16 { (5, 10) } else { (8, 7) };
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(2)) {
                let bits = round_f64_to_16(*v, exp_bits, man_bits);
                o.copy_from_slice(&bits.to_le_bytes());
                let inf = (bits & 0x7fff) == (((1u16 << exp_bits) - 1) << man_bits);
                overflowed += u64::from(inf && v.is_finite());
            }
        }
        DType::F64 => {
            for (v, o) in vals.iter().zip(out.chunks_exact_mut(8)) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {}
    }
    overflowed
}

/// Rounds an f64 to a 16-bit float with `exp_bits` exponent bits and
/// `man_bits` mantissa bits (F16: 5/10, BF16: 8/7), to nearest, ties to even,
/// in a single step. Returns the target's bit pattern.
pub fn round_f64_to_16(x: f64, exp_bits: u32, man_bits: u32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let man = bits & ((1u64 << 52) - 1);
    let max_exp = (1u16 << exp_bits) - 1;
    let inf = sign | (max_exp << man_bits);
    if exp == 0x7ff {
        if man == 0 {
            return inf;
        }
        // NaN: quiet bit set, top payload bits kept.
        let payload = (man >> (52 - man_bits)) as u16;
        return inf | (1 << (man_bits - 1)) | payload;
    }
    if exp == 0 {
        // Zero or an f64 subnormal: far below half the smallest target subnormal.
        return sign;
    }
    let bias_t = (1i64 << (exp_bits - 1)) - 1;
    let e_t = exp - 1023 + bias_t; // biased target exponent if normal
    let sig = man | (1u64 << 52); // 53-bit significand with the implicit one
    let shift = if e_t >= 1 {
        52 - i64::from(man_bits)
    } else {
        52 - i64::from(man_bits) + (1 - e_t)
    };
    if shift > 63 {
        return sign;
    }
    let shift = shift as u32;
    let mut rounded = sig >> shift;
    let rem = sig & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    if rem > half || (rem == half && rounded & 1 == 1) {
        rounded += 1;
    }
    // Normal: the implicit one sits at bit `man_bits`, so adding the exponent
    // minus one gives the right field, and a rounding carry bumps the
    // exponent. Subnormal: the exponent field is zero.
    let magnitude = if e_t >= 1 {
        ((e_t as u64 - 1) << man_bits) + rounded
    } else {
        rounded
    };
    if magnitude >= u64::from(max_exp) << man_bits {
        return inf;
    }
    sign | magnitude as u16
}

/// Decodes an F8 E4M3FN byte (bias 7, no Inf, NaN = S.1111.111).
pub fn f8_e4m3_to_f32(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((b >> 3) & 0x0f);
    let man = f32::from(b & 0x07);
    if exp == 0x0f && b & 0x07 == 0x07 {
        return f32::NAN.copysign(sign);
    }
    if exp == 0 {
        return sign * man * 2f32.powi(-9);
    }
    sign * (1.0 + man / 8.0) * 2f32.powi(exp - 7)
}

/// Decodes an F8 E5M2 byte (bias 15, IEEE-like with Inf and NaN).
pub fn f8_e5m2_to_f32(b: u8) -> f32 {
    // E5M2 is the upper byte of an F16.
    f16::from_bits(u16::from(b) << 8).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cast_vec(from: DType, to: DType, input: &[u8]) -> (Vec<u8>, CastStats) {
        let n = input.len() / from.size();
        let mut out = vec![0u8; n * to.size()];
        let stats = cast(from, to, input, &mut out).unwrap_or_default();
        (out, stats)
    }

    /// The BF16 → F16 fast path against `half`'s scalar conversions, on
    /// every one of the 65536 bf16 bit patterns (NaN payloads aside).
    #[test]
    fn bf16_to_f16_all_patterns() {
        let input: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
        let (out, stats) = cast_vec(DType::BF16, DType::F16, &input);
        let mut expected_over = 0u64;
        for (i, o) in (0..=u16::MAX).zip(out.chunks_exact(2)) {
            let v = bf16::from_bits(i).to_f32();
            let want = f16::from_f32(v);
            let got = f16::from_bits(u16::from_le_bytes([o[0], o[1]]));
            if v.is_nan() {
                assert!(got.is_nan(), "{i:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{i:#06x}");
            }
            expected_over += u64::from(want.is_infinite() && v.is_finite());
        }
        assert_eq!(stats.overflowed, expected_over);
        assert_eq!(expected_over, 2 * (0x7f80 - 0x4780));
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn u16s(b: &[u8]) -> Vec<u16> {
        b.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn f32_to_f16_special_values() {
        let input = [
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            65504.0,
            65520.0,
            -1e6,
            5.960_464_5e-8,
            1.0 + 1.0 / 2048.0,
        ];
        let (out, stats) = cast_vec(DType::F32, DType::F16, &f32_bytes(&input));
        let got = u16s(&out);
        assert_eq!(got[0], 0x0000);
        assert_eq!(got[1], 0x8000);
        assert_eq!(got[2], 0x7c00);
        assert_eq!(got[3], 0xfc00);
        assert_eq!(got[4] & 0x7c00, 0x7c00);
        assert_ne!(got[4] & 0x03ff, 0);
        assert_eq!(got[5], 0x7bff); // max finite
        assert_eq!(got[6], 0x7c00); // 65520 rounds up to Inf
        assert_eq!(got[7], 0xfc00);
        assert_eq!(got[8], 0x0001); // smallest subnormal
        assert_eq!(got[9], 0x3c00); // tie to even: 1 + 2^-11 -> 1.0
        assert_eq!(stats.overflowed, 2);
    }

    #[test]
    fn f8_decoding() {
        assert_eq!(f8_e4m3_to_f32(0x7e), 448.0);
        assert!(f8_e4m3_to_f32(0x7f).is_nan());
        assert_eq!(f8_e4m3_to_f32(0x01), 2f32.powi(-9));
        assert_eq!(f8_e4m3_to_f32(0x38), 1.0);
        assert_eq!(f8_e4m3_to_f32(0xb8), -1.0);
        assert_eq!(f8_e5m2_to_f32(0x7b), 57344.0);
        assert_eq!(f8_e5m2_to_f32(0x7c), f32::INFINITY);
        assert!(f8_e5m2_to_f32(0x7e).is_nan());
        assert_eq!(f8_e5m2_to_f32(0x3c), 1.0);
    }

    #[test]
    fn f64_to_f16_does_not_double_round() {
        // 1 + 2^-11 + 2^-40: nearest f16 is 1 + 2^-10. Rounding through f32
        // first would give exactly 1 + 2^-11 (the f32 loses 2^-40? no: f32
        // keeps 23 bits, so 2^-40 is lost) and then tie-to-even 1.0.
        let x = 1.0 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(round_f64_to_16(x, 5, 10), 0x3c01);
        assert_eq!(f16::from_f32(x as f32).to_bits(), 0x3c00);
    }

    #[test]
    fn non_float_is_rejected() {
        let mut out = [0u8; 4];
        assert!(matches!(
            cast(DType::I32, DType::F32, &[0; 4], &mut out),
            Err(CastError::Unsupported { .. })
        ));
        assert!(cast(DType::F32, DType::F8E4M3, &[0; 4], &mut out[..1]).is_err());
    }

    proptest! {
        #[test]
        fn f64_rounding_matches_half_for_f32_inputs(bits in any::<u32>()) {
            let x = f32::from_bits(bits);
            let want16 = f16::from_f32(x).to_bits();
            let wantb = bf16::from_f32(x).to_bits();
            let got16 = round_f64_to_16(f64::from(x), 5, 10);
            let gotb = round_f64_to_16(f64::from(x), 8, 7);
            if x.is_nan() {
                prop_assert_eq!(got16 & 0x7c00, 0x7c00);
                prop_assert_ne!(got16 & 0x3ff, 0);
                prop_assert_eq!(gotb & 0x7f80, 0x7f80);
                prop_assert_ne!(gotb & 0x7f, 0);
            } else {
                prop_assert_eq!(got16, want16);
                prop_assert_eq!(gotb, wantb);
            }
        }

        #[test]
        fn f16_round_trip_is_exact(bits in any::<u16>()) {
            let input = bits.to_le_bytes();
            let (wide, _) = cast_vec(DType::F16, DType::F32, &input);
            let (back, _) = cast_vec(DType::F32, DType::F16, &wide);
            let h = f16::from_bits(bits);
            if h.is_nan() {
                prop_assert!(f16::from_bits(u16s(&back)[0]).is_nan());
            } else {
                prop_assert_eq!(u16s(&back)[0], bits);
            }
            let (wide64, _) = cast_vec(DType::F16, DType::F64, &input);
            let (back64, _) = cast_vec(DType::F64, DType::F16, &wide64);
            if !h.is_nan() {
                prop_assert_eq!(u16s(&back64)[0], bits);
            }
        }

        #[test]
        fn bf16_round_trip_is_exact(bits in any::<u16>()) {
            let input = bits.to_le_bytes();
            let (wide, _) = cast_vec(DType::BF16, DType::F32, &input);
            let (back, _) = cast_vec(DType::F32, DType::BF16, &wide);
            if !bf16::from_bits(bits).is_nan() {
                prop_assert_eq!(u16s(&back)[0], bits);
            }
        }
    }
}
