"""Generates the hostile GGUF corpus: one small file per attack class.

Classes: /work/shared/reference/security.md § GGUF (the 24 of § 9.1, the G1–G17 checklist of
§ 1.5 and llama.cpp's tests/test-gguf.cpp handcrafted cases), each as a file a few hundred bytes
long. `cases.json` maps every file to what modelconv-gguf must do:
- an `InvalidKind` variant name (`Truncated`, `BadShape`, ...): `read` fails with exactly that kind,
  naming the file, in well under a second, without panicking or allocating from the lengths;
- `Unsupported`: `read` fails with `Error::Unsupported` (big-endian);
- `Accepted` / `AcceptedWithWarning`: legal GGUF that a careless consumer could misuse; `read`
  succeeds (with a warning for names llama.cpp would refuse) and the `check` field says what the
  test verifies about the parsed values.

Checked by crates/gguf/tests/bad_data.rs, which also fails when a file here has no case.
Run from the repository root with any Python 3:  python3 tests/bad_data/gguf/make_bad_gguf.py
"""

import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {}

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
T_F32, T_F16, T_Q4_0, T_Q8_0, T_I8 = 0, 1, 2, 8, 24


class G:
    """A little-endian GGUF byte builder (no validation: that is the point)."""

    def __init__(self, n_tensors, n_kv, version=3, magic=b"GGUF"):
        self.b = bytearray(magic + struct.pack("<IQQ", version, n_tensors, n_kv))

    def raw(self, data):
        self.b += data
        return self

    def u32(self, x):
        return self.raw(struct.pack("<I", x))

    def u64(self, x):
        return self.raw(struct.pack("<Q", x))

    def s(self, text):
        data = text.encode() if isinstance(text, str) else text
        return self.u64(len(data)).raw(data)

    def kv_u32(self, key, v):
        return self.s(key).u32(U32).u32(v)

    def kv_str(self, key, v):
        return self.s(key).u32(STR).s(v)

    def tensor(self, name, dims, ggml_type, offset):
        self.s(name).u32(len(dims))
        for d in dims:
            self.u64(d)
        return self.u32(ggml_type).u64(offset)

    def pad(self, alignment=32):
        while len(self.b) % alignment:
            self.b.append(0)
        return self

    def data(self, n):
        return self.pad().raw(bytes(n))

    def bytes(self):
        return bytes(self.b)


def case(name, content, expect, what, check=None):
    (HERE / name).write_bytes(content if isinstance(content, bytes) else content.bytes())
    CASES[name] = {"expect": expect, "what": what}
    if check:
        CASES[name]["check"] = check


def one_f32(name="t", dims=(4,), ggml_type=T_F32, offset=0, data=16, kv=None):
    g = G(1, 0 if kv is None else 1)
    if kv:
        kv(g)
    return g.tensor(name, dims, ggml_type, offset).data(data)


def header_cases():
    case("bad_magic.gguf", G(0, 0, magic=b"GGUG"), "UnknownFormat", "magic is not GGUF")
    case("version_0.gguf", G(0, 0, version=0), "UnknownFormat", "version 0")
    case("version_1.gguf", G(0, 0, version=1), "UnknownFormat", "GGUF v1 (u32 counts; rejected by ggml too)")
    case("version_future.gguf", G(0, 0, version=4), "UnknownFormat", "version 4")
    case("big_endian.gguf", G(0, 0, version=0x03000000), "Unsupported", "big-endian v3: the version reads swapped")
    case("truncated_header.gguf", b"GGUF\x03\x00\x00\x00\x01\x00", "Truncated", "file ends inside the tensor count")
    case("n_tensors_minus1.gguf", G(2**64 - 1, 0), "Truncated", "n_tensors = -1 (u64::MAX): count x struct size wraps (G1)")
    case("n_tensors_2p63.gguf", G(2**63, 0), "Truncated", "n_tensors = 2^63")
    case("n_kv_minus1.gguf", G(0, 2**64 - 1), "Truncated", "n_kv = -1 (CVE-2024-25664 class)")
    case("n_kv_2p63.gguf", G(0, 2**63), "Truncated", "n_kv = 2^63")
    case("n_kv_more_than_present.gguf", G(0, 2).kv_u32("a", 1), "Truncated", "two KVs announced, one present")


