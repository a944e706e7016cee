//! Arbitrary bytes as a `.safetensors` file: a value or a typed error, never
//! a panic; every accepted tensor lies inside the file and reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_formats::safetensors;

fuzz_target!(|data: &[u8]| {
    let path = modelconv_fuzz::write_input("in.safetensors", data);
    if let Ok(st) = safetensors::read_file(&path) {
        let total: usize = st.tensors.iter().map(|t| t.source.len()).sum();
        assert!(total <= data.len(), "tensors cover more bytes than the file");
        for t in &st.tensors {
            assert_eq!(t.source.len(), t.info.nbytes(), "{}", t.info.name);
        }
        modelconv_fuzz::touch_all(&st.tensors);
    }
});
