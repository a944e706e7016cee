//! Full-model load throughput of [`modelconv::WeightLoader`] on one thread:
//! `cargo run --release -p modelconv --example load_throughput -- PATH [PATH ...]`.
//!
//! For each path: open it, read every tensor's bytes into memory (`get`, owned
//! or borrowed as the format allows, then touched once per 4 KiB page),
//! repeat `REPS` times (env, default 7) after one warm-up, and print the
//! median wall and CPU time and the bytes per second. Everything runs on the
//! calling thread, so the rate is a per-core rate. One JSON line per path
//! goes to stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use modelconv::WeightLoader;

/// CPU time of the whole process in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Opens `path` and reads every tensor; returns (bytes, checksum of sampled bytes).
fn load(path: &str) -> Result<(usize, u64), String> {
    let loader = WeightLoader::open(path).map_err(|e| e.to_string())?;
    let names: Vec<String> = loader.tensors().map(|t| t.name.clone()).collect();
    let (mut bytes, mut sum) = (0usize, 0u64);
    for name in &names {
        let data = loader.get(name).map_err(|e| e.to_string())?;
        bytes += data.len();
        // Touch one byte per page so borrowed (memory-mapped) data is really read.
        sum = data
            .iter()
            .step_by(4096)
            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    }
    Ok((bytes, sum))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    for path in std::env::args().skip(1) {
        if let Err(e) = load(&path) {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
        let (mut walls, mut cpus, mut bytes, mut sum) = (Vec::new(), Vec::new(), 0, 0);
        for _ in 0..reps {
            let (t, c) = (Instant::now(), cpu_seconds());
            match load(&path) {
                Ok((b, s)) => (bytes, sum) = (b, s),
                Err(e) => {
                    eprintln!("{path}: {e}");
                    std::process::exit(1);
                }
            }
            walls.push(t.elapsed().as_secs_f64());
            cpus.push(cpu_seconds() - c);
        }
        let (wall, cpu) = (median(walls), median(cpus));
        eprintln!(
            "{path}: {:.1} MB in {wall:.4} s wall = {:.3} GB/s; {cpu:.4} CPU-s = {:.3} GB/s per CPU-second",
            bytes as f64 / 1e6,
            bytes as f64 / wall / 1e9,
            bytes as f64 / cpu / 1e9
        );
        println!(
            "{{\"path\": {path:?}, \"bytes\": {bytes}, \"reps\": {reps}, \"median_wall_sec\": {wall}, \"median_cpu_sec\": {cpu}, \"checksum\": {sum}}}"
        );
    }
}
