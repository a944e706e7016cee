//! End-to-end conversions through the CLI, checked with the reference
//! `safetensors` crate and numpy-made reference values (tests/data).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn lossless_copy_of_every_dtype_is_byte_identical() {
    // The fixture is written in the reference writer's layout, so an
    // unchanged conversion must reproduce the file exactly.
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/all_dtypes.safetensors");
    let dst = tmp.path().join("out.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(std::fs::read(&dst).unwrap(), std::fs::read(&src).unwrap());
    // And to an HF directory, tensors are unchanged.
    let dir = tmp.path().join("dir");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(all_tensors(&dir), tensors(&src));
}

#[test]
fn f32_to_f16_and_back_matches_numpy_astype_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/f32_values.safetensors");
    let reference = data().join("tiny/f32_values.f16_ref.safetensors");
    let half = tmp.path().join("half.safetensors");
    let out = modelconv(&[
        "convert",
        src.to_str().unwrap(),
        half.to_str().unwrap(),
        "--dtype",
        "f16",
        "--json",
    ]);
    ok(&out);
    let report = json(&out);
    assert_eq!(
        u16s(&tensor_bytes(&half, "x")),
        u16s(&tensor_bytes(&reference, "x"))
    );

    // Overflow warnings: count finite inputs that numpy turned into ±Inf.
    let input = f32s(&tensor_bytes(&src, "x"));
    let numpy16 = u16s(&tensor_bytes(&reference, "x"));
    let expected_overflows = input
        .iter()
        .zip(&numpy16)
        .filter(|(v, h)| v.is_finite() && (**h & 0x7fff) == 0x7c00)
        .count();
    assert!(expected_overflows > 0);
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains(&format!("{expected_overflows} finite values overflowed"))),
        "{warnings:?}"
    );

    let back = tmp.path().join("back.safetensors");
    ok(&modelconv(&[
        "convert",
        half.to_str().unwrap(),
        back.to_str().unwrap(),
        "--dtype",
        "f32",
        "--quiet",
    ]));
    let got: Vec<u32> = f32s(&tensor_bytes(&back, "x"))
        .iter()
        .map(|v| v.to_bits())
        .collect();
    let want: Vec<u32> = f32s(&tensor_bytes(&reference, "x_back"))
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn f32_to_bf16_rounds_to_nearest_even() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/f32_values.safetensors");
    let reference = data().join("tiny/f32_values.f16_ref.safetensors");
    let out = tmp.path().join("b.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--dtype",
        "bf16",
        "--quiet",
    ]));
    let got = u16s(&tensor_bytes(&out, "x"));
    let want = u16s(&tensor_bytes(&reference, "x_bf16"));
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let nan = (w & 0x7f80) == 0x7f80 && (w & 0x7f) != 0;
        if nan {
            assert!(
                (g & 0x7f80) == 0x7f80 && (g & 0x7f) != 0,
                "element {i}: NaN expected, got {g:#06x}"
            );
        } else {
            assert_eq!(g, w, "element {i}");
        }
    }
}

#[test]
fn upcasting_f16_bf16_f8_to_f32_is_exact() {
    // all_dtypes.f32_ref.safetensors holds the exact f32 values (computed in
    // Python) of the F16/BF16/F8 tensors of all_dtypes.safetensors.
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/all_dtypes.safetensors");
    let reference = data().join("tiny/all_dtypes.f32_ref.safetensors");
    let out = tmp.path().join("up.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--dtype",
        "f32",
        "--quiet",
    ]));
    let refs = tensors(&reference);
    assert!(!refs.is_empty());
    for (name, dtype, shape, bytes) in refs {
        let got = tensors(&out).into_iter().find(|t| t.0 == name).unwrap();
        assert_eq!((got.1.as_str(), &got.2), (dtype.as_str(), &shape), "{name}");
        let g: Vec<u32> = f32s(&got.3).iter().map(|v| v.to_bits()).collect();
        let w: Vec<u32> = f32s(&bytes).iter().map(|v| v.to_bits()).collect();
        for (a, b) in g.iter().zip(&w) {
            let nan = |x: u32| f32::from_bits(x).is_nan();
            assert!(a == b || (nan(*a) && nan(*b)), "{name}: {a:#x} vs {b:#x}");
        }
    }
    // Integer and bool tensors are never cast.
    let orig = tensors(&src);
    for t in tensors(&out) {
        if ["I64", "I32", "I16", "I8", "U8", "BOOL"].contains(&t.1.as_str()) {
            assert!(orig.contains(&t), "{} changed", t.0);
        }
    }
}

#[test]
fn sharded_bf16_to_single_file_and_back_is_lossless() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny/sharded_bf16");
    let single = tmp.path().join("one.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        single.to_str().unwrap(),
        "--quiet",
    ]));
    let original = all_tensors(&src);
    assert_eq!(original.len(), 14);
    assert_eq!(tensors(&single), original);

    let back = tmp.path().join("back");
    ok(&modelconv(&[
        "convert",
        single.to_str().unwrap(),
        back.to_str().unwrap(),
        "--max-shard-size",
        "3KB",
        "--quiet",
    ]));
    let files = entries(&back);
    assert!(
        files.contains(&"model.safetensors.index.json".to_string()),
        "{files:?}"
    );
    let shards: Vec<_> = files
        .iter()
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    assert!(shards.len() >= 3, "{files:?}");
    assert!(shards
        .iter()
        .all(|s| s.starts_with("model-0000") && s.contains(&format!("-of-{:05}", shards.len()))));
    assert_eq!(all_tensors(&back), original);

    // The index says where each tensor is, and the sizes add up.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), original.len());
    for (name, shard) in map {
        let in_shard = tensors(&back.join(shard.as_str().unwrap()));
        assert!(
            in_shard.iter().any(|t| &t.0 == name),
            "{name} not in {shard}"
        );
    }
    let total: usize = original.iter().map(|t| t.3.len()).sum();
    assert_eq!(index["metadata"]["total_size"], total);
    // No shard exceeds the limit unless it holds a single tensor.
    for s in shards {
        let t = tensors(&back.join(s));
        let bytes: usize = t.iter().map(|t| t.3.len()).sum();
        assert!(
            bytes <= 3000 || t.len() == 1,
            "{s}: {bytes} bytes in {} tensors",
            t.len()
        );
    }
}

