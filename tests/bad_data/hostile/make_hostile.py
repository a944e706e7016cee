"""Hostile inputs, round 2 (issue #23): the corpus of classes that the first
battery missed. Plain Python 3, standard library only; nothing is unpickled.

    python3 tests/bad_data/hostile/make_hostile.py [OUT_DIR] [--big]
        [--gguf-base FILE.gguf] [--parquet-base DIR] [--only NAME,...] [--entries N]

writes the cases into OUT_DIR (default: this folder). The SMALL cases (under
300 KB each) are committed here, and a test checks they are what this script
writes. `--big` adds the RUNTIME cases (FIFOs, symbolic links, copies of the
tiny llama fixture, a 59 MB header) and the MANY cases (many entries of one
kind: shards, storages, tensors, members, tokens); `--gguf-base` and
`--parquet-base` (an F32 llama GGUF and a Parquet directory made by
modelconv) the cases edited from them. `--entries N` sets the count of the
MANY cases (the scaling test writes 25k and 200k). `cases.json` beside this
script says what every subcommand must do with each case
(crates/cli/tests/hostile_inputs.rs checks it; hostile_scaling.rs the counts).
"""

import io
import itertools
import json
import os
import shutil
import struct
import sys
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "pickle"))
import make_bad_pickles as P  # noqa: E402  (pickle opcode helpers, torch zip layout)

FIXTURES = os.path.join(ROOT, "tests", "data")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------------------
# small writers (no numpy, no torch, no safetensors package)
# ---------------------------------------------------------------------------

def safetensors_bytes(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] in file order."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    data = []
    at = 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        data.append(raw)
        at += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(data)


def read_safetensors(path):
    """[(name, dtype, shape, bytes)], metadata."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    base = 8 + n
    out = []
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = t["data_offsets"]
        out.append((name, t["dtype"], t["shape"], raw[base + a:base + b]))
    return out, meta


def npy_bytes(descr, shape, data=b""):
    """An .npy file as numpy.save writes it (version 1.0, header padded to 64)."""
    shape_repr = f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    h = ("{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape_repr)).encode()
    total = 10 + len(h) + 1
    h += b" " * ((-total) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data


def zip_write(members, deflate=()):
    """members: [(name, bytes or (size, chunk_writer))]; deterministic."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            zi.create_system = 3
            zi.external_attr = 0o644 << 16
            if name in deflate:
                zi.compress_type = zipfile.ZIP_DEFLATED
                for attr in ("compress_level", "_compresslevel"):
                    try:
                        setattr(zi, attr, 9)
                        break
                    except AttributeError:
                        pass
            else:
                zi.compress_type = zipfile.ZIP_STORED
            if isinstance(data, tuple):
                size, chunks = data
                zi.file_size = size
                with zf.open(zi, "w", force_zip64=size >= 2**31) as w:
                    for c in chunks():
                        w.write(c)
            else:
                zf.writestr(zi, data)
    return buf.getvalue()


def zeros(total, chunk=1 << 22):
    def gen():
        left = total
        block = bytes(chunk)
        while left > 0:
            n = min(left, chunk)
            yield block[:n]
            left -= n
    return gen


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------

