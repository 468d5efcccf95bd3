//! After the meeting: what a reply in the thread of a mail sent about an obligation is (its
//! request, a reminder, an escalation, a confirmation) and what it does. `read_reply` tells
//! which obligation it answers and how (`core::obligation::answer`); `decide` what follows:
//! which obligation closes, whether a handover may go out (complete, with consent) and to whom,
//! who must confirm it and by when, who reviews the notes, where a comment goes.

use chrono::{DateTime, Utc};

use crate::config::Forum;
use crate::core::decision::{Decision, Line, read_decisions};
use crate::core::handover::{Handover, Part, read_handover};
use crate::core::obligation::{self as ob, Answer, InThread};
use crate::core::submission::own_text;
use crate::mail::view::MailView;

/// An obligation that mails of a reply's thread were sent about, as the store holds what
/// deciding the reply needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadObligation {
    pub id: i64,
    /// One of `core::obligation::KINDS`.
    pub kind: String,
    pub owners: Vec<String>,
    pub escalate_to: Vec<String>,
    pub closed: bool,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    /// What the obligation was opened with (the unit of a handover, the agenda, ...).
    pub data: serde_json::Value,
}

/// A reply in an obligation's thread from someone the routine involves, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationReply {
    /// Which obligation it answers, and how.
    pub answer: Answer,
    /// The sender's member address, or the address as written.
    pub sender: String,
    /// The sender's own text (quotes and signature removed).
    pub text: String,
    /// The decision lines in it.
    pub lines: Vec<Line>,
}

impl ObligationReply {
    /// The obligation it answers.
    pub fn obligation(&self) -> i64 {
        let (Answer::Decisions(id) | Answer::HandoverInfo(id) | Answer::Closes(id) | Answer::Comment(id)) = self.answer;
        id
    }
}

/// Reads a reply in the thread of mails sent about `thread`'s obligations (in `forum`).
/// `None` when it has no sender, or the sender has no part in them (a stranger): the mail is
/// then handled like any other. Such a reply never changes a case's submission parts.
pub fn read_reply(forum: &Forum, v: &MailView, thread: &[ThreadObligation]) -> Option<ObligationReply> {
    if thread.is_empty() {
        return None;
    }
    let from = v.from.as_deref()?;
    let member = forum.member(from);
    let sender = member.map(|m| m.address.clone()).unwrap_or_else(|| from.to_string());
    let text = own_text(v);
    let lines = read_decisions(&text);
    let in_thread: Vec<InThread<'_>> = thread
        .iter()
        .map(|o| InThread {
            id: o.id,
            kind: &o.kind,
            owners: &o.owners,
            escalate_to: &o.escalate_to,
            closed: o.closed,
        })
        .collect();
    let convenor = sender == forum.convenor.address;
    let answer = ob::answer(&in_thread, &sender, convenor, member.is_some(), !lines.is_empty(), &text)?;
    Some(ObligationReply {
        answer,
        sender,
        text,
        lines,
    })
}

/// What the store holds about the case of the obligation a reply answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationCase {
    pub id: i64,
    pub case_no: String,
    pub submitter: String,
}

/// A handover that goes out: stored with the case, the obligation closed, forwarded to the
/// receiving unit's deputy heads, whose confirmation is a new obligation (reminded, then
/// escalated to the unit head and the convenor); the sender is told who got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub case: ObligationCase,
    pub handover: Handover,
    /// The unit's configured name.
    pub unit: String,
    pub receivers: Vec<String>,
    pub escalate_to: Vec<String>,
    pub remind_at: DateTime<Utc>,
    pub escalate_at: DateTime<Utc>,
}

/// The notes' review (seed 002): each adjuster but the note taker gets the request, is reminded
/// at `remind_at` and escalated to the convenor at `deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub adjusters: Vec<String>,
    pub deadline: DateTime<Utc>,
    pub remind_at: DateTime<Utc>,
}

