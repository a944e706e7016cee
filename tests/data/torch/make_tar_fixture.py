"""Build tests/data/torch/tar_legacy.tar, a checkpoint in the OLDEST PyTorch format (torch < 0.4 tar archive).

Run from the repository root, with the same Python as make_torch_fixtures.py, and AFTER it (that script
rewrites manifest.json from scratch; this one then adds or replaces its own entry):

    /work/torchenv/bin/python tests/data/torch/make_tar_fixture.py

torch has no writer for this format any more, so the archive is assembled by hand with `tarfile` + `pickle`
(protocol 2), following what torch's reader (`torch.serialization._legacy_load`, inner `legacy_load`,
the tarfile branch) expects and what torch 0.1-0.3 `_save` wrote:

  tar (PAX_FORMAT; ustar headers as the names are short ASCII), members in torch's order:
    sys_info  pickle of {'protocol_version': 1001, 'little_endian': True,
              'type_sizes': {'short': 2, 'int': 4, 'long': 8}}   (written by torch, NOT read by the loader)
    pickle    the object; every tensor is a persistent id: BINUNICODE str(tensor_key) + BINPERSID.
              The reader does deserialized_objects[int(saved_id)] for non-tuple ids.
    tensors   pickle(count); per tensor: pickle((key, storage_key, torch.FloatTensor-like class)) then
              <i32 ndim> <4 ignored bytes> ndim x <i64 size> ndim x <i64 stride> <i64 storage_offset>
              (old torch wrote ndim, an int, with sizeof(long) = 8 bytes, so the upper 4 bytes are
              whatever followed it in memory: a reader must ignore them; here they are non-zero on purpose
              for some tensors).
    storages  pickle(count); per storage: pickle((key, 'cpu', torch.XStorage)) then
              <i64 numel in ELEMENTS> + numel * element_size raw little-endian bytes
              (torch.UntypedStorage._new_with_file(f, element_size) -> THPStorage_readFileRaw);
              then pickle(list of storage views (view_key, root_key, offset_elems, numel_elems)).

Keys are ints that look like the old `_cdata` pointers (pickled as LONG1); storage and tensor keys share one
namespace (one dict in the reader), so they must not collide.

The script then loads the file with torch.load(weights_only=False) (the tar branch refuses weights_only=True),
asserts that every tensor has the intended dtype/shape/stride/storage offset/storage sharing and bit-exact
values, writes tar_legacy.ref.safetensors and adds the fixture to manifest.json. The .tar is byte-reproducible
(fixed mtime/uid/gid/mode, no random keys).
"""

import collections
import io
import json
import os
import pickle
import pickletools
import struct
import sys
import tarfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_torch_fixtures as mtf  # noqa: E402  (flatten / structure / write_ref / verify helpers)

TAR = os.path.join(HERE, "tar_legacy.tar")
REF = os.path.join(HERE, "tar_legacy.ref.safetensors")
PROTO = 2
MTIME = 1500000000  # 2017-07-14, the torch 0.1/0.2 era

# storage keys and tensor keys: pointer-like ints (old torch used obj._cdata)
S_W = 0x55D3A1F0C0A0  # float32, 12 elements
S_H = 0x55D3A1F0D140  # float16, 5 elements
S_L = 0x55D3A1F0E1E0  # int64, 4 elements
S_WV = 0x55D3A1F0F280  # storage VIEW of S_W: offset 4, 8 elements (a storage_views entry)
T_W = 0x55D3A2001000
T_W_ROW1 = 0x55D3A2001100
T_W_T = 0x55D3A2001200
T_W_SV = 0x55D3A2001300
T_H = 0x55D3A2001400
T_L = 0x55D3A2001500

W_VALUES = np.array([0.0, -0.0, 1.5, -2.25,
                     3.0e-3, 1e-45, 100.0, -7.5,
                     np.inf, -np.inf, 3.4028235e38, np.nan], dtype="<f4")
H_VALUES = np.array([1.0, -2.5, 65504.0, 6.1035156e-05, np.inf], dtype="<f2")
L_VALUES = np.array([-(2 ** 63), 2 ** 63 - 1, 2 ** 53 + 1, -7], dtype="<i8")

# (key, location, storage class, raw little-endian data as numpy array)
STORAGES = [
    (S_W, "cpu", torch.FloatStorage, W_VALUES),
    (S_H, "cpu", torch.HalfStorage, H_VALUES),
    (S_L, "cpu", torch.LongStorage, L_VALUES),
]
STORAGE_VIEWS = [(S_WV, S_W, 4, 8)]  # (target_key, root_key, offset, numel), offset/numel in elements

