//! Arbitrary bytes as an `.npy` header, an `.npy` file and an `.npz` archive.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_formats::numpy;

fuzz_target!(|data: &[u8]| {
    let _ = numpy::parse_header(std::path::Path::new("fuzz.npy"), data);
    let npy = modelconv_fuzz::write_input("in.npy", data);
    if let Ok((tensors, _)) = numpy::read_npy(&npy) {
        modelconv_fuzz::touch_all(&tensors);
    }
    let npz = modelconv_fuzz::write_input("in.npz", data);
    if let Ok((tensors, _)) = numpy::read_npz(&npz) {
        modelconv_fuzz::touch_all(&tensors);
    }
});
