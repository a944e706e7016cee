//! The terminal progress bar: an indicatif implementation of the library's
//! `Reporter` trait. Draws on stderr, and only when stderr is a terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modelconv::Reporter;

/// Progress bar over bytes processed, with tensors counted in the message.
/// Sizes in decimal units (kB, MB, GB), as the summaries print them.
pub(crate) struct Bar {
    bar: ProgressBar,
    quiet: bool,
    tensors_total: std::sync::atomic::AtomicU64,
    tensors_done: std::sync::atomic::AtomicU64,
}

impl Bar {
    /// A bar; hidden when `quiet` or stderr is not a terminal (indicatif checks).
    pub(crate) fn new(quiet: bool) -> Self {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar {
            bar,
            quiet,
            tensors_total: 0.into(),
            tensors_done: 0.into(),
        }
    }
}

impl Reporter for Bar {
    fn start(&self, phase: &str, total_tensors: u64, total_bytes: u64) {
        use std::sync::atomic::Ordering;
        self.tensors_total.store(total_tensors, Ordering::Relaxed);
        self.bar.set_prefix(phase.to_string());
        self.bar.set_length(total_bytes);
    }

    fn advance(&self, bytes: u64, tensors_done: u64) {
        use std::sync::atomic::Ordering;
        let done = self.tensors_done.fetch_add(tensors_done, Ordering::Relaxed) + tensors_done;
        self.bar.inc(bytes);
        if tensors_done > 0 {
            let total = self.tensors_total.load(Ordering::Relaxed);
            self.bar.set_message(format!("{done}/{total} tensors"));
        }
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("note: {message}"));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn cancelled(&self) -> bool {
        crate::interrupt::interrupted()
    }
}
