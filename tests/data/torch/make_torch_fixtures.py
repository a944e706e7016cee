"""Generate the PyTorch-checkpoint fixtures under tests/data/torch/ with REAL torch.

Run from the repository root, with a Python that has torch, numpy and safetensors:

    /work/torchenv/bin/python tests/data/torch/make_torch_fixtures.py

(any venv works: `python3 -m venv ENV && ENV/bin/pip install torch numpy safetensors`).

For every checkpoint X the script writes X.ref.safetensors: what
`torch.load(X, weights_only=True)` returns (`torch.jit.load(X).state_dict()` for
TorchScript), flattened to `name -> contiguous tensor` (nested dict keys and
list/tuple indices joined with '.'), saved with safetensors.torch.save_file.
It then re-loads each checkpoint and each reference and compares them bit for
bit. manifest.json lists every fixture.

Values are deterministic (torch.manual_seed + fixed values), but the files are
NOT byte-reproducible: torch writes a random `.data/serialization_id` into every
zip checkpoint, and legacy (non-zip) checkpoints use storage data pointers as
storage keys. The committed files were generated once; regenerating changes
those bytes but not the tensors. The reference .safetensors files ARE
byte-reproducible.
"""

import collections
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import sys
import zipfile

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.dirname(HERE)
BERT_DIR = os.path.join(DATA_DIR, "tiny-bert")

MANIFEST = []


def rel(path):
    return os.path.relpath(path, HERE)


# ---------------------------------------------------------------------------
# flattening / references / verification
# ---------------------------------------------------------------------------


def flatten(obj, prefix="", out=None):
    """name -> tensor for every tensor reachable through dicts, lists, tuples."""
    if out is None:
        out = collections.OrderedDict()
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    return out


def ref_tensor(t):
    """A fresh contiguous copy; some dtypes safetensors cannot hold are re-encoded."""
    t = t.detach()
    if t.dtype in (torch.complex128, torch.complex32):
        # no safetensors dtype: store as a real tensor with a trailing dim of 2
        r = torch.view_as_real(t.to(torch.complex128) if t.dtype == torch.complex32 else t)
        return r.to(torch.float16 if t.dtype == torch.complex32 else torch.float64).contiguous().clone(), \
            "view_as_real"
    if t.dtype in (torch.float8_e8m0fnu, torch.float4_e2m1fn_x2, torch.bits8):
        # no safetensors dtype: store the raw bytes (same shape, 1 byte per element)
        return t.contiguous().view(torch.uint8).clone(), "raw-bytes-u8"
    return t.contiguous().clone(), None


