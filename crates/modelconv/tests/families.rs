//! The family layer end to end: detection, fake checkpoints, component
//! extraction, the seeds' Whisper key map, muP folding, metadata.json and
//! tokenizer export. Reference key lists come from transformers (committed
//! under tests/data/families) or from the real all-MiniLM-L6-v2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use modelconv::arch::fake::Init;
use modelconv::arch::{Component, Family, KeyMap};
use modelconv::fake::{fake, FakeOptions};
use modelconv::{ConvertOptions, FormatId as Format, NoProgress, WeightLoader};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The real all-MiniLM-L6-v2 (`scripts/fetch-minilm` puts it there; `scripts/test` runs it first).
fn minilm() -> PathBuf {
    let dir = repo().join(".cache/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run scripts/fetch-minilm",
        dir.display()
    );
    dir
}

fn shapes(src: &Path) -> BTreeMap<String, Vec<usize>> {
    WeightLoader::open(src.to_str().unwrap())
        .unwrap()
        .tensors()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect()
}

fn write_config(dir: &Path, config: &Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("config.json");
    std::fs::write(&p, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    p
}

fn fake_from(config: &Path, out: &Path, seed: u64) -> modelconv::ConversionReport {
    let opts = FakeOptions {
        seed,
        ..FakeOptions::default()
    };
    fake(config.to_str().unwrap(), out, &opts, &NoProgress).unwrap()
}

fn convert(src: &Path, dst: &Path, opts: &ConvertOptions) -> modelconv::ConversionReport {
    modelconv::convert(src.to_str().unwrap(), dst, opts, &NoProgress).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn minilm_is_detected_as_a_sentence_transformers_bert() {
    let r = modelconv::inspect(minilm().to_str().unwrap()).unwrap();
    assert_eq!(r.detection.family, Some(Family::Bert));
    assert!(
        r.detection.reason.contains("sentence-transformers"),
        "{}",
        r.detection.reason
    );
    let st = r.sentence_transformers.unwrap();
    assert_eq!(st.pooling_mode.as_deref(), Some("mean"));
    assert!(st.normalize);
    assert_eq!(st.max_seq_length, Some(256));
    assert_eq!(r.family_summary["hidden_size"], json!(384));
    assert_eq!(r.family_summary["num_layers"], json!(6));
}

#[test]
fn fake_from_minilm_config_has_exactly_its_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = minilm().join("config.json");
    let out = tmp.path().join("fake");
    fake_from(&cfg, &out, 1);
    let mut real = shapes(&minilm());
    // An old non-persistent buffer that this checkpoint happens to contain.
    real.remove("embeddings.position_ids");
    assert_eq!(shapes(&out), real);
    // Same seed, same bytes; another seed, other bytes.
    let again = tmp.path().join("again");
    fake_from(&cfg, &again, 1);
    let other = tmp.path().join("other");
    fake_from(&cfg, &other, 2);
    let a = std::fs::read(out.join("model.safetensors")).unwrap();
    assert_eq!(a, std::fs::read(again.join("model.safetensors")).unwrap());
    assert_ne!(a, std::fs::read(other.join("model.safetensors")).unwrap());
    // Norm weights are ones, biases zeros, weights random with std ~0.02.
    let l = WeightLoader::open(out.to_str().unwrap()).unwrap();
    assert!(l
        .get_f32("embeddings.LayerNorm.weight")
        .unwrap()
        .iter()
        .all(|v| *v == 1.0));
    assert!(l
        .get_f32("pooler.dense.bias")
        .unwrap()
        .iter()
        .all(|v| *v == 0.0));
    let w = l
        .get_f32("encoder.layer.0.intermediate.dense.weight")
        .unwrap();
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.001, "std {std}");
}

