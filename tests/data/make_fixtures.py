"""Generate the small, deterministic test fixtures under tests/data/.

Run from the repository root:

    .venv/bin/python tests/data/make_fixtures.py

Requirements (see tests/data/README.md): numpy, safetensors, tokenizers.
No torch, no transformers, no ml_dtypes.

Every run writes exactly the same bytes:
  * random values come from numpy's legacy ``np.random.RandomState`` with
    fixed seeds (its stream is frozen across numpy versions, unlike
    ``default_rng``);
  * JSON files are written with ``indent=2, sort_keys=True`` and a trailing
    newline (modules.json is a list and keeps its order);
  * safetensors files that contain BF16 or F8 tensors (numpy has no such
    dtypes) are written by ``write_safetensors`` below, which follows the
    safetensors format and the tensor order of the safetensors library.
    ``check_writer_matches_library`` checks it byte for byte against
    ``safetensors.numpy.save`` on numpy-native tensors.

Fixtures:
  tiny/all_dtypes.safetensors          one tensor per dtype, special values
  tiny/all_dtypes.f32_ref.safetensors  exact f32 upcasts of its F16/BF16/F8 tensors
  tiny/f32_values.safetensors          F32 ``x``: 4096 values for cast tests
  tiny/f32_values.f16_ref.safetensors  ``x`` as F16 (numpy), ``x_back`` as F32,
                                       ``x_bf16`` as BF16 (round to nearest even)
  tiny/sharded_bf16/                   HF-style 3-shard BF16 checkpoint + index
  tiny-bert/                           random-weight sentence-transformers BERT
"""

import json
import os
import shutil
import struct

import numpy as np
import safetensors
import safetensors.numpy
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

DATA_DIR = os.path.dirname(os.path.abspath(__file__))
TINY_DIR = os.path.join(DATA_DIR, "tiny")
BERT_DIR = os.path.join(DATA_DIR, "tiny-bert")


# ---------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------

# The safetensors Rust crate's `Dtype` enum, in declaration order. The library
# sorts tensors by dtype *descending* in this order, then by name ascending.
DTYPE_ENUM_ORDER = [
    "BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
    "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
    "I32", "U32", "F32", "C64", "F64", "I64", "U64",
]

# Bytes per element, and the little-endian numpy dtype used to store the
# element bits. BF16 and the F8 types are stored as raw unsigned bits.
DTYPE_STORAGE = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "F8_E4M3": "u1",
    "F8_E5M2": "u1",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "u1",
}

NUMPY_TO_SAFETENSORS = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


class Tensor:
    """A tensor to write: safetensors dtype name, shape and numpy array.

    For BF16 / F8 the array holds the raw bit patterns (uint16 / uint8).
    """

    def __init__(self, dtype, array):
        assert dtype in DTYPE_STORAGE, dtype
        self.dtype = dtype
        # np.array (not ascontiguousarray, which turns a 0-dim array into 1-dim)
        self.array = np.array(array, dtype=DTYPE_STORAGE[dtype], order="C")
        self.shape = list(self.array.shape)

    def data(self):
        return self.array.tobytes()


def native(array):
    """Wrap a numpy array whose dtype safetensors knows natively."""
    return Tensor(NUMPY_TO_SAFETENSORS[array.dtype.name], array)


