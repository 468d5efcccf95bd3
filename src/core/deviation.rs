//! Deviations (avvikelser, seed 001 "Avvikelsehantering", seed 003 "Avvikelser från
//! samverkansrutinen"): every broken rule of the routine, found by one pure scan over what the
//! store knows (the obligations and the meetings) at `now`. The rules are one table, [`RULES`];
//! each deviation has a natural key (its rule and what broke it), so the shell records it once
//! however often it scans. Numbers and references only: case ids, meeting ids, unit names.
//!
//! Most rules are "an obligation of kind K was still open some time after its deadline"; the
//! individual routines (issue 18) plug in by naming their obligation kinds in a row of the
//! table ([`CONTACT`], [`COMMENT`]): a rule whose kind never occurs finds nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::config::Forum;
use crate::core::ical::PartStat;
use crate::core::obligation as ob;
use crate::core::plan::MeetingView;
use crate::core::schedule::{MeetingKind, local};
use crate::core::workdays::add_working_days;

/// The obligation kinds of the individual routines (issue 18) the table already names: a new
/// contact person's first contact within a week (seed 003), the other party's comments on the
/// notes within a week (seed 003).
pub const CONTACT: &str = crate::core::person::NEW_CONTACT;
pub const COMMENT: &str = crate::core::person::NOTES_COMMENT;

/// Which deadline of an obligation a rule measures against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The reminder's moment (for kinds whose reminder is the deadline: the notes, a week
    /// after the meeting).
    Remind,
    /// The escalation's moment.
    Escalate,
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// An obligation of `kind` still open `grace_working_days` working days after its deadline
    /// (closed later counts too: it was late).
    Obligation {
        kind: &'static str,
        deadline: Deadline,
        grace_working_days: u32,
    },
    /// A meeting that was held (not cancelled; a samverkansmöte with cases) had no note taker,
    /// or its note taker had declined, was uninvited or unreachable.
    HeldWithoutNoteTaker,
    /// A meeting's invitation or summons went to someone the routine does not name (not a
    /// member, not the convenor, not a unit head). Should be impossible: a bug too.
    SummonsToStranger,
}

/// Which routine a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routine {
    /// The forum's (seed 001, 002).
    Forum,
    /// The individual routines around one person (seed 003, 000; issue 18).
    Individual,
}

/// One rule of the routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// As stored and as the metrics label.
    pub id: &'static str,
    pub check: Check,
    pub routine: Routine,
    /// The deviation form's "Beskriv händelsen" line, in Swedish and English.
    pub sv: &'static str,
    pub en: &'static str,
    /// Whether a deviation of this rule is a fault of samverkan itself (logged as an error).
    pub bug: bool,
}

/// The rules, one row each.
pub const RULES: &[Rule] = &[
    Rule {
        id: "handover_unconfirmed",
        check: Check::Obligation {
            kind: ob::HANDOVER_CONFIRM,
            deadline: Deadline::Escalate,
            grace_working_days: 2,
        },
        routine: Routine::Forum,
        sv: "Mottagande enhet har inte bekräftat ärendeöverlämningen, inte heller efter eskaleringen",
        en: "The receiving unit did not confirm the handover, not even after the escalation",
        bug: false,
    },
    Rule {
        id: "notes_late",
        check: Check::Obligation {
            kind: ob::NOTES,
            deadline: Deadline::Remind,
            grace_working_days: 0,
        },
        routine: Routine::Forum,
        sv: "Mötesanteckningarna arkiverades inte inom en vecka efter mötet",
        en: "The meeting notes were not filed within a week of the meeting",
        bug: false,
    },
    Rule {
        id: "review_unanswered",
        check: Check::Obligation {
            kind: ob::ADJUST,
            deadline: Deadline::Escalate,
            grace_working_days: 0,
        },
        routine: Routine::Forum,
        sv: "Justeringen av mötesanteckningarna besvarades inte i tid",
        en: "The review of the meeting notes was not answered in time",
        bug: false,
    },
    Rule {
        id: "held_without_note_taker",
        check: Check::HeldWithoutNoteTaker,
        routine: Routine::Forum,
        sv: "Mötet hölls utan dokumentationsansvarig",
        en: "The meeting was held without a note taker",
        bug: false,
    },
    Rule {
        id: "summons_to_stranger",
        check: Check::SummonsToStranger,
        routine: Routine::Forum,
        sv: "En kallelse gick till någon som rutinen inte nämner",
        en: "A summons went to someone the routine does not name",
        bug: true,
    },
    Rule {
        id: "contact_not_made",
        check: Check::Obligation {
            kind: CONTACT,
            deadline: Deadline::Escalate,
            grace_working_days: 0,
        },
        routine: Routine::Individual,
        sv: "Ny kontaktansvarig tog inte kontakt med den andra enheten inom en vecka",
        en: "A new contact person did not contact the other unit within a week",
        bug: false,
    },
    Rule {
        id: "comment_unanswered",
        check: Check::Obligation {
            kind: COMMENT,
            deadline: Deadline::Escalate,
            grace_working_days: 0,
        },
        routine: Routine::Individual,
        sv: "Anteckningarna för synpunkter besvarades inte inom en vecka",
        en: "The notes sent for comments were not answered within a week",
        bug: false,
    },
];

