//! Tensor sources over a flat buffer with an offset, shape and strides:
//! zero-copy slices for contiguous tensors, an element gather for strided
//! views (torch transposes, slices and broadcasts; Fortran-order NumPy
//! arrays).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use modelconv_core::error::{Error, Result};
use modelconv_core::tensor::{MmapFile, TensorSource};

use modelconv_core::DType;

use crate::inflate::Inflated;

/// Where a storage's bytes are.
#[derive(Debug, Clone)]
pub enum StorageData {
    /// A byte range of a memory-mapped file (stored zip member, legacy file).
    Mapped(Arc<MmapFile>, Range<usize>),
    /// Bytes in memory.
    Owned(Arc<Vec<u8>>),
    /// A byte range of a compressed zip member, inflated when first read
    /// (see [`crate::inflate`]).
    Inflated(Arc<Inflated>, Range<usize>),
}

impl StorageData {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            StorageData::Mapped(_, r) | StorageData::Inflated(_, r) => r.len(),
            StorageData::Owned(v) => v.len(),
        }
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A strided view into a storage.
#[derive(Debug)]
pub struct StridedSource {
    storage: StorageData,
    esz: usize,
    /// Byte offset of element 0.
    start: usize,
    shape: Vec<usize>,
    /// Strides in elements.
    stride: Vec<usize>,
    contiguous: bool,
    len: usize,
    /// Bytes released so far (an inflated member is let go once all are).
    released: std::sync::atomic::AtomicUsize,
}

