//! Reading `config.json` values with transformers' defaults.

use serde_json::Value;

/// A view of a config object (or of nothing: every getter then returns its default).
#[derive(Debug, Clone, Copy)]
pub struct Cfg<'a>(pub Option<&'a Value>);

impl<'a> Cfg<'a> {
    /// Wraps a config value.
    pub fn new(v: &'a Value) -> Self {
        Cfg(Some(v))
    }

    /// The raw value of `key`, if present and not null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0?.get(key).filter(|v| !v.is_null())
    }

    /// A sub-config (e.g. `vision_config`); empty if absent.
    pub fn sub(&self, key: &str) -> Cfg<'a> {
        Cfg(self.get(key).filter(|v| v.is_object()))
    }

    /// An unsigned integer, else `default`.
    pub fn usize(&self, key: &str, default: usize) -> usize {
        self.opt_usize(key).unwrap_or(default)
    }

    /// An unsigned integer, if present.
    pub fn opt_usize(&self, key: &str) -> Option<usize> {
        self.get(key)?
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
    }

    /// A number, else `default`.
    pub fn f64(&self, key: &str, default: f64) -> f64 {
        self.opt_f64(key).unwrap_or(default)
    }

    /// A number, if present.
    pub fn opt_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    /// A boolean, else `default`.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }

    /// A string, if present.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key)?.as_str()
    }
}

/// Layer counts: zero is fine (an encoder-only extraction has no decoder
/// layers), but at most this many.
const LAYER_KEYS: &[&str] = &[
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "encoder_layers",
    "decoder_layers",
];

/// Size fields whose values become tensor dimensions or counts, with the
/// largest value accepted (no real model comes near these).
const SIZE_KEYS: &[(&str, u64)] = &[
    ("num_hidden_layers", 4096),
    ("num_layers", 4096),
    ("n_layer", 4096),
    ("encoder_layers", 4096),
    ("decoder_layers", 4096),
    ("num_attention_heads", 1 << 16),
    ("num_key_value_heads", 1 << 16),
    ("encoder_attention_heads", 1 << 16),
    ("decoder_attention_heads", 1 << 16),
    ("hidden_size", 1 << 24),
    ("d_model", 1 << 24),
    ("intermediate_size", 1 << 26),
    ("encoder_ffn_dim", 1 << 26),
    ("decoder_ffn_dim", 1 << 26),
    ("head_dim", 1 << 16),
    ("projection_dim", 1 << 24),
    ("vocab_size", 1 << 28),
    ("type_vocab_size", 1 << 20),
    ("max_position_embeddings", 1 << 26),
    ("max_source_positions", 1 << 26),
    ("max_target_positions", 1 << 26),
    ("num_mel_bins", 1 << 16),
    ("image_size", 1 << 16),
    ("patch_size", 1 << 16),
    ("num_channels", 1 << 10),
];

/// Sub-configs whose size fields are checked too.
const SUB_CONFIGS: &[&str] = &["text_config", "vision_config", "audio_config"];

/// Checks every size field of `config` (and of its text/vision/audio
/// sub-configs) that is present and not null: a positive integer no larger
/// than a stated cap. A negative, fractional, zero or absurd size would
/// otherwise become a zero-width tensor, a silent default or a
/// multi-gigabyte allocation; it is an error naming the field.
pub fn validate_sizes(config: &Value) -> modelconv_core::Result<()> {
    fn check(c: &Value, prefix: &str) -> modelconv_core::Result<()> {
        for (key, max) in SIZE_KEYS {
            let Some(v) = c.get(*key).filter(|v| !v.is_null()) else {
                continue;
            };
            let min = u64::from(!LAYER_KEYS.contains(key));
            let ok = v.as_u64().filter(|n| (min..=*max).contains(n));
            if ok.is_none() {
                return Err(modelconv_core::Error::InvalidOption(format!(
                    "config.json: {prefix}{key} is {v}; it must be a whole number from {min} to {max}"
                )));
            }
        }
        Ok(())
    }
    check(config, "")?;
    for sub in SUB_CONFIGS {
        if let Some(s) = config.get(*sub).filter(|s| s.is_object()) {
            check(s, &format!("{sub}."))?;
        }
    }
    Ok(())
}
