//! `modelconv fake`.

use anyhow::Result;
use modelconv::arch::fake::{parse_shape_override, Init};
use modelconv::fake::FakeOptions;
use modelconv::ConvertOptions;

use crate::args::FakeArgs;
use crate::progress::Bar;

fn options(args: &FakeArgs) -> modelconv::Result<FakeOptions> {
    Ok(FakeOptions {
        init: Init::parse(&args.init, args.scale)?,
        seed: args.seed,
        dtype: args.dtype.and_then(modelconv::request::CastDType::dtype),
        shapes: args
            .shapes
            .iter()
            .map(|s| parse_shape_override(s))
            .collect::<modelconv::Result<_>>()?,
        model_type: args
            .model_type
            .and_then(modelconv::request::ModelType::family),
        convert: ConvertOptions {
            max_shard_size: args.max_shard_size.map(|s| s.0),
            overwrite: args.overwrite,
            allow_amplification: args.allow_amplification,
            ..ConvertOptions::default()
        },
    })
}

/// Runs the subcommand.
pub(crate) fn run(args: FakeArgs) -> Result<()> {
    let bar = Bar::new(args.quiet || args.json);
    let opts = options(&args)?;
    let report = modelconv::fake::fake(&args.source, &args.output, &opts, &bar)?;
    let mut out = String::new();
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else if !args.quiet {
        crate::convert::print_summary(&mut out, &report);
    }
    crate::emit(&out);
    Ok(())
}
