//! Shared by the fuzz targets.
//!
//! libfuzzer-sys installs a panic hook that aborts on *every* panic, including one the library
//! itself catches (`mail::view::parse` and `core::reply` run mail-parser and calcard under
//! `catch_unwind`, so that a panic in a dependency makes the mail "unparseable" instead of taking
//! the daemon down). With that hook the fuzzer stops at the first caught dependency panic and
//! never gets past it. [`panics_that_escape_only`] replaces the hook with one that prints each
//! panic location once; a panic that escapes the target still aborts (libfuzzer-sys wraps the
//! target in `catch_unwind` and aborts on an escaped panic), so what is reported as a crash is
//! exactly what would take the daemon down. Set `FUZZ_ABORT_ON_ANY_PANIC=1` to keep the strict
//! hook and also stop at panics the library catches.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

pub fn panics_that_escape_only() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("FUZZ_ABORT_ON_ANY_PANIC").is_some() {
            return;
        }
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        std::panic::set_hook(Box::new(|info| {
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                eprintln!("PANIC (first at this location; fatal only if it escapes the target) at {at}: {msg}");
            }
        }));
    });
}