def kv_cases():
    case("key_len_u64max.gguf", G(0, 1).u64(2**64 - 1).raw(b"abc"), "Truncated",
         "key length u64::MAX: len + 1 wraps to 0 in C (CVE-2024-25665, G2)")
    case("key_len_past_end.gguf", G(0, 1).u64(1000).raw(b"abc"), "Truncated", "key length larger than the file")
    case("empty_key.gguf", G(0, 1).s("").u32(U32).u32(1), "BadMetadata", "empty key (ggml asserts on it)")
    case("key_not_utf8.gguf", G(0, 1).s(b"k\xff").u32(U32).u32(1), "HeaderNotUtf8", "key is not UTF-8")
    case("kv_type_out_of_range.gguf", G(0, 1).s("k").u32(13).u32(0), "BadMetadata", "value type 13 (G7)")
    case("kv_type_huge.gguf", G(0, 1).s("k").u32(0xFFFFFFFF).u32(0), "BadMetadata", "value type u32::MAX (negative)")
    case("bool_not_0_or_1.gguf", G(0, 1).s("k").u32(BOOL).raw(b"\x02"), "BadMetadata", "bool byte 2")
    case("string_value_past_end.gguf", G(0, 1).s("k").u32(STR).u64(2**40).raw(b"xx"), "Truncated",
         "string value longer than the file")
    case("array_elem_type_out_of_range.gguf", G(0, 1).s("a").u32(ARR).u32(13).u64(1).u32(0), "BadMetadata",
         "array element type 13 (unsanitised GGUF_TYPE_SIZE index)")
    case("array_count_size_wrap.gguf", G(0, 1).s("a").u32(ARR).u32(U32).u64(2**62 + 1).u32(0), "Truncated",
         "count x 4 wraps to 4 (CVE-2024-25667, G1)")
    case("array_count_past_end.gguf", G(0, 1).s("a").u32(ARR).u32(U8).u64(1 << 20).raw(b"\x00" * 16), "Truncated",
         "1 MiB of u8 announced, 16 bytes present (G3: must fail before allocating)")
    case("array_bomb_2p60.gguf", G(0, 1).s("a").u32(ARR).u32(U64).u64(2**60), "Truncated",
         "2^60 u64 elements in a 60-byte file")
    case("array_of_strings_huge_count.gguf", G(0, 1).s("a").u32(ARR).u32(STR).u64(2**40).s("x"), "Truncated",
         "2^40 strings announced (CVE-2024-25668)")
    g = G(0, 1).s("a").u32(ARR)
    for _ in range(1000):
        g.u32(ARR).u64(1)
    g.u32(U8).u64(0)
    case("nested_arrays_1000_deep.gguf", g, "LimitExceeded",
         "arrays of arrays 1000 deep (G13; the test also builds 10^5 levels in memory)")
    case("duplicate_key.gguf", G(0, 2).kv_u32("k", 1).kv_u32("k", 2), "DuplicateKey",
         "the same key twice (G10: first-wins vs last-wins differential)")
    case("tokenizer_scores_as_int8.gguf",
         G(0, 1).s("tokenizer.ggml.scores").u32(ARR).u32(I8).u64(3).raw(b"\x01\x02\x03"), "Accepted",
         "scores declared INT8 where consumers expect f32 (G12): read as what it is",
         check="tokenizer.ggml.scores is an INT8 array [1, 2, 3]")
    case("chat_template_jinja.gguf",
         G(0, 1).kv_str("tokenizer.chat_template",
                        "{{ ''.__class__.__mro__[1].__subclasses__()[40]('/etc/passwd').read() }}"),
         "Accepted", "Jinja SSTI payload (CVE-2024-34359): must stay an inert string",
         check="tokenizer.chat_template is returned byte for byte")


def alignment_cases():
    for name, v, what in [("alignment_0.gguf", 0, "0"), ("alignment_3.gguf", 3, "not a power of two"),
                          ("alignment_2p31.gguf", 2**31, "2^31 (the 2026 oss-security abort)")]:
        case(name, G(0, 1).kv_u32("general.alignment", v).pad(), "BadMetadata", f"general.alignment {what} (G8)")
    case("alignment_int32_typed.gguf", G(0, 1).s("general.alignment").u32(I32).u32(32).pad(), "BadMetadata",
         "general.alignment stored as INT32 (ggml requires UINT32)")


