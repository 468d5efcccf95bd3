//! Building invitation mails (RFC 6047 iMIP): the MIME around a calendar object from
//! [`crate::core::ical::render`], laid out the way Google and Thunderbird send invitations and
//! Outlook, Gmail, Apple Mail and Thunderbird show with Accept/Decline buttons:
//!
//! ```text
//! multipart/mixed
//! ├── multipart/alternative
//! │   ├── text/plain; charset=utf-8
//! │   ├── text/html; charset=utf-8                  (if any)
//! │   └── text/calendar; method=REQUEST; charset=utf-8
//! └── application/ics; name="invite.ics"            (Content-Disposition: attachment)
//! ```
//!
//! The MIME `method=` parameter is taken from the draft's [`Method`] and checked against the
//! calendar's own `METHOD` line: when they differ Outlook shows "not supported calendar
//! message" and Gmail a bare attachment, so a mismatch is an error, not a mail.
//!
//! Both calendar parts are base64: the decoded bytes are then exactly the rendered object
//! (CRLF line ends and 75-octet folds included) whatever a transport does to line ends, which
//! 7bit or quoted-printable only promise while every hop keeps CRLF.
//!
//! The headers are those of [`super::compose`]: `Auto-Submitted: auto-generated`,
//! `X-Auto-Response-Suppress: All`, and the deterministic Message-ID the caller gives.

use anyhow::{Context, Result, bail};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, MultiPart, SinglePart};

use crate::core::ical::Method;

/// The attachment's file name.
const ATTACHMENT_NAME: &str = "invite.ics";

/// An invitation mail to build.
#[derive(Debug, Clone)]
pub struct InviteDraft {
    /// Sender's display name (the forum).
    pub from_name: String,
    /// Sender's address: the forum mailbox, the calendar's ORGANIZER, where replies go.
    pub from_address: String,
    /// (display name, address) of each recipient; each should be an ATTENDEE in `ics`.
    pub to: Vec<(String, String)>,
    /// Subject line (never personal data).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body, if any.
    pub html: Option<String>,
    /// Message-ID (without angle brackets), from [`super::compose::message_id`].
    pub message_id: String,
    /// The iTIP method; must equal the `METHOD` line of `ics`.
    pub method: Method,
    /// The calendar object, from [`crate::core::ical::render`].
    pub ics: String,
}

/// The values of the calendar's top-level `METHOD` lines (unfolded).
fn ics_methods(ics: &str) -> Vec<String> {
    ics.replace("\r\n ", "")
        .replace("\r\n\t", "")
        .split("\r\n")
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("METHOD").then(|| value.trim().to_ascii_uppercase())
        })
        .collect()
}

/// A base64 body holding exactly `ics`.
fn calendar_body(ics: &str) -> Result<Body> {
    Body::new_with_encoding(ics.as_bytes().to_vec(), ContentTransferEncoding::Base64)
        .map_err(|_| anyhow::anyhow!("cannot encode the calendar part as base64"))
}

