//! What an answer to an invitation means (seed 004: recipients confirm attendance to the
//! convenor; if a key person cannot attend, the convenor decides). A pure function of the
//! answer, who sent it, the meeting it names and the configuration.
//!
//! Trust: an answer changes an invitee's state only when it comes from that invitee: From (or,
//! for calendar servers that send from a no-reply address, Reply-To) is the ATTENDEE or one of
//! the member's aliases. Anything else changes nothing and is reported to the convenor.

use crate::config::Forum;
use crate::core::ical::{Attendee, PartStat, Role};
use crate::core::plan::{MeetingView, next_note_taker};

/// An answer as read from the mail (calendar REPLY/COUNTER, or only its subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub uid: Option<String>,
    pub attendee: String,
    pub partstat: PartStat,
    pub sequence: Option<u32>,
    pub comment: Option<String>,
    /// False when read from the subject only ("Accepterat: ..."): applied but marked inferred.
    pub from_calendar: bool,
    pub delegated_to: Option<String>,
    /// A COUNTER: the proposed start and end (UTC, basic format), as given.
    pub counter: Option<(Option<String>, Option<String>)>,
}

/// Who the mail says it is from (lowercased addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub from: Option<String>,
    pub reply_to: Option<String>,
    /// False when the site requires authentication results and this mail has no passing one.
    pub authenticated: bool,
}

impl Default for Origin {
    fn default() -> Self {
        Origin {
            from: None,
            reply_to: None,
            authenticated: true,
        }
    }
}

/// Whether an `Authentication-Results` header added by `authserv_id` (RFC 8601: the first token
/// is the id of the server that checked) shows `dmarc=pass` or `dkim=pass`. Headers claiming to
/// be from other servers are ignored: a sender can write any header they like.
pub fn authenticated(headers: &[(String, String)], authserv_id: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authentication-results"))
        .any(|(_, v)| {
            let v = v.to_ascii_lowercase();
            let mut parts = v.split(';');
            let id = parts.next().unwrap_or_default().split_whitespace().next().unwrap_or_default();
            id == authserv_id
                && parts.any(|p| {
                    let p = p.trim();
                    p.starts_with("dmarc=pass") || p.starts_with("dkim=pass")
                })
        })
}

/// Why an answer was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No meeting of ours has this UID (or the answer matches no invitation we sent).
    UnknownMeeting,
    /// The attendee was not invited ("party crasher").
    NotInvited,
    /// The mail is not from the attendee it speaks for.
    SenderMismatch,
    /// The site requires DKIM/DMARC results from its own server, and they do not pass.
    Unauthenticated,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownMeeting => "unknown_meeting",
            Rejection::NotInvited => "not_invited",
            Rejection::SenderMismatch => "sender_mismatch",
            Rejection::Unauthenticated => "unauthenticated",
        }
    }

    /// Swedish, for the convenor.
    pub fn label_sv(self) -> &'static str {
        match self {
            Rejection::UnknownMeeting => "svaret gäller inget möte som samverkan har skickat",
            Rejection::NotInvited => "avsändaren är inte kallad till mötet",
            Rejection::SenderMismatch => "svaret kommer inte från den som det gäller",
            Rejection::Unauthenticated => "avsändaren kunde inte styrkas (DKIM/DMARC)",
        }
    }
}

/// Someone the meeting depends on cannot come (seed 004): the convenor is alerted at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRole {
    /// The submitter of a case on the agenda.
    Submitter { case_no: String },
    /// The note taker.
    NoteTaker,
}

