//! Calendar answers and the calendar writer.
//!
//! 1. The bytes as a whole mail: parse, then the REPLY/COUNTER reader.
//! 2. The bytes (after a first mode byte) as the text of a calendar part of a mail, so that the
//!    fuzzer reaches the iCalendar reader without having to find MIME first.
//! 3. The bytes split at 0xFF into names, subject, place, description, addresses and UID for
//!    `core::ical::render`: every physical line at most 75 octets, no bare CR or LF, and the
//!    content lines exactly the properties and parameters the writer means to write (no
//!    injected property or parameter), and the result reads back with calcard.
#![no_main]

use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarProperty};
use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use samverkan::core::ical::{Attendee, Event, Method, PartStat, Role, render};
use samverkan::core::reply::read_reply;
use samverkan::mail::view::{CalendarPart, MailView, parse};

fuzz_target!(|data: &[u8]| {
    common::panics_that_escape_only();
    // 1. A whole mail.
    if let Some(view) = parse(data) {
        if let Some(r) = read_reply(&view) {
            check_reply(&r);
        }
    }

    // 2. A calendar part.
    if let Some((&mode, rest)) = data.split_first() {
        let method = match mode % 4 {
            0 => None,
            1 => Some("REPLY".to_string()),
            2 => Some("COUNTER".to_string()),
            _ => Some("REQUEST".to_string()),
        };
        let text = String::from_utf8_lossy(rest).into_owned();
        let view = MailView {
            subject: "Accepterat: Samverkansmöte".into(),
            from: Some("anna.berg@kommun.test".into()),
            reply_to: (mode & 4 != 0).then(|| "per.holm@kommun.test".to_string()),
            calendars: vec![CalendarPart { method, text }],
            ..MailView::default()
        };
        if let Some(r) = read_reply(&view) {
            check_reply(&r);
        }
    }

    // 3. The writer.
    let fields: Vec<String> = data.split(|&b| b == 0xFF).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let field = |i: usize| fields.get(i).cloned().unwrap_or_default();
    let n_attendees = 1 + fields.len() % 3;
    let t = |d, h| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).single().expect("time");
    let ev = Event {
        uid: field(5),
        sequence: data.len() as u32,
        dtstamp: t(1, 9),
        start: t(8, 12),
        end: t(8, 13),
        summary: field(1),
        location: fields.get(2).cloned(),
        description: fields.get(3).cloned(),
        organizer_name: field(6),
        organizer_address: field(4),
        attendees: (0..n_attendees)
            .map(|i| Attendee {
                name: field(i * 7 % fields.len().max(1)),
                address: field(4 + i),
                role: if i % 2 == 0 { Role::Required } else { Role::Optional },
                partstat: PartStat::NeedsAction,
            })
            .collect(),
        cancelled: false,
    };
    for method in [Method::Request, Method::Cancel] {
        let out = render(method, &ev);
        check_rendered(&out, &ev, method);
    }
});

fn check_reply(r: &samverkan::core::reply::Reply) {
    assert!(matches!(r.partstat.as_str(), "ACCEPTED" | "DECLINED" | "TENTATIVE" | "DELEGATED"), "{r:?}");
    assert!(r.source == "icalendar" || r.source == "subject", "{r:?}");
}

/// Splits a content line into its name, its parameters (name, value) and its value, honouring
/// quoted parameter values (RFC 5545 §3.1).
fn split_line(line: &str) -> (String, Vec<(String, String)>, String) {
    let mut name = String::new();
    let mut params = Vec::new();
    let mut chars = line.char_indices().peekable();
    // Name.
    let mut end = line.len();
    for (i, c) in chars.by_ref() {
        if c == ';' || c == ':' {
            end = i;
            break;
        }
        name.push(c);
    }
    if end == line.len() {
        return (name, params, String::new());
    }
    let mut at = end;
    while line[at..].starts_with(';') {
        // One parameter: NAME=value or NAME="value".
        let rest = &line[at + 1..];
        let eq = rest.find('=').expect("parameter without =");
        let pname = rest[..eq].to_string();
        let after = &rest[eq + 1..];
        let (value, used) = if let Some(q) = after.strip_prefix('"') {
            let close = q.find('"').expect("unterminated quoted parameter");
            (q[..close].to_string(), close + 2)
        } else {
            let stop = after.find([';', ':']).expect("parameter runs to the end");
            (after[..stop].to_string(), stop)
        };
        assert!(!value.contains('"'), "quote inside a parameter value: {line:?}");
        params.push((pname, value));
        at = at + 1 + eq + 1 + used;
    }
    assert!(line[at..].starts_with(':'), "no value after the parameters: {line:?}");
    (name, params, line[at + 1..].to_string())
}

