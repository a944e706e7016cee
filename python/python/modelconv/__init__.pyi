"""Type stubs of the modelconv package."""

import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ._modelconv import (
    CancelledError as CancelledError,
    InternalError as InternalError,
    InvalidFileError as InvalidFileError,
    InvalidOptionError as InvalidOptionError,
    ModelConvError as ModelConvError,
    ModelNotFoundError as ModelNotFoundError,
    StorageError as StorageError,
    UnsupportedError as UnsupportedError,
)

__version__: str
REQUEST_FIELDS: List[Tuple[str, str, str, List[str]]]
FORMATS: List[Tuple[str, List[str], List[str], bool, bool]]
PathLike = Union[str, os.PathLike[str]]
ProgressCallback = Callable[[str, int, int], None]

class ConversionConfig:
    output_format: str
    use_float16: bool
    validate_output: bool
    quantization: Optional[str]
    to: Optional[str]
    dtype: Optional[str]
    dtype_override: List[str]
    max_shard_size: Union[str, int, None]
    quant: Optional[str]
    no_sync: bool
    tensor_type: List[str]
    quantize: Optional[str]
    quant_axis: Union[int, str, None]
    quant_scheme: Optional[str]
    parquet_schema: Optional[str]
    compression: Optional[str]
    compression_level: Optional[int]
    model_type: Optional[str]
    component: Optional[str]
    key_map: Optional[str]
    mup_to_llama: bool
    no_metadata: bool
    validate: bool
    report: Optional[str]
    overwrite: bool
    allow_amplification: bool
    resume: bool
    chunk_size: Union[str, int, None]
    threads: int
    dtype_overrides: List[str]
    def __init__(
        self,
        output_format: str = "parquet",
        use_float16: bool = False,
        validate_output: bool = False,
        quantization: Optional[str] = None,
        to: Optional[str] = None,
        dtype: Optional[str] = None,
        dtype_override: List[str] = ...,
        max_shard_size: Union[str, int, None] = None,
        quant: Optional[str] = None,
        no_sync: bool = False,
        tensor_type: List[str] = ...,
        quantize: Optional[str] = None,
        quant_axis: Union[int, str, None] = None,
        quant_scheme: Optional[str] = None,
        parquet_schema: Optional[str] = None,
        compression: Optional[str] = None,
        compression_level: Optional[int] = None,
        model_type: Optional[str] = None,
        component: Optional[str] = None,
        key_map: Optional[str] = None,
        mup_to_llama: bool = False,
        no_metadata: bool = False,
        validate: bool = False,
        report: Optional[str] = None,
        overwrite: bool = False,
        allow_amplification: bool = False,
        resume: bool = False,
        chunk_size: Union[str, int, None] = None,
        threads: int = 0,
        dtype_overrides: List[str] = ...,
    ) -> None: ...

class ConversionResult:
    success: bool
    total_parameters: int
    file_size_mb: float
    compression_ratio: float
    conversion_time_sec: float
    error_message: Optional[str]
    output_dir: Optional[str]
    output_files: List[str]
    checksums: Dict[str, str]
    source_size_bytes: int
    output_size_bytes: int
    warnings: List[str]
    validation: Optional[Dict[str, Any]]
    inference: Optional[Dict[str, Any]]
    report: Dict[str, Any]
    def to_dict(self) -> Dict[str, Any]: ...

def convert(
    src: PathLike,
    dst: PathLike,
    progress: Union[bool, ProgressCallback, None] = None,
    chunk_delay_ms: int = 0,
    **options: Any,
) -> Dict[str, Any]: ...

class ModelConverter:
    config: ConversionConfig
    def __init__(self, config: Optional[ConversionConfig] = None) -> None: ...
    def convert(
        self,
        model_name_or_path: PathLike,
        output_dir: PathLike,
        model_type: str = "auto",
        progress: Union[bool, ProgressCallback, None] = None,
        **options: Any,
    ) -> ConversionResult: ...
    def convert_or_raise(
        self,
        model_name_or_path: PathLike,
        output_dir: PathLike,
        model_type: str = "auto",
        progress: Union[bool, ProgressCallback, None] = None,
        **options: Any,
    ) -> ConversionResult: ...

def convert_hf_to_parquet(hf_model_path: PathLike, output_parquet: PathLike, **options: Any) -> ConversionResult: ...
def convert_parquet_to_hf(parquet_path: PathLike, output_dir: PathLike, **options: Any) -> ConversionResult: ...

class HuggingFaceToParquetConverter:
    config: ConversionConfig
    def __init__(self, config: Optional[ConversionConfig] = None) -> None: ...
    def convert(
        self, hf_model_path: PathLike, output_parquet: PathLike, auto_detect_quantization: bool = True
    ) -> ConversionResult: ...

class ParquetToHuggingFaceConverter:
    def convert(self, parquet_path: PathLike, output_dir: PathLike) -> ConversionResult: ...

class WeightLoader:
    path: str
    def __init__(self, path: PathLike) -> None: ...
    def keys(self) -> List[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def info(self, name: str) -> Tuple[str, List[int]]: ...
    def get_layer(self, name: str, dtype: Any = None) -> np.ndarray: ...
    def load_weights(self, dtype: Any = None) -> Dict[str, np.ndarray]: ...
