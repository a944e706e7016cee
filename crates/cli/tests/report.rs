//! `--report FILE.html` of `verify` and `check-inference` (issue #21): the
//! page is self-contained (nothing fetched), its charts have content, the
//! table lists every compared tensor, and — where Chromium is installed
//! (`scripts/test` installs Debian's `chromium` when it can) — it renders
//! headless with its script run and no console errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Renders `page` in headless Chromium: the DOM after scripts ran and the
/// console lines; `None` when Chromium is not installed or cannot start.
fn chromium(page: &Path) -> Option<(String, String)> {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    // A browser that cannot start here (sandbox, shared memory) is the
    // machine's problem, not the page's: errors in the page show up as
    // console lines while the browser still exits 0.
    if !out.status.success() {
        eprintln!(
            "chromium could not render here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let console: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .collect::<Vec<_>>()
        .join("\n");
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), console))
}

fn self_contained(html: &str) {
    for bad in ["http://", "https://", "src=", "@import", "url("] {
        assert!(
            !html.contains(bad),
            "the report refers to something outside it: {bad}"
        );
    }
}

#[test]
fn verify_and_check_inference_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    ok(&modelconv(&[
        "convert",
        &fam("llama"),
        &p("q.gguf"),
        "--quant",
        "q4_k_m",
        "-q",
    ]));

    ok(&modelconv(&[
        "verify",
        &fam("llama"),
        &p("q.gguf"),
        "--report",
        &p("v.html"),
        "-q",
    ]));
    let html = std::fs::read_to_string(p("v.html")).unwrap();
    self_contained(&html);
    let v = json(&modelconv(&[
        "verify",
        &fam("llama"),
        &p("q.gguf"),
        "--json",
    ]));
    let compared = v["compared"].as_u64().unwrap() as usize;
    // One table row per compared tensor, one bar per check kind, per layer and per tensor kind.
    assert_eq!(html.matches("<tr>").count(), compared + 1, "rows");
    assert!(html.matches("<rect").count() >= 2 + 2 + 9, "bars");
    for check in v["checks"].as_object().unwrap().keys() {
        assert!(html.contains(&check.replace('>', "&gt;")), "{check}");
    }
    assert!(html.contains("layer 1"));

    ok(&modelconv(&[
        "check-inference",
        &fam("llama"),
        &p("q.gguf"),
        "--report",
        &p("c.html"),
        "-q",
    ]));
    let chtml = std::fs::read_to_string(p("c.html")).unwrap();
    self_contained(&chtml);
    let c = json(&modelconv(&[
        "check-inference",
        &fam("llama"),
        &p("q.gguf"),
        "--json",
    ]));
    let samples = c["comparison"]["samples"].as_u64().unwrap() as usize;
    assert_eq!(
        chtml.matches("<rect").count(),
        samples,
        "one bar per sample"
    );
    assert!(chtml.contains("next_token_logits"));

    for page in [p("v.html"), p("c.html")] {
        match chromium(Path::new(&page)) {
            Some((dom, console)) => {
                assert!(
                    dom.contains("data-ready=\"1\""),
                    "the page's script did not run"
                );
                assert!(dom.contains("<svg"), "no chart in the rendered page");
                assert!(console.is_empty(), "console output: {console}");
            }
            None => {
                eprintln!("chromium is not installed: the report was not rendered in a browser")
            }
        }
    }
}

/// `convert --report`: bytes by type and tensor kind before → after, the
/// files, and with --validate what each tensor was held to and the
/// inference check.
#[test]
fn convert_report() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let r = json(&modelconv(&[
        "convert",
        &fam("llama"),
        &p("q.gguf"),
        "--quant",
        "q4_k_m",
        "--validate",
        "--report",
        &p("r.html"),
        "--json",
    ]));
    let html = std::fs::read_to_string(p("r.html")).unwrap();
    self_contained(&html);
    // Every source dtype and output type has a bar with its byte count.
    let sizes = &r["sizes"];
    let total_out: u64 = sizes["output_by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let tensor_bytes: u64 = r["files"][0]["size"].as_u64().unwrap();
    assert!(total_out > 0 && total_out < tensor_bytes, "{sizes}");
    for (side, map) in [("source", "source_by_dtype"), ("output", "output_by_type")] {
        for (k, _) in sizes[map].as_object().unwrap() {
            assert!(html.contains(&format!("{k} ({side})")), "{k} {side}");
        }
    }
    for k in sizes["output_by_kind"].as_object().unwrap().keys() {
        assert!(html.contains(&format!(">{k}</text>")), "{k}");
    }
    for check in r["validation"]["checks"].as_object().unwrap().keys() {
        assert!(html.contains(&check.replace('>', "&gt;")), "{check}");
    }
    assert!(html.contains("next_token_logits"));
    match chromium(Path::new(&p("r.html"))) {
        Some((dom, console)) => {
            assert!(
                dom.contains("data-ready=\"1\""),
                "the page's script did not run"
            );
            assert!(console.is_empty(), "console output: {console}");
        }
        None => eprintln!("chromium is not installed: the report was not rendered in a browser"),
    }
}