impl StridedSource {
    /// A view of `dtype` elements starting `offset` elements into `storage`.
    /// Fails (with a description) unless every element the view can address
    /// lies inside the storage.
    pub fn new(
        storage: StorageData,
        dtype: DType,
        offset: u64,
        shape: &[u64],
        stride: &[u64],
    ) -> std::result::Result<Self, String> {
        let esz = dtype.size();
        let to_usize =
            |v: u64| usize::try_from(v).map_err(|_| "size does not fit in memory".to_string());
        let shape: Vec<usize> = shape
            .iter()
            .map(|&d| to_usize(d))
            .collect::<std::result::Result<_, _>>()?;
        let stride: Vec<usize> = stride
            .iter()
            .map(|&d| to_usize(d))
            .collect::<std::result::Result<_, _>>()?;
        if shape.len() != stride.len() {
            return Err("shape and strides differ in length".into());
        }
        let numel = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or("element count overflows")?;
        let len = numel.checked_mul(esz).ok_or("byte size overflows")?;
        let offset = to_usize(offset)?;
        let start = offset.checked_mul(esz).ok_or("offset overflows")?;
        if numel > 0 {
            // Highest element index reachable: offset + Σ (dim − 1) × stride.
            let last = shape
                .iter()
                .zip(&stride)
                .try_fold(offset, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?))
                .ok_or("extent overflows")?;
            let end = last
                .checked_add(1)
                .and_then(|e| e.checked_mul(esz))
                .ok_or("extent overflows")?;
            if end > storage.len() {
                return Err(format!(
                    "the view reaches byte {end} of its storage, which holds only {} bytes",
                    storage.len()
                ));
            }
        }
        let mut expect = 1usize;
        let mut contiguous = true;
        for (&d, &s) in shape.iter().zip(&stride).rev() {
            if d != 1 && s != expect {
                contiguous = false;
            }
            expect = expect.saturating_mul(d);
        }
        Ok(StridedSource {
            storage,
            esz,
            start,
            shape,
            stride,
            contiguous,
            len,
            released: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl StridedSource {
    /// The view's bytes for `range` out of the storage `bytes`: a slice when
    /// contiguous, else a gather over the multi-index of each element.
    fn copy_out(&self, bytes: &[u8], range: Range<usize>) -> Result<Vec<u8>> {
        if self.contiguous {
            return bytes
                .get(self.start + range.start..self.start + range.end)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| Error::Internal("storage range checked at open".into()));
        }
        let esz = self.esz;
        let first = range.start / esz;
        let count = (range.end - range.start) / esz;
        let mut out = Vec::with_capacity(count * esz);
        let ndim = self.shape.len();
        let mut idx = vec![0usize; ndim];
        let mut rem = first;
        for d in (0..ndim).rev() {
            idx[d] = rem % self.shape[d];
            rem /= self.shape[d];
        }
        for _ in 0..count {
            let elem: usize = idx.iter().zip(&self.stride).map(|(i, s)| i * s).sum();
            let at = self.start + elem * esz;
            out.extend_from_slice(
                bytes.get(at..at + esz).ok_or_else(|| {
                    Error::Internal("strided read outside checked storage".into())
                })?,
            );
            for d in (0..ndim).rev() {
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(out)
    }
}

impl TensorSource for StridedSource {
    fn len(&self) -> usize {
        self.len
    }

    fn read(&self, range: Range<usize>) -> Result<Cow<'_, [u8]>> {
        if range.end > self.len || range.start > range.end {
            return Err(Error::Internal(format!(
                "read {range:?} past tensor end {}",
                self.len
            )));
        }
        if let StorageData::Mapped(file, r) = &self.storage {
            if self.contiguous {
                // pread, not the map: a truncated input must not SIGBUS
                // (see modelconv_core::tensor).
                let start = r.start + self.start;
                return file
                    .read_at(start + range.start..start + range.end)
                    .map(Cow::Owned);
            }
            // A gather reads the map; check the file first.
            file.check_unchanged()?;
        }
        let bytes = match &self.storage {
            StorageData::Mapped(f, r) => f.bytes().get(r.clone()).unwrap_or_default(),
            StorageData::Owned(v) => v.as_slice(),
            StorageData::Inflated(m, r) => {
                let base = r.start + self.start;
                if self.contiguous {
                    // Streamed: only the asked range is inflated and kept.
                    return m.read(base + range.start..base + range.end).map(Cow::Owned);
                }
                // A gather over a compressed member inflates the span the
                // view covers (torch caps compressed storages, see pytorch).
                let span = m.read(r.start..r.end)?;
                return self.copy_out(&span, range).map(Cow::Owned);
            }
        };
        if self.contiguous {
            return bytes
                .get(self.start + range.start..self.start + range.end)
                .map(Cow::Borrowed)
                .ok_or_else(|| Error::Internal("storage range checked at open".into()));
        }
        self.copy_out(bytes, range).map(Cow::Owned)
    }

    fn release(&self, range: Range<usize>) {
        // Contiguous views of a mapped storage give their pages back, so
        // resident memory stays bounded on large checkpoints. (Strided views
        // touch scattered pages that other tensors may share: left alone.)
        if let (true, StorageData::Mapped(file, r)) = (self.contiguous, &self.storage) {
            let start = r.start + self.start + range.start;
            file.release(start..start + (range.end - range.start));
        }
        // An inflation is let go once the view has been read to the end.
        if let StorageData::Inflated(m, _) = &self.storage {
            let n = range.end.saturating_sub(range.start);
            let before = self
                .released
                .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
            if before < self.len && before + n >= self.len {
                m.release();
            }
        }
    }

    fn check_unchanged(&self) -> Result<()> {
        match &self.storage {
            StorageData::Mapped(file, _) => file.check_unchanged(),
            StorageData::Inflated(m, _) => m.file().check_unchanged(),
            StorageData::Owned(_) => Ok(()),
        }
    }

    fn file_range(&self) -> Option<(std::path::PathBuf, Range<usize>)> {
        match (&self.storage, self.contiguous) {
            (StorageData::Mapped(f, r), true) => {
                let start = r.start + self.start;
                Some((f.path().to_path_buf(), start..start + self.len))
            }
            _ => None,
        }
    }

    fn identity(&self) -> String {
        let base = match &self.storage {
            StorageData::Mapped(f, r) => format!("{}@{}..{}", f.identity(), r.start, r.end),
            StorageData::Owned(v) => format!("owned:{}", v.len()),
            StorageData::Inflated(m, r) => format!("{}@{}..{}", m.identity(), r.start, r.end),
        };
        format!("{base}+{}:{:?}:{:?}", self.start, self.shape, self.stride)
    }
}
