//! Golden tests: modelconv's forward passes against transformers' outputs
//! committed by tests/data/families/make_family_fixtures.py (and
//! sentence-transformers' embeddings of all-MiniLM-L6-v2), and checks that
//! a broken model fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use modelconv_arch::Family;
use modelconv_core::tensor::Tensor as CoreTensor;
use modelconv_core::{DType, Result};
use modelconv_infer::nn::Vb;
use modelconv_infer::{
    bert, clip, compare, decoder, run, whisper, Inputs, ModelRef, Output, Weights,
};
use serde_json::Value;

fn families() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/families")
}

/// f32 weights of a safetensors file, with optional edits for the "can fail" tests.
struct St {
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

fn to_f32(t: &CoreTensor) -> Vec<f32> {
    let bytes = t.source.read(0..t.source.len()).unwrap();
    let mut out = vec![0u8; t.info.numel() * 4];
    modelconv_core::cast::cast(t.info.dtype, DType::F32, &bytes, &mut out).unwrap();
    out.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

impl St {
    fn open(path: &Path) -> St {
        let wf = modelconv_formats::weights::read(path, false).unwrap();
        St {
            tensors: wf
                .tensors
                .iter()
                .filter(|t| t.info.dtype.is_float())
                .map(|t| (t.info.name.clone(), (t.info.shape.clone(), to_f32(t))))
                .collect(),
        }
    }
}

impl Weights for St {
    fn names(&self) -> Vec<String> {
        self.tensors.keys().cloned().collect()
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.tensors.get(name).map(|t| t.0.clone())
    }
    fn get_f32(&self, name: &str) -> Result<Vec<f32>> {
        Ok(self.tensors[name].1.clone())
    }
}

fn npy(path: &Path) -> (Vec<usize>, Vec<u8>, DType) {
    let (ts, _) = modelconv_formats::numpy::read_npy(path).unwrap();
    let t = &ts[0];
    (
        t.info.shape.clone(),
        t.source.read(0..t.source.len()).unwrap().into_owned(),
        t.info.dtype,
    )
}

fn npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let (shape, bytes, dtype) = npy(path);
    assert_eq!(dtype, DType::F32);
    (
        shape,
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
    )
}

fn npy_ids(path: &Path) -> Vec<Vec<u32>> {
    let (shape, bytes, dtype) = npy(path);
    assert_eq!(dtype, DType::I64);
    let v: Vec<u32> = bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u32)
        .collect();
    v.chunks(shape[1]).map(<[u32]>::to_vec).collect()
}

fn config(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// cosine ≥ 0.9999 and max |a − b| ≤ 1e-4, per sample of the leading dimension.
fn assert_close(what: &str, got: &[f32], want: &[f32], samples: usize) {
    assert_eq!(got.len(), want.len(), "{what}: sizes");
    let n = got.len() / samples;
    let mut worst = (1.0f64, 0.0f64);
    for i in 0..samples {
        let (a, b) = (&got[i * n..(i + 1) * n], &want[i * n..(i + 1) * n]);
        let cos = modelconv_infer::cosine(a, b);
        let max = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() as f64)
            .fold(0.0, f64::max);
        worst = (worst.0.min(cos), worst.1.max(max));
    }
    eprintln!(
        "{what}: min cosine {:.8}, max abs diff {:.3e}",
        worst.0, worst.1
    );
    assert!(
        worst.0 >= 0.9999 && worst.1 <= 1e-4,
        "{what}: cosine {} max abs {}",
        worst.0,
        worst.1
    );
}

#[test]
fn bert_matches_transformers() {
    let dir = families().join("bert");
    let w = St::open(&dir.join("model.safetensors"));
    let ids = npy_ids(&dir.join("reference/input_ids.npy"));
    let mask = npy_ids(&dir.join("reference/attention_mask.npy"));
    let cfg = config(&dir);
    let hidden = bert::forward(&Vb::new(&w), &cfg, &ids, &mask).unwrap();
    let (_, want) = npy_f32(&dir.join("reference/last_hidden_state.npy"));
    assert_close("bert last_hidden_state", &flat(&hidden), &want, ids.len());
    let emb = bert::pool(&hidden, &mask, "mean", true).unwrap();
    let (_, want) = npy_f32(&dir.join("reference/sentence_embedding.npy"));
    assert_close("bert sentence embedding", &flat(&emb), &want, ids.len());
    // The built-in path tokenizes the same sentences into the same ids.
    let out = run(
        Family::Bert,
        &ModelRef {
            weights: &w,
            config: &cfg,
            dir: Some(&dir),
        },
        &Inputs::Builtin,
    )
    .unwrap();
    assert_close("bert built-in", &out[0].samples.concat(), &want, ids.len());
}

