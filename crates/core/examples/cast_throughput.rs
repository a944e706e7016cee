//! Single-thread throughput of the dtype casts on 64 MiB of input:
//! `cargo run --release -p modelconv-core --example cast_throughput [FROM TO ...]`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use modelconv_core::cast::cast;
use modelconv_core::DType;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pairs: Vec<(DType, DType)> = if args.is_empty() {
        vec![
            (DType::BF16, DType::F16),
            (DType::F32, DType::F16),
            (DType::F16, DType::F32),
            (DType::F32, DType::BF16),
        ]
    } else {
        args.chunks_exact(2)
            .filter_map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
            .collect()
    };
    for (from, to) in pairs {
        let n = (64 << 20) / from.size();
        // Normal-range values: small magnitudes, both signs.
        let mut x = 1u32;
        let wide: Vec<u8> = (0..n)
            .flat_map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (((x >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.2).to_le_bytes()
            })
            .collect();
        let mut input = vec![0u8; n * from.size()];
        if let Err(e) = cast(DType::F32, from, &wide, &mut input) {
            eprintln!("F32 -> {from}: {e}");
            continue;
        }
        let mut out = vec![0u8; n * to.size()];
        let reps = 5;
        let t = Instant::now();
        for _ in 0..reps {
            if let Err(e) = cast(from, to, &input, &mut out) {
                eprintln!("{from} -> {to}: {e}");
                break;
            }
        }
        let s = t.elapsed().as_secs_f64() / f64::from(reps);
        println!(
            "{from} -> {to}: {:.0} M elements/s, {:.2} GB/s of input",
            n as f64 / s / 1e6,
            input.len() as f64 / s / 1e9
        );
    }
}
