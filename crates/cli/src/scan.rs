//! `modelconv scan`.

use anyhow::Result;
use modelconv::scan::{FileScan, ScanReport, Severity};

use crate::args::ScanArgs;
use crate::ScanFindings;

fn label(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Info => "info",
    }
}

fn flagged(f: &FileScan) -> bool {
    f.findings.iter().any(|x| x.severity >= Severity::Medium)
}

/// Runs `modelconv scan`.
pub(crate) fn run(args: ScanArgs) -> Result<()> {
    let mut reports: Vec<ScanReport> = Vec::new();
    for p in &args.paths {
        reports.push(modelconv::scan(p)?);
    }
    let files: Vec<&FileScan> = reports.iter().flat_map(|r| &r.files).collect();
    let bad = files.iter().filter(|f| flagged(f)).count();
    let mut out = String::new();
    if args.json {
        let v = serde_json::json!({
            "passed": bad == 0,
            "files": files,
        });
        outln!(out, "{}", serde_json::to_string_pretty(&v)?);
    } else {
        for f in &files {
            if !args.all && f.findings.is_empty() {
                continue;
            }
            outln!(
                out,
                "{} [{}] {}",
                if flagged(f) { "UNSAFE" } else { "ok    " },
                f.kind,
                f.path.display()
            );
            for x in &f.findings {
                outln!(
                    out,
                    "    {:<8} {:<18} {}",
                    label(x.severity),
                    x.code,
                    x.message
                );
            }
        }
        outln!(
            out,
            "{} file(s) scanned, {} with findings of medium severity or worse; nothing was executed",
            files.len(),
            bad
        );
    }
    if args.json || !args.quiet {
        crate::emit(&out);
    }
    if bad > 0 {
        return Err(ScanFindings(bad).into());
    }
    Ok(())
}