#[test]
fn fake_mirrors_an_existing_model_and_applies_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mirror");
    let opts = FakeOptions {
        init: Init::Zeros,
        dtype: Some(modelconv::DType::BF16),
        shapes: vec![("pooler.dense.weight".into(), vec![8, 384])],
        ..FakeOptions::default()
    };
    fake(minilm().to_str().unwrap(), &out, &opts, &NoProgress).unwrap();
    let mut want = shapes(&minilm());
    want.insert("pooler.dense.weight".into(), vec![8, 384]);
    assert_eq!(shapes(&out), want);
    let l = WeightLoader::open(out.to_str().unwrap()).unwrap();
    assert_eq!(
        l.info("encoder.layer.0.output.dense.weight").unwrap().dtype,
        modelconv::DType::BF16
    );
    assert_eq!(
        l.info("embeddings.position_ids").unwrap().dtype,
        modelconv::DType::I64
    );
    // The tokenizer travels along.
    assert!(out.join("tokenizer.json").is_file());
    let bad = FakeOptions {
        shapes: vec![("no.such.tensor".into(), vec![1])],
        ..FakeOptions::default()
    };
    let err = fake(
        minilm().to_str().unwrap(),
        &tmp.path().join("x"),
        &bad,
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no.such.tensor"), "{err}");
}

#[test]
fn unknown_model_type_converts_as_plain_weights_and_forcing_it_lists_families() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fake(
        minilm().join("config.json").to_str().unwrap(),
        &src,
        &FakeOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let mut cfg = read_json(&src.join("config.json"));
    cfg["model_type"] = json!("mystery");
    cfg["architectures"] = json!(["MysteryModel"]);
    write_config(&src, &cfg);
    let r = convert(&src, &tmp.path().join("out"), &ConvertOptions::default());
    let fam = r.family.unwrap();
    assert_eq!(fam.family, None);
    assert!(
        fam.detection.reason.contains("'mystery' is not a family"),
        "{}",
        fam.detection.reason
    );
    assert!(fam.detection.reason.contains("bert, clip, whisper, llama"));
    let err = Family::parse("mystery").unwrap_err().to_string();
    assert!(
        err.contains("supported: auto, bert, clip, whisper"),
        "{err}"
    );
}

fn tiny_clip_config() -> Value {
    json!({
        "model_type": "clip",
        "architectures": ["CLIPModel"],
        "projection_dim": 16,
        "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "vocab_size": 99, "max_position_embeddings": 16},
        "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    })
}

#[test]
fn clip_vision_and_text_components() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(&tmp.path().join("cfg"), &tiny_clip_config());
    let full = tmp.path().join("full");
    fake_from(&cfg, &full, 0);
    let all = shapes(&full);
    assert_eq!(
        all["vision_model.embeddings.position_embedding.weight"],
        vec![17, 32]
    );
    assert_eq!(all["logit_scale"], Vec::<usize>::new());

    for (component, prefix, proj, model_type) in [
        (
            Component::Vision,
            "vision_model.",
            "visual_projection.weight",
            "clip_vision_model",
        ),
        (
            Component::Text,
            "text_model.",
            "text_projection.weight",
            "clip_text_model",
        ),
    ] {
        let out = tmp.path().join(component.name());
        let mut opts = ConvertOptions::default();
        opts.family.component = Some(component);
        convert(&full, &out, &opts);
        let got = shapes(&out);
        let want: BTreeMap<_, _> = all
            .iter()
            .filter(|(n, _)| n.starts_with(prefix) || n.as_str() == proj)
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        assert_eq!(got, want);
        let config = read_json(&out.join("config.json"));
        assert_eq!(config["model_type"], json!(model_type));
        assert_eq!(config["projection_dim"], json!(16));
        // The config alone describes the extracted model: fake from it gives the same tensors.
        let refake = tmp.path().join(format!("{}-refake", component.name()));
        fake_from(&out.join("config.json"), &refake, 0);
        assert_eq!(shapes(&refake), want);
        // Bytes are unchanged.
        let a = WeightLoader::open(full.to_str().unwrap()).unwrap();
        let b = WeightLoader::open(out.to_str().unwrap()).unwrap();
        assert_eq!(&*a.get(proj).unwrap(), &*b.get(proj).unwrap());
        let meta = read_json(&out.join("metadata.json"));
        assert_eq!(meta["component"], json!(component.name()));
        if component == Component::Vision {
            // Exactly the seeds' CLIP fields.
            let keys: Vec<&str> = meta["config"]
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(
                keys,
                [
                    "image_size",
                    "patch_size",
                    "hidden_size",
                    "num_layers",
                    "num_attention_heads",
                    "intermediate_size",
                    "layer_norm_eps",
                    "projection_dim"
                ]
            );
            assert_eq!(meta["config"]["patch_size"], json!(8));
        }
    }
    let mut opts = ConvertOptions::default();
    opts.family.component = Some(Component::Encoder);
    let err = modelconv::convert(
        full.to_str().unwrap(),
        &tmp.path().join("bad"),
        &opts,
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("available: vision, text"), "{err}");
}

fn tiny_whisper_config() -> Value {
    json!({
        "model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"],
        "d_model": 16, "encoder_layers": 2, "decoder_layers": 1, "encoder_attention_heads": 2,
        "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
        "num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 32,
        "vocab_size": 100
    })
}

