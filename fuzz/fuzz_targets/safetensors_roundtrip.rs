//! Round trip: any bytes the safetensors reader accepts are written by our
//! writer (through the real engine) and read back identically — same
//! names, dtypes, shapes, tensor bytes and metadata.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use modelconv_core::engine::{self, EngineOptions, OutTensor, OutputPlan, PlannedFile, Transform};
use modelconv_core::progress::NoProgress;
use modelconv_formats::safetensors;

type Summary = BTreeMap<String, (String, Vec<usize>, Vec<u8>)>;

fn summary(st: &safetensors::SafetensorsFile) -> Summary {
    st.tensors
        .iter()
        .map(|t| {
            let bytes = t
                .source
                .read(0..t.source.len())
                .map(|b| b.into_owned())
                .unwrap_or_default();
            (
                t.info.name.clone(),
                (t.info.dtype.name().to_string(), t.info.shape.clone(), bytes),
            )
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let path = modelconv_fuzz::write_input("rt-in.safetensors", data);
    let Ok(st) = safetensors::read_file(&path) else {
        return;
    };
    let before = summary(&st);
    let outs: Vec<OutTensor> = st
        .tensors
        .iter()
        .map(|t| OutTensor {
            info: t.info.clone(),
            source: Arc::clone(&t.source),
            transform: Transform::Copy,
        })
        .collect();
    let refs: Vec<&OutTensor> = outs.iter().collect();
    let content = safetensors::layout(&refs, &st.metadata).expect("layout of an accepted file");
    let root = modelconv_fuzz::scratch_dir().join("rt-out");
    let plan = OutputPlan {
        root: root.clone(),
        name: "rt".into(),
        files: vec![PlannedFile {
            rel_path: "out.safetensors".into(),
            content,
        }],
    };
    let opts = EngineOptions {
        threads: 1,
        check_space: false,
        ..EngineOptions::default()
    };
    engine::run(&plan, &opts, &NoProgress).expect("engine writes an accepted file");
    let back = safetensors::read_file(&root.join("out.safetensors")).expect("our output reads back");
    assert_eq!(back.metadata, st.metadata, "metadata");
    assert_eq!(summary(&back), before, "tensors");
});
