//! Single-thread throughput of the block quantizers on Gaussian data.
//!
//!     cargo run --release -p modelconv-gguf --example kquant_throughput [MB] [TYPE...]
//!
//! Prints MB/s of f32 input per type and a checksum of the output bytes (so a
//! kernel change that alters results shows up as a different checksum).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use modelconv_gguf::{quant, GgmlType};
use sha2::{Digest, Sha256};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(32);
    let names: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ["Q4_K", "Q6_K", "Q5_K", "Q3_K", "Q2_K", "Q8_0", "Q4_0"]
            .map(String::from)
            .to_vec()
    };
    let n = mb * 1_000_000 / 4 / 256 * 256;
    // Box-Muller over a xorshift stream: no rand dependency, reproducible.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    };
    let x: Vec<f32> = (0..n)
        .map(|_| {
            let (u, v) = (next(), next());
            0.02 * (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect();
    for name in names {
        let Some(t) = GgmlType::from_name(&name) else {
            eprintln!("unknown type {name}");
            continue;
        };
        let t0 = Instant::now();
        let out = match quant::quantize(t, &x) {
            Ok(out) => out,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let sec = t0.elapsed().as_secs_f64();
        let sum: String = Sha256::digest(&out)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        println!(
            "{name:<6} {:8.1} MB/s  ({} MB in {sec:.3} s)  sha256 {}",
            (n * 4) as f64 / 1e6 / sec,
            n * 4 / 1_000_000,
            sum
        );
    }
}
