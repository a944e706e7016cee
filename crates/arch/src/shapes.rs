//! Checking a model's tensor shapes against its family and config.
//!
//! A tensor of the wrong shape (a `q_proj` with half its rows, a transposed
//! matrix, a config whose sizes disagree with the weights) would otherwise
//! reach a forward pass as a shape error deep inside candle, or be written
//! silently into a GGUF file that llama.cpp then refuses. Before a family's
//! weights are run or re-laid, every tensor transformers would create for
//! the config is compared with the model's tensor of the same name.

use std::collections::HashMap;
use std::path::Path;

use modelconv_core::error::{Error, InvalidKind, Result};
use serde_json::Value;

use crate::Family;

/// Checks the sizes in `config` ([`crate::config::validate_sizes`]) and
/// that every tensor in `tensors` that `family` defines for this config has
/// the shape it defines. Tensors the family does not name (extra buffers,
/// other components) are not judged; missing ones are left to the caller.
/// A mismatch is [`InvalidKind::BadShape`] naming `root`, the tensor and
/// both shapes.
pub fn check<'a>(
    family: Family,
    config: &Value,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize])>,
    root: &Path,
) -> Result<()> {
    crate::config::validate_sizes(config).map_err(|e| match e {
        Error::InvalidOption(m) => Error::invalid(root, InvalidKind::BadShape, m),
        other => other,
    })?;
    let expected: HashMap<String, Vec<usize>> =
        family.expected_tensors(config)?.into_iter().collect();
    for (name, shape) in tensors {
        if let Some(want) = expected.get(name) {
            if want.as_slice() != shape {
                return Err(Error::invalid(
                    root,
                    InvalidKind::BadShape,
                    format!(
                        "shape {shape:?}, but a {family} model with this config.json has {want:?}"
                    ),
                )
                .with_tensor(name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_shapes_and_sizes_are_named() {
        let config = serde_json::json!({
            "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 10
        });
        let good: Vec<(String, Vec<usize>)> =
            Family::Llama.expected_tensors(&config).unwrap_or_default();
        let as_refs = |v: &[(String, Vec<usize>)]| -> Vec<(String, Vec<usize>)> { v.to_vec() };
        let ok = as_refs(&good);
        assert!(check(
            Family::Llama,
            &config,
            ok.iter().map(|(n, s)| (n.as_str(), s.as_slice())),
            Path::new("m")
        )
        .is_ok());
        let half = vec![8usize, 16];
        let err = check(
            Family::Llama,
            &config,
            [("model.layers.0.self_attn.q_proj.weight", half.as_slice())],
            Path::new("m"),
        );
        assert!(
            matches!(err, Err(Error::Invalid(ref i)) if i.kind == InvalidKind::BadShape
            && i.tensor.as_deref() == Some("model.layers.0.self_attn.q_proj.weight"))
        );
        for bad in [
            serde_json::json!({"hidden_size": 0}),
            serde_json::json!({"hidden_size": -1}),
            serde_json::json!({"hidden_size": 1.5}),
            serde_json::json!({"num_hidden_layers": 1_000_000_000u64}),
            serde_json::json!({"text_config": {"head_dim": 0}}),
        ] {
            assert!(crate::config::validate_sizes(&bad).is_err(), "{bad}");
        }
    }
}
