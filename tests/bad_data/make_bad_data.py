"""Generates the malformed-input corpus for safetensors, shard indexes, NumPy and Parquet.

Each file is named after the failure it exercises; `cases.json` maps every file (or
directory, for shard indexes) to the exact error kind modelconv must report
(`modelconv_core::InvalidKind` variant names). The Rust test
`crates/modelconv/tests/bad_data.rs` checks every case and fails when a corpus
entry has no case. The pickle/zip corpus lives in `pickle/` with its own cases.json.

Run from the repository root with the dev venv (numpy, pyarrow):
    .venv/bin/python tests/bad_data/make_bad_data.py
"""

import json
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CASES = {}


def st(header, data=b"", raw_len=None):
    """A safetensors file from a header string (or bytes) and data bytes."""
    h = header.encode() if isinstance(header, str) else header
    n = len(h) if raw_len is None else raw_len
    return struct.pack("<Q", n) + h + data


def entry(name, dtype, shape, begin, end):
    return f'"{name}":{{"dtype":"{dtype}","shape":{json.dumps(shape)},"data_offsets":[{begin},{end}]}}'


def write(rel, content, kind, what):
    path = ROOT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    CASES[rel] = {"expect": kind, "what": what}


def safetensors_cases():
    a = entry("a", "F32", [2], 0, 8)
    write("safetensors/header_size_short.safetensors", b"\x08\x00\x00", "Truncated", "fewer than 8 bytes")
    write("safetensors/header_size_wrap.safetensors", struct.pack("<Q", 2**64 - 1) + b"{}", "HeaderTooLarge",
          "header length u64::MAX (would wrap 8 + N)")
    write("safetensors/header_larger_than_file.safetensors", st("{}", raw_len=4096), "HeaderTooLarge",
          "header length past the end of the file")
    write("safetensors/header_not_utf8.safetensors", st(b'{"a\xff":1}'), "HeaderNotUtf8", "invalid UTF-8 in the header")
    write("safetensors/header_not_json.safetensors", st('{"a": [1, 2'), "HeaderNotJson", "unterminated JSON")
    write("safetensors/header_not_object.safetensors", st("[1, 2]  "), "HeaderNotObject", "JSON array, not object")
    write("safetensors/duplicate_key.safetensors", st("{" + a + "," + entry("a", "F32", [2], 8, 16) + "}", bytes(16)),
          "DuplicateKey", "the same tensor name twice")
    write("safetensors/metadata_not_strings.safetensors", st('{"__metadata__":{"x":1}}'), "BadMetadata",
          "__metadata__ value that is not a string")
    write("safetensors/metadata_not_object.safetensors", st('{"__metadata__":[1]}'), "BadMetadata",
          "__metadata__ that is not an object")
    write("safetensors/offset_gap.safetensors", st("{" + entry("a", "F32", [2], 4, 12) + "}", bytes(12)),
          "OffsetGap", "data starts after a hole")
    write("safetensors/offset_overlap.safetensors",
          st("{" + a + "," + entry("b", "F32", [2], 4, 12) + "}", bytes(12)), "OverlappingOffsets",
          "two tensors overlap")
    write("safetensors/offset_aliasing.safetensors",
          st("{" + a + "," + entry("b", "F32", [2], 0, 8) + "}", bytes(8)), "OverlappingOffsets",
          "two tensors share the same bytes")
    write("safetensors/zero_size_with_bytes.safetensors", st("{" + entry("a", "F32", [0], 0, 4) + "}", bytes(4)),
          "SizeMismatch", "empty shape claiming 4 bytes")
    write("safetensors/size_mismatch.safetensors", st("{" + entry("a", "F32", [3], 0, 8) + "}", bytes(8)),
          "SizeMismatch", "3 floats in 8 bytes")
    write("safetensors/trailing_bytes.safetensors", st("{" + a + "}", bytes(12)), "TrailingBytes",
          "4 bytes after the last tensor")
    write("safetensors/truncated_data.safetensors", st("{" + a + "}", bytes(5)), "Truncated", "data cut short")
    write("safetensors/unknown_dtype.safetensors", st("{" + entry("a", "Q4", [2], 0, 8) + "}", bytes(8)), "BadDtype",
          "dtype Q4")
    write("safetensors/shape_overflow.safetensors",
          st("{" + entry("a", "F32", [2**62, 2**62], 0, 8) + "}", bytes(8)), "BadShape", "element count overflows")
    write("safetensors/offsets_reversed.safetensors", st("{" + entry("a", "F32", [2], 8, 0) + "}", bytes(8)),
          "BadTensorEntry", "begin after end")


