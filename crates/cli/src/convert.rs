//! `modelconv convert`.

use std::time::Instant;

use anyhow::Result;
use modelconv::convert::parse_target_dtype;
use modelconv::{ConversionReport, ConvertOptions, EngineOptions, Format};

use crate::args::ConvertArgs;
use crate::progress::Bar;
use crate::units;

/// Environment variable that slows the engine down after every chunk
/// (milliseconds). A testing aid for interruption tests.
const DELAY_ENV: &str = "MODELCONV_TEST_CHUNK_DELAY_MS";
/// Testing aid (debug builds only): make one engine file operation fail,
/// e.g. `write:4096=enospc`, `fsync:2=eio`, `rename`.
const FAULT_ENV: &str = "MODELCONV_TEST_FAIL_AT";

fn quantize(args: &ConvertArgs) -> modelconv::Result<Option<modelconv::QuantizeOptions>> {
    let bad = |m: String| modelconv::Error::InvalidOption(m);
    match args.quantize.as_deref() {
        None => {
            if args.quant_axis.is_some() || args.quant_scheme.is_some() {
                return Err(bad("--quant-axis and --quant-scheme need --quantize int8".into()));
            }
            Ok(None)
        }
        Some("int8") => Ok(Some(modelconv::QuantizeOptions {
            scheme: match args.quant_scheme.as_deref() {
                None | Some("sym") | Some("symmetric") => modelconv::Scheme::Symmetric,
                Some("asym") | Some("asymmetric") => modelconv::Scheme::Asymmetric,
                Some(s) => return Err(bad(format!("unknown quantization scheme '{s}' (sym, asym)"))),
            },
            axis: match args.quant_axis.as_deref() {
                None => Some(0),
                Some("tensor") | Some("per-tensor") => None,
                Some(a) => Some(a.parse().map_err(|_| bad(format!("--quant-axis '{a}' is not a dimension or 'tensor'")))?),
            },
        })),
        Some(other) => Err(bad(format!(
            "--quantize {other} is not supported yet; available: int8 (GGUF and GPTQ/AWQ quantization are planned)"
        ))),
    }
}

/// Parses `--model-type` (`auto` = detect).
pub fn model_type(s: &str) -> modelconv::Result<Option<modelconv::arch::Family>> {
    if s.eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        modelconv::arch::Family::parse(s).map(Some)
    }
}

