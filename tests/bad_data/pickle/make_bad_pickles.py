"""Generate malicious and malformed pickles / PyTorch checkpoints for reader tests.

Run from the repository root with plain Python 3 (no torch, no third-party package):

    python3 tests/bad_data/pickle/make_bad_pickles.py          # write files + cases.json
    python3 tests/bad_data/pickle/make_bad_pickles.py --check  # also pickletools.dis every pickle

Every byte is built by hand from pickle opcodes, so each run writes the same bytes
(the one exception: zip_bomb.pt is deflated with the local zlib; a different zlib
version may compress it slightly differently).

NOTHING HERE IS EVER UNPICKLED. This script never calls pickle.load(s) or
torch.load; `--check` only runs pickletools.dis / pickletools.genops, which
decode opcodes without executing them. Do not load these files with Python's
pickle or torch.load(weights_only=False): each payload that would run code
creates the marker file named in cases.json (/tmp/modelconv-pwned-<case>), so a
test can assert that the marker does NOT exist after the Rust reader rejected
the file.

Zip checkpoints mimic torch.save's layout (<folder>/data.pkl, .format_version,
.storage_alignment, byteorder, data/<key>, version, .data/serialization_id,
stored uncompressed, data aligned to 64 bytes with an 'FB' extra field), but
are written with Python's zipfile (no data descriptors, no zip64 records).
"""

import io
import json
import os
import pickletools
import struct
import sys
import warnings
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []


# ---------------------------------------------------------------------------
# opcode helpers
# ---------------------------------------------------------------------------

MARK = b"("
STOP = b"."
POP = b"0"
DUP = b"2"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
EMPTY_TUPLE = b")"
EMPTY_LIST = b"]"
EMPTY_DICT = b"}"
APPEND = b"a"
APPENDS = b"e"
SETITEM = b"s"
SETITEMS = b"u"
REDUCE = b"R"
BUILD = b"b"
NONE = b"N"
NEWTRUE = b"\x88"
NEWFALSE = b"\x89"
BINPERSID = b"Q"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
OBJ = b"o"
LIST = b"l"


def proto(n):
    return b"\x80" + bytes([n])