/// The rule called `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// An obligation as the scan sees it (any obligation, open or recently closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationFact {
    pub id: i64,
    pub forum_id: String,
    pub kind: String,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    pub remind_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The units it concerns as stored with it (a handover's receiving unit, its case's units).
    pub units: Vec<String>,
}

/// A deviation found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub rule: &'static str,
    /// With `rule`, the natural key: `obligation:12`, `meeting:3`.
    pub subject: String,
    pub forum_id: String,
    pub case_id: Option<i64>,
    pub meeting_id: Option<i64>,
    pub units: Vec<String>,
    /// When the rule was broken.
    pub due_at: DateTime<Utc>,
}

/// The moment an obligation breaks its rule if it is still open then.
fn threshold(o: &ObligationFact, deadline: Deadline, grace: u32, tz: Tz, at: NaiveTime) -> Option<DateTime<Utc>> {
    let d = match deadline {
        Deadline::Remind => o.remind_at,
        Deadline::Escalate => o.escalate_at,
    }?;
    if grace == 0 {
        return Some(d);
    }
    let day = add_working_days(d.with_timezone(&tz).date_naive(), grace);
    Some(local(tz, day.and_time(at)))
}

/// Whether a meeting was held: not cancelled, over, and (a samverkansmöte) with cases: its
/// agenda, or (once decided, the agenda only holds undecided cases) its decisions requested.
fn held(m: &MeetingView, now: DateTime<Utc>) -> bool {
    m.status != "cancelled" && m.end <= now && (m.kind == MeetingKind::Avstamning || m.decisions_requested || !m.cases.is_empty())
}

/// Whether `address` is someone the forum's routine names.
pub fn named(forum: &Forum, address: &str) -> bool {
    let a = address.to_ascii_lowercase();
    forum.member(&a).is_some()
        || forum.convenor.address == a
        || forum.units.iter().any(|u| u.unit_head.as_ref().is_some_and(|h| h.address == a))
}

/// What the store knows, as the scan reads it.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// Open obligations and those closed recently.
    pub obligations: &'a [ObligationFact],
    /// The meetings of the recent past (and the near future).
    pub meetings: &'a [MeetingView],
    /// The units of every case a meeting had, decided ones included (the agenda of a
    /// `MeetingView` holds only the undecided).
    pub meeting_units: &'a BTreeMap<i64, Vec<String>>,
}

/// The units a case concerns: those it names, else the unit of its submitter (a member).
pub fn case_units(forum: Option<&Forum>, units: &[String], submitter: &str) -> Vec<String> {
    if !units.is_empty() {
        return units.to_vec();
    }
    forum
        .and_then(|f| f.member(submitter))
        .map(|m| vec![m.unit.clone()])
        .unwrap_or_default()
}

