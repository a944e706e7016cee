//! The [`Family`] enum: one value per supported model family, dispatching
//! to the family modules ([`crate::bert`], [`crate::clip`],
//! [`crate::whisper`], [`crate::llama`]).

use std::fmt;

use modelconv_core::{Error, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{bert, clip, llama, whisper, TensorSpec};

/// A model family modelconv knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// BERT encoders, including sentence-transformers models built on them.
    Bert,
    /// CLIP: vision tower, text tower, projections.
    Clip,
    /// Whisper: audio encoder and text decoder.
    Whisper,
    /// LLaMA decoders.
    Llama,
    /// Mistral decoders (LLaMA layout, sliding-window attention).
    Mistral,
    /// Qwen2 decoders (LLaMA layout with q/k/v biases).
    Qwen2,
    /// Gemma decoders (LLaMA layout, tied embeddings, explicit head_dim).
    Gemma,
    /// MiniCPM decoders (LLaMA layout with muP scales).
    MiniCpm,
}

impl Family {
    /// Every family, in the order help texts list them.
    pub const ALL: [Family; 8] = [
        Family::Bert,
        Family::Clip,
        Family::Whisper,
        Family::Llama,
        Family::Mistral,
        Family::Qwen2,
        Family::Gemma,
        Family::MiniCpm,
    ];