/// What a reply in an obligation's thread does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Decision lines: each applied to its case, then confirmed to the sender line by line in
    /// the obligation's thread (a correction in answer to that is read the same way).
    Decisions { lines: Vec<Line> },
    /// Handover information lacking parts or the consent: nothing is forwarded; the sender is
    /// told what is missing.
    HandoverIncomplete {
        case: ObligationCase,
        unit: String,
        missing: Vec<Part>,
        consent: bool,
    },
    /// Complete handover information with consent: forwarded.
    HandoverForward(Forward),
    /// "Justerat" from an adjuster: the review is closed; nothing is sent.
    Adjusted,
    /// "Klart" from the note taker: the notes are filed and go to review.
    NotesFiled(Review),
    /// "Mottaget" from the receiving unit (a handover, the case is then handed over) or a unit
    /// head (a LYFT): closed, and `tell` (who handed it over) is told, with the case worker
    /// named after the closing word.
    Confirmed {
        case: ObligationCase,
        handover: bool,
        tell: String,
        case_worker: Option<String>,
    },
    /// Anything else from someone the routine involves: acknowledged to the sender and, unless
    /// the sender is the one who would get it, forwarded to the meeting's note taker (who owns
    /// the notes), or to the convenor when there is none or the note taker wrote it.
    Comment { forward_to: Option<String> },
}

impl Plan {
    /// The intake outcome.
    pub fn outcome(&self) -> &'static str {
        match self {
            Plan::Decisions { .. } => "decisions",
            Plan::HandoverIncomplete { .. } => "handover_incomplete",
            Plan::HandoverForward(_) => "handover_forwarded",
            Plan::Adjusted => "notes_adjusted",
            Plan::NotesFiled(_) => "notes_filed",
            Plan::Confirmed { handover: true, .. } => "handover_confirmed",
            Plan::Confirmed { handover: false, .. } => "escalation_acknowledged",
            Plan::Comment { .. } => "obligation_comment",
        }
    }
}

/// Why a reply cannot be carried out: the store or the configuration no longer holds what the
/// obligation refers to. The mail stays in the inbox (an error of the pass, not of the mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// The obligation's case.
    Case,
    /// The handover's receiving unit.
    Unit,
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gone::Case => "the obligation's case vanished",
            Gone::Unit => "handover unit vanished from config",
        })
    }
}

impl std::error::Error for Gone {}

/// Decides what `reply` does to `o`, the obligation it answers (`reply.obligation()`), at
/// `now`. `case`: the obligation's case, if it has one; `note_taker`: the note taker of its
/// meeting (the obligation's, else its case's), if any.
pub fn decide(
    forum: &Forum,
    o: &ThreadObligation,
    reply: &ObligationReply,
    case: Option<&ObligationCase>,
    note_taker: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Plan, Gone> {
    let f = &forum.followup;
    let tz = forum.time_zone;
    let sender = reply.sender.as_str();
    let the_case = || case.cloned().ok_or(Gone::Case);
    Ok(match reply.answer {
        Answer::Decisions(_) => Plan::Decisions {
            lines: reply.lines.clone(),
        },
        Answer::HandoverInfo(_) => {
            let case = the_case()?;
            let h = read_handover(&reply.text);
            let unit = o.data["unit"].as_str().unwrap_or_default();
            if !h.missing.is_empty() || !h.consent {
                return Ok(Plan::HandoverIncomplete {
                    case,
                    unit: unit.to_string(),
                    missing: h.missing,
                    consent: h.consent,
                });
            }
            let u = unit_named(forum, unit).ok_or(Gone::Unit)?;
            let mut escalate_to: Vec<String> = u.unit_head.iter().map(|h| h.address.clone()).collect();
            escalate_to.push(forum.convenor.address.clone());
            Plan::HandoverForward(Forward {
                case,
                handover: h,
                unit: u.name.clone(),
                receivers: u.deputy_heads.clone(),
                escalate_to,
                remind_at: f.handover_remind_after.after(now, tz, f.reminder_time),
                escalate_at: f.handover_escalate_after.after(now, tz, f.reminder_time),
            })
        }
        Answer::Closes(_) if o.kind == ob::NOTES => {
            let deadline = now + f.adjust_within;
            Plan::NotesFiled(Review {
                adjusters: f.adjusters.iter().filter(|a| *a != sender).cloned().collect(),
                deadline,
                remind_at: ob::reminder_before(deadline, f.adjust_remind_before, tz, f.reminder_time).max(now),
            })
        }
        Answer::Closes(_) if o.kind == ob::ADJUST => Plan::Adjusted,
        Answer::Closes(_) => {
            let case = the_case()?;
            Plan::Confirmed {
                handover: o.kind == ob::HANDOVER_CONFIRM,
                tell: o.data["from"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| case.submitter.clone()),
                case_worker: ob::case_worker(&reply.text),
                case,
            }
        }
        Answer::Comment(_) => {
            let to = match note_taker {
                Some(n) if n != sender => n,
                _ => forum.convenor.address.as_str(),
            };
            Plan::Comment {
                forward_to: (to != sender).then(|| to.to_string()),
            }
        }
    })
}

/// What a meeting's decision on a case does (a decision line, or `samverkan case decide`). The
/// case's open obligations close first in any case ("new decision").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseStep {
    /// ÖVERLÄMNA: the case waits for its handover information; the submitter is asked for it
    /// and owns that obligation, reminded at `remind_at`.
    Handover { unit: String, remind_at: DateTime<Utc> },
    /// UPPFÖLJNING: off the agenda until `date`; the submitter is reminded at `remind_at`.
    FollowUp { date: chrono::NaiveDate, remind_at: DateTime<Utc> },
    /// LYFT: a summary to the unit heads (level 3) or the heads of department (level 4, seed
    /// 001's top rung) of the case's units and the submitter's (as (name, address), each once),
    /// who must acknowledge it: reminded, then escalated to the convenor.
    Escalate {
        heads: Vec<(String, String)>,
        level: u8,
        remind_at: DateTime<Utc>,
        escalate_at: DateTime<Utc>,
    },
    /// AVSLUTAD.
    Close,
}

