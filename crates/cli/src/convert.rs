//! `modelconv convert`.

use std::time::Instant;

use anyhow::Result;
use modelconv::{ConversionReport, ConvertOptions};

use crate::args::ConvertArgs;
use crate::progress::Bar;
use crate::units;

/// Environment variable that slows the engine down after every chunk
/// (milliseconds). A testing aid for interruption tests.
const DELAY_ENV: &str = "MODELCONV_TEST_CHUNK_DELAY_MS";
/// Testing aid (debug builds only): make one engine file operation fail,
/// e.g. `write:4096=enospc`, `fsync:2=eio`, `rename`.
const FAULT_ENV: &str = "MODELCONV_TEST_FAIL_AT";

/// The resolved options: the request, the engine's testing aids from the
/// environment (debug builds), and the forward-pass check for `--validate`.
fn options(args: &ConvertArgs) -> modelconv::Result<ConvertOptions> {
    let mut opts = args.request.resolve(&args.dst)?;
    opts.engine.hooks.chunk_delay_ms = std::env::var(DELAY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    opts.engine.hooks.fault = match std::env::var(FAULT_ENV) {
        Ok(spec) if cfg!(debug_assertions) => Some(modelconv::Fault::parse(&spec)?),
        _ => None,
    };
    opts.inference = Some(std::sync::Arc::new(modelconv_infer::check::Checker));
    // Ctrl-C keeps the partial output for --resume (see `interrupt`).
    opts.engine.keep_on_cancel = true;
    Ok(opts)
}

/// Runs the subcommand.
pub(crate) fn run(args: ConvertArgs) -> Result<()> {
    let start = Instant::now();
    let bar = Bar::new(args.quiet || args.json);
    let result =
        options(&args).and_then(|opts| modelconv::convert(&args.src, &args.dst, &opts, &bar));
    let mut out = String::new();
    let outcome = match result {
        Ok(report) => {
            if args.json {
                outln!(out, "{}", serde_json::to_string_pretty(&report)?);
            } else if !args.quiet {
                print_summary(&mut out, &report);
                if let Some(v) = &report.validation {
                    crate::verify::summarize(&mut out, v, false);
                }
                if let Some(i) = &report.inference {
                    let c = &i.comparison;
                    outln!(
                        out,
                        "check-inference: {} ({} samples, min cosine {:.6}, threshold {})",
                        if c.passed { "PASS" } else { "FAIL" },
                        c.samples,
                        c.min_cosine,
                        c.threshold
                    );
                }
            }
            let inference_failed = report
                .inference
                .as_ref()
                .is_some_and(|i| !i.comparison.passed);
            match &report.validation {
                Some(v) if !v.passed => Err(crate::VerificationFailed(format!(
                    "{} tensors differ beyond the thresholds",
                    v.tensors.len() + v.missing.len() + v.extra.len()
                ))
                .into()),
                _ if inference_failed => Err(crate::VerificationFailed(
                    "the converted model's outputs differ from the source's (check-inference)"
                        .into(),
                )
                .into()),
                _ => Ok(()),
            }
        }
        Err(err) => {
            if args.json {
                let elapsed = start.elapsed().as_secs_f64();
                let report = ConversionReport::failed(&args.src, &args.dst, &err, elapsed);
                outln!(out, "{}", serde_json::to_string_pretty(&report)?);
            }
            Err(err.into())
        }
    };
    crate::emit(&out);
    outcome
}

/// Prints the human summary of a conversion.
pub(crate) fn print_summary(out: &mut String, r: &ConversionReport) {
    outln!(
        out,
        "converted {} ({}, {} tensors, {} parameters) -> {} ({})",
        r.source,
        r.source_format,
        r.tensors,
        units::count(r.total_parameters),
        r.output.display(),
        r.output_format
    );
    if let Some(f) = &r.family {
        let plain = if f.family.is_none() {
            " (converted as plain weights)"
        } else {
            ""
        };
        outln!(out, "  family:  {}{plain}", f.detection.reason);
    }
    let dtypes: Vec<String> = r.dtypes.iter().map(|(d, n)| format!("{d}: {n}")).collect();
    outln!(
        out,
        "  dtypes:  {} ({} tensors cast)",
        dtypes.join(", "),
        r.tensors_cast
    );
    if r.source_size_bytes == 0 {
        // Generated (`fake`): nothing was read, so there is no ratio.
        outln!(
            out,
            "  size:    {} generated in {:.2} s",
            units::bytes(r.output_size_bytes),
            r.conversion_time_sec
        );
    } else {
        outln!(
            out,
            "  size:    {} -> {} (ratio {:.2}x) in {:.2} s",
            units::bytes(r.source_size_bytes),
            units::bytes(r.output_size_bytes),
            r.compression_ratio,
            r.conversion_time_sec
        );
    }
    for f in &r.files {
        let name = f
            .path
            .strip_prefix(&r.output)
            .ok()
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(|| f.path.file_name().map(std::path::Path::new))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let kept = if f.kept {
            " (kept from interrupted run)"
        } else {
            ""
        };
        outln!(
            out,
            "  {:<40} {:>10}  sha256 {}{}",
            name,
            units::bytes(f.size),
            f.sha256,
            kept
        );
    }
    if r.resumed_chunks > 0 {
        outln!(
            out,
            "  resumed: {} chunks kept from the interrupted run",
            r.resumed_chunks
        );
    }
    for w in &r.warnings {
        outln!(out, "  warning: {w}");
    }
}
