//! Hostile and broken input: nothing may panic, and everything must finish
//! in time that grows linearly with the input.

use std::time::{Duration, Instant};

use samverkan::core::inspect::inspect;
use samverkan::core::submission::read_submission;
use samverkan::mail::html::html_to_text;
use samverkan::mail::view::{MailView, parse};

fn no_units(_: &str) -> Option<String> {
    None
}

/// Generous bounds: the test also runs unoptimised.
const LIMIT: Duration = Duration::from_secs(20);

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < LIMIT, "{what} took {took:?}");
    out
}

fn mail(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "From: a@kommun.test\r\nTo: samverkan@kommun.test\r\nSubject: x\r\nMessage-ID: <p@x>\r\n\
         MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn deeply_nested_mime() {
    let depth = 500;
    let mut raw = b"From: a@kommun.test\r\nSubject: nested\r\nMIME-Version: 1.0\r\n".to_vec();
    for i in 0..depth {
        raw.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nNamn: A\r\n");
    for i in (0..depth).rev() {
        raw.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    let v = timed("nested mime", || inspect(&raw, &no_units));
    assert!(v.get("kind").is_some());
    // Nested message/rfc822 as well.
    let mut raw = Vec::new();
    for _ in 0..depth {
        raw.extend_from_slice(b"From: a@kommun.test\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    raw.extend_from_slice(b"Subject: inner\r\n\r\nbody\r\n");
    timed("nested rfc822", || inspect(&raw, &no_units));
}

#[test]
fn five_megabytes_of_td_tags() {
    let html = "<td>".repeat(5 * 1024 * 1024 / 4);
    let raw = mail("text/html; charset=utf-8", html.as_bytes());
    timed("td tags via inspect", || inspect(&raw, &no_units));
    timed("td tags", || html_to_text(&html));
    let nested = "<table><tr><td>a".repeat(200_000);
    let text = timed("nested tables", || html_to_text(&nested));
    assert!(text.contains('a'));
    let unclosed = "<a href=\"".repeat(100_000) + &"<!--".repeat(100_000) + &"&#x".repeat(100_000);
    timed("unclosed constructs", || html_to_text(&unclosed));
    let quotes = "<blockquote>".repeat(100_000) + "x";
    timed("deep blockquotes", || html_to_text(&quotes));
}

#[test]
fn one_megabyte_single_line() {
    let line = "Namn och ålder: ".to_string() + &"x".repeat(1024 * 1024);
    let raw = mail("text/plain; charset=utf-8", line.as_bytes());
    let v = timed("long line", || inspect(&raw, &no_units));
    assert_eq!(v["kind"], "submission");
    let dashes = "-".repeat(1024 * 1024);
    let raw = mail("text/plain; charset=utf-8", dashes.as_bytes());
    timed("long dash line", || inspect(&raw, &no_units));
    let subject = format!("From: a@b\r\nSubject: {}\r\n\r\nx", "2026-".repeat(200_000));
    timed("long subject", || inspect(subject.as_bytes(), &no_units));
}

#[test]
fn invalid_utf8_and_nul_bytes() {
    let mut body = b"Namn och \xe5lder: \xff\xfe\x00\x00 A.B.\r\nKort bakgrund: \xc3\x28\r\n".to_vec();
    body.extend(std::iter::repeat_n(0u8, 10_000));
    let raw = mail("text/plain; charset=utf-8", &body);
    timed("invalid utf-8", || inspect(&raw, &no_units));
    let mut raw = b"From: \xff\xfe <a@\x00b>\r\nSubject: \x00\xc3\r\nContent-Type: text/html\r\n\r\n".to_vec();
    raw.extend_from_slice(b"<p>\x00\xff</p><td>\xc3");
    timed("invalid headers", || inspect(&raw, &no_units));
    let zeros = vec![0u8; 1024 * 1024];
    timed("zeros", || inspect(&zeros, &no_units));
    for raw in [
        &b""[..],
        b"\r\n",
        b":",
        b"From:",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n",
    ] {
        let v = inspect(raw, &no_units);
        assert!(v.get("kind").is_some());
    }
    let v = inspect(b"", &no_units);
    assert_eq!(v, serde_json::json!({"kind": "other", "error": "unparseable"}));
    // Every prefix of a real mail parses without panicking.
    let real = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/submissions/040-gmail-calendar-reply-auto-generated.eml"
    ))
    .expect("fixture");
    for end in (0..real.len()).step_by(7) {
        let _ = parse(&real[..end]);
    }
}

#[test]
fn many_quote_header_lines_stay_linear() {
    let text = "Från: x\nSkickat: y\nTill: z\n".repeat(50_000);
    let v = MailView {
        text,
        subject: "VB: VB: x".into(),
        ..MailView::default()
    };
    timed("header lines", || read_submission(&v, &no_units));
    let text = "> Namn: x\n".repeat(100_000) + &"Fråga gärna\n".repeat(100_000);
    let v = MailView {
        text,
        subject: "Fwd: x".into(),
        ..MailView::default()
    };
    timed("quote lines", || read_submission(&v, &no_units));
    let text = "---------- Forwarded message ---------\n".repeat(100_000);
    let v = MailView {
        text,
        subject: "Fwd: x".into(),
        ..MailView::default()
    };
    timed("forward markers", || read_submission(&v, &no_units));
}

#[test]
fn hostile_calendar_replies() {
    let long_line = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nATTENDEE;PARTSTAT=ACCEPTED;CN={}:mailto:a@kommun.test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "x".repeat(1_000_000)
    );
    let many_attendees = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:COUNTER\r\nBEGIN:VEVENT\r\n{}DTSTART;TZID=W. Europe Standard Time:20261208T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:b@kommun.test\r\n".repeat(50_000)
    );
    let nested = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n{}ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@kommun.test\r\n",
        "BEGIN:VEVENT\r\n".repeat(20_000)
    );
    let folded = format!(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nCOMMENT:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "\\\r\n ".repeat(200_000)
    );
    for (what, body) in [
        ("long line", long_line),
        ("many attendees", many_attendees),
        ("nested", nested),
        ("folded", folded),
    ] {
        let raw = mail("text/calendar; method=REPLY; charset=utf-8", body.as_bytes());
        let out = timed(what, || inspect(&raw, &no_units));
        assert!(out.get("kind").is_some(), "{what}");
    }
}