fn meeting_units(s: &Snapshot<'_>, m: &MeetingView) -> Vec<String> {
    m.cases
        .iter()
        .flat_map(|c| c.units.iter().cloned())
        .chain(s.meeting_units.get(&m.id).into_iter().flatten().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Every deviation the facts show at `now`, in the order of the table and then of the facts.
/// The shell inserts them keyed by (rule, subject): scanning again finds the same ones.
pub fn scan(forums: &[Forum], s: &Snapshot<'_>, now: DateTime<Utc>) -> Vec<Found> {
    let (obligations, meetings) = (s.obligations, s.meetings);
    let by_meeting: BTreeMap<i64, &MeetingView> = meetings.iter().map(|m| (m.id, m)).collect();
    let forum = |id: &str| forums.iter().find(|f| f.id == id);
    let mut out = Vec::new();
    for r in RULES {
        match r.check {
            Check::Obligation {
                kind,
                deadline,
                grace_working_days,
            } => {
                for o in obligations.iter().filter(|o| o.kind == kind) {
                    let Some(f) = forum(&o.forum_id) else { continue };
                    let Some(t) = threshold(o, deadline, grace_working_days, f.time_zone, f.followup.reminder_time) else {
                        continue;
                    };
                    if t > now || o.closed_at.is_some_and(|c| c <= t) {
                        continue;
                    }
                    let mut units: BTreeSet<String> = o.units.iter().cloned().collect();
                    if let Some(m) = o.meeting_id.and_then(|id| by_meeting.get(&id)) {
                        units.extend(meeting_units(s, m));
                    }
                    out.push(Found {
                        rule: r.id,
                        subject: format!("obligation:{}", o.id),
                        forum_id: o.forum_id.clone(),
                        case_id: o.case_id,
                        meeting_id: o.meeting_id,
                        units: units.into_iter().collect(),
                        due_at: t,
                    });
                }
            }
            Check::HeldWithoutNoteTaker => {
                for m in meetings.iter().filter(|m| held(m, now)) {
                    let present = m.note_taker.as_deref().is_some_and(|nt| {
                        m.invitations
                            .iter()
                            .any(|i| i.address == nt && i.active && !i.undeliverable && i.partstat != PartStat::Declined)
                    });
                    if !present {
                        out.push(meeting_found(r, m, meeting_units(s, m), m.end));
                    }
                }
            }
            Check::SummonsToStranger => {
                for m in meetings {
                    let Some(f) = forum(&m.forum_id) else { continue };
                    if let Some(first) = m.invitations.iter().filter(|i| !named(f, &i.address)).map(|i| i.invited_at).min() {
                        out.push(meeting_found(r, m, meeting_units(s, m), first));
                    }
                }
            }
        }
    }
    out
}

fn meeting_found(r: &Rule, m: &MeetingView, units: Vec<String>, due_at: DateTime<Utc>) -> Found {
    Found {
        rule: r.id,
        subject: format!("meeting:{}", m.id),
        forum_id: m.forum_id.clone(),
        case_id: None,
        meeting_id: Some(m.id),
        units,
        due_at,
    }
}

/// The next moment a scan could find something new (for the scheduler's sleep).
pub fn next_wakeup(forums: &[Forum], s: &Snapshot<'_>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (obligations, meetings) = (s.obligations, s.meetings);
    let forum = |id: &str| forums.iter().find(|f| f.id == id);
    let from_obligations = RULES.iter().flat_map(|r| match r.check {
        Check::Obligation {
            kind,
            deadline,
            grace_working_days,
        } => obligations
            .iter()
            .filter(|o| o.kind == kind && o.closed_at.is_none())
            .filter_map(|o| {
                let f = forum(&o.forum_id)?;
                threshold(o, deadline, grace_working_days, f.time_zone, f.followup.reminder_time)
            })
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    });
    let ends = meetings.iter().filter(|m| m.status != "cancelled").map(|m| m.end);
    from_obligations.chain(ends).filter(|t| *t > now).min()
}

/// The monthly digest's moment in the month of `now`: `day` (clamped to the month's last day)
/// at `at`, local time. The digest covers what was recorded before it and not yet sent.
pub fn digest_moment(now: DateTime<Utc>, tz: Tz, day: u32, at: NaiveTime) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first);
    let d = NaiveDate::from_ymd_opt(first.year(), first.month(), day.clamp(1, last.day())).unwrap_or(first);
    local(tz, d.and_time(at))
}

/// The next digest moment after `now`.
pub fn next_digest(now: DateTime<Utc>, tz: Tz, day: u32, at: NaiveTime) -> DateTime<Utc> {
    let this = digest_moment(now, tz, day, at);
    if this > now {
        return this;
    }
    let next_month = now
        .with_timezone(&tz)
        .date_naive()
        .with_day(1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .map(|d| local(tz, d.and_time(at)))
        .unwrap_or(this);
    digest_moment(next_month, tz, day, at)
}

/// A deviation's reference in mails: `AVV-12`.
pub fn reference(id: i64) -> String {
    format!("AVV-{id}")
}

/// The collector's answer that a deviation is none: `AVV-12: Ingen avvikelse: mötet flyttades`
/// per line, or "Ingen avvikelse: <reason>" in answer to a mail about one deviation (its
/// reference in the subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    pub id: i64,
    pub reason: String,
}

