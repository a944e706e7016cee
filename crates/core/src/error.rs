//! The one error type of the modelconv libraries.
//!
//! Every error says which file it is about and, where it applies, which
//! tensor and which byte offset. [`Error::category`] sorts errors into what
//! the user can fix (bad input, bad options), what the environment caused
//! (disk full, permissions) and bugs, so the CLI can map them to exit codes.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias used across the modelconv crates.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What is wrong with an input file. Each malformed-input class has its own
/// kind so tests can assert the exact failure, not just "it failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidKind {
    /// The file ends before a structure it announces.
    Truncated,
    /// A header length is larger than the format's cap or than the file.
    HeaderTooLarge,
    /// A header is not valid UTF-8.
    HeaderNotUtf8,
    /// A header is not valid JSON.
    HeaderNotJson,
    /// A JSON header or index is valid JSON but not an object of the right shape.
    HeaderNotObject,
    /// The same key appears twice.
    DuplicateKey,
    /// A metadata section has the wrong shape (e.g. non-string values).
    BadMetadata,
    /// A tensor entry is malformed (missing fields, wrong types).
    BadTensorEntry,
    /// A dtype name is unknown or unsupported.
    BadDtype,
    /// A shape overflows or is inconsistent.
    BadShape,
    /// Byte ranges of two tensors overlap.
    OverlappingOffsets,
    /// There is a hole between tensor byte ranges.
    OffsetGap,
    /// A byte range points outside the data.
    OffsetOutOfBounds,
    /// A byte range does not match dtype × shape.
    SizeMismatch,
    /// Bytes after the last tensor.
    TrailingBytes,
    /// A path in an index escapes the model directory or is absolute.
    PathTraversal,
    /// A file named by an index does not exist.
    MissingShard,
    /// Shards and their index disagree about where a tensor lives.
    ShardMismatch,
    /// The same tensor name appears in more than one place.
    DuplicateTensor,
    /// The file's format could not be recognised.
    UnknownFormat,
    /// A pickle stream is malformed (unknown opcode, stack underflow, bad memo index, ...).
    MalformedPickle,
    /// A pickle references a global outside the allow-list; it is never imported or called.
    ForbiddenGlobal,
    /// A resource cap was hit (nesting depth, object count, decompressed size, ...).
    LimitExceeded,
    /// An archive (zip, tar) is malformed.
    MalformedArchive,
    /// A tensor refers to storage bytes that are not in the file.
    MissingStorage,
    /// A tensor or value of a kind modelconv does not convert (complex, quantized, sparse, ...).
    UnsupportedContent,
}

impl InvalidKind {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            InvalidKind::Truncated => "file is truncated",
            InvalidKind::HeaderTooLarge => "header length is too large",
            InvalidKind::HeaderNotUtf8 => "header is not valid UTF-8",
            InvalidKind::HeaderNotJson => "header is not valid JSON",
            InvalidKind::HeaderNotObject => "header is not a JSON object of the expected shape",
            InvalidKind::DuplicateKey => "duplicate key",
            InvalidKind::BadMetadata => "invalid metadata",
            InvalidKind::BadTensorEntry => "invalid tensor entry",
            InvalidKind::BadDtype => "unsupported dtype",
            InvalidKind::BadShape => "invalid shape",
            InvalidKind::OverlappingOffsets => "tensor byte ranges overlap",
            InvalidKind::OffsetGap => "gap between tensor byte ranges",
            InvalidKind::OffsetOutOfBounds => "byte range out of bounds",
            InvalidKind::SizeMismatch => "byte range does not match dtype and shape",
            InvalidKind::TrailingBytes => "trailing bytes after the last tensor",
            InvalidKind::PathTraversal => "path escapes the model directory",
            InvalidKind::MissingShard => "shard file is missing",
            InvalidKind::ShardMismatch => "index and shards disagree",
            InvalidKind::DuplicateTensor => "tensor appears more than once",
            InvalidKind::UnknownFormat => "unrecognised file format",
            InvalidKind::MalformedPickle => "malformed pickle",
            InvalidKind::ForbiddenGlobal => "forbidden global (never imported or called)",
            InvalidKind::LimitExceeded => "resource limit exceeded",
            InvalidKind::MalformedArchive => "malformed archive",
            InvalidKind::MissingStorage => "tensor storage is missing",
            InvalidKind::UnsupportedContent => "unsupported content",
        }
    }
}

impl fmt::Display for InvalidKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A malformed input file: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFile {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub kind: InvalidKind,
    /// The tensor concerned, if any.
    pub tensor: Option<String>,
    /// The byte offset concerned, if any (absolute within the file).
    pub offset: Option<u64>,
    /// Details.
    pub detail: String,
}

impl fmt::Display for InvalidFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)?;
        if let Some(t) = &self.tensor {
            write!(f, " (tensor '{t}')")?;
        }
        if let Some(o) = self.offset {
            write!(f, " at byte offset {o}")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// How the CLI should classify an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The input or the options are wrong; the user can fix it.
    User,
    /// The environment failed (I/O error, disk full, permissions).
    Environment,
    /// A bug in modelconv.
    Internal,
}