/// Decides what decision `d` does to a case of `forum` submitted by `submitter` about `units`,
/// now in `status`, at `now`. `Err`: why it cannot be applied, in Swedish, for the
/// confirmation's line.
pub fn case_step(
    forum: &Forum,
    submitter: &str,
    units: &[String],
    status: &str,
    d: &Decision,
    now: DateTime<Utc>,
) -> Result<CaseStep, String> {
    let f = &forum.followup;
    let tz = forum.time_zone;
    Ok(match d {
        Decision::Handover { unit: name } => {
            let Some(u) = unit_named(forum, name) else {
                let names: Vec<&str> = forum.units.iter().map(|u| u.name.as_str()).collect();
                return Err(format!("okänd enhet \"{name}\" (enheterna är: {})", names.join(", ")));
            };
            if u.deputy_heads.is_empty() {
                return Err(format!("enheten {} har ingen biträdande enhetschef i konfigurationen", u.name));
            }
            CaseStep::Handover {
                unit: u.name.clone(),
                remind_at: f.handover_remind_after.after(now, tz, f.reminder_time),
            }
        }
        Decision::FollowUp { date } => {
            let remind = ob::reminder_before(
                crate::core::schedule::local(tz, date.and_time(f.reminder_time)),
                f.follow_up_remind_before,
                tz,
                f.reminder_time,
            );
            CaseStep::FollowUp {
                date: *date,
                remind_at: remind.max(now),
            }
        }
        Decision::Escalate | Decision::EscalateDepartment => {
            // Level 4 when asked for, or when a case already lifted to the unit heads is lifted
            // again.
            let level4 = *d == Decision::EscalateDepartment || status == "escalated";
            let mut heads: Vec<(String, String)> = Vec::new();
            let own = forum.member(submitter).map(|m| m.unit.clone());
            for name in units.iter().chain(own.iter()) {
                let head = unit_named(forum, name).and_then(|u| if level4 { u.department_head.as_ref() } else { u.unit_head.as_ref() });
                if let Some(h) = head
                    && !heads.iter().any(|(_, a)| *a == h.address)
                {
                    heads.push((h.name.clone(), h.address.clone()));
                }
            }
            if heads.is_empty() {
                return Err(if level4 {
                    "ingen avdelningschef finns i konfigurationen för de berörda enheterna (department_head)".into()
                } else {
                    "ingen enhetschef finns i konfigurationen för de berörda enheterna (unit_head)".into()
                });
            }
            CaseStep::Escalate {
                heads,
                level: if level4 { 4 } else { 3 },
                remind_at: f.handover_remind_after.after(now, tz, f.reminder_time),
                escalate_at: f.handover_escalate_after.after(now, tz, f.reminder_time),
            }
        }
        Decision::Close => CaseStep::Close,
    })
}

