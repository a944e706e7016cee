//! `modelconv inspect`.

use anyhow::Result;

use crate::args::InspectArgs;
use crate::units;

/// Runs the subcommand.
pub(crate) fn run(args: InspectArgs) -> Result<()> {
    let mut report = modelconv::inspect::inspect_with(&args.path, args.tensors)?;
    let mut out = String::new();
    if args.json {
        if !args.tensors {
            report.tensors.clear();
        }
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
        crate::emit(&out);
        return Ok(());
    }
    let arch = match (&report.architecture, &report.model_type) {
        (Some(a), Some(m)) if a != m => format!("{a} (model_type {m})"),
        (Some(a), _) => a.clone(),
        (None, _) => "unknown (no config.json)".to_string(),
    };
    outln!(out, "source:       {}", report.source);
    outln!(out, "format:       {}", report.format);
    outln!(out, "architecture: {arch}");
    outln!(out, "family:       {}", report.detection.reason);
    if !report.components.is_empty() {
        let c: Vec<&str> = report.components.iter().map(|c| c.name()).collect();
        outln!(out, "components:   {} (--component)", c.join(", "));
    }
    if let Some(st) = &report.sentence_transformers {
        outln!(
            out,
            "sentence-transformers: pooling {}, normalize {}, max_seq_length {}",
            st.pooling_mode.as_deref().unwrap_or("?"),
            st.normalize,
            st.max_seq_length
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    if !report.family_summary.is_empty() {
        outln!(
            out,
            "config:       {}",
            serde_json::Value::Object(report.family_summary.clone())
        );
    }
    outln!(out, "tensors:      {}", report.tensor_count);
    outln!(
        out,
        "parameters:   {} ({})",
        report.parameters,
        units::count(report.parameters)
    );
    outln!(
        out,
        "tensor bytes: {} ({})",
        report.total_bytes,
        units::bytes(report.total_bytes)
    );
    for (d, s) in &report.dtypes {
        outln!(
            out,
            "  {d:<8} {:>6} tensors {:>10} parameters {:>10}",
            s.tensors,
            units::count(s.parameters),
            units::bytes(s.bytes)
        );
    }
    outln!(out, "files:        {}", report.files.len());
    for f in &report.files {
        outln!(out, "  {} ({})", f.path.display(), units::bytes(f.size));
    }
    if let Some(g) = &report.gguf {
        outln!(
            out,
            "gguf:         v{}, alignment {}, file type {}, {:.2} bits per weight",
            g.version,
            g.alignment,
            g.file_type.as_deref().unwrap_or("?"),
            g.bits_per_weight
        );
        outln!(out, "quant mix (as stored):");
        for (t, s) in &g.quant_mix {
            outln!(
                out,
                "  {t:<8} {:>6} tensors {:>10} parameters {:>10}",
                s.tensors,
                units::count(s.parameters),
                units::bytes(s.bytes)
            );
        }
        outln!(out, "gguf metadata:");
        for (k, v) in &g.metadata {
            outln!(out, "  {k:<40} {v}");
        }
        for w in &g.warnings {
            outln!(out, "gguf warning: {w}");
        }
        if args.tensors {
            outln!(out, "gguf tensors (as stored):");
            for (name, ty, shape, bytes) in &g.tensors {
                let n: usize = shape.iter().product();
                outln!(
                    out,
                    "  {name:<40} {ty:<8} {:<16} {:>10} {:.2} bpw",
                    format!("{shape:?}"),
                    units::bytes(*bytes),
                    if n == 0 {
                        0.0
                    } else {
                        *bytes as f64 * 8.0 / n as f64
                    }
                );
            }
        }
    } else if !report.metadata.is_empty() {
        let meta: Vec<String> = report
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!(out, "metadata:     {}", meta.join(", "));
    }
    if !report.carried_files.is_empty() {
        outln!(out, "carried:      {}", report.carried_files.join(", "));
    }
    if !report.skipped_files.is_empty() {
        outln!(out, "not read:     {}", report.skipped_files.join(", "));
    }
    if !report.pickle_globals.is_empty() {
        outln!(out, "pickle globals (never imported or called):");
        for (g, allowed) in &report.pickle_globals {
            let flag = if *allowed {
                "allowed"
            } else {
                "NOT ALLOWED: a conversion refuses this file"
            };
            outln!(out, "  {g:<50} {flag}");
        }
    }
    for (alias, kept) in &report.aliases {
        outln!(out, "tied:         {alias} = {kept}");
    }
    for n in &report.notes {
        outln!(out, "note:         {n}");
    }
    if args.tensors {
        for t in &report.tensors {
            outln!(out, "  {:<60} {:<8} {:?}", t.name, t.dtype.name(), t.shape);
        }
    }
    if !args.quiet {
        crate::emit(&out);
    }
    Ok(())
}
