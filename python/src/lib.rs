//! Python bindings: the thinnest layer over the `modelconv` library.
//!
//! Exposes `convert` (options as JSON, report as JSON), a `Loader` over
//! `modelconv::WeightLoader`, and one exception hierarchy mapped from
//! `modelconv::Error`. Everything user-facing (dataclasses, numpy arrays,
//! progress bars) lives in the pure-Python package `modelconv`.
//!
//! Conversions run on a worker thread with the GIL released; the calling
//! thread wakes up every 100 ms to report progress and to check for
//! Ctrl-C, which cancels the conversion (the engine removes what it wrote)
//! and re-raises `KeyboardInterrupt`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use modelconv::{ConvertOptions, Error, WeightLoader};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

create_exception!(
    _modelconv,
    ModelConvError,
    PyException,
    "Base class of every modelconv error."
);
create_exception!(
    _modelconv,
    InvalidFileError,
    ModelConvError,
    "An input file is malformed or hostile."
);
create_exception!(
    _modelconv,
    ModelNotFoundError,
    ModelConvError,
    "A path, cached hub id or tensor does not exist."
);
create_exception!(
    _modelconv,
    UnsupportedError,
    ModelConvError,
    "The input holds something modelconv cannot convert (yet)."
);
create_exception!(
    _modelconv,
    InvalidOptionError,
    ModelConvError,
    "An option is invalid, or the output would clobber the input."
);
create_exception!(
    _modelconv,
    StorageError,
    ModelConvError,
    "Reading or writing failed (I/O error, disk full, permissions)."
);
create_exception!(
    _modelconv,
    CancelledError,
    ModelConvError,
    "The conversion was cancelled; nothing was left behind."
);
create_exception!(
    _modelconv,
    InternalError,
    ModelConvError,
    "A bug in modelconv."
);

fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Invalid(_) => InvalidFileError::new_err(msg),
        Error::NotFound(_) | Error::NotCached { .. } | Error::TensorNotFound { .. } => {
            ModelNotFoundError::new_err(msg)
        }
        Error::Unsupported { .. } => UnsupportedError::new_err(msg),
        Error::InvalidOption(_)
        | Error::WouldOverwriteInput { .. }
        | Error::Locked(_)
        | Error::PlantedPath { .. } => InvalidOptionError::new_err(msg),
        Error::Io { .. } | Error::NoSpace { .. } | Error::InputChanged { .. } => {
            StorageError::new_err(msg)
        }
        Error::Cancelled => CancelledError::new_err(msg),
        _ => InternalError::new_err(msg),
    }
}

fn opt_err(msg: String) -> PyErr {
    InvalidOptionError::new_err(msg)
}

/// The options a Python call sends: `ConvertRequest`'s fields by name, with
/// the CLI's value spellings (unknown keywords are an error).
fn options(request_json: &str, dst: &str, chunk_delay_ms: u64) -> PyResult<ConvertOptions> {
    let req: modelconv::ConvertRequest =
        serde_json::from_str(request_json).map_err(|e| opt_err(format!("options: {e}")))?;
    let mut opts = req.resolve(Path::new(dst)).map_err(to_py)?;
    opts.engine.hooks.chunk_delay_ms = chunk_delay_ms;
    opts.inference = Some(Arc::new(modelconv_infer::check::Checker));
    Ok(opts)
}

