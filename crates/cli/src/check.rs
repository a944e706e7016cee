//! `modelconv check-inference`.

use anyhow::Result;
use modelconv_infer::check::{check_inference, CheckOptions, CheckReport};
use modelconv_infer::Inputs;

use crate::args::CheckArgs;
use crate::{units, VerificationFailed};

/// Writes the seeds-style validation summary.
pub(crate) fn summarize(out: &mut String, r: &CheckReport) {
    let c = &r.comparison;
    outln!(
        out,
        "Model Type:      {} -> {}",
        r.source.family,
        r.output.family
    );
    outln!(
        out,
        "Source:          {} ({}, {})",
        r.source.path,
        r.source.format,
        units::bytes(r.source.size_bytes)
    );
    outln!(
        out,
        "Output:          {} ({}, {})",
        r.output.path,
        r.output.format,
        units::bytes(r.output.size_bytes)
    );
    outln!(out, "Compression:     {:.2}x", r.compression_ratio);
    outln!(out, "Test Samples:    {}", c.samples);
    for k in &c.kinds {
        outln!(out, "--- {} ---", k.kind);
        outln!(out, "Average:         {:.6}", k.average);
        outln!(out, "Minimum:         {:.6}", k.min);
        outln!(out, "Maximum:         {:.6}", k.max);
        outln!(out, "Std Dev:         {:.6}", k.std);
        outln!(out, "Max Abs Diff:    {:.3e}", k.max_abs_diff);
    }
    outln!(out, "Threshold:       {:.6}", c.threshold);
    if c.non_finite != (0, 0) {
        outln!(
            out,
            "Non-finite:      {} in the source's outputs, {} in the output's (NaN or Inf: fails)",
            c.non_finite.0,
            c.non_finite.1
        );
    }
    outln!(
        out,
        "Status:          {}",
        if c.passed { "PASS" } else { "FAIL" }
    );
}

/// Check options from the command line.
pub(crate) fn options(args: &CheckArgs) -> modelconv::Result<CheckOptions> {
    let mut texts = args.text.clone();
    if let Some(f) = &args.text_file {
        let t = modelconv::core::fsx::read_input_string(f, 64 << 20)?;
        texts.extend(
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string),
        );
    }
    let given = [
        !texts.is_empty(),
        !args.audio.is_empty(),
        !args.image.is_empty(),
    ];
    let inputs = match given {
        [false, false, false] => Inputs::Builtin,
        [true, false, false] => Inputs::Texts(texts),
        [false, true, false] => Inputs::Audio(args.audio.clone()),
        [false, false, true] => Inputs::Images(args.image.clone()),
        _ => {
            return Err(modelconv::Error::InvalidOption(
                "give one kind of input: --text/--text-file, --audio or --image".into(),
            ))
        }
    };
    Ok(CheckOptions {
        threshold: args.threshold,
        inputs,
        model_type: args
            .model_type
            .and_then(modelconv::request::ModelType::family),
        allow_amplification: args.allow_amplification,
    })
}

/// Runs the subcommand.
pub(crate) fn run(args: CheckArgs) -> Result<()> {
    let opts = options(&args)?;
    let report = check_inference(&args.source, &args.output, &opts)?;
    if let Some(path) = &args.report {
        modelconv::report_html::write(path, &modelconv::report_html::check_page(&report))?;
    }
    let mut out = String::new();
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else {
        summarize(&mut out, &report);
    }
    if args.json || !args.quiet {
        crate::emit(&out);
    }
    let c = &report.comparison;
    if c.passed {
        Ok(())
    } else if c.non_finite != (0, 0) {
        Err(VerificationFailed(format!(
            "non-finite outputs (NaN or Inf): {} in the source's, {} in the output's",
            c.non_finite.0, c.non_finite.1
        ))
        .into())
    } else {
        Err(VerificationFailed(format!(
            "lowest cosine {:.6} is below the threshold {}",
            c.min_cosine, c.threshold
        ))
        .into())
    }
}
