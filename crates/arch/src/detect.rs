//! Which family a model is, and why.
//!
//! Evidence, strongest first: `config.json` `model_type`, its
//! `architectures`, a GGUF `general.architecture`, and finally tensor-name
//! patterns. sentence-transformers files mark a BERT model as a sentence
//! encoder. An unknown `model_type` is not an error: the model converts as
//! plain weights, and [`Detection::reason`] says what is supported.

use serde::Serialize;
use serde_json::Value;

use crate::family::Family;
use crate::{bert, clip, llama, whisper};

/// The outcome of detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The family, if one was recognised.
    pub family: Option<Family>,
    /// Where the decision came from (`config.json model_type`, `tensor names`, ...).
    pub evidence: String,
    /// A sentence for humans: what was found and why it was (not) chosen.
    pub reason: String,
}

/// What detection looks at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// The parsed `config.json`.
    pub config: Option<&'a Value>,
    /// GGUF `general.architecture`.
    pub gguf_arch: Option<&'a str>,
    /// True if the model has sentence-transformers files (`modules.json`).
    pub sentence_transformers: bool,
}

/// Detects the family of a model from its config, GGUF metadata and tensor names.
pub fn detect<S: AsRef<str>>(evidence: Evidence<'_>, tensor_names: &[S]) -> Detection {
    let found = |family: Family, evidence: &str, what: String| Detection {
        family: Some(family),
        evidence: evidence.to_string(),
        reason: format!("{what} → {family}"),
    };
    let st = if evidence.sentence_transformers {
        " (sentence-transformers)"
    } else {
        ""
    };
    // A GGUF's own metadata comes first: its config.json (if any) is
    // rebuilt from that metadata, so calling it "config.json" would name a
    // file that does not exist.
    if let Some(a) = evidence.gguf_arch {
        if let Some(f) = Family::from_gguf_arch(a) {
            return found(
                f,
                "gguf general.architecture",
                format!("GGUF general.architecture '{a}'"),
            );
        }
        if let Some(d) = detect_from_names(tensor_names) {
            return found(d.0, "tensor names", format!("tensor '{}'", d.1));
        }
        return Detection {
            family: None,
            evidence: "gguf general.architecture".into(),
            reason: format!(
                "GGUF general.architecture '{a}' is not a family modelconv knows (supported: {})",
                Family::supported()
            ),
        };
    }
    let config = evidence.config;
    let model_type = config
        .and_then(|c| c.get("model_type"))
        .and_then(Value::as_str);
    if let Some(mt) = model_type {
        if let Some(f) = Family::from_model_type(mt) {
            return found(
                f,
                "config.json model_type",
                format!("config.json model_type '{mt}'{st}"),
            );
        }
    }
    let archs: Vec<&str> = config
        .and_then(|c| c.get("architectures"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for a in &archs {
        if let Some(f) = Family::from_architecture(a) {
            return found(
                f,
                "config.json architectures",
                format!("config.json architectures ['{a}']{st}"),
            );
        }
    }
    if let Some(a) = evidence.gguf_arch {
        if let Some(f) = Family::from_gguf_arch(a) {
            return found(
                f,
                "gguf general.architecture",
                format!("GGUF general.architecture '{a}'"),
            );
        }
    }
    if let Some(mt) = model_type {
        return Detection {
            family: None,
            evidence: "config.json model_type".into(),
            reason: format!(
                "config.json model_type '{mt}' is not a family modelconv knows (supported: {})",
                Family::supported()
            ),
        };
    }
    if let Some(d) = detect_from_names(tensor_names) {
        return found(d.0, "tensor names", format!("tensor '{}'{st}", d.1));
    }
    Detection {
        family: None,
        evidence: "none".into(),
        reason: format!(
            "no config.json family and no known tensor-name pattern (families: {})",
            Family::supported()
        ),
    }
}

fn detect_from_names<S: AsRef<str>>(names: &[S]) -> Option<(Family, String)> {
    let find = |pred: &dyn Fn(&str) -> bool| {
        names
            .iter()
            .map(AsRef::as_ref)
            .find(|n| pred(n))
            .map(str::to_string)
    };
    if let Some(n) = find(&clip::matches_name) {
        return Some((Family::Clip, n));
    }
    if let Some(n) = find(&whisper::matches_name) {
        return Some((Family::Whisper, n));
    }
    if let Some(n) = find(&bert::matches_name) {
        return Some((Family::Bert, n));
    }
    if let Some(n) = find(&llama::matches_name) {
        // q/k/v biases are Qwen2's mark; other variants look like LLaMA.
        let qwen =
            find(&|n: &str| n.starts_with("model.layers.") && n.ends_with("self_attn.q_proj.bias"));
        return Some(match qwen {
            Some(q) => (Family::Qwen2, q),
            None => (Family::Llama, n),
        });
    }
    None
}
