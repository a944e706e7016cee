//! K-quants: 256-element super-blocks with 6/8-bit sub-block scales
//! (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, and the intermediate Q8_K).
//!
//! Dequantization computes the same f32 products, in the same order, as
//! gguf-py's numpy code (which is byte-identical to ggml's
//! `dequantize_row_*`). Quantization follows ggml's scalar reference
//! (`quantize_row_qX_K_ref` in `ggml-quants.c`, the path `ggml_quantize_chunk`
//! takes without an importance matrix): the same search over candidate
//! scales, the same `nearest_int` float trick, the same f32 operation order
//! (no fused multiply-add), the same integer truncations. Its outputs are
//! checked byte for byte against that C code compiled with
//! `-O2 -ffp-contract=off` (see `tests/data/make_gguf_refs.py`).

use super::float::{f16_to_f32, ggml_f32_to_f16};

/// Elements per super-block.
pub const QK_K: usize = 256;

const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: round to nearest (ties to even) by adding 1.5·2²³
/// and reading the mantissa bits; values beyond ±2²² give the same
/// (meaningless) integers as the C code.
fn nearest_int(f: f32) -> i32 {
    let v = f + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

fn rd_half(b: &[u8], at: usize) -> f32 {
    match b.get(at..at + 2) {
        Some(&[lo, hi]) => f16_to_f32(u16::from_le_bytes([lo, hi])),
        _ => 0.0,
    }
}

fn wr_half(out: &mut [u8], at: usize, v: f32) -> u16 {
    let h = ggml_f32_to_f16(v);
    if let Some(dst) = out.get_mut(at..at + 2) {
        dst.copy_from_slice(&h.to_le_bytes());
    }
    h
}

fn byte(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

// ------------------------------------------------------------------ dequantize

/// Q2_K (`scales[16], qs[64], d, dmin`): one super-block back to 256 values.
pub fn dequantize_q2_k(b: &[u8], y: &mut [f32; QK_K]) {
    let (d, dmin) = (rd_half(b, 80), rd_half(b, 82));
    for (e, v) in y.iter_mut().enumerate() {
        let (h, s, l) = (e / 128, (e % 128) / 32, e % 32);
        let q = (byte(b, 16 + h * 32 + l) >> (2 * s)) & 3;
        let sc = byte(b, e / 16);
        let dl = d * f32::from(sc & 0xF);
        let ml = dmin * f32::from(sc >> 4);
        *v = dl * f32::from(q) - ml;
    }
}

/// The 16 signed 6-bit Q3_K sub-block scales.
fn q3_k_scales(sc: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let low = (byte(sc, i % 8) >> (4 * (i / 8))) & 0x0F;
        let high = (byte(sc, 8 + i % 4) >> (2 * (i / 4))) & 0x03;
        *o = ((low | (high << 4)) as i8).wrapping_sub(32);
    }
    out
}

/// Q3_K (`hmask[32], qs[64], scales[12], d`): one super-block back to 256 values.
pub fn dequantize_q3_k(b: &[u8], y: &mut [f32; QK_K]) {
    let d = rd_half(b, 108);
    let scales = q3_k_scales(b.get(96..108).unwrap_or_default());
    for (e, v) in y.iter_mut().enumerate() {
        let (h, s, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (byte(b, 32 + h * 32 + l) >> (2 * s)) & 3;
        let hbit = (byte(b, e % 32) >> (e / 32)) & 1;
        let q = low as i8 - (((hbit ^ 1) << 2) as i8);
        let dl = d * f32::from(scales[e / 16]);
        *v = dl * f32::from(q);
    }
}

/// Unpacks the 8 six-bit scales and mins of Q4_K/Q5_K (`scales[12]`).
fn scale_min_k4(sc: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut s, mut m) = ([0u8; 8], [0u8; 8]);
    for j in 0..4 {
        s[j] = byte(sc, j) & 0x3F;
        m[j] = byte(sc, j + 4) & 0x3F;
        s[j + 4] = (byte(sc, j + 8) & 0x0F) | ((byte(sc, j) >> 2) & 0x30);
        m[j + 4] = (byte(sc, j + 8) >> 4) | ((byte(sc, j + 4) >> 2) & 0x30);
    }
    (s, m)
}

/// Q4_K (`d, dmin, scales[12], qs[128]`): one super-block back to 256 values.
pub fn dequantize_q4_k(b: &[u8], y: &mut [f32; QK_K]) {
    let (d, dmin) = (rd_half(b, 0), rd_half(b, 2));
    let (sc, mn) = scale_min_k4(b.get(4..16).unwrap_or_default());
    for (e, v) in y.iter_mut().enumerate() {
        let (c, s, l) = (e / 64, (e % 64) / 32, e % 32);
        let q = (byte(b, 16 + c * 32 + l) >> (4 * s)) & 0x0F;
        let g = e / 32;
        *v = d * f32::from(sc[g]) * f32::from(q) - dmin * f32::from(mn[g]);
    }
}

/// Q5_K (`d, dmin, scales[12], qh[32], qs[128]`): one super-block back to 256 values.
pub fn dequantize_q5_k(b: &[u8], y: &mut [f32; QK_K]) {
    let (d, dmin) = (rd_half(b, 0), rd_half(b, 2));
    let (sc, mn) = scale_min_k4(b.get(4..16).unwrap_or_default());
    for (e, v) in y.iter_mut().enumerate() {
        let (c, s, l) = (e / 64, (e % 64) / 32, e % 32);
        let low = (byte(b, 48 + c * 32 + l) >> (4 * s)) & 0x0F;
        let high = (byte(b, 16 + e % 32) >> (e / 32)) & 1;
        let q = low | (high << 4);
        let g = e / 32;
        *v = d * f32::from(sc[g]) * f32::from(q) - dmin * f32::from(mn[g]);
    }
}

/// Q6_K (`ql[128], qh[64], scales[16] (i8), d`): one super-block back to 256 values.
pub fn dequantize_q6_k(b: &[u8], y: &mut [f32; QK_K]) {
    let d = rd_half(b, 208);
    for (e, v) in y.iter_mut().enumerate() {
        let h = e / 128;
        let r = e % 128;
        let low = (byte(b, h * 64 + r % 64) >> (4 * (r / 64))) & 0x0F;
        let high = (byte(b, 128 + h * 32 + r % 32) >> (2 * (r / 32))) & 0x03;
        let q = (low | (high << 4)) as i8 - 32;
        let scale = byte(b, 192 + e / 16) as i8;
        *v = d * f32::from(scale) * f32::from(q);
    }
}

/// Q8_K (`d (f32), qs[256] (i8), bsums[16] (i16)`): one super-block back to 256 values.
pub fn dequantize_q8_k(b: &[u8], y: &mut [f32; QK_K]) {
    let d = match b.get(..4) {
        Some(&[a, b2, c, e]) => f32::from_le_bytes([a, b2, c, e]),
        _ => 0.0,
    };
    for (j, v) in y.iter_mut().enumerate() {
        *v = d * f32::from(byte(b, 4 + j) as i8);
    }
}

// ------------------------------------------------------------------ quantize helpers

/// ggml's `make_qx_quants` with `rmse_type == 1` and no importance weights
/// (the only form the `_ref` quantizers use). Writes `L` (offset by `nmax`).
fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let mut iscale = -(nmax as f32) / max;
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
        let l = clamp(nearest_int(iscale * v));
        *lo = (l + nmax) as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let l = clamp(nearest_int(iscale * v));
            let w = v * v;
            sumlx += w * v * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
                *lo = (nmax + clamp(nearest_int(iscale * v))) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml's `make_q3_quants` with `do_rmse = true`. Writes `L` (offset by `nmax`).
fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0f32;
    let mut suml2 = 0f32;
    for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
        let l = clamp(nearest_int(iscale * v));
        *lo = l as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
            let w = v * v;
            let li = f32::from(*lo);
            let mut slx = sumlx - w * v * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = clamp(nearest_int(v * sl2 / slx));
                if new_l != i32::from(*lo) {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *lo = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for lo in l_out.iter_mut() {
        *lo = lo.wrapping_add(nmax as i8);
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Parameters of ggml's `make_qkx2_quants` search.
struct Qkx2 {
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
}

/// ggml's `make_qkx2_quants`: scale and (negated) min of an asymmetric
/// quantization, searched over `nstep + 1` candidate scales. Returns
/// `(scale, the_min)` and writes `L` (0..=nmax).
fn make_qkx2_quants(p: &Qkx2, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    // The error measure is chosen at compile time: the hot loops then carry
    // no branch (20 % faster; the arithmetic and its order are unchanged).
    if p.use_mad {
        qkx2::<true>(p, x, weights, l_out)
    } else {
        qkx2::<false>(p, x, weights, l_out)
    }
}

fn qkx2<const MAD: bool>(p: &Qkx2, x: &[f32], weights: &[f32], l_out: &mut [u8]) -> (f32, f32) {
    let n = x.len().min(weights.len()).min(l_out.len());
    let (x, weights) = (&x[..n], &weights[..n]);
    let (Some(&x0), Some(&w0)) = (x.first(), weights.first()) else {
        return (0.0, 0.0);
    };
    let mut min = x0;
    let mut max = x0;
    let mut sum_w = w0;
    let mut sum_x = sum_w * x0;
    for (&v, &w) in x.iter().zip(weights).take(n).skip(1) {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
        sum_w += w;
        sum_x += w * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.iter_mut().for_each(|l| *l = 0);
        return (0.0, -min);
    }
    let nmax = p.nmax;
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    let err = |diff: f32| if MAD { diff.abs() } else { diff * diff };
    for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
        *lo = nearest_int(iscale * (v - min)).clamp(0, nmax) as u8;
    }
    for ((&v, &w), &lo) in x.iter().zip(weights).zip(l_out.iter()) {
        let diff = scale * f32::from(lo) + min - v;
        best_error += w * err(diff);
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmax as f32) / (max - min);
        // Two passes: the levels (no loop-carried state, so LLVM
        // vectorises it), then the sums in ggml's order.
        for (&v, la) in x.iter().zip(laux.iter_mut()) {
            *la = nearest_int(iscale * (v - min)).clamp(0, nmax) as u8;
        }
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for ((&v, &w), &la) in x.iter().zip(weights).zip(laux.iter()) {
            let lf = f32::from(la);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * v;
        }
        let dd = sum_w * sum_l2 - sum_l * sum_l;
        if dd > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / dd;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / dd;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for ((&v, &w), &la) in x.iter().zip(weights).zip(laux.iter()).take(n) {
                let diff = this_scale * f32::from(la) + this_min - v;
                cur_error += w * err(diff);
            }
            if cur_error < best_error {
                for (lo, &la) in l_out.iter_mut().zip(laux.iter()).take(n) {
                    *lo = la;
                }
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `get_scale_min_k4`.
fn get_scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

// ------------------------------------------------------------------ quantize

/// Q2_K (`quantize_row_q2_K_ref`): 256 values into 84 bytes.
pub fn quantize_q2_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; 16];
    let mut mins = [0f32; 16];
    let p = Qkx2 {
        nmax: 3,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    let q4scale = 15f32;
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        let mut w = [0f32; 16];
        for (wi, &v) in w.iter_mut().zip(xs) {
            *wi = v.abs();
        }
        let (s, m) = make_qkx2_quants(&p, xs, &w, &mut l[16 * j..16 * j + 16]);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let mut sc = [0u8; 16];
    let d16 = if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for (o, &s) in sc.iter_mut().zip(&scales) {
            *o = nearest_int(iscale * s) as u8;
        }
        wr_half(out, 80, max_scale / q4scale)
    } else {
        wr_half(out, 80, 0.0)
    };
    let dmin16 = if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for (o, &m) in sc.iter_mut().zip(&mins) {
            *o |= (nearest_int(iscale * m) << 4) as u8;
        }
        wr_half(out, 82, max_min / q4scale)
    } else {
        wr_half(out, 82, 0.0)
    };
    let (dd, dm) = (f16_to_f32(d16), f16_to_f32(dmin16));
    for j in 0..16 {
        let d = dd * f32::from(sc[j] & 0xF);
        if d == 0.0 {
            continue;
        }
        let m = dm * f32::from(sc[j] >> 4);
        for ii in 0..16 {
            l[16 * j + ii] = nearest_int((x[16 * j + ii] + m) / d).clamp(0, 3) as u8;
        }
    }
    if let Some(dst) = out.get_mut(..16) {
        dst.copy_from_slice(&sc);
    }
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            let v = l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
            if let Some(o) = out.get_mut(16 + j / 4 + i) {
                *o = v;
            }
        }
    }
}