#[test]
fn hf_directory_carries_every_non_weight_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny-bert");
    let dst = tmp.path().join("out");
    let out = modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--dtype",
        "f16",
        "--json",
    ]);
    let report = json(&out);
    ok(&out);
    for rel in [
        "config.json",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
        "README.md",
    ] {
        assert_eq!(
            std::fs::read(dst.join(rel)).unwrap(),
            std::fs::read(src.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!(report["success"], true);
    assert_eq!(report["tensors_cast"], 39);
    assert_eq!(report["total_parameters"], 26880);
    for key in [
        "source_size_bytes",
        "output_size_bytes",
        "compression_ratio",
        "conversion_time_sec",
        "error_message",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    let meta = std::fs::read(dst.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::read_metadata(&meta).unwrap();
    assert_eq!(
        st.1.metadata()
            .as_ref()
            .and_then(|m| m.get("format"))
            .map(String::as_str),
        Some("pt")
    );
}

#[test]
fn dtype_overrides_keep_matching_tensors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny-bert");
    let dst = tmp.path().join("out.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--dtype",
        "f16",
        "--dtype-override",
        "*norm*=f32",
        "--quiet",
    ]));
    let orig = tensors(&src.join("model.safetensors"));
    for t in tensors(&dst) {
        if t.0.to_lowercase().contains("norm") {
            assert_eq!(t.1, "F32", "{}", t.0);
            assert!(orig.contains(&t));
        } else {
            assert_eq!(t.1, "F16", "{}", t.0);
        }
    }
}

#[test]
fn deterministic_output() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny-bert");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for d in [&a, &b] {
        ok(&modelconv(&[
            "convert",
            src.to_str().unwrap(),
            d.to_str().unwrap(),
            "--dtype",
            "bf16",
            "--max-shard-size",
            "20KB",
            "--quiet",
        ]));
    }
    let names = entries(&a);
    assert_eq!(names, entries(&b));
    for n in names
        .iter()
        .filter(|n| n.ends_with(".safetensors") || n.ends_with(".json"))
    {
        assert_eq!(
            std::fs::read(a.join(n)).unwrap(),
            std::fs::read(b.join(n)).unwrap(),
            "{n}"
        );
    }
}

#[test]
fn hub_id_resolves_from_the_local_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let repo = cache.join("models--test-org--tiny-bert");
    let sha = "1111111111111111111111111111111111111111";
    let snap = repo.join("snapshots").join(sha);
    std::fs::create_dir_all(snap.join("1_Pooling")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), sha).unwrap();
    let src = data().join("tiny-bert");
    // As huggingface_hub lays it out: the files are blobs of the repo
    // folder, the snapshot links to them (links out of the repo folder
    // are not followed).
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    for (i, rel) in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "1_Pooling/config.json",
    ]
    .iter()
    .enumerate()
    {
        let blob = repo.join("blobs").join(format!("blob{i}"));
        std::fs::copy(src.join(rel), &blob).unwrap();
        std::os::unix::fs::symlink(&blob, snap.join(rel)).unwrap();
    }
    let dst = tmp.path().join("out");
    let env = [("HF_HUB_CACHE", cache.to_str().unwrap())];
    ok(&modelconv_env(
        &[
            "convert",
            "test-org/tiny-bert",
            dst.to_str().unwrap(),
            "--quiet",
        ],
        &env,
    ));
    assert_eq!(all_tensors(&dst), tensors(&src.join("model.safetensors")));
    assert!(dst.join("1_Pooling/config.json").is_file());
    let inspect = modelconv_env(&["inspect", "test-org/tiny-bert", "--json"], &env);
    assert_eq!(json(&inspect)["architecture"], "BertModel");
}

#[test]
fn inspect_reports_structure() {
    let out = modelconv(&[
        "inspect",
        data().join("tiny/sharded_bf16").to_str().unwrap(),
        "--json",
        "--tensors",
    ]);
    ok(&out);
    let r = json(&out);
    assert_eq!(r["tensor_count"], 14);
    assert_eq!(r["architecture"], "LlamaForCausalLM");
    assert_eq!(r["dtypes"]["BF16"]["tensors"], 13);
    assert_eq!(r["dtypes"]["I64"]["tensors"], 1);
    assert_eq!(r["files"].as_array().unwrap().len(), 4);
    assert_eq!(r["tensors"].as_array().unwrap().len(), 14);
    let human = ok(&modelconv(&[
        "inspect",
        data().join("tiny-bert").to_str().unwrap(),
    ]));
    assert!(human.contains("BertModel"), "{human}");
    assert!(human.contains("26880"), "{human}");
}
