//! The container against gguf-py: files written by `GGUFWriter` read back
//! as `GGUFReader` reads them (every metadata value type, nested arrays,
//! tensor types, offsets, bytes), modelconv's writer reproduces those files
//! byte for byte, and its own files round-trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use modelconv_core::Error;
use modelconv_gguf::writer::{self, TensorHeader};
use modelconv_gguf::{quant, GgmlType, GgufFile, Value};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/files")
        .join(name)
}

fn type_name(id: u32) -> &'static str {
    [
        "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING",
        "ARRAY", "UINT64", "INT64", "FLOAT64",
    ]
    .get(id as usize)
    .copied()
    .unwrap_or("?")
}

/// The JSON shape make_gguf_refs.py's `value_json` writes.
fn value_json(v: &Value) -> Json {
    let t = type_name(v.type_id());
    match v {
        Value::Array(ty, items) => json!({"type": t, "elem": type_name(*ty),
            "items": items.iter().map(value_json).collect::<Vec<_>>()}),
        Value::Strings(items) => json!({"type": t, "elem": type_name(8),
            "items": items.iter().map(|s| json!({"type": type_name(8), "value": s})).collect::<Vec<_>>()}),
        Value::F32(f) => json!({"type": t, "bits": format!("{:#x}", f.to_bits())}),
        Value::F64(f) => json!({"type": t, "bits": format!("{:#x}", f.to_bits())}),
        Value::U8(x) => json!({"type": t, "value": x}),
        Value::I8(x) => json!({"type": t, "value": x}),
        Value::U16(x) => json!({"type": t, "value": x}),
        Value::I16(x) => json!({"type": t, "value": x}),
        Value::U32(x) => json!({"type": t, "value": x}),
        Value::I32(x) => json!({"type": t, "value": x}),
        Value::U64(x) => json!({"type": t, "value": x}),
        Value::I64(x) => json!({"type": t, "value": x}),
        Value::Bool(x) => json!({"type": t, "value": x}),
        Value::Str(x) => json!({"type": t, "value": x}),
    }
}

fn expectations() -> Json {
    serde_json::from_slice(&std::fs::read(data("expect.json")).unwrap()).unwrap()
}

