//! What an incoming mail means and what to do about it: a pure function of the mail, what the
//! store already knows about it, the configuration and `now`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, Forum};
use crate::core::classify::{Kind, classify};
use crate::core::followup::{ObligationReply, ThreadObligation, read_reply};
use crate::core::schedule::{Assignment, Meeting, assign, cutoff};
use crate::core::submission::{SectionKey, Submission, read_submission};
use crate::mail::view::MailView;

/// One message as the intake loop hands it to the core.
#[derive(Debug)]
pub struct Arrival<'a> {
    /// The parsed mail; `None` when the bytes are not a readable message.
    pub view: Option<&'a MailView>,
    /// The server's INTERNALDATE: the arrival time the routine's cutoff is measured against.
    pub internal_date: DateTime<Utc>,
    /// True when the message was larger than `daemon.max_message_size` and was not fetched.
    pub too_large: bool,
    /// The mail's submission as [`submission_of`] reads it, when the shell has read it already
    /// (it reads each mail once; [`lookups`] and [`decide`] both need it). `None`: read here.
    pub submission: Option<&'a Submission>,
}

/// A forum member's submission as the case rules read it: the mail's forum (see
/// [`forum_for`]) and its sender a member of it, and a mail a person wrote. `None` for every
/// other mail.
pub fn submission_of(cfg: &Config, v: &MailView) -> Option<Submission> {
    let forum = forum_for(cfg, v)?;
    forum.member(v.from.as_deref()?)?;
    if classify(v) != Kind::Submission {
        return None;
    }
    Some(read_in(forum, v))
}

/// `v`'s submission as `forum` reads it (the units of its members named in Cc).
fn read_in(forum: &Forum, v: &MailView) -> Submission {
    read_submission(v, &|a: &str| forum.member(a).map(|m| m.unit.clone()))
}

impl<'a> Arrival<'a> {
    /// The submission of this arrival's view `v` in `forum`: the one the shell read, or read
    /// here.
    fn submission_in(&self, forum: &Forum, v: &MailView) -> Cow<'a, Submission> {
        match self.submission {
            Some(read) => Cow::Borrowed(read),
            None => Cow::Owned(read_in(forum, v)),
        }
    }
}

/// What the store knows that bears on this message, looked up before deciding.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    /// The Message-ID has been handled before (a resend, a copy, a UIDVALIDITY reset).
    pub message_id_seen: bool,
    /// A case already exists for the same sender and the same content (a resend under a new
    /// Message-ID): its case number.
    pub same_content_case: Option<String>,
    /// The case this mail answers (by In-Reply-To/References to the submission or to one of our
    /// mails about it, or by the case number in the subject), if any.
    pub thread_case: Option<ThreadCase>,
    /// The forum's meetings after the arrival, soonest first (with admins' moves and cancels).
    pub meetings: Vec<Meeting>,
    /// "Incomplete" and "no parts" answers sent to this sender in the last 24 hours (read
    /// only when [`Lookups::rejections_of`] asks for it).
    pub rejections_today: u32,
    /// The obligations that mails of this mail's thread (In-Reply-To/References) were sent
    /// about, open or closed (read only when [`Lookups::obligations`] asks for them).
    pub thread_obligations: Vec<ThreadObligation>,
}

/// What the shell looks up (through the intake transaction) before [`route`] decides: read off
/// the mail and the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lookups {
    /// The forum whose store the facts come from; `None`: only `message_id_seen` matters.
    pub forum: Option<String>,
    /// The content fingerprint to look for (`Facts::same_content_case`).
    pub content_hash: String,
    /// The thread's Message-IDs (In-Reply-To, then References).
    pub thread_ids: Vec<String>,
    /// A case number in the subject.
    pub case_ref: Option<String>,
    /// Whether the forum's meetings matter (it has a schedule).
    pub meetings: bool,
    /// Whether the thread's obligations matter (a mail a person wrote, in a thread).
    pub obligations: bool,
    /// The member address whose recent "incomplete"/"no parts" answers matter: set only when the
    /// mail's own submission lacks parts, so a complete submission (the common case) costs no
    /// such read.
    pub rejections_of: Option<String>,
}

/// What to look up for an arrival.
pub fn lookups(a: &Arrival<'_>, cfg: &Config) -> Lookups {
    let Some(v) = a.view.filter(|_| !a.too_large) else {
        return Lookups::default();
    };
    let (Some(forum), Some(from)) = (forum_for(cfg, v), v.from.as_deref()) else {
        return Lookups::default();
    };
    let member = forum.member(from);
    let thread_ids: Vec<String> = v.in_reply_to.iter().chain(&v.references).cloned().collect();
    let person = classify(v) == Kind::Submission;
    let rejections_of = member
        .filter(|_| person)
        .and_then(|m| (!a.submission_in(forum, v).missing.is_empty()).then(|| m.address.clone()));
    Lookups {
        forum: Some(forum.id.clone()),
        content_hash: content_hash(member.map(|m| m.address.as_str()).unwrap_or(from), &v.text),
        case_ref: crate::core::submission::find_case_ref(&v.subject),
        meetings: forum.schedule.is_some(),
        obligations: person && !thread_ids.is_empty(),
        thread_ids,
        rejections_of,
    }
}