/// Builds the invitation and returns its bytes.
///
/// Fails on an invalid address, or when `d.method` is not the calendar's only `METHOD`.
pub fn build_invite(d: &InviteDraft) -> Result<Vec<u8>> {
    let method = d.method.as_str();
    let methods = ics_methods(&d.ics);
    if methods != [method] {
        bail!("the calendar's METHOD {methods:?} does not match the mail's method={method}");
    }

    let b = super::compose::headers(&d.from_name, &d.from_address, &d.to, &d.subject, &d.message_id)?;

    let calendar_type =
        ContentType::parse(&format!("text/calendar; method={method}; charset=UTF-8")).context("invalid text/calendar content type")?;
    let attachment_type =
        ContentType::parse(&format!("application/ics; name=\"{ATTACHMENT_NAME}\"")).context("invalid application/ics content type")?;

    let mut alternative = MultiPart::alternative().singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(d.text.clone()));
    if let Some(html) = &d.html {
        alternative = alternative.singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone()));
    }
    alternative = alternative.singlepart(SinglePart::builder().header(calendar_type).body(calendar_body(&d.ics)?));

    let attachment = Attachment::new(ATTACHMENT_NAME.into()).body(calendar_body(&d.ics)?, attachment_type);
    let msg = b
        .multipart(MultiPart::mixed().multipart(alternative).singlepart(attachment))
        .context("cannot build invitation mail")?;
    Ok(msg.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ical::{Attendee, Event, PartStat, Role, render};
    use crate::mail::compose::message_id;
    use chrono::{TimeZone, Utc};
    use mail_parser::{MessageParser, MimeHeaders, PartType};

    fn event() -> Event {
        let t = |d, h| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).single().expect("time");
        Event {
            uid: "iof-aof-20261208@kommun.test".into(),
            sequence: 1,
            dtstamp: t(1, 9),
            start: t(8, 12),
            end: t(8, 13),
            summary: "Samverkansmöte IoF–ÄoF".into(),
            location: Some("Stadshuset, rum 3".into()),
            description: Some("Ärenden: 2026-0001 (A.B., 14 år)".into()),
            organizer_name: "Samverkan IoF–ÄoF".into(),
            organizer_address: "samverkan@kommun.test".into(),
            attendees: vec![Attendee {
                name: "Anna Berg".into(),
                address: "anna.berg@kommun.test".into(),
                role: Role::Required,
                partstat: PartStat::NeedsAction,
            }],
            cancelled: false,
        }
    }

    fn draft(method: Method) -> InviteDraft {
        InviteDraft {
            from_name: "Samverkan IoF–ÄoF".into(),
            from_address: "samverkan@kommun.test".into(),
            to: vec![("Anna Berg".into(), "anna.berg@kommun.test".into())],
            subject: "Inbjudan: Samverkansmöte IoF–ÄoF 8 december".into(),
            text: "Välkommen till samverkansmötet.\n".into(),
            html: Some("<p>Välkommen till samverkansmötet.</p>".into()),
            message_id: message_id("invite", "iof-aof-20261208@kommun.test/1", "kommun.test"),
            method,
            ics: render(method, &event()),
        }
    }

    /// (content type with parameters, decoded bytes) of every leaf part, in order.
    fn leaves(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let m = MessageParser::default().parse(bytes).expect("parse");
        m.parts
            .iter()
            .filter(|p| !matches!(p.body, PartType::Multipart(_)))
            .map(|p| {
                let ct = p.content_type().expect("content type");
                let mut s = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default());
                for a in ct.attributes().unwrap_or_default() {
                    s.push_str(&format!("; {}={}", a.name, a.value));
                }
                (s, p.contents().to_vec())
            })
            .collect()
    }

    #[test]
    fn layout_and_calendar_bytes() {
        for method in [Method::Request, Method::Cancel] {
            let d = draft(method);
            let bytes = build_invite(&d).expect("build");
            let m = MessageParser::default().parse(&bytes).expect("parse");
            assert_eq!(m.content_type().map(|c| c.ctype()), Some("multipart"));
            assert_eq!(m.content_type().and_then(|c| c.subtype()), Some("mixed"));
            assert_eq!(m.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
            assert_eq!(m.header_raw("X-Auto-Response-Suppress").map(str::trim), Some("All"));
            assert_eq!(m.message_id(), Some(d.message_id.as_str()));
            assert_eq!(m.subject(), Some(d.subject.as_str()));

            let parts = leaves(&bytes);
            let types: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
            let m = method.as_str();
            assert_eq!(
                types,
                [
                    "text/plain; charset=utf-8".to_string(),
                    "text/html; charset=utf-8".to_string(),
                    // The mime crate under lettre writes the charset in lower case; charset
                    // names are case-insensitive (RFC 2046).
                    format!("text/calendar; method={m}; charset=utf-8"),
                    "application/ics; name=invite.ics".to_string(),
                ]
            );
            assert_eq!(parts[2].1, d.ics.as_bytes(), "calendar part not byte-identical");
            assert_eq!(parts[3].1, d.ics.as_bytes(), "attachment not byte-identical");
        }
    }

    #[test]
    fn raw_structure() {
        let bytes = build_invite(&draft(Method::Request)).expect("build");
        let text = String::from_utf8(bytes).expect("ascii mail");
        assert!(text.contains("Content-Type: multipart/mixed;"), "{text}");
        assert!(text.contains("Content-Type: multipart/alternative;"), "{text}");
        assert!(
            text.contains("Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n"),
            "{text}"
        );
        assert!(
            text.contains("Content-Disposition: attachment; filename=\"invite.ics\"\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Type: application/ics; name=\"invite.ics\"\r\n"), "{text}");
        let alt = text.find("multipart/alternative").expect("alternative");
        let cal = text.find("text/calendar").expect("calendar");
        let ics = text.find("application/ics").expect("attachment");
        assert!(alt < cal && cal < ics);
    }

    #[test]
    fn without_html_there_are_two_alternatives() {
        let mut d = draft(Method::Request);
        d.html = None;
        let parts = leaves(&build_invite(&d).expect("build"));
        assert_eq!(parts.len(), 3);
        assert!(parts[1].0.starts_with("text/calendar"));
    }

    #[test]
    fn method_mismatch_is_an_error() {
        let mut d = draft(Method::Request);
        d.method = Method::Cancel;
        assert!(build_invite(&d).is_err());
        d.ics = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n".into();
        assert!(build_invite(&d).is_err());
    }

    #[test]
    fn header_injection_is_neutralised() {
        let mut d = draft(Method::Request);
        d.subject = "Inbjudan\r\nBcc: victim@evil.test".into();
        d.to[0].0 = "Anna\r\nBcc: victim@evil.test".into();
        d.from_name = "Samverkan\nBcc: victim@evil.test".into();
        let bytes = build_invite(&d).expect("build");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{text}");
    }

    #[test]
    fn invalid_address_is_an_error() {
        let mut d = draft(Method::Request);
        d.to[0].1 = "not an address".into();
        assert!(build_invite(&d).is_err());
    }
}
