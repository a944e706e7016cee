"""modelconv: fast, safe, streaming conversion of machine-learning model weights.

The API of the seeds' Python converter, on top of the Rust library:

    from modelconv import ConversionConfig, ModelConverter

    config = ConversionConfig(compression="zstd", use_float16=True, validate_output=True)
    result = ModelConverter(config).convert("path/or/org-name", "out_dir")
    if result.success:
        print(result.total_parameters, result.file_size_mb, result.compression_ratio)

    loader = WeightLoader("out_dir/weights.parquet")
    w = loader.get_layer("encoder.layer.0.attention.self.query.weight")   # numpy array

Conversions run in Rust with the GIL released; Ctrl-C cancels them cleanly
(nothing is left behind) and raises KeyboardInterrupt.

bfloat16 and float8 tensors come back as ``ml_dtypes`` arrays when that package
is installed, otherwise as their raw bit patterns (``uint16`` / ``uint8``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from . import _modelconv
from ._modelconv import (
    CancelledError,
    InternalError,
    InvalidFileError,
    InvalidOptionError,
    ModelConvError,
    ModelNotFoundError,
    StorageError,
    UnsupportedError,
)

__version__ = _modelconv.__version__

__all__ = [
    "CancelledError",
    "ConversionConfig",
    "ConversionResult",
    "HuggingFaceToParquetConverter",
    "ParquetToHuggingFaceConverter",
    "InternalError",
    "InvalidFileError",
    "InvalidOptionError",
    "ModelConvError",
    "ModelConverter",
    "ModelNotFoundError",
    "StorageError",
    "UnsupportedError",
    "WeightLoader",
    "convert",
    "convert_hf_to_parquet",
    "convert_parquet_to_hf",
]

PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[str, int, int], None]


@dataclass
class ConversionConfig:
    """How to convert. The defaults write the seeds' Parquet layout with zstd level 3.

    Attributes:
        compression: "zstd" (default), "lz4", "snappy" or "none" (Parquet output).
        compression_level: zstd level 1..22 (default 3).
        use_float16: cast float tensors to float16 (the seeds' optimisation). Same as dtype="f16".
        dtype: cast float tensors to "f16", "bf16", "f32" or "f64"; None keeps each tensor's dtype.
        validate_output: re-read the output and compare every tensor with the source.
        output_format: "parquet" (default, the seeds' layout), "safetensors"/"hf" or "numpy".
        quantization: None or "int8" (Parquet V2, per-channel symmetric by default).
        quant_axis: channel axis for int8 (default 0) or "tensor".
        quant_scheme: "sym" (default) or "asym".
        parquet_schema: None (chunked, or V2 when quantized), "v1", "v2" or "chunked".
        max_shard_size: e.g. "5GB" for sharded safetensors output.
        dtype_overrides: ["*norm*=f32", ...] per-tensor dtypes by glob.
        overwrite: allow writing into a non-empty output directory.
        resume: continue an interrupted conversion.
        threads: worker threads (0 = one per CPU).
    """

    compression: str = "zstd"
    compression_level: int = 3
    use_float16: bool = False
    dtype: Optional[str] = None
    validate_output: bool = False
    output_format: str = "parquet"
    quantization: Optional[str] = None
    quant_axis: Union[int, str, None] = None
    quant_scheme: Optional[str] = None
    parquet_schema: Optional[str] = None
    max_shard_size: Optional[str] = None
    dtype_overrides: List[str] = field(default_factory=list)
    overwrite: bool = False
    resume: bool = False
    threads: int = 0

    def _options(self, extra: Dict[str, Any]) -> Dict[str, Any]:
        o: Dict[str, Any] = {
            "to": self.output_format,
            "compression": self.compression,
            "compression_level": self.compression_level,
            "dtype": self.dtype or ("f16" if self.use_float16 else None),
            "quantize": self.quantization,
            "quant_axis": self.quant_axis,
            "quant_scheme": self.quant_scheme,
            "parquet_schema": self.parquet_schema,
            "max_shard_size": self.max_shard_size,
            "dtype_overrides": list(self.dtype_overrides),
            "overwrite": self.overwrite,
            "resume": self.resume,
            "threads": self.threads,
        }
        o.update(extra)
        return {k: v for k, v in o.items() if v is not None}


@dataclass
class ConversionResult:
    """What a conversion did (the seeds' fields first)."""

    success: bool
    total_parameters: int = 0
    file_size_mb: float = 0.0
    compression_ratio: float = 0.0
    conversion_time_sec: float = 0.0
    error_message: Optional[str] = None
    output_dir: Optional[str] = None
    output_files: List[str] = field(default_factory=list)
    checksums: Dict[str, str] = field(default_factory=dict)
    source_size_bytes: int = 0
    output_size_bytes: int = 0
    warnings: List[str] = field(default_factory=list)
    validation: Optional[Dict[str, Any]] = None
    report: Dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _progress_callback(progress: Union[bool, ProgressCallback, None]) -> Optional[ProgressCallback]:
    if callable(progress):
        return progress
    if not progress:
        return None
    try:
        from tqdm import tqdm  # type: ignore
    except ImportError:
        return None
    bars: Dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        bar = bars.get(phase)
        if bar is None:
            for b in bars.values():
                b.close()
            bar = bars[phase] = tqdm(total=total, desc=phase, unit="B", unit_scale=True)
        bar.update(done - bar.n)

    return update


def convert(
    src: PathLike,
    dst: PathLike,
    progress: Union[bool, ProgressCallback, None] = None,
    **options: Any,
) -> Dict[str, Any]:
    """Converts ``src`` (a file, directory or cached hub id) to ``dst``; returns the
    JSON report as a dict. Raises a ``ModelConvError`` subclass on failure.

    ``options`` are those of the CLI: to, dtype, dtype_overrides, max_shard_size,
    parquet_schema, compression, compression_level, quantize, quant_axis, quant_scheme,
    overwrite, resume, threads. ``progress`` is a ``callback(phase, done_bytes,
    total_bytes)`` or True for a tqdm bar.
    """
    cb = _progress_callback(progress)
    text = _modelconv.convert(os.fspath(src), os.fspath(dst), json.dumps(options), cb)
    return json.loads(text)


def _validate(src: str, report: Dict[str, Any]) -> Dict[str, Any]:
    """Compares every output tensor with the source, tensor by tensor (bounded memory)."""
    out = report.get("output")
    if report.get("output_format") == "parquet" and os.path.isdir(out):
        out = os.path.join(out, "weights.parquet")
    a, b = WeightLoader(src), WeightLoader(out)
    worst_err, worst_cos, exact, compared, missing = 0.0, 1.0, 0, 0, []
    for name in a.keys():
        if name not in b:
            missing.append(name)
            continue
        x = a.get_layer(name, dtype=np.float32).astype(np.float64).ravel()
        y = b.get_layer(name, dtype=np.float32).astype(np.float64).ravel()
        compared += 1
        if x.shape != y.shape:
            missing.append(name)
            continue
        finite = np.isfinite(x) & np.isfinite(y)
        if np.array_equal(x[finite], y[finite]) and np.array_equal(finite, np.isfinite(x)):
            exact += 1
            continue
        err = float(np.max(np.abs(x[finite] - y[finite]))) if finite.any() else math.inf
        nx, ny = np.linalg.norm(x[finite]), np.linalg.norm(y[finite])
        cos = float(np.dot(x[finite], y[finite]) / (nx * ny)) if nx > 0 and ny > 0 else 1.0
        worst_err, worst_cos = max(worst_err, err), min(worst_cos, cos)
    return {
        "tensors_compared": compared,
        "bit_exact": exact,
        "max_abs_error": worst_err,
        "min_cosine": worst_cos,
        "missing": missing,
        "passed": not missing and worst_cos >= 0.99,
    }


class ModelConverter:
    """The seeds' converter: ``ModelConverter(config).convert(model, output_dir)``."""

    def __init__(self, config: Optional[ConversionConfig] = None) -> None:
        self.config = config or ConversionConfig()

    def convert(
        self,
        model_name_or_path: PathLike,
        output_dir: PathLike,
        model_type: str = "auto",
        progress: Union[bool, ProgressCallback, None] = None,
        **options: Any,
    ) -> ConversionResult:
        """Converts and returns a ``ConversionResult``; failures are reported in it
        (``success=False``, ``error_message``), never raised. See ``convert_or_raise``."""
        try:
            return self.convert_or_raise(model_name_or_path, output_dir, model_type, progress, **options)
        except ModelConvError as e:
            return ConversionResult(success=False, error_message=str(e), output_dir=os.fspath(output_dir))

    def convert_or_raise(
        self,
        model_name_or_path: PathLike,
        output_dir: PathLike,
        model_type: str = "auto",
        progress: Union[bool, ProgressCallback, None] = None,
        **options: Any,
    ) -> ConversionResult:
        """Like ``convert`` but raises a ``ModelConvError`` subclass on failure."""
        src = os.fspath(model_name_or_path)
        report = convert(src, output_dir, progress=progress, **self.config._options(options))
        warnings = list(report.get("warnings", []))
        if model_type not in ("auto", None):
            warnings.append(
                f"model_type={model_type!r}: model-family handling (e.g. extracting the CLIP vision "
                "tower) is not implemented yet; the whole model was converted"
            )
        files = report.get("files", [])
        result = ConversionResult(
            success=bool(report.get("success")),
            total_parameters=int(report.get("total_parameters", 0)),
            file_size_mb=report.get("output_size_bytes", 0) / (1024 * 1024),
            compression_ratio=float(report.get("compression_ratio", 0.0)),
            conversion_time_sec=float(report.get("conversion_time_sec", 0.0)),
            error_message=report.get("error_message"),
            output_dir=os.fspath(output_dir),
            output_files=[f["path"] for f in files],
            checksums={f["path"]: f["sha256"] for f in files},
            source_size_bytes=int(report.get("source_size_bytes", 0)),
            output_size_bytes=int(report.get("output_size_bytes", 0)),
            warnings=warnings,
            report=report,
        )
        if self.config.validate_output:
            result.validation = _validate(src, report)
            if not result.validation["passed"]:
                result.success = False
                result.error_message = f"validation failed: {result.validation}"
        return result


def convert_hf_to_parquet(hf_model_path: PathLike, output_parquet: PathLike, **options: Any) -> ConversionResult:
    """Converts a Hugging Face model to Parquet: a ``.parquet`` path gets just the file,
    a directory gets the seeds' layout. Raises on failure."""
    cfg = ConversionConfig(output_format="parquet", **options)
    return ModelConverter(cfg).convert_or_raise(hf_model_path, output_parquet)


def convert_parquet_to_hf(parquet_path: PathLike, output_dir: PathLike, **options: Any) -> ConversionResult:
    """Converts a Parquet file or the seeds' Parquet directory back to a Hugging Face
    directory (safetensors, config and tokenizer restored). Raises on failure."""
    cfg = ConversionConfig(output_format="hf", **options)
    return ModelConverter(cfg).convert_or_raise(parquet_path, output_dir)


class HuggingFaceToParquetConverter:
    """The seeds' HF → Parquet converter (``converter.convert(hf_model_path, output_parquet)``)."""

    def __init__(self, config: Optional[ConversionConfig] = None) -> None:
        self.config = config or ConversionConfig(output_format="parquet")

    def convert(
        self, hf_model_path: PathLike, output_parquet: PathLike, auto_detect_quantization: bool = True
    ) -> ConversionResult:
        """Writes ``output_parquet`` (a file, or the seeds' directory layout). Already-quantized
        int8 tensors select the V2 schema unless ``auto_detect_quantization`` is False (then V1)."""
        cfg = ConversionConfig(**{**asdict(self.config), "output_format": "parquet"})
        if not auto_detect_quantization and cfg.parquet_schema is None:
            cfg.parquet_schema = "v1"
        return ModelConverter(cfg).convert_or_raise(hf_model_path, output_parquet)


class ParquetToHuggingFaceConverter:
    """The reverse conversion the seeds left unimplemented."""

    def convert(self, parquet_path: PathLike, output_dir: PathLike) -> ConversionResult:
        return convert_parquet_to_hf(parquet_path, output_dir)


_NUMPY = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U64": np.uint64, "U32": np.uint32, "U16": np.uint16,
    "U8": np.uint8, "BOOL": np.bool_,
}


def _numpy_dtype(name: str) -> Any:
    if name in _NUMPY:
        return np.dtype(_NUMPY[name])
    try:
        import ml_dtypes  # type: ignore

        return np.dtype({"BF16": ml_dtypes.bfloat16, "F8_E4M3": ml_dtypes.float8_e4m3fn,
                         "F8_E5M2": ml_dtypes.float8_e5m2}[name])
    except (ImportError, KeyError):
        return np.dtype(np.uint16 if name == "BF16" else np.uint8)


class WeightLoader:
    """Tensors of any supported model (Parquet, safetensors, PyTorch, NumPy, HF directory or
    cached hub id) as numpy arrays. Contiguous, uncompressed tensors are memory-mapped
    (zero-copy, read-only); others are decoded."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)
        self._inner = _modelconv.Loader(self.path)

    def keys(self) -> List[str]:
        return self._inner.keys()

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._inner

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def info(self, name: str) -> Tuple[str, List[int]]:
        """``(dtype, shape)``; dtype named as safetensors does (``F32``, ``BF16``, ...)."""
        return self._inner.info(name)

    def get_layer(self, name: str, dtype: Any = None) -> np.ndarray:
        """One tensor. ``dtype=np.float32`` casts float tensors and dequantizes int8
        tensors that carry ``NAME_scale`` companions."""
        if dtype is not None and np.dtype(dtype) == np.float32:
            shape = self._inner.info(name)[1]
            return np.frombuffer(self._inner.get_f32_bytes(name), dtype=np.float32).reshape(shape)
        kind, shape = self._inner.info(name)
        np_dtype = _numpy_dtype(kind)
        where = self._inner.file_range(name)
        if where is not None and len(shape) > 0 and np.prod(shape, dtype=np.int64) > 0:
            path, start, _end = where
            arr = np.memmap(path, dtype=np_dtype, mode="r", offset=start, shape=tuple(shape))
        else:
            arr = np.frombuffer(self._inner.get_bytes(name), dtype=np_dtype).reshape(shape)
        return arr if dtype is None else arr.astype(dtype)

    def load_weights(self, dtype: Any = None) -> Dict[str, np.ndarray]:
        """Every tensor, by name (memory-mapped where possible)."""
        return {name: self.get_layer(name, dtype) for name in self.keys()}