#[test]
fn whisper_encoder_extraction_and_the_seeds_key_map_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(&tmp.path().join("cfg"), &tiny_whisper_config());
    let full = tmp.path().join("full");
    fake_from(&cfg, &full, 3);
    let all = shapes(&full);
    assert!(
        !all.contains_key("proj_out.weight"),
        "tied to embed_tokens, not saved"
    );

    // --component encoder: WhisperEncoder names (no model.encoder. prefix).
    let enc = tmp.path().join("enc");
    let mut opts = ConvertOptions::default();
    opts.family.component = Some(Component::Encoder);
    convert(&full, &enc, &opts);
    let got = shapes(&enc);
    let want: BTreeMap<_, _> = all
        .iter()
        .filter_map(|(n, s)| {
            n.strip_prefix("model.encoder.")
                .map(|r| (r.to_string(), s.clone()))
        })
        .collect();
    assert_eq!(got, want);
    assert!(got.contains_key("embed_positions.weight"));
    let meta = read_json(&enc.join("metadata.json"));
    let keys: Vec<&str> = meta["config"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "n_mels",
            "hidden_size",
            "num_layers",
            "num_attention_heads",
            "intermediate_size",
            "layer_norm_eps",
            "max_positions"
        ]
    );
    assert_eq!(
        read_json(&enc.join("config.json"))["architectures"],
        json!(["WhisperEncoder"])
    );

    // The seeds' Parquet layout uses the seeds' names by default...
    let pq = tmp.path().join("pq");
    let opts = ConvertOptions {
        to: Some(Format::Parquet),
        ..ConvertOptions::default()
    };
    convert(&enc, &pq, &opts);
    let meta = read_json(&pq.join("metadata.json"));
    assert_eq!(meta["key_map"], json!("seeds"));
    assert!(meta["layer_info"]
        .get("position_embedding.weight")
        .is_some());
    assert!(meta["layer_info"].get("embed_positions.weight").is_none());
    // ...and reading it back restores the Hugging Face names and bytes.
    let back = tmp.path().join("back");
    convert(&pq, &back, &ConvertOptions::default());
    assert_eq!(shapes(&back), got);
    let a = WeightLoader::open(enc.to_str().unwrap()).unwrap();
    let b = WeightLoader::open(back.to_str().unwrap()).unwrap();
    for t in a.tensors() {
        assert_eq!(
            &*a.get(&t.name).unwrap(),
            &*b.get(&t.name).unwrap(),
            "{}",
            t.name
        );
    }
    // --key-map hf keeps Hugging Face names in the seeds' layout.
    let pq_hf = tmp.path().join("pq-hf");
    let mut opts = ConvertOptions {
        to: Some(Format::Parquet),
        ..ConvertOptions::default()
    };
    opts.family.key_map = Some(KeyMap::Hf);
    convert(&enc, &pq_hf, &opts);
    assert!(read_json(&pq_hf.join("metadata.json"))["layer_info"]
        .get("embed_positions.weight")
        .is_some());
    // --key-map seeds on a safetensors output renames too.
    let st = tmp.path().join("st-seeds");
    let mut opts = ConvertOptions::default();
    opts.family.key_map = Some(KeyMap::Seeds);
    convert(&full, &st, &opts);
    let names = shapes(&st);
    assert!(names.contains_key("model.encoder.position_embedding.weight"));
    assert!(
        names.contains_key("model.decoder.embed_positions.weight"),
        "decoder names are kept"
    );
}

