//! `modelconv scan`: what a model file or directory would do if the usual
//! Python tools loaded it — without executing, importing or rendering
//! anything.
//!
//! Every file is classified by its content (never its extension alone,
//! the picklescan CVE-2025-1889/10155 lesson) and checked:
//! - pickles (`.bin`/`.pt`/`.ckpt`/`.pkl`, zip members, legacy files):
//!   globals outside modelconv's allow-list, unreadable pickles, zip
//!   tricks (duplicate or case-folded names, unreadable members), and
//!   TorchScript code members;
//! - NumPy `.npy` with an object dtype (`np.load(allow_pickle=True)`
//!   unpickles it);
//! - safetensors, GGUF and Parquet through modelconv's validating parsers;
//!   GGUF chat templates that reach for Python internals (Jinja SSTI,
//!   CVE-2024-34359);
//! - shard index files naming paths outside the directory; `config.json`
//!   `auto_map` and `.py` files (code `trust_remote_code=True` runs).
//!
//! Severity: [`Severity::Critical`] code would run on load;
//! [`Severity::High`] the file is malformed or could not be verified;
//! [`Severity::Medium`] code runs only if the user opts in (remote code,
//! templates); [`Severity::Info`] notes. A report "passes" when nothing is
//! Medium or worse.

use std::path::{Path, PathBuf};

use modelconv_core::error::{Error, InvalidKind, Result};
use modelconv_core::FormatId;
use modelconv_formats::pytorch::host::GlobalStatus;
use modelconv_formats::pytorch::scan as pickle_scan;
use serde::Serialize;

/// Files deeper than this below the scanned directory are not visited.
const MAX_DEPTH: usize = 6;
/// At most this many files are scanned per directory tree.
const MAX_FILES: usize = 100_000;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Code runs only if the user opts in.
    Medium,
    /// Malformed, or cannot be verified.
    High,
    /// Loading it with the usual tools runs code.
    Critical,
}

/// One thing the scan found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Severity.
    pub severity: Severity,
    /// Stable identifier (`pickle-global`, `torchscript-code`, ...).
    pub code: &'static str,
    /// Human explanation naming the member, global, key or offset.
    pub message: String,
}

/// The scan of one file.
#[derive(Debug, Clone, Serialize)]
pub struct FileScan {
    /// The file.
    pub path: PathBuf,
    /// What it is (`pytorch-zip`, `safetensors`, `gguf`, ...).
    pub kind: String,
    /// The weight format the registry recognises it as, if any.
    pub format: Option<&'static str>,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
}

/// The scan of a file or directory.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// Every file looked at.
    pub files: Vec<FileScan>,
    /// Worst severity found (Info when nothing).
    pub worst: Severity,
    /// No finding of Medium or worse.
    pub passed: bool,
}

/// Scans a file or a directory tree. Symbolic links are followed only when
/// they stay inside the tree (others are reported, not followed), every
/// directory is visited once, and only regular files are opened.
pub fn scan(path: &Path) -> Result<ScanReport> {
    if !path.exists() {
        return Err(Error::NotFound(path.to_path_buf()));
    }
    let mut files = Vec::new();
    if path.is_dir() {
        let limits = modelconv_core::fsx::WalkLimits {
            max_depth: MAX_DEPTH,
            max_entries: MAX_FILES,
        };
        for entry in modelconv_core::fsx::walk(path, &limits, &|_, _| true)? {
            match entry {
                modelconv_core::fsx::Entry::File { path, .. } => files.push(scan_file(&path)?),
                modelconv_core::fsx::Entry::Skipped { rel, reason, why } => files.push(FileScan {
                    path: path.join(&rel),
                    kind: "not-followed".into(),
                    format: None,
                    findings: vec![finding(
                        match reason {
                            modelconv_core::fsx::Skip::Revisited => Severity::Info,
                            _ => Severity::High,
                        },
                        "not-followed",
                        format!("{rel} is {why}: not followed, not scanned; a loader that follows it may read anything"),
                    )],
                }),
            }
        }
    } else if !modelconv_core::fsx::is_regular(path) {
        files.push(FileScan {
            path: path.to_path_buf(),
            kind: "special".into(),
            format: None,
            findings: vec![finding(
                Severity::High,
                "not-regular",
                "not a regular file (a FIFO, socket or device): not opened; reading it may block or never end",
            )],
        });
    } else {
        files.push(scan_file(path)?);
    }
    let worst = files
        .iter()
        .flat_map(|f| f.findings.iter().map(|x| x.severity))
        .max()
        .unwrap_or(Severity::Info);
    Ok(ScanReport {
        files,
        worst,
        passed: worst < Severity::Medium,
    })
}

/// A parser's refusal as a finding: content modelconv does not convert in
/// an otherwise valid file is a note, not a malformed file.
fn parse_finding(e: &Error) -> Finding {
    if e.invalid_kind() == Some(InvalidKind::UnsupportedContent) {
        finding(Severity::Info, "unsupported", e.to_string())
    } else {
        finding(Severity::High, "malformed", e.to_string())
    }
}

