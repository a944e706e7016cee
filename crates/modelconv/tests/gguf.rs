//! GGUF: HF → GGUF → HF round trips for every decoder family and BERT,
//! Q8_0, and hostile containers. (gguf-py interop is in tests/python/test_gguf.py.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use modelconv::{ConvertOptions, NoProgress, VerifyOptions};
use modelconv_core::InvalidKind;

fn fam(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/families")
        .join(name)
}

fn convert(src: &Path, dst: &Path, opts: &ConvertOptions) -> modelconv::ConversionReport {
    modelconv::convert(src.to_str().unwrap(), dst, opts, &NoProgress).unwrap()
}

fn gguf_opts(ty: &str) -> ConvertOptions {
    ConvertOptions {
        gguf_preset: Some(modelconv::gguf_preset(ty).unwrap()),
        ..ConvertOptions::default()
    }
}

#[test]
fn hf_to_gguf_to_hf_is_bit_exact_in_f32_for_every_family() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["llama", "mistral", "qwen2", "gemma", "minicpm", "bert"] {
        let g = tmp.path().join(format!("{name}.gguf"));
        let r = convert(&fam(name), &g, &gguf_opts("f32"));
        assert_eq!(r.output_format, "gguf");
        // Read back: HF names, Q/K permutation and Gemma's norm offset undone.
        let v = modelconv::verify(
            fam(name).to_str().unwrap(),
            g.to_str().unwrap(),
            &VerifyOptions {
                exact: true,
                allow_missing: name == "bert",
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            v.passed,
            "{name}: {:?}",
            v.tensors.iter().filter(|t| !t.passed).collect::<Vec<_>>()
        );
        assert!(v.extra.is_empty(), "{name}: {:?}", v.extra);
        if name == "bert" {
            // llama.cpp's BERT has no pooler.
            assert!(
                v.missing.iter().all(|m| m.starts_with("pooler.")),
                "{:?}",
                v.missing
            );
        } else {
            assert!(v.missing.is_empty(), "{name}: {:?}", v.missing);
        }
        let back = modelconv::inspect(g.to_str().unwrap()).unwrap();
        assert_eq!(
            back.detection.family.map(|f| f.name()),
            Some(if name == "mistral" { "llama" } else { name })
        );
    }
}