/// Q3_K (`quantize_row_q3_K_ref`): 256 values into 110 bytes.
pub fn quantize_q3_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let mut max_scale = 0f32;
    let mut amax = 0f32;
    for j in 0..16 {
        scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
        let s = scales[j].abs();
        if s > amax {
            amax = s;
            max_scale = scales[j];
        }
    }
    let mut sc = [0u8; 12];
    let d16 = if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &s) in scales.iter().enumerate() {
            let li = nearest_int(iscale * s) as i8;
            let li = li.clamp(-32, 31) + 32;
            if j < 8 {
                sc[j] = (li & 0xF) as u8;
            } else {
                sc[j - 8] |= ((li & 0xF) << 4) as u8;
            }
            let hi = li >> 4;
            sc[j % 4 + 8] |= (hi << (2 * (j / 4))) as u8;
        }
        wr_half(out, 108, 1.0 / iscale)
    } else {
        wr_half(out, 108, 0.0)
    };
    let dd = f16_to_f32(d16);
    for j in 0..16 {
        let low = if j < 8 { sc[j] & 0xF } else { sc[j - 8] >> 4 } as i8;
        let s = (low | ((((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) as i8)) - 32;
        let d = dd * f32::from(s);
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            l[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-4, 3) + 4) as i8;
        }
    }
    let mut hmask = [0u8; 32];
    let mut m = 0usize;
    let mut hm = 1u8;
    for lj in l.iter_mut() {
        if *lj > 3 {
            hmask[m] |= hm;
            *lj -= 4;
        }
        m += 1;
        if m == QK_K / 8 {
            m = 0;
            hm = hm.wrapping_shl(1);
        }
    }
    if let Some(dst) = out.get_mut(..32) {
        dst.copy_from_slice(&hmask);
    }
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            let v = (l[j + i] as u8)
                | ((l[j + i + 32] as u8) << 2)
                | ((l[j + i + 64] as u8) << 4)
                | ((l[j + i + 96] as u8) << 6);
            if let Some(o) = out.get_mut(32 + j / 4 + i) {
                *o = v;
            }
        }
    }
    if let Some(dst) = out.get_mut(96..108) {
        dst.copy_from_slice(&sc);
    }
}

