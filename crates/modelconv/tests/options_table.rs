//! `docs/options.md`: every `convert` option × every output format, and
//! whether it applies there or is refused — generated from the request type
//! (its clap definition) and the format registry. The test fails when the
//! committed file is stale; `UPDATE_DOCS=1 cargo test -p modelconv --test
//! options_table` rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write;
use std::path::PathBuf;

use modelconv::clap::{self, Args};
use modelconv::registry::{self, FORMATS, REQUEST_FIELDS};

/// Up to the first ". " that starts a new sentence (not "e.g. ").
fn first_sentence(help: &str) -> String {
    let end = help
        .match_indices(". ")
        .map(|(i, _)| i)
        .find(|&i| {
            help[i + 2..].starts_with(|c: char| c.is_uppercase()) && !help[..i].ends_with("e.g")
        })
        .unwrap_or(help.len());
    help[..end].trim_end_matches('.').to_string()
}

fn render() -> String {
    let cmd = modelconv::request::ConvertRequest::augment_args(clap::Command::new("convert"));
    let writable: Vec<_> = FORMATS.iter().filter(|f| f.writer.is_some()).collect();
    let specific = registry::format_specific_fields();
    let mut s = String::new();
    s.push_str("# `convert` options by output format\n\n");
    s.push_str(
        "Generated from the request type and the format registry by \
         `crates/modelconv/tests/options_table.rs` (do not edit by hand). \
         \"yes\": the option applies to that output; \"error\": giving it is \
         refused with a message naming the option and where it applies \
         (CLI and Python alike).\n\n",
    );
    let _ = write!(s, "| option | what it does |");
    for f in &writable {
        let _ = write!(s, " {} |", f.name);
    }
    s.push_str("\n|---|---|");
    for _ in &writable {
        s.push_str("---|");
    }
    s.push('\n');
    for field in REQUEST_FIELDS.iter() {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_id().as_str() == *field)
            .unwrap();
        let help = first_sentence(&arg.get_help().map(|h| h.to_string()).unwrap_or_default())
            .replace('|', "\\|");
        let name = match arg.get_long() {
            Some(l) => format!("`--{l}`"),
            None => format!("`{}`", field.to_uppercase()),
        };
        let _ = write!(s, "| {name} | {help} |");
        for f in &writable {
            let applies = !specific.contains(field) || f.options.contains(field);
            let _ = write!(s, " {} |", if applies { "yes" } else { "error" });
        }
        s.push('\n');
    }
    s
}

#[test]
fn options_table_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/options.md");
    let want = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/options.md is stale: run UPDATE_DOCS=1 cargo test -p modelconv --test options_table"
    );
    // Every format-specific option is refused somewhere and applies somewhere.
    for field in registry::format_specific_fields() {
        let row = want
            .lines()
            .find(|l| l.contains(&format!("--{}`", field.replace('_', "-"))))
            .unwrap_or_else(|| panic!("no row for {field}"));
        assert!(row.contains("| yes |") || row.ends_with(" yes |"), "{row}");
        assert!(row.contains(" error |"), "{row}");
    }
}
