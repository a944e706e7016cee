//! The remaining grid-free formats: ternary TQ1_0 / TQ2_0 (quantize and
//! dequantize), MXFP4 (quantize and dequantize), NVFP4, IQ4_NL and IQ4_XS
//! (dequantize) mirror gguf-py's numpy code operation for operation,
//! including its uint8 wrap-arounds, so the bytes and floats are identical.
//! Q1_0 and Q2_0 (new in ggml, absent from gguf-py) follow ggml's C
//! reference.

use super::float::{
    f16_to_f32, f32_to_f16, inv_or_zero, np_amax, np_cast_i8, np_cast_u8, np_roundf,
};
use super::kquants::QK_K;

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn rd_half(b: &[u8], at: usize) -> f32 {
    match b.get(at..at + 2) {
        Some(&[lo, hi]) => f16_to_f32(u16::from_le_bytes([lo, hi])),
        _ => 0.0,
    }
}

fn wr_half(out: &mut [u8], at: usize, v: f32) {
    if let Some(dst) = out.get_mut(at..at + 2) {
        dst.copy_from_slice(&f32_to_f16(v).to_le_bytes());
    }
}

/// Ternary levels {0, 1, 2} of a TQ block (gguf-py: `np_roundf(x * id)` as int8, + 1, as uint8).
fn ternary(x: &[f32; QK_K]) -> ([u8; QK_K], f32) {
    let d = np_amax(x);
    let id = inv_or_zero(d);
    let mut q = [0u8; QK_K];
    for (o, &v) in q.iter_mut().zip(x) {
        *o = np_cast_i8(np_roundf(v * id)).wrapping_add(1) as u8;
    }
    (q, d)
}

/// TQ1_0 (`qs[48], qh[4], d`): 256 values into 54 bytes.
pub fn quantize_tq1_0(x: &[f32; QK_K], out: &mut [u8]) {
    let (q, d) = ternary(x);
    const P5: [u8; 5] = [81, 27, 9, 3, 1];
    let mut packed = [0u64; 52];
    for (l, p) in packed.iter_mut().take(32).enumerate() {
        *p = (0..5)
            .map(|k| u64::from(q[k * 32 + l].wrapping_mul(P5[k])))
            .sum();
    }
    for (l, p) in packed.iter_mut().skip(32).take(16).enumerate() {
        *p = (0..5)
            .map(|k| u64::from(q[160 + k * 16 + l].wrapping_mul(P5[k])))
            .sum();
    }
    for (l, p) in packed.iter_mut().skip(48).enumerate() {
        *p = (0..4)
            .map(|k| u64::from(q[240 + k * 4 + l].wrapping_mul(P5[k])))
            .sum();
    }
    for (o, &p) in out.iter_mut().zip(&packed) {
        let v = (p as u16).wrapping_mul(256).wrapping_add(242) / 243;
        *o = v as u8;
    }
    wr_half(out, 52, d);
}

/// TQ1_0: one block back to 256 values.
pub fn dequantize_tq1_0(b: &[u8], y: &mut [f32; QK_K]) {
    const P3: [u8; 5] = [1, 3, 9, 27, 81];
    let d = rd_half(b, 52);
    let level = |byte_val: u8, k: usize| -> f32 {
        let t = byte_val.wrapping_mul(P3[k]);
        f32::from(((u16::from(t) * 3) >> 8) as i8 - 1)
    };
    for (e, v) in y.iter_mut().enumerate() {
        let q = if e < 160 {
            level(byte(b, e % 32), e / 32)
        } else if e < 240 {
            level(byte(b, 32 + (e - 160) % 16), (e - 160) / 16)
        } else {
            level(byte(b, 48 + (e - 240) % 4), (e - 240) / 4)
        };
        *v = d * q;
    }
}

