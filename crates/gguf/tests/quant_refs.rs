//! Bit-exactness of the quantization kernels against the committed
//! references made by `tests/data/make_gguf_refs.py` (gguf-py's numpy code
//! and ggml's C `_ref` quantizers). Every byte and every f32 bit pattern
//! (NaN payloads included) must match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use modelconv_gguf::quant::{self, QuantError};
use modelconv_gguf::GgmlType;
use serde_json::Value as Json;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quant")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn manifest() -> Json {
    serde_json::from_slice(&read("manifest.json")).unwrap()
}

fn first_diff_block(a: &[u8], b: &[u8], block: usize) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .map(|i| i / block)
        .or((a.len() != b.len()).then_some(usize::MAX))
}

fn assert_same_floats(t: GgmlType, got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{t} {what}: length");
    if let Some(i) = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
    {
        panic!(
            "{t} {what}: value {i} (block {}) is {:e} ({:#010x}), reference {:e} ({:#010x})",
            i / t.block_size as usize,
            got[i],
            got[i].to_bits(),
            want[i],
            want[i].to_bits()
        );
    }
}

#[test]
fn quantize_and_dequantize_match_the_references_bit_for_bit() {
    let m = manifest();
    let x = floats(&read(m["input"].as_str().unwrap()));
    assert_eq!(x.len() as u64, m["n_values"].as_u64().unwrap());
    let mut checked = Vec::new();
    for (name, e) in m["quantize"].as_object().unwrap() {
        let t = GgmlType::from_name(name).unwrap();
        let want_q = read(e["q"].as_str().unwrap());
        let q = quant::quantize(t, &x).unwrap();
        if let Some(b) = first_diff_block(&q, &want_q, t.type_size as usize) {
            panic!("{t}: quantized block {b} differs from {}", e["oracle"]);
        }
        let par = quant::quantize_par(t, &x, 1024).unwrap();
        assert_eq!(par, q, "{t}: parallel quantize differs");
        let dq = quant::dequantize(t, &want_q).unwrap();
        assert_same_floats(
            t,
            &dq,
            &floats(&read(e["dq"].as_str().unwrap())),
            "dequantize",
        );
        assert_same_floats(
            t,
            &quant::dequantize_par(t, &want_q).unwrap(),
            &dq,
            "parallel dequantize",
        );
        checked.push(name.clone());
    }
    for (name, e) in m["dequantize"].as_object().unwrap() {
        let t = GgmlType::from_name(name).unwrap();
        let raw = read(e["q"].as_str().unwrap());
        let dq = quant::dequantize(t, &raw).unwrap();
        assert_same_floats(
            t,
            &dq,
            &floats(&read(e["dq"].as_str().unwrap())),
            "dequantize",
        );
        checked.push(format!("{name} (dequantize)"));
    }
    eprintln!("bit-exact over {} values: {}", x.len(), checked.join(", "));
    for must in [
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "F16", "BF16", "Q2_K", "Q6_K",
    ] {
        assert!(checked.iter().any(|c| c == must), "no reference for {must}");
    }
}

#[test]
fn partial_blocks_are_a_catchable_error() {
    let x = vec![0.5f32; 48];
    for t in [GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_1] {
        assert!(matches!(
            quant::quantize(t, &x),
            Err(QuantError::NotBlockMultiple { len: 48, .. })
        ));
        assert!(matches!(
            quant::quantize_par(t, &x, 48),
            Err(QuantError::NotBlockMultiple { .. })
        ));
    }
    assert!(matches!(
        quant::dequantize(GgmlType::Q8_0, &[0u8; 35]),
        Err(QuantError::NotWholeBlocks { .. })
    ));
    assert!(matches!(
        quant::quantize(GgmlType::IQ2_XXS, &[0.0; 256]),
        Err(QuantError::Unsupported { .. })
    ));
}