/// The unit called `name` (case-insensitively), with its configured name.
pub fn unit_named<'f>(forum: &'f Forum, name: &str) -> Option<&'f crate::config::Unit> {
    let n = name.trim().to_lowercase();
    forum.units.iter().find(|u| u.name.to_lowercase() == n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{config, mail, ts};

    const NOW: &str = "2026-12-07T10:00:00Z"; // Monday

    fn obligation(id: i64, kind: &str, owners: &[&str], data: serde_json::Value) -> ThreadObligation {
        ThreadObligation {
            id,
            kind: kind.into(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            case_id: Some(3),
            meeting_id: Some(9),
            data,
            ..ThreadObligation::default()
        }
    }

    fn case() -> ObligationCase {
        ObligationCase {
            id: 3,
            case_no: "2026-0003".into(),
            submitter: "anna.berg@kommun.test".into(),
        }
    }

    fn forum() -> Forum {
        let mut cfg = config();
        let mut f = cfg.forums.remove(0);
        f.units[1].unit_head = Some(crate::config::Person {
            name: "Eva Chef".into(),
            address: "eva.chef@kommun.test".into(),
        });
        f.followup.adjusters = vec!["anna.berg@kommun.test".into(), "lars.ek@kommun.test".into()];
        f
    }

    /// Reads `text` from `from` as a reply in `o`'s thread and decides it.
    fn plan(
        f: &Forum,
        o: &ThreadObligation,
        from: &str,
        text: &str,
        case: Option<&ObligationCase>,
        note_taker: Option<&str>,
    ) -> Result<Plan, Gone> {
        let v = mail(from, &["samverkan@kommun.test"], "SV: x", text);
        let reply = read_reply(f, &v, std::slice::from_ref(o)).expect("a party to the obligation");
        assert_eq!(reply.obligation(), o.id);
        decide(f, o, &reply, case, note_taker, ts(NOW))
    }

    const HANDOVER: &str = "Bakgrund och familjesituation: Bor med mamma\nAktuell situation: Skolfrånvaro\nFunktionsnedsättning: ADHD\nPågående insatser: Kontaktperson\nSamtycke: ja";

    #[test]
    fn complete_handover_information_with_consent_goes_to_the_receiving_unit() {
        let f = forum();
        let o = obligation(
            5,
            ob::HANDOVER_INFO,
            &["anna.berg@kommun.test"],
            serde_json::json!({"unit": "vuxenenheten"}),
        );
        let p = plan(&f, &o, "anna.berg@kommun.test", HANDOVER, Some(&case()), None).expect("plan");
        assert_eq!(p.outcome(), "handover_forwarded");
        let Plan::HandoverForward(fw) = p else { panic!("{p:?}") };
        assert_eq!(fw.case, case());
        assert!(fw.handover.consent && fw.handover.missing.is_empty());
        assert_eq!(fw.unit, "Vuxenenheten", "the configured name");
        assert_eq!(fw.receivers, vec!["lars.ek@kommun.test"]);
        assert_eq!(fw.escalate_to, vec!["eva.chef@kommun.test", "sara@kommun.test"]);
        // 3 and 7 working days after Monday 7 December, at 09:00 Stockholm time.
        assert_eq!(fw.remind_at, ts("2026-12-10T08:00:00Z"));
        assert_eq!(fw.escalate_at, ts("2026-12-16T08:00:00Z"));
    }

    #[test]
    fn handover_information_without_consent_or_with_parts_missing_is_not_forwarded() {
        let f = forum();
        let o = obligation(
            5,
            ob::HANDOVER_INFO,
            &["anna.berg@kommun.test"],
            serde_json::json!({"unit": "Vuxenenheten"}),
        );
        let without = HANDOVER.replace("Samtycke: ja", "Samtycke: nej");
        match plan(&f, &o, "anna.berg@kommun.test", &without, Some(&case()), None) {
            Ok(Plan::HandoverIncomplete {
                missing, consent, unit, ..
            }) => {
                assert!(missing.is_empty());
                assert!(!consent);
                assert_eq!(unit, "Vuxenenheten");
            }
            other => panic!("{other:?}"),
        }
        match plan(
            &f,
            &o,
            "anna.berg@kommun.test",
            "Aktuell situation: Skolfrånvaro\nSamtycke: ja",
            Some(&case()),
            None,
        ) {
            Ok(p @ Plan::HandoverIncomplete { .. }) => {
                assert_eq!(p.outcome(), "handover_incomplete");
                let Plan::HandoverIncomplete { missing, consent, .. } = p else {
                    unreachable!()
                };
                assert_eq!(missing, vec![Part::Background, Part::Problems, Part::Interventions]);
                assert!(consent);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_handover_whose_unit_or_case_is_gone_is_an_error_not_a_forward() {
        let f = forum();
        let o = obligation(
            5,
            ob::HANDOVER_INFO,
            &["anna.berg@kommun.test"],
            serde_json::json!({"unit": "Nedlagda enheten"}),
        );
        assert_eq!(
            plan(&f, &o, "anna.berg@kommun.test", HANDOVER, Some(&case()), None),
            Err(Gone::Unit)
        );
        assert_eq!(plan(&f, &o, "anna.berg@kommun.test", HANDOVER, None, None), Err(Gone::Case));
    }

    #[test]
    fn mottaget_closes_and_tells_who_handed_over_or_the_submitter() {
        let f = forum();
        let o = obligation(
            6,
            ob::HANDOVER_CONFIRM,
            &["lars.ek@kommun.test"],
            serde_json::json!({"unit": "Vuxenenheten", "from": "anna.berg@kommun.test"}),
        );
        let p = plan(&f, &o, "lars.ek@kommun.test", "Mottaget, handläggare Eva Ek", Some(&case()), None);
        assert_eq!(
            p,
            Ok(Plan::Confirmed {
                case: case(),
                handover: true,
                tell: "anna.berg@kommun.test".into(),
                case_worker: Some("Eva Ek".into()),
            })
        );
        assert_eq!(p.map(|p| p.outcome()), Ok("handover_confirmed"));
        // A unit head acknowledging a LYFT: the submitter is told.
        let o = obligation(7, ob::ESCALATION_ACK, &["eva.chef@kommun.test"], serde_json::json!({}));
        let mut c = case();
        c.submitter = "lars.ek@kommun.test".into();
        let p = plan(&f, &o, "eva.chef@kommun.test", "Kvitterat.", Some(&c), None).expect("plan");
        assert_eq!(p.outcome(), "escalation_acknowledged");
        assert!(matches!(p, Plan::Confirmed { handover: false, ref tell, case_worker: None, .. } if tell == "lars.ek@kommun.test"));
    }

    #[test]
    fn notes_filed_go_to_the_other_adjusters_with_a_week_to_review() {
        let f = forum();
        let mut o = obligation(8, ob::NOTES, &["lars.ek@kommun.test"], serde_json::json!({}));
        o.case_id = None;
        let p = plan(&f, &o, "lars.ek@kommun.test", "Klart, arkiverat i G:", None, None).expect("plan");
        assert_eq!(p.outcome(), "notes_filed");
        assert_eq!(
            p,
            Plan::NotesFiled(Review {
                adjusters: vec!["anna.berg@kommun.test".into()],
                deadline: ts("2026-12-14T10:00:00Z"),
                // Two days before the deadline (a Saturday): the Friday's morning.
                remind_at: ts("2026-12-11T08:00:00Z"),
            })
        );
        let o = obligation(9, ob::ADJUST, &["anna.berg@kommun.test"], serde_json::json!({}));
        let p = plan(&f, &o, "anna.berg@kommun.test", "Justerat, inga synpunkter", None, None).expect("plan");
        assert_eq!((p.outcome(), p), ("notes_adjusted", Plan::Adjusted));
    }

    #[test]
    fn a_comment_goes_to_the_note_taker_or_the_convenor() {
        let f = forum();
        let o = obligation(9, ob::ADJUST, &["anna.berg@kommun.test"], serde_json::json!({}));
        let comment = "Oklart vad som menas i punkt 2";
        let p = plan(&f, &o, "anna.berg@kommun.test", comment, None, Some("lars.ek@kommun.test")).expect("plan");
        assert_eq!(p.outcome(), "obligation_comment");
        assert_eq!(
            p,
            Plan::Comment {
                forward_to: Some("lars.ek@kommun.test".into())
            }
        );
        // The note taker's own comment goes to the convenor, as does one on a meeting without
        // a note taker.
        let p = plan(&f, &o, "anna.berg@kommun.test", comment, None, Some("anna.berg@kommun.test"));
        assert_eq!(
            p,
            Ok(Plan::Comment {
                forward_to: Some("sara@kommun.test".into())
            })
        );
        // The convenor is not sent their own comment.
        let p = plan(&f, &o, "sara@kommun.test", comment, None, None);
        assert_eq!(p, Ok(Plan::Comment { forward_to: None }));
    }

    #[test]
    fn decision_lines_are_applied_line_by_line() {
        let f = forum();
        let mut o = obligation(
            10,
            ob::DECISIONS,
            &["lars.ek@kommun.test"],
            serde_json::json!({"cases": ["2026-0003"]}),
        );
        o.case_id = None;
        let p = plan(
            &f,
            &o,
            "sara@kommun.test",
            "2026-0003: AVSLUTAD\n2026-0004: ÖVERLÄMNA Vuxenenheten",
            None,
            None,
        )
        .expect("plan");
        assert_eq!(p.outcome(), "decisions");
        match p {
            Plan::Decisions { lines } => assert_eq!(lines.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_a_decision_does_to_a_case() {
        let f = forum();
        let now = ts(NOW);
        let step = |d: &Decision, units: &[&str]| {
            let units: Vec<String> = units.iter().map(|u| u.to_string()).collect();
            case_step(&f, "anna.berg@kommun.test", &units, "submitted", d, now)
        };
        assert_eq!(
            step(
                &Decision::Handover {
                    unit: "VUXENENHETEN".into()
                },
                &[]
            ),
            Ok(CaseStep::Handover {
                unit: "Vuxenenheten".into(),
                remind_at: ts("2026-12-10T08:00:00Z")
            })
        );
        assert_eq!(
            step(
                &Decision::Handover {
                    unit: "Socialpsykiatrin".into()
                },
                &[]
            ),
            Err("okänd enhet \"Socialpsykiatrin\" (enheterna är: Barn och unga, Vuxenenheten)".into())
        );
        // The follow-up is reminded a week (the default) before its date, on a working day's
        // morning, never before now.
        let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).expect("d");
        assert_eq!(
            step(&Decision::FollowUp { date }, &[]),
            Ok(CaseStep::FollowUp {
                date,
                remind_at: ts("2027-01-08T08:00:00Z")
            })
        );
        let soon = chrono::NaiveDate::from_ymd_opt(2026, 12, 8).expect("d");
        assert!(matches!(step(&Decision::FollowUp { date: soon }, &[]), Ok(CaseStep::FollowUp { remind_at, .. }) if remind_at == now));
        // LYFT: the unit heads of the units concerned; none configured for the submitter's own.
        assert_eq!(
            step(&Decision::Escalate, &["vuxenenheten", "Vuxenenheten"]),
            Ok(CaseStep::Escalate {
                heads: vec![("Eva Chef".into(), "eva.chef@kommun.test".into())],
                level: 3,
                remind_at: ts("2026-12-10T08:00:00Z"),
                escalate_at: ts("2026-12-16T08:00:00Z"),
            })
        );
        assert!(step(&Decision::Escalate, &[]).is_err(), "Barn och unga has no unit head");
        // Level 4: asked for, or a lifted case lifted again; the heads of department.
        let mut h = f.clone();
        h.units[1].department_head = Some(crate::config::Person {
            name: "Dag Avdelning".into(),
            address: "dag@kommun.test".into(),
        });
        let units = vec!["Vuxenenheten".to_string()];
        for (status, d) in [("submitted", Decision::EscalateDepartment), ("escalated", Decision::Escalate)] {
            assert!(
                matches!(
                    case_step(&h, "anna.berg@kommun.test", &units, status, &d, now),
                    Ok(CaseStep::Escalate { ref heads, level: 4, .. }) if heads == &vec![("Dag Avdelning".to_string(), "dag@kommun.test".to_string())]
                ),
                "{status} {d:?}"
            );
        }
        assert_eq!(
            case_step(&f, "anna.berg@kommun.test", &units, "escalated", &Decision::Escalate, now),
            Err("ingen avdelningschef finns i konfigurationen för de berörda enheterna (department_head)".into())
        );
        assert_eq!(step(&Decision::Close, &[]), Ok(CaseStep::Close));
        let mut g = f.clone();
        g.units[1].deputy_heads.clear();
        assert_eq!(
            case_step(
                &g,
                "anna.berg@kommun.test",
                &[],
                "submitted",
                &Decision::Handover {
                    unit: "Vuxenenheten".into()
                },
                now
            ),
            Err("enheten Vuxenenheten har ingen biträdande enhetschef i konfigurationen".into())
        );
    }

    #[test]
    fn a_stranger_in_the_thread_is_no_party() {
        let f = forum();
        let o = obligation(5, ob::HANDOVER_CONFIRM, &["lars.ek@kommun.test"], serde_json::json!({}));
        let v = mail("stranger@example.test", &["samverkan@kommun.test"], "SV: x", "Mottaget");
        assert_eq!(read_reply(&f, &v, &[o]), None);
        let v = mail("lars.ek@kommun.test", &["samverkan@kommun.test"], "SV: x", "Mottaget");
        assert_eq!(read_reply(&f, &v, &[]), None, "no thread, no obligation");
    }
}
