//! Whisper: the log-mel front end of transformers' `WhisperFeatureExtractor`
//! and the audio encoder (`WhisperEncoder`).
//!
//! The front end is written out (f64, a direct DFT over the 400-sample
//! window) because it must match transformers to 1e-4: 16 kHz audio padded
//! or cut to 30 s, a centred STFT with reflect padding and a periodic Hann
//! window (n_fft 400, hop 160), the power spectrum, Slaney mel filters
//! (Slaney scale, 0–8 kHz), `log10(max(x, 1e-10))`, the last frame dropped,
//! clamped to `max − 8`, then `(x + 4) / 4`.

use std::f64::consts::PI;
use std::path::Path;

use candle_core::{Device, Tensor};
use modelconv_arch::config::Cfg;
use modelconv_core::{Error, Result};
use serde_json::Value;

use crate::nn::{activation, attention, ce, heads, merge_heads, LayerNorm, Linear, Vb};

/// Sample rate the front end expects.
pub const SAMPLE_RATE: usize = 16_000;
const N_FFT: usize = 400;
const HOP: usize = 160;
const N_SAMPLES: usize = 30 * SAMPLE_RATE;

fn hz_to_mel(f: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= min_log_hz {
        min_log_mel + (f / min_log_hz).ln() / logstep
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        min_log_hz * (logstep * (m - min_log_mel)).exp()
    } else {
        f_sp * m
    }
}

/// Slaney-normalised triangular mel filters, `[n_mels][n_fft/2 + 1]`.
pub fn mel_filters(n_mels: usize) -> Vec<Vec<f64>> {
    let n_freq = N_FFT / 2 + 1;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(8000.0));
    let pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let fft: Vec<f64> = (0..n_freq)
        .map(|i| (SAMPLE_RATE / 2) as f64 * i as f64 / (n_freq - 1) as f64)
        .collect();
    (0..n_mels)
        .map(|m| {
            let enorm = 2.0 / (pts[m + 2] - pts[m]);
            fft.iter()
                .map(|&f| {
                    let down = (f - pts[m]) / (pts[m + 1] - pts[m]);
                    let up = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
                    down.min(up).max(0.0) * enorm
                })
                .collect()
        })
        .collect()
}

/// Log-mel features `[n_mels][3000]` of one clip (mono, 16 kHz, samples in [-1, 1]).
pub fn log_mel(samples: &[f32], n_mels: usize) -> Vec<Vec<f32>> {
    let mut x = vec![0f64; N_SAMPLES];
    for (d, s) in x.iter_mut().zip(samples) {
        *d = f64::from(*s);
    }
    // Centre: reflect-pad n_fft/2 on both sides.
    let pad = N_FFT / 2;
    let mut padded = Vec::with_capacity(N_SAMPLES + 2 * pad);
    padded.extend((1..=pad).rev().map(|i| x[i]));
    padded.extend_from_slice(&x);
    padded.extend((1..=pad).map(|i| x[N_SAMPLES - 1 - i]));
    let window: Vec<f64> = (0..N_FFT)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / N_FFT as f64).cos())
        .collect();
    let n_freq = N_FFT / 2 + 1;
    let (cos_t, sin_t): (Vec<f64>, Vec<f64>) = (0..N_FFT)
        .map(|i| {
            let a = 2.0 * PI * i as f64 / N_FFT as f64;
            (a.cos(), a.sin())
        })
        .unzip();
    let frames = N_SAMPLES / HOP; // the last frame (index 3000) is dropped
    let filters = mel_filters(n_mels);
    let mut mel = vec![vec![0f64; frames]; n_mels];
    let mut frame = vec![0f64; N_FFT];
    let mut power = vec![0f64; n_freq];
    for t in 0..frames {
        for (i, f) in frame.iter_mut().enumerate() {
            *f = padded[t * HOP + i] * window[i];
        }
        for (k, p) in power.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0, 0.0);
            for (n, v) in frame.iter().enumerate() {
                let idx = (k * n) % N_FFT;
                re += v * cos_t[idx];
                im -= v * sin_t[idx];
            }
            *p = re * re + im * im;
        }
        for (m, row) in mel.iter_mut().enumerate() {
            let e: f64 = filters[m].iter().zip(&power).map(|(a, b)| a * b).sum();
            row[t] = e.max(1e-10).log10();
        }
    }
    let max = mel
        .iter()
        .flatten()
        .fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    mel.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| ((v.max(max - 8.0) + 4.0) / 4.0) as f32)
                .collect()
        })
        .collect()
}