def frame(body):
    """PROTO 4 FRAME <len> body (body must end with STOP)."""
    return proto(4) + b"\x95" + struct.pack("<Q", len(body)) + body


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sbu(s):  # SHORT_BINUNICODE (protocol 4)
    b = s.encode()
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def bu(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def stack_glob(module, name):
    return sbu(module) + MEMOIZE + sbu(name) + MEMOIZE + STACK_GLOBAL + MEMOIZE


def binbytes(b):
    return b"B" + struct.pack("<I", len(b)) + b


def binput(i):
    return b"q" + bytes([i])


def binget(i):
    return b"h" + bytes([i])


def integer(n):
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    nbytes = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([nbytes]) + n.to_bytes(nbytes, "little", signed=True)


def tup(items):
    return MARK + b"".join(integer(i) if isinstance(i, int) else i for i in items) + TUPLE


def marker(case):
    return f"/tmp/modelconv-pwned-{case}"


def shell(case):
    return f"touch {marker(case)}"


def pycode(case):
    return f"open('{marker(case)}', 'w').close()"


def call(func_ops, *arg_ops):
    """func(*args) with REDUCE; each arg is already opcodes."""
    return func_ops + MARK + b"".join(arg_ops) + TUPLE + REDUCE


def p2(body):
    return proto(2) + body + STOP


def p3(body):  # protocol 3 adds BINBYTES
    return proto(3) + body + STOP


# ---------------------------------------------------------------------------
# torch-shaped pieces
# ---------------------------------------------------------------------------


def persid(storage_type, key, numel, legacy=False):
    """zip format: ('storage', torch.<type>, key, 'cpu', numel); legacy format adds view_metadata (None)."""
    return (MARK + bu("storage") + glob("torch", storage_type) + bu(key) + bu("cpu") + integer(numel)
            + (NONE if legacy else b"") + TUPLE + BINPERSID)


def rebuild_tensor(storage_type, key, numel, shape, stride, offset=0, legacy=False):
    """torch._utils._rebuild_tensor_v2(persid, offset, shape, stride, False, OrderedDict())."""
    return (glob("torch._utils", "_rebuild_tensor_v2") + MARK
            + persid(storage_type, key, numel, legacy) + integer(offset) + tup(shape) + tup(stride) + NEWFALSE
            + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
            + TUPLE + REDUCE)


def ordered_dict(items):
    """collections.OrderedDict() filled with SETITEMS; items = [(key, value_ops)]."""
    return (glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK
            + b"".join(bu(k) + v for k, v in items) + SETITEMS)


def f32_bytes(values):
    return struct.pack(f"<{len(values)}f", *values)


STANDARD_META = [
    (".format_version", b"1"),
    (".storage_alignment", b"64"),
    ("byteorder", b"little"),
]
TAIL_META = [
    ("version", b"3\n"),
    (".data/serialization_id", b"0000000000000000000000000000000000000000"),
]


def zip_bytes(members, compress=None):
    """members: [(name, bytes or callable(writer))]. Stored, 64-byte aligned like torch."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are intended in some cases
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, data in members:
                zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                zi.create_system = 3
                zi.external_attr = 0o644 << 16
                if compress and name in compress:
                    zi.compress_type = zipfile.ZIP_DEFLATED
                    for attr in ("compress_level", "_compresslevel"):  # 3.13+ / older
                        try:
                            setattr(zi, attr, 9)
                            break
                        except AttributeError:
                            pass
                    zi.file_size = compress[name]
                    with zf.open(zi, "w") as w:
                        data(w)
                    continue
                offset = buf.tell()
                pad = (-(offset + 30 + len(name.encode()) + 4)) % 64
                zi.extra = struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # torch's 'FB' padding field
                zi.compress_type = zipfile.ZIP_STORED
                zf.writestr(zi, data)
    return buf.getvalue()


def torch_zip(data_pkl, storages=(), folder="archive", extra=(), compress=None):
    members = [(f"{folder}/data.pkl", data_pkl)]
    members += [(f"{folder}/{n}", b) for n, b in STANDARD_META]
    members += [(f"{folder}/data/{k}", b) for k, b in storages]
    members += [(f"{folder}/{n}", b) for n, b in TAIL_META]
    members += list(extra)
    return zip_bytes(members, compress)


def legit_state_dict(extra_items=(), legacy=False):
    """A small state dict: layer.weight [2,2] (storage 0), layer.bias [2] (storage 1)."""
    items = [("layer.weight", rebuild_tensor("FloatStorage", "0", 4, (2, 2), (2, 1), legacy=legacy)),
             ("layer.bias", rebuild_tensor("FloatStorage", "1", 2, (2,), (1,), legacy=legacy))]
    items += list(extra_items)
    return ordered_dict(items)


LEGIT_STORAGES = [("0", f32_bytes([1.0, 2.0, 3.0, 4.0])), ("1", f32_bytes([0.5, -0.5]))]


def legacy_stream(obj_pickle, storages):
    """torch's pre-1.6 format: magic, protocol, sys_info, obj, keys, then (int64 numel + bytes) per key."""
    magic = p2(integer(0x1950A86A20F9469CFC6C))
    protocol = p2(integer(1001))
    sys_info = p2(EMPTY_DICT + MARK + bu("protocol_version") + integer(1001) + bu("little_endian") + NEWTRUE
                  + bu("type_sizes") + EMPTY_DICT + MARK + bu("short") + integer(2) + bu("int") + integer(4)
                  + bu("long") + integer(4) + SETITEMS + SETITEMS)
    keys = p2(EMPTY_LIST + MARK + b"".join(bu(k) for k, _n, _b in storages) + APPENDS)
    out = magic + protocol + sys_info + obj_pickle + keys
    for _k, numel, b in storages:
        out += struct.pack("<q", numel) + b
    return out


# ---------------------------------------------------------------------------
# malicious payloads: each takes the case name (for its marker) and returns a full pickle
# ---------------------------------------------------------------------------

# marshal.dumps(compile("open(p, 'w').close()", '<modelconv-pwned>', 'exec')) made with CPython 3.11.
# The marker path `p` is passed through the function's globals, so the bytes are the same for every case.
MARSHAL_CODE_PY311 = bytes.fromhex(
    "e30000000000000000000000000400000000000000f34200000097000200650065016400a6020000ab02000000000000"
    "0000a0020000000000000000000000000000000000000000a6000000ab0000000000000000000100640153002902da01"
    "774e2903da046f70656eda0170da05636c6f7365a900f300000000fa113c6d6f64656c636f6e762d70776e65643efa08"
    "3c6d6f64756c653e7209000000010000007327000000f003010101d80004800480518803810c840cd70012d20012d100"
    "14d40014d00014d00014d000147207000000")


def pay_os_system(case):
    return p2(call(glob("os", "system"), bu(shell(case))))


def pay_posix_system(case):
    return p2(call(glob("posix", "system"), bu(shell(case))))


def pay_builtins_exec(case):
    # protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL
    body = stack_glob("builtins", "exec") + sbu(pycode(case)) + MEMOIZE + TUPLE1 + MEMOIZE + REDUCE + MEMOIZE + STOP
    return frame(body)


def pay_builtins_eval(case):
    return p2(call(glob("builtins", "eval"), bu(pycode(case))))


def pay_dunder_builtin_eval(case):
    # Python 2 module name; Python 3's unpickler maps __builtin__ -> builtins (fix_imports)
    return p2(call(glob("__builtin__", "eval"), bu(pycode(case))))


def pay_subprocess_popen(case):
    argv = EMPTY_LIST + MARK + bu("touch") + bu(marker(case)) + APPENDS
    return p2(call(glob("subprocess", "Popen"), argv))


def pay_runpy_run_code(case):
    # runpy._run_code(code, run_globals) does exec(code, run_globals)
    return p2(call(glob("runpy", "_run_code"), bu(pycode(case)), EMPTY_DICT))


def pip_argv(case):
    # `pip install` with --log: the debug log file is the marker (pip logs while resolving)
    return (EMPTY_LIST + MARK + bu("install") + bu("--no-index") + bu("--log") + bu(marker(case))
            + bu("modelconv-pwned-no-such-package") + APPENDS)


def pay_pip_main(case):
    return p2(call(glob("pip", "main"), pip_argv(case)))


def pay_pip_internal_main(case):
    return p2(call(glob("pip._internal", "main"), pip_argv(case)))


def pay_importlib_import_module(case):
    # m = importlib.import_module('os'); getattr(m, 'system')(cmd)
    return p2(call(glob("importlib", "import_module"), bu("os")) + binput(0) + POP
              + call(call(glob("builtins", "getattr"), binget(0), bu("system")), bu(shell(case))))


def pay_marshal_functiontype(case):
    # code = marshal.loads(b); types.FunctionType(code, {'p': marker})()
    return (proto(3)
            + call(glob("marshal", "loads"), binbytes(MARSHAL_CODE_PY311)) + binput(0) + POP
            + call(call(glob("types", "FunctionType"), binget(0), EMPTY_DICT + bu("p") + bu(marker(case)) + SETITEM))
            + STOP)


def pay_getattr_chain(case):
    # getattr(__import__('os'), 'system')(cmd)
    return p2(call(call(glob("builtins", "getattr"), call(glob("builtins", "__import__"), bu("os")), bu("system")),
                   bu(shell(case))))


def pay_torch_load(case):
    # torch.load(io.BytesIO(inner), None, torch.serialization.pickle): an explicit pickle_module makes
    # weights_only default to False; the non-zip (legacy) path unpickles `inner` as its magic number.
    inner = pay_os_system(case)
    return p3(call(glob("torch", "load"), call(glob("io", "BytesIO"), binbytes(inner)), NONE,
                   glob("torch.serialization", "pickle")))


def pay_torch_storage_load_from_bytes(case):
    # torch.storage._load_from_bytes(b) == torch.load(io.BytesIO(b), weights_only=False)
    return p3(call(glob("torch.storage", "_load_from_bytes"), binbytes(pay_os_system(case))))


def pay_torch_jit_load(case):
    # torch.jit.load(path): loads and runs a TorchScript program chosen by the attacker (CVE-2025-32434 was
    # torch.load(weights_only=True) dispatching to torch.jit.load). No marker: the path does not exist.
    return p2(call(glob("torch.jit", "load"), bu(f"/tmp/modelconv-pwned-{case}.pt")))


def pay_torch_utils_import_dotted_name(case):
    # torch._utils._import_dotted_name('os.system')(cmd): a torch._utils name that is not a rebuild function
    return p2(call(call(glob("torch._utils", "_import_dotted_name"), bu("os.system")), bu(shell(case))))


def pay_rebuild_from_type_v2_gadget(case):
    # torch._tensor._rebuild_from_type_v2(func, new_type, args, state) calls func(*args) first
    return p2(call(glob("torch._tensor", "_rebuild_from_type_v2"), glob("os", "system"), glob("torch", "Tensor"),
                   MARK + bu(shell(case)) + TUPLE, NONE))


def pay_functools_partial(case):
    return p2(call(glob("functools", "partial"), glob("os", "system"), bu(shell(case))) + EMPTY_TUPLE + REDUCE)


def pay_ordereddict_setstate(case):
    # od = OrderedDict(); BUILD {'__setstate__': os.system} puts it in od.__dict__;
    # the 2nd BUILD finds od.__setstate__ and calls os.system(cmd)
    return p2(glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
              + EMPTY_DICT + bu("__setstate__") + glob("os", "system") + SETITEM + BUILD
              + bu(shell(case)) + BUILD)


def pay_inst_os_system(case):
    # protocol 0 INST: MARK args 'i' module '\n' name '\n'
    return b"(S'" + shell(case).encode() + b"'\nios\nsystem\n."


def pay_obj_os_system(case):
    # protocol 1 OBJ: MARK class args 'o' (SHORT_BINSTRING for the argument)
    cmd = shell(case).encode()
    return b"(" + glob("os", "system") + b"U" + bytes([len(cmd)]) + cmd + b"o."


def pay_global_only(case):
    # no call at all: the pickle just returns the os.system function. A reader must reject the GLOBAL itself.
    return p2(glob("os", "system"))


MALICIOUS = [
    # name, payload, forbidden global, one-line description, has marker
    ("os_system", pay_os_system, "os.system", "GLOBAL os.system + REDUCE (protocol 2)", True),
    ("posix_system", pay_posix_system, "posix.system", "GLOBAL posix.system + REDUCE", True),
    ("builtins_exec", pay_builtins_exec, "builtins.exec",
     "protocol 4 FRAME + STACK_GLOBAL builtins.exec + REDUCE with Python source", True),
    ("builtins_eval", pay_builtins_eval, "builtins.eval", "GLOBAL builtins.eval + REDUCE", True),
    ("dunder_builtin_eval", pay_dunder_builtin_eval, "__builtin__.eval",
     "GLOBAL __builtin__.eval (Python 2 name, mapped to builtins by Python 3) + REDUCE", True),
    ("subprocess_popen", pay_subprocess_popen, "subprocess.Popen", "subprocess.Popen(['touch', marker])", True),
    ("runpy_run_code", pay_runpy_run_code, "runpy._run_code", "runpy._run_code(source, {}) (exec in disguise)", True),
    ("pip_main", pay_pip_main, "pip.main", "pip.main(['install', ..., '--log', marker, ...])", True),
    ("pip_internal_main", pay_pip_internal_main, "pip._internal.main",
     "pip._internal.main(['install', ..., '--log', marker, ...])", True),
    ("importlib_import_module", pay_importlib_import_module, "importlib.import_module",
     "importlib.import_module('os') memoized, then builtins.getattr(m, 'system')(cmd)", True),
    ("marshal_functiontype", pay_marshal_functiontype, "marshal.loads",
     "marshal.loads(code bytes) then types.FunctionType(code, {'p': marker})() (CPython 3.11 bytecode)", True),
    ("getattr_chain", pay_getattr_chain, "builtins.getattr",
     "builtins.getattr(builtins.__import__('os'), 'system')(cmd)", True),
    ("torch_load", pay_torch_load, "torch.load",
     "torch.load(io.BytesIO(inner os.system pickle), None, torch.serialization.pickle): explicit pickle_module "
     "turns weights_only off", True),
    ("torch_storage_load_from_bytes", pay_torch_storage_load_from_bytes, "torch.storage._load_from_bytes",
     "torch.storage._load_from_bytes(inner os.system pickle) = torch.load(BytesIO(b), weights_only=False)", True),
    ("torch_jit_load", pay_torch_jit_load, "torch.jit.load",
     "torch.jit.load(attacker path): TorchScript dispatch (the CVE-2025-32434 route); no marker", False),
    ("torch_utils_import_dotted_name", pay_torch_utils_import_dotted_name, "torch._utils._import_dotted_name",
     "torch._utils._import_dotted_name('os.system')(cmd): a torch._utils name that is not a rebuild function", True),
    ("rebuild_from_type_v2_gadget", pay_rebuild_from_type_v2_gadget, "os.system",
     "torch._tensor._rebuild_from_type_v2(os.system, torch.Tensor, (cmd,), None): a real torch rebuild function "
     "that calls its first argument; the forbidden global is the os.system argument", True),
    ("functools_partial", pay_functools_partial, "functools.partial",
     "functools.partial(os.system, cmd)() ", True),
    ("ordereddict_setstate", pay_ordereddict_setstate, "os.system",
     "collections.OrderedDict() + BUILD {'__setstate__': os.system} + BUILD cmd: the 2nd BUILD calls "
     "od.__setstate__(cmd). OrderedDict and BUILD are legitimate in torch files (state_dict _metadata)", True),
    ("inst_os_system", pay_inst_os_system, "os.system", "protocol 0 INST opcode creating os.system(cmd)", True),
    ("obj_os_system", pay_obj_os_system, "os.system", "protocol 1 OBJ opcode calling os.system(cmd)", True),
    ("global_only_os_system", pay_global_only, "os.system",
     "GLOBAL os.system and STOP, no call: must be rejected at the GLOBAL, not only at REDUCE", False),
]


# ---------------------------------------------------------------------------
# case bookkeeping
# ---------------------------------------------------------------------------


# What torch 2.15.0's torch.load(f, weights_only=True) did with the files that contain no forbidden global
# (checked once by hand; the malicious files were never loaded). Copied into cases.json as "torch_2_15".
TORCH_OBSERVED = {
    "legacy_huge_storage_len.pt": "RuntimeError: storage has wrong byte size: expected 0 got 8",
    "legacy_truncated_storage.pt": "RuntimeError: unexpected EOF, expected 4 more bytes",
    "zip_bomb.pt": "LOADED: inflated the 1 GiB member (no limit)",
    "zip_duplicate_storage.pt": "LOADED: used the FIRST archive/data/0",
    "zip_missing_storage.pt": "RuntimeError: PytorchStreamReader failed locating file data/1",
    "zip_no_datapkl.pt": "RuntimeError: PytorchStreamReader failed locating file data.pkl",
    "zip_offset_oob.pt": "RuntimeError: Trying to resize storage that is not resizable",
    "zip_shape_overflow.pt": "RuntimeError: numel: integer multiplication overflow",
    "zip_slip.pt": "RuntimeError: file in archive is not in a subdirectory archive/: ../../evil",
    "zip_storage_key_traversal.pt": "LOADED: joined the key into the member path",
    "zip_storage_oob.pt": "RuntimeError: record size (16 bytes) does not match expected size (4000 bytes)",
    "zip_truncated.pt": "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central "
                        "directory",
    "zip_view_oob.pt": "RuntimeError: Trying to resize storage that is not resizable",
}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def case(file, data, what, expect, container, global_=None, marker_case=None, **extra):
    write(file, data)
    entry = {"file": file, "what": what, "expect": expect, "container": container}
    if global_:
        entry["global"] = global_
    entry["marker"] = marker(marker_case) if marker_case else None
    entry.update(extra)
    if file in TORCH_OBSERVED:
        entry["torch_2_15"] = TORCH_OBSERVED[file]
    entry["size"] = len(data)
    CASES.append(entry)


def build_malicious():
    for name, fn, g, what, has_marker in MALICIOUS:
        case(f"{name}.pkl", fn(name), what, "forbidden-global", "pickle", global_=g,
             marker_case=name if has_marker else None)
        zname = f"zip_{name}"
        case(f"{zname}.pt", torch_zip(fn(zname)), f"torch zip checkpoint whose data.pkl is: {what}",
             "forbidden-global", "torch-zip", global_=g, marker_case=zname if has_marker else None)

    # os.system hidden inside an otherwise legitimate state dict
    nested = p2(EMPTY_DICT + MARK + bu("epoch") + integer(3) + bu("state_dict")
                + legit_state_dict([("layer.extra", call(glob("os", "system"), bu(shell("zip_nested_os_system"))))])
                + SETITEMS)
    case("zip_nested_os_system.pt", torch_zip(nested, LEGIT_STORAGES),
         "legit-looking torch zip {'epoch': 3, 'state_dict': OrderedDict(layer.weight, layer.bias, layer.extra)} "
         "where state_dict['layer.extra'] = os.system(cmd) (the payload is after two valid tensors)",
         "forbidden-global", "torch-zip", global_="os.system", marker_case="zip_nested_os_system")

    nested_legacy = p2(legit_state_dict(
        [("layer.extra", call(glob("os", "system"), bu(shell("legacy_nested_os_system"))))], legacy=True))
    case("legacy_nested_os_system.pt",
         legacy_stream(nested_legacy, [("0", 4, LEGIT_STORAGES[0][1]), ("1", 2, LEGIT_STORAGES[1][1])]),
         "legacy (non-zip) torch stream: magic, protocol, sys_info, then a state dict whose 3rd entry is "
         "os.system(cmd), then storage keys and raw storages",
         "forbidden-global", "torch-legacy", global_="os.system", marker_case="legacy_nested_os_system")

    bad_storage = p2(ordered_dict([("w", glob("torch._utils", "_rebuild_tensor_v2") + MARK
                                    + MARK + bu("storage") + glob("os", "system") + bu("0") + bu("cpu")
                                    + integer(4) + TUPLE + BINPERSID
                                    + integer(0) + tup((4,)) + tup((1,)) + NEWFALSE
                                    + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)]))
    case("zip_storage_type_os_system.pt", torch_zip(bad_storage, LEGIT_STORAGES[:1]),
         "the storage-type slot of the persistent id tuple ('storage', <type>, key, location, numel) holds "
         "os.system instead of torch.FloatStorage (nothing is called, but the GLOBAL must be refused)",
         "forbidden-global", "torch-zip", global_="os.system")


def build_structural():
    # --- malformed pickles -------------------------------------------------
    case("setitem_on_list.pkl", p2(EMPTY_LIST + bu("key") + integer(1) + SETITEM),
         "SETITEM applied to a list (list['key'] = 1)", "malformed-pickle", "pickle")
    case("append_on_dict.pkl", p2(EMPTY_DICT + integer(1) + APPEND),
         "APPEND applied to a dict", "malformed-pickle", "pickle")
    case("memo_get_undefined.pkl", p2(EMPTY_DICT + binput(0) + POP + binget(5)),
         "BINGET 5 when only memo index 0 exists", "malformed-pickle", "pickle")
    case("appends_without_mark.pkl", p2(EMPTY_LIST + integer(1) + integer(2) + APPENDS),
         "APPENDS with no MARK on the stack", "malformed-pickle", "pickle")
    case("stop_empty_stack.pkl", proto(2) + STOP, "STOP with an empty stack", "malformed-pickle", "pickle")
    case("empty_file.pkl", b"", "zero-byte file", "malformed-pickle", "pickle")
    case("reduce_non_callable.pkl", p2(integer(7) + EMPTY_TUPLE + REDUCE),
         "REDUCE whose callable is the int 7", "malformed-pickle", "pickle")
    case("unknown_opcode.pkl", proto(2) + EMPTY_DICT + b"\xff" + STOP,
         "opcode byte 0xff (not a pickle opcode)", "malformed-pickle", "pickle")
    case("proto_unsupported.pkl", proto(6) + EMPTY_DICT + STOP,
         "PROTO 6 (highest defined protocol is 5)", "malformed-pickle", "pickle")
    case("ext1_unregistered.pkl", p2(b"\x82\x01"),
         "EXT1 code 1: the copyreg extension registry is empty", "malformed-pickle", "pickle")
    full = p2(EMPTY_DICT + MARK + bu("a") + integer(1) + bu("longer key") + bu("value") + SETITEMS)
    case("truncated_no_stop.pkl", full[:-1], "valid dict pickle without the final STOP", "malformed-pickle",
         "pickle")
    cut = full.index(b"longer") + 3
    case("truncated_mid_opcode.pkl", full[:cut], "pickle cut in the middle of a BINUNICODE string argument",
         "malformed-pickle", "pickle")
    case("binbytes_huge_len.pkl", proto(3) + b"B" + struct.pack("<I", 2 ** 31) + b"tiny" + STOP,
         "BINBYTES whose length field claims 2^31 bytes in an 11-byte file (must not pre-allocate)",
         "malformed-pickle", "pickle")
    case("long4_huge_len.pkl", proto(2) + b"\x8b" + struct.pack("<i", 2 ** 31 - 1) + b"\x01\x02" + STOP,
         "LONG4 whose length field claims 2^31-1 bytes (must not pre-allocate)", "malformed-pickle", "pickle")
    case("binunicode8_huge_len.pkl", proto(4) + b"\x8d" + struct.pack("<Q", 2 ** 63 - 1) + b"abc" + STOP,
         "BINUNICODE8 whose length field claims 2^63-1 bytes", "malformed-pickle", "pickle")
    case("frame_huge_len.pkl", proto(4) + b"\x95" + struct.pack("<Q", 2 ** 62) + EMPTY_DICT + STOP,
         "FRAME header claiming a 2^62-byte frame (must not pre-allocate)", "malformed-pickle", "pickle")

    # --- resource bombs ------------------------------------------------------
    n = 100_000
    case("deep_nesting.pkl", p2(EMPTY_LIST * n + APPEND * (n - 1)),
         f"{n} nested lists ([[[...]]]) built with {n} EMPTY_LIST + {n - 1} APPEND (200 KB): recursive "
         "drop/convert code overflows the stack", "limit-exceeded", "pickle", may_succeed=True)
    ndup = 262_144
    lst = EMPTY_LIST + MARK + b"".join(integer(i) for i in range(1000)) + APPENDS
    case("dup_bomb.pkl", p2(EMPTY_LIST + MARK + lst + DUP * ndup + APPENDS),
         f"a 1000-int list, {ndup} DUP of it (262k stack entries), then APPENDS into an outer list: a reader "
         "that deep-copies on DUP builds 262 million values", "limit-exceeded", "pickle", may_succeed=True)
    case("memo_sparse_index.pkl", p2(EMPTY_DICT + b"r" + struct.pack("<I", 0xFFFFFFF0) + b"j"
                                     + struct.pack("<I", 0xFFFFFFF0) + POP),
         "LONG_BINPUT / LONG_BINGET at memo index 4294967280: a Vec-backed memo would allocate ~4G slots",
         "limit-exceeded", "pickle", may_succeed=True)
    # billion laughs: level k = list of 10 references to level k-1, 9 levels -> 10^9 leaves when expanded
    body = EMPTY_LIST + binput(0) + MARK + bu("lol") * 10 + APPENDS
    for lvl in range(1, 10):
        body += POP + EMPTY_LIST + binput(lvl) + MARK + binget(lvl - 1) * 10 + APPENDS
    case("billion_laughs.pkl", p2(body),
         "10 levels of lists: level 0 holds 10 strings, each next level 10 memo references to the previous one: 10^10 leaves if expanded "
         "(copying memo GETs, or converting to an owned tree)", "limit-exceeded", "pickle", may_succeed=True)

    # --- torch zip structure -------------------------------------------------
    one_tensor = lambda numel, shape, stride, offset=0, key="0": p2(ordered_dict(
        [("w", rebuild_tensor("FloatStorage", key, numel, shape, stride, offset))]))
    case("zip_storage_oob.pt", torch_zip(one_tensor(1000, (1000,), (1,)), [("0", f32_bytes([1, 2, 3, 4]))]),
         "storage declares 1000 float32 elements, its data/0 member holds 16 bytes", "storage-out-of-bounds",
         "torch-zip")
    case("zip_view_oob.pt", torch_zip(one_tensor(4, (4, 4), (4, 1)), [("0", f32_bytes([1, 2, 3, 4]))]),
         "storage of 4 elements (consistent with data/0), tensor view [4,4] stride [4,1] needs 16",
         "storage-out-of-bounds", "torch-zip")
    case("zip_offset_oob.pt", torch_zip(one_tensor(4, (2,), (1,), offset=1000), [("0", f32_bytes([1, 2, 3, 4]))]),
         "tensor storage_offset 1000 into a 4-element storage", "storage-out-of-bounds", "torch-zip")
    case("zip_shape_overflow.pt",
         torch_zip(one_tensor(4, (2 ** 62, 2 ** 62), (2 ** 62, 1)), [("0", f32_bytes([1, 2, 3, 4]))]),
         "shape [2^62, 2^62] stride [2^62, 1]: numel and byte-size computations overflow u64",
         "storage-out-of-bounds", "torch-zip", also_ok=["limit-exceeded"])
    case("zip_missing_storage.pt", torch_zip(p2(legit_state_dict()), LEGIT_STORAGES[:1]),
         "data.pkl references storages '0' and '1'; only data/0 exists", "missing-storage", "torch-zip")
    case("zip_no_datapkl.pt",
         zip_bytes([(f"archive/{n}", b) for n, b in STANDARD_META]
                   + [("archive/data/0", LEGIT_STORAGES[0][1])]
                   + [(f"archive/{n}", b) for n, b in TAIL_META]),
         "torch-like zip without any data.pkl member", "malformed-zip", "torch-zip")
    good = torch_zip(p2(legit_state_dict()), LEGIT_STORAGES)
    case("zip_truncated.pt", good[: len(good) * 6 // 10],
         "a valid checkpoint cut at 60%: no central directory / end-of-central-directory record",
         "malformed-zip", "torch-zip")
    dup = zip_bytes([("archive/data.pkl", p2(legit_state_dict()))]
                    + [(f"archive/{n}", b) for n, b in STANDARD_META]
                    + [(f"archive/data/{k}", b) for k, b in LEGIT_STORAGES]
                    + [("archive/data.pkl", pay_os_system("zip_duplicate_datapkl"))]
                    + [(f"archive/{n}", b) for n, b in TAIL_META])
    case("zip_duplicate_datapkl.pt", dup,
         "two members named archive/data.pkl: the first is a clean state dict, the second the os.system "
         "payload (Python's zipfile returns the last one, other readers the first)", "duplicate-member",
         "torch-zip", marker_case="zip_duplicate_datapkl", also_ok=["forbidden-global"])
    dup_st = zip_bytes([("archive/data.pkl", p2(legit_state_dict()))]
                       + [(f"archive/{n}", b) for n, b in STANDARD_META]
                       + [(f"archive/data/{k}", b) for k, b in LEGIT_STORAGES]
                       + [("archive/data/0", f32_bytes([9.0] * 4))]
                       + [(f"archive/{n}", b) for n, b in TAIL_META])
    case("zip_duplicate_storage.pt", dup_st,
         "two members named archive/data/0 with different contents", "duplicate-member", "torch-zip")
    case("zip_slip.pt", torch_zip(p2(legit_state_dict()), LEGIT_STORAGES, extra=[("../../evil", b"evil\n")]),
         "valid checkpoint plus a member named ../../evil (zip-slip)", "path-traversal", "torch-zip")
    key = "../../../../tmp/modelconv-evil"
    case("zip_storage_key_traversal.pt",
         torch_zip(p2(ordered_dict([("w", rebuild_tensor("FloatStorage", key, 4, (4,), (1,)))])),
                   [(key, f32_bytes([1, 2, 3, 4]))]),
         f"storage key '{key}' in the persistent id, with a member archive/data/{key}: the key is joined "
         "into a member path", "path-traversal", "torch-zip", also_ok=["missing-storage"])

    # zip bomb: data/0 is 1 GiB of zeros deflated (~1 MB); data.pkl declares a matching 2^28-element storage
    gib = 1 << 30

    def zeros(w):
        chunk = bytes(1 << 20)
        for _ in range(gib >> 20):
            w.write(chunk)

    bomb_pkl = p2(ordered_dict([("w", rebuild_tensor("FloatStorage", "0", gib // 4, (gib // 4,), (1,)))]))
    case("zip_bomb.pt", torch_zip(bomb_pkl, [("0", zeros)], compress={"archive/data/0": gib}),
         "data/0 is a DEFLATED member that inflates to 1 GiB of zeros (~1000:1); data.pkl declares a "
         "268435456-element float32 storage for it. torch never writes compressed members",
         "limit-exceeded", "torch-zip", also_ok=["malformed-zip"])

    # legacy stream whose last storage is cut short
    legacy_pkl = p2(legit_state_dict(legacy=True))
    stream = legacy_stream(legacy_pkl, [("0", 4, LEGIT_STORAGES[0][1]), ("1", 2, LEGIT_STORAGES[1][1])])
    case("legacy_truncated_storage.pt", stream[:-4],
         "legacy (non-zip) stream whose last storage header says 2 float32 elements but only 4 bytes follow",
         "storage-out-of-bounds", "torch-legacy", also_ok=["malformed-pickle"])
    huge = legacy_stream(legacy_pkl, [("0", 4, LEGIT_STORAGES[0][1]), ("1", 2 ** 62, LEGIT_STORAGES[1][1])])
    case("legacy_huge_storage_len.pt", huge,
         "legacy stream whose storage header claims 2^62 elements (must not pre-allocate)",
         "storage-out-of-bounds", "torch-legacy", also_ok=["limit-exceeded", "malformed-pickle"])


# ---------------------------------------------------------------------------
# --check: disassemble (never unpickle) every pickle
# ---------------------------------------------------------------------------


def pickles_of(entry):
    path = os.path.join(HERE, entry["file"])
    data = open(path, "rb").read()
    if entry["container"] == "pickle":
        return [("", data)]
    if entry["container"] == "torch-legacy":
        out, f = [], io.BytesIO(data)
        for i in range(5):
            start = f.tell()
            try:
                for _ in pickletools.genops(f):
                    pass
            except Exception as e:  # noqa: BLE001
                out.append((f"#{i}", data[start:]))
                break
            out.append((f"#{i}", data[start:f.tell()]))
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            z = zipfile.ZipFile(io.BytesIO(data))
            return [(f"{i.filename}@{i.header_offset}", z.open(i).read())
                    for i in z.infolist() if i.filename.endswith(".pkl")]
    except zipfile.BadZipFile as e:
        return [("<zip>", f"BadZipFile: {e}")]


def globals_in(data):
    out, pushed = [], []
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            out.append(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            out.append(f"{pushed[-2]}.{pushed[-1]}")
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE"):
            pushed.append(arg)
        elif op.name != "MEMOIZE":
            pushed.append(None)
    return out


def check(log):
    problems = 0
    for entry in CASES:
        all_globs = set()
        for label, data in pickles_of(entry):
            head = f"{entry['file']} {label}".strip()
            if isinstance(data, str):
                log.write(f"### {head}: {data}\n")
                print(f"{head:60s} {data}")
                continue
            out = io.StringIO()
            try:
                pickletools.dis(data, out=out)
                status = "dis ok"
                globs = globals_in(data)
            except Exception as e:  # noqa: BLE001
                status = f"dis error: {type(e).__name__}: {str(e)[:80]}"
                globs = None
            text = out.getvalue()
            if len(text) > 4000:
                text = text[:2000] + "\n   ...\n" + text[-1000:]
            log.write(f"### {head}: {status}\n{text}\n")
            line = f"{head:60s} {status}"
            if globs is not None:
                line += f" globals={sorted(set(globs))}"
            print(line[:200])
            if globs:
                all_globs.update(globs)
            elif globs is None and entry["expect"] == "forbidden-global":
                problems += 1
                print("   !!! malicious payload does not disassemble")
        if entry["expect"] == "forbidden-global" and entry["global"] not in all_globs:
            problems += 1
            print(f"   !!! expected global {entry['global']} not found in {sorted(all_globs)}")
    return problems


def main():
    for f in os.listdir(HERE):
        if f.endswith((".pkl", ".pt")):
            os.remove(os.path.join(HERE, f))
    build_malicious()
    build_structural()
    CASES.sort(key=lambda c: c["file"])
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"marker_prefix": "/tmp/modelconv-pwned-", "cases": CASES}, f, indent=2)
        f.write("\n")
    total = sum(c["size"] for c in CASES)
    print(f"{len(CASES)} files, {total} bytes")
    if "--check" in sys.argv:
        with open(os.path.join("/tmp", "modelconv-bad-pickles-dis.txt"), "w") as log:
            problems = check(log)
        print(f"disassembly written to /tmp/modelconv-bad-pickles-dis.txt; problems: {problems}")
        if problems:
            sys.exit(1)


if __name__ == "__main__":
    main()