# name, tensor key, storage key, tensor class, size, stride, storage_offset, 4 "padding" bytes after ndim
TENSORS = [
    ("w", T_W, S_W, torch.FloatTensor, (3, 4), (4, 1), 0, b"\x00\x00\x00\x00"),
    ("w_row1", T_W_ROW1, S_W, torch.FloatTensor, (4,), (1,), 4, b"\x00\x00\x00\x00"),
    ("w_t", T_W_T, S_W, torch.FloatTensor, (4, 3), (1, 4), 0, b"\xef\xbe\xad\xde"),
    ("w_sv", T_W_SV, S_WV, torch.FloatTensor, (2, 4), (4, 1), 0, b"\x01\x00\x00\x00"),
    ("h", T_H, S_H, torch.HalfTensor, (5,), (1,), 0, b"\x00\x00\x00\x00"),
    ("i64", T_L, S_L, torch.LongTensor, (2, 2), (2, 1), 0, b"\xff\xff\xff\xff"),
]


class TensorRef:
    """Stand-in for a tensor inside the object pickle; becomes persistent id str(key)."""

    def __init__(self, key):
        self.key = key


class RefPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, TensorRef):
            return str(obj.key)  # torch 0.1-0.3: str(obj._cdata)
        return None


def dump(obj):
    return pickle.dumps(obj, protocol=PROTO)


def member_sys_info():
    return dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 8}})


def member_pickle():
    obj = collections.OrderedDict((name, TensorRef(key)) for name, key, *_ in TENSORS)
    buf = io.BytesIO()
    RefPickler(buf, protocol=PROTO).dump(obj)
    return buf.getvalue()


def member_tensors():
    out = bytearray(dump(len(TENSORS)))
    for _name, key, skey, cls, size, stride, offset, pad in TENSORS:
        out += dump((key, skey, cls))
        out += struct.pack("<i", len(size)) + pad
        out += struct.pack(f"<{len(size)}q", *size)
        out += struct.pack(f"<{len(stride)}q", *stride)
        out += struct.pack("<q", offset)
    return bytes(out)


def member_storages():
    out = bytearray(dump(len(STORAGES)))
    for key, loc, cls, data in STORAGES:
        out += dump((key, loc, cls))
        out += struct.pack("<q", data.size)  # ELEMENT count, not bytes
        out += data.tobytes()
    out += dump(STORAGE_VIEWS)
    return bytes(out)


def build_tar():
    members = [("sys_info", member_sys_info()), ("pickle", member_pickle()),
               ("tensors", member_tensors()), ("storages", member_storages())]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o600  # torch added NamedTemporaryFile's, which are 0600
            info.uid = info.gid = 1000
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with open(TAR, "wb") as f:
        f.write(buf.getvalue())
    return members


def expected_arrays():
    """name -> (dtype, size, stride, storage_offset, numpy array) computed WITHOUT torch."""
    storages = {key: data for key, _loc, _cls, data in STORAGES}
    for vkey, root, off, n in STORAGE_VIEWS:
        storages[vkey] = storages[root][off:off + n]
    out = collections.OrderedDict()
    for name, _key, skey, _cls, size, stride, offset, _pad in TENSORS:
        base = storages[skey]
        isz = base.itemsize
        arr = np.lib.stride_tricks.as_strided(base[offset:], shape=size, strides=[s * isz for s in stride])
        out[name] = (size, stride, offset, np.ascontiguousarray(arr))
    return out


def check_loaded(loaded):
    exp = expected_arrays()
    assert isinstance(loaded, collections.OrderedDict), type(loaded)
    assert list(loaded.keys()) == list(exp.keys()), list(loaded.keys())
    dtypes = {"w": torch.float32, "w_row1": torch.float32, "w_t": torch.float32, "w_sv": torch.float32,
              "h": torch.float16, "i64": torch.int64}
    for name, (size, stride, offset, arr) in exp.items():
        t = loaded[name]
        assert t.dtype == dtypes[name], (name, t.dtype)
        assert tuple(t.shape) == size, (name, t.shape)
        assert t.stride() == stride, (name, t.stride())
        assert t.storage_offset() == offset, (name, t.storage_offset())
        got = t.contiguous().numpy()
        assert got.dtype == arr.dtype.newbyteorder("="), (name, got.dtype, arr.dtype)
        assert got.tobytes() == arr.tobytes(), (name, got, arr)
    # storage sharing as written
    w_ptr = loaded["w"].untyped_storage().data_ptr()
    assert loaded["w_row1"].untyped_storage().data_ptr() == w_ptr
    assert loaded["w_t"].untyped_storage().data_ptr() == w_ptr
    assert loaded["w_sv"].untyped_storage().data_ptr() == w_ptr + 4 * 4  # view at element 4 of S_W
    assert loaded["w"].untyped_storage().nbytes() == 12 * 4
    assert loaded["w_sv"].untyped_storage().nbytes() == 8 * 4
    # spot checks against literal values (independent of the numpy path)
    assert loaded["w_row1"].tolist()[:3] == [np.float32(3.0e-3).item(), np.float32(1e-45).item(), 100.0]
    assert torch.equal(mtf.bits(loaded["w_t"]), mtf.bits(loaded["w"].t()))  # bits: w holds a NaN
    assert torch.equal(mtf.bits(loaded["w_sv"]), mtf.bits(loaded["w"][1:]))
    assert loaded["i64"].tolist() == [[-(2 ** 63), 2 ** 63 - 1], [2 ** 53 + 1, -7]]
    assert loaded["h"].tolist() == [1.0, -2.5, 65504.0, 6.103515625e-05, float("inf")]