/// Shared by Q4_K and Q5_K: sub-block scales/mins, packed 6-bit, and the
/// final levels `L` (0..=nmax). Returns `(scales[12], d, dmin)` as written.
fn quantize_k4_scales(x: &[f32; QK_K], p: &Qkx2, l: &mut [u8; QK_K], out: &mut [u8]) -> [u8; 12] {
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut w = [0f32; 32];
        for (wi, &v) in w.iter_mut().zip(xs) {
            *wi = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(p, xs, &w, &mut l[32 * j..32 * j + 32]);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut sc = [0u8; 12];
    for j in 0..8 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            sc[j - 4] |= (ls >> 4) << 6;
            sc[j] |= (lm >> 4) << 6;
        }
    }
    let d = f16_to_f32(wr_half(out, 0, max_scale / 63.0));
    let dmin = f16_to_f32(wr_half(out, 2, max_min / 63.0));
    for j in 0..8 {
        let (s, m) = get_scale_min_k4(j, &sc);
        let dj = d * f32::from(s);
        if dj == 0.0 {
            continue;
        }
        let dm = dmin * f32::from(m);
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / dj).clamp(0, p.nmax) as u8;
        }
    }
    if let Some(dst) = out.get_mut(4..16) {
        dst.copy_from_slice(&sc);
    }
    sc
}

