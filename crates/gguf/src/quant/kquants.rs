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

/// Candidate scales of `make_qx_quants` tried side by side (one AVX2
/// register of f32).
const LANES: usize = 8;

/// ggml's `make_qx_quants` with `rmse_type == 1` and no importance weights
/// (the only form the `_ref` quantizers use). Writes `L` (offset by `nmax`).
#[inline(always)]
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
    let iscale = -(nmax as f32) / max;
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
    // The 18 further candidates do not depend on each other: they are
    // evaluated LANES at a time (each lane summing in ggml's element order,
    // so bit-identical to the scalar loop) and then accepted in ggml's order.
    const STEPS: [i32; 18] = [
        -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ];
    let mut winner = None;
    for chunk in STEPS.chunks(LANES) {
        let mut isc = [0f32; LANES];
        for (k, s) in isc.iter_mut().enumerate() {
            let is = chunk.get(k).or(chunk.last()).copied().unwrap_or(1);
            *s = -(nmax as f32 + 0.1 * is as f32) / max;
        }
        let (mut sumlx, mut suml2) = ([0f32; LANES], [0f32; LANES]);
        for &v in x {
            let w = v * v;
            for k in 0..LANES {
                let l = clamp(nearest_int(isc[k] * v)) as f32;
                sumlx[k] += w * v * l;
                suml2[k] += w * l * l;
            }
        }
        for k in 0..chunk.len() {
            if suml2[k] > 0.0 && sumlx[k] * sumlx[k] > best * suml2[k] {
                scale = sumlx[k] / suml2[k];
                best = scale * sumlx[k];
                winner = Some(isc[k]);
            }
        }
    }
    if let Some(iscale) = winner {
        for (&v, lo) in x.iter().zip(l_out.iter_mut()) {
            *lo = (nmax + clamp(nearest_int(iscale * v))) as i8;
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

/// ggml's `make_qkx2_quants`, run on `N` sub-blocks of `M` values at once.
///
/// ggml searches each sub-block on its own, one candidate scale after the
/// other, and every step depends on the previous one (an accepted candidate
/// changes `min`, which the next uses). The sub-blocks, however, are
/// independent: here lane `k` of every array is sub-block `k`, and each lane
/// runs exactly ggml's scalar algorithm: the same operations in the same
/// order, with ggml's branches turned into per-lane selects. The results are
/// bit-identical; the lane loops compile to one vector operation per step
/// instead of `N` dependent scalar ones.
///
/// `x[i][k]` and `w[i][k]` are value `i` of sub-block `k` and its weight.
/// Returns per lane `(scale, -min)` and writes the levels `L` (0..=nmax).
#[inline(always)]
fn make_qkx2_quants<const N: usize, const M: usize>(
    p: &Qkx2,
    x: &[[f32; N]; M],
    w: &[[f32; N]; M],
    l_out: &mut [[u8; N]; M],
) -> ([f32; N], [f32; N]) {
    // The error measure is chosen at compile time: the hot loops then carry
    // no branch (the arithmetic and its order are unchanged).
    if p.use_mad {
        qkx2::<N, M, true>(p, x, w, l_out)
    } else {
        qkx2::<N, M, false>(p, x, w, l_out)
    }
}

/// `nearest_int(iscale * (v - min))` clamped to `0..=nmax`, per lane.
#[inline(always)]
fn qkx2_levels<const N: usize>(
    iscale: &[f32; N],
    v: &[f32; N],
    min: &[f32; N],
    nmax: i32,
) -> [f32; N] {
    let mut l = [0f32; N];
    for k in 0..N {
        l[k] = nearest_int(iscale[k] * (v[k] - min[k])).clamp(0, nmax) as f32;
    }
    l
}

#[inline(always)]
fn qkx2<const N: usize, const M: usize, const MAD: bool>(
    p: &Qkx2,
    x: &[[f32; N]; M],
    w: &[[f32; N]; M],
    l_out: &mut [[u8; N]; M],
) -> ([f32; N], [f32; N]) {
    let err = |diff: f32| if MAD { diff.abs() } else { diff * diff };
    let nmax = p.nmax;
    let (Some(x0), Some(w0)) = (x.first(), w.first()) else {
        return ([0.0; N], [0.0; N]);
    };
    let (mut min, mut max, mut sum_w, mut sum_x) = (*x0, *x0, *w0, [0f32; N]);
    for k in 0..N {
        sum_x[k] = sum_w[k] * x0[k];
    }
    for (xi, wi) in x.iter().zip(w).skip(1) {
        for k in 0..N {
            if xi[k] < min[k] {
                min[k] = xi[k];
            }
            if xi[k] > max[k] {
                max[k] = xi[k];
            }
            sum_w[k] += wi[k];
            sum_x[k] += wi[k] * xi[k];
        }
    }
    let mut iscale = [0f32; N];
    let mut scale = [0f32; N];
    for k in 0..N {
        if min[k] > 0.0 {
            min[k] = 0.0;
        }
        iscale[k] = nmax as f32 / (max[k] - min[k]);
        scale[k] = 1.0 / iscale[k];
    }
    // Flat sub-blocks (max == min) are finished: ggml returns (0, -min) and
    // all-zero levels. Their lanes still compute (harmless inf/NaN) and are
    // overwritten at the end.
    let mut flat = [false; N];
    for k in 0..N {
        flat[k] = max[k] == min[k];
    }
    let mut best_error = [0f32; N];
    for ((xi, wi), lo) in x.iter().zip(w).zip(l_out.iter_mut()) {
        let l = qkx2_levels(&iscale, xi, &min, nmax);
        for k in 0..N {
            lo[k] = l[k] as u8;
            let diff = scale[k] * l[k] + min[k] - xi[k];
            best_error[k] += wi[k] * err(diff);
        }
    }
    // ggml stops after the first guess when nstep < 1.
    let last_step = if p.nstep < 1 { -1 } else { p.nstep };
    for is in 0..=last_step {
        for k in 0..N {
            iscale[k] = (p.rmin + p.rdelta * is as f32 + nmax as f32) / (max[k] - min[k]);
        }
        let (mut sum_l, mut sum_l2, mut sum_xl) = ([0f32; N], [0f32; N], [0f32; N]);
        let mut laux = [[0f32; N]; M];
        for ((xi, wi), la) in x.iter().zip(w).zip(laux.iter_mut()) {
            *la = qkx2_levels(&iscale, xi, &min, nmax);
            for k in 0..N {
                sum_l[k] += wi[k] * la[k];
                sum_l2[k] += wi[k] * la[k] * la[k];
                sum_xl[k] += wi[k] * la[k] * xi[k];
            }
        }
        let (mut dd, mut this_scale, mut this_min) = ([0f32; N], [0f32; N], [0f32; N]);
        for k in 0..N {
            dd[k] = sum_w[k] * sum_l2[k] - sum_l[k] * sum_l[k];
            this_scale[k] = (sum_w[k] * sum_xl[k] - sum_x[k] * sum_l[k]) / dd[k];
            this_min[k] = (sum_l2[k] * sum_x[k] - sum_l[k] * sum_xl[k]) / dd[k];
            if this_min[k] > 0.0 {
                this_min[k] = 0.0;
                this_scale[k] = sum_xl[k] / sum_l2[k];
            }
        }
        let mut cur_error = [0f32; N];
        for ((xi, wi), la) in x.iter().zip(w).zip(&laux) {
            for k in 0..N {
                let diff = this_scale[k] * la[k] + this_min[k] - xi[k];
                cur_error[k] += wi[k] * err(diff);
            }
        }
        let mut better = [false; N];
        for k in 0..N {
            better[k] = !flat[k] && dd[k] > 0.0 && cur_error[k] < best_error[k];
            if better[k] {
                best_error[k] = cur_error[k];
                scale[k] = this_scale[k];
                min[k] = this_min[k];
            }
        }
        for (lo, la) in l_out.iter_mut().zip(&laux) {
            for k in 0..N {
                if better[k] {
                    lo[k] = la[k] as u8;
                }
            }
        }
    }
    let mut neg_min = [0f32; N];
    for k in 0..N {
        if flat[k] {
            scale[k] = 0.0;
        }
        neg_min[k] = -min[k];
    }
    for lo in l_out.iter_mut() {
        for k in 0..N {
            if flat[k] {
                lo[k] = 0;
            }
        }
    }
    (scale, neg_min)
}

/// `x[M*k + i]` as `out[i][k]`: sub-block `k` of the super-block in lane `k`.
#[inline(always)]
fn to_lanes<const N: usize, const M: usize>(x: &[f32]) -> [[f32; N]; M] {
    let mut out = [[0f32; N]; M];
    for (i, row) in out.iter_mut().enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            *v = x.get(M * k + i).copied().unwrap_or(0.0);
        }
    }
    out
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

/// Defines `pub fn $name(x, out)` that runs `$body` (a block quantizer)
/// compiled for AVX2 when the CPU has it, and for the baseline otherwise.
/// The results are bit-identical either way: Rust never fuses or reorders
/// f32 operations, so only the register width of the lane loops changes.
macro_rules! block_quantizer {
    ($(#[$doc:meta])* $name:ident => $body:ident) => {
        $(#[$doc])*
        pub fn $name(x: &[f32; QK_K], out: &mut [u8]) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2(x: &[f32; QK_K], out: &mut [u8]) {
                    $body(x, out)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the running CPU supports AVX2 (checked just above),
                    // the only requirement of calling an AVX2 function.
                    #[allow(unsafe_code)]
                    return unsafe { avx2(x, out) };
                }
            }
            $body(x, out)
        }
    };
}

block_quantizer!(
    /// Q2_K (`quantize_row_q2_K_ref`): 256 values into 84 bytes.
    quantize_q2_k => quantize_q2_k_body
);

#[inline(always)]
fn quantize_q2_k_body(x: &[f32; QK_K], out: &mut [u8]) {
    let mut l = [0u8; QK_K];
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
    let xt = to_lanes::<16, 16>(x);
    let mut wt = xt;
    wt.iter_mut().flatten().for_each(|v| *v = v.abs());
    let mut lt = [[0u8; 16]; 16];
    let (scales, mins) = make_qkx2_quants(&p, &xt, &wt, &mut lt);
    for (i, row) in lt.iter().enumerate() {
        for (j, &lv) in row.iter().enumerate() {
            l[16 * j + i] = lv;
        }
    }
    for j in 0..16 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
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
#[inline(always)]
fn quantize_k4_scales(x: &[f32; QK_K], p: &Qkx2, l: &mut [u8; QK_K], out: &mut [u8]) -> [u8; 12] {
    let xt = to_lanes::<8, 32>(x);
    let mut sum_x2 = [0f32; 8];
    for xi in &xt {
        for k in 0..8 {
            sum_x2[k] += xi[k] * xi[k];
        }
    }
    let mut wt = xt;
    for wi in wt.iter_mut() {
        for k in 0..8 {
            let av_x = (sum_x2[k] / 32.0).sqrt();
            wi[k] = av_x + wi[k].abs();
        }
    }
    let mut lt = [[0u8; 8]; 32];
    let (scales, mins) = make_qkx2_quants(p, &xt, &wt, &mut lt);
    for (i, row) in lt.iter().enumerate() {
        for (j, &lv) in row.iter().enumerate() {
            l[32 * j + i] = lv;
        }
    }
    let mut max_scale = 0f32;
    let mut max_min = 0f32;
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
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

block_quantizer!(
    /// Q4_K (`quantize_row_q4_K_ref`): 256 values into 144 bytes.
    quantize_q4_k => quantize_q4_k_body
);

#[inline(always)]
fn quantize_q4_k_body(x: &[f32; QK_K], out: &mut [u8]) {
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

block_quantizer!(
    /// Q5_K (`quantize_row_q5_K_ref`): 256 values into 176 bytes.
    quantize_q5_k => quantize_q5_k_body
);

#[inline(always)]
fn quantize_q5_k_body(x: &[f32; QK_K], out: &mut [u8]) {
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

block_quantizer!(
    /// Q6_K (`quantize_row_q6_K_ref`): 256 values into 210 bytes.
    quantize_q6_k => quantize_q6_k_body
);

#[inline(always)]
fn quantize_q6_k_body(x: &[f32; QK_K], out: &mut [u8]) {
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
