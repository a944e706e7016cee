//! `modelconv verify`.

use anyhow::Result;
use modelconv::{VerifyOptions, VerifyReport};

use crate::args::VerifyArgs;
use crate::VerificationFailed;

/// Writes the human summary of a verification.
pub(crate) fn summarize(out: &mut String, r: &VerifyReport, all: bool) {
    outln!(
        out,
        "{}: {} tensors compared, {} bit-exact; min cosine {:.6}, max RMSE {:.3e}, max abs error {:.3e}",
        if r.passed { "PASS" } else { "FAIL" },
        r.compared,
        r.bit_exact,
        r.min_cosine,
        r.max_rmse,
        r.max_abs_error
    );
    let checks: Vec<String> = r.checks.iter().map(|(c, n)| format!("{n} {c}")).collect();
    if !checks.is_empty() {
        outln!(out, "  compared as: {}", checks.join("; "));
    }
    for t in r.tensors.iter().filter(|t| all || !t.passed) {
        outln!(
            out,
            "  {} {:<50} {}->{} exact={} max_abs={:.3e} rmse={:.3e} cos={:.6} snr={:.1}dB{}",
            if t.passed { "ok  " } else { "FAIL" },
            t.name,
            t.dtypes.0,
            t.dtypes.1,
            t.bit_exact,
            t.max_abs_error,
            t.rmse,
            t.cosine,
            t.snr_db,
            t.problem
                .as_deref()
                .map(|p| format!("  ({p})"))
                .unwrap_or_default()
        );
    }
    for m in &r.missing {
        outln!(out, "  missing in output: {m}");
    }
    for e in &r.extra {
        outln!(out, "  only in output: {e}");
    }
}

/// Runs the subcommand.
pub(crate) fn run(args: VerifyArgs) -> Result<()> {
    let opts = VerifyOptions {
        exact: args.exact,
        min_cosine: args.min_cosine,
        max_rmse: args.max_rmse,
        allow_missing: args.allow_missing,
        allow_amplification: args.allow_amplification,
    };
    let report = modelconv::verify(&args.source, &args.output, &opts)?;
    if let Some(path) = &args.report {
        modelconv::report_html::write(
            path,
            &modelconv::report_html::verify_page(&args.source, &args.output, &report),
        )?;
    }
    let mut out = String::new();
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else {
        summarize(&mut out, &report, args.tensors);
    }
    if args.json || !args.quiet {
        crate::emit(&out);
    }
    if report.passed {
        Ok(())
    } else {
        Err(VerificationFailed(format!(
            "{} of {} tensors failed, {} missing, {} extra",
            report.tensors.iter().filter(|t| !t.passed).count(),
            report.compared,
            report.missing.len(),
            report.extra.len()
        ))
        .into())
    }
}
