//! Arbitrary bytes as a PyTorch checkpoint (zip, TorchScript, legacy or tar,
//! chosen by content), strict and permissive: a value or a typed error;
//! accepted tensors read back with their declared length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_formats::pytorch;

fuzz_target!(|data: &[u8]| {
    let path = modelconv_fuzz::write_input("in.pt", data);
    for permissive in [false, true] {
        if let Ok(f) = pytorch::read_file(&path, permissive) {
            for t in &f.tensors {
                assert_eq!(t.source.len(), t.info.nbytes(), "{}", t.info.name);
            }
            modelconv_fuzz::touch_all(&f.tensors);
        }
    }
    // The scanner (`modelconv scan`) reads every member and pickle.
    let _ = pytorch::scan::scan_file(&path);
});
