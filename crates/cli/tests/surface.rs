//! The traps of the surface a user touches (issue #21): options and
//! destinations that were silently taken to mean something else, a check
//! that stopped on a valid model, flags missing from some subcommands.
//! Each test failed on the code before the fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn fails_with(out: &std::process::Output, code: i32, text: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(text), "expected '{text}' in: {err}");
}

/// Item 3: an output directory (or file) inside the input directory is
/// refused; the input is left as it was.
#[test]
fn output_inside_the_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(data().join("families/llama").join(f), src.join(f)).unwrap();
    }
    for dst in ["out", "sub/out", "x.gguf"] {
        let d = src.join(dst);
        let run = modelconv(&["convert", src.to_str().unwrap(), d.to_str().unwrap(), "-q"]);
        fails_with(&run, 1, "is inside the input directory");
    }
    assert_eq!(entries(&src), ["config.json", "model.safetensors"]);
    // Beside it is fine.
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        tmp.path().join("out").to_str().unwrap(),
        "-q",
    ]));
}

/// Item 4: a destination named for a format modelconv does not write is an
/// error, not a safetensors directory of that name.
#[test]
fn unwritable_destination_extensions_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("m.onnx", "writing onnx is not supported yet"),
        ("m.pt", "writing pytorch is not supported yet"),
        (
            "m.h5",
            ".h5 is a model file format modelconv does not write",
        ),
        ("m.tflite", ".tflite is a model file format"),
    ] {
        let d = tmp.path().join(name);
        let run = modelconv(&["convert", &fam("llama"), d.to_str().unwrap(), "-q"]);
        fails_with(&run, 1, text);
        assert!(!d.exists(), "{name} was created");
    }
}

/// Item 5: an existing single-file destination needs --overwrite.
#[test]
fn existing_file_destination_needs_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["w.safetensors", "w.gguf", "w.npz"] {
        let d = tmp.path().join(name);
        std::fs::write(&d, b"the user's file").unwrap();
        let run = modelconv(&["convert", &fam("llama"), d.to_str().unwrap(), "-q"]);
        fails_with(&run, 1, "exists; pass --overwrite to replace it");
        assert_eq!(std::fs::read(&d).unwrap(), b"the user's file");
        ok(&modelconv(&[
            "convert",
            &fam("llama"),
            d.to_str().unwrap(),
            "-q",
            "--overwrite",
        ]));
        assert_ne!(std::fs::read(&d).unwrap(), b"the user's file");
    }
}

/// Item 7: a CLIP whose config's special-token ids lie outside its
/// vocabulary (tiny and pruned CLIPs) is checked, not an internal error.
#[test]
fn clip_with_special_ids_outside_the_vocabulary_is_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("clip");
    std::fs::create_dir(&src).unwrap();
    std::fs::copy(
        data().join("families/clip/model.safetensors"),
        src.join("model.safetensors"),
    )
    .unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data().join("families/clip/config.json")).unwrap())
            .unwrap();
    cfg["text_config"]["bos_token_id"] = 49406.into();
    cfg["text_config"]["eos_token_id"] = 49407.into();
    std::fs::write(src.join("config.json"), cfg.to_string()).unwrap();
    let out = tmp.path().join("f16");
    ok(&modelconv(&[
        "convert",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--dtype",
        "f16",
        "-q",
    ]));
    let r = json(&modelconv(&[
        "check-inference",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(r["comparison"]["passed"], true, "{r}");
    let kinds: Vec<&str> = r["comparison"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.iter().any(|k| k.contains("text")), "{kinds:?}");
}

/// Item 8: --quiet on every subcommand that prints: nothing on stdout, the
/// exit code still says the result.
#[test]
fn quiet_on_every_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    ok(&modelconv(&["convert", &fam("llama"), o, "-q"]));
    let runs: [(&[&str], i32); 5] = [
        (&["inspect", &fam("llama")], 0),
        (&["verify", &fam("llama"), o], 0),
        (&["check-inference", &fam("llama"), o], 0),
        (&["scan", &fam("llama")], 0),
        // A failing verify: exit 4, still silent on stdout.
        (&["verify", &fam("gemma"), o], 4),
    ];
    for (args, code) in runs {
        let loud = modelconv(args);
        assert!(!loud.stdout.is_empty(), "{args:?} prints without --quiet");
        let mut quiet = args.to_vec();
        quiet.push("--quiet");
        let run = modelconv(&quiet);
        assert_eq!(run.status.code(), Some(code), "{args:?}");
        assert!(
            run.stdout.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stdout)
        );
    }
}

