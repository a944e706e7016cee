//! `convert --validate`: the output compared with the source right after
//! writing — every tensor ([`crate::verify()`]: bit-exact, bit-exact after
//! its cast, or its quant type's cosine bound), then both models through
//! the family's forward pass when an [`crate::check::InferenceCheck`] is
//! given (the CLI and the Python bindings give `modelconv-infer`'s).

use std::path::Path;

use crate::convert::{ConversionReport, ConvertOptions};
use crate::Result;

/// Validates the conversion `report` describes, recording the results in
/// it; a failed comparison sets `success = false` and `error_message`.
pub fn validate(
    src: &str,
    dst: &Path,
    opts: &ConvertOptions,
    report: &mut ConversionReport,
) -> Result<()> {
    if !dst.exists() {
        report.warnings.push(
            "--validate: the output is sharded beside a file name; verify the shards' directory instead"
                .into(),
        );
        return Ok(());
    }
    // Each tensor is held to what the conversion promised (bit-exact,
    // bit-exact after its cast, or its quant type's cosine bound); folding
    // muP scales changes values on purpose, so there only cosine holds.
    let vopts = crate::VerifyOptions {
        exact: false,
        min_cosine: opts.family.mup_to_llama.then_some(0.99),
        max_rmse: None,
        allow_missing: opts.family.component.is_some(),
        allow_amplification: opts.allow_amplification,
    };
    let out = dst.to_string_lossy();
    let mut v = crate::verify(src, &out, &vopts)?;
    // Keep the report small: only failing tensors are listed.
    v.tensors.retain(|t| !t.passed);
    if !v.passed {
        report.success = false;
        report.error_message = Some(
            "validation failed: the output differs from the source beyond the thresholds".into(),
        );
    }
    report.validation = Some(v);
    let family_known = report.family.as_ref().is_some_and(|f| f.family.is_some());
    let Some(checker) = opts.inference.as_ref().filter(|_| family_known) else {
        return Ok(());
    };
    let req = crate::check::CheckRequest {
        model_type: opts.family.model_type,
        allow_amplification: opts.allow_amplification,
    };
    match checker.check(src, &out, &req) {
        Ok(c) => {
            if !c.comparison.passed {
                report.success = false;
                report.error_message = Some(format!(
                    "check-inference failed: lowest cosine {:.6} below {}",
                    c.comparison.min_cosine, c.comparison.threshold
                ));
            }
            report.inference = Some(c);
        }
        Err(e) => report
            .warnings
            .push(format!("--validate: check-inference skipped: {e}")),
    }
    Ok(())
}