/// The references `AVV-<n>` in a text, in order.
fn references(s: &str) -> Vec<(usize, usize, i64)> {
    let upper = s.to_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = upper[from..].find("AVV-") {
        let start = from + p;
        let digits: String = upper[start + 4..].chars().take_while(char::is_ascii_digit).collect();
        let end = start + 4 + digits.len();
        if let Ok(n) = digits.parse() {
            out.push((start, end, n));
        }
        from = end.max(start + 4);
    }
    out
}

/// The reason after "Ingen avvikelse" (colon or dash optional, case-insensitive), or `None`
/// when the text does not say it. A missing reason is the empty string.
fn no_deviation(s: &str) -> Option<String> {
    let t = s.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '–' | '>' | '*'));
    let lower = t.to_lowercase();
    let rest = ["ingen avvikelse", "no deviation"]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &t[p.len()..]))?;
    Some(
        rest.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '-' | '–' | '.' | ','))
            .trim()
            .to_string(),
    )
}

/// Where the quoted earlier mail starts: Outlook's divider, "Den … skrev:", "On … wrote:".
fn quote_header(l: &str) -> bool {
    let said = |start: &str, end: &str| l.starts_with(start) && l.ends_with(end);
    l.starts_with("-----") || said("Den ", "skrev:") || said("On ", "wrote:")
}

/// What a collector's mail dismisses: lines naming a reference, or (with exactly one reference
/// in the subject) the first non-empty line. Quoted text (`>`) is not read.
pub fn dismissals(subject: &str, text: &str) -> Vec<Dismissal> {
    let own: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !quote_header(l))
        .filter(|l| !l.starts_with('>'))
        .collect();
    let mut out: Vec<Dismissal> = Vec::new();
    for l in &own {
        let refs = references(l);
        if let Some(&(_, end, id)) = refs.first()
            && let Some(reason) = no_deviation(&l[end..])
        {
            out.push(Dismissal { id, reason });
        }
    }
    if out.is_empty() {
        let subject_refs = references(subject);
        if let [(_, _, id)] = subject_refs[..]
            && let Some(reason) = own.iter().find(|l| !l.is_empty()).and_then(|l| no_deviation(l))
        {
            out.push(Dismissal { id, reason });
        }
    }
    out.dedup_by_key(|d| d.id);
    out
}

/// A configured collector's mail that dismisses deviations: the forum (by the mailbox it was
/// sent to), the collector's address, and what it says. `None` for any other mail.
pub fn collector_answer<'c>(
    cfg: &'c crate::config::Config,
    v: &crate::mail::view::MailView,
) -> Option<(&'c Forum, String, Vec<Dismissal>)> {
    let forum = crate::core::intake::forum_for(cfg, v)?;
    let from = v.from.as_deref()?.to_ascii_lowercase();
    if !forum.deviations.collectors.iter().any(|p| p.address == from) {
        return None;
    }
    let said = dismissals(&v.subject, &v.text);
    (!said.is_empty()).then_some((forum, from, said))
}