/// Item 10: messages that said something untrue.
#[test]
fn messages_say_what_is_true() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    // A text file named .safetensors: not "header length 8031924123371070824".
    std::fs::write(p("notes.safetensors"), "hello world, these are notes\n").unwrap();
    fails_with(
        &modelconv(&["inspect", &p("notes.safetensors")]),
        1,
        "not a safetensors file",
    );
    let scan = modelconv(&["scan", &p("notes.safetensors"), "--all"]);
    let text = String::from_utf8_lossy(&scan.stdout);
    assert_eq!(scan.status.code(), Some(0), "{text}");
    assert!(
        text.contains("[other]") && text.contains("not a safetensors file"),
        "{text}"
    );
    // A valid safetensors file with a dtype modelconv does not convert:
    // unsupported, not malformed.
    let header = r#"{"a":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}}"#;
    let mut c64 = (header.len() as u64).to_le_bytes().to_vec();
    c64.extend_from_slice(header.as_bytes());
    c64.extend_from_slice(&[0; 16]);
    std::fs::write(p("c64.safetensors"), &c64).unwrap();
    let scan = modelconv(&["scan", &p("c64.safetensors")]);
    let text = String::from_utf8_lossy(&scan.stdout);
    assert_eq!(scan.status.code(), Some(0), "{text}");
    assert!(
        text.contains("unsupported") && !text.contains("malformed"),
        "{text}"
    );
    // Every --dtype value the error lists is accepted.
    let bad = modelconv(&["convert", &fam("llama"), &p("x"), "--dtype", "f17"]);
    let err = String::from_utf8_lossy(&bad.stderr).to_string();
    let listed = err
        .split("[possible values: ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap_or_else(|| panic!("{err}"));
    for v in listed.split(", ") {
        let d = p(&format!("dtype-{v}"));
        ok(&modelconv(&[
            "convert",
            &fam("llama"),
            &d,
            "--dtype",
            v,
            "-q",
        ]));
    }
    // A refused GGUF conversion does not claim to convert "as plain weights".
    let tiny = data().join("tiny/f32_values.safetensors");
    let run = modelconv(&["convert", tiny.to_str().unwrap(), &p("t.gguf")]);
    fails_with(&run, 1, "GGUF output needs a model family");
    assert!(!String::from_utf8_lossy(&run.stderr).contains("plain weights"));
    // inspect of a GGUF names the GGUF metadata, not a config.json.
    ok(&modelconv(&["convert", &fam("llama"), &p("l.gguf"), "-q"]));
    let text = ok(&modelconv(&["inspect", &p("l.gguf")]));
    let family = text.lines().find(|l| l.starts_with("family:")).unwrap();
    assert!(
        family.contains("GGUF general.architecture 'llama'") && !family.contains("config.json"),
        "{text}"
    );
    // fake generates: no "0 B -> ... (ratio 0.00x)".
    let cfg = data().join("families/llama/config.json");
    let text = ok(&modelconv(&["fake", cfg.to_str().unwrap(), &p("fk")]));
    assert!(
        text.contains("generated in") && !text.contains("ratio"),
        "{text}"
    );
}

/// Shell completions and man pages come from the clap definitions: every
/// subcommand and every `convert` flag is in them.
#[test]
fn completions_and_man_pages_cover_the_cli() {
    let help = ok(&modelconv(&["--help"]));
    let subs: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
        .collect();
    assert!(
        subs.contains(&"convert") && subs.contains(&"completions"),
        "{subs:?}"
    );
    let convert_help = ok(&modelconv(&["convert", "--help"]));
    let flags: std::collections::BTreeSet<&str> = convert_help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    assert!(flags.contains("--quant") && flags.len() > 20, "{flags:?}");
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&modelconv(&["completions", shell]));
        for s in &subs {
            assert!(script.contains(s), "{shell}: no {s}");
        }
        for f in &flags {
            let bare = f.trim_start_matches('-');
            assert!(script.contains(bare), "{shell}: no {f}");
        }
    }
    // The bash script parses.
    let tmp = tempfile::tempdir().unwrap();
    let bash = tmp.path().join("modelconv.bash");
    std::fs::write(&bash, ok(&modelconv(&["completions", "bash"]))).unwrap();
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .status()
        .unwrap();
    assert!(st.success());
    // man: the main page, and one page per subcommand on request.
    let page = ok(&modelconv(&["man"]));
    assert!(page.contains(".TH modelconv 1"), "{page}");
    let dir = tmp.path().join("man");
    ok(&modelconv(&["man", "--out-dir", dir.to_str().unwrap()]));
    for s in &subs {
        let p = std::fs::read_to_string(dir.join(format!("modelconv-{s}.1"))).unwrap();
        assert!(p.contains(&format!(".TH modelconv-{s} 1")), "{s}");
    }
    let convert_page = std::fs::read_to_string(dir.join("modelconv-convert.1")).unwrap();
    for f in &flags {
        let roff = f.replace('-', "\\-");
        assert!(convert_page.contains(&roff), "man page lacks {f}");
    }
}