fn finding(severity: Severity, code: &'static str, message: impl Into<String>) -> Finding {
    Finding {
        severity,
        code,
        message: message.into(),
    }
}

fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    modelconv_core::fsx::read_head(path, n)
}

/// Scans one file: weight files are classified by the format registry's
/// sniffers (content, not name) and checked by their format's rules;
/// pickles under other names, shard indexes, configs and Python sources
/// by the rules of `scan`.
pub fn scan_file(path: &Path) -> Result<FileScan> {
    let head = read_head(path, 512)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut findings = Vec::new();
    let spec = crate::registry::FORMATS
        .iter()
        .find(|f| f.reader.is_some() && (f.sniff)(&head, path));
    let kind: String = match spec.map(|f| f.id) {
        Some(FormatId::Gguf) => {
            scan_gguf(path, &mut findings);
            "gguf".into()
        }
        Some(FormatId::Parquet) => {
            if let Err(e) = modelconv_parquet::reader::read_file(path) {
                findings.push(finding(Severity::High, "malformed", e.to_string()));
            }
            "parquet".into()
        }
        Some(FormatId::Numpy) if head.starts_with(b"\x93NUMPY") => {
            scan_npy(path, &head, &mut findings)?;
            "npy".into()
        }
        Some(FormatId::Safetensors) => match modelconv_formats::safetensors::read_file(path) {
            Err(e) if e.invalid_kind() == Some(InvalidKind::UnknownFormat) => {
                // Named like one, but it is not (what inspect says too).
                findings.push(finding(Severity::Info, "not-safetensors", e.to_string()));
                "other".into()
            }
            Err(e) => {
                findings.push(parse_finding(&e));
                "safetensors".into()
            }
            Ok(_) => "safetensors".into(),
        },
        // Zips (torch, npz) and pickles, and pickles under other names.
        Some(FormatId::Numpy | FormatId::PyTorch) => pickle_kind(path, &name, &mut findings)?,
        _ if is_pickle_name(&name) => pickle_kind(path, &name, &mut findings)?,
        _ if name.ends_with(".index.json") => {
            scan_index(path, &mut findings)?;
            "shard-index".into()
        }
        _ if name == "config.json" => {
            scan_config(path, &mut findings)?;
            "config".into()
        }
        _ if name.ends_with(".py") => {
            findings.push(finding(
                Severity::Medium,
                "python-code",
                "Python source next to the weights: transformers imports it with trust_remote_code=True",
            ));
            "python".into()
        }
        _ => "other".into(),
    };
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(FileScan {
        path: path.to_path_buf(),
        kind,
        format: spec.map(|f| f.name),
        findings,
    })
}

/// Scans a zip or pickle file's pickles; its kind.
fn pickle_kind(path: &Path, name: &str, findings: &mut Vec<Finding>) -> Result<String> {
    let s = pickle_scan::scan_file(path)?;
    pickle_findings(&s, findings);
    Ok(match s.container {
        "zip" if name.to_ascii_lowercase().ends_with(".npz") => "npz",
        "zip" => "pytorch-zip",
        "torchscript" => "torchscript",
        _ => "pickle",
    }
    .into())
}

/// Names under which Python tools unpickle files besides PyTorch's own
/// extensions (`joblib.load`, `pickle.load` of `.pkl`/`.dat`/`.data`).
fn is_pickle_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [".pkl", ".pickle", ".joblib", ".dat", ".data"]
        .iter()
        .any(|e| n.ends_with(e))
}

fn pickle_findings(s: &pickle_scan::PickleScan, out: &mut Vec<Finding>) {
    for member in &s.object_arrays {
        out.push(finding(
            Severity::Critical,
            "npy-object",
            format!("{member}: object array: np.load(allow_pickle=True) unpickles the data"),
        ));
    }
    for p in &s.pickles {
        for (g, status) in &p.globals {
            if *status == GlobalStatus::Forbidden {
                out.push(finding(
                    Severity::Critical,
                    "pickle-global",
                    format!(
                        "{} imports {g}, which is not on the allow-list: pickle.load / torch.load(weights_only=False) would import and may call it",
                        p.location
                    ),
                ));
            }
        }
        if let Some(e) = &p.error {
            out.push(finding(
                Severity::High,
                "unreadable-pickle",
                format!(
                    "{}: the pickle cannot be read to the end ({e}); what follows was not checked",
                    p.location
                ),
            ));
        }
    }
    if !s.code_members.is_empty() {
        let shown: Vec<&str> = s.code_members.iter().take(3).map(String::as_str).collect();
        out.push(finding(
            Severity::High,
            "torchscript-code",
            format!(
                "TorchScript archive with {} code members ({}{}): torch.jit.load runs them, and torch.load before PyTorch 2.6 dispatched such archives to it even with weights_only=True (CVE-2025-32434)",
                s.code_members.len(),
                shown.join(", "),
                if s.code_members.len() > 3 { ", ..." } else { "" }
            ),
        ));
    }
    for p in &s.problems {
        out.push(finding(Severity::High, "archive", p.clone()));
    }
    if s.pickles.is_empty() && s.problems.is_empty() && s.object_arrays.is_empty() {
        out.push(finding(
            Severity::Info,
            "no-pickle",
            format!("{} without any pickle", s.container),
        ));
    }
}