/// Reads a 16-bit PCM mono 16 kHz WAV file as samples in [-1, 1).
pub fn read_wav(path: &Path) -> Result<Vec<f32>> {
    let bytes = modelconv_core::fsx::read_input(path, 1 << 30)?;
    let bad = |d: &str| Error::InvalidOption(format!("{}: {d}", path.display()));
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut pos = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = bytes
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| bad("truncated chunk"))?;
        if id == b"fmt " && body.len() >= 16 {
            format = Some((
                u16::from_le_bytes([body[0], body[1]]),
                u16::from_le_bytes([body[2], body[3]]),
                u32::from_le_bytes([body[4], body[5], body[6], body[7]]),
                u16::from_le_bytes([body[14], body[15]]),
            ));
        } else if id == b"data" {
            match format {
                Some((1, 1, 16_000, 16)) => {}
                Some((fmt, ch, rate, bits)) => {
                    return Err(bad(&format!(
                        "need 16-bit PCM mono 16 kHz audio, found format {fmt}, {ch} channels, {rate} Hz, {bits} bits (resample with e.g. `sox in.wav -r 16000 -c 1 -b 16 out.wav`)"
                    )))
                }
                None => return Err(bad("data chunk before fmt chunk")),
            }
            return Ok(body
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect());
        }
        pos += 8 + len + (len & 1);
    }
    Err(bad("no data chunk"))
}

/// Features of several clips as a [b, n_mels, 3000] tensor.
pub fn features(clips: &[Vec<f32>], n_mels: usize) -> Result<Tensor> {
    let mut v = Vec::with_capacity(clips.len() * n_mels * 3000);
    for c in clips {
        for row in log_mel(c, n_mels) {
            v.extend(row);
        }
    }
    Tensor::from_vec(v, (clips.len(), n_mels, 3000), &Device::Cpu).map_err(ce)
}

/// The encoder's weights: a full model (`model.encoder.`), a `WhisperModel`
/// (`encoder.`) or an extracted encoder (no prefix).
pub fn encoder_vb<'a>(vb: &Vb<'a>) -> Option<Vb<'a>> {
    for p in ["model.encoder", "encoder"] {
        if vb.contains(&format!("{p}.conv1.weight")) {
            return Some(vb.pp(p));
        }
    }
    vb.contains("conv1.weight").then(|| vb.clone())
}

/// `last_hidden_state` [b, 1500, d_model] of the encoder for `features` [b, n_mels, 3000].
pub fn encode(vb: &Vb<'_>, config: &Value, features: &Tensor) -> Result<Tensor> {
    let c = Cfg::new(config);
    let d = c.usize("d_model", 384);
    let nh = c.usize("encoder_attention_heads", 6);
    let hd = d / nh.max(1);
    let act = c.str("activation_function").unwrap_or("gelu");
    let conv = |name: &str, x: &Tensor, stride: usize| -> Result<Tensor> {
        let w = vb.pp(name).get("weight")?;
        let b = vb.pp(name).get("bias")?;
        let y = x.conv1d(&w, 1, stride, 1, 1).map_err(ce)?;
        let y = y
            .broadcast_add(&b.reshape((1, b.dim(0).map_err(ce)?, 1)).map_err(ce)?)
            .map_err(ce)?;
        activation(act, &y)
    };
    let x = conv("conv1", features, 1)?;
    let x = conv("conv2", &x, 2)?;
    let mut x = x.transpose(1, 2).map_err(ce)?;
    let t = x.dim(1).map_err(ce)?;
    let pos_name = if vb.contains("embed_positions.weight") {
        "embed_positions"
    } else {
        // The seeds' key map.
        "position_embedding"
    };
    let pos = vb.pp(pos_name).get("weight")?.narrow(0, 0, t).map_err(ce)?;
    x = x.broadcast_add(&pos).map_err(ce)?;
    let eps = 1e-5;
    for l in 0..c.usize("encoder_layers", 4) {
        let lv = vb.pp(format!("layers.{l}"));
        let y = LayerNorm::load(&lv.pp("self_attn_layer_norm"), eps)?.forward(&x)?;
        let sa = lv.pp("self_attn");
        let q = heads(&Linear::load(&sa.pp("q_proj"))?.forward(&y)?, nh, hd)?;
        let k = heads(&Linear::load(&sa.pp("k_proj"))?.forward(&y)?, nh, hd)?;
        let v = heads(&Linear::load(&sa.pp("v_proj"))?.forward(&y)?, nh, hd)?;
        let a = merge_heads(&attention(&q, &k, &v, None, 1.0 / (hd as f64).sqrt())?)?;
        x = (x + Linear::load(&sa.pp("out_proj"))?.forward(&a)?).map_err(ce)?;
        let y = LayerNorm::load(&lv.pp("final_layer_norm"), eps)?.forward(&x)?;
        let y = activation(act, &Linear::load(&lv.pp("fc1"))?.forward(&y)?)?;
        x = (x + Linear::load(&lv.pp("fc2"))?.forward(&y)?).map_err(ce)?;
    }
    LayerNorm::load(&vb.pp("layer_norm"), eps)?.forward(&x)
}
