//! Reading delivery status notifications (RFC 3464): which recipients failed, and which of our
//! mails it was (the original Message-ID, from the returned message or its headers).
//!
//! Postfix, Exchange and Gmail all send `multipart/report; report-type=delivery-status` with a
//! `message/delivery-status` part (per-recipient `Final-Recipient`, `Action`, `Status`) and the
//! original as `message/rfc822` or `text/rfc822-headers`. Some servers send only a text bounce:
//! then the original's Message-ID is looked for in the text.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{MessageParser, MimeHeaders, PartType};

/// What a delivery report says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bounce {
    /// Recipients whose delivery failed (lowercased), from `Final-Recipient`/`Original-Recipient`
    /// with `Action: failed` (or no Action given).
    pub failed: Vec<String>,
    /// The Message-ID (without angle brackets) of the mail that bounced, when found.
    pub original_message_id: Option<String>,
}

fn address_of(value: &str) -> Option<String> {
    // "rfc822; anna@kommun.test" or "<anna@kommun.test>"
    let v = value
        .split_once(';')
        .map_or(value, |(_, a)| a)
        .trim()
        .trim_matches(['<', '>'])
        .trim();
    (v.contains('@') && !v.contains(char::is_whitespace)).then(|| v.to_ascii_lowercase())
}

fn message_id_in(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("message-id")
            .then(|| value.trim().trim_matches(['<', '>']).trim().to_string())
            .filter(|s| !s.is_empty())
    })
}

/// Reads a delivery report. `None` when the bytes are no message at all.
///
/// mail-parser panics on some malformed nesting (0.11.9: "Invalid part ID, could not find
/// multipart." for a `message/rfc822` part in a multipart whose boundary parameter is followed
/// by a bare CR, found by fuzzing; `tests/regressions/`): like [`super::view::parse`], such a
/// panic counts as "no message" instead of taking the intake task down.
pub fn read_bounce(raw: &[u8]) -> Option<Bounce> {
    catch_unwind(AssertUnwindSafe(|| read(raw))).ok()?
}

fn read(raw: &[u8]) -> Option<Bounce> {
    let m = MessageParser::default().parse(raw)?;
    let mut b = Bounce::default();
    for part in &m.parts {
        let ct = part.content_type();
        let (t, sub) = ct
            .map(|c| (c.ctype().to_ascii_lowercase(), c.subtype().unwrap_or("").to_ascii_lowercase()))
            .unwrap_or_default();
        let text = match &part.body {
            PartType::Text(s) | PartType::Html(s) => Some(s.to_string()),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            PartType::Message(inner) => {
                if b.original_message_id.is_none() {
                    b.original_message_id = inner.message_id().map(str::to_string);
                }
                None
            }
            PartType::Multipart(_) => None,
        };
        let Some(text) = text else { continue };
        match (t.as_str(), sub.as_str()) {
            ("message", "delivery-status") | ("message", "global-delivery-status") => {
                // Per-recipient blocks are separated by blank lines.
                for block in text.replace("\r\n", "\n").split("\n\n") {
                    let field = |n: &str| {
                        block.lines().find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.trim().eq_ignore_ascii_case(n).then(|| v.trim().to_string())
                        })
                    };
                    let recipient = field("Final-Recipient")
                        .or_else(|| field("Original-Recipient"))
                        .and_then(|v| address_of(&v));
                    let action = field("Action").map(|a| a.to_ascii_lowercase());
                    if let Some(r) = recipient
                        && action.as_deref().is_none_or(|a| a == "failed")
                        && !b.failed.contains(&r)
                    {
                        b.failed.push(r);
                    }
                }
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers") if b.original_message_id.is_none() => {
                b.original_message_id = message_id_in(&text);
            }
            _ => {}
        }
    }
    if b.original_message_id.is_none() {
        // A plain-text bounce quoting the original's headers.
        let body = m.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        b.original_message_id = message_id_in(&body).filter(|id| Some(id.as_str()) != m.message_id());
    }
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTFIX: &str = "From: MAILER-DAEMON@mx.kommun.test (Mail Delivery System)\r\n\
To: samverkan@kommun.test\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Message-Id: <20261123.ABC@mx.kommun.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
\r\n\
--B\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.kommun.test\r\n\
\r\n\
Final-Recipient: rfc822; Anna.Berg@kommun.test\r\n\
Original-Recipient: rfc822;anna.berg@kommun.test\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
\r\n\
Final-Recipient: rfc822; lars@kommun.test\r\n\
Action: delayed\r\n\
Status: 4.4.1\r\n\
\r\n\
--B\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: Samverkan <samverkan@kommun.test>\r\n\
Subject: Kallelse\r\n\
Message-ID: <samverkan.invitation.abc@kommun.test>\r\n\
\r\n\
--B--\r\n";

    #[test]
    fn postfix_report_names_the_failed_recipient_and_our_message() {
        let b = read_bounce(POSTFIX.as_bytes()).expect("parses");
        assert_eq!(b.failed, vec!["anna.berg@kommun.test".to_string()], "delayed is not failed");
        assert_eq!(b.original_message_id.as_deref(), Some("samverkan.invitation.abc@kommun.test"));
    }

    #[test]
    fn returned_message_as_rfc822() {
        let raw = POSTFIX.replace(
            "Content-Type: text/rfc822-headers\r\n\r\nFrom: Samverkan <samverkan@kommun.test>\r\nSubject: Kallelse\r\nMessage-ID: <samverkan.invitation.abc@kommun.test>\r\n",
            "Content-Type: message/rfc822\r\n\r\nFrom: Samverkan <samverkan@kommun.test>\r\nSubject: Kallelse\r\nMessage-ID: <samverkan.invitation.xyz@kommun.test>\r\n\r\nbody\r\n",
        );
        let b = read_bounce(raw.as_bytes()).expect("parses");
        assert_eq!(b.original_message_id.as_deref(), Some("samverkan.invitation.xyz@kommun.test"));
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [&b""[..], b"\xff\xfe", b"Content-Type: multipart/report\r\n\r\n--"] {
            let _ = read_bounce(raw);
        }
    }
}
