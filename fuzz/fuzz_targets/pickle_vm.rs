//! The pickle interpreter with the strict and the permissive torch host
//! (as `convert` and `inspect`/`scan` use it): never a panic, never a call
//! of anything outside the allow-list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modelconv_formats::pytorch::host::{GlobalStatus, PidStyle, TorchHost};
use modelconv_formats::pytorch::pickle::{self, Limits, Vm};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_stack: 1 << 14,
        max_marks: 1 << 10,
        max_memo: 1 << 14,
        max_objects: 1 << 16,
        max_cells: 1 << 18,
    };
    for (style, permissive, torchscript) in [
        (PidStyle::Zip, false, false),
        (PidStyle::Legacy, true, false),
        (PidStyle::Zip, true, true),
    ] {
        let mut host = TorchHost::new(style, torchscript);
        host.permissive = permissive;
        let mut vm = Vm::new(limits);
        let r = pickle::run(data, &mut host, &mut vm);
        if r.is_ok() && !permissive {
            assert!(
                host.globals.values().all(|s| *s == GlobalStatus::Allowed),
                "strict host accepted a forbidden global: {:?}",
                host.globals
            );
        }
        if let Ok((_, used)) = r {
            assert!(used <= data.len());
        }
    }
});
