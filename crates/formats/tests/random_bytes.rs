//! "Random bytes never panic": every parser, fed arbitrary bytes (and
//! arbitrary bytes behind each format's magic), returns a value or a typed
//! error. Runs on stable in CI; the cargo-fuzz targets go further.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use modelconv_formats::pytorch::pickle::{
    self, Host, Limits, PResult, PickleError, PickleErrorKind, Value, Vm,
};
use modelconv_formats::{numpy, weights};
use proptest::prelude::*;

/// A host that rejects globals and echoes persistent ids.
struct Plain;

impl Host for Plain {
    fn global(&mut self, _: &mut Vm, m: &str, n: &str) -> PResult<Value> {
        Err(PickleError::new(
            PickleErrorKind::Forbidden,
            format!("{m}.{n}"),
        ))
    }
    fn call(&mut self, _: &mut Vm, _: &Value, _: Value) -> PResult<Value> {
        Err(PickleError::malformed("call"))
    }
    fn persistent_load(&mut self, _: &mut Vm, pid: Value) -> PResult<Value> {
        Ok(pid)
    }
}

fn read_as_file(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
    // Reading must not panic; reading every tensor it accepted must not either.
    if let Ok(w) = weights::read(&path, true) {
        for t in &w.tensors {
            let _ = t.source.read(0..t.source.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pickle_vm(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut vm = Vm::new(Limits { max_stack: 4096, max_memo: 4096, max_objects: 4096, max_cells: 1 << 16, max_marks: 256 });
        let _ = pickle::run(&bytes, &mut Plain, &mut vm);
    }

    #[test]
    fn pickle_vm_after_proto(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut data = vec![0x80, 0x04];
        data.extend_from_slice(&bytes);
        let mut vm = Vm::new(Limits::default());
        let _ = pickle::run(&data, &mut Plain, &mut vm);
    }

    #[test]
    fn safetensors_files(header in "\\PC{0,200}", tail in proptest::collection::vec(any::<u8>(), 0..64), lie in any::<bool>()) {
        let n = if lie { header.len() as u64 * 3 } else { header.len() as u64 };
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&tail);
        read_as_file("x.safetensors", &bytes);
    }

    #[test]
    fn npy_headers(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut data = b"\x93NUMPY\x01\x00".to_vec();
        data.extend_from_slice(&bytes);
        let _ = numpy::parse_header(std::path::Path::new("x.npy"), &data);
        read_as_file("x.npy", &data);
    }

    #[test]
    fn any_file(bytes in proptest::collection::vec(any::<u8>(), 0..600), ext in prop::sample::select(vec!["pt", "npz", "safetensors", "bin"])) {
        read_as_file(&format!("x.{ext}"), &bytes);
    }

    #[test]
    fn zip_and_tar_prefixes(bytes in proptest::collection::vec(any::<u8>(), 0..600), tar in any::<bool>()) {
        let mut data = if tar { vec![0u8; 257] } else { b"PK\x03\x04".to_vec() };
        if tar {
            data.extend_from_slice(b"ustar");
        }
        data.extend_from_slice(&bytes);
        read_as_file("x.pt", &data);
    }
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(rel),
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Real files with one byte changed, a few bytes overwritten, or cut short.
    #[test]
    fn mutated_real_files(
        which in 0usize..6,
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<bool>(),
    ) {
        let (rel, name) = [
            ("torch/p4_basic.pt", "x.pt"),
            ("torch/p2_basic.pt", "x.pt"),
            ("torch/legacy.pt", "x.pt"),
            ("torch/scripted.pt", "x.pt"),
            ("torch/tar_legacy.tar", "x.tar"),
            ("tiny/all_dtypes.safetensors", "x.safetensors"),
        ][which];
        let mut bytes = fixture(rel);
        let i = pos.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        read_as_file(name, &bytes);
    }
}