def update_manifest(members, weights_only_refusal):
    path = os.path.join(HERE, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    globs = {}
    for name, data in members:
        found = set()
        # a member is a sequence of pickles (plus raw records in tensors/storages); scan the pickle parts
        if name in ("sys_info", "pickle"):
            found.update(mtf.data_pkl_globals(data)[1])
        globs[name] = sorted(found)
    globs["tensors"] = sorted({f"torch.{t[3].__name__}" for t in TENSORS})
    globs["storages"] = sorted({f"torch.{cls.__name__}" for _k, _l, cls, _d in STORAGES})
    loaded = torch.load(TAR, weights_only=False)
    entry = {
        "file": "tar_legacy.tar",
        "kind": "legacy-tar",
        "tar_members": [m.name for m in tarfile.open(TAR).getmembers()],
        "pickle_protocol": PROTO,
        "globals": globs,
        "reference": os.path.basename(REF),
        "weights_only_load": weights_only_refusal,
        "notes": (
            "torch < 0.4 tar checkpoint, built by hand by make_tar_fixture.py (torch cannot write it any more), "
            "loaded by torch 2.15 with weights_only=False. Tar members sys_info (not read by torch), pickle, "
            "tensors, storages. 'storages': pickle(count); per storage pickle((key, 'cpu', torch.XStorage)) + "
            "<i64 numel in ELEMENTS> + raw little-endian bytes; then pickle([(view_key, root_key, offset, numel)]) "
            "(elements). 'tensors': pickle(count); per tensor pickle((key, storage_key, torch.XTensor)) + <i32 "
            "ndim> + 4 ignored bytes (non-zero garbage for w_t, w_sv, i64) + ndim <i64 sizes + ndim <i64 strides "
            "+ <i64 storage_offset (elements). 'pickle': the OrderedDict, each tensor a persistent id "
            "str(tensor_key) (BINUNICODE + BINPERSID), resolved as objects[int(pid)]. Keys are pointer-like ints "
            "(LONG1) in one namespace shared by storages and tensors. w [3,4], w_row1 (offset 4), w_t (stride "
            "[1,4]) share storage S_W; w_sv uses storage S_WV, a storage VIEW of S_W at element 4 with 8 "
            "elements (so its storage_offset is 0 but its data starts 16 bytes into S_W); h f16 [5]; i64 [2,2] "
            "with min/max."),
        "structure": mtf.structure(loaded, None),
    }
    fixtures = [f for f in manifest["fixtures"] if f.get("file") != entry["file"]]
    fixtures.append(entry)
    manifest["fixtures"] = fixtures
    with open(path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}")
    members = build_tar()
    for name, data in members:
        print(f"  member {name}: {len(data)} bytes")
    # the reader must not accept weights_only=True for this format
    try:
        torch.load(TAR, weights_only=True)
        raise AssertionError("weights_only=True unexpectedly loaded the tar checkpoint")
    except RuntimeError as e:  # raised by legacy_load itself, not by the weights_only unpickler
        msg = str(e)
        assert "legacy .tar format" in msg, msg
        refusal = "refused by torch (RuntimeError): " + msg.split(" In PyTorch 2.6")[0]
    loaded = torch.load(TAR, weights_only=False)
    check_loaded(loaded)
    flat = mtf.flatten(loaded)
    encodings = mtf.write_ref(flat, REF)
    assert not encodings
    mtf.verify(mtf.flatten(torch.load(TAR, weights_only=False)), REF, encodings)
    update_manifest(members, refusal)
    for name, t in loaded.items():
        print(f"  {name}: {t.dtype} {tuple(t.shape)} stride {t.stride()} offset {t.storage_offset()}")
    print(f"  {os.path.basename(TAR)}: {os.path.getsize(TAR)} bytes, "
          f"{os.path.basename(REF)}: {os.path.getsize(REF)} bytes")


if __name__ == "__main__":
    main()