def safetensors_bytes(tensors, metadata):
    """Serialize {name: Tensor} exactly like the safetensors library does.

    Layout: u64 little-endian header length N, then N bytes of compact JSON
    (padded with spaces to a multiple of 8), then the tensor data back to back.
    Metadata keys are written sorted (the library uses a hash map, whose
    order is not stable between runs when there is more than one key).
    """
    names = sorted(tensors)  # by name ascending ...
    # ... then a stable sort by dtype descending in the enum order.
    names.sort(key=lambda name: DTYPE_ENUM_ORDER.index(tensors[name].dtype), reverse=True)

    header = {}
    if metadata:
        header["__metadata__"] = {key: metadata[key] for key in sorted(metadata)}
    offset = 0
    chunks = []
    for name in names:
        tensor = tensors[name]
        data = tensor.data()
        header[name] = {
            "dtype": tensor.dtype,
            "shape": tensor.shape,
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        chunks.append(data)

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    padding = (8 - len(header_bytes) % 8) % 8
    header_bytes += b" " * padding
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(chunks)


def write_safetensors(path, tensors, metadata):
    blob = safetensors_bytes(tensors, metadata)
    with open(path, "wb") as f:
        f.write(blob)
    verify_safetensors(path, tensors, metadata)


def verify_safetensors(path, tensors, metadata):
    """Read a written file back with the safetensors library and compare."""
    with open(path, "rb") as f:
        blob = f.read()
    # deserialize() hands back raw bytes for every dtype, BF16/F8 included.
    loaded = dict(safetensors.deserialize(blob))
    assert sorted(loaded) == sorted(tensors), path
    for name, tensor in tensors.items():
        entry = loaded[name]
        assert entry["dtype"] == tensor.dtype, (path, name, entry["dtype"])
        assert list(entry["shape"]) == tensor.shape, (path, name)
        assert bytes(entry["data"]) == tensor.data(), (path, name)

    with safetensors.safe_open(path, framework="numpy") as f:
        assert sorted(f.keys()) == sorted(tensors), path
        assert f.metadata() == metadata, path
        for name, tensor in tensors.items():
            if tensor.dtype in ("BF16", "F8_E4M3", "F8_E5M2"):
                continue  # numpy cannot represent these
            value = f.get_tensor(name)
            assert value.shape == tuple(tensor.shape), (path, name)
            assert value.tobytes() == tensor.data(), (path, name)


def check_writer_matches_library():
    """Our writer must give the same bytes as safetensors.numpy.save."""
    arrays = {
        "b": np.zeros((0, 3), dtype=np.int32),
        "a": np.array(1.5, dtype=np.float32),
        "c.weight": np.arange(6, dtype=np.int64).reshape(2, 3),
        "c.bias": np.array([True, False, True]),
        "d": np.linspace(-1, 1, 7).astype(np.float16),
        "e": np.arange(-3, 4, dtype=np.int8),
        "f": np.arange(5, dtype=np.uint8),
        "g": np.array([0.25, -0.0], dtype=np.float64),
        "h": np.array([[1, -2]], dtype=np.int16),
    }
    for metadata in (None, {"format": "pt"}):
        ours = safetensors_bytes({k: native(v) for k, v in arrays.items()}, metadata)
        theirs = safetensors.numpy.save(arrays, metadata=metadata)
        assert ours == theirs, "safetensors writer differs from the library"


# ---------------------------------------------------------------------------
# bf16 and f8 bit handling
# ---------------------------------------------------------------------------

def f32_bits(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def bits_f32(bits):
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def f32_to_bf16_bits(values):
    """Round f32 to bf16 with round-to-nearest-even; returns uint16 bits.

    NaN keeps its sign and top payload bits and gets the quiet bit set.
    Overflow rounds to +-inf, as a correctly rounded cast should.
    """
    bits = f32_bits(values).astype(np.uint32)
    upper = bits >> np.uint32(16)
    lowest_kept_bit = upper & np.uint32(1)
    rounded = (bits + np.uint32(0x7FFF) + lowest_kept_bit) >> np.uint32(16)
    is_nan = (bits & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    quiet_nan = upper | np.uint32(0x0040)
    result = np.where(is_nan, quiet_nan, rounded)
    return result.astype(np.uint16)


def bf16_bits_to_f32(bits):
    return bits_f32(np.asarray(bits, dtype=np.uint32) << np.uint32(16))


def check_bf16_rounding():
    """Hand-computed f32 bits -> bf16 bits cases."""
    cases = [
        (0x3F800000, 0x3F80),  # 1.0
        (0x3F808000, 0x3F80),  # 1 + 2^-8: tie, keep even 0x3F80
        (0x3F818000, 0x3F82),  # 1 + 3*2^-8: tie, round up to even 0x3F82
        (0x3F808001, 0x3F81),  # just above the tie: round up
        (0x3F807FFF, 0x3F80),  # just below the tie: round down
        (0x3F7FFFFF, 0x3F80),  # largest f32 below 1 rounds to 1.0
        (0x40490FDB, 0x4049),  # pi -> 3.140625
        (0xC0490FDB, 0xC049),  # -pi
        (0x00000000, 0x0000),  # +0
        (0x80000000, 0x8000),  # -0
        (0x00000001, 0x0000),  # smallest f32 subnormal rounds to +0
        (0x00008000, 0x0000),  # subnormal tie, keep even 0
        (0x00018000, 0x0002),  # subnormal tie, round up to even
        (0x00010000, 0x0001),  # smallest bf16 subnormal, exact
        (0x7F7F0000, 0x7F7F),  # largest finite bf16, exact
        (0x7F7FFFFF, 0x7F80),  # f32 max overflows to +inf
        (0x7F7F7FFF, 0x7F7F),  # just below the overflow tie
        (0xFF7FFFFF, 0xFF80),  # -f32 max overflows to -inf
        (0x7F800000, 0x7F80),  # +inf
        (0xFF800000, 0xFF80),  # -inf
        (0x7FC00000, 0x7FC0),  # quiet NaN
        (0xFFC00000, 0xFFC0),  # negative quiet NaN
        (0x7F800001, 0x7FC0),  # signalling NaN with low payload becomes quiet
        (0x7FFFFFFF, 0x7FFF),  # NaN with all payload bits: no carry into sign
    ]
    for f32_in, expected in cases:
        got = int(f32_to_bf16_bits(bits_f32([f32_in]))[0])
        assert got == expected, f"bf16({f32_in:#010x}) = {got:#06x}, expected {expected:#06x}"


def f8_e4m3_to_f32(bits):
    """Decode F8_E4M3 (E4M3FN: bias 7, no inf, NaN = S.1111.111) to f32."""
    out = []
    for b in np.asarray(bits, dtype=np.uint8).ravel():
        b = int(b)
        sign = -1.0 if b & 0x80 else 1.0
        exponent = (b >> 3) & 0xF
        mantissa = b & 0x7
        if exponent == 0xF and mantissa == 0x7:
            value = float("nan")
        elif exponent == 0:
            value = sign * mantissa * 2.0 ** -9
        else:
            value = sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)
        out.append(value)
    return np.array(out, dtype=np.float32).reshape(np.shape(bits))


def f8_e5m2_to_f32(bits):
    """Decode F8_E5M2 (IEEE-like: bias 15, inf and NaN at exponent 31) to f32."""
    out = []
    for b in np.asarray(bits, dtype=np.uint8).ravel():
        b = int(b)
        sign = -1.0 if b & 0x80 else 1.0
        exponent = (b >> 2) & 0x1F
        mantissa = b & 0x3
        if exponent == 0x1F:
            value = sign * float("inf") if mantissa == 0 else float("nan")
        elif exponent == 0:
            value = sign * mantissa * 2.0 ** -16
        else:
            value = sign * (1.0 + mantissa / 4.0) * 2.0 ** (exponent - 15)
        out.append(value)
    return np.array(out, dtype=np.float32).reshape(np.shape(bits))


def check_f8_decoding():
    assert f8_e4m3_to_f32([0x38])[0] == 1.0
    assert f8_e4m3_to_f32([0x7E])[0] == 448.0
    assert f8_e4m3_to_f32([0x01])[0] == 2.0 ** -9
    assert f8_e4m3_to_f32([0x08])[0] == 2.0 ** -6
    assert np.isnan(f8_e4m3_to_f32([0x7F])[0])
    assert f8_e5m2_to_f32([0x3C])[0] == 1.0
    assert f8_e5m2_to_f32([0x7B])[0] == 57344.0
    assert f8_e5m2_to_f32([0x01])[0] == 2.0 ** -16
    assert f8_e5m2_to_f32([0x04])[0] == 2.0 ** -14
    assert f8_e5m2_to_f32([0xFC])[0] == -np.inf
    assert np.isnan(f8_e5m2_to_f32([0x7E])[0])


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def write_json(path, obj, sort_keys=True):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


# ---------------------------------------------------------------------------
# 1. tiny/all_dtypes.safetensors
# ---------------------------------------------------------------------------

def make_all_dtypes():
    f64 = np.array([
        0.0, -0.0, np.inf, -np.inf, np.nan,
        5e-324,                      # smallest subnormal
        2.2250738585072014e-308,     # smallest normal
        1.7976931348623157e308,      # max
        -1.7976931348623157e308,
        1.0, -2.5, np.pi,
    ], dtype=np.float64)
    assert f64.view(np.uint64)[4] == 0x7FF8000000000000

    f32 = bits_f32([
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000,  # +0 -0 +inf -inf
        0x7FC00000, 0x00000001, 0x80000001, 0x00800000,  # qNaN, +-min subnormal, min normal
        0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xC0490FDB,  # +-max, 1, -pi
    ]).reshape(3, 4)

    f16 = np.array([
        0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x0001,  # +0 -0 +inf -inf qNaN min subnormal
        0x8001, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0xC248,  # -min subnormal, min normal, +-65504, 1, -3.140625
    ], dtype=np.uint16).view(np.float16).reshape(2, 2, 3)

    bf16 = np.array([
        0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x0001,  # +0 -0 +inf -inf qNaN min subnormal
        0x8001, 0x0080, 0x7F7F, 0xFF7F, 0x3F80, 0xC049,  # -min subnormal, min normal, +-max, 1, -3.140625
    ], dtype=np.uint16)

    # F8_E4M3 (E4M3FN): no infinities; 0x7F / 0xFF are NaN; max 448.
    f8_e4m3 = np.array([
        0x00, 0x80, 0x7F, 0xFF, 0x01, 0x81,  # +0 -0 NaN -NaN +-min subnormal (2^-9)
        0x08, 0x7E, 0xFE, 0x38, 0xB8, 0x4C,  # min normal 2^-6, +-448, +-1, 3.5
    ], dtype=np.uint8).reshape(2, 6)

    # F8_E5M2: IEEE-like; 0x7C/0xFC are +-inf, 0x7E is quiet NaN; max 57344.
    f8_e5m2 = np.array([
        0x00, 0x80, 0x7C, 0xFC, 0x7E, 0x01,  # +0 -0 +inf -inf qNaN min subnormal 2^-16
        0x81, 0x04, 0x7B, 0xFB, 0x3C, 0xC2,  # -min subnormal, min normal 2^-14, +-57344, 1, -3
    ], dtype=np.uint8)

    tensors = {
        "f64": Tensor("F64", f64),
        "f32": Tensor("F32", f32),
        "f16": Tensor("F16", f16),
        "bf16": Tensor("BF16", bf16),
        "f8_e4m3": Tensor("F8_E4M3", f8_e4m3),
        "f8_e5m2": Tensor("F8_E5M2", f8_e5m2),
        # 0-dim scalar; 2^53 + 1 is not representable as f64.
        "i64_scalar": Tensor("I64", np.array(9007199254740993, dtype=np.int64)),
        # A shape with a zero dimension: no data bytes at all.
        "i32_empty": Tensor("I32", np.zeros((0, 3), dtype=np.int32)),
        "i16": Tensor("I16", np.array([[-32768, -1, 0], [1, 12345, 32767]], dtype=np.int16)),
        "i8": Tensor("I8", np.array([-128, -1, 0, 1, 2, 3, 64, 127], dtype=np.int8).reshape(2, 2, 2)),
        "u8": Tensor("U8", np.array([0, 1, 2, 127, 128, 200, 254, 255], dtype=np.uint8)),
        "bool": Tensor("BOOL", np.array([[True, False, True], [False, False, True]])),
    }
    metadata = {"format": "pt", "fixture": "all_dtypes"}
    write_safetensors(os.path.join(TINY_DIR, "all_dtypes.safetensors"), tensors, metadata)

    # Exact f32 values of the narrow float tensors (every such value is
    # exactly representable in f32), for upcast tests.
    reference = {
        "f16": Tensor("F32", f16.astype(np.float32)),
        "bf16": Tensor("F32", bf16_bits_to_f32(bf16)),
        "f8_e4m3": Tensor("F32", f8_e4m3_to_f32(f8_e4m3)),
        "f8_e5m2": Tensor("F32", f8_e5m2_to_f32(f8_e5m2)),
    }
    write_safetensors(
        os.path.join(TINY_DIR, "all_dtypes.f32_ref.safetensors"),
        reference,
        {"format": "pt", "fixture": "all_dtypes.f32_ref"},
    )


# ---------------------------------------------------------------------------
# 2. tiny/f32_values.safetensors and its f16 / bf16 references
# ---------------------------------------------------------------------------

def f32_test_values():
    """4096 f32 values chosen to exercise f32 -> f16 / bf16 casts."""
    special = [
        0.0, -0.0, np.inf, -np.inf,
        1.0, -1.0, 0.5, 2.0, 3.0,
        # overflow f16 (max finite 65504; 65520 is the tie that rounds to inf)
        65504.0, -65504.0, 65519.0, 65520.0, -65520.0, 65536.0, 1e5, 1e6, -1e6,
        3.0e38, -3.0e38, 3.4028234663852886e38,
        # f16 rounding ties around 1 (f16 spacing at 1 is 2^-10)
        1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 5 * 2.0 ** -11, -(1 + 2.0 ** -11),
        1 + 2.0 ** -11 + 2.0 ** -23, 1 + 2.0 ** -11 - 2.0 ** -23,
        # ties at 2048 (f16 spacing 2 there)
        2049.0, 2051.0, 2053.0, -2049.0, 4097.0, 4098.0, 4099.0, 4101.0,
        # f16 subnormals (min subnormal 2^-24, min normal 2^-14)
        2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 3 * 2.0 ** -25, 5 * 2.0 ** -25,
        2.0 ** -26, -(2.0 ** -24), -(2.0 ** -25), 2.0 ** -14, 2.0 ** -14 - 2.0 ** -24,
        2.0 ** -14 - 2.0 ** -25, 2.0 ** -15, 1023 * 2.0 ** -24, 2.0 ** -25 + 2.0 ** -40,
        # bf16 rounding ties (bf16 spacing at 1 is 2^-7)
        1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, -(1 + 2.0 ** -8), 1 + 2.0 ** -8 + 2.0 ** -23,
        # f32 subnormals and extremes
        1e-45, -1e-45, 1.1754943508222875e-38, 1e-40,
    ]
    x = list(np.array(special, dtype=np.float32).view(np.uint32))
    # NaNs given by bits so that their exact payload is fixed.
    x += [0x7FC00000, 0xFFC00000]
    x = np.array(x, dtype=np.uint32).view(np.float32)

    rng = np.random.RandomState(20240601)
    scales = [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e3, 1e4, 1e5]
    remaining = 4096 - len(x)
    per_scale = remaining // len(scales)
    chunks = [x]
    for scale in scales:
        chunks.append((rng.standard_normal(per_scale) * scale).astype(np.float32))
    leftover = 4096 - sum(len(c) for c in chunks)
    chunks.append((rng.standard_normal(leftover) * 10.0).astype(np.float32))
    x = np.concatenate(chunks).astype(np.float32)
    assert x.shape == (4096,)
    return x


def make_f32_values():
    check_bf16_rounding()
    x = f32_test_values()
    write_safetensors(
        os.path.join(TINY_DIR, "f32_values.safetensors"),
        {"x": Tensor("F32", x)},
        {"format": "pt"},
    )

    with np.errstate(over="ignore"):
        x_f16 = x.astype(np.float16)
        # Spot checks of numpy's f16 rounding on the ties above.
        assert np.float32(1 + 2.0 ** -11).astype(np.float16) == np.float16(1.0)
        assert np.float32(2049.0).astype(np.float16) == np.float16(2048.0)
        assert np.float32(65520.0).astype(np.float16) == np.float16(np.inf)
        assert np.float32(65519.0).astype(np.float16) == np.float16(65504.0)
        assert np.float32(2.0 ** -25).astype(np.float16).view(np.uint16) == 0x0000
        assert np.float32(3 * 2.0 ** -25).astype(np.float16).view(np.uint16) == 0x0002
        assert np.float32(np.nan).astype(np.float16).view(np.uint16) == 0x7E00
    x_back = x_f16.astype(np.float32)
    x_bf16 = f32_to_bf16_bits(x)
    write_safetensors(
        os.path.join(TINY_DIR, "f32_values.f16_ref.safetensors"),
        {
            "x": Tensor("F16", x_f16),
            "x_back": Tensor("F32", x_back),
            "x_bf16": Tensor("BF16", x_bf16),
        },
        {"format": "pt"},
    )


# ---------------------------------------------------------------------------
# 3. tiny/sharded_bf16/
# ---------------------------------------------------------------------------

def make_sharded_bf16():
    out_dir = os.path.join(TINY_DIR, "sharded_bf16")
    fresh_dir(out_dir)
    rng = np.random.RandomState(1234)
    hidden = 16
    vocab = 64

    def weight(*shape):
        return Tensor("BF16", f32_to_bf16_bits(rng.standard_normal(shape).astype(np.float32) * 0.02))

    def norm():
        return Tensor("BF16", f32_to_bf16_bits(1.0 + rng.standard_normal(hidden).astype(np.float32) * 0.02))

    shards = [{}, {}, {}]
    shards[0]["model.embed_tokens.weight"] = weight(vocab, hidden)
    for layer in range(2):
        shard = shards[layer]
        prefix = f"model.layers.{layer}."
        for proj in ["q_proj", "k_proj", "v_proj", "o_proj"]:
            shard[prefix + f"self_attn.{proj}.weight"] = weight(hidden, hidden)
        shard[prefix + "input_layernorm.weight"] = norm()
    shards[0]["model.layers.0.position_ids"] = Tensor("I64", np.arange(8, dtype=np.int64))
    shards[2]["model.norm.weight"] = norm()
    shards[2]["lm_head.weight"] = weight(vocab, hidden)

    weight_map = {}
    total_size = 0
    for i, tensors in enumerate(shards):
        filename = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(out_dir, filename), tensors, {"format": "pt"})
        for name, tensor in tensors.items():
            weight_map[name] = filename
            total_size += len(tensor.data())
    write_json(
        os.path.join(out_dir, "model.safetensors.index.json"),
        {"metadata": {"total_size": total_size}, "weight_map": weight_map},
    )
    write_json(
        os.path.join(out_dir, "config.json"),
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": hidden,
            "intermediate_size": 32,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "num_hidden_layers": 2,
            "vocab_size": vocab,
            "max_position_embeddings": 8,
            "rms_norm_eps": 1e-06,
            "hidden_act": "silu",
            "tie_word_embeddings": False,
            "torch_dtype": "bfloat16",
        },
    )


