//! Building outgoing mail: the final MIME bytes that go into the outbox.
//!
//! Every mail the daemon writes carries `Auto-Submitted: auto-generated` (RFC 3834) so that
//! well-behaved auto-responders do not answer it, and `X-Auto-Response-Suppress: All` for
//! Exchange. Message-IDs are deterministic: the same cause gives the same id, so a mail queued
//! again after a crash is stored once.

use anyhow::{Context, Result};
use lettre::message::MessageBuilder;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use sha2::{Digest, Sha256};

/// A mail to build.
#[derive(Debug, Clone)]
pub struct Draft {
    pub from_name: String,
    pub from_address: String,
    /// (display name, address)
    pub to: Vec<(String, String)>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Message-ID (without angle brackets) of the mail this answers, if any.
    pub in_reply_to: Option<String>,
    /// Message-ID (without angle brackets), from [`message_id`].
    pub message_id: String,
}

/// A deterministic Message-ID: `samverkan.KIND.HASH@DOMAIN`, where HASH is derived from `key`
/// (e.g. the Message-ID of the submission a receipt answers).
pub fn message_id(kind: &str, key: &str, domain: &str) -> String {
    let h = Sha256::digest(format!("{kind}\0{key}").as_bytes());
    format!("samverkan.{kind}.{}@{domain}", crate::core::intake::hex(&h[..12]))
}

/// Removes what must never reach a header: CR, LF and other control characters (a display
/// name or subject taken from an incoming mail could otherwise inject headers).
pub fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`header_safe`] for unstructured header text (the Subject): also breaks up every `=?`, so
/// that text which looks like an RFC 2047 encoded-word (a sender can double-encode one, e.g. a
/// subject that decodes to `=?utf-8?Q?x=0D=0ABcc:_y?=`) is not written verbatim and then decoded
/// by the recipient's client into CR/LF or other control characters. The invisible WORD JOINER
/// (U+2060) between `=` and `?` makes the word non-ASCII, so lettre encodes it, and decoders show
/// the inner text literally (encoded-words are not decoded twice).
pub fn header_text(s: &str) -> String {
    header_safe(s).replace("=?", "=\u{2060}?")
}

fn mailbox(name: &str, address: &str) -> Result<Mailbox> {
    let addr: Address = address.parse().with_context(|| format!("invalid address {address:?}"))?;
    let name = header_safe(name);
    Ok(Mailbox::new(if name.is_empty() { None } else { Some(name) }, addr))
}

/// The headers every mail of ours carries: From, To, Subject (never injectable), the
/// deterministic Message-ID, and the auto-submitted markers. Shared with `imip`.
pub(crate) fn headers(
    from_name: &str,
    from_address: &str,
    to: &[(String, String)],
    subject: &str,
    message_id: &str,
) -> Result<MessageBuilder> {
    let mut b = Message::builder()
        .from(mailbox(from_name, from_address)?)
        .subject(header_text(subject))
        .message_id(Some(format!("<{message_id}>")))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".into(),
        ));
    for (name, addr) in to {
        b = b.to(mailbox(name, addr)?);
    }
    Ok(b)
}

/// Builds the mail and returns its bytes.
pub fn build(d: &Draft) -> Result<Vec<u8>> {
    let mut b = headers(&d.from_name, &d.from_address, &d.to, &d.subject, &d.message_id)?;
    if let Some(irt) = &d.in_reply_to {
        let irt = header_safe(irt).replace(['<', '>', ' '], "");
        if !irt.is_empty() {
            b = b.in_reply_to(format!("<{irt}>")).references(format!("<{irt}>"));
        }
    }
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(d.text.clone());
    let msg = match &d.html {
        Some(html) => b.multipart(
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone())),
        ),
        None => b.singlepart(text),
    }
    .context("cannot build mail")?;
    Ok(msg.formatted())
}

