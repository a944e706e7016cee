//! `modelconv inspect`.

use anyhow::Result;

use crate::args::InspectArgs;
use crate::units;

/// Runs the subcommand.
pub fn run(args: InspectArgs) -> Result<()> {
    let mut report = modelconv::inspect(&args.path)?;
    if args.json {
        if !args.tensors {
            report.tensors.clear();
        }
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let arch = match (&report.architecture, &report.model_type) {
        (Some(a), Some(m)) if a != m => format!("{a} (model_type {m})"),
        (Some(a), _) => a.clone(),
        (None, _) => "unknown (no config.json)".to_string(),
    };
    println!("source:       {}", report.source);
    println!("format:       {}", report.format);
    println!("architecture: {arch}");
    println!("tensors:      {}", report.tensor_count);
    println!(
        "parameters:   {} ({})",
        report.parameters,
        units::count(report.parameters)
    );
    println!(
        "tensor bytes: {} ({})",
        report.total_bytes,
        units::bytes(report.total_bytes)
    );
    for (d, s) in &report.dtypes {
        println!(
            "  {d:<8} {:>6} tensors {:>10} parameters {:>10}",
            s.tensors,
            units::count(s.parameters),
            units::bytes(s.bytes)
        );
    }
    println!("files:        {}", report.files.len());
    for f in &report.files {
        println!("  {} ({})", f.path.display(), units::bytes(f.size));
    }
    if !report.metadata.is_empty() {
        let meta: Vec<String> = report
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("metadata:     {}", meta.join(", "));
    }
    if !report.carried_files.is_empty() {
        println!("carried:      {}", report.carried_files.join(", "));
    }
    if !report.skipped_files.is_empty() {
        println!("not read:     {}", report.skipped_files.join(", "));
    }
    if !report.pickle_globals.is_empty() {
        println!("pickle globals (never imported or called):");
        for (g, allowed) in &report.pickle_globals {
            let flag = if *allowed {
                "allowed"
            } else {
                "NOT ALLOWED: a conversion refuses this file"
            };
            println!("  {g:<50} {flag}");
        }
    }
    for (alias, kept) in &report.aliases {
        println!("tied:         {alias} = {kept}");
    }
    for n in &report.notes {
        println!("note:         {n}");
    }
    if args.tensors {
        for t in &report.tensors {
            println!("  {:<60} {:<8} {:?}", t.name, t.dtype.name(), t.shape);
        }
    }
    Ok(())
}