def tiny_model(out):
    """A minimal valid model directory: one F32 tensor, no config."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes([("w", "F32", [2, 2], f32([1, 2, 3, 4]))], {"format": "pt"}))


def npz_bomb(out):
    """One deflated member of 256 MiB of zeros (~260 KB): inspect must not inflate it,
    and converting it is a 1000x amplification that needs --allow-amplification."""
    n = 1 << 26  # f32 elements = 256 MiB
    header = npy_bytes("<f4", (n,))
    member = (len(header) + 4 * n, lambda: itertools.chain([header], zeros(4 * n)()))
    with open(out, "wb") as f:
        f.write(zip_write([("w.npy", member)], deflate={"w.npy"}))


def pt_deflated_storages(out):
    """32 storages of 8 MiB zeros, deflated (256 MiB from ~260 KB)."""
    n = 32
    numel = 1 << 21  # f32 = 8 MiB
    items = [(f"layer{i}.weight",
              P.rebuild_tensor("FloatStorage", str(i), numel, (numel,), (1,))) for i in range(n)]
    data_pkl = P.p2(P.ordered_dict(items))
    members = [("archive/data.pkl", data_pkl)]
    members += [(f"archive/{k}", v) for k, v in P.STANDARD_META]
    names = set()
    for i in range(n):
        name = f"archive/data/{i}"
        names.add(name)
        members.append((name, (4 * numel, zeros(4 * numel))))
    members += [(f"archive/{k}", v) for k, v in P.TAIL_META]
    with open(out, "wb") as f:
        f.write(zip_write(members, deflate=names))


def pt_expand_stride0(out):
    """A 1-element storage viewed as [65536, 65536] with strides (0, 0): 16 GiB from 1.6 KB."""
    item = P.rebuild_tensor("FloatStorage", "0", 1, (65536, 65536), (0, 0))
    data = P.torch_zip(P.p2(P.ordered_dict([("x", item)])), storages=[("0", f32([1.0]))])
    with open(out, "wb") as f:
        f.write(data)


def npz_object_pickle(out):
    """An npz whose member is an object-dtype array carrying an os.system pickle:
    np.load(allow_pickle=True) would run it. Never loaded here."""
    payload = P.pay_os_system("npz-object")
    member = npy_bytes("|O", (1,), payload)
    with open(out, "wb") as f:
        f.write(zip_write([("x.npy", member)], deflate={"x.npy"}))


def st_evil_names(out):
    """Tensor names that would be paths or hold NUL if they became file or member names."""
    t = [("../../x\u0000y", "F32", [1], f32([1])),
         ("/etc/passwd", "F32", [1], f32([2])),
         ("a/../../b", "F32", [1], f32([3]))]
    with open(out, "wb") as f:
        f.write(safetensors_bytes(t))


def st_shape_2p63(out):
    """Zero elements, but dimensions no numpy or torch accepts ([0, 2^63, 2^63])."""
    with open(out, "wb") as f:
        f.write(safetensors_bytes([("t", "F32", [0, 2**63, 2**63], b"")]))


def llama_variant(out, edit):
    """families/llama with one tensor (or the config) changed by `edit(tensors, config)`."""
    src = os.path.join(FIXTURES, "families", "llama")
    os.makedirs(out, exist_ok=True)
    tensors, meta = read_safetensors(os.path.join(src, "model.safetensors"))
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    tensors = edit(tensors, config)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tensors, meta))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(os.path.join(src, name), os.path.join(out, name))


def llama_nan_norm(out):
    def edit(tensors, config):
        return [(n, d, s, (struct.pack("<f", float("nan")) * (len(b) // 4)) if n == "model.norm.weight" else b)
                for n, d, s, b in tensors]
    llama_variant(out, edit)


def llama_half_q_proj(out):
    def edit(tensors, config):
        res = []
        for n, d, s, b in tensors:
            if n == "model.layers.0.self_attn.q_proj.weight":
                s = [s[0] // 2, s[1]]
                b = b[:len(b) // 2]
            res.append((n, d, s, b))
        return res
    llama_variant(out, edit)


def config_negative_sizes(out):
    def edit(tensors, config):
        config["hidden_size"] = -16
        return tensors
    llama_variant(out, edit)


def config_head_dim_0(out):
    def edit(tensors, config):
        config["head_dim"] = 0
        return tensors
    llama_variant(out, edit)


def fake_layers_1e9(out):
    """A config for `fake` with 10^9 layers (7.4 GB of bookkeeping before the fix)."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(FIXTURES, "families", "llama", "config.json")) as f:
        config = json.load(f)
    config["num_hidden_layers"] = 10**9
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def hf_tokenizer_collision(out):
    """tokenizer.json and tokenizer/tokenizer.json: the seeds' Parquet layout would put both at one name."""
    tiny_model(out)
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    for rel, text in (("tokenizer.json", '{"a": 1}\n'), ("tokenizer/tokenizer.json", '{"b": 2}\n')):
        with open(os.path.join(out, rel), "w") as f:
            f.write(text)


