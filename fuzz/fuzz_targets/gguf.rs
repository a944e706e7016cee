//! Arbitrary bytes as a GGUF file: header, metadata, tensor table; an
//! accepted file has every tensor inside the file, readable, and
//! dequantizable (or refused with a typed error); writing the accepted
//! metadata and tensors again gives a file that reads back identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_gguf::container;
use modelconv_gguf::writer::{self, TensorHeader};

fuzz_target!(|data: &[u8]| {
    let path = modelconv_fuzz::write_input("in.gguf", data);
    let Ok(f) = container::read(&path) else {
        return;
    };
    let mut tensors = Vec::new();
    for t in &f.tensors {
        let bytes = f.tensor_data(t).expect("an accepted tensor lies inside the file");
        assert_eq!(bytes.len() as u64, t.nbytes, "{}", t.name);
        let _ = f.dequantize(t);
        tensors.push((t, bytes));
    }
    let shapes: Vec<Vec<usize>> = f.tensors.iter().map(|t| t.shape()).collect();
    let heads: Vec<(TensorHeader<'_>, &[u8])> = tensors
        .iter()
        .zip(&shapes)
        .map(|((t, b), s)| {
            (
                TensorHeader {
                    name: &t.name,
                    ggml_type: t.ggml_type,
                    shape: s,
                },
                *b,
            )
        })
        .collect();
    // v2 files and odd alignments are read but may be refused for writing.
    let mut out = Vec::new();
    if writer::write_to(&mut out, &f.metadata, &heads).is_err() {
        return;
    }
    let back_path = modelconv_fuzz::write_input("back.gguf", &out);
    let back = container::read(&back_path).expect("our own output reads back");
    assert_eq!(back.tensors.len(), f.tensors.len());
    for (a, b) in back.tensors.iter().zip(&f.tensors) {
        assert_eq!((&a.name, &a.dims, a.ggml_type), (&b.name, &b.dims, b.ggml_type));
        assert_eq!(back.tensor_data(a).ok(), f.tensor_data(b).ok(), "{}", a.name);
    }
    // Metadata compared bit for bit (a NaN value is not equal to itself):
    // writing what was read back gives the same bytes again.
    let mut again = Vec::new();
    writer::write_to(&mut again, &back.metadata, &heads).expect("rewrite");
    assert!(again == out, "metadata changed in a round trip");
});
