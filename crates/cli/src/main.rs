//! The `modelconv` command-line tool.
//!
//! Exit codes: 0 success; 1 bad input or options (the user can fix it);
//! 2 command-line usage error; 3 environment failure (I/O, disk full,
//! permissions); 4 verification failed (`verify`, `convert --validate`);
//! 5 `scan` found something of medium severity or worse;
//! 70 internal error (a bug: please report it).
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// Appends a line to a `String` buffer (output is written once, by [`emit`]).
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

mod args;
mod check;
mod convert;
mod fake;
mod inspect;
mod interrupt;
mod manual;
mod progress;
mod scan;
mod units;
mod verify;

use std::process::ExitCode;

use clap::Parser;
use modelconv::{Category, Error};

use crate::args::{Cli, Command};

/// Exit code for errors the user can fix (bad input, bad options).
pub const EXIT_USER: u8 = 1;
/// Exit code for environment failures (I/O, disk full).
pub const EXIT_ENV: u8 = 3;
/// Exit code when a verification fails.
pub const EXIT_VERIFY: u8 = 4;

/// A verification that ran and failed (exit code [`EXIT_VERIFY`]).
#[derive(Debug)]
pub struct VerificationFailed(pub String);

impl std::fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "verification failed: {}", self.0)
    }
}

impl std::error::Error for VerificationFailed {}

/// Exit code when `scan` finds something.
pub const EXIT_SCAN: u8 = 5;

/// `scan` found something (exit code [`EXIT_SCAN`]).
#[derive(Debug)]
pub struct ScanFindings(pub usize);

impl std::fmt::Display for ScanFindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scan: {} file(s) with findings of medium severity or worse",
            self.0
        )
    }
}

impl std::error::Error for ScanFindings {}

/// Exit code for internal errors.
pub const EXIT_INTERNAL: u8 = 70;

/// Maps a library error to the process exit code.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<ScanFindings>().is_some() {
        return EXIT_SCAN;
    }
    if err.downcast_ref::<VerificationFailed>().is_some() {
        return EXIT_VERIFY;
    }
    match err.downcast_ref::<Error>().map(Error::category) {
        Some(Category::User) => EXIT_USER,
        Some(Category::Environment) => EXIT_ENV,
        Some(Category::Internal) => EXIT_INTERNAL,
        None => EXIT_USER,
    }
}

fn is_cancelled(err: &anyhow::Error) -> bool {
    matches!(err.downcast_ref::<Error>(), Some(Error::Cancelled))
}

/// Writes `text` to stdout. A closed pipe (`modelconv inspect x | head`)
/// is not an error.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Makes glibc keep freed memory for reuse.
///
/// By default glibc hands every freed block above a few MiB back to the
/// kernel, so each chunk buffer of a conversion is a fresh mapping that the
/// kernel zeroes and maps page by page: a 2.2 GB bf16 → f16 conversion took
/// 300 000 page faults and more system time than the cast itself, and a
/// Parquet write spent a third of its time there. With blocks up to 256 MiB
/// served from the heap and up to 512 MiB of free heap kept, the buffers
/// are reused (peak RSS is unchanged: it is what the conversion holds at once).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets allocator parameters; it is called once,
    // first thing in `main`, before any other thread exists.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A value outside an option's set (`--dtype f17`) is a bad
            // option, exit 1 like every other; a malformed command line is
            // a usage error (2); --help and --version exit 0.
            let code = match e.kind() {
                clap::error::ErrorKind::InvalidValue | clap::error::ErrorKind::ValueValidation => {
                    EXIT_USER
                }
                _ => u8::try_from(e.exit_code()).unwrap_or(2),
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Writing reuses big chunk buffers; reading a model's structure does not
    // (and keeping freed memory would count every intermediate of parsing a
    // million-entry header in the peak).
    if matches!(cli.command, Command::Convert(_) | Command::Fake(_)) {
        keep_freed_memory();
        interrupt::install();
    }
    let resumable = matches!(cli.command, Command::Convert(_));
    let result = match cli.command {
        Command::Convert(args) => convert::run(*args),
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Fake(args) => fake::run(args),
        Command::CheckInference(args) => check::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Completions(args) => manual::completions(&args),
        Command::Man(args) => manual::man(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if interrupt::interrupted() && is_cancelled(&err) => {
            if resumable {
                eprintln!(
                    "interrupted — rerun with --resume to continue (what was written is kept with its journal; --overwrite starts over)"
                );
            } else {
                eprintln!("interrupted — nothing was left behind");
            }
            ExitCode::from(interrupt::EXIT_INTERRUPTED)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}
