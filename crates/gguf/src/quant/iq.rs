//! Dequantization of the lattice ("i-quant") types: IQ2_XXS, IQ2_XS,
//! IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M. Each group of 4 or 8 values is an
//! index into a fixed table of points (ggml's `iq*_grid` constants), times
//! a sub-block scale, with signs or a shift.
//!
//! The tables are the format's data, not code: `iq_grids.bin` holds them as
//! one byte per value (an index into the small per-type maps below),
//! extracted from gguf-py (MIT, llama.cpp's `gguf-py/gguf/quants.py`) by
//! `tests/data/make_gguf_refs.py`. The arithmetic mirrors gguf-py's numpy
//! code operation for operation; the tests compare every f32 bit.

use super::float::f16_to_f32;
use super::kquants::QK_K;

static GRIDS: &[u8] = include_bytes!("iq_grids.bin");

/// `(values per row, rows, value map)` of each table, in file order.
const IQ2_MAP: [f32; 3] = [8.0, 25.0, 43.0];
const IQ3XXS_MAP: [f32; 8] = [4.0, 12.0, 20.0, 28.0, 36.0, 44.0, 52.0, 62.0];
const IQ3S_MAP: [f32; 8] = [1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 13.0, 15.0];
const IQ1_MAP: [f32; 3] = [-1.0, 0.0, 1.0];

const IQ2XXS_AT: usize = 0;
const IQ2XS_AT: usize = IQ2XXS_AT + 256 * 8;
const IQ2S_AT: usize = IQ2XS_AT + 512 * 8;
const IQ3XXS_AT: usize = IQ2S_AT + 1024 * 8;
const IQ3S_AT: usize = IQ3XXS_AT + 256 * 4;
const IQ1S_AT: usize = IQ3S_AT + 512 * 4;
/// Expected size of `iq_grids.bin`.
pub const GRIDS_LEN: usize = IQ1S_AT + 2048 * 8;

/// Value `l` of row `row` of the table at `at` with `width` values per row.
fn grid(at: usize, width: usize, row: usize, l: usize, map: &[f32]) -> f32 {
    let i = GRIDS.get(at + row * width + l).copied().unwrap_or(0);
    map.get(usize::from(i)).copied().unwrap_or(0.0)
}

/// ggml's `ksigns_iq2xs`: 7 sign bits plus an eighth that makes the parity even.
fn ksigns(i: u32) -> u8 {
    let i = (i & 0x7F) as u8;
    i | (((i.count_ones() & 1) as u8) << 7)
}

fn sign(bits: u8, l: usize) -> f32 {
    if (bits >> l) & 1 == 0 {
        1.0
    } else {
        -1.0
    }
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([byte(b, i), byte(b, i + 1)])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([byte(b, i), byte(b, i + 1), byte(b, i + 2), byte(b, i + 3)])
}

fn half(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16_at(b, i))
}

/// IQ2_XXS (`d, qs[64]` as 8 × (u32 grid indices, u32 signs+scale)): 66 bytes → 256 values.
pub fn dequantize_iq2_xxs(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for ib in 0..8 {
        let aux0 = u32_at(b, 2 + ib * 8);
        let aux1 = u32_at(b, 2 + ib * 8 + 4);
        let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
        for k in 0..4 {
            let row = usize::from(aux0.to_le_bytes()[k]);
            let signs = ksigns(aux1 >> (7 * k));
            for l in 0..8 {
                y[ib * 32 + k * 8 + l] = db * grid(IQ2XXS_AT, 8, row, l, &IQ2_MAP) * sign(signs, l);
            }
        }
    }
}

/// IQ2_XS (`d, qs[32] (u16), scales[8]`): 74 bytes → 256 values.
pub fn dequantize_iq2_xs(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for s in 0..16 {
        let sc = (byte(b, 66 + s / 2) >> (4 * (s % 2))) & 0x0F;
        let db = d * (0.5 + f32::from(sc)) * 0.25;
        for j in 0..2 {
            let q = u16_at(b, 2 + (s * 2 + j) * 2);
            let row = usize::from(q & 511);
            let signs = ksigns(u32::from(q >> 9));
            for l in 0..8 {
                y[s * 16 + j * 8 + l] = db * grid(IQ2XS_AT, 8, row, l, &IQ2_MAP) * sign(signs, l);
            }
        }
    }
}

