//! Raw mail bytes through everything that reads an incoming mail: parse, classify and the
//! submission reader (`inspect`), the calendar-reply reader, and the delivery-report reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use samverkan::core::inspect::inspect;
use samverkan::core::reply::read_reply;
use samverkan::mail::bounce::read_bounce;
use samverkan::mail::view::parse;

fuzz_target!(|data: &[u8]| {
    common::panics_that_escape_only();
    let v = inspect(data, &|_| None);
    // inspect always answers with a kind.
    assert!(v.get("kind").and_then(|k| k.as_str()).is_some(), "no kind: {v}");

    if let Some(view) = parse(data) {
        assert_eq!(view.size, data.len());
        if let Some(r) = read_reply(&view) {
            assert!(!r.partstat.is_empty());
        }
    }

    if let Some(b) = read_bounce(data) {
        for f in &b.failed {
            assert!(f.contains('@') && !f.contains(char::is_whitespace), "odd failed recipient {f:?}");
        }
    }
});