/// Every error the modelconv libraries return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input file is malformed.
    #[error("{0}")]
    Invalid(Box<InvalidFile>),
    /// An I/O operation on a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (shown in the message, so not chained as a source,
        /// which is why the field is not called `source`).
        error: io::Error,
    },
    /// A path given by the user does not exist.
    #[error("{}: no such file or directory", .0.display())]
    NotFound(PathBuf),
    /// A hub id that is not in the local Hugging Face cache.
    #[error("'{id}' is not a local path and is not in the Hugging Face cache at {} ({detail}); modelconv never downloads: fetch it first (e.g. `huggingface-cli download {id}`) or pass a local directory", cache.display())]
    NotCached {
        /// The hub id.
        id: String,
        /// The cache directory searched.
        cache: PathBuf,
        /// What was missing.
        detail: String,
    },
    /// The input exists but no supported model was found in it.
    #[error("{}: {detail}", path.display())]
    Unsupported {
        /// The file or directory.
        path: PathBuf,
        /// What is not supported, and what is.
        detail: String,
    },
    /// An option value is invalid.
    #[error("{0}")]
    InvalidOption(String),
    /// The output would overwrite an input file.
    #[error("refusing to write {}: it is (or contains) the input {}", output.display(), input.display())]
    WouldOverwriteInput {
        /// The output path.
        output: PathBuf,
        /// The input it would clobber.
        input: PathBuf,
    },
    /// Not enough free disk space for the output.
    #[error("not enough free space in {}: the output needs {needed} bytes, {available} are available", path.display())]
    NoSpace {
        /// The directory written to.
        path: PathBuf,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// An input file was truncated or modified while it was being read.
    #[error("{}: input changed during conversion ({detail}); the output was not published", path.display())]
    InputChanged {
        /// The input file.
        path: PathBuf,
        /// What changed (size, modification time).
        detail: String,
    },
    /// A symbolic link or special file sits at a name modelconv writes (or
    /// in an output directory it writes into): refused, never followed.
    #[error("{}: refusing to write through {what} planted at a name modelconv writes; remove it and run again", path.display())]
    PlantedPath {
        /// The planted name.
        path: PathBuf,
        /// What is there (`a symbolic link`, `a FIFO`, ...).
        what: String,
    },
    /// Another conversion holds the output lock.
    #[error("{}: another modelconv process is writing this output", .0.display())]
    Locked(PathBuf),
    /// A tensor asked for by name is not in the model.
    #[error("{}: no tensor named '{name}'{hint}", source_path.display())]
    TensorNotFound {
        /// The model.
        source_path: PathBuf,
        /// The missing name.
        name: String,
        /// A suggestion (close names), possibly empty.
        hint: String,
    },
    /// The conversion was cancelled by the caller; nothing was left behind.
    #[error("conversion cancelled")]
    Cancelled,
    /// A bug: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(path: impl Into<PathBuf>, kind: InvalidKind, detail: impl Into<String>) -> Self {
        Error::Invalid(Box::new(InvalidFile {
            path: path.into(),
            kind,
            tensor: None,
            offset: None,
            detail: detail.into(),
        }))
    }

    /// Adds the tensor name to an [`Error::Invalid`] (other errors are returned unchanged).
    pub fn with_tensor(mut self, tensor: &str) -> Self {
        if let Error::Invalid(inv) = &mut self {
            inv.tensor = Some(tensor.to_string());
        }
        self
    }

    /// Adds the byte offset to an [`Error::Invalid`] (other errors are returned unchanged).
    pub fn at_offset(mut self, offset: u64) -> Self {
        if let Error::Invalid(inv) = &mut self {
            inv.offset = Some(offset);
        }
        self
    }

    /// Builds an [`Error::Io`].
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            error: source,
        }
    }

    /// The kind of a malformed-input error, if this is one.
    pub fn invalid_kind(&self) -> Option<InvalidKind> {
        match self {
            Error::Invalid(inv) => Some(inv.kind),
            _ => None,
        }
    }

    /// Who can fix this error.
    pub fn category(&self) -> Category {
        match self {
            Error::Invalid(_)
            | Error::NotFound(_)
            | Error::NotCached { .. }
            | Error::Unsupported { .. }
            | Error::InvalidOption(_)
            | Error::WouldOverwriteInput { .. }
            | Error::Locked(_)
            | Error::PlantedPath { .. }
            | Error::TensorNotFound { .. }
            | Error::Cancelled => Category::User,
            Error::Io { .. } | Error::NoSpace { .. } | Error::InputChanged { .. } => {
                Category::Environment
            }
            Error::Internal(_) => Category::Internal,
        }
    }
}

/// Adds the path to `std::io::Result`s.
pub trait IoContext<T> {
    /// Turns an `io::Error` into [`Error::Io`] naming `path`.
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
