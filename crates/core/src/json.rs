//! JSON documents too large to build as a tree.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// A JSON object whose entry `key` is `value`, serialized in its place when
/// the object is written (`doc` holds a placeholder there). So a sidecar
/// listing 200k tensors is written from the tensor list, not from 200k
/// JSON maps built first (issue #23).
#[derive(Debug, Clone, Copy)]
pub struct WithEntry<'a, V> {
    /// The fields, in order, with a placeholder under `key`.
    pub doc: &'a Map<String, Value>,
    /// The key whose value is `value`.
    pub key: &'a str,
    /// What to write under `key`.
    pub value: V,
}

impl<V: Serialize> Serialize for WithEntry<'_, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.doc.len()))?;
        for (k, v) in self.doc {
            if k == self.key {
                m.serialize_entry(k, &self.value)?;
            } else {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entry_is_written_in_place_of_its_placeholder() {
        let doc: Map<String, Value> =
            serde_json::from_str(r#"{"a": 1, "big": null, "z": [2]}"#).unwrap();
        let text = serde_json::to_string(&WithEntry {
            doc: &doc,
            key: "big",
            value: vec!["x", "y"],
        })
        .unwrap();
        assert_eq!(text, r#"{"a":1,"big":["x","y"],"z":[2]}"#);
    }
}
