//! Progress reporting. Libraries never print: they call a [`Reporter`],
//! and the CLI (or the Python bindings) decides how to show it.

/// Receives progress events. Methods may be called from several threads.
pub trait Reporter: Send + Sync {
    /// A phase starts (e.g. "writing model-00001-of-00002.safetensors")
    /// with `total_bytes` of tensor data to process.
    fn start(&self, _phase: &str, _total_tensors: u64, _total_bytes: u64) {}
    /// `bytes` more bytes were processed; `tensors_done` tensors finished with it.
    fn advance(&self, _bytes: u64, _tensors_done: u64) {}
    /// A notable event worth a line of text (kept files on resume, fallbacks, ...).
    fn note(&self, _message: &str) {}
    /// The current phase is done.
    fn finish(&self) {}
    /// True once the user asked to stop (e.g. Ctrl-C in Python). Writers
    /// check it between chunks and stop with [`crate::Error::Cancelled`];
    /// the engine then removes everything the run wrote.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Reporter for NoProgress {}
