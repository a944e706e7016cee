//! Core of modelconv: the tensor model every format shares.
//!
//! - [`dtype`]: element types;
//! - [`tensor`]: tensor descriptions and zero-copy byte sources;
//! - [`model`]: the manifest readers produce and writers consume;
//! - [`cast`]: exact float casts;
//! - [`engine`]: the streaming, atomic, resumable write engine;
//! - [`progress`]: the reporter trait (libraries never print);
//! - [`error`]: the typed error shared by all library crates.

pub mod cast;
pub mod checksum;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod model;
pub mod progress;
pub mod tensor;

pub use dtype::DType;
pub use error::{Error, InvalidKind, Result};
pub use model::Model;
pub use tensor::{Tensor, TensorInfo, TensorSource};