/// IQ2_S (`d, qs[32], signs[32], qh[8], scales[8]`): 82 bytes → 256 values.
pub fn dequantize_iq2_s(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for s in 0..16 {
        let sc = (byte(b, 74 + s / 2) >> (4 * (s % 2))) & 0x0F;
        let db = d * (0.5 + f32::from(sc)) * 0.25;
        for j in 0..2 {
            let i = s * 2 + j;
            let high = (byte(b, 66 + i / 4) >> (2 * (i % 4))) & 0x03;
            let row = usize::from(byte(b, 2 + i)) | (usize::from(high) << 8);
            let signs = byte(b, 34 + i);
            for l in 0..8 {
                y[i * 8 + l] = db * grid(IQ2S_AT, 8, row, l, &IQ2_MAP) * sign(signs, l);
            }
        }
    }
}

/// IQ3_XXS (`d, qs[64], scales_and_signs[8] (u32)`): 98 bytes → 256 values.
pub fn dequantize_iq3_xxs(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for ib in 0..8 {
        let aux = u32_at(b, 66 + ib * 4);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for k in 0..4 {
            let signs = ksigns(aux >> (7 * k));
            for l in 0..8 {
                let e = ib * 32 + k * 8 + l;
                let row = usize::from(byte(b, 2 + e / 4));
                y[e] = db * grid(IQ3XXS_AT, 4, row, e % 4, &IQ3XXS_MAP) * sign(signs, l);
            }
        }
    }
}

/// IQ3_S (`d, qs[64], qh[8], signs[32], scales[4]`): 110 bytes → 256 values.
pub fn dequantize_iq3_s(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for (e, v) in y.iter_mut().enumerate() {
        let ib = e / 32;
        let sc = (byte(b, 106 + ib / 2) >> (4 * (ib % 2))) & 0x0F;
        let db = d * f32::from(1 + 2 * sc);
        let i = e / 4;
        let high = (byte(b, 66 + i / 8) >> (i % 8)) & 1;
        let row = usize::from(byte(b, 2 + i)) | (usize::from(high) << 8);
        let s = sign(byte(b, 74 + e / 8), e % 8);
        *v = db * grid(IQ3S_AT, 4, row, e % 4, &IQ3S_MAP) * s;
    }
}

const IQ1_DELTA: f32 = 0.125;

/// IQ1_S (`d, qs[32], qh[8] (u16)`): 50 bytes → 256 values.
pub fn dequantize_iq1_s(b: &[u8], y: &mut [f32; QK_K]) {
    let d = half(b, 0);
    for (e, v) in y.iter_mut().enumerate() {
        let i = e / 8;
        let ib = i / 4;
        let qh = u16_at(b, 34 + ib * 2);
        let dl = d * f32::from(2 * ((qh >> 12) & 7) + 1);
        let delta = if qh & 0x8000 == 0 {
            IQ1_DELTA
        } else {
            -IQ1_DELTA
        };
        let row = usize::from(byte(b, 2 + i)) | (usize::from((qh >> (3 * (i % 4))) & 7) << 8);
        *v = dl * (grid(IQ1S_AT, 8, row, e % 8, &IQ1_MAP) + delta);
    }
}

/// IQ1_M (`qs[32], qh[16], scales[8]`; the f16 scale is split over the
/// scales' top nibbles): 56 bytes → 256 values.
pub fn dequantize_iq1_m(b: &[u8], y: &mut [f32; QK_K]) {
    let sc = [u16_at(b, 48), u16_at(b, 50), u16_at(b, 52), u16_at(b, 54)];
    let dbits = ((sc[0] & 0xF000) >> 12)
        | ((sc[1] & 0xF000) >> 8)
        | ((sc[2] & 0xF000) >> 4)
        | (sc[3] & 0xF000);
    let d = f16_to_f32(dbits);
    for (e, v) in y.iter_mut().enumerate() {
        let i = e / 8;
        let s = i / 2;
        let scale = (sc[s / 4] >> (3 * (s % 4))) & 0x07;
        let dl = d * f32::from(2 * scale + 1);
        let qh = (byte(b, 32 + i / 2) >> (4 * (i % 2))) & 0x0F;
        let row = usize::from(byte(b, i)) | (usize::from(qh & 0x07) << 8);
        let delta = if qh & 0x08 == 0 {
            IQ1_DELTA
        } else {
            -IQ1_DELTA
        };
        *v = dl * (grid(IQ1S_AT, 8, row, e % 8, &IQ1_MAP) + delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_expected_size_and_ksigns_has_even_parity() {
        assert_eq!(GRIDS.len(), GRIDS_LEN);
        assert_eq!(ksigns(1), 0x81);
        assert_eq!(ksigns(3), 0x03);
        assert_eq!(ksigns(127), 0xFF);
    }
}