/// Q4_K (`quantize_row_q4_K_ref`): 256 values into 144 bytes.
pub fn quantize_q4_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let p = Qkx2 {
        nmax: 15,
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    quantize_k4_scales(x, &p, &mut l, out);
    for (c, j) in (0..QK_K).step_by(64).enumerate() {
        for i in 0..32 {
            if let Some(o) = out.get_mut(16 + c * 32 + i) {
                *o = l[j + i] | (l[j + i + 32] << 4);
            }
        }
    }
}

/// Q5_K (`quantize_row_q5_K_ref`): 256 values into 176 bytes.
pub fn quantize_q5_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
    let p = Qkx2 {
        nmax: 31,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    quantize_k4_scales(x, &p, &mut l, out);
    let mut qh = [0u8; 32];
    let (mut m1, mut m2) = (1u8, 2u8);
    for (c, n) in (0..QK_K).step_by(64).enumerate() {
        for j in 0..32 {
            let mut l1 = l[n + j];
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            let mut l2 = l[n + j + 32];
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            if let Some(o) = out.get_mut(48 + c * 32 + j) {
                *o = l1 | (l2 << 4);
            }
        }
        m1 = m1.wrapping_shl(2);
        m2 = m2.wrapping_shl(2);
    }
    if let Some(dst) = out.get_mut(16..48) {
        dst.copy_from_slice(&qh);
    }
}

