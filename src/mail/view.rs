//! A typed, owned view of one raw e-mail: the parts of it the daemon reads.
//!
//! [`parse`] is pure: bytes in, [`MailView`] out. Decoding of transfer
//! encodings, charsets and RFC 2047 words is left to `mail-parser`; this module
//! picks the fields, normalises addresses and ids, and renders HTML-only mail
//! to text.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{DateTime, Utc};
use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use crate::mail::html::html_to_text;

/// One calendar object carried by a mail (`text/calendar`, `application/ics`
/// or an `.ics` attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarPart {
    /// The `method=` MIME parameter, uppercased; `None` when absent (Apple).
    pub method: Option<String>,
    /// The decoded iCalendar text.
    pub text: String,
}

impl CalendarPart {
    /// The iTIP method: the MIME parameter, else the `METHOD:` property of the
    /// calendar text, uppercased.
    pub fn effective_method(&self) -> Option<String> {
        if let Some(m) = &self.method {
            return Some(m.clone());
        }
        self.text.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("METHOD") && !value.trim().is_empty()).then(|| value.trim().to_ascii_uppercase())
        })
    }
}

/// The parts of a raw e-mail that the daemon reads.
#[derive(Debug, Clone, Default)]
pub struct MailView {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// The first From address, lowercased.
    pub from: Option<String>,
    /// The display name of the first From address.
    pub from_name: Option<String>,
    /// The first Reply-To address, lowercased.
    pub reply_to: Option<String>,
    /// The Sender address, lowercased.
    pub sender: Option<String>,
    /// To addresses, lowercased.
    pub to: Vec<String>,
    /// Cc addresses, lowercased.
    pub cc: Vec<String>,
    /// Delivered-To and X-Original-To addresses, lowercased.
    pub delivered_to: Vec<String>,
    /// The decoded subject; empty when absent.
    pub subject: String,
    /// In-Reply-To ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids without angle brackets.
    pub references: Vec<String>,
    /// The Date header in UTC.
    pub date: Option<DateTime<Utc>>,
    /// All top-level headers in order: lowercased name, decoded and unfolded value.
    pub headers: Vec<(String, String)>,
    /// The body as plain text: the text/plain part(s) when present and not
    /// blank, else the HTML part(s) rendered to text.
    pub text: String,
    /// The raw HTML body, if any.
    pub html: Option<String>,
    /// Every calendar part, in MIME order.
    pub calendars: Vec<CalendarPart>,
    /// The `report-type` of a multipart/report, lowercased.
    pub report_type: Option<String>,
    /// File names of attachments, in MIME order.
    pub attachment_names: Vec<String>,
    /// Size of the raw message in bytes.
    pub size: usize,
}

impl MailView {
    /// The value of the first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header with this (case-insensitive) name is present.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// Parses a raw message. Returns `None` only when the bytes are not a
/// message at all (no header could be read).
pub fn parse(raw: &[u8]) -> Option<MailView> {
    // mail-parser is well fuzzed, but a panic in a dependency must not take
    // the daemon down on one hostile mail: treat it as unparseable.
    let msg = catch_unwind(AssertUnwindSafe(|| MessageParser::default().parse(raw))).ok()??;
    catch_unwind(AssertUnwindSafe(|| build(&msg, raw))).ok()?
}

fn build(msg: &Message<'_>, raw: &[u8]) -> Option<MailView> {
    let root = msg.parts.first()?;
    if root.headers.is_empty() {
        return None;
    }
    let headers: Vec<(String, String)> = root
        .headers
        .iter()
        .map(|h| {
            let value = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .map(decode_header_value)
                .unwrap_or_default();
            (h.name.as_str().to_ascii_lowercase(), value)
        })
        .collect();

    let first_addr = |a: Option<&Address<'_>>| a.and_then(|a| a.iter().find_map(|x| x.address.as_deref().map(normalize_addr)));
    let all_addrs = |a: Option<&Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address.as_deref().map(normalize_addr)).collect())
            .unwrap_or_default()
    };

    let from_name = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name.as_deref())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());

    let delivered_to = headers
        .iter()
        .filter(|(n, _)| n == "delivered-to" || n == "x-original-to")
        .map(|(_, v)| normalize_addr(v))
        .filter(|v| !v.is_empty())
        .collect();

    let date = msg.date().and_then(|d| DateTime::<Utc>::from_timestamp(d.to_timestamp(), 0));

    let (text, html) = body_text(msg);

    let mut view = MailView {
        message_id: msg.message_id().map(strip_id).filter(|s| !s.is_empty()),
        from: first_addr(msg.from()),
        from_name,
        reply_to: first_addr(msg.reply_to()),
        sender: first_addr(msg.sender()),
        to: all_addrs(msg.to()),
        cc: all_addrs(msg.cc()),
        delivered_to,
        subject: msg.subject().map(|s| s.trim().to_string()).unwrap_or_default(),
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        date,
        headers,
        text,
        html,
        calendars: Vec::new(),
        report_type: None,
        attachment_names: Vec::new(),
        size: raw.len(),
    };

    for part in &msg.parts {
        let ct = part.content_type();
        let ctype = ct.map(|c| c.ctype().to_ascii_lowercase()).unwrap_or_default();
        let subtype = ct.and_then(|c| c.subtype()).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
        if ctype == "multipart" && subtype == "report" && view.report_type.is_none() {
            view.report_type = ct.and_then(|c| c.attribute("report-type")).map(|r| r.trim().to_ascii_lowercase());
        }
        let name = part.attachment_name();
        let is_ics_name = name.is_some_and(|n| n.to_ascii_lowercase().ends_with(".ics"));
        let is_calendar = (ctype == "text" && subtype == "calendar")
            || (ctype == "application" && (subtype == "ics" || subtype == "calendar"))
            || is_ics_name;
        if is_calendar {
            let text = match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.to_string(),
                PartType::Binary(b) | PartType::InlineBinary(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            };
            let method = ct
                .and_then(|c| c.attribute("method"))
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| !m.is_empty());
            view.calendars.push(CalendarPart { method, text });
        }
    }
    for part in msg.attachments() {
        if let Some(name) = part.attachment_name() {
            let name = name.trim();
            if !name.is_empty() {
                view.attachment_names.push(name.to_string());
            }
        }
    }
    Some(view)
}