def tensor_cases():
    case("tensor_name_len_u64max.gguf", G(1, 0).u64(2**64 - 1).raw(b"x" * 8), "Truncated",
         "tensor name length u64::MAX")
    case("tensor_name_65_bytes.gguf", one_f32(name="n" * 65), "AcceptedWithWarning",
         "65-byte name: legal GGUF, over llama.cpp's 63 (G11); read, with a warning",
         check="one tensor, one warning")
    case("duplicate_tensor_name.gguf",
         G(2, 0).tensor("a", [8], T_F32, 0).tensor("a", [8], T_F32, 32).data(64), "DuplicateTensor",
         "two tensors named 'a'")
    for n in (0, 5, 9):
        dims = [1] * n
        case(f"n_dims_{n}.gguf", G(1, 0).tensor("t", dims, T_F32, 0).data(16), "BadShape",
             f"{n} dimensions (GGML_MAX_DIMS is 4; G4)")
    case("n_dims_u32max.gguf", G(1, 0).s("t").u32(0xFFFFFFFF).u64(1).u64(1).data(32), "BadShape",
         "n_dims = u32::MAX (gguf-py's reader tried to allocate this)")
    case("dim_zero.gguf", G(1, 0).tensor("t", [4, 0], T_F32, 0).data(16), "BadShape", "a zero dimension (SIGFPE class, G6)")
    case("dim_negative.gguf", G(1, 0).tensor("t", [2**64 - 4], T_F32, 0).data(16), "BadShape",
         "dimension -4 as i64")
    case("dims_int64max_times_2.gguf", G(1, 0).tensor("t", [2**63 - 1, 2], T_F32, 0).data(16), "BadShape",
         "ne = (INT64_MAX, 2): the product wraps negative (llama.cpp#27203)")
    case("dims_product_overflow.gguf", G(1, 0).tensor("t", [2**32, 2**32, 4], T_F32, 0).data(16), "BadShape",
         "element count overflows u64 (G5)")
    case("mem_size_overflow.gguf",
         G(2, 0).tensor("a", [0x7FFFFFFFFFFFFFC0], T_I8, 0).tensor("b", [0x7FFFFFFFFFFFFFC0], T_I8, 0).data(64),
         "BadShape", "two 0x7FFFFFFFFFFFFFC0-byte I8 tensors (test-gguf.cpp DATA_MEM_SIZE_OVERFLOW)")
    case("quant_nbytes_huge.gguf", G(1, 0).tensor("t", [2**61], T_Q8_0, 0).data(64), "OffsetOutOfBounds",
         "Q8_0 (34 bytes per 32 values) tensor of 2^61 values: 2.1 EiB, byte size checked against the file")
    case("row_not_block_multiple.gguf", G(1, 0).tensor("t", [31, 2], T_Q8_0, 0).data(128), "BadShape",
         "ne[0] = 31 is not a multiple of Q8_0's 32")
    case("ggml_type_out_of_range.gguf", G(1, 0).tensor("t", [4], 99, 0).data(16), "BadDtype", "ggml type 99 (G7)")
    case("ggml_type_removed.gguf", G(1, 0).tensor("t", [32], 4, 0).data(64), "BadDtype",
         "ggml type 4 (Q4_2, removed from ggml)")
    case("ggml_type_negative.gguf", G(1, 0).tensor("t", [4], 0xFFFFFFFF, 0).data(16), "BadDtype", "ggml type -1")


def offset_cases():
    case("offset_beyond_eof.gguf", G(1, 0).tensor("t", [4], T_F32, 2**40).data(16), "OffsetOutOfBounds",
         "data offset 2^40 in a tiny file (G9)")
    case("offset_wraps.gguf", G(1, 0).tensor("t", [8], T_F32, 2**64 - 32).data(16), "OffsetOutOfBounds",
         "offset + size wraps around u64")
    case("offset_unaligned.gguf", G(1, 0).tensor("t", [4], T_F32, 3).data(64), "OffsetOutOfBounds",
         "offset 3 with alignment 32")
    case("offsets_overlapping.gguf",
         G(2, 0).tensor("a", [16], T_F32, 0).tensor("b", [16], T_F32, 32).data(128), "OverlappingOffsets",
         "b starts inside a")
    case("offsets_same.gguf",
         G(2, 0).tensor("a", [8], T_F32, 0).tensor("b", [8], T_F32, 0).data(64), "OverlappingOffsets",
         "a and b alias the same bytes")
    case("offsets_gap.gguf",
         G(2, 0).tensor("a", [8], T_F32, 0).tensor("b", [8], T_F32, 64).data(128), "OffsetGap",
         "a hole between a and b (ggml requires consecutive tensors)")
    case("offsets_reordered.gguf",
         G(2, 0).tensor("a", [8], T_F32, 32).tensor("b", [8], T_F32, 0).data(64), "OffsetGap",
         "data in the opposite order of the tensor infos")
    case("data_truncated_by_1.gguf", one_f32(dims=(8,), data=31), "OffsetOutOfBounds",
         "the last tensor's data is one byte short (G15)")
    case("data_section_missing.gguf", G(1, 0).tensor("t", [8], T_F32, 0), "OffsetOutOfBounds",
         "tensor infos, then the file ends")
    case("inconsistent_alignment.gguf",
         G(2, 1).kv_u32("general.alignment", 64).tensor("a", [8], T_F32, 0).tensor("b", [8], T_F32, 32)
         .pad(64).raw(bytes(128)), "OffsetOutOfBounds",
         "alignment 64 but the second tensor sits at 32 (test-gguf.cpp INCONSISTENT_ALIGN)")


def main():
    for p in HERE.glob("*.gguf"):
        p.unlink()
    header_cases()
    kv_cases()
    alignment_cases()
    tensor_cases()
    offset_cases()
    (HERE / "cases.json").write_text(json.dumps(CASES, indent=2, sort_keys=True) + "\n")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