#[test]
fn bf16_model_round_trips_losslessly_and_q8_0_stays_close() {
    let tmp = tempfile::tempdir().unwrap();
    let bf16 = tmp.path().join("bf16");
    convert(
        &fam("llama"),
        &bf16,
        &ConvertOptions {
            dtype: Some(modelconv::DType::BF16),
            ..Default::default()
        },
    );
    let g = tmp.path().join("m.gguf");
    convert(
        &bf16,
        &g,
        &ConvertOptions {
            dtype: Some(modelconv::DType::BF16),
            ..Default::default()
        },
    );
    let back = tmp.path().join("back");
    convert(
        &g,
        &back,
        &ConvertOptions {
            dtype: Some(modelconv::DType::BF16),
            ..Default::default()
        },
    );
    let v = modelconv::verify(
        bf16.to_str().unwrap(),
        back.to_str().unwrap(),
        &VerifyOptions {
            exact: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(v.passed && v.bit_exact == v.compared, "{v:?}");
    // Q8_0: every weight within half a quantization step of its block scale → cosine ~1.
    let q = tmp.path().join("q8.gguf");
    let r = convert(&fam("llama"), &q, &gguf_opts("q8_0"));
    // 2 layers × 7 matrices + token_embd + output; norms stay F32.
    assert_eq!(r.dtypes.get("Q8_0"), Some(&16), "{:?}", r.dtypes);
    assert_eq!(r.dtypes.get("F32"), Some(&5), "{:?}", r.dtypes);
    let v = modelconv::verify(
        fam("llama").to_str().unwrap(),
        q.to_str().unwrap(),
        &VerifyOptions {
            min_cosine: Some(0.9999),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        v.passed,
        "{:?}",
        v.tensors.iter().map(|t| t.cosine).fold(1.0, f64::min)
    );
}

#[test]
fn gguf_needs_a_known_family_and_a_supported_type() {
    let tmp = tempfile::tempdir().unwrap();
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/tiny/all_dtypes.safetensors");
    let err = modelconv::convert(
        tiny.to_str().unwrap(),
        &tmp.path().join("x.gguf"),
        &gguf_opts("f16"),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("GGUF output needs a model family"), "{err}");
    let err = modelconv::gguf_preset("q7_k").unwrap_err().to_string();
    assert!(
        err.contains("unknown GGUF type 'q7_k'") && err.contains("Q4_K_M"),
        "{err}"
    );
}

/// A minimal GGUF v3 file builder for hostile cases.
struct B(Vec<u8>);
impl B {
    fn new(n_tensors: u64, n_kv: u64) -> B {
        let mut v = b"GGUF".to_vec();
        v.extend(3u32.to_le_bytes());
        v.extend(n_tensors.to_le_bytes());
        v.extend(n_kv.to_le_bytes());
        B(v)
    }
    fn s(mut self, s: &str) -> B {
        self.0.extend((s.len() as u64).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    fn u32(mut self, x: u32) -> B {
        self.0.extend(x.to_le_bytes());
        self
    }
    fn u64(mut self, x: u64) -> B {
        self.0.extend(x.to_le_bytes());
        self
    }
    fn tensor(self, name: &str, dims: &[u64], ty: u32, off: u64) -> B {
        let mut b = self.s(name).u32(dims.len() as u32);
        for d in dims {
            b = b.u64(*d);
        }
        b.u32(ty).u64(off)
    }
    fn pad_data(mut self, n: usize) -> B {
        while !self.0.len().is_multiple_of(32) {
            self.0.push(0);
        }
        self.0.extend(vec![0u8; n]);
        self
    }
}

#[test]
fn hostile_gguf_files_give_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, InvalidKind)> = vec![
        (
            "truncated header",
            b"GGUF\x03\0\0\0\x01".to_vec(),
            InvalidKind::Truncated,
        ),
        (
            "bad version",
            B::new(0, 0)
                .0
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 4 { 9 } else { *b })
                .collect(),
            InvalidKind::UnknownFormat,
        ),
        (
            "tensor count bomb",
            B::new(u64::MAX / 2, 0).0,
            InvalidKind::Truncated,
        ),
        (
            "kv count bomb",
            B::new(0, 1 << 60).0,
            InvalidKind::Truncated,
        ),
        (
            "string length wrap",
            B::new(0, 1).u64(u64::MAX).0,
            InvalidKind::Truncated,
        ),
        (
            "array bomb",
            B::new(0, 1).s("a").u32(9).u32(4).u64(1 << 60).0,
            InvalidKind::Truncated,
        ),
        (
            "nested arrays too deep",
            {
                let mut b = B::new(0, 1).s("a").u32(9);
                for _ in 0..6 {
                    b = b.u32(9).u64(1);
                }
                b.u32(4).u64(0).0
            },
            InvalidKind::LimitExceeded,
        ),
        (
            "duplicate key",
            B::new(0, 2).s("k").u32(4).u32(1).s("k").u32(4).u32(2).0,
            InvalidKind::DuplicateKey,
        ),
        (
            "bad value type",
            B::new(0, 1).s("k").u32(77).u32(0).0,
            InvalidKind::BadMetadata,
        ),
        (
            "absurd alignment",
            B::new(0, 1).s("general.alignment").u32(4).u32(3).0,
            InvalidKind::BadMetadata,
        ),
        (
            "too many dims",
            B::new(1, 0)
                .tensor("t", &[1, 1, 1, 1, 1], 0, 0)
                .pad_data(4)
                .0,
            InvalidKind::BadShape,
        ),
        (
            "zero dim",
            B::new(1, 0).tensor("t", &[4, 0], 0, 0).pad_data(4).0,
            InvalidKind::BadShape,
        ),
        (
            "dims overflow",
            B::new(1, 0)
                .tensor("t", &[1 << 40, 1 << 40], 0, 0)
                .pad_data(4)
                .0,
            InvalidKind::BadShape,
        ),
        (
            "unknown type id",
            B::new(1, 0).tensor("t", &[4], 99, 0).pad_data(16).0,
            InvalidKind::BadDtype,
        ),
        (
            "row not a block multiple",
            B::new(1, 0).tensor("t", &[31], 8, 0).pad_data(64).0,
            InvalidKind::BadShape,
        ),
        (
            "unaligned offset",
            B::new(1, 0).tensor("t", &[4], 0, 3).pad_data(64).0,
            InvalidKind::OffsetOutOfBounds,
        ),
        (
            "data past the end",
            B::new(1, 0).tensor("t", &[64], 0, 0).pad_data(16).0,
            InvalidKind::OffsetOutOfBounds,
        ),
        (
            "overlapping tensors",
            B::new(2, 0)
                .tensor("a", &[16], 0, 0)
                .tensor("b", &[16], 0, 32)
                .pad_data(128)
                .0,
            InvalidKind::OverlappingOffsets,
        ),
        (
            "duplicate tensor",
            B::new(2, 0)
                .tensor("a", &[8], 0, 0)
                .tensor("a", &[8], 0, 32)
                .pad_data(128)
                .0,
            InvalidKind::DuplicateTensor,
        ),
        (
            "name not utf-8",
            {
                let mut b = B::new(1, 0);
                b.0.extend(2u64.to_le_bytes());
                b.0.extend([0xff, 0xfe]);
                b.u32(1).u64(4).u32(0).u64(0).pad_data(16).0
            },
            InvalidKind::HeaderNotUtf8,
        ),
    ];
    for (what, bytes, kind) in cases {
        let p = tmp.path().join("bad.gguf");
        std::fs::write(&p, &bytes).unwrap();
        let t = std::time::Instant::now();
        let err = modelconv::inspect(p.to_str().unwrap()).unwrap_err();
        assert_eq!(err.invalid_kind(), Some(kind), "{what}: {err}");
        assert!(err.to_string().contains("bad.gguf"), "{what}: {err}");
        assert!(t.elapsed().as_secs_f64() < 1.0, "{what}");
    }
    // Every truncation point of a valid file is a clear error, never a panic.
    let good = tmp.path().join("good.gguf");
    convert(&fam("qwen2"), &good, &gguf_opts("f16"));
    let bytes = std::fs::read(&good).unwrap();
    let header_end = 4096.min(bytes.len());
    // The file is padded to the alignment after the last tensor (as gguf-py
    // writes it), so cut inside the last tensor's data, not the padding.
    let parsed = modelconv_gguf::read(&good).unwrap();
    let data_end = parsed
        .tensor_range(parsed.tensors.last().unwrap())
        .unwrap()
        .end;
    for cut in (0..header_end).step_by(7).chain([data_end - 1]) {
        let p = tmp.path().join("cut.gguf");
        std::fs::write(&p, &bytes[..cut]).unwrap();
        assert!(
            modelconv::inspect(p.to_str().unwrap()).is_err(),
            "cut at {cut}"
        );
    }
}

/// Every llama-quantize preset, made in one step from HF, against what
/// llama.cpp's own llama-quantize made from modelconv's F32 GGUF of the same
/// fake model (tests/data/quant/make_llama_quantize_refs.py): the same type
/// for every tensor (the _M mixes, the output at Q6_K, the fallbacks for
/// rows of 672), and the same bytes (the kernels equal ggml's reference
/// quantizers).
#[test]
fn presets_match_llama_quantize_tensor_by_tensor() {
    use sha2::{Digest, Sha256};
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/quant");
    let refs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("llama_quantize_refs.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("llama12");
    modelconv::fake::fake(
        data.join("llama12").to_str().unwrap(),
        &model,
        &modelconv::fake::FakeOptions {
            seed: 7,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    let presets = refs["presets"].as_object().unwrap();
    assert_eq!(presets.len(), 14);
    let mut mismatched = Vec::new();
    for (preset, want) in presets {
        let out = tmp.path().join(format!("{preset}.gguf"));
        // Lower case on purpose: names are case-insensitive.
        let r = convert(&model, &out, &gguf_opts(&preset.to_lowercase()));
        let f = modelconv_gguf::read(&out).unwrap();
        // llama.cpp's tensor order too (outside blocks, then block by block).
        let order: Vec<&str> = f.tensors.iter().map(|t| t.name.as_str()).collect();
        let want_order: Vec<&str> = refs["order"][preset]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(order, want_order, "{preset}: tensor order");
        let want = want.as_object().unwrap();
        assert_eq!(f.tensors.len(), want.len(), "{preset}");
        let mut fallbacks = 0;
        for t in &f.tensors {
            let w = &want[&t.name];
            let sha = modelconv_core::checksum::hex(&Sha256::digest(f.tensor_data(t).unwrap()));
            if t.ggml_type.name != w[0] {
                mismatched.push(format!(
                    "{preset} {}: type {} vs {}",
                    t.name, t.ggml_type, w[0]
                ));
            } else if sha != w[1].as_str().unwrap() {
                mismatched.push(format!("{preset} {}: {} bytes differ", t.name, t.ggml_type));
            }
            if t.name.contains("ffn_down") && t.ggml_type.block_size < 256 {
                fallbacks += 1;
            }
        }
        // The report lists every fallback (ffn_down rows of 672 in k-quant mixes).
        let listed = r
            .warnings
            .iter()
            .filter(|w| w.contains("are not a multiple of"))
            .count();
        if preset.contains("_K") {
            assert_eq!(listed, fallbacks, "{preset}: {:?}", r.warnings);
            assert!(listed > 0, "{preset}");
        }
        assert_eq!(
            f.get("general.file_type")
                .and_then(modelconv_gguf::Value::as_u64),
            Some(u64::from(modelconv::gguf_preset(preset).unwrap().file_type))
        );
    }
    assert!(
        mismatched.is_empty(),
        "{} mismatches:\n{}",
        mismatched.len(),
        mismatched.join("\n")
    );
}

/// gguf-split compatible parts: split into 3, read the model by its first
/// part, merge back byte-identical; requantizing warns and keeps the tokenizer.
#[test]
fn split_merge_and_requantize() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("m.gguf");
    convert(&fam("llama"), &whole, &gguf_opts("q8_0"));
    let size = std::fs::metadata(&whole).unwrap().len();

    let parts_dir = tmp.path().join("parts");
    let r = convert(
        &whole,
        &parts_dir.join("m.gguf"),
        &ConvertOptions {
            max_shard_size: Some(size / 3),
            ..ConvertOptions::default()
        },
    );
    let names: Vec<String> = r
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let n = names.len();
    assert!(n >= 3, "{names:?}");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(name, &format!("m-{:05}-of-{n:05}.gguf", i + 1));
        let f = modelconv_gguf::read(&parts_dir.join(name)).unwrap();
        let u = |k: &str| f.get(k).and_then(modelconv_gguf::Value::as_u64);
        assert_eq!(u("split.no"), Some(i as u64));
        assert_eq!(u("split.count"), Some(n as u64));
        assert!(u("split.tensors.count").unwrap() > 0);
        // All model metadata in the first part only, as gguf-split writes it.
        assert_eq!(f.get("general.architecture").is_some(), i == 0, "{name}");
    }
    let first = parts_dir.join(&names[0]);
    // The split model reads like the whole one (by its first part).
    let v = modelconv::verify(
        whole.to_str().unwrap(),
        first.to_str().unwrap(),
        &VerifyOptions {
            exact: true,
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(v.passed && v.compared > 0 && v.missing.is_empty(), "{v:?}");
    // Merge: byte-identical to the file that was split.
    let merged = tmp.path().join("merged.gguf");
    convert(&first, &merged, &ConvertOptions::default());
    assert!(std::fs::read(&merged).unwrap() == std::fs::read(&whole).unwrap());
    // A missing part is a clear error.
    std::fs::remove_file(parts_dir.join(&names[1])).unwrap();
    let err = modelconv::convert(
        first.to_str().unwrap(),
        &tmp.path().join("x.gguf"),
        &ConvertOptions::default(),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("part 2 is missing"), "{err}");

    // Requantize Q8_0 → Q4_0: warned, tokenizer metadata kept.
    let re = tmp.path().join("re.gguf");
    let r = convert(&whole, &re, &gguf_opts("Q4_0"));
    assert!(
        r.warnings.iter().any(|w| w.contains("requantizing")),
        "{:?}",
        r.warnings
    );
    let (a, b) = (
        modelconv_gguf::read(&whole).unwrap(),
        modelconv_gguf::read(&re).unwrap(),
    );
    for key in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.merges",
    ] {
        assert_eq!(a.get(key), b.get(key), "{key}");
        assert!(a.get(key).is_some(), "{key}");
    }
    assert_eq!(
        b.tensor("blk.0.attn_q.weight").unwrap().ggml_type.name,
        "Q4_0"
    );
}

/// tokenizer.ggml.pre as llama.cpp's converter finds it: modelconv's
/// fingerprint of the fixture tokenizer equals the one transformers gives
/// (tests/data/families/make_fingerprints.py); unknown to llama.cpp, a plain
/// ByteLevel tokenizer is gpt-2, LLaMA-3's split regex is llama-bpe, and an
/// unknown regex is refused.
#[test]
fn tokenizer_pre_from_fingerprint_or_split_regex() {
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fam("tokenizer_fingerprints.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let r = convert(&fam("llama"), &tmp.path().join("a.gguf"), &gguf_opts("f16"));
    let fp = want["llama"].as_str().unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(fp) && w.contains("'gpt-2'")),
        "{:?}",
        r.warnings
    );
    let pre = |p: &Path| {
        modelconv_gguf::read(p)
            .unwrap()
            .get("tokenizer.ggml.pre")
            .and_then(modelconv_gguf::Value::as_str)
            .map(str::to_string)
    };
    assert_eq!(pre(&tmp.path().join("a.gguf")).as_deref(), Some("gpt-2"));

    // The same model with LLaMA-3's pre-tokenizer.
    let dir = tmp.path().join("llama3ish");
    std::fs::create_dir(&dir).unwrap();
    for f in std::fs::read_dir(fam("llama")).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let mut tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
    let llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    let with_split = |regex: &str| {
        serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]})
    };
    tok["pre_tokenizer"] = with_split(llama3);
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    let r = convert(&dir, &tmp.path().join("b.gguf"), &gguf_opts("f16"));
    assert_eq!(
        pre(&tmp.path().join("b.gguf")).as_deref(),
        Some("llama-bpe"),
        "{:?}",
        r.warnings
    );

    tok["pre_tokenizer"] = with_split(r"\p{L}+|\s+");
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
    let err = modelconv::convert(
        dir.to_str().unwrap(),
        &tmp.path().join("c.gguf"),
        &gguf_opts("f16"),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("refusing rather than tokenizing wrongly"),
        "{err}"
    );
}

