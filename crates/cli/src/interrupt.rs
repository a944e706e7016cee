//! Ctrl-C during `convert` and `fake`: the first SIGINT asks the engine to
//! stop at the next chunk and keep what it wrote, with its journal, for
//! `--resume` (the CLI then says so and exits 130); a second one exits at
//! once with 130, leaving the same state a kill would (also resumable).
//!
//! Hand-written over `sigaction` rather than a crate: the handler only
//! flips an atomic flag or calls `_exit`, both async-signal-safe.

use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code after an interrupt (128 + SIGINT, as shells report it).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        #[allow(unsafe_code)]
        unsafe {
            libc::_exit(i32::from(EXIT_INTERRUPTED))
        };
    }
}

/// Installs the SIGINT handler.
pub(crate) fn install() {
    // SAFETY: a zeroed `sigaction` is a valid value; the handler has the
    // signature `sa_sigaction` expects without SA_SIGINFO and only touches
    // an atomic or calls `_exit`.
    #[allow(unsafe_code)]
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = libc::SA_RESTART;
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
}

/// True once Ctrl-C was pressed.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