fn tiny_minicpm_config(tied: bool) -> Value {
    json!({
        "model_type": "minicpm", "architectures": ["MiniCPMForCausalLM"],
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 50,
        "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "tie_word_embeddings": tied,
        "scale_emb": 12.0, "scale_depth": 1.4, "dim_model_base": 8
    })
}

#[test]
fn mup_folding_scales_exactly_the_documented_tensors() {
    for tied in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write_config(&tmp.path().join("cfg"), &tiny_minicpm_config(tied));
        let src = tmp.path().join("src");
        fake_from(&cfg, &src, 5);
        assert_eq!(shapes(&src).contains_key("lm_head.weight"), !tied);
        let out = tmp.path().join("llama");
        let mut opts = ConvertOptions::default();
        opts.family.mup_to_llama = true;
        convert(&src, &out, &opts);
        let config = read_json(&out.join("config.json"));
        assert_eq!(config["model_type"], json!("llama"));
        assert_eq!(config["tie_word_embeddings"], json!(false));
        assert!(config.get("scale_emb").is_none());
        let a = WeightLoader::open(src.to_str().unwrap()).unwrap();
        let b = WeightLoader::open(out.to_str().unwrap()).unwrap();
        let residual = (1.4f64 / 4f64.sqrt()) as f32;
        let head = (8.0f64 / 32.0) as f32;
        for t in b.tensors() {
            let got = b.get_f32(&t.name).unwrap();
            let (src_name, factor) = match t.name.as_str() {
                "model.embed_tokens.weight" => (t.name.as_str(), 12.0f32),
                "lm_head.weight" if tied => ("model.embed_tokens.weight", head),
                "lm_head.weight" => (t.name.as_str(), head),
                n if n.contains("o_proj") || n.contains("down_proj") => (n, residual),
                n => (n, 1.0),
            };
            let orig = a.get_f32(src_name).unwrap();
            let want: Vec<f32> = orig.iter().map(|v| v * factor).collect();
            assert_eq!(got, want, "{}", t.name);
        }
        assert_eq!(b.len(), a.len() + usize::from(tied));
    }
}