/// GGUF → HF rebuilds tokenizer.json from the GGUF tokenizer metadata: the
/// byte-level BPE (LLaMA fixture) and WordPiece (BERT fixture, and the real
/// all-MiniLM-L6-v2 when fetched) tokenizers give the original ids on 300
/// mixed strings (unicode, CJK, emoji, whitespace, numbers).
#[test]
fn gguf_to_hf_rebuilds_the_tokenizer() {
    let strings: Vec<String> =
        serde_json::from_slice(&std::fs::read(fam("tokenizer_strings.json")).unwrap()).unwrap();
    let minilm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/all-MiniLM-L6-v2");
    let mut models = vec![fam("llama"), fam("bert")];
    if minilm.join("tokenizer.json").exists() {
        models.push(minilm);
    }
    let tmp = tempfile::tempdir().unwrap();
    for (i, src) in models.iter().enumerate() {
        let g = tmp.path().join(format!("{i}.gguf"));
        convert(src, &g, &gguf_opts("f16"));
        let back = tmp.path().join(format!("{i}-hf"));
        let r = convert(&g, &back, &ConvertOptions::default());
        assert!(
            back.join("tokenizer.json").exists(),
            "{}: {:?}",
            src.display(),
            r.warnings
        );
        let mut orig = tokenizers::Tokenizer::from_file(src.join("tokenizer.json")).unwrap();
        // Padding and truncation settings are not tokenizer metadata GGUF keeps.
        orig.with_padding(None);
        orig.with_truncation(None).unwrap();
        let rebuilt = tokenizers::Tokenizer::from_file(back.join("tokenizer.json")).unwrap();
        let mut differ = Vec::new();
        for s in &strings {
            let a = orig.encode(s.as_str(), true).unwrap();
            let b = rebuilt.encode(s.as_str(), true).unwrap();
            if a.get_ids() != b.get_ids() {
                differ.push(format!("{s:?}: {:?} vs {:?}", a.get_ids(), b.get_ids()));
            }
        }
        assert!(
            differ.is_empty(),
            "{}: {} of {} strings differ, e.g. {}",
            src.display(),
            differ.len(),
            strings.len(),
            differ.first().unwrap()
        );
    }
}

