//! What kind of mail arrived at a forum mailbox.
//!
//! Order of the rules, first match wins:
//!
//! 1. A calendar part whose method (MIME `method=`, else the `METHOD:` line of
//!    the calendar text) is `REPLY` → [`Kind::Reply`], `COUNTER` →
//!    [`Kind::Counter`], even when the mail is marked auto-submitted (Gmail's
//!    calendar replies are). Any other calendar method (an incoming
//!    `REQUEST`, `CANCEL`, `PUBLISH`) → [`Kind::Other`].
//! 2. A delivery status report → [`Kind::Bounce`]: `multipart/report;
//!    report-type=delivery-status`, or an `X-Failed-Recipients` header, or a
//!    mail from `MAILER-DAEMON`/`postmaster`/Exchange's system sender with a
//!    bounce-looking subject.
//! 3. A subject that starts like a calendar answer (`Accepted:`,
//!    `Accepterat:`, `Avböjt:`, …; the table is
//!    [`ANSWER_SUBJECTS`](crate::core::reply::ANSWER_SUBJECTS)) without a
//!    calendar part → [`Kind::Reply`]; [`read_reply`](crate::core::reply::read_reply)
//!    reads those. `SV: Accepterat: …` is a person answering an answer: not here.
//! 4. An automatic reply → [`Kind::AutoReply`]: `Auto-Submitted: auto-replied`,
//!    `X-Autoreply`, `X-Autorespond`, `X-Auto-Response-Suppress`,
//!    `Precedence: auto_reply`, an out-of-office subject, or a read receipt
//!    (`report-type=disposition-notification`).
//! 5. Bulk and list mail → [`Kind::Other`]: `List-Id`, `List-Unsubscribe`,
//!    `Precedence: bulk|junk|list`. These are not people answering, and
//!    nothing in the routine reacts to a newsletter, so they are not
//!    auto-replies (which the daemon may use to learn that someone is away).
//! 6. Any other `Auto-Submitted` value but `no` → [`Kind::AutoReply`].
//! 7. Everything else was written by a person → [`Kind::Submission`]; later
//!    stages decide whether it is a new case, a correction, a withdrawal, …

use serde::Serialize;

use crate::core::reply::answer_in_subject;
use crate::mail::view::MailView;

/// The kind of an incoming mail.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Written by a person: a submission or anything else a human sends.
    Submission,
    /// An answer to a meeting invitation (iTIP REPLY or an answer subject).
    Reply,
    /// A counter-proposal to a meeting invitation (iTIP COUNTER).
    Counter,
    /// An out-of-office or other automatic answer.
    AutoReply,
    /// A delivery status notification (bounce).
    Bounce,
    /// Mail nobody needs to act on: newsletters, list mail, foreign invitations.
    Other,
}

/// Subject prefixes of out-of-office answers. The Swedish words for
/// "absence" need their colon: a person may well write "Frånvaro på mötet".
const AUTO_REPLY_SUBJECTS: &[&str] = &[
    "autosvar",
    "automatiskt svar",
    "frånvaro:",
    "frånvarande:",
    "out of office",
    "automatic reply",
    "auto:",
    "autoreply",
    "auto-reply",
];

/// Subjects of delivery status notifications (prefix match, lowercased).
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "delivery status notification",
    "olevererbart",
    "kan inte levereras",
    "returned mail",
    "undeliverable",
    "undeliverable mail",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "failure notice",
    "mail system error",
    "leveransfel",
];

/// Local parts of system senders that send bounces.
const BOUNCE_SENDERS: &[&str] = &["mailer-daemon", "postmaster", "microsoftexchange"];

/// Classifies a parsed mail; see the module documentation for the rules.
pub fn classify(v: &MailView) -> Kind {
    if let Some(kind) = calendar_kind(v) {
        return kind;
    }
    if is_bounce(v) {
        return Kind::Bounce;
    }
    if answer_in_subject(&v.subject).is_some() {
        return Kind::Reply;
    }
    let subject = v.subject.trim().to_lowercase();
    if is_auto_reply(v, &subject) {
        return Kind::AutoReply;
    }
    if is_bulk(v) {
        return Kind::Other;
    }
    if let Some(a) = v.header("auto-submitted")
        && !auto_submitted_is_no(a)
    {
        return Kind::AutoReply;
    }
    Kind::Submission
}

fn calendar_kind(v: &MailView) -> Option<Kind> {
    let mut other = false;
    for cal in &v.calendars {
        match cal.effective_method().as_deref() {
            Some("REPLY") => return Some(Kind::Reply),
            Some("COUNTER") => return Some(Kind::Counter),
            Some(_) => other = true,
            None => {}
        }
    }
    other.then_some(Kind::Other)
}

fn is_bounce(v: &MailView) -> bool {
    if v.report_type.as_deref() == Some("delivery-status") || v.has_header("x-failed-recipients") {
        return true;
    }
    let local = v
        .from
        .as_deref()
        .or(v.sender.as_deref())
        .and_then(|a| a.split('@').next())
        .unwrap_or_default();
    let system = BOUNCE_SENDERS.iter().any(|s| local.starts_with(s));
    let subject = v.subject.trim().to_lowercase();
    system && BOUNCE_SUBJECTS.iter().any(|s| subject.starts_with(s))
}

fn auto_submitted_is_no(value: &str) -> bool {
    header_keyword(value).eq_ignore_ascii_case("no")
}