# --- made at test time: links, FIFOs, big files, modelconv-made bases ---

def dir_symlink_loops(out):
    tiny_model(out)
    for i in range(8):
        os.symlink(".", os.path.join(out, f"loop{i}"))


def dir_with_fifo(out):
    tiny_model(out)
    os.mkfifo(os.path.join(out, "tokenizer.json"))


def fifo(out):
    os.mkfifo(out)


def dir_aux_symlink_out(out):
    """Aux files that are links out of the model folder: a secret beside it, and the
    process environment. Neither may be copied into an output."""
    tiny_model(out)
    secret = os.path.join(os.path.dirname(out), "secret.txt")
    with open(secret, "w") as f:
        f.write("TOKEN=hunter2\n")
    os.symlink(secret, os.path.join(out, "tokenizer.json"))
    os.symlink("/proc/self/environ", os.path.join(out, "vocab.txt"))


def index_many_shards(out, n=200_000):
    """An index naming n distinct shards, one of which exists (7.6 MB at 200k; 28 s
    to the "missing shard" error before the fix)."""
    tiny_model(out)
    os.rename(os.path.join(out, "model.safetensors"), os.path.join(out, "shard-0.safetensors"))
    wm = {"w": "shard-0.safetensors"}
    for i in range(1, n):
        wm[f"t{i}"] = f"shard-{i}.safetensors"
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f)


def pt_many_tensors(out, n=50_000):
    """A valid torch.save-shaped archive of n one-element tensors, each with its own
    storage (100k took over 20 s to inspect, 200k 60 s, before the fix)."""
    body = P.glob("collections", "OrderedDict") + P.EMPTY_TUPLE + P.REDUCE + P.MARK
    parts = [body]
    for i in range(n):
        parts.append(P.bu(f"t{i}") + P.rebuild_tensor("FloatStorage", str(i), 1, (1,), (1,)))
        if i % 1000 == 999:
            parts.append(P.SETITEMS + P.MARK)
    parts.append(P.SETITEMS)
    data_pkl = P.p2(b"".join(parts))
    members = [("archive/data.pkl", data_pkl)]
    members += [(f"archive/{k}", v) for k, v in P.STANDARD_META]
    members += [(f"archive/data/{i}", f32([float(i)])) for i in range(n)]
    members += [(f"archive/{k}", v) for k, v in P.TAIL_META]
    with open(out, "wb") as f:
        f.write(zip_write(members))


def st_1m_zero_tensors(out, n=1_000_000):
    """1M zero-size tensors: a 67 MB header under the 100 MB cap."""
    with open(out, "wb") as f:
        f.write(safetensors_bytes([(f"t{i}", "F32", [0], b"") for i in range(n)]))


def st_many_tensors(out, n=100_000):
    with open(out, "wb") as f:
        f.write(safetensors_bytes([(f"t{i}", "F32", [1], f32([i])) for i in range(n)]))


def npz_many_members(out, n=100_000):
    members = [(f"t{i}.npy", npy_bytes("<f4", (1,), f32([i]))) for i in range(n)]
    with open(out, "wb") as f:
        f.write(zip_write(members))


GGUF_STRING, GGUF_U32, GGUF_ARRAY = 8, 4, 9


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_file(kvs, tensors):
    """kvs: [(key, type, value_bytes)]; tensors: [(name, dims, ggml_type, bytes)] (F32 = 0)."""
    out = [b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))]
    for k, t, v in kvs:
        out.append(gguf_str(k) + struct.pack("<I", t) + v)
    offset = 0
    data = []
    for name, dims, gt, raw in tensors:
        out.append(gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims))
        out.append(struct.pack("<IQ", gt, offset))
        pad = (-len(raw)) % 32
        data.append(raw + bytes(pad))
        offset += len(raw) + pad
    head = b"".join(out)
    return head + bytes((-len(head)) % 32) + b"".join(data)