/// Q6_K (`quantize_row_q6_K_ref`): 256 values into 210 bytes.
pub fn quantize_q6_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; 16];
    let mut max_scale = 0f32;
    let mut max_abs = 0f32;
    for ib in 0..16 {
        let s = make_qx_quants(32, &x[16 * ib..16 * ib + 16], &mut l[16 * ib..16 * ib + 16]);
        scales[ib] = s;
        if s.abs() > max_abs {
            max_abs = s.abs();
            max_scale = s;
        }
    }
    if max_abs < GROUP_MAX_EPS {
        out.iter_mut().take(210).for_each(|b| *b = 0);
        wr_half(out, 208, 0.0);
        return;
    }
    let iscale = -128.0 / max_scale;
    let d = f16_to_f32(wr_half(out, 208, 1.0 / iscale));
    let mut sc = [0i8; 16];
    for (o, &s) in sc.iter_mut().zip(&scales) {
        *o = nearest_int(iscale * s).min(127) as i8;
    }
    for j in 0..16 {
        let dj = d * f32::from(sc[j]);
        if dj == 0.0 {
            continue;
        }
        for ii in 0..16 {
            l[16 * j + ii] = (nearest_int(x[16 * j + ii] / dj).clamp(-32, 31) + 32) as i8;
        }
    }
    for (c, j) in (0..QK_K).step_by(128).enumerate() {
        for i in 0..32 {
            let q = |k: usize| l[j + i + k] as u8;
            let ql0 = (q(0) & 0xF) | ((q(64) & 0xF) << 4);
            let ql1 = (q(32) & 0xF) | ((q(96) & 0xF) << 4);
            let qh = (q(0) >> 4) | ((q(32) >> 4) << 2) | ((q(64) >> 4) << 4) | ((q(96) >> 4) << 6);
            if let Some(o) = out.get_mut(c * 64 + i) {
                *o = ql0;
            }
            if let Some(o) = out.get_mut(c * 64 + i + 32) {
                *o = ql1;
            }
            if let Some(o) = out.get_mut(128 + c * 32 + i) {
                *o = qh;
            }
        }
    }
    if let Some(dst) = out.get_mut(192..208) {
        for (o, &s) in dst.iter_mut().zip(&sc) {
            *o = s as u8;
        }
    }
}

/// Q8_K (`quantize_row_q8_K_ref`): 256 values into 292 bytes.
pub fn quantize_q8_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    out.iter_mut().take(292).for_each(|b| *b = 0);
    if amax == 0.0 {
        return;
    }
    let iscale = -127.0 / max;
    let mut qs = [0i8; QK_K];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    if let Some(dst) = out.get_mut(..4) {
        dst.copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
    for (o, &q) in out.iter_mut().skip(4).zip(&qs) {
        *o = q as u8;
    }
    for j in 0..16 {
        let sum: i32 = qs[16 * j..16 * j + 16].iter().map(|&q| i32::from(q)).sum();
        if let Some(dst) = out.get_mut(260 + 2 * j..262 + 2 * j) {
            dst.copy_from_slice(&(sum as i16).to_le_bytes());
        }
    }
}