/// The keyword of a structured header value: what comes before any parameter (`;`) and any
/// RFC 5322 comment, so `auto-replied (vacation)`, `auto-replied; owner-email=…` and
/// `bulk (list)` all give their first word.
fn header_keyword(value: &str) -> &str {
    let value = value.trim_start();
    let end = value.find([';', '(', ' ', '\t', ',']).unwrap_or(value.len());
    &value[..end]
}

fn is_auto_reply(v: &MailView, subject: &str) -> bool {
    if v.header("auto-submitted")
        .is_some_and(|a| header_keyword(a).eq_ignore_ascii_case("auto-replied"))
    {
        return true;
    }
    if ["x-autoreply", "x-autorespond", "x-auto-response-suppress"]
        .iter()
        .any(|h| v.has_header(h))
    {
        return true;
    }
    if v.header("precedence")
        .is_some_and(|p| header_keyword(p).eq_ignore_ascii_case("auto_reply"))
    {
        return true;
    }
    if v.report_type.as_deref() == Some("disposition-notification") {
        return true;
    }
    AUTO_REPLY_SUBJECTS.iter().any(|p| subject.starts_with(p))
}

fn is_bulk(v: &MailView) -> bool {
    v.has_header("list-id")
        || v.has_header("list-unsubscribe")
        || v.header("precedence").is_some_and(|p| {
            let p = header_keyword(p);
            ["bulk", "junk", "list"].iter().any(|x| p.eq_ignore_ascii_case(x))
        })
}

impl Kind {
    /// The kind's name as in `inspect` output, logs and the intake record.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Submission => "submission",
            Kind::Reply => "reply",
            Kind::Counter => "counter",
            Kind::AutoReply => "auto_reply",
            Kind::Bounce => "bounce",
            Kind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::view::CalendarPart;

    fn view(headers: &[(&str, &str)], subject: &str) -> MailView {
        MailView {
            subject: subject.to_string(),
            from: Some("anna.berg@kommun.test".into()),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            ..MailView::default()
        }
    }

    #[test]
    fn calendar_reply_wins_over_auto_submitted() {
        let mut v = view(&[("auto-submitted", "auto-generated")], "Accepted: Samverkansmöte");
        v.calendars.push(CalendarPart {
            method: None,
            text: "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nEND:VCALENDAR\r\n".into(),
        });
        assert_eq!(classify(&v), Kind::Reply);
        v.calendars[0].method = Some("COUNTER".into());
        assert_eq!(classify(&v), Kind::Counter);
    }

    #[test]
    fn answer_subject_without_calendar_is_reply() {
        assert_eq!(classify(&view(&[], "Accepterat: Samverkansmöte 12 mars")), Kind::Reply);
        assert_eq!(classify(&view(&[], "Inbjudan avvisades: Möte")), Kind::Reply);
        assert_eq!(classify(&view(&[], "SV: Accepterat: Möte")), Kind::Submission);
    }

    #[test]
    fn auto_and_bulk() {
        assert_eq!(classify(&view(&[("auto-submitted", "auto-replied")], "x")), Kind::AutoReply);
        assert_eq!(classify(&view(&[("auto-submitted", "no")], "x")), Kind::Submission);
        assert_eq!(classify(&view(&[("x-auto-response-suppress", "All")], "x")), Kind::AutoReply);
        assert_eq!(classify(&view(&[], "Frånvaro: Anna Berg")), Kind::AutoReply);
        assert_eq!(classify(&view(&[("list-id", "<n.kommun.test>")], "Nyhetsbrev")), Kind::Other);
        assert_eq!(classify(&view(&[("precedence", "bulk")], "Nyhetsbrev")), Kind::Other);
        assert_eq!(classify(&view(&[], "Frågor om ärende")), Kind::Submission);
    }

    #[test]
    fn header_keywords_with_comments_and_parameters() {
        // Dovecot's Sieve vacation (RFC 3834 allows the comment), with Precedence: bulk.
        let vacation = [("auto-submitted", "auto-replied (vacation)"), ("precedence", "bulk")];
        assert_eq!(classify(&view(&vacation, "Re: Ärende")), Kind::AutoReply);
        assert_eq!(
            classify(&view(&[("auto-submitted", " Auto-Replied;owner-email=\"a@b\"")], "x")),
            Kind::AutoReply
        );
        assert_eq!(classify(&view(&[("auto-submitted", "no (a person)")], "x")), Kind::Submission);
        assert_eq!(
            classify(&view(&[("auto-submitted", "auto-generated (digest)")], "x")),
            Kind::AutoReply
        );
        assert_eq!(classify(&view(&[("precedence", "auto_reply (vacation)")], "x")), Kind::AutoReply);
        assert_eq!(classify(&view(&[("precedence", "list (announce)")], "Nyhetsbrev")), Kind::Other);
        assert_eq!(classify(&view(&[("precedence", "Bulk;")], "Nyhetsbrev")), Kind::Other);
        assert_eq!(classify(&view(&[("precedence", "bulkmail")], "x")), Kind::Submission);
    }

    #[test]
    fn bounce_by_sender_and_subject() {
        let mut v = view(&[], "Undelivered Mail Returned to Sender");
        v.from = Some("mailer-daemon@mx.kommun.test".into());
        assert_eq!(classify(&v), Kind::Bounce);
        v.from = Some("anna.berg@kommun.test".into());
        assert_eq!(classify(&v), Kind::Submission);
    }
}
