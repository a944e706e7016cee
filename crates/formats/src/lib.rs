//! One module per model-weight format.
//!
//! Readers turn a path into a [`modelconv_core::Model`] after validating
//! its structure; writers turn tensors into an
//! [`modelconv_core::engine::OutputPlan`] that the engine executes.
//!
//! - [`safetensors`]: single safetensors files;
//! - [`hf`]: Hugging Face model directories (single or sharded safetensors, carried files);
//! - [`hub`]: offline resolution of hub ids in the local cache;

pub mod hf;
pub mod hub;
pub mod inflate;
pub mod numpy;
pub mod pytorch;
pub mod safetensors;
pub mod strided;
pub mod weights;
