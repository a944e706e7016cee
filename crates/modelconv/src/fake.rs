//! `fake`: a complete checkpoint with generated values, from a family's
//! `config.json` alone (exact transformers tensor names and shapes), or
//! mirroring the tensor list of an existing model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use modelconv_arch::fake::{FakeSource, Init};
use modelconv_arch::Family;
use modelconv_core::model::AuxFile;
use modelconv_core::progress::Reporter;
use modelconv_core::tensor::{OwnedBytes, Tensor};
use modelconv_core::{DType, Error, Model, Result, TensorInfo};
use serde_json::Value;

use crate::convert::{convert_model, ConversionReport, ConvertOptions};
use crate::source;

/// `fake` settings. Default: normal init (std 0.02), seed 0, f32, family
/// detected from the config.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// Value distribution.
    pub init: Init,
    /// Random seed.
    pub seed: u64,
    /// Float dtype; `None` = f32 from a config, each tensor's own dtype when mirroring.
    pub dtype: Option<DType>,
    /// Shape overrides by exact tensor name.
    pub shapes: Vec<(String, Vec<usize>)>,
    /// Force the family.
    pub model_type: Option<Family>,
    /// Output settings (shards, overwrite, engine, `allow_amplification`
    /// when mirroring); `dtype` and family options are ignored.
    pub convert: ConvertOptions,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            init: Init::Normal(0.02),
            seed: 0,
            dtype: None,
            shapes: Vec::new(),
            model_type: None,
            convert: ConvertOptions::default(),
        }
    }
}

/// Where a `fake` source's config is, if it is a config rather than a model.
fn config_path(src: &Path) -> Option<PathBuf> {
    if src.is_file() && src.extension().is_some_and(|e| e == "json") {
        return Some(src.to_path_buf());
    }
    if src.is_dir() {
        let has_weights = std::fs::read_dir(src)
            .ok()?
            .filter_map(|e| e.ok())
            .any(|e| {
                modelconv_formats::hf::is_weight_file(&e.file_name().to_string_lossy())
                    || e.file_name() == "weights.parquet"
            });
        let cfg = src.join("config.json");
        if !has_weights && cfg.is_file() {
            return Some(cfg);
        }
    }
    None
}

/// The tensors transformers creates for `config` (family detected unless forced).
pub fn tensors_for_config(
    config: &Value,
    forced: Option<Family>,
) -> Result<(Family, Vec<modelconv_arch::TensorSpec>)> {
    let family = match forced {
        Some(f) => f,
        None => {
            let d = modelconv_arch::detect(
                modelconv_arch::detect::Evidence {
                    config: Some(config),
                    ..Default::default()
                },
                &[] as &[&str],
            );
            d.family
                .ok_or_else(|| Error::InvalidOption(format!("fake: {}", d.reason)))?
        }
    };
    Ok((family, family.expected_tensors(config)?))
}

/// Writes a fake checkpoint for `src` to `dst`.
pub fn fake(
    src: &str,
    dst: &Path,
    opts: &FakeOptions,
    reporter: &dyn Reporter,
) -> Result<ConversionReport> {
    let start = Instant::now();
    let path = Path::new(src);
    let mut model;
    let specs: Vec<(String, DType, Vec<usize>)>;
    if let Some(cfg_path) = config_path(path) {
        if opts.convert.allow_amplification {
            return Err(Error::InvalidOption(
                "--allow-amplification applies when mirroring a model, not to a config".into(),
            ));
        }
        let text = modelconv_core::fsx::read_input_string(&cfg_path, 64 << 20)?;
        let config: Value = serde_json::from_str(&text).map_err(|e| {
            Error::InvalidOption(format!("{}: not valid JSON: {e}", cfg_path.display()))
        })?;
        let (_, list) = tensors_for_config(&config, opts.model_type)?;
        let dtype = opts.dtype.unwrap_or(DType::F32);
        specs = list.into_iter().map(|(n, s)| (n, dtype, s)).collect();
        let mut bytes = text.into_bytes();
        if !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        model = Model {
            format: modelconv_core::FormatId::Generated,
            layout: "fake".into(),
            root: path.to_path_buf(),
            config: Some(config),
            ..Model::default()
        };
        model.set_aux_file(AuxFile::generated("config.json", bytes));
    } else {
        let source = source::open(src)?;
        // Mirroring writes what the tensors declare: a stride-0 view or an
        // inflating member would be a small file turned into a huge one.
        source.check_amplification(opts.convert.allow_amplification)?;
        specs = source
            .tensors
            .iter()
            .map(|t| {
                let dtype = match opts.dtype {
                    Some(d) if t.info.dtype.is_float() => d,
                    _ => t.info.dtype,
                };
                (t.info.name.clone(), dtype, t.info.shape.clone())
            })
            .collect();
        model = Model {
            format: modelconv_core::FormatId::Generated,
            layout: format!("fake (mirroring {})", source.format_description()),
            root: source.root.clone(),
            config: source.config.clone(),
            aux_files: source.aux_files.clone(),
            ..Model::default()
        };
    }
    for (name, _) in &opts.shapes {
        if !specs.iter().any(|(n, _, _)| n == name) {
            return Err(Error::InvalidOption(format!(
                "--shape {name}: the model has no tensor of that name"
            )));
        }
    }
    let gemma = model
        .config
        .as_ref()
        .and_then(|c| c.get("model_type"))
        .and_then(Value::as_str)
        == Some("gemma");
    for (index, (name, dtype, shape)) in specs.into_iter().enumerate() {
        let shape = opts
            .shapes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or(shape);
        let info = TensorInfo { name, dtype, shape };
        let numel = info
            .checked_numel()
            .filter(|n| n.checked_mul(dtype.size()).is_some())
            .ok_or_else(|| Error::InvalidOption(format!("tensor '{}' is too large", info.name)))?;
        let source: Arc<dyn modelconv_core::TensorSource> =
            if matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
                Arc::new(FakeSource::new(
                    &info.name, dtype, numel, opts.init, opts.seed, index, gemma,
                )?)
            } else {
                // Integer, bool and other tensors are zeros.
                if numel > 1 << 28 {
                    return Err(Error::InvalidOption(format!(
                        "tensor '{}': fake {} tensors larger than 256M elements are not supported",
                        info.name, dtype
                    )));
                }
                Arc::new(OwnedBytes(Arc::new(vec![0u8; numel * dtype.size()])))
            };
        model.tensors.push(Tensor {
            info,
            source,
            file: std::sync::Arc::from(std::path::Path::new("")),
        });
    }
    let mut copts = opts.convert.clone();
    copts.dtype = None;
    copts.dtype_overrides.clear();
    copts.family = crate::FamilyOptions {
        model_type: opts.model_type,
        // `--shape` asks for shapes the config does not give, on purpose.
        skip_shape_check: !opts.shapes.is_empty(),
        ..Default::default()
    };
    convert_model(model, src, dst, &copts, reporter, start)
}
