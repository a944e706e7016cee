//! Property tests: no input makes the reader panic, and whatever it accepts
//! is self-consistent (every tensor's bytes lie inside the file, no two
//! overlap, names are unique). Inputs: random bytes behind a valid magic
//! and version, and single/multi-byte mutations and truncations of a real
//! gguf-py file and of the hostile corpus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/files")
            .join(name),
    )
    .unwrap()
}

/// Parses `bytes`; on success checks the invariants, then reads every
/// tensor through its source (dequantizing where there is a kernel).
fn check(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.gguf");
    std::fs::write(&p, bytes).unwrap();
    let Ok(f) = modelconv_gguf::read(&p) else {
        return;
    };
    let mut names = HashSet::new();
    let mut spans = Vec::new();
    for t in &f.tensors {
        assert!(names.insert(t.name.clone()));
        let r = f.tensor_range(t).unwrap();
        assert!(r.end <= bytes.len());
        assert!(r.start as u64 >= f.data_offset);
        spans.push(r);
        let (_, src) = modelconv_gguf::tensor_source(&f, t).unwrap();
        let n = src.len().min(1 << 16);
        let _ = src.read(0..n).unwrap();
    }
    spans.sort_by_key(|r| r.start);
    for w in spans.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"GGUF\x03\x00\x00\x00".to_vec();
        b.extend(tail);
        check(&b);
    }

    #[test]
    fn mutated_real_files_never_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut b = seed(["all_types.gguf", "align64.gguf"][which]);
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        if truncate {
            b.truncate(cut.index(b.len()));
        }
        check(&b);
    }

    #[test]
    fn mutated_header_fields_never_panic(
        pos in 0usize..1200,
        value in prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(1 << 63), Just(1 << 32), Just(u64::from(u32::MAX)), any::<u64>()],
    ) {
        // Overwrite an 8-byte window of the metadata/tensor-info region with
        // boundary values: counts, lengths, dims and offsets all live there.
        let mut b = seed("all_types.gguf");
        let pos = pos.min(b.len() - 8);
        b[pos..pos + 8].copy_from_slice(&value.to_le_bytes());
        check(&b);
    }
}

#[test]
fn every_truncation_of_a_real_file_is_an_error_not_a_panic() {
    let b = seed("all_types.gguf");
    // The header (metadata + tensor infos) is what the parser walks.
    let (header_end, data_end) = {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.gguf");
        std::fs::write(&p, &b).unwrap();
        let f = modelconv_gguf::read(&p).unwrap();
        let last = f.tensors.last().unwrap();
        (f.data_offset as usize, f.tensor_range(last).unwrap().end)
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.gguf");
    for cut in (0..header_end).chain([data_end - 1]) {
        std::fs::write(&p, &b[..cut]).unwrap();
        assert!(modelconv_gguf::read(&p).is_err(), "cut at {cut}");
    }
}