/// The request's fields, derived from its CLI definition: `(keyword, flag,
/// help, possible values)` for each (the Python keyword is the flag with
/// `_` for `-`).
#[pyfunction]
fn request_fields() -> Vec<(String, String, String, Vec<String>)> {
    use modelconv::clap::Args;
    let cmd = modelconv::ConvertRequest::augment_args(modelconv::clap::Command::new("convert"));
    cmd.get_arguments()
        .map(|a| {
            (
                a.get_id().to_string(),
                a.get_long().map(|l| format!("--{l}")).unwrap_or_default(),
                a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                a.get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// One registry entry for Python: `(name, aliases, extensions, reads, writes)`.
type FormatRow = (String, Vec<String>, Vec<String>, bool, bool);

/// The format registry, one [`FormatRow`] per entry.
#[pyfunction]
fn formats() -> Vec<FormatRow> {
    modelconv::registry::FORMATS
        .iter()
        .map(|f| {
            (
                f.name.to_string(),
                f.aliases.iter().map(|a| a.to_string()).collect(),
                f.extensions.iter().map(|e| e.to_string()).collect(),
                f.reader.is_some(),
                f.writer.is_some(),
            )
        })
        .collect()
}

/// The detected family of `src` (`None` when unknown), for the seeds'
/// `model_type="auto"`.
#[pyfunction]
fn detect_family(py: Python<'_>, src: String) -> PyResult<Option<String>> {
    let model = py.detach(|| modelconv::source::open(&src)).map_err(to_py)?;
    Ok(modelconv::family::detect_model(&model)
        .family
        .map(|f| f.name().to_string()))
}

/// Progress counters shared with the worker thread, and the cancel flag.
#[derive(Default)]
struct Progress {
    cancel: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
    phase: Mutex<String>,
}

struct Shared(Arc<Progress>);

impl modelconv::Reporter for Shared {
    fn start(&self, phase: &str, _tensors: u64, total_bytes: u64) {
        if let Ok(mut p) = self.0.phase.lock() {
            *p = phase.to_string();
        }
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total_bytes, Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64, _tensors: u64) {
        self.0.done.fetch_add(bytes, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.0.cancel.load(Ordering::Relaxed)
    }
}

/// Converts `src` to `dst`; returns the JSON report. `progress(phase, done,
/// total)` is called about every 100 ms.
#[pyfunction]
#[pyo3(signature = (src, dst, request_json, progress=None, chunk_delay_ms=0))]
fn convert(
    py: Python<'_>,
    src: String,
    dst: String,
    request_json: String,
    progress: Option<Py<PyAny>>,
    chunk_delay_ms: u64,
) -> PyResult<String> {
    let opts = options(&request_json, &dst, chunk_delay_ms)?;
    let state = Arc::new(Progress::default());
    let (tx, rx) = mpsc::channel();
    let worker_state = Arc::clone(&state);
    let handle = std::thread::spawn(move || {
        let r = modelconv::convert(&src, Path::new(&dst), &opts, &Shared(worker_state));
        let _ = tx.send(r);
    });
    // A Receiver is not Sync; the mutex lets the GIL-free closure borrow it.
    let rx = Mutex::new(rx);
    let result = loop {
        let got = py.detach(|| match rx.lock() {
            Ok(r) => r.recv_timeout(Duration::from_millis(100)),
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        });
        match got {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(Error::Internal(
                    "conversion thread ended without a result".into(),
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(interrupt) = py.check_signals() {
            // Ctrl-C: ask the engine to stop, wait for its clean-up, re-raise.
            state.cancel.store(true, Ordering::Relaxed);
            let _ = py.detach(|| handle.join());
            return Err(interrupt);
        }
        if let Some(cb) = &progress {
            let phase = state.phase.lock().map(|p| p.clone()).unwrap_or_default();
            cb.call1(
                py,
                (
                    phase,
                    state.done.load(Ordering::Relaxed),
                    state.total.load(Ordering::Relaxed),
                ),
            )?;
        }
    };
    let _ = py.detach(|| handle.join());
    let report = result.map_err(to_py)?;
    serde_json::to_string(&report).map_err(|e| InternalError::new_err(e.to_string()))
}

/// Tensors of a model by name (see `modelconv.WeightLoader`).
#[pyclass(frozen)]
struct Loader {
    inner: WeightLoader,
}

#[pymethods]
impl Loader {
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let inner = py.detach(|| WeightLoader::open(&path)).map_err(to_py)?;
        Ok(Loader { inner })
    }

    /// Tensor names in source order.
    fn keys(&self) -> Vec<String> {
        self.inner.tensors().map(|t| t.name.clone()).collect()
    }

    /// `(dtype, shape)` of a tensor, dtype as safetensors names it (`F32`, `BF16`, ...).
    fn info(&self, name: &str) -> PyResult<(String, Vec<usize>)> {
        let t = self.inner.info(name).map_err(to_py)?;
        Ok((t.dtype.name().to_string(), t.shape.clone()))
    }

    /// `(path, start, end)` when the tensor's bytes sit contiguously in a file.
    fn file_range(&self, name: &str) -> PyResult<Option<(String, usize, usize)>> {
        Ok(self
            .inner
            .file_range(name)
            .map_err(to_py)?
            .map(|(p, r)| (p.to_string_lossy().into_owned(), r.start, r.end)))
    }

    /// The tensor's raw little-endian bytes.
    fn get_bytes<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyBytes>> {
        let b = py
            .detach(|| self.inner.get(name).map(|c| c.into_owned()))
            .map_err(to_py)?;
        Ok(PyBytes::new(py, &b))
    }

    /// The tensor as little-endian f32 bytes (cast, or dequantized for int8 with scales).
    fn get_f32_bytes<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyBytes>> {
        let v = py.detach(|| self.inner.get_f32(name)).map_err(to_py)?;
        let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        Ok(PyBytes::new(py, &bytes))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.inner.contains(name)
    }
}

/// The compiled part of the `modelconv` package.
#[pymodule]
fn _modelconv(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(request_fields, m)?)?;
    m.add_function(wrap_pyfunction!(formats, m)?)?;
    m.add_function(wrap_pyfunction!(detect_family, m)?)?;
    m.add_class::<Loader>()?;
    m.add("ModelConvError", py.get_type::<ModelConvError>())?;
    m.add("InvalidFileError", py.get_type::<InvalidFileError>())?;
    m.add("ModelNotFoundError", py.get_type::<ModelNotFoundError>())?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    m.add("InvalidOptionError", py.get_type::<InvalidOptionError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("InternalError", py.get_type::<InternalError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