def gguf_many_tokens(out, n=2_000_000):
    """A GGUF whose vocabulary holds n tokens (2M took 874 MB before the fix)."""
    tokens = struct.pack("<IQ", GGUF_STRING, n) + b"".join(gguf_str(f"t{i}") for i in range(n))
    kvs = [("general.architecture", GGUF_STRING, gguf_str("llama")),
           ("tokenizer.ggml.model", GGUF_STRING, gguf_str("gpt2")),
           ("tokenizer.ggml.tokens", GGUF_ARRAY, tokens)]
    with open(out, "wb") as f:
        f.write(gguf_file(kvs, [("w", [4], 0, f32([1, 2, 3, 4]))]))


def gguf_many_tensors(out, n=100_000):
    kvs = [("general.architecture", GGUF_STRING, gguf_str("unknown"))]
    with open(out, "wb") as f:
        f.write(gguf_file(kvs, [(f"t{i}", [1], 0, f32([i])) for i in range(n)]))


def gguf_parse(raw):
    """(kv positions {key: (type_offset, value_offset)}, tensor infos {name: (dims_offset, ndims, data_offset)}, data_start)."""
    pos = 4
    version, nt, nkv = struct.unpack_from("<IQQ", raw, pos)
    pos += 20

    def rstr(p):
        (n,) = struct.unpack_from("<Q", raw, p)
        return raw[p + 8:p + 8 + n].decode(), p + 8 + n

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(t, p):
        if t == GGUF_STRING:
            return rstr(p)[1]
        if t == GGUF_ARRAY:
            (et, n) = struct.unpack_from("<IQ", raw, p)
            p += 12
            for _ in range(n):
                p = skip(et, p)
            return p
        return p + sizes[t]

    kvs = {}
    for _ in range(nkv):
        key, pos = rstr(pos)
        (t,) = struct.unpack_from("<I", raw, pos)
        kvs[key] = (pos, pos + 4)
        pos = skip(t, pos + 4)
    infos = {}
    for _ in range(nt):
        name, pos = rstr(pos)
        (nd,) = struct.unpack_from("<I", raw, pos)
        dims_at = pos + 4
        pos = dims_at + 8 * nd
        (gt, off) = struct.unpack_from("<IQ", raw, pos)
        infos[name] = (dims_at, nd, off, gt)
        pos += 12
    align = 32
    data_start = pos + (-pos) % align
    return kvs, infos, data_start


def gguf_variant(base, out, edit):
    with open(base, "rb") as f:
        raw = bytearray(f.read())
    edit(raw, *gguf_parse(bytes(raw)))
    with open(out, "wb") as f:
        f.write(raw)


def gguf_nan_embedding(base, out):
    def edit(raw, kvs, infos, data_start):
        dims_at, nd, off, gt = infos["token_embd.weight"]
        assert gt == 0, "base must be F32"
        dims = struct.unpack_from(f"<{nd}Q", raw, dims_at)
        n = 1
        for d in dims:
            n *= d
        struct.pack_into(f"<{n}f", raw, data_start + off, *([float("nan")] * n))
    gguf_variant(base, out, edit)


def gguf_transposed_ffn_up(base, out):
    def edit(raw, kvs, infos, data_start):
        dims_at, nd, off, gt = infos["blk.0.ffn_up.weight"]
        a, b = struct.unpack_from("<2Q", raw, dims_at)
        assert a != b, "needs a non-square matrix"
        struct.pack_into("<2Q", raw, dims_at, b, a)
    gguf_variant(base, out, edit)


