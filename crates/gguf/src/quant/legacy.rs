//! The legacy 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
//!
//! Quantization follows gguf-py's numpy code (`gguf.quants`), which its own
//! tests hold byte-identical to ggml's `quantize_row_*_ref`; where the two
//! could differ (NaN, ±Inf), numpy's semantics are the reference here:
//! `max`/`argmax` propagate NaN and float → integer casts wrap like C's.
//! Dequantization computes exactly the f32 products gguf-py computes.
//!
//! Block layouts (ggml-common.h): Q4_0 `d, qs[16]`; Q4_1 `d, m, qs[16]`;
//! Q5_0 `d, qh[4], qs[16]`; Q5_1 `d, m, qh[4], qs[16]`; Q8_0 `d, qs[32]`.
//! Nibble order: byte `j` holds element `j` (low) and `j + 16` (high).

use super::float::{
    f16_to_f32, f32_to_f16, inv_or_zero, np_amax, np_argmax_abs, np_cast_i8, np_cast_u8, np_max,
    np_min, np_roundf,
};

/// Elements per block.
pub const QK: usize = 32;

fn half(b: &[u8], at: usize) -> f32 {
    match b.get(at..at + 2) {
        Some(&[lo, hi]) => f16_to_f32(u16::from_le_bytes([lo, hi])),
        _ => 0.0,
    }
}

fn put_half(out: &mut [u8], at: usize, v: f32) {
    if let Some(dst) = out.get_mut(at..at + 2) {
        dst.copy_from_slice(&f32_to_f16(v).to_le_bytes());
    }
}

/// Packs 32 4-bit values: byte j = q[j] | q[j+16] << 4.
fn pack_nibbles(q: &[u8; QK], out: &mut [u8]) {
    for (j, o) in out.iter_mut().take(QK / 2).enumerate() {
        *o = (q[j] & 0x0F) | (q[j + QK / 2] << 4);
    }
}

fn pack_high_bits(q: &[u8; QK], out: &mut [u8]) {
    let mut qh = 0u32;
    for (j, &v) in q.iter().enumerate() {
        qh |= u32::from((v >> 4) & 1) << j;
    }
    if let Some(dst) = out.get_mut(..4) {
        dst.copy_from_slice(&qh.to_le_bytes());
    }
}

fn nibble(qs: &[u8], j: usize) -> u8 {
    let b = qs.get(j % (QK / 2)).copied().unwrap_or(0);
    if j < QK / 2 {
        b & 0x0F
    } else {
        b >> 4
    }
}

fn high_bit(qh: &[u8], j: usize) -> u8 {
    let b = qh.get(j / 8).copied().unwrap_or(0);
    (b >> (j % 8)) & 1
}

/// Q4_0: one block of 32 values into 18 bytes.
pub fn quantize_q4_0(x: &[f32; QK], out: &mut [u8]) {
    let max = x[np_argmax_abs(x)];
    let d = max / -8.0;
    let id = inv_or_zero(d);
    let mut q = [0u8; QK];
    for (qv, &v) in q.iter_mut().zip(x) {
        *qv = np_cast_u8((v * id + 8.5).trunc()).min(15);
    }
    put_half(out, 0, d);
    pack_nibbles(&q, out.get_mut(2..).unwrap_or_default());
}

/// Q4_0: one block back to 32 values.
pub fn dequantize_q4_0(b: &[u8], y: &mut [f32; QK]) {
    let d = half(b, 0);
    let qs = b.get(2..).unwrap_or_default();
    for (j, v) in y.iter_mut().enumerate() {
        *v = d * f32::from(nibble(qs, j) as i8 - 8);
    }
}

/// Q4_1: one block of 32 values into 20 bytes.
pub fn quantize_q4_1(x: &[f32; QK], out: &mut [u8]) {
    let (max, min) = (np_max(x), np_min(x));
    let d = (max - min) / 15.0;
    let id = inv_or_zero(d);
    let mut q = [0u8; QK];
    for (qv, &v) in q.iter_mut().zip(x) {
        *qv = np_cast_u8(((v - min) * id + 0.5).trunc()).min(15);
    }
    put_half(out, 0, d);
    put_half(out, 2, min);
    pack_nibbles(&q, out.get_mut(4..).unwrap_or_default());
}

/// Q4_1: one block back to 32 values.
pub fn dequantize_q4_1(b: &[u8], y: &mut [f32; QK]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qs = b.get(4..).unwrap_or_default();
    for (j, v) in y.iter_mut().enumerate() {
        *v = d * f32::from(nibble(qs, j)) + m;
    }
}

/// Q5_0: one block of 32 values into 22 bytes.
pub fn quantize_q5_0(x: &[f32; QK], out: &mut [u8]) {
    let max = x[np_argmax_abs(x)];
    let d = max / -16.0;
    let id = inv_or_zero(d);
    let mut q = [0u8; QK];
    for (qv, &v) in q.iter_mut().zip(x) {
        *qv = np_cast_u8((v * id + 16.5).trunc()).min(31);
    }
    put_half(out, 0, d);
    pack_high_bits(&q, out.get_mut(2..).unwrap_or_default());
    pack_nibbles(&q, out.get_mut(6..).unwrap_or_default());
}

/// Q5_0: one block back to 32 values.
pub fn dequantize_q5_0(b: &[u8], y: &mut [f32; QK]) {
    let d = half(b, 0);
    let qh = b.get(2..6).unwrap_or_default();
    let qs = b.get(6..).unwrap_or_default();
    for (j, v) in y.iter_mut().enumerate() {
        let q = nibble(qs, j) | (high_bit(qh, j) << 4);
        *v = d * f32::from(q as i8 - 16);
    }
}

/// Q5_1: one block of 32 values into 24 bytes.
pub fn quantize_q5_1(x: &[f32; QK], out: &mut [u8]) {
    let (max, min) = (np_max(x), np_min(x));
    let d = (max - min) / 31.0;
    let id = inv_or_zero(d);
    let mut q = [0u8; QK];
    for (qv, &v) in q.iter_mut().zip(x) {
        *qv = np_cast_u8(((v - min) * id + 0.5).trunc()).min(31);
    }
    put_half(out, 0, d);
    put_half(out, 2, min);
    pack_high_bits(&q, out.get_mut(4..).unwrap_or_default());
    pack_nibbles(&q, out.get_mut(8..).unwrap_or_default());
}

/// Q5_1: one block back to 32 values.
pub fn dequantize_q5_1(b: &[u8], y: &mut [f32; QK]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qh = b.get(4..8).unwrap_or_default();
    let qs = b.get(8..).unwrap_or_default();
    for (j, v) in y.iter_mut().enumerate() {
        let q = nibble(qs, j) | (high_bit(qh, j) << 4);
        *v = d * f32::from(q) + m;
    }
}

/// Q8_0: one block of 32 values into 34 bytes.
pub fn quantize_q8_0(x: &[f32; QK], out: &mut [u8]) {
    let d = np_amax(x) / 127.0;
    let id = inv_or_zero(d);
    put_half(out, 0, d);
    for (o, &v) in out.iter_mut().skip(2).zip(x) {
        *o = np_cast_i8(np_roundf(v * id)) as u8;
    }
}

/// Q8_0: one block back to 32 values.
pub fn dequantize_q8_0(b: &[u8], y: &mut [f32; QK]) {
    let d = half(b, 0);
    for (v, &q) in y.iter_mut().zip(b.iter().skip(2)) {
        *v = f32::from(q as i8) * d;
    }
}