/// A LLaMA with a SentencePiece tokenizer.model (BPE with byte fallback and
/// a user-defined piece, like LLaMA-2's): the GGUF vocabulary equals what
/// llama.cpp's own convert_hf_to_gguf.py writes for the same directory
/// (tests/data/families/spm/make_spm_fixture.py) — tokens, scores, types,
/// BOS/EOS ids, add_bos/add_eos.
#[test]
fn sentencepiece_vocab_equals_llama_cpp_converter() {
    let spm = fam("spm");
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(spm.join("llama_cpp_vocab.json")).unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("llama-spm");
    std::fs::create_dir(&dir).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fam("llama").join(f), dir.join(f)).unwrap();
    }
    for f in ["tokenizer.model", "tokenizer_config.json"] {
        std::fs::copy(spm.join(f), dir.join(f)).unwrap();
    }
    let out = tmp.path().join("spm.gguf");
    convert(&dir, &out, &gguf_opts("f16"));
    let g = modelconv_gguf::read(&out).unwrap();
    let as_json = |k: &str| g.get(k).map(modelconv_gguf::convert::json_value);
    for (k, v) in want.as_object().unwrap() {
        let got = as_json(k).unwrap_or_else(|| panic!("{k} missing"));
        if k == "tokenizer.ggml.scores" {
            let (a, b) = (got.as_array().unwrap(), v.as_array().unwrap());
            assert_eq!(a.len(), b.len());
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_eq!(
                    x.as_f64().unwrap() as f32,
                    y.as_f64().unwrap() as f32,
                    "score {i}"
                );
            }
        } else {
            assert_eq!(&got, v, "{k}");
        }
    }
    // modelconv also names the unknown token (SentencePiece's id 0).
    assert_eq!(
        as_json("tokenizer.ggml.unknown_token_id"),
        Some(serde_json::json!(0))
    );
    // Back to HF: the rebuilt tokenizer.json (LlamaTokenizerFast's form)
    // gives sentencepiece's own ids on the 300 test strings.
    let back = tmp.path().join("back");
    convert(&out, &back, &ConvertOptions::default());
    let mut tok = tokenizers::Tokenizer::from_file(back.join("tokenizer.json")).unwrap();
    // sentencepiece reads "<s>" in text as characters; so must the comparison.
    tok.set_encode_special_tokens(true);
    let strings: Vec<String> =
        serde_json::from_slice(&std::fs::read(fam("tokenizer_strings.json")).unwrap()).unwrap();
    let want: Vec<Vec<u32>> =
        serde_json::from_slice(&std::fs::read(spm.join("spm_ids.json")).unwrap()).unwrap();
    let differ: Vec<String> = strings
        .iter()
        .zip(&want)
        .filter_map(|(s, w)| {
            let got = tok.encode(s.as_str(), true).unwrap().get_ids().to_vec();
            (got != *w).then(|| format!("{s:?}: {got:?} vs {w:?}"))
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{} of {} differ, e.g. {}",
        differ.len(),
        strings.len(),
        differ.first().unwrap()
    );
}
