//! Arbitrary bytes as a Parquet weight file: footer, thrift metadata, schema
//! and (if accepted) every tensor's values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_parquet::reader;

static QUIET: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The reader contains arrow-rs's asserts on malformed pages
    // (`decode_guard`), so a panic hook that aborts would report them. A
    // silent hook instead: a panic that escapes still reaches libfuzzer-sys's
    // catch_unwind, which aborts, so real crashes are still found.
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let path = modelconv_fuzz::write_input("in.parquet", data);
    if let Ok(w) = reader::read_file(&path) {
        modelconv_fuzz::touch_all(&w.tensors);
    }
});