# ---------------------------------------------------------------------------
# 4. tiny-bert/
# ---------------------------------------------------------------------------

BERT_HIDDEN = 32
BERT_LAYERS = 2
BERT_HEADS = 4
BERT_INTERMEDIATE = 64
BERT_MAX_POSITIONS = 64
BERT_TYPE_VOCAB = 2

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCTUATION = list(".,!?'\"-:;()")
DIGITS = list("0123456789")
LETTERS = list("abcdefghijklmnopqrstuvwxyz")
WORDS = (
    "the an and or but of to in on at for with from by is are was were be been "
    "it this that these those you he she we they me him her us them my your his "
    "its our their what which who when where why how not no yes do does did have has "
    "had can will would should could may one two three cat dog bird fish car house "
    "tree water food book day night time year man woman child people world good bad "
    "new old big small fast slow happy sad red blue green run walk eat see like love "
    "make go come say get know think play read write sentence model test hello"
).split()
SUFFIXES = ["##es", "##ed", "##ing", "##ly", "##er", "##est", "##tion", "##ness", "##ful"]


def bert_vocab():
    vocab = SPECIAL_TOKENS + PUNCTUATION + DIGITS + LETTERS + ["##" + c for c in LETTERS] + WORDS + SUFFIXES
    assert len(vocab) == len(set(vocab)), "duplicate vocab entry"
    return vocab