def index_cases():
    shard = st("{" + entry("w", "F32", [2], 0, 8) + "}", bytes(8))
    shard2 = st("{" + entry("v", "F32", [2], 0, 8) + "}", bytes(8))

    def model(name, index, shards, kind, what):
        d = ROOT / "index" / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        (d / "model.safetensors.index.json").write_bytes(
            index if isinstance(index, bytes) else json.dumps(index, indent=2, sort_keys=True).encode())
        for fname, content in shards.items():
            (d / fname).write_bytes(content)
        CASES[f"index/{name}"] = {"expect": kind, "what": what}

    model("path_traversal", {"weight_map": {"w": "../evil.safetensors"}}, {}, "PathTraversal", "../ in weight_map")
    model("absolute_path", {"weight_map": {"w": "/etc/passwd"}}, {}, "PathTraversal", "absolute shard path")
    model("missing_shard", {"weight_map": {"w": "model-00001-of-00002.safetensors",
                                           "v": "model-00002-of-00002.safetensors"}},
          {"model-00001-of-00002.safetensors": shard}, "MissingShard", "a shard named by the index is absent")
    both = st("{" + entry("v", "F32", [2], 0, 8) + "," + entry("w", "F32", [2], 8, 16) + "}", bytes(16))
    model("tensor_in_two_shards", {"weight_map": {"w": "a.safetensors", "v": "b.safetensors"}},
          {"a.safetensors": shard, "b.safetensors": both}, "DuplicateTensor",
          "w is in shard a and again in shard b")
    model("shards_disagree", {"weight_map": {"w": "a.safetensors", "v": "b.safetensors"}},
          {"a.safetensors": shard, "b.safetensors": st("{" + entry("x", "F32", [2], 0, 8) + "}", bytes(8))},
          "ShardMismatch", "index says b holds v, but b holds x")
    model("index_not_json", b"{not json", {"a.safetensors": shard2}, "HeaderNotJson", "index is not JSON")
    model("index_without_weight_map", {"metadata": {}}, {"a.safetensors": shard2}, "HeaderNotObject",
          "no weight_map")


def numpy_cases():
    def npy(header, data=b""):
        h = header.encode()
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data

    write("numpy/big_endian.npy", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", bytes(8)),
          "BadDtype", "big-endian float32")
    write("numpy/truncated.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", bytes(6)),
          "Truncated", "16 bytes announced, 6 present")
    write("numpy/header_not_dict.npy", npy("[1, 2, 3]\n", bytes(8)), "HeaderNotObject", "header is not a dict")
    write("numpy/header_len_past_end.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + b"{", "HeaderTooLarge",
          "header length beyond the file")


def fuzz_findings():
    """Inputs found by the fuzzers (fuzz/README.md), kept as they were found."""
    for rel, kind, what in [
        ("parquet/column_offset_negative.parquet", "OffsetOutOfBounds",
         "fuzz finding: a column chunk at offset -23 (arrow-rs asserted on it)"),
        ("parquet/def_levels_past_buffer.parquet", "MalformedArchive",
         "fuzz finding: definition levels past their buffer (arrow-rs asserts; the panic is contained)"),
        ("parquet/page_header_list_bomb.parquet", "MalformedArchive",
         "fuzz finding: a page header list of 2^32 booleans (arrow-rs skipped it for minutes)"),
        ("parquet/schema_children_bomb.parquet", "MalformedArchive",
         "fuzz finding: a schema element with ~2^30 children (arrow-rs reserved 6 GB)"),
        ("parquet/footer_without_leading_magic.parquet", "UnknownFormat",
         "fuzz finding: a 30-byte file whose footer starts at byte 0 and holds a set of ~2^30 booleans "
         "(arrow-rs skipped it for over 10 s). Without the leading magic it is no Parquet file to the "
         "format detection; the Parquet reader itself refuses it as MalformedArchive (its unit test)"),
        ("parquet/nested_bool_lists.parquet", "MalformedArchive",
         "fuzz finding (leading magic added): a 103-byte footer of nested lists of booleans, which arrow-rs "
         "skips without consuming bytes (1 s in release, 13 s under the fuzzer)"),
    ]:
        CASES[rel] = {"expect": kind, "what": what}


def parquet_cases():
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("layer_name", pa.string()), ("shape", pa.list_(pa.int32())), ("dtype", pa.string()),
                        ("data", pa.binary()), ("num_params", pa.int64())])
    good = pa.table({"layer_name": ["w"], "shape": [[2]], "dtype": ["torch.float32"],
                     "data": [bytes(8)], "num_params": [2]}, schema=schema)
    tmp = ROOT / "parquet" / "_tmp.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)

    def pq_bytes(table):
        pq.write_table(table, tmp, compression="zstd")
        b = tmp.read_bytes()
        tmp.unlink()
        return b

    write("parquet/missing_column.parquet", pq_bytes(good.drop_columns(["data"])), "HeaderNotObject",
          "no data column")
    write("parquet/bad_dtype.parquet", pq_bytes(good.set_column(2, "dtype", pa.array(["torch.float17"]))), "BadDtype",
          "dtype string torch.float17")
    write("parquet/num_params_mismatch.parquet", pq_bytes(good.set_column(4, "num_params", pa.array([3]))),
          "SizeMismatch", "num_params disagrees with shape")
    full = pq_bytes(good)
    write("parquet/truncated.parquet", full[: len(full) // 2], "MalformedArchive", "file cut in half")


if __name__ == "__main__":
    safetensors_cases()
    index_cases()
    numpy_cases()
    parquet_cases()
    fuzz_findings()
    (ROOT / "cases.json").write_text(json.dumps(dict(sorted(CASES.items())), indent=2) + "\n")
    print(f"{len(CASES)} cases")