#[test]
fn clip_towers_match_transformers() {
    let dir = families().join("clip");
    let w = St::open(&dir.join("model.safetensors"));
    let cfg = config(&dir);
    let vb = Vb::new(&w);
    // Built-in images are the fixture's images, byte for byte.
    let (_, images, _) = npy(&dir.join("reference/images_uint8.npy"));
    let built: Vec<u8> = modelconv_infer::builtin_images(32).concat();
    assert_eq!(built, images);
    let pixels = clip::pixels_from_uint8(&modelconv_infer::builtin_images(32), 32).unwrap();
    let (_, want_px) = npy_f32(&dir.join("reference/pixel_values.npy"));
    assert_close("clip pixel_values", &flat(&pixels), &want_px, 3);
    let (shape, px) = npy_f32(&dir.join("reference/pixel_values.npy"));
    let px = Tensor::from_vec(px, shape, &Device::Cpu).unwrap();
    let (_, want) = npy_f32(&dir.join("reference/image_embeds.npy"));
    assert_close(
        "clip image_embeds",
        &flat(&clip::image_embeds(&vb, &cfg, &px).unwrap()),
        &want,
        3,
    );
    let ids = npy_ids(&dir.join("reference/text_input_ids.npy"));
    let mask = npy_ids(&dir.join("reference/text_attention_mask.npy"));
    let (_, want) = npy_f32(&dir.join("reference/text_embeds.npy"));
    assert_close(
        "clip text_embeds",
        &flat(&clip::text_embeds(&vb, &cfg, &ids, &mask).unwrap()),
        &want,
        3,
    );
    // The built-in run (no tokenizer: fixed ids) gives the same text embeddings.
    let out = run(
        Family::Clip,
        &ModelRef {
            weights: &w,
            config: &cfg,
            dir: Some(&dir),
        },
        &Inputs::Builtin,
    )
    .unwrap();
    assert_eq!(out.len(), 2);
    assert_close("clip built-in text", &out[1].samples.concat(), &want, 3);
}

#[test]
fn whisper_front_end_and_encoder_match_transformers() {
    let dir = families().join("whisper");
    // Built-in audio = the fixture's WAV samples.
    let audio = modelconv_infer::builtin_audio();
    for (i, a) in audio.iter().enumerate() {
        let (_, want) = npy_f32(&dir.join(format!("reference/audio{i}.npy")));
        assert_eq!(a, &want, "audio {i}");
        let wav = whisper::read_wav(&dir.join(format!("reference/audio{i}.wav"))).unwrap();
        assert_eq!(&wav, a, "wav {i}");
    }
    let feats = whisper::features(&audio, 80).unwrap();
    let (shape, want) = npy_f32(&dir.join("reference/input_features.npy"));
    assert_close(
        "whisper log-mel vs WhisperFeatureExtractor",
        &flat(&feats),
        &want,
        2,
    );
    let w = St::open(&dir.join("model.safetensors"));
    let cfg = config(&dir);
    let vb = Vb::new(&w);
    let f = Tensor::from_vec(want, shape, &Device::Cpu).unwrap();
    let enc = whisper::encode(&whisper::encoder_vb(&vb).unwrap(), &cfg, &f).unwrap();
    let (_, want) = npy_f32(&dir.join("reference/encoder_last_hidden_state.npy"));
    assert_close("whisper encoder", &flat(&enc), &want, 2);
}

fn decoder_case(name: &str, family: Family) {
    let dir = families().join(name);
    let w = St::open(&dir.join("model.safetensors"));
    let cfg = config(&dir);
    let ids = npy_ids(&dir.join("reference/input_ids.npy"));
    let (_, want) = npy_f32(&dir.join("reference/logits.npy"));
    let logits = decoder::forward(&Vb::new(&w), family, &cfg, &ids).unwrap();
    assert_close(&format!("{name} logits"), &flat(&logits), &want, ids.len());
}