#[test]
fn decoder_fakes_follow_gqa_head_dim_bias_and_tying() {
    let tmp = tempfile::tempdir().unwrap();
    let base = json!({"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 1,
                      "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 70});
    let cases = [
        (
            "llama",
            json!({}),
            vec![
                ("model.layers.0.self_attn.k_proj.weight", vec![32, 64]),
                ("lm_head.weight", vec![70, 64]),
            ],
        ),
        (
            "qwen2",
            json!({"tie_word_embeddings": true}),
            vec![
                ("model.layers.0.self_attn.q_proj.bias", vec![64]),
                ("model.layers.0.self_attn.v_proj.bias", vec![32]),
            ],
        ),
        (
            "gemma",
            json!({"head_dim": 32}),
            vec![
                ("model.layers.0.self_attn.q_proj.weight", vec![128, 64]),
                ("model.layers.0.self_attn.o_proj.weight", vec![64, 128]),
            ],
        ),
        (
            "mistral",
            json!({}),
            vec![("model.layers.0.mlp.down_proj.weight", vec![64, 96])],
        ),
    ];
    for (mt, extra, expect) in cases {
        let mut cfg = base.clone();
        cfg["model_type"] = json!(mt);
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        let p = write_config(&tmp.path().join(format!("cfg-{mt}")), &cfg);
        let out = tmp.path().join(mt);
        fake_from(&p, &out, 0);
        let got = shapes(&out);
        for (name, shape) in expect {
            assert_eq!(got.get(name), Some(&shape), "{mt}: {name}");
        }
        let tied = mt == "qwen2" || mt == "gemma";
        assert_eq!(got.contains_key("lm_head.weight"), !tied, "{mt}");
        assert_eq!(
            got.contains_key("model.layers.0.self_attn.q_proj.bias"),
            mt == "qwen2",
            "{mt}"
        );
        let meta = read_json(&out.join("metadata.json"));
        assert_eq!(meta["family"], json!(mt));
        assert_eq!(meta["config"]["num_key_value_heads"], json!(2));
    }
}

#[test]
fn metadata_json_for_minilm_and_no_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    convert(&minilm(), &out, &ConvertOptions::default());
    let meta = read_json(&out.join("metadata.json"));
    assert_eq!(meta["model_type"], json!("bert"));
    assert_eq!(meta["family"], json!("bert"));
    assert_eq!(meta["total_parameters"], json!(22_713_728));
    assert_eq!(meta["num_weight_tensors"], json!(104));
    assert_eq!(meta["config"]["pooling_mode"], json!("mean"));
    assert_eq!(meta["config"]["max_seq_length"], json!(256));
    assert_eq!(meta["hf_config"]["hidden_size"], json!(384));
    assert_eq!(
        meta["layer_info"]["encoder.layer.0.attention.self.query.weight"]["shape"],
        json!([384, 384])
    );
    assert!(meta["converted_at"].as_str().unwrap().ends_with('Z'));
    let out2 = tmp.path().join("out2");
    let mut opts = ConvertOptions::default();
    opts.family.no_metadata = true;
    convert(&minilm(), &out2, &opts);
    assert!(!out2.join("metadata.json").exists());
}

#[test]
fn tokenizer_json_is_built_from_vocab_txt() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(minilm().join(f), src.join(f)).unwrap();
    }
    let out = tmp.path().join("out");
    let r = convert(&src, &out, &ConvertOptions::default());
    assert_eq!(
        r.family.unwrap().generated_files,
        vec!["tokenizer.json".to_string()]
    );
    let built = read_json(&out.join("tokenizer.json"));
    let original = read_json(&minilm().join("tokenizer.json"));
    // Same vocabulary, normalizer, pre-tokenizer and model settings as the
    // tokenizer.json transformers wrote for this model.
    assert_eq!(built["model"]["vocab"], original["model"]["vocab"]);
    for key in [
        "unk_token",
        "continuing_subword_prefix",
        "max_input_chars_per_word",
    ] {
        assert_eq!(built["model"][key], original["model"][key], "{key}");
    }
    assert_eq!(built["normalizer"], original["normalizer"]);
    assert_eq!(built["pre_tokenizer"], original["pre_tokenizer"]);
    assert_eq!(built["post_processor"], original["post_processor"]);
    assert_eq!(built["decoder"], original["decoder"]);
    // A source that has tokenizer.json keeps it byte for byte.
    let out2 = tmp.path().join("out2");
    convert(&minilm(), &out2, &ConvertOptions::default());
    assert_eq!(
        std::fs::read(out2.join("tokenizer.json")).unwrap(),
        std::fs::read(minilm().join("tokenizer.json")).unwrap()
    );
}

