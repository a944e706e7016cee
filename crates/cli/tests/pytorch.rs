//! PyTorch checkpoints made by real torch 2.15 (tests/data/torch, made by
//! make_torch_fixtures.py): every tensor must equal what `torch.load`
//! returned, stored by torch-side code in `X.ref.safetensors`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;

type Tensors = Vec<(String, String, Vec<usize>, Vec<u8>)>;

fn torch_dir() -> std::path::PathBuf {
    data().join("torch")
}

fn convert_to_file(src: &Path, extra: &[&str]) -> (Tensors, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.safetensors");
    let mut args = vec![
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = modelconv(&args);
    ok(&o);
    (tensors(&out), json(&o))
}

/// The reference tensors whose names start with `prefix`, prefix removed.
fn reference(name: &str, prefix: &str) -> Tensors {
    tensors(&torch_dir().join(name))
        .into_iter()
        .filter_map(|(n, d, s, b)| n.strip_prefix(prefix).map(|n| (n.to_string(), d, s, b)))
        .collect()
}

#[test]
fn every_storage_dtype_protocol_2_and_4() {
    for f in ["p2_basic", "p4_basic"] {
        let (got, _) = convert_to_file(&torch_dir().join(format!("{f}.pt")), &[]);
        let want = reference(&format!("{f}.ref.safetensors"), "");
        assert_eq!(got.len(), 19, "{f}");
        assert_eq!(got, want, "{f}");
    }
}

#[test]
fn shared_storage_offsets_transposes_slices_and_broadcasts() {
    let (got, _) = convert_to_file(&torch_dir().join("views.pt"), &[]);
    assert_eq!(got, reference("views.ref.safetensors", ""));
}

#[test]
fn legacy_format() {
    let (got, report) = convert_to_file(&torch_dir().join("legacy.pt"), &[]);
    assert_eq!(got, reference("legacy.ref.safetensors", ""));
    assert_eq!(report["source_format"], "pytorch-legacy");
}

#[test]
fn torchscript_parameters_and_buffers_with_module_paths() {
    let (got, report) = convert_to_file(&torch_dir().join("scripted.pt"), &[]);
    assert_eq!(got, reference("scripted.ref.safetensors", ""));
    assert_eq!(report["source_format"], "torchscript");
}

#[test]
fn training_checkpoints_give_the_model_weights() {
    let (got, report) = convert_to_file(&torch_dir().join("nested.pt"), &[]);
    assert_eq!(got, reference("nested.ref.safetensors", "state_dict."));
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("weights taken from 'state_dict'") && warnings.contains("optimizer"),
        "{warnings}"
    );
    let (got, _) = convert_to_file(&torch_dir().join("model_key.pt"), &[]);
    assert_eq!(got, reference("model_key.ref.safetensors", "model."));
}

#[test]
fn hf_pytorch_directory_to_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let src = torch_dir().join("tiny-bert-bin");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--quiet",
    ]));
    assert_eq!(
        all_tensors(&out),
        tensors(&data().join("tiny-bert/model.safetensors"))
    );
    for rel in [
        "config.json",
        "tokenizer.json",
        "1_Pooling/config.json",
        "modules.json",
    ] {
        assert_eq!(
            std::fs::read(out.join(rel)).unwrap(),
            std::fs::read(src.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert!(!out.join("pytorch_model.bin").exists());
    // Casting from .bin gives the same bytes as casting from safetensors.
    let a = tmp.path().join("a.safetensors");
    let b = tmp.path().join("b.safetensors");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        a.to_str().unwrap(),
        "--dtype",
        "f16",
        "--quiet",
    ]));
    let st = data().join("tiny-bert");
    ok(&modelconv(&[
        "convert",
        st.to_str().unwrap(),
        b.to_str().unwrap(),
        "--dtype",
        "f16",
        "--quiet",
    ]));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn sharded_bin_with_tied_weights_written_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let src = torch_dir().join("sharded-bin");
    let o = modelconv(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--json",
    ]);
    ok(&o);
    let report = json(&o);
    let want = reference("sharded-bin.ref.safetensors", "");
    let got = all_tensors(&out);
    let alias = "cls.predictions.decoder.weight";
    let kept = "embeddings.word_embeddings.weight";
    assert_eq!(got.len() + 1, want.len());
    assert!(got.iter().all(|t| t.0 != alias));
    let expected: Tensors = want.iter().filter(|t| t.0 != alias).cloned().collect();
    assert_eq!(got, expected);
    // The alias had the same data as the kept tensor, and the report says so.
    let a = want.iter().find(|t| t.0 == alias).unwrap();
    let k = want.iter().find(|t| t.0 == kept).unwrap();
    assert_eq!(a.3, k.3);
    assert!(report["warnings"]
        .to_string()
        .contains(&format!("'{alias}' is the same tensor as '{kept}'")));
}

#[test]
fn unsupported_content_is_a_clear_error() {
    for (f, needle) in [
        ("extra_dtypes.pt", "ComplexFloatStorage"),
        ("quantized.pt", "QUInt8Storage"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("o.safetensors");
        let o = modelconv(&[
            "convert",
            torch_dir().join(f).to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(f) && stderr.contains("unsupported content") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn inspect_lists_pickle_globals() {
    let o = modelconv(&[
        "inspect",
        torch_dir().join("p4_basic.pt").to_str().unwrap(),
        "--json",
    ]);
    ok(&o);
    let r = json(&o);
    let globals = r["pickle_globals"].as_object().unwrap();
    assert_eq!(globals["torch._utils._rebuild_tensor_v2"], true);
    assert_eq!(globals["torch.storage.UntypedStorage"], true);
    assert!(globals.values().all(|v| v == true));
}

#[test]
fn legacy_tar_format() {
    // Written by hand following torch's reader and checked by torch 2.15's
    // own torch.load (make_tar_fixture.py); the reference is what it loaded.
    let (got, report) = convert_to_file(&torch_dir().join("tar_legacy.tar"), &[]);
    assert_eq!(got, reference("tar_legacy.ref.safetensors", ""));
    assert_eq!(report["source_format"], "pytorch-legacy-tar");
}
