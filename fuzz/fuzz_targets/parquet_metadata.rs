//! Arbitrary bytes as a Parquet weight file: footer, thrift metadata, schema
//! and (if accepted) every tensor's values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_parquet::reader;

fuzz_target!(|data: &[u8]| {
    let path = modelconv_fuzz::write_input("in.parquet", data);
    if let Ok(w) = reader::read_file(&path) {
        modelconv_fuzz::touch_all(&w.tensors);
    }
});