/// A file attached to a mail.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `text/html; charset=utf-8`, `text/csv; charset=utf-8`
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Builds the mail with files attached: `multipart/mixed` { the mail as [`build`] makes it,
/// the attachments }.
pub fn build_with_attachments(d: &Draft, files: &[Attachment]) -> Result<Vec<u8>> {
    let mut b = headers(&d.from_name, &d.from_address, &d.to, &d.subject, &d.message_id)?;
    if let Some(irt) = &d.in_reply_to {
        let irt = header_safe(irt).replace(['<', '>', ' '], "");
        if !irt.is_empty() {
            b = b.in_reply_to(format!("<{irt}>")).references(format!("<{irt}>"));
        }
    }
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(d.text.clone());
    let body = match &d.html {
        Some(html) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone())),
        None => MultiPart::mixed().singlepart(text),
    };
    let mut mixed = MultiPart::mixed().multipart(body);
    for f in files {
        let ct = ContentType::parse(&f.content_type).with_context(|| format!("content type {:?}", f.content_type))?;
        mixed = mixed.singlepart(lettre::message::Attachment::new(header_safe(&f.filename)).body(f.body.clone(), ct));
    }
    Ok(b.multipart(mixed).context("cannot build mail")?.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_read_back_with_their_names_and_bytes() {
        use mail_parser::MimeHeaders;
        let files = [
            Attachment {
                filename: "rapport.html".into(),
                content_type: "text/html; charset=utf-8".into(),
                body: "<p>åäö</p>".as_bytes().to_vec(),
            },
            Attachment {
                filename: "rapport-arenden.csv".into(),
                content_type: "text/csv; charset=utf-8".into(),
                body: b"a,b\r\n1,2\r\n".to_vec(),
            },
        ];
        let bytes = build_with_attachments(&draft(), &files).expect("build");
        let m = mail_parser::MessageParser::default().parse(&bytes).expect("parse");
        let got: Vec<(String, Vec<u8>)> = m
            .attachments()
            .map(|a| (a.attachment_name().unwrap_or_default().to_string(), a.contents().to_vec()))
            .collect();
        assert_eq!(got, files.iter().map(|f| (f.filename.clone(), f.body.clone())).collect::<Vec<_>>());
        assert_eq!(
            m.body_text(0).map(|t| t.replace("\r\n", "\n").trim_end().to_string()).as_deref(),
            Some("Hej Anna,\nåäö")
        );
    }

    fn draft() -> Draft {
        Draft {
            from_name: "Samverkan IoF–ÄoF".into(),
            from_address: "samverkan@kommun.test".into(),
            to: vec![("Anna Berg".into(), "anna.berg@kommun.test".into())],
            subject: "Kvittens: ärende 2026-0001".into(),
            text: "Hej Anna,\nåäö\n".into(),
            html: Some("<p>Hej</p>".into()),
            in_reply_to: Some("abc@outlook.test".into()),
            message_id: message_id("receipt", "abc@outlook.test", "kommun.test"),
        }
    }

    #[test]
    fn builds_a_mail_that_reads_back() {
        let bytes = build(&draft()).expect("build");
        let m = mail_parser::MessageParser::default().parse(&bytes).expect("parse");
        assert_eq!(m.subject(), Some("Kvittens: ärende 2026-0001"));
        assert_eq!(m.in_reply_to().as_text(), Some("abc@outlook.test"));
        assert_eq!(m.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
        assert_eq!(
            m.body_text(0).map(|t| t.replace("\r\n", "\n")).as_deref().map(str::trim_end),
            Some("Hej Anna,\nåäö")
        );
        assert!(
            m.message_id()
                .is_some_and(|id| id.starts_with("samverkan.receipt.") && id.ends_with("@kommun.test"))
        );
    }

    #[test]
    fn message_ids_are_deterministic() {
        assert_eq!(message_id("receipt", "x", "d"), message_id("receipt", "x", "d"));
        assert_ne!(message_id("receipt", "x", "d"), message_id("reject", "x", "d"));
    }

    #[test]
    fn header_injection_is_neutralised() {
        let mut d = draft();
        d.subject = "Hej\r\nBcc: victim@evil.test".into();
        d.to[0].0 = "Anna\r\nBcc: victim@evil.test".into();
        d.in_reply_to = Some("x@y>\r\nBcc: victim@evil.test".into());
        let bytes = build(&d).expect("build");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{text}");
    }

    #[test]
    fn encoded_words_in_the_subject_stay_literal() {
        // A subject that arrived double-encoded decodes to a literal encoded-word; written
        // verbatim, the recipient's client would decode it into CR/LF.
        for subject in [
            "Kvittens: =?utf-8?Q?Anna=0D=0ABcc:_victim@evil.test?=",
            "Å =?utf-8?B?DQpCY2M6IHg=?= x",
        ] {
            let mut d = draft();
            d.subject = subject.into();
            let bytes = build(&d).expect("build");
            let m = mail_parser::MessageParser::default().parse(&bytes).expect("parse");
            let got = m.subject().expect("subject");
            assert!(!got.chars().any(char::is_control), "{got:?}");
            assert_eq!(got.replace('\u{2060}', ""), subject);
        }
    }
}