def bert_weights(vocab_size):
    rng = np.random.RandomState(42)
    h, inter = BERT_HIDDEN, BERT_INTERMEDIATE

    def normal(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def zeros(*shape):
        return np.zeros(shape, dtype=np.float32)

    def ones(*shape):
        return np.ones(shape, dtype=np.float32)

    w = {}
    w["embeddings.word_embeddings.weight"] = normal(vocab_size, h)
    w["embeddings.position_embeddings.weight"] = normal(BERT_MAX_POSITIONS, h)
    w["embeddings.token_type_embeddings.weight"] = normal(BERT_TYPE_VOCAB, h)
    w["embeddings.LayerNorm.weight"] = ones(h)
    w["embeddings.LayerNorm.bias"] = zeros(h)
    for n in range(BERT_LAYERS):
        p = f"encoder.layer.{n}."
        for name in ["query", "key", "value"]:
            w[p + f"attention.self.{name}.weight"] = normal(h, h)
            w[p + f"attention.self.{name}.bias"] = zeros(h)
        w[p + "attention.output.dense.weight"] = normal(h, h)
        w[p + "attention.output.dense.bias"] = zeros(h)
        w[p + "attention.output.LayerNorm.weight"] = ones(h)
        w[p + "attention.output.LayerNorm.bias"] = zeros(h)
        w[p + "intermediate.dense.weight"] = normal(inter, h)
        w[p + "intermediate.dense.bias"] = zeros(inter)
        w[p + "output.dense.weight"] = normal(h, inter)
        w[p + "output.dense.bias"] = zeros(h)
        w[p + "output.LayerNorm.weight"] = ones(h)
        w[p + "output.LayerNorm.bias"] = zeros(h)
    w["pooler.dense.weight"] = normal(h, h)
    w["pooler.dense.bias"] = zeros(h)
    return w


def bert_tokenizer(vocab):
    tokenizer = Tokenizer(models.WordPiece(
        vocab={token: i for i, token in enumerate(vocab)},
        unk_token="[UNK]",
        continuing_subword_prefix="##",
        max_input_chars_per_word=100,
    ))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id = vocab.index("[CLS]")
    sep_id = vocab.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.no_padding()
    tokenizer.no_truncation()

    encoding = tokenizer.encode("Hello, the cats played!")
    assert encoding.tokens == ["[CLS]", "hello", ",", "the", "cat", "##s", "play", "##ed", "!", "[SEP]"], encoding.tokens
    return tokenizer


def make_tiny_bert():
    fresh_dir(BERT_DIR)
    vocab = bert_vocab()

    write_json(
        os.path.join(BERT_DIR, "config.json"),
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": len(vocab),
            "hidden_size": BERT_HIDDEN,
            "num_hidden_layers": BERT_LAYERS,
            "num_attention_heads": BERT_HEADS,
            "intermediate_size": BERT_INTERMEDIATE,
            "max_position_embeddings": BERT_MAX_POSITIONS,
            "type_vocab_size": BERT_TYPE_VOCAB,
            "layer_norm_eps": 1e-12,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "initializer_range": 0.02,
            "pad_token_id": 0,
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
        },
    )

    weights = bert_weights(len(vocab))
    # Only F32 tensors: write with the safetensors library itself.
    model_path = os.path.join(BERT_DIR, "model.safetensors")
    safetensors.numpy.save_file(weights, model_path, metadata={"format": "pt"})
    verify_safetensors(model_path, {k: native(v) for k, v in weights.items()}, {"format": "pt"})

    write_text(os.path.join(BERT_DIR, "vocab.txt"), "".join(token + "\n" for token in vocab))
    bert_tokenizer(vocab).save(os.path.join(BERT_DIR, "tokenizer.json"), pretty=True)
    write_json(
        os.path.join(BERT_DIR, "tokenizer_config.json"),
        {
            "tokenizer_class": "BertTokenizer",
            "do_lower_case": True,
            "do_basic_tokenize": True,
            "never_split": None,
            "tokenize_chinese_chars": True,
            "strip_accents": None,
            "model_max_length": 64,
            "clean_up_tokenization_spaces": True,
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
    )
    write_json(
        os.path.join(BERT_DIR, "special_tokens_map.json"),
        {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "mask_token": "[MASK]",
        },
    )

    # sentence-transformers files
    write_json(
        os.path.join(BERT_DIR, "modules.json"),
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        sort_keys=False,
    )
    write_json(
        os.path.join(BERT_DIR, "sentence_bert_config.json"),
        {"max_seq_length": 64, "do_lower_case": False},
    )
    write_json(
        os.path.join(BERT_DIR, "config_sentence_transformers.json"),
        {
            "__version__": {"sentence_transformers": "3.0.0"},
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    os.makedirs(os.path.join(BERT_DIR, "1_Pooling"))
    write_json(
        os.path.join(BERT_DIR, "1_Pooling", "config.json"),
        {
            "word_embedding_dimension": BERT_HIDDEN,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    write_text(
        os.path.join(BERT_DIR, "README.md"),
        "# tiny-bert\n"
        "\n"
        "A tiny random-weight BERT model for tests only. It produces meaningless\n"
        "embeddings.\n"
        "\n"
        f"Generated by `tests/data/make_fixtures.py`: BertModel, hidden size {BERT_HIDDEN},\n"
        f"{BERT_LAYERS} layers, {BERT_HEADS} heads, a {len(vocab)}-token lowercase WordPiece vocabulary,\n"
        "F32 weights drawn from normal(0, 0.02) with a fixed seed (LayerNorm weight 1,\n"
        "biases 0), laid out as a sentence-transformers model (Transformer, mean\n"
        "Pooling, Normalize).\n",
    )


def main():
    os.makedirs(TINY_DIR, exist_ok=True)
    check_writer_matches_library()
    check_f8_decoding()
    make_all_dtypes()
    make_f32_values()
    make_sharded_bf16()
    make_tiny_bert()
    print("fixtures written under", DATA_DIR)


if __name__ == "__main__":
    main()
