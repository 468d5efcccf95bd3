//! A corpus of nasty mails, generated in code: a 50 MB attachment, MIME nested 1,000 deep,
//! broken charsets, a calendar REPLY with 10,000 attendees, header and property injection
//! through names and subjects of outgoing mail, and HTML with `<script>` and `<style>`.
//!
//! Nothing may panic, every result must be sane, and every step must finish in bounded time
//! (generous bounds: this also runs unoptimised). The tests take one lock so that they run one
//! at a time: the memory measurement of the large mail must not see the other tests' memory.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use samverkan::core::classify::{Kind, classify};
use samverkan::core::ical::{Attendee, Event, Method, PartStat, Role, render};
use samverkan::core::inspect::inspect;
use samverkan::core::reply::read_reply;
use samverkan::core::submission::read_submission;
use samverkan::mail::compose::{Draft, build, message_id};
use samverkan::mail::imip::{InviteDraft, build_invite};
use samverkan::mail::view::{MailView, parse};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn no_units(_: &str) -> Option<String> {
    None
}

fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "{what} took {took:?} (limit {limit:?})");
    out
}

const SECS: fn(u64) -> Duration = Duration::from_secs;

const HEAD: &str = "From: Anna Berg <anna.berg@kommun.test>\r\nTo: samverkan@kommun.test\r\n\
    Message-ID: <nasty@kommun.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n";

const SUBMISSION: &str = "Namn och ålder: A.B., 14 år\r\nKort bakgrund: Flyttade hit i våras.\r\n\
    Aktuell situation: Går inte i skolan.\r\nAktuell problembild och frågeställning: Vem gör vad?\r\n";

/// Peak resident set size of this process in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb * 1024
}