/// TQ2_0 (`qs[64], d`): 256 values into 66 bytes.
pub fn quantize_tq2_0(x: &[f32; QK_K], out: &mut [u8]) {
    let (q, d) = ternary(x);
    for (i, o) in out.iter_mut().take(64).enumerate() {
        let (c, l) = (i / 32, i % 32);
        *o = (0..4).fold(0u8, |acc, s| {
            acc | q[c * 128 + s * 32 + l].wrapping_shl(2 * s as u32)
        });
    }
    wr_half(out, 64, d);
}

/// TQ2_0: one block back to 256 values.
pub fn dequantize_tq2_0(b: &[u8], y: &mut [f32; QK_K]) {
    let d = rd_half(b, 64);
    for (e, v) in y.iter_mut().enumerate() {
        let (c, s, l) = (e / 128, (e % 128) / 32, e % 32);
        let q = ((byte(b, c * 32 + l) >> (2 * s)) & 3) as i8 - 1;
        *v = d * f32::from(q);
    }
}

/// E2M1 values, doubled (MXFP4 and NVFP4).
const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// ggml's `ggml_e8m0_to_fp32_half`.
fn e8m0_to_fp32_half(x: u8) -> f32 {
    let bits = if x < 2 {
        0x0020_0000u32 << x
    } else {
        u32::from(x - 1) << 23
    };
    f32::from_bits(bits)
}

/// MXFP4 (`e, qs[16]`): 32 values into 17 bytes (gguf-py's nearest-value search).
pub fn quantize_mxfp4(x: &[f32; 32], out: &mut [u8]) {
    let dmax = np_amax(x);
    let e = if dmax > 0.0 {
        np_cast_u8(dmax.log2().floor() - 2.0 + 127.0)
    } else {
        0
    };
    let d = e8m0_to_fp32_half(e);
    let mut best = [0u8; 32];
    for (b, &v) in best.iter_mut().zip(x) {
        let mut bi = 0usize;
        let mut be = f32::INFINITY;
        let mut first = true;
        for (k, &kv) in KVALUES_FP4.iter().enumerate() {
            let err = (d * f32::from(kv) - v).abs();
            if err.is_nan() {
                bi = k;
                break;
            }
            if first || err < be {
                be = err;
                bi = k;
                first = false;
            }
        }
        *b = bi as u8;
    }
    if let Some(o) = out.first_mut() {
        *o = e;
    }
    for (j, o) in out.iter_mut().skip(1).take(16).enumerate() {
        *o = best[j] | (best[j + 16] << 4);
    }
}

/// MXFP4: one block back to 32 values.
pub fn dequantize_mxfp4(b: &[u8], y: &mut [f32; 32]) {
    let d = e8m0_to_fp32_half(byte(b, 0));
    for (j, v) in y.iter_mut().enumerate() {
        let nib = (byte(b, 1 + j % 16) >> (4 * (j / 16))) & 0x0F;
        *v = d * f32::from(KVALUES_FP4[usize::from(nib)]);
    }
}

/// Unsigned E4M3 scale of NVFP4, halved (gguf-py's `ue4m3_to_fp32`).
fn ue4m3_to_fp32(x: u8) -> f32 {
    if x == 0 || x == 0x7F {
        return 0.0;
    }
    let exp = i32::from((x >> 3) & 0xF);
    let man = f32::from(x & 0x7);
    let raw = if exp == 0 {
        man * (2f32).powi(-9)
    } else {
        (1.0 + man / 8.0) * (2f32).powi(exp - 7)
    };
    raw * 0.5
}

/// NVFP4 (`d[4] (UE4M3), qs[32]`): one 64-value block back to floats.
pub fn dequantize_nvfp4(b: &[u8], y: &mut [f32; 64]) {
    for (e, v) in y.iter_mut().enumerate() {
        let (s, j) = (e / 16, e % 16);
        let d = ue4m3_to_fp32(byte(b, s));
        let q = byte(b, 4 + s * 8 + j % 8);
        let nib = if j < 8 { q & 0x0F } else { q >> 4 };
        *v = d * f32::from(KVALUES_FP4[usize::from(nib)]);
    }
}