#[test]
fn decoders_match_transformers() {
    for (name, fam) in [
        ("llama", Family::Llama),
        ("mistral", Family::Mistral),
        ("qwen2", Family::Qwen2),
        ("gemma", Family::Gemma),
        ("minicpm", Family::MiniCpm),
        ("minicpm-tied", Family::MiniCpm),
    ] {
        decoder_case(name, fam);
    }
}

/// Edits weights to simulate a broken conversion.
fn edited(w: &St, f: impl Fn(&str, &[usize], &mut Vec<f32>)) -> St {
    let mut tensors = w.tensors.clone();
    for (name, (shape, v)) in tensors.iter_mut() {
        f(name, shape, v);
    }
    St { tensors }
}

fn check(family: Family, dir: &Path, a: &St, b: &St) -> modelconv_infer::Comparison {
    let cfg = config(dir);
    let run_on = |w: &St| -> Vec<Output> {
        run(
            family,
            &ModelRef {
                weights: w,
                config: &cfg,
                dir: Some(dir),
            },
            &Inputs::Builtin,
        )
        .unwrap()
    };
    compare(&run_on(a), &run_on(b), 0.99).unwrap()
}

#[test]
fn broken_conversions_fail_the_check() {
    // Identical weights pass.
    let dir = families().join("llama");
    let w = St::open(&dir.join("model.safetensors"));
    let same = check(Family::Llama, &dir, &w, &edited(&w, |_, _, _| {}));
    assert!(same.passed && same.min_cosine > 0.999999, "{same:?}");

    // Two layers' weights swapped.
    let swapped = {
        let mut t = w.tensors.clone();
        for suffix in [
            "self_attn.q_proj.weight",
            "mlp.up_proj.weight",
            "self_attn.o_proj.weight",
        ] {
            let a = format!("model.layers.0.{suffix}");
            let b = format!("model.layers.1.{suffix}");
            let va = t[&a].clone();
            let vb = t[&b].clone();
            t.insert(a, vb);
            t.insert(b, va);
        }
        St { tensors: t }
    };
    let r = check(Family::Llama, &dir, &w, &swapped);
    eprintln!("layers swapped: min cosine {:.4}", r.min_cosine);
    assert!(!r.passed);

    // Q/K heads permuted as a GGUF conversion does, but not undone. The
    // fixture's random weights give near-uniform attention, which hides
    // any Q/K change; sharpen attention first (scale Q and K by 30) so the
    // model depends on it, then permute.
    let sharp = edited(&w, |name, _, v| {
        if name.ends_with("q_proj.weight") || name.ends_with("k_proj.weight") {
            v.iter_mut().for_each(|x| *x *= 30.0);
        }
    });
    let w = sharp;
    let perm = edited(&w, |name, shape, v| {
        if name.ends_with("q_proj.weight") || name.ends_with("k_proj.weight") {
            let heads = shape[0] / 16;
            let p = modelconv_arch::gguf::permute_rows(shape[0], heads).unwrap();
            let cols = shape[1];
            let orig = v.clone();
            for (i, &src) in p.iter().enumerate() {
                v[i * cols..(i + 1) * cols].copy_from_slice(&orig[src * cols..(src + 1) * cols]);
            }
        }
    });
    let r = check(Family::Llama, &dir, &w, &perm);
    eprintln!("Q/K permuted: min cosine {:.4}", r.min_cosine);
    assert!(!r.passed);

    // A sign flip in a BERT: the last LayerNorm's scale negated (what a
    // wrong sign convention in a converter does to the output).
    let bdir = families().join("bert");
    let bw = St::open(&bdir.join("model.safetensors"));
    let flipped = edited(&bw, |name, _, v| {
        if name == "encoder.layer.1.output.LayerNorm.weight" {
            v.iter_mut().for_each(|x| *x = -*x);
        }
    });
    let r = check(Family::Bert, &bdir, &bw, &flipped);
    eprintln!("sign flip: min cosine {:.4}", r.min_cosine);
    assert!(!r.passed);

    // A Whisper key mapped to the wrong tensor (fc1 of layer 1 loaded into
    // layer 0). Random 0.02-std weights make the MLP branch negligible next
    // to the residual stream, so scale the MLPs up (both sides) first.
    let wdir = families().join("whisper");
    let ww = edited(&St::open(&wdir.join("model.safetensors")), |name, _, v| {
        if name.contains(".fc1.") || name.contains(".fc2.") {
            v.iter_mut().for_each(|x| *x *= 10.0);
        }
    });
    let wrong = {
        let mut t = ww.tensors.clone();
        let l1 = t["model.encoder.layers.1.fc1.weight"].clone();
        t.insert("model.encoder.layers.0.fc1.weight".into(), l1);
        St { tensors: t }
    };
    let r = check(Family::Whisper, &wdir, &ww, &wrong);
    eprintln!("whisper key mismapped: min cosine {:.4}", r.min_cosine);
    assert!(!r.passed);
}