/// How many working days late `closed` (or `now`, while open) is after `due`, in the forum's
/// zone; 0 when on time.
pub fn working_days_late(due: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> u32 {
    crate::core::workdays::working_days_between(due.with_timezone(&tz).date_naive(), until.with_timezone(&tz).date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ical::Role;
    use crate::core::plan::{AgendaCase, Invitation};
    use crate::core::testing::{config, ts};

    fn obligation(id: i64, kind: &str, remind: Option<&str>, escalate: Option<&str>, closed: Option<&str>) -> ObligationFact {
        ObligationFact {
            id,
            forum_id: "iof-aof".into(),
            kind: kind.into(),
            case_id: Some(100 + id),
            meeting_id: None,
            remind_at: remind.map(ts),
            escalate_at: escalate.map(ts),
            closed_at: closed.map(ts),
            units: vec!["Vuxenenheten".into()],
        }
    }

    fn invitee(address: &str, partstat: PartStat) -> Invitation {
        Invitation {
            address: address.into(),
            name: String::new(),
            role: Role::Required,
            partstat,
            sequence_sent: 0,
            active: true,
            reminded: false,
            undeliverable: false,
            delegate: false,
            invited_at: ts("2027-01-01T08:00:00Z"),
        }
    }

    fn meeting(id: i64, note_taker: Option<&str>, invitations: Vec<Invitation>, cases: usize) -> MeetingView {
        MeetingView {
            id,
            forum_id: "iof-aof".into(),
            occurrence: "2027-01-12".into(),
            start: ts("2027-01-12T09:00:00Z"),
            end: ts("2027-01-12T11:00:00Z"),
            kind: MeetingKind::Samverkan,
            place: String::new(),
            status: "scheduled".into(),
            sequence: 0,
            invited: true,
            summoned: true,
            note_taker: note_taker.map(str::to_string),
            invitations,
            cases: (0..cases)
                .map(|i| AgendaCase {
                    id: i as i64,
                    case_no: format!("2027-000{i}"),
                    submitter: "anna.berg@kommun.test".into(),
                    units: vec!["Barn och unga".into()],
                    urgent: false,
                    sections: Default::default(),
                })
                .collect(),
            digest_cutoff_sent: true,
            digest_morning_sent: true,
            decisions_requested: cases > 0,
            transfers: vec![],
        }
    }

    fn snap<'a>(obligations: &'a [ObligationFact], meetings: &'a [MeetingView]) -> Snapshot<'a> {
        static NONE: std::sync::LazyLock<BTreeMap<i64, Vec<String>>> = std::sync::LazyLock::new(BTreeMap::new);
        Snapshot {
            obligations,
            meetings,
            meeting_units: &NONE,
        }
    }

    fn rules(found: &[Found]) -> Vec<(&str, &str)> {
        found.iter().map(|f| (f.rule, f.subject.as_str())).collect()
    }

    #[test]
    fn every_rule_id_is_unique_and_every_obligation_rule_names_a_kind() {
        let ids: BTreeSet<_> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), RULES.len());
        for r in RULES {
            if let Check::Obligation { kind, .. } = r.check {
                assert!(ob::KINDS.contains(&kind) || [CONTACT, COMMENT].contains(&kind), "{}", r.id);
            }
            assert!(!r.sv.is_empty() && !r.en.is_empty());
        }
    }

    #[test]
    fn notes_are_late_at_their_deadline_unless_filed_before() {
        let f = config().forums;
        let obs = [
            obligation(1, ob::NOTES, Some("2027-01-19T08:00:00Z"), None, None),
            obligation(2, ob::NOTES, Some("2027-01-19T08:00:00Z"), None, Some("2027-01-18T10:00:00Z")),
            obligation(3, ob::NOTES, Some("2027-01-19T08:00:00Z"), None, Some("2027-01-20T10:00:00Z")),
        ];
        assert!(scan(&f, &snap(&obs, &[]), ts("2027-01-19T07:59:59Z")).is_empty());
        let found = scan(&f, &snap(&obs, &[]), ts("2027-01-19T08:00:00Z"));
        assert_eq!(rules(&found), [("notes_late", "obligation:1"), ("notes_late", "obligation:3")]);
        assert_eq!(found[0].due_at, ts("2027-01-19T08:00:00Z"));
        assert_eq!(found[0].units, ["Vuxenenheten"]);
        assert_eq!(found[0].case_id, Some(101));
        assert_eq!(
            next_wakeup(&f, &snap(&obs, &[]), ts("2027-01-18T00:00:00Z")),
            Some(ts("2027-01-19T08:00:00Z"))
        );
    }

    #[test]
    fn a_handover_is_a_deviation_two_working_days_after_its_escalation() {
        let f = config().forums;
        // Escalated Friday 2027-01-22 08:00 UTC (09:00 Stockholm); two working days: Tuesday 09:00.
        let obs = [obligation(
            7,
            ob::HANDOVER_CONFIRM,
            Some("2027-01-18T08:00:00Z"),
            Some("2027-01-22T08:00:00Z"),
            None,
        )];
        assert!(scan(&f, &snap(&obs, &[]), ts("2027-01-25T12:00:00Z")).is_empty());
        let found = scan(&f, &snap(&obs, &[]), ts("2027-01-26T08:00:00Z"));
        assert_eq!(rules(&found), [("handover_unconfirmed", "obligation:7")]);
        // Confirmed after the escalation but within the grace: none.
        let on_time = [obligation(
            7,
            ob::HANDOVER_CONFIRM,
            None,
            Some("2027-01-22T08:00:00Z"),
            Some("2027-01-25T15:00:00Z"),
        )];
        assert!(scan(&f, &snap(&on_time, &[]), ts("2027-02-26T08:00:00Z")).is_empty());
    }

    #[test]
    fn an_unanswered_review_and_the_individual_routines_plug_in_by_obligation_kind() {
        let f = config().forums;
        let obs = [
            obligation(1, ob::ADJUST, Some("2027-01-20T08:00:00Z"), Some("2027-01-22T08:00:00Z"), None),
            obligation(2, CONTACT, Some("2027-01-20T08:00:00Z"), Some("2027-01-22T08:00:00Z"), None),
            obligation(3, COMMENT, Some("2027-01-20T08:00:00Z"), Some("2027-01-22T08:00:00Z"), None),
            // A reminder passing is not yet a deviation for these.
            obligation(4, ob::ADJUST, Some("2027-01-20T08:00:00Z"), Some("2027-02-22T08:00:00Z"), None),
            // Kinds no rule names never are.
            obligation(5, ob::DECISIONS, Some("2027-01-20T08:00:00Z"), None, None),
        ];
        let found = scan(&f, &snap(&obs, &[]), ts("2027-01-23T00:00:00Z"));
        assert_eq!(
            rules(&found),
            [
                ("review_unanswered", "obligation:1"),
                ("contact_not_made", "obligation:2"),
                ("comment_unanswered", "obligation:3")
            ]
        );
    }

    #[test]
    fn a_meeting_held_without_its_note_taker() {
        let f = config().forums;
        let nt = "anna.berg@kommun.test";
        let ok = meeting(1, Some(nt), vec![invitee(nt, PartStat::Accepted)], 1);
        let declined = meeting(2, Some(nt), vec![invitee(nt, PartStat::Declined)], 1);
        let none = meeting(3, None, vec![invitee(nt, PartStat::Accepted)], 2);
        let not_held = meeting(4, None, vec![], 0);
        let mut cancelled = meeting(5, None, vec![], 1);
        cancelled.status = "cancelled".into();
        let ms = [ok, declined, none, not_held, cancelled];
        assert!(scan(&f, &snap(&[], &ms), ts("2027-01-12T10:59:59Z")).is_empty());
        let found = scan(&f, &snap(&[], &ms), ts("2027-01-12T11:00:00Z"));
        assert_eq!(
            rules(&found),
            [("held_without_note_taker", "meeting:2"), ("held_without_note_taker", "meeting:3")]
        );
        assert_eq!(found[0].units, ["Barn och unga"]);
        assert_eq!(found[0].due_at, ts("2027-01-12T11:00:00Z"));
    }

    #[test]
    fn a_summons_to_someone_the_routine_does_not_name_is_found_once_per_meeting() {
        let f = config().forums;
        let m = meeting(
            9,
            Some("anna.berg@kommun.test"),
            vec![
                invitee("anna.berg@kommun.test", PartStat::Accepted),
                invitee("sara@kommun.test", PartStat::Accepted),
                invitee("LARS@kommun.test", PartStat::Accepted),
                invitee("stranger@example.test", PartStat::NeedsAction),
                invitee("other@example.test", PartStat::NeedsAction),
            ],
            1,
        );
        let found = scan(&f, &snap(&[], &[m]), ts("2027-01-02T00:00:00Z"));
        assert_eq!(rules(&found), [("summons_to_stranger", "meeting:9")]);
        assert!(rule("summons_to_stranger").is_some_and(|r| r.bug));
    }

    #[test]
    fn a_case_naming_no_unit_concerns_its_submitters_and_a_decided_meeting_keeps_its_units() {
        let cfg = config();
        let f = cfg.forums.first();
        assert_eq!(case_units(f, &[], "LARS@kommun.test"), ["Vuxenenheten"]);
        assert_eq!(case_units(f, &["Barn och unga".into()], "lars@kommun.test"), ["Barn och unga"]);
        assert!(case_units(f, &[], "stranger@example.test").is_empty());
        // Decided: the agenda is empty, the meeting's units come from the snapshot.
        let mut m = meeting(4, None, vec![], 0);
        m.decisions_requested = true;
        let units = BTreeMap::from([(4, vec!["Vuxenenheten".to_string()])]);
        let s = Snapshot {
            obligations: &[],
            meetings: std::slice::from_ref(&m),
            meeting_units: &units,
        };
        let found = scan(&cfg.forums, &s, ts("2027-01-12T12:00:00Z"));
        assert_eq!(rules(&found), [("held_without_note_taker", "meeting:4")]);
        assert_eq!(found[0].units, ["Vuxenenheten"]);
    }

    #[test]
    fn the_monthly_digest_falls_on_its_day_clamped_to_the_month() {
        let tz = chrono_tz::Europe::Stockholm;
        let at = NaiveTime::from_hms_opt(9, 0, 0).expect("time");
        assert_eq!(digest_moment(ts("2027-02-10T00:00:00Z"), tz, 1, at), ts("2027-02-01T08:00:00Z"));
        assert_eq!(digest_moment(ts("2027-02-10T00:00:00Z"), tz, 31, at), ts("2027-02-28T08:00:00Z"));
        assert_eq!(next_digest(ts("2027-02-01T08:00:00Z"), tz, 1, at), ts("2027-03-01T08:00:00Z"));
        assert_eq!(next_digest(ts("2027-01-31T08:00:00Z"), tz, 1, at), ts("2027-02-01T08:00:00Z"));
        // Summer time: 09:00 local is 07:00 UTC.
        assert_eq!(next_digest(ts("2027-06-15T00:00:00Z"), tz, 1, at), ts("2027-07-01T07:00:00Z"));
    }

    #[test]
    fn the_collector_dismisses_by_reference_or_in_the_thread_of_one() {
        assert_eq!(
            dismissals(
                "Re: Avvikelser mars",
                "AVV-3: Ingen avvikelse: mötet flyttades\nAVV-4 ingen avvikelse - sjukdom\nAVV-5: stämmer\n> AVV-6: Ingen avvikelse: citerad"
            ),
            [
                Dismissal {
                    id: 3,
                    reason: "mötet flyttades".into()
                },
                Dismissal {
                    id: 4,
                    reason: "sjukdom".into()
                }
            ]
        );
        assert_eq!(
            dismissals(
                "SV: Avvikelse AVV-12: anteckningar",
                "\nIngen avvikelse: arkiverade på papper\n\nDen 3 mars skrev X:\n> AVV-12"
            ),
            [Dismissal {
                id: 12,
                reason: "arkiverade på papper".into()
            }]
        );
        assert_eq!(
            dismissals("SV: Avvikelse AVV-12", "Ingen avvikelse"),
            [Dismissal {
                id: 12,
                reason: String::new()
            }]
        );
        // Two references in the subject: which one is unclear.
        assert!(dismissals("AVV-1 AVV-2", "Ingen avvikelse: x").is_empty());
        assert!(dismissals("SV: Avvikelse AVV-12", "Det var en avvikelse").is_empty());
    }

    #[test]
    fn only_a_configured_collector_to_the_forum_mailbox_dismisses() {
        let text = crate::core::testing::CONFIG.to_string()
            + "[forum.deviations]\ncollectors = [{ name = \"Controller\", address = \"ctrl@kommun.test\" }]\n";
        let cfg = crate::config::parse(&text, std::path::Path::new("/test/samverkan.toml")).expect("config");
        let mail = |from: &str, body: &str| crate::core::testing::mail(from, &["samverkan@kommun.test"], "SV: Avvikelser 2027-02", body);
        let got = collector_answer(&cfg, &mail("CTRL@kommun.test", "AVV-3: Ingen avvikelse: flyttat"));
        assert_eq!(
            got.map(|(f, from, d)| (f.id.clone(), from, d)),
            Some((
                "iof-aof".into(),
                "ctrl@kommun.test".into(),
                vec![Dismissal {
                    id: 3,
                    reason: "flyttat".into()
                }]
            ))
        );
        assert!(
            collector_answer(&cfg, &mail("anna.berg@kommun.test", "AVV-3: Ingen avvikelse: x")).is_none(),
            "not a collector"
        );
        assert!(
            collector_answer(&cfg, &mail("ctrl@kommun.test", "Tack för sammanställningen")).is_none(),
            "says nothing"
        );
    }

    #[test]
    fn lateness_counts_working_days() {
        let tz = chrono_tz::Europe::Stockholm;
        assert_eq!(working_days_late(ts("2027-01-22T08:00:00Z"), ts("2027-01-26T08:00:00Z"), tz), 2);
        assert_eq!(working_days_late(ts("2027-01-22T08:00:00Z"), ts("2027-01-22T09:00:00Z"), tz), 0);
    }
}
