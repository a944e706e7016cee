//! `modelconv scan`: every malicious pickle of the corpus is flagged with
//! its global named and nothing runs; clean models pass; templates,
//! remote code, index traversal and renamed pickles are caught.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;

const EXIT_SCAN: i32 = 5;

fn bad() -> PathBuf {
    data().join("../bad_data")
}

fn scan_json(path: &Path) -> (Option<i32>, serde_json::Value) {
    let out = modelconv(&["scan", path.to_str().unwrap(), "--json"]);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

fn codes(v: &serde_json::Value) -> Vec<(String, String)> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"].as_array().unwrap().clone())
        .map(|x| {
            (
                x["code"].as_str().unwrap().to_string(),
                x["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_malicious_pickle_is_flagged_with_its_global() {
    let cases: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bad().join("pickle/cases.json")).unwrap()).unwrap();
    let mut n = 0;
    for case in cases["cases"].as_array().unwrap() {
        if case["expect"] != "forbidden-global" {
            continue;
        }
        n += 1;
        let file = bad().join("pickle").join(case["file"].as_str().unwrap());
        let global = case["global"].as_str().unwrap();
        let marker = case["marker"].as_str().map(PathBuf::from);
        if let Some(m) = &marker {
            let _ = std::fs::remove_file(m);
        }
        let (code, v) = scan_json(&file);
        assert_eq!(code, Some(EXIT_SCAN), "{}: {v}", file.display());
        assert_eq!(v["passed"], false);
        let found = codes(&v)
            .iter()
            .any(|(c, m)| c == "pickle-global" && m.contains(&format!("imports {global},")));
        assert!(found, "{}: {global} not named: {v}", file.display());
        if let Some(m) = &marker {
            assert!(!m.exists(), "{}: the payload ran", file.display());
        }
    }
    assert!(n >= 40, "only {n} forbidden-global cases");
}

#[test]
fn clean_models_pass() {
    for dir in [
        "tiny-bert",
        "families/bert",
        "families/llama",
        "families/whisper",
    ] {
        let (code, v) = scan_json(&data().join(dir));
        assert_eq!(code, Some(0), "{dir}: {v}");
        assert_eq!(v["passed"], true, "{dir}");
    }
    // A real torch zip checkpoint and a TorchScript archive: zip passes,
    // TorchScript is flagged for its code.
    let pt = data().join("torch");
    {
        for e in std::fs::read_dir(&pt).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".pt") && !name.ends_with(".bin") {
                continue;
            }
            let (code, v) = scan_json(&p);
            let kinds: Vec<String> = codes(&v).into_iter().map(|(c, _)| c).collect();
            if name.contains("script") {
                assert!(
                    kinds.contains(&"torchscript-code".to_string()),
                    "{name}: {v}"
                );
            } else {
                assert_eq!(code, Some(0), "{name}: {v}");
            }
        }
    }
}

#[test]
fn templates_remote_code_traversal_and_renamed_pickles() {
    // A Jinja SSTI payload in a GGUF chat template.
    let (code, v) = scan_json(&bad().join("gguf/chat_template_jinja.gguf"));
    assert_eq!(code, Some(EXIT_SCAN), "{v}");
    assert!(
        codes(&v)
            .iter()
            .any(|(c, m)| c == "jinja-ssti" && m.contains("__subclasses__")),
        "{v}"
    );

    // An index pointing outside the directory.
    let (code, v) = scan_json(&bad().join("index/path_traversal"));
    assert_eq!(code, Some(EXIT_SCAN), "{v}");
    assert!(codes(&v).iter().any(|(c, _)| c == "path-traversal"), "{v}");

    let tmp = tempfile::tempdir().unwrap();
    // config.json auto_map (trust_remote_code) and a .py file.
    let model = tmp.path().join("remote");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(
        model.join("config.json"),
        r#"{"model_type":"x","auto_map":{"AutoModel":"modeling_x.XModel"}}"#,
    )
    .unwrap();
    std::fs::write(model.join("modeling_x.py"), "import os\n").unwrap();
    let (code, v) = scan_json(&model);
    assert_eq!(code, Some(EXIT_SCAN), "{v}");
    let c = codes(&v);
    assert!(
        c.iter()
            .any(|(c, m)| c == "remote-code" && m.contains("modeling_x.XModel")),
        "{v}"
    );
    assert!(c.iter().any(|(c, _)| c == "python-code"), "{v}");

    // A pickle under an innocent name is found by its content.
    let renamed = tmp.path().join("weights.txt");
    std::fs::copy(bad().join("pickle/builtins_eval.pkl"), &renamed).unwrap();
    let (code, v) = scan_json(&renamed);
    assert_eq!(code, Some(EXIT_SCAN), "{v}");
    assert!(
        codes(&v).iter().any(|(_, m)| m.contains("builtins.eval")),
        "{v}"
    );

    // Human output names the global too, and says nothing ran.
    let out = modelconv(&["scan", renamed.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CRITICAL") && text.contains("builtins.eval"),
        "{text}"
    );
    assert!(text.contains("nothing was executed"), "{text}");
}