/// A TEXT value has every `\`, `;` and `,` escaped and no raw line break.
fn check_text_value(v: &str, line: &str) {
    let mut it = v.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                let n = it.next();
                assert!(matches!(n, Some('\\' | ';' | ',' | 'n')), "bad escape in {line:?}");
            }
            ';' | ',' => panic!("unescaped {c:?} in {line:?}"),
            c => assert!(c == '\t' || !c.is_control(), "control character in {line:?}"),
        }
    }
}

fn check_rendered(out: &str, ev: &Event, method: Method) {
    assert!(out.ends_with("\r\n"));
    assert!(!out.replace("\r\n", "").contains(['\r', '\n']), "bare CR or LF");
    let physical: Vec<&str> = out.split("\r\n").collect();
    for (i, l) in physical.iter().enumerate() {
        assert!(l.len() <= 75, "{} octets: {l:?}", l.len());
        if i > 0 && !l.is_empty() && physical[i - 1].len() > 0 {
            // Every line is either a continuation (space) or starts a property name.
            assert!(l.starts_with(' ') || l.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{l:?}");
        }
    }
    let unfolded = out.replace("\r\n ", "");
    let lines: Vec<&str> = unfolded.split("\r\n").filter(|l| !l.is_empty()).collect();

    let mut expected: Vec<&str> = vec![
        "BEGIN", "PRODID", "VERSION", "CALSCALE", "METHOD", "BEGIN", "UID", "SEQUENCE", "DTSTAMP", "DTSTART", "DTEND",
        "SUMMARY",
    ];
    if ev.location.is_some() {
        expected.push("LOCATION");
    }
    if ev.description.is_some() {
        expected.push("DESCRIPTION");
    }
    expected.push("ORGANIZER");
    expected.extend(std::iter::repeat_n("ATTENDEE", ev.attendees.len()));
    expected.extend(["STATUS", "TRANSP", "END", "END"]);

    let mut names = Vec::new();
    for l in &lines {
        let (name, params, value) = split_line(l);
        match name.as_str() {
            "UID" | "SUMMARY" | "LOCATION" | "DESCRIPTION" => {
                assert!(params.is_empty(), "{l:?}");
                check_text_value(&value, l);
            }
            "ORGANIZER" | "ATTENDEE" => {
                let pn: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
                let want: &[&str] = match (name.as_str(), method) {
                    ("ORGANIZER", _) => &["CN"],
                    (_, Method::Request) => &["CN", "ROLE", "PARTSTAT", "RSVP"],
                    _ => &["CN", "ROLE", "PARTSTAT"],
                };
                let without_cn: Vec<&str> = want.iter().copied().filter(|n| *n != "CN").collect();
                assert!(pn == want || pn == without_cn, "parameters {pn:?} in {l:?}");
                for (n, v) in &params {
                    assert!(!v.chars().any(char::is_control), "control in {n} of {l:?}");
                }
                assert!(value.starts_with("mailto:"), "{l:?}");
                assert!(!value.chars().any(|c| c.is_control() || c.is_whitespace()), "{l:?}");
            }
            _ => {}
        }
        names.push(name);
    }
    assert_eq!(names, expected, "content lines of {out:?}");

    // An independent reader sees the same structure.
    if let Ok(ical) = ICalendar::parse(out) {
        let events: Vec<_> =
            ical.components.iter().filter(|c| c.component_type == ICalendarComponentType::VEvent).collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].properties(&ICalendarProperty::Attendee).count(), ev.attendees.len(), "{out:?}");
    }
}