fn options(args: &ConvertArgs) -> modelconv::Result<ConvertOptions> {
    let quantize = quantize(args)?;
    Ok(ConvertOptions {
        gguf_preset: match args.quant.as_deref() {
            None => None,
            Some(q) => Some(modelconv::gguf_preset(q)?),
        },
        tensor_types: args
            .tensor_type
            .iter()
            .map(|s| {
                modelconv::gguf::preset::Override::parse(s).map_err(modelconv::Error::InvalidOption)
            })
            .collect::<modelconv::Result<_>>()?,
        family: modelconv::FamilyOptions {
            model_type: model_type(&args.model_type)?,
            component: args
                .component
                .as_deref()
                .map(modelconv::arch::Component::parse)
                .transpose()?,
            key_map: args
                .key_map
                .as_deref()
                .map(modelconv::arch::KeyMap::parse)
                .transpose()?,
            mup_to_llama: args.mup_to_llama,
            no_metadata: args.no_metadata,
            skip_shape_check: false,
        },
        quantize,
        to: args.to.as_deref().map(Format::parse).transpose()?,
        dtype: match args.dtype.as_deref() {
            None | Some("keep") => None,
            Some(d) => Some(parse_target_dtype(d)?),
        },
        dtype_overrides: args
            .dtype_overrides
            .iter()
            .map(|s| ConvertOptions::parse_override(s))
            .collect::<modelconv::Result<_>>()?,
        max_shard_size: args
            .max_shard_size
            .as_deref()
            .map(modelconv::parse_size)
            .transpose()?,
        overwrite: args.overwrite,
        allow_amplification: args.allow_amplification,
        parquet: modelconv::ParquetOptions {
            // None: chunked, or the seeds' V2 when there are quantized tensors.
            schema: match args.parquet_schema.as_deref() {
                None => None,
                Some(s) => Some(modelconv::SchemaVersion::parse(s).ok_or_else(|| {
                    modelconv::Error::InvalidOption(format!(
                        "unknown Parquet schema '{s}' (chunked, v1, v2)"
                    ))
                })?),
            },
            codec: modelconv::Codec::parse(
                args.compression.as_deref().unwrap_or("zstd"),
                args.compression_level,
            )?,
            ..modelconv::ParquetOptions::default()
        },
        engine: EngineOptions {
            threads: args.threads,
            chunk_bytes: match args.chunk_size.as_deref() {
                Some(s) => usize::try_from(modelconv::parse_size(s)?).map_err(|_| {
                    modelconv::Error::InvalidOption(format!("chunk size {s} is too large"))
                })?,
                None => EngineOptions::default().chunk_bytes,
            },
            resume: args.resume,
            no_sync: args.no_sync,
            chunk_delay_ms: std::env::var(DELAY_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            fault: match std::env::var(FAULT_ENV) {
                Ok(spec) if cfg!(debug_assertions) => Some(modelconv::Fault::parse(&spec)?),
                _ => None,
            },
            ..EngineOptions::default()
        },
    })
}

/// Compares the output with the source: bit-exact when nothing was cast or
/// quantized, else cosine >= 0.99 per tensor.
fn validate(
    args: &ConvertArgs,
    opts: &ConvertOptions,
    report: &mut ConversionReport,
) -> modelconv::Result<()> {
    if !args.dst.exists() {
        report
            .warnings
            .push("--validate: the output is sharded beside a file name; verify the shards' directory instead".into());
        return Ok(());
    }
    // Folding muP scales changes values on purpose; cosine still holds.
    let lossless = report.tensors_cast == 0 && opts.quantize.is_none() && !opts.family.mup_to_llama;
    let vopts = modelconv::VerifyOptions {
        exact: lossless,
        min_cosine: if lossless { None } else { Some(0.99) },
        max_rmse: None,
        allow_missing: opts.family.component.is_some(),
        allow_amplification: opts.allow_amplification,
    };
    let dst = args.dst.to_string_lossy();
    let mut v = modelconv::verify(&args.src, &dst, &vopts)?;
    // Keep the report small: only failing tensors are listed.
    v.tensors.retain(|t| !t.passed);
    if !v.passed {
        report.success = false;
        report.error_message = Some(
            "validation failed: the output differs from the source beyond the thresholds".into(),
        );
    }
    report.validation = Some(v);
    // Forward passes, when the family has one.
    let family_known = report.family.as_ref().is_some_and(|f| f.family.is_some());
    if family_known {
        let copts = modelconv_infer::check::CheckOptions {
            model_type: opts.family.model_type,
            allow_amplification: opts.allow_amplification,
            ..Default::default()
        };
        match modelconv_infer::check::check_inference(&args.src, &dst, &copts) {
            Ok(c) => {
                if !c.comparison.passed {
                    report.success = false;
                    report.error_message = Some(format!(
                        "check-inference failed: lowest cosine {:.6} below {}",
                        c.comparison.min_cosine, c.comparison.threshold
                    ));
                }
                report.inference = Some(
                    serde_json::to_value(&c)
                        .map_err(|e| modelconv::Error::Internal(e.to_string()))?,
                );
            }
            Err(e) => report
                .warnings
                .push(format!("--validate: check-inference skipped: {e}")),
        }
    }
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: ConvertArgs) -> Result<()> {
    let start = Instant::now();
    let bar = Bar::new(args.quiet || args.json);
    let result = options(&args).and_then(|opts| {
        let mut report = modelconv::convert(&args.src, &args.dst, &opts, &bar)?;
        if args.validate {
            validate(&args, &opts, &mut report)?;
        }
        Ok(report)
    });
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
                    let c = &i["comparison"];
                    outln!(
                        out,
                        "check-inference: {} ({} samples, min cosine {:.6}, threshold {})",
                        if c["passed"].as_bool() == Some(true) {
                            "PASS"
                        } else {
                            "FAIL"
                        },
                        c["samples"],
                        c["min_cosine"].as_f64().unwrap_or(f64::NAN),
                        c["threshold"]
                    );
                }
            }
            let inference_failed = report
                .inference
                .as_ref()
                .and_then(|i| i["comparison"]["passed"].as_bool())
                == Some(false);
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
pub fn print_summary(out: &mut String, r: &ConversionReport) {
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
        outln!(out, "  family:  {}", f.detection.reason);
    }
    let dtypes: Vec<String> = r.dtypes.iter().map(|(d, n)| format!("{d}: {n}")).collect();
    outln!(
        out,
        "  dtypes:  {} ({} tensors cast)",
        dtypes.join(", "),
        r.tensors_cast
    );
    outln!(
        out,
        "  size:    {} -> {} (ratio {:.2}x) in {:.2} s",
        units::bytes(r.source_size_bytes),
        units::bytes(r.output_size_bytes),
        r.compression_ratio,
        r.conversion_time_sec
    );
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
