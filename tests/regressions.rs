//! Inputs found by fuzzing (`fuzz/`), minimized, each run through the function the fuzz target
//! found it with: nothing may panic, and the result must be sane.

use std::path::Path;

use samverkan::core::inspect::inspect;
use samverkan::core::reply::read_reply;
use samverkan::mail::bounce::read_bounce;
use samverkan::mail::view::parse;

fn input(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `mail` target's checks.
fn through_mail_target(raw: &[u8]) -> serde_json::Value {
    let v = inspect(raw, &|_| None);
    assert!(v["kind"].is_string(), "{v}");
    if let Some(view) = parse(raw) {
        assert_eq!(view.size, raw.len());
        let _ = read_reply(&view);
    }
    if let Some(b) = read_bounce(raw) {
        assert!(
            b.failed.iter().all(|f| f.contains('@') && !f.contains(char::is_whitespace)),
            "{b:?}"
        );
    }
    v
}

/// mail-parser 0.11.9 panics ("Invalid part ID, could not find multipart.",
/// parsers/message.rs:485) on a multipart whose boundary parameter ends in a bare CR, holding
/// `message/rfc822` parts. `view::parse` already caught it; `bounce::read_bounce` did not, and
/// panicked.
#[test]
fn mail_parser_invalid_part_id() {
    let raw = input("mail-parser-invalid-part-id.eml");
    let v = through_mail_target(&raw);
    // Unparseable for mail-parser: an "other" mail, never answered.
    assert_eq!(v["kind"], "other");
    assert_eq!(v["error"], "unparseable");
    assert_eq!(read_bounce(&raw), None);
}

/// Every file under tests/regressions/ goes through the mail target's checks, so that an input
/// added there is covered even before it gets a test of its own.
#[test]
fn every_regression_input_through_the_mail_readers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/regressions") {
        let path = entry.expect("entry").path();
        let raw = std::fs::read(&path).expect("read");
        through_mail_target(&raw);
        n += 1;
    }
    assert!(n > 0);
}