/// Resets the peak to the current RSS (Linux ≥ 4.0); false where that is not allowed.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The 64 base64 characters, 76 to a line, for `n` bytes of data (a fixed, valid pattern).
fn base64_lines(decoded_bytes: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let chars = decoded_bytes.div_ceil(3) * 4;
    let mut out = Vec::with_capacity(chars + chars / 76 * 2 + 2);
    for i in 0..chars {
        out.push(ALPHABET[(i * 7 + i / 64) % 64]);
        if i % 76 == 75 {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn fifty_megabyte_attachment() {
    let _one = serial();
    let mut raw = format!(
        "{HEAD}Subject: Ärendeanmälan med stor bilaga\r\nContent-Type: multipart/mixed; boundary=\"big\"\r\n\r\n\
         --big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{SUBMISSION}\r\n\
         --big\r\nContent-Type: application/octet-stream; name=\"scan.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(&base64_lines(38 * 1024 * 1024));
    raw.extend_from_slice(b"--big--\r\n");
    let size = raw.len() as u64;
    assert!(size >= 50 * 1024 * 1024, "the mail is {size} bytes");

    let reset = reset_peak_rss();
    let before = peak_rss();
    let view = timed("parse 50 MB", SECS(30), || parse(&raw)).expect("a 50 MB mail parses");
    let after = peak_rss();
    let growth = after.saturating_sub(before);
    eprintln!(
        "50 MB attachment: input {} MiB, peak RSS {} → {} MiB (growth {} MiB, peak reset: {reset})",
        size >> 20,
        before >> 20,
        after >> 20,
        growth >> 20
    );
    assert!(growth < 10 * size, "peak RSS grew by {growth} bytes for a {size}-byte mail");

    assert_eq!(view.size as u64, size);
    assert_eq!(view.attachment_names, ["scan.pdf"]);
    assert!(view.calendars.is_empty());
    assert!(view.text.contains("Kort bakgrund"), "{:?}", view.text);
    assert_eq!(classify(&view), Kind::Submission);
    let s = read_submission(&view, &no_units);
    assert!(s.missing.is_empty(), "{:?}", s.missing);
    drop(view);

    // The whole pipeline as the CLI runs it.
    let v = timed("inspect 50 MB", SECS(30), || inspect(&raw, &no_units));
    assert_eq!(v["kind"], "submission");
}

#[test]
fn mime_nested_a_thousand_deep() {
    let _one = serial();
    let depth = 1000;
    let mut raw = format!("{HEAD}Subject: Ärendeanmälan djup\r\n").into_bytes();
    for i in 0..depth {
        raw.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{SUBMISSION}").as_bytes());
    for i in (0..depth).rev() {
        raw.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    let view = timed("nested multipart", SECS(10), || parse(&raw)).expect("parses");
    assert_eq!(view.from.as_deref(), Some("anna.berg@kommun.test"));
    let v = timed("nested multipart inspect", SECS(10), || inspect(&raw, &no_units));
    assert!(v["kind"].is_string());

    // message/rfc822 inside message/rfc822, 1,000 deep.
    let mut raw = Vec::new();
    for i in 0..depth {
        raw.extend_from_slice(format!("From: a{i}@kommun.test\r\nSubject: lager {i}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes());
    }
    raw.extend_from_slice(b"Subject: inner\r\nContent-Type: text/plain\r\n\r\nbody\r\n");
    let view = timed("nested rfc822", SECS(10), || parse(&raw)).expect("parses");
    assert_eq!(view.from.as_deref(), Some("a0@kommun.test"));
    assert_eq!(view.subject, "lager 0");
    timed("nested rfc822 inspect", SECS(10), || inspect(&raw, &no_units));
    timed("nested rfc822 bounce", SECS(10), || samverkan::mail::bounce::read_bounce(&raw));

    // Boundaries that never close, and a calendar at the bottom.
    let mut raw = format!("{HEAD}Subject: Accepterat: x\r\n").into_bytes();
    for i in 0..depth {
        raw.extend_from_slice(format!("Content-Type: multipart/alternative; boundary=\"u{i}\"\r\n\r\n--u{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n");
    let view = timed("unclosed nesting", SECS(10), || parse(&raw)).expect("parses");
    let r = timed("unclosed nesting reply", SECS(10), || read_reply(&view));
    // Whatever the calendar part yields, the subject alone is an answer from the sender.
    assert_eq!(r.map(|r| r.attendee), Some("anna.berg@kommun.test".to_string()));
}

fn single(subject_header: &str, content_type: &str, cte: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{HEAD}Subject: {subject_header}\r\nContent-Type: {content_type}\r\n").into_bytes();
    if let Some(cte) = cte {
        raw.extend_from_slice(format!("Content-Transfer-Encoding: {cte}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

/// The parts of a submission are read whatever happened to the bytes around them.
fn assert_submission_read(view: &MailView) {
    assert_eq!(classify(view), Kind::Submission, "{:?}", view.text);
    let s = read_submission(view, &no_units);
    assert!(s.missing.is_empty(), "missing {:?} in {:?}", s.missing, view.text);
}

#[test]
fn broken_charsets() {
    let _one = serial();
    let t = SECS(5);

    // An unknown charset: read as bytes, not refused.
    let raw = single(
        "Ärendeanmälan",
        "text/plain; charset=x-unknown",
        Some("8bit"),
        SUBMISSION.as_bytes(),
    );
    let view = timed("x-unknown", t, || parse(&raw)).expect("parses");
    assert_submission_read(&view);

    // A charset name that is garbage, with quoted-printable Latin-1 bytes in it.
    let raw = single(
        "=?x-unknown?Q?=C4rendeanm=E4lan?=",
        "text/plain; charset=\"\u{1}\\\"; x",
        Some("quoted-printable"),
        b"Namn och =E5lder: A.B.\r\nKort bakgrund: x\r\nAktuell situation: y\r\nAktuell problembild och fr=E5gest=E4llning: z\r\n",
    );
    let view = timed("garbage charset", t, || parse(&raw)).expect("parses");
    assert!(!view.subject.is_empty());
    assert!(view.text.contains("Kort bakgrund: x"), "{:?}", view.text);

    // Invalid UTF-8 in a part that says UTF-8: overlong, truncated, stray continuation, 0xFF.
    let mut body = SUBMISSION.as_bytes().to_vec();
    body.extend_from_slice(b"Trasigt: \xC0\xAF \xE2\x82 \x80\x80 \xFF\xFE \xED\xA0\x80 slut\r\n");
    let raw = single("Ärendeanmälan", "text/plain; charset=utf-8", Some("8bit"), &body);
    let view = timed("invalid utf-8", t, || parse(&raw)).expect("parses");
    assert_submission_read(&view);
    assert!(view.text.contains("slut"));

    // A lone surrogate in encoded-words: UTF-8 encoded surrogate (CESU), a lone UTF-16 unit,
    // and UTF-7's form of one.
    for (subject, rest) in [
        ("=?utf-8?B?7aCA?= Ärende 2026-0001", "Ärende 2026-0001"),
        ("=?utf-16be?B?2AA=?= Ärende 2026-0001", "Ärende 2026-0001"),
        ("=?utf-16le?B?ANgAAEEA?= Ärende 2026-0001", "Ärende 2026-0001"),
        ("=?utf-7?Q?+2AA-?= Ärende 2026-0001", "Ärende 2026-0001"),
        ("=?utf-8?Q?=ED=A0=80=ED=B0=80?= Ärende 2026-0001", "Ärende 2026-0001"),
    ] {
        let raw = single(subject, "text/plain; charset=utf-8", None, SUBMISSION.as_bytes());
        let view = timed("lone surrogate", t, || parse(&raw)).expect("parses");
        assert!(view.subject.contains(rest), "{subject:?} → {:?}", view.subject);
        // Rust strings cannot hold a surrogate; what matters is that the reader goes on.
        assert_eq!(
            samverkan::core::submission::find_case_ref(&view.subject).as_deref(),
            Some("2026-0001"),
            "{subject:?}"
        );
        assert_submission_read(&view);
        let v = inspect(&raw, &no_units);
        assert_eq!(v["kind"], "submission");
    }

    // A display name in a broken encoded-word, and a From that is all garbage.
    let raw = b"From: =?utf-8?B?////?= <anna.berg@kommun.test>\r\nTo: samverkan@kommun.test\r\n\
        Subject: =?iso-8859-1?Q?=E4=?=\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B\x1b(B hej\r\n";
    let view = timed("broken name", t, || parse(raw)).expect("parses");
    assert_eq!(view.from.as_deref(), Some("anna.berg@kommun.test"));
    let raw = b"From: \xFF\xFE\x00<@>\r\nSubject: \x00\x01\r\n\r\n\xFF";
    timed("garbage from", t, || inspect(raw, &no_units));
}

#[test]
fn calendar_reply_with_ten_thousand_attendees() {
    let _one = serial();
    let n = 10_000;
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nPRODID:-//nasty//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n\
         UID:iof-aof-20261208@kommun.test\r\nSEQUENCE:2\r\nDTSTART:20261208T120000Z\r\n",
    );
    for i in 0..n {
        ics.push_str(&format!(
            "ATTENDEE;PARTSTAT=DECLINED;CN=Person {i}:mailto:person{i}@kommun.test\r\n"
        ));
    }
    // The sender's own line is the last one.
    ics.push_str("ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna Berg:mailto:Anna.Berg@kommun.test\r\n");
    ics.push_str("END:VEVENT\r\nEND:VCALENDAR\r\n");

    let raw = single(
        "Accepterat: Samverkansmöte",
        "text/calendar; charset=utf-8; method=REPLY",
        None,
        ics.as_bytes(),
    );
    assert!(raw.len() > 500_000);
    let view = timed("parse 10k attendees", SECS(10), || parse(&raw)).expect("parses");
    assert_eq!(view.calendars.len(), 1);
    assert_eq!(classify(&view), Kind::Reply);
    let r = timed("read 10k attendees", SECS(10), || read_reply(&view)).expect("an answer");
    assert_eq!(r.attendee, "anna.berg@kommun.test");
    assert_eq!(r.partstat, "ACCEPTED");
    assert_eq!(r.uid.as_deref(), Some("iof-aof-20261208@kommun.test"));
    assert_eq!(r.sequence, Some(2));
    assert_eq!(r.source, "icalendar");

    // The same from someone who is not among them: the first answer, never a panic or a hang.
    let mut view = view;
    view.from = Some("stranger@evil.test".into());
    let r = timed("read 10k attendees, stranger", SECS(10), || read_reply(&view)).expect("an answer");
    assert_eq!(r.attendee, "person0@kommun.test");

    // And as a whole mail through inspect.
    let v = timed("inspect 10k attendees", SECS(10), || inspect(&raw, &no_units));
    assert_eq!(v["kind"], "reply");
}

/// Hostile names and subjects as they could come from an incoming mail's From and Subject.
const HOSTILE: &[&str] = &[
    "Anna\r\nBcc: victim@evil.test",
    "Anna\nBcc: victim@evil.test",
    "Anna\rBcc: victim@evil.test",
    "Anna\r\n\r\n<html>body injected</html>",
    "Anna\u{85}Bcc: victim@evil.test",
    "Anna\u{2028}Bcc: victim@evil.test\u{2029}X-Evil: 1",
    "Anna\0\u{b}\u{c}\u{1b}[31mBcc: victim@evil.test",
    "=?utf-8?Q?Anna=0D=0ABcc:_victim@evil.test?=",
    "Åsa =?utf-8?B?DQpCY2M6IHZpY3RpbUBldmlsLnRlc3Q=?= =?iso-8859-1?Q?=0A?=",
    "\"Anna\" <x@evil.test>, Bcc: victim@evil.test",
    "Åsa \"Berg\";ROLE=CHAIR:mailto:chair@evil.test\r\nATTENDEE:mailto:evil@evil.test",
    "x\r\nMETHOD:CANCEL\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:evil",
    "^n^'CN=evil\\;,:",
];

/// The top-level header names of a built mail, lowercased, in order (continuation lines
/// skipped); panics on a header line that is neither a field nor a continuation.
fn header_names(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().expect("a header block");
    let mut names = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (name, _) = line.split_once(':').unwrap_or_else(|| panic!("not a header line: {line:?}"));
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "odd header line {line:?}"
        );
        names.push(name.to_ascii_lowercase());
    }
    assert!(
        !head.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR or LF in the header block"
    );
    names
}

fn assert_no_injected_headers(bytes: &[u8], allowed: &[&str]) {
    let names = header_names(bytes);
    for n in &names {
        assert!(
            allowed.contains(&n.as_str()),
            "unexpected header {n:?} in {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(2000)])
        );
    }
    for once in ["from", "to", "subject", "message-id"] {
        assert_eq!(names.iter().filter(|n| *n == once).count(), 1, "{once} in {names:?}");
    }
    // What a receiving client reads back: one recipient field, no Bcc, nothing extra.
    let view = parse(bytes).expect("our own mail parses");
    assert!(view.header("bcc").is_none() && view.header("x-evil").is_none());
    assert!(!view.text.contains("body injected") || view.subject.contains("body injected") || view.text.contains("Hej"));
}

const ALLOWED_HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "date",
    "content-type",
    "content-transfer-encoding",
];

#[test]
fn header_injection_in_outgoing_mail() {
    let _one = serial();
    for (i, bad) in HOSTILE.iter().enumerate() {
        let d = Draft {
            from_name: bad.to_string(),
            from_address: "samverkan@kommun.test".into(),
            to: vec![
                (bad.to_string(), "anna.berg@kommun.test".into()),
                ("Per".into(), "per.holm@kommun.test".into()),
            ],
            subject: format!("Kvittens: {bad}"),
            text: format!("Hej\r\n{bad}\r\n"),
            html: Some(format!("<p>{bad}</p>")),
            in_reply_to: Some(format!("{bad}@x")),
            message_id: message_id("receipt", &i.to_string(), "kommun.test"),
        };
        let bytes = build(&d).expect("builds");
        assert_no_injected_headers(&bytes, ALLOWED_HEADERS);
        let view = parse(&bytes).expect("parses");
        assert_eq!(view.to, ["anna.berg@kommun.test", "per.holm@kommun.test"], "{bad:?}");
        assert_eq!(view.from.as_deref(), Some("samverkan@kommun.test"));
        // What the recipient's client shows: no control character in subject or names, even
        // when the hostile text was an encoded-word of CR/LF.
        assert!(!view.subject.chars().any(char::is_control), "{bad:?} → {:?}", view.subject);
        assert!(view.subject.starts_with("Kvittens: "), "{:?}", view.subject);
        assert!(
            !view.from_name.as_deref().unwrap_or("").chars().any(char::is_control),
            "{:?}",
            view.from_name
        );
        // (In-Reply-To/References may hold "=?" legitimately: a msg-id is not decoded text.)
        for (n, v) in view.headers.iter().filter(|(n, _)| ["from", "to", "subject"].contains(&n.as_str())) {
            assert!(!v.contains(['\r', '\n']), "{bad:?}: decoded {n} {v:?}");
        }
    }
}

fn invite_event(bad: &str) -> Event {
    let t = |d, h| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).single().expect("time");
    Event {
        uid: format!("iof-aof-20261208@kommun.test{bad}"),
        sequence: 1,
        dtstamp: t(1, 9),
        start: t(8, 12),
        end: t(8, 13),
        summary: format!("Samverkansmöte {bad}"),
        location: Some(bad.to_string()),
        description: Some(format!("Ärenden: 2026-0001\r\n{bad}")),
        organizer_name: bad.to_string(),
        organizer_address: format!("samverkan@kommun.test{bad}"),
        attendees: vec![
            Attendee {
                name: bad.to_string(),
                address: "anna.berg@kommun.test".into(),
                role: Role::Required,
                partstat: PartStat::NeedsAction,
            },
            Attendee {
                name: format!("Per {bad}"),
                address: format!("per.holm@kommun.test{bad}"),
                role: Role::Optional,
                partstat: PartStat::NeedsAction,
            },
        ],
        cancelled: false,
    }
}

/// Property names of the unfolded content lines, and a check of each physical line.
fn ics_property_names(ics: &str) -> Vec<String> {
    assert!(!ics.replace("\r\n", "").contains(['\r', '\n']), "bare CR or LF: {ics:?}");
    for l in ics.split("\r\n") {
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
    }
    ics.replace("\r\n ", "")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split([';', ':']).next().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn property_injection_in_invitations() {
    let _one = serial();
    for (i, bad) in HOSTILE.iter().enumerate() {
        for method in [Method::Request, Method::Cancel] {
            let ev = invite_event(bad);
            let ics = render(method, &ev);
            let names = ics_property_names(&ics);
            let expected = [
                "BEGIN",
                "PRODID",
                "VERSION",
                "CALSCALE",
                "METHOD",
                "BEGIN",
                "UID",
                "SEQUENCE",
                "DTSTAMP",
                "DTSTART",
                "DTEND",
                "SUMMARY",
                "LOCATION",
                "DESCRIPTION",
                "ORGANIZER",
                "ATTENDEE",
                "ATTENDEE",
                "STATUS",
                "TRANSP",
                "END",
                "END",
            ];
            assert_eq!(names, expected, "{bad:?}:\n{ics}");
            // Parameters of the attendee lines: only CN (quoted if need be), ROLE, PARTSTAT, RSVP.
            let unfolded = ics.replace("\r\n ", "");
            for line in unfolded.split("\r\n").filter(|l| l.starts_with("ATTENDEE")) {
                let rest = line.strip_prefix("ATTENDEE").expect("prefix");
                let after_cn = match rest.strip_prefix(";CN=") {
                    Some(v) if v.starts_with('"') => &v[1 + v[1..].find('"').expect("closing quote") + 1..],
                    Some(v) => &v[v.find([';', ':']).expect("end of CN")..],
                    None => rest,
                };
                let rsvp = if method == Method::Request { ";RSVP=TRUE" } else { "" };
                assert!(
                    after_cn.starts_with(&format!(";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION{rsvp}:mailto:"))
                        || after_cn.starts_with(&format!(";ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION{rsvp}:mailto:")),
                    "{bad:?}: {line:?}"
                );
            }

            // The invitation mail around it.
            let d = InviteDraft {
                from_name: bad.to_string(),
                from_address: "samverkan@kommun.test".into(),
                to: vec![(bad.to_string(), "anna.berg@kommun.test".into())],
                subject: format!("Inbjudan: {bad}"),
                text: format!("Hej\r\n{bad}"),
                html: Some(format!("<p>{bad}</p>")),
                message_id: message_id("invite", &format!("{i}-{}", method.as_str()), "kommun.test"),
                method,
                ics: ics.clone(),
            };
            let bytes = build_invite(&d).expect("builds");
            assert_no_injected_headers(&bytes, ALLOWED_HEADERS);
            let view = parse(&bytes).expect("parses");
            assert_eq!(view.to, ["anna.berg@kommun.test"]);
            assert!(!view.subject.chars().any(char::is_control), "{bad:?} → {:?}", view.subject);
            // Both calendar parts carry exactly the rendered object.
            assert_eq!(view.calendars.len(), 2, "{bad:?}");
            for c in &view.calendars {
                assert_eq!(c.text, ics);
                assert_eq!(c.effective_method().as_deref(), Some(method.as_str()));
            }
        }
    }
}

#[test]
fn html_with_script_and_style() {
    let _one = serial();
    let html = "<html><head><style type=\"text/css\">p.MsoNormal { color: red; } /* STYLE-BODY */</style>\
        <SCRIPT language=javascript>alert('SCRIPT-BODY-1'); var s = \"</div><p>Namn och ålder: fejk</p>\";</SCRIPT>\
        <script type=\"module\">\nimport x from 'SCRIPT-BODY-2';\n</script >\
        <!-- <script>SCRIPT-IN-COMMENT</script> -->\
        </head><body>\
        <p><b>Namn och ålder:</b> A.B., 14 år</p>\
        <p><b>Kort bakgrund:</b> Flyttade hit i våras.<script>document.write('SCRIPT-BODY-3')</script></p>\
        <StYlE>.x{background:url(STYLE-BODY-2)}</sTyLe>\
        <p><b>Aktuell situation:</b> Går inte i skolan.</p>\
        <p><b>Aktuell problembild och frågeställning:</b> Vem gör vad?</p>\
        <script>SCRIPT-BODY-4 never closed";
    let raw = single("Ärendeanmälan", "text/html; charset=utf-8", None, html.as_bytes());
    let view = timed("html with script", SECS(5), || parse(&raw)).expect("parses");
    for hidden in [
        "SCRIPT-BODY",
        "STYLE-BODY",
        "SCRIPT-IN-COMMENT",
        "alert(",
        "color: red",
        "fejk",
        "import x",
    ] {
        assert!(!view.text.contains(hidden), "{hidden:?} leaked into the text: {:?}", view.text);
    }
    assert!(view.text.contains("Flyttade hit i våras."), "{:?}", view.text);
    assert_submission_read(&view);
    let s = read_submission(&view, &no_units);
    let json = serde_json::to_string(&s).expect("json");
    assert!(!json.contains("SCRIPT") && !json.contains("fejk"), "{json}");

    // Many scripts, and a script as the only content.
    let many = "<script>x</script>".repeat(100_000) + "<p>kvar</p>";
    let raw = single("x", "text/html", None, many.as_bytes());
    let view = timed("100k scripts", SECS(10), || parse(&raw)).expect("parses");
    assert_eq!(view.text.trim(), "kvar");
    let only = "<script>".repeat(10_000);
    let raw = single("x", "text/html", None, only.as_bytes());
    let view = timed("unclosed scripts", SECS(10), || parse(&raw)).expect("parses");
    assert!(!view.text.contains("script"), "{:?}", &view.text[..view.text.len().min(200)]);
}