/// What to do with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyVerdict {
    /// Record the answer for the invitee.
    Apply {
        meeting_id: i64,
        attendee: String,
        partstat: PartStat,
        sequence: Option<u32>,
        /// Read from the subject only: forwarded to the convenor as well.
        inferred: bool,
        comment: Option<String>,
        /// Key roles of a declining invitee.
        key_roles: Vec<KeyRole>,
        /// When the note taker declined: who takes the duty over.
        new_note_taker: Option<String>,
        /// A member the invitee delegated to: invited in their place.
        delegate: Option<Attendee>,
        /// Delegated to someone who is not a member: the convenor is told.
        delegate_outside: Option<String>,
    },
    /// An answer to an older SEQUENCE than the one already answered: recorded, not applied.
    Stale { meeting_id: i64, attendee: String },
    /// A new time proposed: forwarded to the convenor; nothing changes by itself.
    Counter {
        meeting_id: i64,
        attendee: String,
        proposed_start: Option<String>,
        proposed_end: Option<String>,
        comment: Option<String>,
    },
    /// Changes nothing; reported to the convenor.
    Reject {
        meeting_id: Option<i64>,
        attendee: String,
        reason: Rejection,
    },
}

impl ReplyVerdict {
    pub fn outcome(&self) -> &'static str {
        match self {
            ReplyVerdict::Apply { inferred: true, .. } => "reply_inferred",
            ReplyVerdict::Apply { .. } => "reply_applied",
            ReplyVerdict::Stale { .. } => "reply_stale",
            ReplyVerdict::Counter { .. } => "counter",
            ReplyVerdict::Reject { reason, .. } => reason.as_str(),
        }
    }
}

/// A local part that calendar servers send from on behalf of a user (Nextcloud, Baïkal, ...).
fn is_relay(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default().to_ascii_lowercase();
    [
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "calendar",
        "calendar-notification",
        "nextcloud",
        "baikal",
    ]
    .iter()
    .any(|p| local == *p || local.starts_with(&format!("{p}+")) || local.starts_with(&format!("{p}-")))
}

/// The same person: equal addresses, or both addresses of one member.
fn same_person(forum: &Forum, a: &str, b: &str) -> bool {
    a == b || matches!((forum.member(a), forum.member(b)), (Some(x), Some(y)) if x.address == y.address)
}