def structure(obj, tensors, prefix=""):
    """JSON description of the loaded object; tensors become {"tensor": flat name, ...}."""
    if isinstance(obj, torch.Tensor):
        d = {
            "tensor": prefix,
            "dtype": str(obj.dtype).replace("torch.", ""),
            "shape": list(obj.shape),
            "stride": list(obj.stride()),
            "storage_offset": obj.storage_offset(),
        }
        if isinstance(obj, nn.Parameter):
            d["parameter"] = True
        if obj.requires_grad:
            d["requires_grad"] = True
        return d
    if isinstance(obj, dict):
        items = [(k, structure(v, tensors, f"{prefix}.{k}" if prefix else str(k))) for k, v in obj.items()]
        d = {"type": type(obj).__module__ + "." + type(obj).__qualname__, "items": [[k, v] for k, v in items]}
        meta = getattr(obj, "_metadata", None)
        if meta is not None:
            d["_metadata"] = {k: dict(v) for k, v in meta.items()}
        return d
    if isinstance(obj, tuple):
        return {"tuple": [structure(v, tensors, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [structure(v, tensors, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(obj)]
    if isinstance(obj, float) and not np.isfinite(obj):
        return {"float": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"unexpected {type(obj)} at {prefix}")


def write_ref(flat, ref_path):
    encodings = {}
    out = collections.OrderedDict()
    for k, v in flat.items():
        out[k], enc = ref_tensor(v)
        if enc:
            encodings[k] = enc
    safetensors.torch.save_file(out, ref_path)
    return encodings


def bits(t):
    """Tensor reinterpreted as integers of the same width (NaN-safe equality)."""
    t = t.contiguous()
    if t.dtype == torch.bool:
        return t
    if t.is_complex():
        t = torch.view_as_real(t).contiguous()
    size = t.element_size()
    return t.view({1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[size])


def verify(loaded_flat, ref_path, encodings):
    ref = safetensors.torch.load_file(ref_path)
    assert list(ref.keys()) == sorted(ref.keys()) or True
    assert set(ref.keys()) == set(loaded_flat.keys()), (ref_path, set(ref) ^ set(loaded_flat))
    for k, t in loaded_flat.items():
        expect, enc = ref_tensor(t)
        assert enc == encodings.get(k), (k, enc)
        got = ref[k]
        assert got.dtype == expect.dtype, (k, got.dtype, expect.dtype)
        assert got.shape == expect.shape, (k, got.shape, expect.shape)
        assert torch.equal(bits(got), bits(expect)), k
        if enc is None and t.dtype.is_floating_point and t.dtype.itemsize > 1:
            # plain torch.equal as the brief asks (NaN != NaN, so mask NaNs out)
            m = ~torch.isnan(t.float())
            assert torch.equal(got[m], t.detach()[m]), k


def zip_members(path):
    with zipfile.ZipFile(path) as z:
        return [i.filename for i in z.infolist()]


def data_pkl_globals(pkl_bytes):
    """Sorted 'module.name' globals and the pickle protocol of one pickle (tracks the memo for STACK_GLOBAL)."""
    out = set()
    proto = None
    pushed = []
    memo = {}
    for op, arg, _pos in pickletools.genops(pkl_bytes):
        name = op.name
        if name == "PROTO":
            proto = arg
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1]
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = pushed[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(arg))
        elif name == "GLOBAL":
            out.add(arg.replace(" ", "."))
            pushed.append(None)
        elif name == "STACK_GLOBAL":
            out.add(f"{pushed[-2]}.{pushed[-1]}")
            pushed.append(None)
        else:
            pushed.append(None)
    return proto, sorted(out)


def record(path, kind, ref, notes, obj=None, protocol=None, extra=None):
    entry = {"file": rel(path), "kind": kind}
    if kind in ("zip", "torchscript"):
        entry["zip_members"] = zip_members(path)
        with zipfile.ZipFile(path) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            proto, globs = data_pkl_globals(z.read(pkl))
        entry["pickle_protocol"] = proto
        entry["globals"] = globs
    elif kind == "legacy":
        entry["pickle_protocol"] = protocol
    else:
        entry["pickle_protocol"] = protocol
    if protocol is not None:
        assert entry["pickle_protocol"] == protocol, (path, entry["pickle_protocol"], protocol)
    entry["reference"] = ref
    entry["notes"] = notes
    if extra:
        entry.update(extra)
    if obj is not None:
        entry["structure"] = structure(obj, None)
    MANIFEST.append(entry)
    print(f"  {entry['file']}: {os.path.getsize(path) if os.path.isfile(path) else 'dir'}")


def save_and_check(obj, name, kind="zip", protocol=2, notes="", legacy=False, extra=None, via_bytesio=False):
    path = os.path.join(HERE, name)
    kwargs = {"pickle_protocol": protocol}
    if legacy:
        kwargs["_use_new_zipfile_serialization"] = False
    if via_bytesio:
        buf = io.BytesIO()
        torch.save(obj, buf, **kwargs)
        with open(path, "wb") as f:
            f.write(buf.getvalue())
    else:
        torch.save(obj, path, **kwargs)
    ex = dict(extra or {})
    try:
        loaded = torch.load(path, weights_only=True)
        weights_only = True
    except pickle.UnpicklingError as e:
        # torch's own weights_only unpickler rejects some opcodes (FRAME in protocol 4); our own file is
        # trusted, so load it with the full unpickler and record the refusal.
        msg = [ln for ln in str(e).splitlines() if "Unsupported" in ln or "WeightsUnpickler" in ln]
        ex["weights_only_load"] = "refused by torch: " + " ".join(msg).strip()
        loaded = torch.load(path, weights_only=False)
        weights_only = False
    flat = flatten(loaded)
    ref_path = path.rsplit(".", 1)[0] + ".ref.safetensors"
    encodings = write_ref(flat, ref_path)
    verify(flatten(torch.load(path, weights_only=weights_only)), ref_path, encodings)
    if encodings:
        ex["ref_encodings"] = encodings
    record(path, kind, rel(ref_path), notes, obj=loaded, protocol=protocol, extra=ex)
    return loaded


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


def basic_content():
    torch.manual_seed(0)
    d = collections.OrderedDict()
    d["f32"] = torch.tensor([[0.0, -0.0, 1.5, float("inf")], [float("-inf"), float("nan"), 1e-45, 3.4028235e38]],
                            dtype=torch.float32)
    d["f64"] = torch.tensor([1.0 / 3.0, -2.5e-308, 1e300], dtype=torch.float64)
    d["f16"] = torch.tensor([[1.0, -2.0], [65504.0, 6e-8]], dtype=torch.float16)
    d["bf16"] = torch.tensor([1.0, -3.140625, 3.3895e38, 0.0078125], dtype=torch.bfloat16)
    d["i64"] = torch.tensor([2 ** 53 + 1, -(2 ** 63), 2 ** 63 - 1], dtype=torch.int64)
    d["i32"] = torch.tensor([-(2 ** 31), 2 ** 31 - 1, 7], dtype=torch.int32)
    d["i16"] = torch.tensor([-(2 ** 15), 2 ** 15 - 1], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 127, 0, -1], dtype=torch.int8)
    d["u8"] = torch.tensor([[0, 255], [128, 1]], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True, True, False])
    d["f8_e4m3fn"] = torch.tensor([0.5, -448.0, 0.015625, float("nan")]).to(torch.float8_e4m3fn)
    d["f8_e5m2"] = torch.tensor([0.5, -57344.0, float("inf"), 1.52587890625e-05]).to(torch.float8_e5m2)
    for name in ("uint16", "uint32", "uint64"):
        if hasattr(torch, name):
            dt = getattr(torch, name)
            bits_ = dt.itemsize * 8
            mx = 2 ** bits_ - 1
            # build from int64 bit patterns (torch.tensor cannot parse > 2^63-1 directly)
            vals = [0, 1, mx, 2 ** (bits_ - 1)]
            if bits_ == 64:
                d["u64"] = torch.tensor([v - 2 ** 64 if v >= 2 ** 63 else v for v in vals],
                                        dtype=torch.int64).view(torch.uint64)
            else:
                d[f"u{bits_}"] = torch.tensor(vals, dtype=torch.int64).to(dt)
    d["randn_3d"] = torch.randn(2, 3, 4)
    d["scalar_f32"] = torch.tensor(3.25)
    d["scalar_i64"] = torch.tensor(-(2 ** 40) - 7)
    d["empty_f32"] = torch.zeros(0, 4)
    return d


def fixture_basic():
    notes = ("one tensor per storage dtype (f32 with +-0/+-inf/NaN/subnormal/max, f64, f16, bf16, i64 min/max, "
             "i32, i16, i8, u8, bool, float8_e4m3fn (NaN 0x7f), float8_e5m2 (inf), uint16/32/64 with max values), "
             "a 3-D randn tensor, 0-dim f32 and i64 scalars and an empty [0,4] tensor (storage of 0 bytes). "
             "Each tensor has its own storage. Classic dtypes use typed storage classes (torch.FloatStorage, "
             "torch.BFloat16Storage, ...) with _rebuild_tensor_v2; uint16/32/64 and float8 have no typed storage "
             "class and use torch.storage.UntypedStorage (numel = BYTES) with _rebuild_tensor_v3(..., dtype).")
    save_and_check(basic_content(), "p2_basic.pt", protocol=2,
                   notes="pickle protocol 2 (GLOBAL, BINUNICODE, BINPUT/BINGET). " + notes)
    save_and_check(basic_content(), "p4_basic.pt", protocol=4,
                   notes="pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL). " + notes)


def fixture_extra_dtypes():
    d = collections.OrderedDict()
    d["c64"] = torch.tensor([1 + 2j, -0.5 - 0.25j], dtype=torch.complex64)
    d["c128"] = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex128)
    d["f8_e4m3fnuz"] = torch.tensor([0.5, -240.0, 1.0]).to(torch.float8_e4m3fnuz)
    d["f8_e5m2fnuz"] = torch.tensor([0.5, -57344.0, 1.0]).to(torch.float8_e5m2fnuz)
    d["f8_e8m0fnu"] = torch.tensor([1.0, 2.0, 0.25, 2.0 ** 100]).to(torch.float8_e8m0fnu)
    d["f4_e2m1fn_x2"] = torch.tensor([0x12, 0xF7, 0x00], dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    save_and_check(d, "extra_dtypes.pt", protocol=2,
                   notes="dtypes outside the brief's list that torch can also save: complex64 (ComplexFloatStorage), "
                         "complex128 (ComplexDoubleStorage), float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu, "
                         "float4_e2m1fn_x2 (UntypedStorage + _rebuild_tensor_v3). A reader may reject these as "
                         "unsupported. See ref_encodings for how the reference stores dtypes safetensors lacks.")


def fixture_views():
    base = torch.arange(48, dtype=torch.float32).reshape(8, 6)
    ibase = torch.arange(100, 120, dtype=torch.int64)
    other = torch.arange(10, dtype=torch.float16)
    d = collections.OrderedDict()
    d["base"] = base
    d["rows_2_5"] = base[2:5]
    d["transposed"] = base.t()
    d["strided_cols"] = base[:, 1::2]
    d["row3"] = base[3]
    d["expanded_row1"] = base[1].expand(4, 6)
    d["scalar_view"] = base[7, 5]
    d["i64_offset"] = ibase[5:12]
    d["f16_every_other"] = other[1::2]
    save_and_check(
        d, "views.pt", protocol=2,
        notes="all float32 tensors share ONE storage (key '0', 48 elements): base [8,6]; rows_2_5 = base[2:5] "
              "(storage_offset 12); transposed = base.t() (stride [1,6]); strided_cols = base[:,1::2] (offset 1, "
              "stride [6,2]); row3 = base[3] (offset 18); expanded_row1 = base[1].expand(4,6) (stride [0,1], "
              "offset 6); scalar_view = base[7,5] (0-dim, offset 47). i64_offset = arange(100,120)[5:12]: only the "
              "view is saved, the whole 20-element storage is written (offset 5). f16_every_other = "
              "arange(10)[1::2]: only a strided view of a 10-element f16 storage. References are the views made "
              "contiguous. torch refuses to save two views of one storage with different dtypes "
              "(\"Cannot save multiple tensors or storages that view the same data as different types\").")


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.bn = nn.BatchNorm1d(3)


def fixture_nested():
    torch.manual_seed(1)
    model = Tiny()
    sd = model.state_dict()  # OrderedDict with a _metadata attribute
    exp_avg = torch.randn(3, 4)
    ckpt = {
        "epoch": 3,
        "global_step": 2 ** 40 + 5,
        "best_loss": -0.125,
        "name": "tiny-ckpt",
        "state_dict": sd,
        "optimizer": {
            "state": {0: {"step": torch.tensor(7.0), "exp_avg": exp_avg}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-08, "amsgrad": False,
                              "foreach": None, "params": [0]}],
        },
        "config": {"hidden": 8},
        "param": nn.Parameter(torch.tensor([1.0, 2.0])),
        "grad_tensor": torch.tensor([0.5, -0.5], requires_grad=True),
        "frozen_param": nn.Parameter(torch.tensor([[3]], dtype=torch.int32), requires_grad=False),
    }
    save_and_check(
        ckpt, "nested.pt", protocol=2,
        notes="typical training checkpoint: ints (epoch, global_step 2^40+5 -> LONG1), float, str, None, bools, "
              "a tuple (betas), an int dict key (optimizer.state.0), a list; state_dict is a real "
              "nn.Module.state_dict() OrderedDict, pickled with a BUILD of its {'_metadata': OrderedDict(...)} "
              "attribute; includes BatchNorm buffers (num_batches_tracked is a 0-dim int64). 'param' and "
              "'frozen_param' are nn.Parameter -> torch._utils._rebuild_parameter(tensor, requires_grad, "
              "OrderedDict()); 'grad_tensor' is a plain tensor with requires_grad=True (arg 5 of "
              "_rebuild_tensor_v2 is True). Tensor names flatten as e.g. state_dict.fc.weight, "
              "optimizer.state.0.exp_avg.")
    save_and_check(
        {"model": sd}, "model_key.pt", protocol=2, via_bytesio=True,
        notes="{'model': state_dict} (the layout many repos use). Saved through io.BytesIO, so the zip's top-level "
              "folder is 'archive/' instead of the file stem ('model_key/'): readers must not assume the folder "
              "name.")


def fixture_legacy():
    torch.manual_seed(2)
    w = torch.randn(3, 4)
    sd = collections.OrderedDict()
    sd["w"] = w
    sd["w_row1"] = w[1]
    sd["w_col2"] = w[:, 2]
    sd["h"] = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float16)
    sd["bf"] = torch.tensor([1.0, 2.0], dtype=torch.bfloat16)
    sd["i64"] = torch.tensor([1, -2, 2 ** 40], dtype=torch.int64)
    sd["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    sd["b"] = torch.tensor([True, False])
    sd["scalar"] = torch.tensor(1.5, dtype=torch.float64)
    save_and_check(
        sd, "legacy.pt", kind="legacy", protocol=2, legacy=True,
        notes="pre-1.6 non-zip format (_use_new_zipfile_serialization=False): 5 consecutive pickles "
              "(magic number 0x1950a86a20f9469cfc6c as LONG1, protocol version 1001, sys_info dict, the object with "
              "persistent ids ('storage', torch.XStorage, key, 'cpu', numel, None), the list of storage keys) "
              "followed, for each key in that list, by an int64 little-endian element count and the raw storage "
              "bytes. Storage keys are decimal data pointers (not reproducible). w, w_row1 (offset 4) and w_col2 "
              "(offset 2, stride [4]) share one storage.")


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([2.0, 0.5]))
        self.register_buffer("shift", torch.tensor([1.0, -1.0]))
        self.register_buffer("count", torch.tensor(5, dtype=torch.int64))

    def forward(self, x):
        return x * self.scale + self.shift


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 2)
        self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), Inner())

    def forward(self, x):
        return self.seq(self.proj(x))


