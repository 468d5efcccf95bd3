//! There is no decision-line reader yet, so this target fuzzes the other readers of free text:
//! the case-number finder on subjects and the configuration parser on arbitrary TOML.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use samverkan::config;
use samverkan::core::submission::find_case_ref;

fuzz_target!(|data: &[u8]| {
    common::panics_that_escape_only();
    let text = String::from_utf8_lossy(data);

    if let Some(r) = find_case_ref(&text) {
        let b = r.as_bytes();
        assert_eq!(b.len(), 9, "{r:?}");
        assert!(b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5..].iter().all(u8::is_ascii_digit), "{r:?}");
        assert!(text.contains(&r));
    }

    match config::parse(&text, Path::new("/nonexistent/fuzz/samverkan.toml")) {
        Ok(cfg) => {
            // A configuration that validates names at least one forum, each with a valid mailbox.
            assert!(!cfg.forums.is_empty());
            for f in &cfg.forums {
                assert!(config::valid_address(&f.mailbox), "{:?}", f.mailbox);
            }
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "an error without a named problem");
            for p in &problems {
                assert!(!p.key.is_empty() && !p.message.is_empty(), "{p:?}");
            }
        }
    }
});