fn check_against_gguf_py(name: &str, f: &GgufFile, exp: &Json) {
    let meta: Vec<Json> = f
        .metadata
        .iter()
        .map(|(k, v)| {
            let mut j = value_json(v);
            j["key"] = json!(k);
            j
        })
        .collect();
    let want: Vec<Json> = exp["metadata"].as_array().unwrap().clone();
    assert_eq!(meta.len(), want.len(), "{name}: metadata count");
    for (got, want) in meta.iter().zip(&want) {
        assert_eq!(got, want, "{name}: metadata");
    }
    let ts = exp["tensors"].as_array().unwrap();
    assert_eq!(f.tensors.len(), ts.len(), "{name}: tensor count");
    for (t, e) in f.tensors.iter().zip(ts) {
        assert_eq!(t.name, e["name"].as_str().unwrap());
        assert_eq!(t.ggml_type.name, e["type"].as_str().unwrap(), "{}", t.name);
        let dims: Vec<u64> = e["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(
            f.data_offset + t.offset,
            e["offset"].as_u64().unwrap(),
            "{}",
            t.name
        );
        assert_eq!(t.nbytes, e["nbytes"].as_u64().unwrap(), "{}", t.name);
        let bytes = f.tensor_data(t).unwrap();
        assert_eq!(
            hex(&Sha256::digest(bytes)),
            e["sha256"].as_str().unwrap(),
            "{}",
            t.name
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `f`'s metadata and tensors again with modelconv's writer.
fn rewrite(f: &GgufFile) -> Vec<u8> {
    let shapes: Vec<Vec<usize>> = f.tensors.iter().map(|t| t.shape()).collect();
    let tensors: Vec<(TensorHeader<'_>, &[u8])> = f
        .tensors
        .iter()
        .zip(&shapes)
        .map(|(t, s)| {
            (
                TensorHeader {
                    name: &t.name,
                    ggml_type: t.ggml_type,
                    shape: s,
                },
                f.tensor_data(t).unwrap(),
            )
        })
        .collect();
    let mut out = Vec::new();
    let n = writer::write_to(&mut out, &f.metadata, &tensors).unwrap();
    assert_eq!(n as usize, out.len());
    out
}

#[test]
fn files_written_by_gguf_py_read_as_gguf_py_reads_them() {
    let exp = expectations();
    for name in ["all_types.gguf", "align64.gguf"] {
        let f = modelconv_gguf::read(&data(name)).unwrap();
        check_against_gguf_py(name, &f, &exp[name]);
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }
    let f = modelconv_gguf::read(&data("align64.gguf")).unwrap();
    assert_eq!(f.alignment, 64);
    assert_eq!(f.data_offset % 64, 0);
    // The Jinja chat template is an inert string.
    let f = modelconv_gguf::read(&data("all_types.gguf")).unwrap();
    assert!(f
        .get("tokenizer.chat_template")
        .and_then(Value::as_str)
        .unwrap()
        .contains("{% for m in messages %}"));
}

#[test]
fn our_writer_reproduces_gguf_py_files_byte_for_byte() {
    for name in ["all_types.gguf", "align64.gguf"] {
        let original = std::fs::read(data(name)).unwrap();
        let f = modelconv_gguf::read(&data(name)).unwrap();
        let ours = rewrite(&f);
        assert_eq!(ours.len(), original.len(), "{name}: length");
        if let Some(i) = ours.iter().zip(&original).position(|(a, b)| a != b) {
            panic!("{name}: first difference at byte {i}");
        }
    }
}

#[test]
fn layout_is_known_before_any_tensor_data() {
    let f = modelconv_gguf::read(&data("all_types.gguf")).unwrap();
    let shapes: Vec<Vec<usize>> = f.tensors.iter().map(|t| t.shape()).collect();
    let heads: Vec<TensorHeader<'_>> = f
        .tensors
        .iter()
        .zip(&shapes)
        .map(|(t, s)| TensorHeader {
            name: &t.name,
            ggml_type: t.ggml_type,
            shape: s,
        })
        .collect();
    let l = writer::header(&f.metadata, &heads).unwrap();
    assert_eq!(l.data_offset, f.data_offset);
    assert_eq!(l.len, f.map.len() as u64);
    for (p, t) in l.tensors.iter().zip(&f.tensors) {
        assert_eq!(p.offset, f.data_offset + t.offset);
        assert_eq!(p.nbytes, t.nbytes);
        assert_eq!(p.offset % l.alignment, 0);
    }
}

#[test]
fn tensor_sources_are_zero_copy_or_dequantize_exactly() {
    let f = modelconv_gguf::read(&data("all_types.gguf")).unwrap();
    for t in &f.tensors {
        let (dtype, src) = modelconv_gguf::tensor_source(&f, t).unwrap();
        let raw = f.tensor_data(t).unwrap();
        match t.ggml_type.dtype() {
            Some(dt) => {
                assert_eq!(dtype, dt);
                assert_eq!(&*src.read(0..src.len()).unwrap(), raw, "{}", t.name);
                assert!(src.file_range().is_some(), "{} is not zero-copy", t.name);
            }
            None => {
                assert_eq!(dtype, modelconv_core::DType::F32, "{}", t.name);
                let want = quant::dequantize(t.ggml_type, raw).unwrap();
                let want: Vec<u8> = want.iter().flat_map(|v| v.to_le_bytes()).collect();
                assert_eq!(&*src.read(0..src.len()).unwrap(), &want[..], "{}", t.name);
                // Unaligned sub-ranges give the same bytes.
                assert_eq!(&*src.read(6..70).unwrap(), &want[6..70], "{}", t.name);
                let par = f.dequantize(t).unwrap();
                assert_eq!(par.len() as u64, t.numel());
            }
        }
    }
    // Integer tensors convert exactly.
    let ids = f.tensor("ids.i32").unwrap();
    assert_eq!(
        f.dequantize(ids).unwrap(),
        (-3..9).map(|v| v as f32).collect::<Vec<_>>()
    );
}

#[test]
fn big_endian_files_are_unsupported_not_misread() {
    let err = modelconv_gguf::read(&data("big_endian.gguf")).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("big-endian"), "{err}");
}

fn all_value_types() -> Vec<(String, Value)> {
    vec![
        ("general.architecture".into(), Value::Str("llama".into())),
        ("general.alignment".into(), Value::U32(16)),
        ("u8".into(), Value::U8(7)),
        ("i8".into(), Value::I8(-7)),
        ("u16".into(), Value::U16(700)),
        ("i16".into(), Value::I16(-700)),
        ("u32".into(), Value::U32(70000)),
        ("i32".into(), Value::I32(-70000)),
        ("f32".into(), Value::F32(-0.0)),
        ("bool".into(), Value::Bool(true)),
        ("str".into(), Value::Str("ünï {{ x }}".into())),
        ("u64".into(), Value::U64(u64::MAX)),
        ("i64".into(), Value::I64(i64::MIN)),
        ("f64".into(), Value::F64(f64::MIN_POSITIVE)),
        ("empty".into(), Value::Array(8, vec![])),
        (
            "nested".into(),
            Value::Array(
                9,
                vec![
                    Value::Array(6, vec![Value::F32(1.5), Value::F32(f32::NAN)]),
                    Value::Array(6, vec![]),
                ],
            ),
        ),
        (
            "deep".into(),
            Value::Array(
                9,
                vec![Value::Array(
                    9,
                    vec![Value::Array(
                        9,
                        vec![Value::Array(8, vec![Value::Str("x".into())])],
                    )],
                )],
            ),
        ),
    ]
}

#[test]
fn our_files_round_trip_through_our_reader() {
    let meta = all_value_types();
    let x: Vec<f32> = (0..512).map(|i| (i as f32 * 0.37).sin()).collect();
    let q4k = quant::quantize(GgmlType::Q4_K, &x).unwrap();
    let q8 = quant::quantize(GgmlType::Q8_0, &x[..64]).unwrap();
    let f16 = quant::quantize(GgmlType::F16, &x[..6]).unwrap();
    let tensors = [
        (
            TensorHeader {
                name: "a",
                ggml_type: GgmlType::Q4_K,
                shape: &[2, 256],
            },
            &q4k[..],
        ),
        (
            TensorHeader {
                name: "b",
                ggml_type: GgmlType::F16,
                shape: &[1, 2, 3],
            },
            &f16[..],
        ),
        (
            TensorHeader {
                name: "c",
                ggml_type: GgmlType::Q8_0,
                shape: &[64],
            },
            &q8[..],
        ),
    ];
    let mut bytes = Vec::new();
    writer::write_to(&mut bytes, &meta, &tensors).unwrap();
    assert_eq!(bytes.len() % 16, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rt.gguf");
    std::fs::write(&p, &bytes).unwrap();
    let f = modelconv_gguf::read(&p).unwrap();
    assert_eq!(f.version, 3);
    assert_eq!(f.alignment, 16);
    assert_eq!(f.metadata.len(), meta.len());
    for ((k1, v1), (k2, v2)) in f.metadata.iter().zip(&meta) {
        assert_eq!(k1, k2);
        assert_eq!(value_json(v1), value_json(v2), "{k1}");
    }
    for ((h, b), t) in tensors.iter().zip(&f.tensors) {
        assert_eq!(t.name, h.name);
        assert_eq!(t.ggml_type, h.ggml_type);
        assert_eq!(t.shape(), h.shape);
        assert_eq!(f.tensor_data(t).unwrap(), *b);
    }
    assert_eq!(rewrite(&f), bytes);
}

#[test]
fn the_writer_refuses_what_readers_would_refuse() {
    let ok_meta = vec![("general.architecture".to_string(), Value::Str("x".into()))];
    let data = [0u8; 4096];
    let one = |name: &str, ty: GgmlType, shape: &[usize], meta: &[(String, Value)]| {
        let n = writer::tensor_nbytes(name, ty, shape).unwrap_or(0) as usize;
        let t = [(
            TensorHeader {
                name,
                ggml_type: ty,
                shape,
            },
            &data[..n.min(data.len())],
        )];
        writer::write_to(&mut Vec::new(), meta, &t)
    };
    let f32t = GgmlType::F32;
    assert!(one(&"n".repeat(63), f32t, &[2], &ok_meta).is_ok());
    let cases: Vec<(&str, modelconv_core::Result<u64>)> = vec![
        ("64-byte name", one(&"n".repeat(64), f32t, &[2], &ok_meta)),
        ("five dims", one("t", f32t, &[1, 1, 1, 1, 2], &ok_meta)),
        ("zero dim", one("t", f32t, &[0, 2], &ok_meta)),
        (
            "partial block",
            one("t", GgmlType::Q8_0, &[2, 48], &ok_meta),
        ),
        (
            "alignment not u32",
            one(
                "t",
                f32t,
                &[2],
                &[("general.alignment".into(), Value::U64(32))],
            ),
        ),
        (
            "alignment 48",
            one(
                "t",
                f32t,
                &[2],
                &[("general.alignment".into(), Value::U32(48))],
            ),
        ),
        (
            "mixed array",
            one(
                "t",
                f32t,
                &[2],
                &[(
                    "a".into(),
                    Value::Array(4, vec![Value::U32(1), Value::I32(2)]),
                )],
            ),
        ),
        (
            "duplicate key",
            one(
                "t",
                f32t,
                &[2],
                &[("a".into(), Value::U8(1)), ("a".into(), Value::U8(2))],
            ),
        ),
        (
            "empty key",
            one("t", f32t, &[2], &[("".into(), Value::U8(1))]),
        ),
    ];
    for (what, r) in cases {
        assert!(matches!(r, Err(Error::InvalidOption(_))), "{what}: {r:?}");
    }
    let t = TensorHeader {
        name: "same",
        ggml_type: f32t,
        shape: &[1],
    };
    let b = [0u8; 4];
    assert!(writer::write_to(&mut Vec::new(), &ok_meta, &[(t, &b), (t, &b)]).is_err());
    assert!(writer::write_to(&mut Vec::new(), &ok_meta, &[(t, &b[..2])]).is_err());
}

#[test]
fn long_names_are_read_with_a_warning() {
    // A hand-made file with a 70-byte name: legal GGUF, refused by llama.cpp.
    let name = "x".repeat(70);
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.extend((name.len() as u64).to_le_bytes());
    b.extend(name.as_bytes());
    b.extend(1u32.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.resize(b.len().next_multiple_of(32) + 32, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.gguf");
    std::fs::write(&p, &b).unwrap();
    let f = modelconv_gguf::read(&p).unwrap();
    assert_eq!(f.tensors[0].name, name);
    assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    let (model, _) = modelconv_gguf::read_model(&p).unwrap();
    assert!(model.notes.iter().any(|n| n.contains("at most 63")));
}

/// Python with the `gguf` package: `$MODELCONV_GGUF_PYTHON`, else the
/// repository's `.venv-gguf` (see tests/data/make_gguf_refs.py).
fn gguf_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MODELCONV_GGUF_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-gguf/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import gguf"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn gguf_py_reads_our_files() {
    let Some(py) = gguf_python() else {
        eprintln!("skipped: no Python with the gguf package (set MODELCONV_GGUF_PYTHON or make .venv-gguf); byte equality with GGUFWriter's files is checked regardless");
        return;
    };
    let meta = all_value_types();
    let x: Vec<f32> = (0..512).map(|i| (i as f32 * 0.11).cos()).collect();
    let q = quant::quantize(GgmlType::Q5_K, &x).unwrap();
    let q6 = quant::quantize(GgmlType::Q6_K, &x).unwrap();
    let tensors = [
        (
            TensorHeader {
                name: "blk.0.ffn_up.weight",
                ggml_type: GgmlType::Q5_K,
                shape: &[2, 256],
            },
            &q[..],
        ),
        (
            TensorHeader {
                name: "blk.0.ffn_down.weight",
                ggml_type: GgmlType::Q6_K,
                shape: &[512],
            },
            &q6[..],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ours.gguf");
    let mut bytes = Vec::new();
    writer::write_to(&mut bytes, &meta, &tensors).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    let script = r#"
import sys, json, numpy as np, gguf
r = gguf.GGUFReader(sys.argv[1])
out = {"fields": [], "tensors": []}
for f in r.fields.values():
    out["fields"].append([f.name, [int(t) for t in f.types]])
for t in r.tensors:
    deq = gguf.quants.dequantize(t.data, t.tensor_type)
    out["tensors"].append([t.name, t.tensor_type.name, [int(d) for d in t.shape], int(t.data_offset),
                           int(t.n_bytes), np.ascontiguousarray(deq, np.float32).reshape(-1).view(np.uint32).tolist()])
print(json.dumps(out))
"#;
    let o = std::process::Command::new(&py)
        .args(["-c", script, p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Json = serde_json::from_slice(&o.stdout).unwrap();
    let fields = got["fields"].as_array().unwrap();
    // GGUFReader adds the three header fields first.
    let names: Vec<&str> = fields.iter().map(|f| f[0].as_str().unwrap()).collect();
    assert_eq!(
        &names[3..],
        meta.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()
    );
    let f = modelconv_gguf::read(&p).unwrap();
    for ((t, e), (_, raw)) in f
        .tensors
        .iter()
        .zip(got["tensors"].as_array().unwrap())
        .zip(&tensors)
    {
        assert_eq!(e[0], json!(t.name));
        assert_eq!(e[1], json!(t.ggml_type.name));
        assert_eq!(e[2], json!(t.dims));
        assert_eq!(e[3], json!(f.data_offset + t.offset));
        assert_eq!(e[4], json!(t.nbytes));
        let ours: Vec<u32> = quant::dequantize(t.ggml_type, raw)
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(e[5], json!(ours), "{}", t.name);
    }
}
