//! One module per format: its registry entry (names, extensions, how a
//! file or directory is recognised, which options apply) and its reader
//! and writer, adapting the format crates (`modelconv-formats`,
//! `modelconv-parquet`, `modelconv-gguf`) to [`crate::registry`].

pub mod gguf;
pub mod numpy;
pub mod parquet;
pub mod planned;
pub mod pytorch;
pub mod safetensors;