def fixture_torchscript():
    torch.manual_seed(3)
    m = torch.jit.script(Outer())
    path = os.path.join(HERE, "scripted.pt")
    torch.jit.save(m, path)
    loaded = torch.jit.load(path)
    sd = loaded.state_dict()
    ref_path = os.path.join(HERE, "scripted.ref.safetensors")
    enc = write_ref(flatten(sd), ref_path)
    verify(flatten(torch.jit.load(path).state_dict()), ref_path, enc)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.equal(loaded(x), m(x))
    record(path, "torchscript", rel(ref_path),
           "torch.jit.script(Outer) saved with torch.jit.save: Outer(proj=Linear(3,2), seq=Sequential(0=Linear(2,2), "
           "1=ReLU, 2=Inner(scale=Parameter[2], buffers shift[2], count (0-dim int64)))). The reference is "
           "module.state_dict() (names like seq.2.scale). data.pkl pickles the module objects as "
           "__torch__.<qualified class> + NEWOBJ/BUILD with a dict of attributes (training flags, submodules, "
           "tensors); tensors use torch._utils._rebuild_tensor_v2 with persistent ids ('storage', torch.XStorage, "
           "key, 'cpu', numel). constants.pkl, code/ and .debug_pkl members hold the TorchScript program; "
           "torch.load(weights_only=True) on this file dispatches to torch.jit.load.",
           obj=None, protocol=None)