def gguf_embedding_length_0(base, out):
    def edit(raw, kvs, infos, data_start):
        t_at, v_at = kvs["llama.embedding_length"]
        assert struct.unpack_from("<I", raw, t_at)[0] == GGUF_U32
        struct.pack_into("<I", raw, v_at, 0)
    gguf_variant(base, out, edit)


def parquet_tokenizer_config(base, out):
    """The seeds' Parquet layout with a tokenizer/config.json: converting back must keep
    the top-level config.json."""
    shutil.copytree(base, out)
    with open(os.path.join(out, "tokenizer", "config.json"), "w") as f:
        f.write('{"not": "the model config"}\n')


SMALL = [
    ("npz_bomb.npz", npz_bomb),
    ("pt_deflated_storages.pt", pt_deflated_storages),
    ("pt_expand_stride0.pt", pt_expand_stride0),
    ("npz_object_pickle.npz", npz_object_pickle),
    ("st_evil_names.safetensors", st_evil_names),
    ("st_shape_2p63.safetensors", st_shape_2p63),
    ("fake_layers_1e9", fake_layers_1e9),
    ("hf_tokenizer_collision", hf_tokenizer_collision),
]
RUNTIME = [
    ("llama_nan_norm", llama_nan_norm),
    ("llama_half_q_proj", llama_half_q_proj),
    ("config_negative_sizes", config_negative_sizes),
    ("config_head_dim_0", config_head_dim_0),
    ("dir_symlink_loops", dir_symlink_loops),
    ("dir_with_fifo", dir_with_fifo),
    ("fifo", fifo),
    ("dir_aux_symlink_out", dir_aux_symlink_out),
    ("st_1m_zero_tensors.safetensors", st_1m_zero_tensors),
]
# Many entries of one kind. The default counts keep every subcommand under
# 256 MB; `--entries N` overrides them (the scaling test writes 25k and 200k).
MANY = [
    ("index_many_shards", index_many_shards),
    ("pt_many_tensors.pt", pt_many_tensors),
    ("st_many_tensors.safetensors", st_many_tensors),
    ("npz_many_members.npz", npz_many_members),
    ("gguf_many_tensors.gguf", gguf_many_tensors),
    ("gguf_many_tokens.gguf", gguf_many_tokens),
]
FROM_GGUF = [
    ("gguf_nan_embedding.gguf", gguf_nan_embedding),
    ("gguf_transposed_ffn_up.gguf", gguf_transposed_ffn_up),
    ("gguf_embedding_length_0.gguf", gguf_embedding_length_0),
]
FROM_PARQUET = [("parquet_tokenizer_config", parquet_tokenizer_config)]


def main(argv):
    """OUT_DIR [--big] [--gguf-base F] [--parquet-base D] [--only NAME,...] [--entries N]"""
    out = argv[1] if len(argv) > 1 and not argv[1].startswith("--") else HERE
    big = "--big" in argv

    def opt(name):
        return argv[argv.index(name) + 1] if name in argv else None

    only = set(opt("--only").split(",")) if opt("--only") else None
    entries = int(opt("--entries")) if opt("--entries") else None
    os.makedirs(out, exist_ok=True)
    todo = list(SMALL) + (RUNTIME + MANY if big or only else [])
    for name, build in todo:
        if only is not None and name not in only:
            continue
        path = os.path.join(out, name)
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        if entries is not None and (name, build) in MANY:
            build(path, entries)
        else:
            build(path)
    if opt("--gguf-base"):
        for name, build in FROM_GGUF:
            if only is None or name in only:
                build(opt("--gguf-base"), os.path.join(out, name))
    if opt("--parquet-base"):
        for name, build in FROM_PARQUET:
            if only is not None and name not in only:
                continue
            path = os.path.join(out, name)
            if os.path.exists(path):
                shutil.rmtree(path)
            build(opt("--parquet-base"), path)


if __name__ == "__main__":
    main(sys.argv)