#[test]
fn mup_folded_llama_reproduces_the_minicpm_logits() {
    for name in ["minicpm", "minicpm-tied"] {
        let dir = families().join(name);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("llama");
        let mut opts = modelconv::ConvertOptions::default();
        opts.family.mup_to_llama = true;
        modelconv::convert(dir.to_str().unwrap(), &out, &opts, &modelconv::NoProgress).unwrap();
        let cfg = config(&out);
        assert_eq!(cfg["model_type"], "llama");
        let w = St::open(&out.join("model.safetensors"));
        let ids = npy_ids(&dir.join("reference/input_ids.npy"));
        // A plain LLaMA forward on the folded weights...
        let logits = flat(&decoder::forward(&Vb::new(&w), Family::Llama, &cfg, &ids).unwrap());
        // ...equals the muP model's logits computed by the fixture script.
        let (_, want) = npy_f32(&dir.join("reference/logits.npy"));
        let scale = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
        let worst = logits
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / scale)
            .fold(0f32, f32::max);
        eprintln!("{name}: max |folded - muP| / max|logit| = {worst:.3e}");
        assert!(worst <= 1e-5, "{name}: {worst}");
    }
}

#[test]
fn minilm_matches_sentence_transformers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "run scripts/fetch-minilm first"
    );
    let w = St::open(&dir.join("model.safetensors"));
    let cfg = config(&dir);
    let out = run(
        Family::Bert,
        &ModelRef {
            weights: &w,
            config: &cfg,
            dir: Some(&dir),
        },
        &Inputs::Builtin,
    )
    .unwrap();
    let (_, want) = npy_f32(&families().join("minilm_reference/sentence_embedding.npy"));
    assert_close(
        "all-MiniLM-L6-v2 vs sentence-transformers",
        &out[0].samples.concat(),
        &want,
        4,
    );
}

#[test]
fn extracted_components_reproduce_the_full_models_tower_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let extract = |name: &str, component| {
        let out = tmp.path().join(name);
        let mut opts = modelconv::ConvertOptions::default();
        opts.family.component = Some(component);
        modelconv::convert(
            families().join(name).to_str().unwrap(),
            &out,
            &opts,
            &modelconv::NoProgress,
        )
        .unwrap();
        out
    };
    // CLIPVisionModelWithProjection extraction → the full model's image_embeds.
    let out = extract("clip", modelconv::arch::Component::Vision);
    let w = St::open(&out.join("model.safetensors"));
    let cfg = config(&out);
    assert_eq!(cfg["model_type"], "clip_vision_model");
    let ref_dir = families().join("clip/reference");
    let (shape, px) = npy_f32(&ref_dir.join("pixel_values.npy"));
    let px = Tensor::from_vec(px, shape, &Device::Cpu).unwrap();
    let (_, want) = npy_f32(&ref_dir.join("image_embeds.npy"));
    assert_close(
        "vision extraction",
        &flat(&clip::image_embeds(&Vb::new(&w), &cfg, &px).unwrap()),
        &want,
        3,
    );
    // WhisperEncoder extraction → the full model's encoder states.
    let out = extract("whisper", modelconv::arch::Component::Encoder);
    let w = St::open(&out.join("model.safetensors"));
    let cfg = config(&out);
    let ref_dir = families().join("whisper/reference");
    let (shape, f) = npy_f32(&ref_dir.join("input_features.npy"));
    let f = Tensor::from_vec(f, shape, &Device::Cpu).unwrap();
    let vb = Vb::new(&w);
    let enc = whisper::encode(&whisper::encoder_vb(&vb).unwrap(), &cfg, &f).unwrap();
    let (_, want) = npy_f32(&ref_dir.join("encoder_last_hidden_state.npy"));
    assert_close("encoder extraction", &flat(&enc), &want, 2);
}