def bert_state_dict():
    sd = safetensors.torch.load_file(os.path.join(BERT_DIR, "model.safetensors"))
    return collections.OrderedDict((k, sd[k]) for k in sd.keys())


def copy_bert_side_files(dst, only=None):
    for root, _dirs, files in os.walk(BERT_DIR):
        for f in sorted(files):
            if f == "model.safetensors":
                continue
            relp = os.path.relpath(os.path.join(root, f), BERT_DIR)
            if only is not None and relp not in only:
                continue
            os.makedirs(os.path.dirname(os.path.join(dst, relp)), exist_ok=True)
            shutil.copyfile(os.path.join(root, f), os.path.join(dst, relp))


def fixture_hf_dir():
    dst = os.path.join(HERE, "tiny-bert-bin")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    sd = bert_state_dict()
    path = os.path.join(dst, "pytorch_model.bin")
    torch.save(sd, path)
    copy_bert_side_files(dst)
    loaded = torch.load(path, weights_only=True)
    ref_path = os.path.join(BERT_DIR, "model.safetensors")
    verify(flatten(loaded), ref_path, {})
    entry = {"file": rel(dst), "kind": "hf-dir", "pickle_protocol": 2,
             "reference": os.path.relpath(ref_path, HERE),
             "checkpoint": rel(path),
             "zip_members_count": len(zip_members(path)),
             "notes": "HF-style model folder: pytorch_model.bin = torch.save(OrderedDict state_dict) of the F32 "
                      "weights of ../tiny-bert/model.safetensors (what transformers' save_pretrained("
                      "safe_serialization=False) writes; zip top-level folder 'pytorch_model/'), plus copies of "
                      "every other file of ../tiny-bert (config.json, tokenizer files, modules.json, "
                      "1_Pooling/config.json, ...). The reference is ../tiny-bert/model.safetensors itself; a "
                      "conversion of this folder should equal ../tiny-bert."}
    MANIFEST.append(entry)
    print(f"  {rel(dst)}/")