fn scan_npy(path: &Path, head: &[u8], out: &mut Vec<Finding>) -> Result<()> {
    match modelconv_formats::numpy::read_npy(path) {
        Ok(_) => {}
        Err(e) => {
            // An object array holds a pickle after the header.
            let text = String::from_utf8_lossy(head);
            if text.contains("'descr': '|O'") || text.contains("'descr': 'O'") {
                out.push(finding(
                    Severity::Critical,
                    "npy-object",
                    "object array: np.load(allow_pickle=True) unpickles the data",
                ));
                let s = pickle_scan::scan_file_from(path, npy_data_offset(head))?;
                pickle_findings(&s, out);
            } else {
                out.push(finding(Severity::High, "malformed", e.to_string()));
            }
        }
    }
    Ok(())
}

/// Where an `.npy` file's data starts (after magic, version and header).
fn npy_data_offset(head: &[u8]) -> usize {
    match (head.get(6), head.get(8..12)) {
        (Some(1), Some(&[a, b, _, _])) => 10 + usize::from(u16::from_le_bytes([a, b])),
        (Some(_), Some(&[a, b, c, d])) => 12 + u32::from_le_bytes([a, b, c, d]) as usize,
        _ => head.len(),
    }
}

fn scan_gguf(path: &Path, out: &mut Vec<Finding>) {
    let f = match modelconv_gguf::read(path) {
        Ok(f) => f,
        Err(e) => {
            out.push(finding(Severity::High, "malformed", e.to_string()));
            return;
        }
    };
    for w in &f.warnings {
        out.push(finding(Severity::Info, "gguf-warning", w.clone()));
    }
    for (key, value) in &f.metadata {
        if !key.contains("chat_template") {
            continue;
        }
        let Some(t) = value.as_str() else { continue };
        let hits = suspicious_jinja(t);
        if hits.is_empty() {
            out.push(finding(
                Severity::Info,
                "chat-template",
                format!(
                    "{key}: a Jinja template ({} bytes); render it only in a sandboxed environment",
                    t.len()
                ),
            ));
        } else {
            out.push(finding(
                Severity::Medium,
                "jinja-ssti",
                format!(
                    "{key} reaches for Python internals ({}): an unsandboxed Jinja render runs code (CVE-2024-34359)",
                    hits.join(", ")
                ),
            ));
        }
    }
}

/// Constructs that chat templates never need and template injections do.
fn suspicious_jinja(t: &str) -> Vec<&'static str> {
    [
        "__class__",
        "__globals__",
        "__subclasses__",
        "__builtins__",
        "__import__",
        "__init__",
        "__mro__",
        "__base__",
        "popen",
        "os.system",
        "subprocess",
        "eval(",
        "exec(",
        "lipsum",
        "cycler",
        "joiner",
        "request.application",
    ]
    .into_iter()
    .filter(|p| t.contains(p))
    .collect()
}

fn scan_index(path: &Path, out: &mut Vec<Finding>) -> Result<()> {
    let bytes = modelconv_core::fsx::read_input(path, 256 << 20)?;
    let v: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            out.push(finding(
                Severity::High,
                "malformed",
                format!("not JSON: {e}"),
            ));
            return Ok(());
        }
    };
    let Some(map) = v.get("weight_map").and_then(|m| m.as_object()) else {
        out.push(finding(Severity::High, "malformed", "no weight_map object"));
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    for (tensor, file) in map {
        let Some(f) = file.as_str() else {
            out.push(finding(
                Severity::High,
                "malformed",
                format!("tensor '{tensor}': shard is not a string"),
            ));
            continue;
        };
        let escapes = f.starts_with('/')
            || f.starts_with('\\')
            || f.contains(':')
            || f.split(['/', '\\']).any(|c| c == "..");
        if escapes && seen.insert(f.to_string()) {
            out.push(finding(
                Severity::High,
                "path-traversal",
                format!("tensor '{tensor}' points at '{f}', outside the model directory"),
            ));
        }
    }
    Ok(())
}

fn scan_config(path: &Path, out: &mut Vec<Finding>) -> Result<()> {
    let bytes = modelconv_core::fsx::read_input(path, 64 << 20)?;
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        out.push(finding(
            Severity::High,
            "malformed",
            "config.json is not JSON",
        ));
        return Ok(());
    };
    if let Some(m) = v.get("auto_map").and_then(|m| m.as_object()) {
        let targets: Vec<String> = m
            .values()
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        out.push(finding(
            Severity::Medium,
            "remote-code",
            format!(
                "auto_map names custom code ({}): transformers runs it with trust_remote_code=True",
                targets.join(", ")
            ),
        ));
    }
    Ok(())
}