/// Where a mail goes: to the obligation its thread belongs to, to the tracking of invitation
/// answers and delivery reports, or to the case rules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per mail, short-lived
pub enum Route {
    /// A reply in the thread of a mail sent about an obligation (decisions, handover
    /// information, "Mottaget", "Klart", a comment) from someone the routine involves, in
    /// `forum`: `core::followup` decides what it does. Processed, even from a non-member.
    Obligation { forum: String, reply: ObligationReply },
    /// An answer to an invitation (REPLY, COUNTER) or a delivery report: `core::rsvp` decides
    /// (through the `answers` shell). Processed.
    Answer(Kind),
    /// Everything else: what the mail means for the cases.
    Case(Verdict),
}

/// The route of one mail, with what the intake record calls its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// `too_large`, `unparseable`, or the mail's kind (`submission`, `reply`, ...).
    pub kind: &'static str,
    pub route: Route,
}

impl Routed {
    /// True when the mail belongs in the quarantine folder rather than the processed folder.
    pub fn quarantined(&self) -> bool {
        matches!(&self.route, Route::Case(v) if v.quarantined())
    }
}

/// Routes an arrival: the one decision intake makes per mail, from the mail, the facts the
/// shell looked up ([`lookups`]) and the configuration. A reply in an obligation's thread wins
/// over what the mail would otherwise mean (it never changes a case's parts, and a unit head or
/// the convenor who is not a member is not quarantined for it).
pub fn route(a: &Arrival<'_>, facts: &Facts, cfg: &Config) -> Routed {
    let class = a.view.filter(|_| !a.too_large).map(|v| (v, classify(v)));
    let kind = match (a.too_large, class) {
        (true, _) => "too_large",
        (false, None) => "unparseable",
        (false, Some((_, k))) => k.as_str(),
    };
    if let Some((v, Kind::Submission)) = class.filter(|_| !facts.message_id_seen)
        && let Some(forum) = forum_for(cfg, v)
        && let Some(reply) = read_reply(forum, v, &facts.thread_obligations)
    {
        return Routed {
            kind,
            route: Route::Obligation {
                forum: forum.id.clone(),
                reply,
            },
        };
    }
    let route = match decide(a, facts, cfg) {
        Verdict::Ignore {
            kind: k @ (Kind::Reply | Kind::Counter | Kind::Bounce),
        } => Route::Answer(k),
        v => Route::Case(v),
    };
    Routed { kind, route }
}

/// What the store holds about a case a mail refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCase {
    pub id: i64,
    pub case_no: String,
    pub submitter: String,
    /// `submitted`, `incomplete`, `withdrawn`, ...
    pub status: String,
    pub sections: BTreeMap<SectionKey, String>,
    pub meeting_id: Option<i64>,
    /// When the case's meeting starts, if it has one.
    pub meeting_start: Option<DateTime<Utc>>,
}

/// Case statuses.
pub const SUBMITTED: &str = "submitted";
pub const INCOMPLETE: &str = "incomplete";
pub const WITHDRAWN: &str = "withdrawn";

/// The status a case's sections give it: complete or not.
pub fn status_of(sections: &BTreeMap<SectionKey, String>) -> &'static str {
    if missing(sections).is_empty() { SUBMITTED } else { INCOMPLETE }
}

/// The required sections not (or only emptily) present, in canonical order.
pub fn missing(sections: &BTreeMap<SectionKey, String>) -> Vec<SectionKey> {
    SectionKey::ALL
        .into_iter()
        .filter(|k| sections.get(k).is_none_or(|t| t.trim().is_empty()))
        .collect()
}

/// Why a message goes to the quarantine folder (never answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineReason {
    Unparseable,
    TooLarge,
    NoSender,
    /// The sender is not a member of any forum the mail was addressed to.
    NotMember,
}

impl QuarantineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::Unparseable => "unparseable",
            QuarantineReason::TooLarge => "too_large",
            QuarantineReason::NoSender => "no_sender",
            QuarantineReason::NotMember => "not_member",
        }
    }
}

/// The core's decision about one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Open a new case in `forum` and answer the submitter: a receipt when it is complete, a
    /// request naming the missing parts when it is not (the case is then `incomplete`).
    NewCase {
        forum: String,
        submitter: String,
        /// The case year: the arrival's year in the forum's time zone.
        year: i32,
        content_hash: String,
        submission: Submission,
        /// The meeting it goes on (complete cases of a forum with a schedule).
        assignment: Option<Assignment>,
        /// False when the sender has had too many "incomplete" answers today.
        answer: bool,
    },
    /// The submitter answered in the case's thread with parts: they replace the parts of the
    /// same name; the answer says what changed and what is still missing.
    UpdateCase {
        forum: String,
        case: ThreadCase,
        sections: BTreeMap<SectionKey, String>,
        updated: Vec<SectionKey>,
        /// Set when this answer completes a case that had no meeting yet.
        assignment: Option<Assignment>,
        /// The start of the case's meeting when this change came after its cutoff: the agenda
        /// has gone out without it.
        after_cutoff_of: Option<DateTime<Utc>>,
    },
    /// A member's mail in which no part of a submission could be found, and which answers no
    /// case: no case is opened; the sender is told what a submission needs (unless they have
    /// had too many such answers today).
    NoParts { forum: String, submitter: String, answer: bool },
    /// The submitter withdrew the case ("Återkalla").
    Withdraw { forum: String, case: ThreadCase },
    /// Seen before: processed, nothing created, nothing sent.
    Duplicate { case_no: Option<String> },
    /// Automatic mail (auto-reply, bounce, bulk) or a kind this version does not act on:
    /// processed, never answered (no mail loops, no backscatter).
    Ignore { kind: Kind },
    /// Moved to quarantine, never answered.
    Quarantine { reason: QuarantineReason },
}

