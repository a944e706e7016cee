//! Model families: what modelconv knows about the models it converts.
//!
//! Formats know bytes; this crate knows models. For each supported family
//! (one module each) it knows the `config.json` fields and their
//! transformers defaults, the exact tensor names and shapes transformers
//! creates, the sub-models that can be extracted, and the seeds'
//! metadata summary. On top of that:
//!
//! - [`mod@detect`]: which family a model is, and why;
//! - [`family`]: the [`Family`] enum that dispatches to the family modules;
//! - [`fake`]: complete checkpoints with generated values, from a config alone;
//! - [`mup`]: folding MiniCPM-style muP scales into plain LLaMA weights;
//! - [`metadata`]: the seeds' `metadata.json`.
//!
//! Nothing here reads or writes files except [`tokenizer`]; callers hand
//! in the parsed config and tensor names.

pub mod bert;
pub mod clip;
pub mod config;
pub mod detect;
pub mod fake;
pub mod family;
pub mod gguf;
pub mod llama;
pub mod metadata;
pub mod mup;
pub mod shapes;
pub mod tokenizer;
pub mod whisper;

pub use detect::{detect, Detection};
pub use family::{Component, Extraction, Family, KeyMap};

/// A tensor name and shape, as transformers would create it.
pub type TensorSpec = (String, Vec<usize>);