    /// Lower-case name (`bert`, `clip`, ...), as `--model-type` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Clip => "clip",
            Family::Whisper => "whisper",
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
            Family::Gemma => "gemma",
            Family::MiniCpm => "minicpm",
        }
    }

    /// The supported names, comma-separated (for messages).
    pub fn supported() -> String {
        Family::ALL
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses a `--model-type` value (case-insensitive; `sentence-transformers` means BERT).
    pub fn parse(s: &str) -> Result<Family> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "sentence-transformers" | "sentence_transformers" | "st" => Ok(Family::Bert),
            _ => Family::from_model_type(&lower).ok_or_else(|| {
                Error::InvalidOption(format!(
                    "unknown model type '{s}'; supported: auto, {}",
                    Family::supported()
                ))
            }),
        }
    }

    /// The family of a `config.json` `model_type`.
    pub fn from_model_type(model_type: &str) -> Option<Family> {
        Some(match model_type {
            "bert" => Family::Bert,
            "clip" | "clip_vision_model" | "clip_text_model" => Family::Clip,
            "whisper" => Family::Whisper,
            "llama" => Family::Llama,
            "mistral" => Family::Mistral,
            "qwen2" => Family::Qwen2,
            "gemma" => Family::Gemma,
            "minicpm" => Family::MiniCpm,
            _ => return None,
        })
    }

    /// The family of a transformers class name (`config.json` `architectures`).
    pub fn from_architecture(arch: &str) -> Option<Family> {
        let prefixes: [(&str, Family); 8] = [
            ("MiniCPM", Family::MiniCpm),
            ("Bert", Family::Bert),
            ("CLIP", Family::Clip),
            ("Whisper", Family::Whisper),
            ("Llama", Family::Llama),
            ("Mistral", Family::Mistral),
            ("Qwen2", Family::Qwen2),
            ("Gemma", Family::Gemma),
        ];
        // `Qwen2Moe...`, `Gemma2...` and friends are different layouts.
        if arch.starts_with("Qwen2Moe") || arch.starts_with("Gemma2") || arch.starts_with("Gemma3")
        {
            return None;
        }
        prefixes
            .iter()
            .find(|(p, _)| arch.starts_with(p))
            .map(|(_, f)| *f)
    }

    /// The family of a GGUF `general.architecture`.
    pub fn from_gguf_arch(arch: &str) -> Option<Family> {
        Some(match arch {
            "bert" => Family::Bert,
            "clip" => Family::Clip,
            "whisper" => Family::Whisper,
            // llama.cpp writes Mistral models as `llama`.
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "gemma" => Family::Gemma,
            "minicpm" => Family::MiniCpm,
            _ => return None,
        })
    }

    /// True for the LLaMA-style decoders.
    pub fn is_decoder(self) -> bool {
        matches!(
            self,
            Family::Llama | Family::Mistral | Family::Qwen2 | Family::Gemma | Family::MiniCpm
        )
    }

    /// Sub-models `--component` can extract.
    pub fn components(self) -> &'static [Component] {
        match self {
            Family::Clip => &[Component::Vision, Component::Text],
            Family::Whisper => &[Component::Encoder],
            _ => &[],
        }
    }

    /// The seeds' metadata summary of a config (the `config` object of
    /// `metadata.json`), for the whole model or a component.
    pub fn summary(self, config: &Value, component: Option<Component>) -> Map<String, Value> {
        match self {
            Family::Bert => bert::summary(config),
            Family::Clip => clip::summary(config, component),
            Family::Whisper => whisper::summary(config, component),
            _ => llama::summary(self, config),
        }
    }

    /// Every tensor transformers creates for `config` (the saved state
    /// dict: non-persistent buffers and tied weights left out), in
    /// state-dict order.
    pub fn expected_tensors(self, config: &Value) -> Result<Vec<TensorSpec>> {
        crate::config::validate_sizes(config)?;
        match self {
            Family::Bert => bert::expected_tensors(config),
            Family::Clip => clip::expected_tensors(config),
            Family::Whisper => whisper::expected_tensors(config),
            _ => llama::expected_tensors(self, config),
        }
    }

    /// Plans the extraction of `component` from a model of this family
    /// with the given config and tensor names.
    pub fn extract(
        self,
        component: Component,
        config: &Value,
        names: &[String],
    ) -> Result<Extraction> {
        match (self, component) {
            (Family::Clip, Component::Vision | Component::Text) => {
                clip::extract(component, config, names)
            }
            (Family::Whisper, Component::Encoder) => whisper::extract_encoder(config, names),
            _ => Err(Error::InvalidOption(format!(
                "--component {component} is not available for {self} models{}",
                match self.components() {
                    [] => " (they have no separable components)".to_string(),
                    list => format!(
                        "; available: {}",
                        list.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
                    ),
                }
            ))),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sub-model that `--component` extracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// CLIP's vision tower with `visual_projection` (`CLIPVisionModelWithProjection`).
    Vision,
    /// CLIP's text tower with `text_projection` (`CLIPTextModelWithProjection`).
    Text,
    /// Whisper's audio encoder (`WhisperEncoder`).
    Encoder,
}

impl Component {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Component::Vision => "vision",
            Component::Text => "text",
            Component::Encoder => "encoder",
        }
    }

    /// Parses a `--component` value.
    pub fn parse(s: &str) -> Result<Component> {
        match s.to_ascii_lowercase().as_str() {
            "vision" | "visual" | "image" => Ok(Component::Vision),
            "text" => Ok(Component::Text),
            "encoder" | "audio" => Ok(Component::Encoder),
            _ => Err(Error::InvalidOption(format!(
                "unknown component '{s}'; components are: vision, text (CLIP), encoder (Whisper)"
            ))),
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tensor naming convention for the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMap {
    /// Hugging Face names, unchanged (loads in transformers).
    #[default]
    Hf,
    /// The seeds' names (see [`crate::whisper::SEEDS_KEY_MAP`]).
    Seeds,
}

impl KeyMap {
    /// Parses a `--key-map` value.
    pub fn parse(s: &str) -> Result<KeyMap> {
        match s.to_ascii_lowercase().as_str() {
            "hf" | "none" | "huggingface" => Ok(KeyMap::Hf),
            "seeds" => Ok(KeyMap::Seeds),
            _ => Err(Error::InvalidOption(format!(
                "unknown key map '{s}'; key maps are: hf (default), seeds"
            ))),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            KeyMap::Hf => "hf",
            KeyMap::Seeds => "seeds",
        }
    }
}

/// What a component extraction keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// `(source name, output name)` of every kept tensor, in source order.
    pub tensors: Vec<(String, String)>,
    /// The `config.json` that describes exactly the extracted sub-model.
    pub config: Value,
}