impl Verdict {
    /// A short, personal-data-free name for logs and the intake record.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::NewCase { submission, .. } if !submission.missing.is_empty() => "case_incomplete",
            Verdict::NewCase { .. } => "case_created",
            Verdict::UpdateCase { sections, .. } if missing(sections).is_empty() => "case_updated",
            Verdict::UpdateCase { .. } => "case_updated_incomplete",
            Verdict::Withdraw { .. } => "case_withdrawn",
            Verdict::NoParts { .. } => "no_parts",
            Verdict::Duplicate { .. } => "duplicate",
            Verdict::Ignore { .. } => "ignored",
            Verdict::Quarantine { reason } => reason.as_str(),
        }
    }

    /// True when the mail belongs in the quarantine folder rather than the processed folder.
    pub fn quarantined(&self) -> bool {
        matches!(self, Verdict::Quarantine { .. })
    }
}

/// The forum a mail is for: the one whose mailbox it was addressed to (To, Cc, Delivered-To,
/// X-Original-To); failing that (Bcc), the only forum the sender is a member of.
pub fn forum_for<'c>(cfg: &'c Config, view: &MailView) -> Option<&'c Forum> {
    let addressed = |f: &Forum| view.to.iter().chain(&view.cc).chain(&view.delivered_to).any(|a| *a == f.mailbox);
    let mut hit = cfg.forums.iter().filter(|f| addressed(f));
    if let (Some(f), None) = (hit.next(), hit.next()) {
        return Some(f);
    }
    let from = view.from.as_deref()?;
    let mut by_member = cfg.forums.iter().filter(|f| f.member(from).is_some());
    match (by_member.next(), by_member.next()) {
        (Some(f), None) => Some(f),
        _ => None,
    }
}

/// The forum an answer to an invitation belongs to: the one it was sent to ([`forum_for`]),
/// else the one whose calendar UIDs (`FORUM-…@DOMAIN`) it names.
pub fn forum_of_answer<'c>(cfg: &'c Config, view: &MailView, uid: Option<&str>) -> Option<&'c Forum> {
    forum_for(cfg, view).or_else(|| {
        let uid = uid?;
        cfg.forums
            .iter()
            .find(|f| uid.starts_with(&format!("{}-", f.id)) && uid.ends_with(&format!("@{}", f.mail_domain())))
    })
}

/// Who gets an urgent case at once: the convenor and the deputy heads of the units concerned
/// (unit names matched case-insensitively), never the submitter, each once, as (name, address).
pub fn urgent_recipients(forum: &Forum, submitter: &str, units: &[String]) -> Vec<(String, String)> {
    let mut out = vec![(forum.convenor.name.clone(), forum.convenor.address.clone())];
    let wanted: Vec<String> = units.iter().map(|n| n.trim().to_lowercase()).collect();
    for unit in forum.units.iter().filter(|u| wanted.contains(&u.name.to_lowercase())) {
        for head in &unit.deputy_heads {
            let name = forum.member(head).map(|m| m.name.clone()).unwrap_or_default();
            out.push((name, head.clone()));
        }
    }
    out.retain(|(_, a)| a != submitter);
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(_, a)| seen.insert(a.clone()));
    out
}

/// A Message-ID for a message that has none: stable for the same bytes, so a refetch after a
/// crash dedupes like a real one.
pub fn synthetic_message_id(raw: &[u8]) -> String {
    let h = Sha256::digest(raw);
    format!("missing-{}@samverkan.invalid", hex(&h[..16]))
}