def fixture_sharded():
    dst = os.path.join(HERE, "sharded-bin")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    sd = bert_state_dict()
    tied_name = "cls.predictions.decoder.weight"
    tied_to = "embeddings.word_embeddings.weight"
    names = list(sd.keys())
    # 3 shards of consecutive names; the tied tensor goes into the shard of its target
    n = len(names)
    cuts = [0, n // 3, 2 * n // 3, n]
    shards = [collections.OrderedDict((k, sd[k]) for k in names[cuts[i]:cuts[i + 1]]) for i in range(3)]
    for sh in shards:
        if tied_to in sh:
            sh[tied_name] = sh[tied_to]  # same tensor object -> same storage in the file
            tied_shard = shards.index(sh)
    weight_map = {}
    total = 0
    full = collections.OrderedDict()
    for i, sh in enumerate(shards):
        fname = f"pytorch_model-{i + 1:05d}-of-00003.bin"
        torch.save(sh, os.path.join(dst, fname))
        seen = set()
        for k, t in sh.items():
            weight_map[k] = fname
            full[k] = t
            if t.untyped_storage().data_ptr() not in seen:
                seen.add(t.untyped_storage().data_ptr())
                total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(dst, "pytorch_model.bin.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")
    copy_bert_side_files(dst, only={"config.json"})
    # reference: all tensors of all shards (tied one as a separate copy)
    ref_path = os.path.join(HERE, "sharded-bin.ref.safetensors")
    enc = write_ref(full, ref_path)
    loaded = collections.OrderedDict()
    for i in range(3):
        part = torch.load(os.path.join(dst, f"pytorch_model-{i + 1:05d}-of-00003.bin"), weights_only=True)
        if tied_name in part:
            assert part[tied_name].untyped_storage().data_ptr() == part[tied_to].untyped_storage().data_ptr()
        loaded.update(part)
    verify(loaded, ref_path, enc)
    # the tied shard must hold only one storage for the two names
    tied_file = os.path.join(dst, f"pytorch_model-{tied_shard + 1:05d}-of-00003.bin")
    entry = {"file": rel(dst), "kind": "hf-sharded-dir", "pickle_protocol": 2, "reference": rel(ref_path),
             "index": rel(os.path.join(dst, "pytorch_model.bin.index.json")),
             "shards": [f"pytorch_model-{i + 1:05d}-of-00003.bin" for i in range(3)],
             "tied": {tied_name: tied_to, "shard": os.path.basename(tied_file)},
             "notes": f"the tiny-bert state dict split into 3 torch.save shards by consecutive names + "
                      f"pytorch_model.bin.index.json ({{metadata: {{total_size}}, weight_map}}) + config.json. "
                      f"'{tied_name}' is the SAME tensor object as '{tied_to}' (tied embeddings), saved in the same "
                      f"shard, so both names point to one storage (one data/N member). total_size ({total}) counts "
                      f"that shared storage once. The reference holds every name of the weight_map (the tied one "
                      f"as an independent copy)."}
    MANIFEST.append(entry)
    print(f"  {rel(dst)}/")


def fixture_quantized():
    torch.manual_seed(4)
    x = torch.tensor([[-1.0, 0.0, 0.5], [1.0, 2.0, -0.25]])
    q = torch.quantize_per_tensor(x, scale=0.25, zero_point=10, dtype=torch.quint8)
    path = os.path.join(HERE, "quantized.pt")
    torch.save({"q": q, "plain": x}, path)
    loaded = torch.load(path, weights_only=True)
    ref = collections.OrderedDict()
    ref["q.int_repr"] = loaded["q"].int_repr().contiguous().clone()
    ref["q.dequantized"] = loaded["q"].dequantize().contiguous().clone()
    ref["plain"] = loaded["plain"].contiguous().clone()
    ref_path = os.path.join(HERE, "quantized.ref.safetensors")
    safetensors.torch.save_file(ref, ref_path)
    back = safetensors.torch.load_file(ref_path)
    assert torch.equal(back["q.int_repr"], torch.load(path, weights_only=True)["q"].int_repr())
    record(path, "zip", rel(ref_path),
           "a per-tensor quantized quint8 tensor (scale 0.25, zero_point 10; QUInt8Storage + "
           "torch._utils._rebuild_qtensor with a (torch.per_tensor_affine, scale, zero_point) tuple) next to a plain "
           "f32 tensor. Expected use: a reader reports 'q' as unsupported (or dequantizes it). The reference does "
           "not follow the generic rule: it has q.int_repr (U8), q.dequantized (F32) and plain.",
           protocol=2)


def main():
    print(f"torch {torch.__version__}, safetensors {safetensors.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    fixture_basic()
    fixture_extra_dtypes()
    fixture_views()
    fixture_nested()
    fixture_legacy()
    fixture_torchscript()
    fixture_hf_dir()
    fixture_sharded()
    fixture_quantized()
    # tar format: torch has had no writer for it since 0.4 (torch.serialization only keeps the reader,
    # legacy_load in _legacy_load), so no tar fixture is generated.
    assert not any("tar" in n.lower() and "save" in n.lower() for n in dir(torch.serialization))
    manifest = {
        "generated_with": {"torch": torch.__version__.split("+")[0], "safetensors": safetensors.__version__,
                           "numpy": np.__version__, "python": sys.version.split()[0]},
        "reference_rule": "X.ref.safetensors = torch.load(X, weights_only=True) (torch.jit.load(X).state_dict() "
                          "for torchscript) flattened to name -> contiguous tensor; nested dict keys and list/tuple "
                          "indices joined with '.'; non-tensor values are described in 'structure'.",
        "skipped": {"tar_legacy.tar": "torch has no writer for the pre-0.4 tar format any more (only a reader)"},
        "fixtures": MANIFEST,
    }
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    total = 0
    for root, _d, files in os.walk(HERE):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"total size of tests/data/torch: {total} bytes")


if __name__ == "__main__":
    main()
