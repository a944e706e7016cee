//! WeightLoader against the reference `safetensors` crate and quantized
//! Parquet written by modelconv.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use modelconv::{ConvertOptions, NoProgress, QuantizeOptions, WeightLoader};

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

#[test]
fn lists_and_reads_tensors_like_the_reference_reader() {
    let path = data().join("tiny-bert/model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let loader = WeightLoader::open(path.to_str().unwrap()).unwrap();
    assert_eq!(loader.len(), st.len());
    for (name, view) in st.tensors() {
        assert!(loader.contains(&name));
        assert_eq!(loader.info(&name).unwrap().shape, view.shape());
        assert_eq!(&*loader.get(&name).unwrap(), view.data());
        let f: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(loader.get_f32(&name).unwrap(), f);
    }
    let err = loader
        .get("encoder.layer.9.output.dense.weight")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no tensor named 'encoder.layer.9.output.dense.weight'"),
        "{err}"
    );
}

#[test]
fn dequantizes_int8_from_parquet_v2_within_half_a_step() {
    let tmp = tempfile::tempdir().unwrap();
    let src = data().join("tiny-bert");
    let out = tmp.path().join("q.parquet");
    let opts = ConvertOptions {
        quantize: Some(QuantizeOptions::default()),
        parquet: modelconv::ParquetOptions {
            schema: None, // V2 chosen automatically for quantized tensors
            ..Default::default()
        },
        ..ConvertOptions::default()
    };
    modelconv::convert(src.to_str().unwrap(), &out, &opts, &NoProgress).unwrap();
    let orig = WeightLoader::open(src.to_str().unwrap()).unwrap();
    let q = WeightLoader::open(out.to_str().unwrap()).unwrap();
    let name = "encoder.layer.0.attention.self.query.weight";
    assert_eq!(q.info(name).unwrap().dtype, modelconv::DType::I8);
    let scales = q.get_f32(&format!("{name}_scale")).unwrap();
    let rows = orig.info(name).unwrap().shape[0];
    assert_eq!(scales.len(), rows);
    let a = orig.get_f32(name).unwrap();
    let b = q.get_f32(name).unwrap();
    let per_row = a.len() / rows;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let s = f64::from(scales[i / per_row]);
        assert!(
            (f64::from(*x) - f64::from(*y)).abs() <= s / 2.0 * (1.0 + 1e-4),
            "element {i}: {x} vs {y}"
        );
    }
    // (the 1e-4 slack is the f32 rounding of the dequantized value itself)
    // Unquantized tensors are exact.
    assert_eq!(
        q.get_f32("embeddings.LayerNorm.bias").unwrap(),
        orig.get_f32("embeddings.LayerNorm.bias").unwrap()
    );
}