/// Fingerprint of a submission's content from one sender: whitespace and case folded, so that
/// the same text resent (new Message-ID, re-wrapped by another client) is recognised.
pub fn content_hash(sender: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(sender.to_ascii_lowercase().as_bytes());
    h.update([0u8]);
    // One buffer for the words (a burst's mails have hundreds each); `str::to_lowercase` for
    // the rest, whose rules (the final sigma) the stored fingerprints were made with.
    let mut folded = String::new();
    for word in text.split_whitespace() {
        if word.is_ascii() {
            folded.clear();
            folded.push_str(word);
            folded.make_ascii_lowercase();
            h.update(folded.as_bytes());
        } else {
            h.update(word.to_lowercase().as_bytes());
        }
        h.update([b' ']);
    }
    hex(&h.finalize()[..16])
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Decides what an arrival means.
pub fn decide(a: &Arrival<'_>, facts: &Facts, cfg: &Config) -> Verdict {
    if a.too_large {
        return Verdict::Quarantine {
            reason: QuarantineReason::TooLarge,
        };
    }
    let Some(view) = a.view else {
        return Verdict::Quarantine {
            reason: QuarantineReason::Unparseable,
        };
    };
    if facts.message_id_seen {
        return Verdict::Duplicate { case_no: None };
    }
    let kind = classify(view);
    if kind != Kind::Submission {
        // Automatic mail is never answered; replies and counters are read by the confirmation
        // tracking once invitations exist.
        return Verdict::Ignore { kind };
    }
    let Some(from) = view.from.as_deref() else {
        return Verdict::Quarantine {
            reason: QuarantineReason::NoSender,
        };
    };
    let Some(forum) = forum_for(cfg, view).filter(|f| f.member(from).is_some()) else {
        return Verdict::Quarantine {
            reason: QuarantineReason::NotMember,
        };
    };
    let member = forum.member(from).map(|m| m.address.clone()).unwrap_or_else(|| from.to_string());
    let submission = a.submission_in(forum, view);

    // An answer in a live case's thread, from the one who submitted it, changes that case.
    if let Some(case) = facts
        .thread_case
        .as_ref()
        .filter(|c| c.submitter == member && c.status != WITHDRAWN)
    {
        if submission.withdraw {
            return Verdict::Withdraw {
                forum: forum.id.clone(),
                case: case.clone(),
            };
        }
        if submission.sections.is_empty() {
            // "Tack!" and the like: nothing to apply, nothing to answer.
            return Verdict::Ignore { kind };
        }
        let mut sections = case.sections.clone();
        let mut updated = Vec::new();
        for (k, v) in &submission.sections {
            if sections.get(k) != Some(v) {
                sections.insert(*k, v.clone());
                updated.push(*k);
            }
        }
        if updated.is_empty() {
            return Verdict::Duplicate {
                case_no: Some(case.case_no.clone()),
            };
        }
        let assignment = match (&forum.schedule, case.meeting_id, status_of(&sections)) {
            (Some(s), None, SUBMITTED) => assign(s, forum.time_zone, &facts.meetings, a.internal_date),
            _ => None,
        };
        let after_cutoff_of = match (&forum.schedule, case.meeting_start) {
            (Some(s), Some(start)) if a.internal_date > cutoff(s, forum.time_zone, start) => Some(start),
            _ => None,
        };
        return Verdict::UpdateCase {
            forum: forum.id.clone(),
            case: case.clone(),
            sections,
            updated,
            assignment,
            after_cutoff_of,
        };
    }
    if submission.withdraw && submission.sections.is_empty() {
        // A withdrawal that names no case we know: there is nothing to withdraw.
        return Verdict::Ignore { kind };
    }
    if let Some(case_no) = &facts.same_content_case {
        return Verdict::Duplicate {
            case_no: Some(case_no.clone()),
        };
    }
    let under_limit = facts.rejections_today < cfg.daemon.max_rejections_per_sender_per_day;
    if submission.sections.is_empty() {
        return Verdict::NoParts {
            forum: forum.id.clone(),
            submitter: member,
            answer: under_limit,
        };
    }
    let complete = submission.missing.is_empty();
    let assignment = match (&forum.schedule, complete) {
        (Some(s), true) => assign(s, forum.time_zone, &facts.meetings, a.internal_date),
        _ => None,
    };
    Verdict::NewCase {
        forum: forum.id.clone(),
        year: a.internal_date.with_timezone(&forum.time_zone).year(),
        content_hash: content_hash(&member, &view.text),
        submitter: member,
        submission: submission.into_owned(),
        assignment,
        answer: complete || under_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{config, mail, ts};

    fn arrival(v: &MailView) -> Arrival<'_> {
        Arrival {
            view: Some(v),
            internal_date: ts("2026-12-31T23:30:00Z"),
            too_large: false,
            submission: None,
        }
    }

    #[test]
    fn member_submission_opens_a_case_in_the_forum_year() {
        let cfg = config();
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "Ärende",
            "Namn och ålder: A.B. 14 år",
        );
        match decide(&arrival(&v), &Facts::default(), &cfg) {
            // 23:30 UTC on 31 December is 00:30 on 1 January in Stockholm.
            Verdict::NewCase {
                forum,
                submitter,
                year,
                submission,
                ..
            } => {
                assert_eq!(
                    (forum.as_str(), submitter.as_str(), year),
                    ("iof-aof", "anna.berg@kommun.test", 2027)
                );
                assert_eq!(
                    submission.missing,
                    vec![SectionKey::Background, SectionKey::Situation, SectionKey::Question]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn non_member_is_quarantined_without_reply() {
        let cfg = config();
        let v = mail("stranger@example.test", &["samverkan@kommun.test"], "Hej", "text");
        assert_eq!(
            decide(&arrival(&v), &Facts::default(), &cfg),
            Verdict::Quarantine {
                reason: QuarantineReason::NotMember
            }
        );
    }

    #[test]
    fn seen_message_id_is_a_duplicate() {
        let cfg = config();
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", "x");
        let facts = Facts {
            message_id_seen: true,
            ..Facts::default()
        };
        assert_eq!(decide(&arrival(&v), &facts, &cfg), Verdict::Duplicate { case_no: None });
    }

    #[test]
    fn same_content_resent_is_a_duplicate_of_its_case() {
        let cfg = config();
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", "x");
        let facts = Facts {
            same_content_case: Some("2026-0007".into()),
            ..Facts::default()
        };
        assert_eq!(
            decide(&arrival(&v), &facts, &cfg),
            Verdict::Duplicate {
                case_no: Some("2026-0007".into())
            }
        );
    }

    #[test]
    fn unreadable_and_oversized_mail_is_quarantined() {
        let cfg = config();
        let a = Arrival {
            view: None,
            internal_date: ts("2026-01-01T00:00:00Z"),
            too_large: false,
            submission: None,
        };
        assert_eq!(decide(&a, &Facts::default(), &cfg).outcome(), "unparseable");
        let a = Arrival { too_large: true, ..a };
        assert_eq!(decide(&a, &Facts::default(), &cfg).outcome(), "too_large");
    }

    #[test]
    fn bcc_submission_is_routed_by_membership() {
        let cfg = config();
        let v = mail("anna.berg@kommun.test", &["someone@kommun.test"], "Ärende", COMPLETE);
        assert!(matches!(decide(&arrival(&v), &Facts::default(), &cfg), Verdict::NewCase { .. }));
    }

    const COMPLETE: &str = "Namn och ålder: A.B. 14 år\nKort bakgrund: ADHD\nAktuell situation: Skola\nFrågeställning: Vem?";

    fn thread_case(status: &str) -> ThreadCase {
        let mut sections = BTreeMap::new();
        sections.insert(SectionKey::NameAge, "A.B. 14 år".to_string());
        ThreadCase {
            id: 1,
            case_no: "2026-0003".into(),
            submitter: "anna.berg@kommun.test".into(),
            status: status.into(),
            sections,
            meeting_id: None,
            meeting_start: None,
        }
    }

    #[test]
    fn complete_submission_has_no_missing_parts() {
        let cfg = config();
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", COMPLETE);
        let verdict = decide(&arrival(&v), &Facts::default(), &cfg);
        assert_eq!(verdict.outcome(), "case_created");
    }

    #[test]
    fn reply_in_thread_completes_an_incomplete_case() {
        let cfg = config();
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "SV: Komplettera ärende 2026-0003",
            "Kort bakgrund: ADHD\nAktuell situation: Skola\nFrågeställning: Vem?",
        );
        let facts = Facts {
            thread_case: Some(thread_case(INCOMPLETE)),
            ..Facts::default()
        };
        match decide(&arrival(&v), &facts, &cfg) {
            Verdict::UpdateCase {
                case,
                sections,
                updated,
                assignment,
                ..
            } => {
                assert_eq!(assignment, None, "the test forum has no schedule");
                assert_eq!(case.case_no, "2026-0003");
                assert_eq!(updated, vec![SectionKey::Background, SectionKey::Situation, SectionKey::Question]);
                assert_eq!(status_of(&sections), SUBMITTED);
                assert_eq!(sections[&SectionKey::NameAge], "A.B. 14 år", "parts not in the reply are kept");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_submitter_changes_a_case_and_withdrawal_is_recognised() {
        let cfg = config();
        let facts = Facts {
            thread_case: Some(thread_case(SUBMITTED)),
            ..Facts::default()
        };
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "SV: Kvittens: ärende 2026-0003",
            "Återkalla",
        );
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::Withdraw { .. }));
        // Someone else answering the thread with parts opens their own case instead.
        let v = mail("lars.ek@kommun.test", &["samverkan@kommun.test"], "SV: ärende 2026-0003", COMPLETE);
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::NewCase { .. }));
        // A thank-you in the thread changes nothing and is not answered.
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "SV: Kvittens", "Tack!");
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::Ignore { .. }));
        // A withdrawn case is not reopened by a withdrawal.
        let facts = Facts {
            thread_case: Some(thread_case(WITHDRAWN)),
            ..Facts::default()
        };
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "SV: ärende 2026-0003",
            "Återkalla",
        );
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::Ignore { .. }));
    }

    #[test]
    fn a_member_mail_without_any_part_opens_no_case() {
        let cfg = config();
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "Fråga",
            "Hej! Vilken tid är mötet?\n\nMvh Anna",
        );
        assert_eq!(
            decide(&arrival(&v), &Facts::default(), &cfg),
            Verdict::NoParts {
                forum: "iof-aof".into(),
                submitter: "anna.berg@kommun.test".into(),
                answer: true
            }
        );
        let facts = Facts {
            rejections_today: 5,
            ..Facts::default()
        };
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::NoParts { answer: false, .. }));
        assert_eq!(
            lookups(&arrival(&v), &cfg).rejections_of.as_deref(),
            Some("anna.berg@kommun.test"),
            "the shell reads the count"
        );
    }

    #[test]
    fn a_correction_after_the_cutoff_is_applied_and_flagged() {
        let mut cfg = config();
        cfg.forums[0].schedule = Some(crate::core::schedule::Schedule {
            rrule: "FREQ=MONTHLY;BYDAY=2TU".into(),
            first: chrono::NaiveDate::from_ymd_opt(2026, 1, 13)
                .and_then(|d| d.and_hms_opt(13, 0, 0))
                .expect("d"),
            duration: chrono::Duration::minutes(60),
            kinds: vec![crate::core::schedule::MeetingKind::Samverkan],
            place: String::new(),
            cutoff_days_before: 1,
            cutoff_time: chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("t"),
            invite_lead: chrono::Duration::days(14),
            rsvp_reminder: chrono::Duration::days(2),
            digest_morning_time: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("t"),
        });
        let mut case = thread_case(SUBMITTED);
        case.meeting_id = Some(7);
        case.meeting_start = Some(ts("2026-12-08T12:00:00Z"));
        let facts = Facts {
            thread_case: Some(case),
            ..Facts::default()
        };
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "SV: ärende 2026-0003",
            "Kort bakgrund: Ny uppgift",
        );
        let at = |t: &str| Arrival {
            view: Some(&v),
            internal_date: ts(t),
            too_large: false,
            submission: None,
        };
        assert!(matches!(
            decide(&at("2026-12-07T10:00:00Z"), &facts, &cfg),
            Verdict::UpdateCase { after_cutoff_of: None, .. }
        ));
        match decide(&at("2026-12-07T11:30:00Z"), &facts, &cfg) {
            Verdict::UpdateCase { after_cutoff_of, .. } => assert_eq!(after_cutoff_of, Some(ts("2026-12-08T12:00:00Z"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn incomplete_answers_are_rate_limited_per_sender() {
        let cfg = config();
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "Ärende",
            "Namn och ålder: A.B. 14 år",
        );
        let facts = Facts {
            rejections_today: 4,
            ..Facts::default()
        };
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::NewCase { answer: true, .. }));
        let facts = Facts {
            rejections_today: 5,
            ..Facts::default()
        };
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::NewCase { answer: false, .. }));
        assert_eq!(
            lookups(&arrival(&v), &cfg).rejections_of.as_deref(),
            Some("anna.berg@kommun.test"),
            "the shell reads the count"
        );
        // A complete submission is always answered.
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", COMPLETE);
        assert!(matches!(decide(&arrival(&v), &facts, &cfg), Verdict::NewCase { answer: true, .. }));
        // ... so the shell need not read the count: deciding without it gives the same verdict.
        let without = decide(&arrival(&v), &Facts::default(), &cfg);
        assert_eq!(lookups(&arrival(&v), &cfg).rejections_of, None);
        assert_eq!(without, decide(&arrival(&v), &facts, &cfg));
    }

    #[test]
    fn a_submission_read_by_the_shell_decides_as_one_read_here() {
        let cfg = config();
        let mails = [
            mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", COMPLETE),
            mail(
                "anna.berg@kommun.test",
                &["samverkan@kommun.test"],
                "Ärende",
                "Namn och ålder: A.B. 14 år",
            ),
            mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Hej", "Tack för senast!"),
            mail("stranger@example.test", &["samverkan@kommun.test"], "Ärende", COMPLETE),
        ];
        for (i, v) in mails.iter().enumerate() {
            let read = submission_of(&cfg, v);
            assert_eq!(read.is_some(), i < 3, "mail {i}: read for members only");
            let shell = Arrival {
                submission: read.as_ref(),
                ..arrival(v)
            };
            for facts in [
                Facts::default(),
                Facts {
                    rejections_today: 9,
                    ..Facts::default()
                },
            ] {
                assert_eq!(decide(&shell, &facts, &cfg), decide(&arrival(v), &facts, &cfg), "mail {i}");
            }
            assert_eq!(
                lookups(&shell, &cfg).rejections_of,
                lookups(&arrival(v), &cfg).rejections_of,
                "mail {i}"
            );
        }
    }

    #[test]
    fn complete_case_goes_on_the_next_meeting_and_a_late_one_on_the_one_after() {
        let mut cfg = config();
        let sched = crate::core::schedule::Schedule {
            rrule: "FREQ=MONTHLY;BYDAY=2TU".into(),
            first: chrono::NaiveDate::from_ymd_opt(2026, 1, 13)
                .and_then(|d| d.and_hms_opt(13, 0, 0))
                .expect("d"),
            duration: chrono::Duration::minutes(60),
            kinds: vec![crate::core::schedule::MeetingKind::Samverkan],
            place: "Stadshuset".into(),
            cutoff_days_before: 1,
            cutoff_time: chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("t"),
            invite_lead: chrono::Duration::days(14),
            rsvp_reminder: chrono::Duration::days(2),
            digest_morning_time: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("t"),
        };
        let meetings: Vec<Meeting> = crate::core::schedule::occurrences(
            &sched,
            chrono_tz::Europe::Stockholm,
            ts("2026-11-01T00:00:00Z"),
            ts("2027-02-01T00:00:00Z"),
        )
        .into_iter()
        .enumerate()
        .map(|(i, o)| Meeting {
            id: i as i64 + 10,
            start: o.start,
            kind: o.kind,
            place: "Stadshuset".into(),
            status: "scheduled".into(),
        })
        .collect();
        cfg.forums[0].schedule = Some(sched);
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", COMPLETE);
        let facts = Facts {
            meetings,
            ..Facts::default()
        };
        // 8 December 2026 13:00; cutoff Monday 7 December 12:00 CET = 11:00 UTC.
        let at = |t: &str| Arrival {
            view: Some(&v),
            internal_date: ts(t),
            too_large: false,
            submission: None,
        };
        match decide(&at("2026-12-07T10:59:00Z"), &facts, &cfg) {
            Verdict::NewCase { assignment: Some(a), .. } => assert_eq!((a.meeting.start, a.missed), (ts("2026-12-08T12:00:00Z"), None)),
            other => panic!("{other:?}"),
        }
        match decide(&at("2026-12-07T11:01:00Z"), &facts, &cfg) {
            Verdict::NewCase { assignment: Some(a), .. } => {
                assert_eq!(a.meeting.start, ts("2027-01-12T12:00:00Z"));
                assert_eq!(a.missed.map(|m| m.start), Some(ts("2026-12-08T12:00:00Z")));
            }
            other => panic!("{other:?}"),
        }
        // An incomplete case goes on no meeting until it is complete.
        let v2 = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "Ärende",
            "Namn och ålder: A.B.",
        );
        let a2 = Arrival {
            view: Some(&v2),
            internal_date: ts("2026-12-01T10:00:00Z"),
            too_large: false,
            submission: None,
        };
        assert!(matches!(decide(&a2, &facts, &cfg), Verdict::NewCase { assignment: None, .. }));
    }

    #[test]
    fn the_same_correction_twice_changes_nothing() {
        let cfg = config();
        let facts = Facts {
            thread_case: Some(thread_case(INCOMPLETE)),
            ..Facts::default()
        };
        let v = mail(
            "anna.berg@kommun.test",
            &["samverkan@kommun.test"],
            "SV: x",
            "Namn och ålder: A.B. 14 år",
        );
        assert_eq!(
            decide(&arrival(&v), &facts, &cfg),
            Verdict::Duplicate {
                case_no: Some("2026-0003".into())
            }
        );
    }

    #[test]
    fn urgent_case_goes_to_the_convenor_and_the_units_deputy_heads_not_the_submitter() {
        let cfg = config();
        let f = &cfg.forums[0];
        let r = urgent_recipients(
            f,
            "anna.berg@kommun.test",
            &["vuxenenheten".into(), "Barn och unga".into(), "Okänd".into()],
        );
        let addrs: Vec<&str> = r.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(addrs, vec!["sara@kommun.test", "lars.ek@kommun.test"]);
        assert_eq!(r[1].0, "Lars Ek");
    }

    fn obligation(id: i64, kind: &str, owners: &[&str]) -> ThreadObligation {
        ThreadObligation {
            id,
            kind: kind.into(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            case_id: Some(3),
            ..ThreadObligation::default()
        }
    }

    fn in_thread(from: &str, text: &str) -> MailView {
        let mut v = mail(from, &["samverkan@kommun.test"], "SV: Överlämning av ärende 2026-0003", text);
        v.in_reply_to = vec!["handover-forward@kommun.test".into()];
        v
    }

    #[test]
    fn route_oversized_and_unreadable_mail_to_quarantine() {
        let cfg = config();
        let a = Arrival {
            view: None,
            internal_date: ts("2026-12-07T09:00:00Z"),
            too_large: true,
            submission: None,
        };
        let r = route(&a, &Facts::default(), &cfg);
        assert_eq!(r.kind, "too_large");
        assert!(r.quarantined());
        assert_eq!(
            r.route,
            Route::Case(Verdict::Quarantine {
                reason: QuarantineReason::TooLarge
            })
        );
        let r = route(&Arrival { too_large: false, ..a }, &Facts::default(), &cfg);
        assert_eq!((r.kind, r.quarantined()), ("unparseable", true));
        assert_eq!(lookups(&a, &cfg), Lookups::default(), "nothing to look up");
    }

    #[test]
    fn route_a_submission_to_the_case_rules() {
        let cfg = config();
        let v = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Ärende", COMPLETE);
        let r = route(&arrival(&v), &Facts::default(), &cfg);
        assert_eq!(r.kind, "submission");
        assert!(!r.quarantined());
        assert!(matches!(r.route, Route::Case(Verdict::NewCase { .. })), "{r:?}");
    }

    #[test]
    fn route_invitation_answers_and_bounces_to_their_tracking() {
        let cfg = config();
        let v = mail("lars.ek@kommun.test", &["samverkan@kommun.test"], "Accepterat: Samverkansmöte", "");
        let r = route(&arrival(&v), &Facts::default(), &cfg);
        assert_eq!((r.kind, &r.route), ("reply", &Route::Answer(Kind::Reply)));
        let mut b = mail(
            "mailer-daemon@kommun.test",
            &["samverkan@kommun.test"],
            "Undelivered Mail Returned to Sender",
            "x",
        );
        b.report_type = Some("delivery-status".into());
        let r = route(&arrival(&b), &Facts::default(), &cfg);
        assert_eq!((r.kind, &r.route, r.quarantined()), ("bounce", &Route::Answer(Kind::Bounce), false));
        // An out-of-office is neither: processed, never answered.
        let mut o = mail("anna.berg@kommun.test", &["samverkan@kommun.test"], "Frånvarande: Ärende", "Borta");
        o.headers.push(("auto-submitted".into(), "auto-replied".into()));
        let r = route(&arrival(&o), &Facts::default(), &cfg);
        assert_eq!(r.route, Route::Case(Verdict::Ignore { kind: Kind::AutoReply }));
    }

    #[test]
    fn a_reply_in_an_obligations_thread_wins_and_is_never_quarantined() {
        let cfg = config();
        // The receiving unit's head is no forum member: without the thread, quarantine.
        let v = in_thread("chef@kommun.test", "Mottaget, handläggare Eva Ek");
        let alone = route(&arrival(&v), &Facts::default(), &cfg);
        assert!(alone.quarantined(), "{alone:?}");
        let facts = Facts {
            thread_obligations: vec![obligation(5, crate::core::obligation::HANDOVER_CONFIRM, &["chef@kommun.test"])],
            ..Facts::default()
        };
        let r = route(&arrival(&v), &facts, &cfg);
        assert!(!r.quarantined());
        match r.route {
            Route::Obligation { forum, reply } => {
                assert_eq!(forum, "iof-aof");
                assert_eq!(reply.answer, crate::core::obligation::Answer::Closes(5));
                assert_eq!(reply.obligation(), 5);
                assert_eq!(reply.sender, "chef@kommun.test");
            }
            other => panic!("{other:?}"),
        }
        // The submitter's reply with parts in a handover thread is the handover information,
        // not a change of the case's parts (even when the thread also names the case).
        let v = in_thread("anna.berg@kommun.test", "Kort bakgrund: ny\nSamtycke: ja");
        let facts = Facts {
            thread_obligations: vec![obligation(6, crate::core::obligation::HANDOVER_INFO, &["anna.berg@kommun.test"])],
            thread_case: Some(thread_case(SUBMITTED)),
            ..Facts::default()
        };
        assert!(matches!(
            route(&arrival(&v), &facts, &cfg).route,
            Route::Obligation {
                reply: ObligationReply {
                    answer: crate::core::obligation::Answer::HandoverInfo(6),
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn decision_lines_from_the_convenor_and_comments_from_members() {
        let cfg = config();
        let facts = Facts {
            thread_obligations: vec![obligation(7, crate::core::obligation::DECISIONS, &["lars.ek@kommun.test"])],
            ..Facts::default()
        };
        let v = in_thread("sara@kommun.test", "2026-0003: AVSLUTAD");
        match route(&arrival(&v), &facts, &cfg).route {
            Route::Obligation { reply, .. } => {
                assert_eq!(reply.answer, crate::core::obligation::Answer::Decisions(7));
                assert_eq!(reply.lines.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let v = in_thread("anna.berg@kommun.test", "Oklart vad som menas i punkt 2");
        assert!(matches!(
            route(&arrival(&v), &facts, &cfg).route,
            Route::Obligation {
                reply: ObligationReply {
                    answer: crate::core::obligation::Answer::Comment(7),
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn a_stranger_or_a_seen_mail_in_an_obligations_thread_goes_the_usual_way() {
        let cfg = config();
        let facts = Facts {
            thread_obligations: vec![obligation(5, crate::core::obligation::HANDOVER_CONFIRM, &["chef@kommun.test"])],
            ..Facts::default()
        };
        let v = in_thread("stranger@example.test", "Mottaget");
        assert_eq!(
            route(&arrival(&v), &facts, &cfg).route,
            Route::Case(Verdict::Quarantine {
                reason: QuarantineReason::NotMember
            })
        );
        let v = in_thread("chef@kommun.test", "Mottaget");
        let seen = Facts {
            message_id_seen: true,
            ..facts
        };
        assert_eq!(
            route(&arrival(&v), &seen, &cfg).route,
            Route::Case(Verdict::Duplicate { case_no: None })
        );
    }

    #[test]
    fn lookups_name_what_the_route_depends_on() {
        let cfg = config();
        let v = in_thread("anna.berg@kommun.test", "Namn och ålder: A.B. 14 år");
        let l = lookups(&arrival(&v), &cfg);
        assert_eq!(l.forum.as_deref(), Some("iof-aof"));
        assert_eq!(l.content_hash, content_hash("anna.berg@kommun.test", &v.text));
        assert_eq!(l.thread_ids, vec!["handover-forward@kommun.test".to_string()]);
        assert_eq!(l.case_ref.as_deref(), Some("2026-0003"));
        assert!(l.obligations && !l.meetings);
        assert_eq!(l.rejections_of.as_deref(), Some("anna.berg@kommun.test"));
        // A stranger's mail: the forum's facts, but no cap to count for a non-member.
        let v = mail("stranger@example.test", &["samverkan@kommun.test"], "Hej", "text");
        let l = lookups(&arrival(&v), &cfg);
        assert_eq!((l.forum.as_deref(), l.obligations, l.rejections_of), (Some("iof-aof"), false, None));
        // An automatic mail in a thread has no obligation to answer.
        let mut o = in_thread("anna.berg@kommun.test", "Borta");
        o.headers.push(("auto-submitted".into(), "auto-replied".into()));
        let l = lookups(&arrival(&o), &cfg);
        assert!(!l.obligations && l.rejections_of.is_none());
        // Addressed to no forum, from no member: nothing.
        let v = mail("stranger@example.test", &["other@example.test"], "Hej", "text");
        assert_eq!(lookups(&arrival(&v), &cfg), Lookups::default());
    }

    #[test]
    fn an_answer_belongs_to_the_forum_it_was_sent_to_else_the_one_its_uid_names() {
        let cfg = config();
        let v = mail("lars.ek@kommun.test", &["samverkan@kommun.test"], "Accepterat: Möte", "");
        assert_eq!(forum_of_answer(&cfg, &v, None).map(|f| f.id.as_str()), Some("iof-aof"));
        // From a relay, to the convenor's own address: only the UID tells.
        let v = mail("noreply@calendar.example", &["sara@kommun.test"], "Accepterat: Möte", "");
        assert!(forum_of_answer(&cfg, &v, None).is_none());
        let uid = Some("iof-aof-2026-12-08@kommun.test");
        assert_eq!(forum_of_answer(&cfg, &v, uid).map(|f| f.id.as_str()), Some("iof-aof"));
        assert!(forum_of_answer(&cfg, &v, Some("iof-aof-1@elsewhere.test")).is_none());
        assert!(forum_of_answer(&cfg, &v, Some("other-1@kommun.test")).is_none());
    }

    #[test]
    fn content_hash_ignores_wrapping_and_case() {
        assert_eq!(content_hash("A@x", "Hej  du\r\nglade"), content_hash("a@x", "hej du glade"));
        // Stored fingerprints are compared with new ones: the value itself must not change
        // (SHA-256 of the folded sender, NUL, and each folded word with a space; 16 bytes).
        assert_eq!(content_hash("Anna@X", "Hej  du\r\nGlade ÅÄÖ Σ"), "fe68c7b94fb890bbab293315e53af957");
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_ne!(content_hash("a@x", "hej"), content_hash("b@x", "hej"));
    }

    #[test]
    fn synthetic_message_id_is_stable() {
        assert_eq!(synthetic_message_id(b"abc"), synthetic_message_id(b"abc"));
        assert_ne!(synthetic_message_id(b"abc"), synthetic_message_id(b"abd"));
    }
}