#[test]
fn verify_pairs_tensors_through_modelconvs_own_renames() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(&tmp.path().join("cfg"), &tiny_whisper_config());
    let full = tmp.path().join("full");
    fake_from(&cfg, &full, 3);
    let enc = tmp.path().join("enc");
    let mut opts = ConvertOptions::default();
    opts.family.component = Some(Component::Encoder);
    opts.family.key_map = Some(KeyMap::Seeds);
    convert(&full, &enc, &opts);
    assert!(shapes(&enc).contains_key("position_embedding.weight"));
    let exact = modelconv::VerifyOptions {
        exact: true,
        ..Default::default()
    };
    let v = modelconv::verify(full.to_str().unwrap(), enc.to_str().unwrap(), &exact).unwrap();
    assert!(!v.passed, "the decoder is missing");
    assert!(v.missing.iter().all(|n| n.starts_with("model.decoder.")));
    assert!(v.extra.is_empty(), "{:?}", v.extra);
    let subset = modelconv::VerifyOptions {
        exact: true,
        allow_missing: true,
        ..Default::default()
    };
    let v = modelconv::verify(full.to_str().unwrap(), enc.to_str().unwrap(), &subset).unwrap();
    assert!(v.passed);
    assert_eq!(v.compared, shapes(&enc).len());
    assert_eq!(v.bit_exact, v.compared);

    // muP folding: not bit-exact, but every tensor keeps its direction.
    let cfg = write_config(&tmp.path().join("mcfg"), &tiny_minicpm_config(true));
    let src = tmp.path().join("mup");
    fake_from(&cfg, &src, 5);
    let out = tmp.path().join("folded");
    let mut opts = ConvertOptions::default();
    opts.family.mup_to_llama = true;
    convert(&src, &out, &opts);
    let v = modelconv::verify(src.to_str().unwrap(), out.to_str().unwrap(), &exact).unwrap();
    assert!(!v.passed);
    assert!(
        v.extra.is_empty() && v.missing.is_empty(),
        "lm_head pairs with the embedding"
    );
    let cos = modelconv::VerifyOptions {
        min_cosine: Some(0.9999),
        ..Default::default()
    };
    let v = modelconv::verify(src.to_str().unwrap(), out.to_str().unwrap(), &cos).unwrap();
    assert!(
        v.passed,
        "{:?}",
        v.tensors.iter().filter(|t| !t.passed).collect::<Vec<_>>()
    );
}

/// Fixtures made by transformers (tests/data/families/make_family_fixtures.py).
fn fixture(name: &str) -> PathBuf {
    repo().join("tests/data/families").join(name)
}

fn key_list(path: &Path) -> BTreeMap<String, Vec<usize>> {
    let v: Vec<(String, Vec<usize>)> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v.into_iter().collect()
}

#[test]
fn every_transformers_fixture_is_detected_and_faked_exactly() {
    let manifest = read_json(&repo().join("tests/data/families/families_manifest.json"));
    let manifest = manifest.as_object().unwrap();
    assert!(manifest.len() >= 10, "{manifest:?}");
    let tmp = tempfile::tempdir().unwrap();
    for (name, entry) in manifest {
        let dir = fixture(name);
        let want_family = entry["family"].as_str().unwrap();
        let r = modelconv::inspect(dir.to_str().unwrap()).unwrap();
        assert_eq!(
            r.detection.family.map(|f| f.name()),
            Some(want_family),
            "{name}: {}",
            r.detection.reason
        );
        let keys = dir.join("reference/keys.json");
        if !keys.exists() {
            continue;
        }
        // `fake` from config.json alone: exactly the tensors transformers saved.
        let out = tmp.path().join(name);
        fake_from(&dir.join("config.json"), &out, 0);
        assert_eq!(shapes(&out), key_list(&keys), "{name}");
        assert_eq!(shapes(&dir), key_list(&keys), "{name}: the fixture itself");
    }
}

#[test]
fn components_have_the_keys_of_the_transformers_classes() {
    let tmp = tempfile::tempdir().unwrap();
    for (fixture_name, component, keys) in [
        ("clip", Component::Vision, "vision_keys.json"),
        ("clip", Component::Text, "text_keys.json"),
        ("whisper", Component::Encoder, "encoder_keys.json"),
    ] {
        let src = fixture(fixture_name);
        let out = tmp.path().join(component.name());
        let mut opts = ConvertOptions::default();
        opts.family.component = Some(component);
        convert(&src, &out, &opts);
        // CLIPVisionModelWithProjection / CLIPTextModelWithProjection / WhisperEncoder
        // state dicts: no missing and no unexpected keys.
        assert_eq!(
            shapes(&out),
            key_list(&src.join("reference").join(keys)),
            "{component}"
        );
        // Every value is the full model's.
        let v = modelconv::verify(
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            &modelconv::VerifyOptions {
                exact: true,
                allow_missing: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(v.passed && v.bit_exact == v.compared, "{component}");
    }
}
