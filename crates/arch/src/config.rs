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