/// The plain-text body and the raw HTML body.
fn body_text(msg: &Message<'_>) -> (String, Option<String>) {
    let mut plain = String::new();
    for part in msg.text_bodies() {
        if let PartType::Text(t) = &part.body {
            if !plain.is_empty() {
                plain.push('\n');
            }
            plain.push_str(t);
        }
    }
    let mut html: Option<String> = None;
    for part in msg.html_bodies() {
        if let PartType::Html(h) = &part.body {
            match &mut html {
                Some(acc) => acc.push_str(h),
                None => html = Some(h.to_string()),
            }
        }
    }
    let plain = normalize_newlines(&plain);
    if !plain.trim().is_empty() {
        return (plain, html);
    }
    let text = html.as_deref().map(html_to_text).unwrap_or_default();
    (text, html)
}

fn normalize_newlines(s: &str) -> String {
    if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        s.to_string()
    }
}

/// Decodes one raw header value: unfolds it and decodes RFC 2047 words.
fn decode_header_value(raw: &[u8]) -> String {
    let mut stream = MessageStream::new(raw);
    match stream.parse_unstructured() {
        HeaderValue::Text(t) => t.trim().to_string(),
        _ => String::from_utf8_lossy(raw).split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn normalize_addr(a: &str) -> String {
    a.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase()
}

fn strip_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()
}

fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![strip_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| strip_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_fields() {
        let raw = b"Message-ID: <abc@x.test>\r\nFrom: =?iso-8859-1?Q?Anna_Berg_=D6?= <Anna.Berg@Kommun.TEST>\r\n\
To: Forum <forum@kommun.test>, b@kommun.test\r\nCc: Lars Ek <LARS.EK@kommun.test>\r\n\
Delivered-To: forum@kommun.test\r\nSubject: =?utf-8?B?w4RyZW5kZQ==?=\r\n\
X-Long: a\r\n b\r\nIn-Reply-To: <p@x>\r\nReferences: <q@x> <p@x>\r\nDate: Tue, 3 Mar 2026 10:12:00 +0100\r\n\r\nHej\r\n";
        let v = parse(raw).expect("parses");
        assert_eq!(v.message_id.as_deref(), Some("abc@x.test"));
        assert_eq!(v.from.as_deref(), Some("anna.berg@kommun.test"));
        assert_eq!(v.from_name.as_deref(), Some("Anna Berg Ö"));
        assert_eq!(v.to, ["forum@kommun.test", "b@kommun.test"]);
        assert_eq!(v.cc, ["lars.ek@kommun.test"]);
        assert_eq!(v.delivered_to, ["forum@kommun.test"]);
        assert_eq!(v.subject, "Ärende");
        assert_eq!(v.in_reply_to, ["p@x"]);
        assert_eq!(v.references, ["q@x", "p@x"]);
        assert_eq!(v.header("x-long"), Some("a b"));
        assert_eq!(v.text.trim(), "Hej");
        assert_eq!(v.date.map(|d| d.to_rfc3339()).as_deref(), Some("2026-03-03T09:12:00+00:00"));
    }

    #[test]
    fn html_only_is_rendered_and_calendars_found() {
        let raw = b"From: a@kommun.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
<p><b>Namn och =E5lder:</b>&nbsp;A</p>\r\n--b\r\nContent-Type: text/calendar; charset=utf-8\r\n\
Content-Disposition: attachment; filename=invite.ics\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:reply\r\nEND:VCALENDAR\r\n--b--\r\n";
        let v = parse(raw).expect("parses");
        assert_eq!(v.text, "Namn och ålder: A");
        assert!(v.html.is_some());
        assert_eq!(v.calendars.len(), 1);
        assert_eq!(v.calendars[0].method, None);
        assert_eq!(v.calendars[0].effective_method().as_deref(), Some("REPLY"));
        assert_eq!(v.attachment_names, ["invite.ics"]);
    }

    #[test]
    fn report_type_is_read() {
        let raw = b"From: MAILER-DAEMON@mx.test\r\nContent-Type: multipart/report; report-type=Delivery-Status; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n";
        let v = parse(raw).expect("parses");
        assert_eq!(v.report_type.as_deref(), Some("delivery-status"));
        assert_eq!(v.from.as_deref(), Some("mailer-daemon@mx.test"));
    }

    #[test]
    fn not_a_message() {
        assert!(parse(b"").is_none());
    }
}