/// Decides what an answer means. `meeting` is the meeting its UID (or, without calendar data,
/// its In-Reply-To) names; `answered_sequence` the SEQUENCE the invitee's stored answer was to.
pub fn decide_reply(
    forum: &Forum,
    answer: &Answer,
    origin: &Origin,
    meeting: Option<&MeetingView>,
    answered_sequence: Option<u32>,
) -> ReplyVerdict {
    let attendee = answer.attendee.to_ascii_lowercase();
    let Some(m) = meeting else {
        return ReplyVerdict::Reject {
            meeting_id: None,
            attendee,
            reason: Rejection::UnknownMeeting,
        };
    };
    let from_ok = origin.from.as_deref().is_some_and(|f| same_person(forum, f, &attendee))
        || (origin.from.as_deref().is_some_and(is_relay) && origin.reply_to.as_deref().is_some_and(|r| same_person(forum, r, &attendee)));
    if !from_ok {
        return ReplyVerdict::Reject {
            meeting_id: Some(m.id),
            attendee,
            reason: Rejection::SenderMismatch,
        };
    }
    if !origin.authenticated {
        return ReplyVerdict::Reject {
            meeting_id: Some(m.id),
            attendee,
            reason: Rejection::Unauthenticated,
        };
    }
    // The invitation as stored (an alias answers for the member's own address).
    let Some(inv) = m.invitations.iter().find(|i| same_person(forum, &i.address, &attendee)) else {
        return ReplyVerdict::Reject {
            meeting_id: Some(m.id),
            attendee,
            reason: Rejection::NotInvited,
        };
    };
    let attendee = inv.address.clone();
    if let Some((proposed_start, proposed_end)) = &answer.counter {
        return ReplyVerdict::Counter {
            meeting_id: m.id,
            attendee,
            proposed_start: proposed_start.clone(),
            proposed_end: proposed_end.clone(),
            comment: answer.comment.clone(),
        };
    }
    if let (Some(got), Some(had)) = (answer.sequence, answered_sequence)
        && got < had
    {
        return ReplyVerdict::Stale {
            meeting_id: m.id,
            attendee,
        };
    }
    let declines = matches!(answer.partstat, PartStat::Declined | PartStat::Delegated);
    let mut key_roles = Vec::new();
    let mut new_note_taker = None;
    if declines {
        for c in m.cases.iter().filter(|c| c.submitter == attendee) {
            key_roles.push(KeyRole::Submitter {
                case_no: c.case_no.clone(),
            });
        }
        if m.note_taker.as_deref() == Some(attendee.as_str()) {
            key_roles.push(KeyRole::NoteTaker);
            let attendees: Vec<Attendee> = m
                .invitations
                .iter()
                .filter(|i| i.active)
                .map(|i| Attendee {
                    name: i.name.clone(),
                    address: i.address.clone(),
                    role: i.role,
                    partstat: i.partstat,
                })
                .collect();
            let declined: Vec<String> = m
                .invitations
                .iter()
                .filter(|i| matches!(i.partstat, PartStat::Declined | PartStat::Delegated) || i.address == attendee)
                .map(|i| i.address.clone())
                .collect();
            new_note_taker = next_note_taker(forum, &attendees, Some(&attendee), &declined);
        }
    }
    let (mut delegate, mut delegate_outside) = (None, None);
    if answer.partstat == PartStat::Delegated
        && let Some(to) = answer.delegated_to.as_deref().map(str::to_ascii_lowercase)
    {
        match forum.member(&to) {
            Some(d) if !m.invitations.iter().any(|i| i.address == d.address && i.active) => {
                delegate = Some(Attendee {
                    name: d.name.clone(),
                    address: d.address.clone(),
                    role: Role::Required,
                    partstat: PartStat::NeedsAction,
                });
            }
            Some(_) => {}
            None => delegate_outside = Some(to),
        }
    }
    ReplyVerdict::Apply {
        meeting_id: m.id,
        attendee,
        partstat: answer.partstat,
        sequence: answer.sequence,
        inferred: !answer.from_calendar,
        comment: answer.comment.clone(),
        key_roles,
        new_note_taker,
        delegate,
        delegate_outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::{AgendaCase, Invitation, SCHEDULED};
    use crate::core::schedule::MeetingKind;
    use crate::core::testing::{config, ts};

    fn meeting() -> MeetingView {
        let inv = |a: &str, n: &str, role| Invitation {
            address: a.into(),
            name: n.into(),
            role,
            partstat: PartStat::NeedsAction,
            sequence_sent: 1,
            active: true,
            reminded: false,
            undeliverable: false,
            delegate: false,
            invited_at: ts("2026-12-07T11:00:00Z"),
        };
        MeetingView {
            id: 7,
            forum_id: "iof-aof".into(),
            occurrence: "2026-12-08".into(),
            start: ts("2026-12-08T12:00:00Z"),
            end: ts("2026-12-08T13:00:00Z"),
            kind: MeetingKind::Samverkan,
            place: String::new(),
            status: SCHEDULED.into(),
            sequence: 1,
            invited: true,
            summoned: true,
            note_taker: Some("lars.ek@kommun.test".into()),
            invitations: vec![
                inv("anna.berg@kommun.test", "Anna Berg", Role::Required),
                inv("lars.ek@kommun.test", "Lars Ek", Role::Required),
                inv("sara@kommun.test", "Sara", Role::Optional),
            ],
            cases: vec![AgendaCase {
                id: 1,
                case_no: "2026-0001".into(),
                submitter: "anna.berg@kommun.test".into(),
                units: vec![],
                urgent: false,
                sections: Default::default(),
            }],
            digest_cutoff_sent: false,
            digest_morning_sent: false,
            decisions_requested: false,
            transfers: vec![],
        }
    }

    fn answer(attendee: &str, p: PartStat) -> Answer {
        Answer {
            uid: Some("iof-aof-20261208@kommun.test".into()),
            attendee: attendee.into(),
            partstat: p,
            sequence: Some(1),
            comment: None,
            from_calendar: true,
            delegated_to: None,
            counter: None,
        }
    }

    fn from(a: &str) -> Origin {
        Origin {
            from: Some(a.into()),
            ..Origin::default()
        }
    }

    #[test]
    fn only_the_sites_own_authentication_results_count() {
        let h = |v: &str| vec![("authentication-results".to_string(), v.to_string())];
        assert!(authenticated(
            &h("mx.kommun.test; dkim=pass header.d=kommun.test; dmarc=pass"),
            "mx.kommun.test"
        ));
        assert!(authenticated(
            &h("mx.kommun.test; spf=fail; dkim=pass header.d=kommun.test"),
            "mx.kommun.test"
        ));
        assert!(!authenticated(&h("mx.kommun.test; dkim=fail; dmarc=fail"), "mx.kommun.test"));
        assert!(
            !authenticated(&h("evil.test; dkim=pass; dmarc=pass"), "mx.kommun.test"),
            "a forged header from elsewhere"
        );
        assert!(!authenticated(&[], "mx.kommun.test"));
        let c = config();
        let o = Origin {
            authenticated: false,
            ..from("anna.berg@kommun.test")
        };
        assert_eq!(
            decide_reply(
                &c.forums[0],
                &answer("anna.berg@kommun.test", PartStat::Accepted),
                &o,
                Some(&meeting()),
                None
            )
            .outcome(),
            "unauthenticated"
        );
    }

    #[test]
    fn an_invitee_accepting_is_applied() {
        let c = config();
        let v = decide_reply(
            &c.forums[0],
            &answer("Anna.Berg@kommun.test", PartStat::Accepted),
            &from("anna.berg@kommun.test"),
            Some(&meeting()),
            None,
        );
        assert!(
            matches!(v, ReplyVerdict::Apply { partstat: PartStat::Accepted, inferred: false, ref key_roles, .. } if key_roles.is_empty()),
            "{v:?}"
        );
    }

    #[test]
    fn forged_unknown_and_uninvited_answers_change_nothing() {
        let c = config();
        let f = &c.forums[0];
        let m = meeting();
        let forged = decide_reply(
            f,
            &answer("anna.berg@kommun.test", PartStat::Declined),
            &from("lars.ek@kommun.test"),
            Some(&m),
            None,
        );
        assert_eq!(forged.outcome(), "sender_mismatch");
        let unknown = decide_reply(
            f,
            &answer("anna.berg@kommun.test", PartStat::Accepted),
            &from("anna.berg@kommun.test"),
            None,
            None,
        );
        assert_eq!(unknown.outcome(), "unknown_meeting");
        let crasher = decide_reply(
            f,
            &answer("eve@kommun.test", PartStat::Accepted),
            &from("eve@kommun.test"),
            Some(&m),
            None,
        );
        assert_eq!(crasher.outcome(), "not_invited");
        // A no-reply relay counts only with Reply-To naming the attendee.
        let relay = Origin {
            from: Some("noreply@cloud.kommun.test".into()),
            reply_to: Some("anna.berg@kommun.test".into()),
            authenticated: true,
        };
        assert_eq!(
            decide_reply(f, &answer("anna.berg@kommun.test", PartStat::Accepted), &relay, Some(&m), None).outcome(),
            "reply_applied"
        );
        let not_relay = Origin {
            from: Some("boss@kommun.test".into()),
            reply_to: Some("anna.berg@kommun.test".into()),
            authenticated: true,
        };
        assert_eq!(
            decide_reply(f, &answer("anna.berg@kommun.test", PartStat::Accepted), &not_relay, Some(&m), None).outcome(),
            "sender_mismatch"
        );
    }

    #[test]
    fn an_alias_answers_for_the_member() {
        let c = config();
        // Lars's alias lars@kommun.test is configured in the test forum.
        let v = decide_reply(
            &c.forums[0],
            &answer("lars@kommun.test", PartStat::Tentative),
            &from("lars@kommun.test"),
            Some(&meeting()),
            None,
        );
        assert!(
            matches!(v, ReplyVerdict::Apply { ref attendee, .. } if attendee == "lars.ek@kommun.test"),
            "{v:?}"
        );
    }

    #[test]
    fn an_older_sequence_does_not_override_a_newer_answer() {
        let c = config();
        let mut a = answer("anna.berg@kommun.test", PartStat::Declined);
        a.sequence = Some(0);
        assert_eq!(
            decide_reply(&c.forums[0], &a, &from("anna.berg@kommun.test"), Some(&meeting()), Some(1)).outcome(),
            "reply_stale"
        );
        a.sequence = Some(1);
        assert_eq!(
            decide_reply(&c.forums[0], &a, &from("anna.berg@kommun.test"), Some(&meeting()), Some(1)).outcome(),
            "reply_applied"
        );
    }

    #[test]
    fn key_people_declining_alert_and_the_note_taker_duty_moves_on() {
        let c = config();
        let f = &c.forums[0];
        let v = decide_reply(
            f,
            &answer("anna.berg@kommun.test", PartStat::Declined),
            &from("anna.berg@kommun.test"),
            Some(&meeting()),
            None,
        );
        assert!(
            matches!(v, ReplyVerdict::Apply { ref key_roles, new_note_taker: None, .. } if key_roles == &vec![KeyRole::Submitter { case_no: "2026-0001".into() }]),
            "{v:?}"
        );
        let v = decide_reply(
            f,
            &answer("lars.ek@kommun.test", PartStat::Declined),
            &from("lars.ek@kommun.test"),
            Some(&meeting()),
            None,
        );
        match v {
            ReplyVerdict::Apply {
                key_roles, new_note_taker, ..
            } => {
                assert_eq!(key_roles, vec![KeyRole::NoteTaker]);
                assert_eq!(new_note_taker.as_deref(), Some("anna.berg@kommun.test"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subject_only_answers_are_inferred_and_counters_forwarded() {
        let c = config();
        let f = &c.forums[0];
        let mut a = answer("anna.berg@kommun.test", PartStat::Accepted);
        a.from_calendar = false;
        a.sequence = None;
        assert_eq!(
            decide_reply(f, &a, &from("anna.berg@kommun.test"), Some(&meeting()), Some(1)).outcome(),
            "reply_inferred"
        );
        let mut ctr = answer("anna.berg@kommun.test", PartStat::Tentative);
        ctr.counter = Some((Some("20261209T120000Z".into()), None));
        assert!(matches!(
            decide_reply(f, &ctr, &from("anna.berg@kommun.test"), Some(&meeting()), None),
            ReplyVerdict::Counter { .. }
        ));
    }

    #[test]
    fn delegation_invites_a_member_or_tells_the_convenor() {
        let c = config();
        let f = &c.forums[0];
        let mut m = meeting();
        m.invitations.retain(|i| i.address != "lars.ek@kommun.test");
        let mut a = answer("anna.berg@kommun.test", PartStat::Delegated);
        a.delegated_to = Some("Lars.Ek@kommun.test".into());
        match decide_reply(f, &a, &from("anna.berg@kommun.test"), Some(&m), None) {
            ReplyVerdict::Apply {
                delegate: Some(d),
                delegate_outside: None,
                ..
            } => assert_eq!((d.address.as_str(), d.role), ("lars.ek@kommun.test", Role::Required)),
            other => panic!("{other:?}"),
        }
        a.delegated_to = Some("vikarie@annan.test".into());
        assert!(matches!(
            decide_reply(f, &a, &from("anna.berg@kommun.test"), Some(&m), None),
            ReplyVerdict::Apply {
                delegate: None,
                delegate_outside: Some(_),
                ..
            }
        ));
    }
}