/// The non-linear 4-bit levels of IQ4_NL / IQ4_XS.
const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// IQ4_NL (`d, qs[16]`): one 32-value block back to floats.
pub fn dequantize_iq4_nl(b: &[u8], y: &mut [f32; 32]) {
    let d = rd_half(b, 0);
    for (j, v) in y.iter_mut().enumerate() {
        let nib = (byte(b, 2 + j % 16) >> (4 * (j / 16))) & 0x0F;
        *v = d * f32::from(KVALUES_IQ4NL[usize::from(nib)]);
    }
}

/// IQ4_XS (`d, scales_h (u16), scales_l[4], qs[128]`): one super-block back to 256 values.
pub fn dequantize_iq4_xs(b: &[u8], y: &mut [f32; QK_K]) {
    let d = rd_half(b, 0);
    let scales_h = u16::from_le_bytes([byte(b, 2), byte(b, 3)]);
    for (e, v) in y.iter_mut().enumerate() {
        let (ib, j) = (e / 32, e % 32);
        let low = (byte(b, 4 + ib / 2) >> (4 * (ib % 2))) & 0x0F;
        let high = ((scales_h >> (2 * ib)) as u8) & 0x03;
        let scale = ((low | (high << 4)) as i8).wrapping_sub(32);
        let dl = d * f32::from(scale);
        let nib = (byte(b, 8 + ib * 16 + j % 16) >> (4 * (j / 16))) & 0x0F;
        *v = dl * f32::from(KVALUES_IQ4NL[usize::from(nib)]);
    }
}

/// Q1_0 (`d, qs[16]`; ggml's `quantize_row_q1_0_ref`, gguf-py has no Q1_0
/// kernel): 128 values into 18 bytes — the mean magnitude and one sign bit each.
pub fn quantize_q1_0(x: &[f32; 128], out: &mut [u8]) {
    let mut sum_abs = 0f32;
    for &v in x {
        sum_abs += v.abs();
    }
    let d = sum_abs / 128.0;
    if let Some(dst) = out.get_mut(..2) {
        dst.copy_from_slice(&super::float::ggml_f32_to_f16(d).to_le_bytes());
    }
    for (j, o) in out.iter_mut().skip(2).take(16).enumerate() {
        *o = (0..8).fold(0u8, |acc, bit| {
            acc | (u8::from(x[j * 8 + bit] >= 0.0) << bit)
        });
    }
}

/// Q1_0: one block back to 128 values (`±d`).
pub fn dequantize_q1_0(b: &[u8], y: &mut [f32; 128]) {
    let d = rd_half(b, 0);
    for (j, v) in y.iter_mut().enumerate() {
        *v = if (byte(b, 2 + j / 8) >> (j % 8)) & 1 == 1 {
            d
        } else {
            -d
        };
    }
}

/// Q2_0 (`d, qs[16]`; ggml's `quantize_row_q2_0_ref`): 64 values into 18
/// bytes — levels {-1, 0, 1, 2} × max|x|, four per byte, LSB first.
pub fn quantize_q2_0(x: &[f32; 64], out: &mut [u8]) {
    let mut amax = 0f32;
    for &v in x {
        let a = v.abs();
        if a > amax {
            amax = a;
        }
    }
    let d = amax;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    if let Some(dst) = out.get_mut(..2) {
        dst.copy_from_slice(&super::float::ggml_f32_to_f16(d).to_le_bytes());
    }
    for (j, o) in out.iter_mut().skip(2).take(16).enumerate() {
        *o = (0..4).fold(0u8, |acc, k| {
            let q = super::float::c_cast_i32((x[j * 4 + k] * id).round())
                .wrapping_add(1)
                .clamp(0, 3);
            acc | ((q as u8) << (2 * k))
        });
    }
}

/// Q2_0: one block back to 64 values.
pub fn dequantize_q2_0(b: &[u8], y: &mut [f32; 64]) {
    let d = rd_half(b, 0);
    for (j, v) in y.iter_mut().enumerate() {
        let q = (byte(b, 2 + j / 4) >> (2 * (j % 4))) & 0x03;
        *v = (i32::from(q) - 1) as f32 * d;
    }
}
