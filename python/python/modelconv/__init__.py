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
import os
from dataclasses import asdict, dataclass, field, fields
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
    "FORMATS",
    "REQUEST_FIELDS",
    "WeightLoader",
    "convert",
    "convert_hf_to_parquet",
    "convert_parquet_to_hf",
]

PathLike = Union[str, "os.PathLike[str]"]
ProgressCallback = Callable[[str, int, int], None]


#: The request's fields (the CLI's `convert` flags with `_` for `-`), derived from
#: the Rust request type: `(keyword, flag, help, possible values)`.
REQUEST_FIELDS: List[Tuple[str, str, str, List[str]]] = [tuple(f) for f in _modelconv.request_fields()]  # type: ignore[misc]

#: The format registry: `(name, aliases, extensions, reads, writes)`.
FORMATS: List[Tuple[str, List[str], List[str], bool, bool]] = [tuple(f) for f in _modelconv.formats()]  # type: ignore[misc]


@dataclass
class ConversionConfig:
    """How to convert: every option of ``modelconv convert`` under its snake_case name (``None``
    / ``False`` / ``[]`` = not given, the CLI's default), plus the seeds' names.

    The seeds' names: ``output_format`` (default ``"parquet"``, the seeds' layout; ``to`` wins when
    both are given), ``use_float16`` (= ``dtype="f16"``), ``validate_output`` (= ``validate``),
    ``quantization`` (= ``quantize``). Compression defaults to zstd level 3 for Parquet output.
    An option that does not apply to the output format is an error, as on the command line.
    """

    # The seeds' names.
    output_format: str = "parquet"
    use_float16: bool = False
    validate_output: bool = False
    quantization: Optional[str] = None
    # The request (same names and values as the CLI flags).
    to: Optional[str] = None
    dtype: Optional[str] = None
    dtype_override: List[str] = field(default_factory=list)
    max_shard_size: Union[str, int, None] = None
    quant: Optional[str] = None
    no_sync: bool = False
    tensor_type: List[str] = field(default_factory=list)
    quantize: Optional[str] = None
    quant_axis: Union[int, str, None] = None
    quant_scheme: Optional[str] = None
    parquet_schema: Optional[str] = None
    compression: Optional[str] = None
    compression_level: Optional[int] = None
    model_type: Optional[str] = None
    component: Optional[str] = None
    key_map: Optional[str] = None
    mup_to_llama: bool = False
    no_metadata: bool = False
    validate: bool = False
    report: Optional[str] = None
    overwrite: bool = False
    allow_amplification: bool = False
    resume: bool = False
    chunk_size: Union[str, int, None] = None
    threads: int = 0
    # Accepted for compatibility: the plural the earlier API used.
    dtype_overrides: List[str] = field(default_factory=list)

    def _request(self, extra: Dict[str, Any]) -> Dict[str, Any]:
        """The request this config asks for: the fields given (not at their defaults), the seeds'
        names mapped onto the request's, then ``extra`` (keyword arguments of the call)."""
        defaults = {f.name: f.default for f in fields(self)}
        req: Dict[str, Any] = {}
        for name, _flag, _help, _values in REQUEST_FIELDS:
            value = getattr(self, name)
            if value != defaults.get(name) and value != []:
                req[name] = value
        if self.dtype_overrides:
            req["dtype_override"] = list(self.dtype_overrides) + req.get("dtype_override", [])
        if "to" not in req and self.output_format:
            req["to"] = self.output_format
        if self.use_float16 and "dtype" not in req:
            req["dtype"] = "f16"
        if self.validate_output:
            req["validate"] = True
        if self.quantization and "quantize" not in req:
            req["quantize"] = self.quantization
        req.update({k: v for k, v in extra.items() if v is not None})
        return req


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
    inference: Optional[Dict[str, Any]] = None
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
    chunk_delay_ms: int = 0,
    **options: Any,
) -> Dict[str, Any]:
    """Converts ``src`` (a file, directory or cached hub id) to ``dst``; returns the
    JSON report as a dict. Raises a ``ModelConvError`` subclass on failure.

    ``options`` are exactly the CLI's ``convert`` options under their snake_case names
    (``REQUEST_FIELDS`` lists them; an unknown keyword is an error), with the same values:
    ``to="parquet"``, ``dtype="f16"``, ``quant="Q4_K_M"``, ``max_shard_size="5GB"``,
    ``validate=True``, ... ``progress`` is a ``callback(phase, done_bytes, total_bytes)`` or
    True for a tqdm bar. ``chunk_delay_ms`` slows the engine down (a testing aid).
    """
    cb = _progress_callback(progress)
    # Path-valued options (report=) may be given as paths.
    options = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in options.items()}
    text = _modelconv.convert(os.fspath(src), os.fspath(dst), json.dumps(options), cb, chunk_delay_ms)
    return json.loads(text)


#: What the seeds' ``model_type`` asks for: the family, and the sub-model their converters wrote
#: (CLIP's vision tower with its projection, Whisper's encoder).
_SEEDS_MODEL_TYPES = {
    "bert": ("bert", None),
    "sentence-transformers": ("bert", None),
    "clip": ("clip", "vision"),
    "whisper": ("whisper", "encoder"),
}


def _seeds_model_type(src: str, model_type: Optional[str]) -> Dict[str, Any]:
    """The request options for the seeds' ``model_type`` ("auto" detects the family; a CLIP or
    Whisper model then gets the seeds' sub-model too)."""
    if model_type in (None, "auto"):
        family = _modelconv.detect_family(src)
        if family in ("clip", "whisper"):
            return {"component": _SEEDS_MODEL_TYPES[family][1]}
        return {}
    key = model_type.lower()
    if key in _SEEDS_MODEL_TYPES:
        family, component = _SEEDS_MODEL_TYPES[key]
        return {"model_type": family, "component": component}
    return {"model_type": model_type}


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
        """Like ``convert`` but raises a ``ModelConvError`` subclass on failure.

        ``model_type`` is the seeds': "auto" (detect), "bert" / "sentence-transformers" (pooling
        kept), "clip" (the vision tower and its projection), "whisper" (the encoder, with the seeds'
        key map in their Parquet layout), or any family ``--model-type`` accepts."""
        src = os.fspath(model_name_or_path)
        seeds = _seeds_model_type(src, model_type)
        if self.config.model_type is not None or self.config.component is not None:
            seeds = {}
        request = self.config._request({**seeds, **options})
        report = convert(src, output_dir, progress=progress, **request)
        warnings = list(report.get("warnings", []))
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
            validation=report.get("validation"),
            inference=report.get("inference"),
            report=report,
        )
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
