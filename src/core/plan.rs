//! The meeting planner: what is due for each meeting at `now`, as data.
//!
//! `plan` looks at the stored meetings (with their invitations and agenda) and returns the
//! actions due; `next_wakeup` says when something will next become due. The shell carries the
//! actions out in transactions and sleeps until the wake-up; `samverkan preview` runs the same
//! two functions forward in time over an in-memory copy, so what it shows is what will happen.
//!
//! Rules (seeds 001 and 004):
//! - avstämningsmöte: every deputy unit head of the forum is invited (required) `invite_lead`
//!   before the meeting;
//! - samverkansmöte: the convenor gets the meeting in the calendar `invite_lead` before (to
//!   hold the date); at the cutoff the agenda is known: the submitters of its cases and the
//!   deputy heads of the units the cases concern are summoned (required) with the agenda, and
//!   the convenor gets the update; a samverkansmöte with no cases at the cutoff is not held:
//!   everyone already invited gets a CANCEL and the convenor is told;
//! - the convenor is always informed (optional participant unless also required);
//! - a changed meeting (higher SEQUENCE) is sent again to every invitee; a cancelled one is
//!   cancelled (METHOD:CANCEL) for every invitee;
//! - the note taker rotates among the members in configuration order, skipping those not
//!   invited (seed 001: the duty to document rotates among the participants).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::config::{Config, Forum};
use crate::core::ical::{Attendee, Method, PartStat, Role};
use crate::core::schedule::{MeetingKind, cutoff};
use crate::core::submission::SectionKey;

/// Meeting statuses.
pub const SCHEDULED: &str = "scheduled";
pub const CANCELLED: &str = "cancelled";
pub const NOT_HELD: &str = "not_held";

/// A case on a meeting's agenda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaCase {
    pub id: i64,
    pub case_no: String,
    pub submitter: String,
    pub units: Vec<String>,
    pub urgent: bool,
    pub sections: BTreeMap<SectionKey, String>,
}

/// One invitee of a meeting as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub address: String,
    pub name: String,
    pub role: Role,
    pub partstat: PartStat,
    /// The SEQUENCE of the last REQUEST or CANCEL queued for this invitee.
    pub sequence_sent: u32,
    /// False once cancelled for this invitee.
    pub active: bool,
    /// The one RSVP reminder has been sent.
    pub reminded: bool,
    /// A delivery report said the invitation could not be delivered.
    pub undeliverable: bool,
    /// Invited as someone's delegate: kept even though the rules would not invite them.
    pub delegate: bool,
    /// When this invitee's first invitation was queued: the RSVP reminder's grace period runs
    /// from here, not from when the invitation was due.
    pub invited_at: DateTime<Utc>,
}

/// A meeting with everything the planner needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingView {
    pub id: i64,
    pub forum_id: String,
    /// The series key (the rule's local date), or `extra-...` for an added meeting.
    pub occurrence: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: MeetingKind,
    pub place: String,
    pub status: String,
    pub sequence: u32,
    /// The first invitations have gone out.
    pub invited: bool,
    /// The summons with the agenda has gone out (or the not-held notice).
    pub summoned: bool,
    pub note_taker: Option<String>,
    pub invitations: Vec<Invitation>,
    pub cases: Vec<AgendaCase>,
    /// The convenor's digests (at the cutoff, on the meeting's morning) have been sent.
    pub digest_cutoff_sent: bool,
    pub digest_morning_sent: bool,
    /// The note taker has been asked for the meeting's decisions.
    pub decisions_requested: bool,
    /// Known upcoming age transfers (case number, date), listed on an avstämningsmöte in the
    /// configured inventory months (seed 001: once per term).
    pub transfers: Vec<(String, String)>,
}

/// The convenor's two digests (seed 004: who is coming).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// At the cutoff: the summons went out; who has answered so far.
    Cutoff,
    /// On the morning of the meeting.
    Morning,
}

impl Digest {
    pub fn as_str(self) -> &'static str {
        match self {
            Digest::Cutoff => "cutoff",
            Digest::Morning => "morning",
        }
    }
}

/// What the planner asks the shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send invitations to `attendees` (added to those already invited). `summon`: this is the
    /// summons (with the agenda of a samverkansmöte); when others were invited before, the
    /// meeting's SEQUENCE is raised so they get the change too.
    Invite {
        meeting_id: i64,
        attendees: Vec<Attendee>,
        note_taker: Option<String>,
        summon: bool,
    },
    /// A samverkansmöte with no cases at its cutoff: it is not held; CANCEL to everyone
    /// already invited, and tell the convenor.
    NotHeld { meeting_id: i64 },
    /// The meeting changed: send every active invitee a REQUEST with the new SEQUENCE.
    Update { meeting_id: i64 },
    /// The meeting was cancelled: send every active invitee a CANCEL.
    Cancel { meeting_id: i64 },
    /// Remind these invitees (required, not answered, not reminded before) to answer.
    Remind { meeting_id: i64, addresses: Vec<String> },
    /// Send the convenor a digest: who accepted, declined, has not answered, bounced; the cases.
    Digest { meeting_id: i64, which: Digest },
    /// The meeting is over: ask the note taker (and convenor) for its decisions.
    RequestDecisions { meeting_id: i64 },
    /// Who should attend changed after the summons (a case withdrawn, a unit's deputy head
    /// changed in the configuration): raise SEQUENCE, CANCEL to those removed, REQUEST to
    /// everyone else (the new ones included).
    Attendees {
        meeting_id: i64,
        add: Vec<Attendee>,
        remove: Vec<String>,
    },
}

impl Action {
    /// The action's name in logs.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Invite { summon: true, .. } => "summoned",
            Action::Invite { summon: false, .. } => "invited",
            Action::NotHeld { .. } => "not_held",
            Action::Update { .. } => "updated",
            Action::Cancel { .. } => "cancelled",
            Action::Attendees { .. } => "attendees_changed",
            Action::Remind { .. } => "reminded",
            Action::Digest { .. } => "digest",
            Action::RequestDecisions { .. } => "decisions_requested",
        }
    }

    /// The meeting the action is about.
    pub fn meeting_id(&self) -> i64 {
        match self {
            Action::Invite { meeting_id, .. }
            | Action::NotHeld { meeting_id }
            | Action::Update { meeting_id }
            | Action::Cancel { meeting_id }
            | Action::Attendees { meeting_id, .. }
            | Action::Remind { meeting_id, .. }
            | Action::Digest { meeting_id, .. }
            | Action::RequestDecisions { meeting_id } => *meeting_id,
        }
    }
}

/// When the first invitations of a meeting are due (`invite_lead` before it).
pub fn invite_due(forum: &Forum, m: &MeetingView) -> Option<DateTime<Utc>> {
    let s = forum.schedule.as_ref()?;
    Some(m.start - s.invite_lead)
}

/// When the summons is due: with the first invitations for an avstämningsmöte, at the cutoff
/// for a samverkansmöte.
pub fn summon_due(forum: &Forum, m: &MeetingView) -> Option<DateTime<Utc>> {
    let s = forum.schedule.as_ref()?;
    Some(match m.kind {
        MeetingKind::Avstamning => m.start - s.invite_lead,
        MeetingKind::Samverkan => cutoff(s, forum.time_zone, m.start).max(m.start - s.invite_lead),
    })
}

/// How long after an invitee's invitation actually went out the RSVP reminder waits at least.
pub const REMIND_GRACE: Duration = Duration::hours(3);
/// A reminder that could only go out later than this before the meeting is not sent at all.
pub const REMIND_LAST: Duration = Duration::hours(1);

/// When the one RSVP reminder to this invitee is due: `rsvp_reminder` before the meeting, but
/// never sooner than [`REMIND_GRACE`] after their invitation was actually queued (a summons
/// sent late, a daemon started two days before, an invitee added after the summons), and not
/// at all when that would fall within [`REMIND_LAST`] of the start.
pub fn remind_due(forum: &Forum, m: &MeetingView, i: &Invitation) -> Option<DateTime<Utc>> {
    rsvp_remind_at(m.start, i.invited_at, forum.schedule.as_ref()?.rsvp_reminder)
}

/// The RSVP reminder rule for any meeting starting at `start` (the forum's and the routines'
/// around one person): `lead` before the start, never sooner than [`REMIND_GRACE`] after the
/// invitation went out at `invited_at`, and none within [`REMIND_LAST`] of the start. A zero
/// `lead` sends none.
pub fn rsvp_remind_at(start: DateTime<Utc>, invited_at: DateTime<Utc>, lead: Duration) -> Option<DateTime<Utc>> {
    if lead <= Duration::zero() {
        return None;
    }
    let due = (start - lead).max(invited_at + REMIND_GRACE);
    (due <= start - REMIND_LAST).then_some(due)
}

/// The invitees a reminder may go to: required, active, not answered, not reminded, reachable.
fn remindable(i: &Invitation) -> bool {
    i.active && i.role == Role::Required && i.partstat == PartStat::NeedsAction && !i.reminded && !i.undeliverable
}

/// When a digest is due: at the cutoff, and at `digest_morning_time` on the meeting's day (or
/// an hour before an early meeting).
pub fn digest_due(forum: &Forum, m: &MeetingView, which: Digest) -> Option<DateTime<Utc>> {
    let s = forum.schedule.as_ref()?;
    Some(match which {
        Digest::Cutoff => summon_due(forum, m)?,
        Digest::Morning => {
            let day = m.start.with_timezone(&forum.time_zone).date_naive();
            crate::core::schedule::local(forum.time_zone, day.and_time(s.digest_morning_time)).min(m.start - Duration::hours(1))
        }
    })
}

/// The convenor as an optional participant.
fn convenor(forum: &Forum) -> Attendee {
    Attendee {
        name: forum.convenor.name.clone(),
        address: forum.convenor.address.clone(),
        role: Role::Optional,
        partstat: PartStat::NeedsAction,
    }
}

/// Who is invited, in a stable order: required participants first (in member order), then the
/// convenor as an optional participant when not already required.
pub fn invitees(forum: &Forum, m: &MeetingView) -> Vec<Attendee> {
    let mut required: Vec<String> = Vec::new();
    match m.kind {
        MeetingKind::Avstamning => {
            for u in &forum.units {
                required.extend(u.deputy_heads.iter().cloned());
            }
        }
        MeetingKind::Samverkan => {
            for c in &m.cases {
                required.push(c.submitter.clone());
                let wanted: Vec<String> = c.units.iter().map(|u| u.trim().to_lowercase()).collect();
                for u in forum.units.iter().filter(|u| wanted.contains(&u.name.to_lowercase())) {
                    required.extend(u.deputy_heads.iter().cloned());
                }
            }
        }
    }
    let mut out: Vec<Attendee> = forum
        .members
        .iter()
        .filter(|mem| required.contains(&mem.address))
        .map(|mem| Attendee {
            name: mem.name.clone(),
            address: mem.address.clone(),
            role: Role::Required,
            partstat: PartStat::NeedsAction,
        })
        .collect();
    if !out.iter().any(|a| a.address == forum.convenor.address) {
        out.push(convenor(forum));
    }
    out
}

/// The next note taker: the first member after `last` (in configuration order, wrapping) who is
/// a required participant and has not declined.
pub fn next_note_taker(forum: &Forum, attendees: &[Attendee], last: Option<&str>, declined: &[String]) -> Option<String> {
    let n = forum.members.len();
    let start = last
        .and_then(|l| forum.members.iter().position(|m| m.address == l))
        .map_or(0, |i| i + 1);
    (0..n).map(|k| &forum.members[(start + k) % n]).find_map(|m| {
        let eligible = attendees.iter().any(|a| a.address == m.address && a.role == Role::Required) && !declined.contains(&m.address);
        eligible.then(|| m.address.clone())
    })
}

/// Initials and age from a "Namn och ålder" text, for the calendar item, which must not carry
/// names: "Kalle Larsson, 17 år" → "K.L. 17 år"; "K.L., 17 år" → "K.L. 17 år".
pub fn initials(name_age: &str) -> String {
    let first_line = name_age.lines().next().unwrap_or_default();
    let mut letters = String::new();
    let words: Vec<&str> = first_line
        .split(|c: char| c.is_whitespace() || c == ',' || c == '/' || c == '(' || c == ')')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.'))
        .filter(|w| !w.is_empty())
        .collect();
    // The age is the number followed by "år" ("17 år", "17år"), else the last number.
    let numbers: Vec<(usize, u32)> = words
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.trim_end_matches("år").trim_end_matches('.').parse::<u32>().ok().map(|n| (i, n)))
        .collect();
    let age = numbers
        .iter()
        .find(|(i, _)| words[*i].ends_with("år") || words.get(i + 1).is_some_and(|n| n.to_lowercase().starts_with("år")))
        .or(numbers.last())
        .map(|(_, n)| *n);
    for w in &words {
        if w.chars().all(|c| c.is_alphabetic() || c == '.') && w.chars().next().is_some_and(char::is_uppercase) {
            // "K.L." counts as two initials already.
            for part in w.split('.').filter(|p| !p.is_empty()) {
                if let Some(c) = part.chars().next() {
                    letters.push(c);
                    letters.push('.');
                }
            }
        }
    }
    match (letters.is_empty(), age) {
        (false, Some(a)) => format!("{letters} {a} år"),
        (false, None) => letters,
        (true, Some(a)) => format!("{a} år"),
        (true, None) => String::new(),
    }
}

/// True while a samverkansmöte's cutoff actions (the summons with the agenda, or not-held)
/// must wait because the inbox has not been read through its cutoff: a submission that arrived
/// before the cutoff may still sit unread (the daemon was stopped, the mail server was down, or
/// intake simply has not looked since). `read_through`: every mail that reached the inbox
/// before this instant has been handled.
fn cutoff_unread(forum: &Forum, m: &MeetingView, read_through: DateTime<Utc>) -> bool {
    match (&forum.schedule, m.kind) {
        (Some(s), MeetingKind::Samverkan) => read_through < cutoff(s, forum.time_zone, m.start),
        _ => false,
    }
}

/// The meetings whose cutoff actions are due at `now` but held back by [`cutoff_unread`]:
/// the shell asks intake to read the inbox and plans again once it has.
pub fn awaiting_inbox(meetings: &[MeetingView], cfg: &Config, read_through: DateTime<Utc>, now: DateTime<Utc>) -> Vec<i64> {
    meetings
        .iter()
        .filter(|m| !m.summoned && m.status == SCHEDULED && now < m.start)
        .filter_map(|m| {
            let f = cfg.forum(&m.forum_id)?;
            let due = summon_due(f, m)?;
            (now >= due && cutoff_unread(f, m, read_through)).then_some(m.id)
        })
        .collect()
}

/// The actions due at `now`. `last_note_taker` gives each forum's most recent note taker;
/// `read_through`: every mail that reached the inbox before it has been handled (a cutoff's
/// actions wait for it, see [`cutoff_unread`]).
pub fn plan(
    meetings: &[MeetingView],
    cfg: &Config,
    last_note_taker: &BTreeMap<String, String>,
    read_through: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut last = last_note_taker.clone();
    for m in meetings {
        let Some(forum) = cfg.forum(&m.forum_id) else { continue };
        let behind = m.invitations.iter().any(|i| i.active && i.sequence_sent < m.sequence);
        if m.summoned && m.status == SCHEDULED && now >= m.end {
            // Over: ask for the decisions once, unless it ended long ago (a restored backup).
            if !m.decisions_requested && !m.cases.is_empty() && now < m.end + Duration::days(14) {
                out.push(Action::RequestDecisions { meeting_id: m.id });
            }
            continue;
        }
        if m.summoned || (m.invited && m.status != SCHEDULED) {
            if behind && m.status == SCHEDULED && now < m.end {
                out.push(Action::Update { meeting_id: m.id });
            } else if behind && m.status != SCHEDULED {
                out.push(Action::Cancel { meeting_id: m.id });
            } else if m.status == SCHEDULED && now < m.start {
                let due = |t: Option<DateTime<Utc>>| t.is_some_and(|t| now >= t);
                if m.summoned && !m.digest_cutoff_sent && due(digest_due(forum, m, Digest::Cutoff)) {
                    out.push(Action::Digest {
                        meeting_id: m.id,
                        which: Digest::Cutoff,
                    });
                }
                if m.summoned && !m.digest_morning_sent && due(digest_due(forum, m, Digest::Morning)) {
                    out.push(Action::Digest {
                        meeting_id: m.id,
                        which: Digest::Morning,
                    });
                }
                if m.summoned {
                    let addresses: Vec<String> = m
                        .invitations
                        .iter()
                        .filter(|i| remindable(i) && due(remind_due(forum, m, i)))
                        .map(|i| i.address.clone())
                        .collect();
                    if !addresses.is_empty() {
                        out.push(Action::Remind {
                            meeting_id: m.id,
                            addresses,
                        });
                    }
                }
                let mut desired = invitees(forum, m);
                for d in m.invitations.iter().filter(|i| i.active && i.delegate) {
                    if !desired.iter().any(|x| x.address == d.address) {
                        desired.push(Attendee {
                            name: d.name.clone(),
                            address: d.address.clone(),
                            role: d.role,
                            partstat: d.partstat,
                        });
                    }
                }
                let active: Vec<&Invitation> = m.invitations.iter().filter(|i| i.active).collect();
                let add: Vec<Attendee> = desired
                    .iter()
                    .filter(|d| !active.iter().any(|i| i.address == d.address))
                    .cloned()
                    .collect();
                let remove: Vec<String> = active
                    .iter()
                    .filter(|i| !desired.iter().any(|d| d.address == i.address))
                    .map(|i| i.address.clone())
                    .collect();
                if !add.is_empty() || !remove.is_empty() {
                    out.push(Action::Attendees {
                        meeting_id: m.id,
                        add,
                        remove,
                    });
                }
            }
            continue;
        }
        if m.status != SCHEDULED || now >= m.start {
            continue;
        }
        if behind && now < m.end {
            // Invited to hold the date and moved since: tell them before anything else.
            out.push(Action::Update { meeting_id: m.id });
            continue;
        }
        let (Some(invite_at), Some(summon_at)) = (invite_due(forum, m), summon_due(forum, m)) else {
            continue;
        };
        if now >= summon_at {
            if cutoff_unread(forum, m, read_through) {
                continue;
            }
            if m.kind == MeetingKind::Samverkan && m.cases.is_empty() {
                out.push(Action::NotHeld { meeting_id: m.id });
                continue;
            }
            let attendees = invitees(forum, m);
            let note_taker = next_note_taker(forum, &attendees, last.get(&forum.id).map(String::as_str), &[]);
            if let Some(n) = &note_taker {
                last.insert(forum.id.clone(), n.clone());
            }
            out.push(Action::Invite {
                meeting_id: m.id,
                attendees,
                note_taker,
                summon: true,
            });
        } else if now >= invite_at && !m.invited {
            out.push(Action::Invite {
                meeting_id: m.id,
                attendees: vec![convenor(forum)],
                note_taker: None,
                summon: false,
            });
        }
    }
    out
}

/// The next moment after `now` at which `plan` would return something new for these meetings
/// (changes made by an admin are picked up by the shell's periodic re-read).
pub fn next_wakeup(meetings: &[MeetingView], cfg: &Config, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let decisions = meetings
        .iter()
        .filter(|m| m.summoned && m.status == SCHEDULED && !m.decisions_requested && !m.cases.is_empty() && m.end > now)
        .map(|m| m.end)
        .min();
    let rest = meetings
        .iter()
        .filter(|m| m.status == SCHEDULED && m.start > now)
        .filter_map(|m| {
            let f = cfg.forum(&m.forum_id)?;
            let mut due = Vec::new();
            if !m.summoned {
                due.extend(summon_due(f, m));
                if !m.invited {
                    due.extend(invite_due(f, m));
                }
            }
            if !m.digest_cutoff_sent {
                due.extend(digest_due(f, m, Digest::Cutoff));
            }
            if !m.digest_morning_sent {
                due.extend(digest_due(f, m, Digest::Morning));
            }
            if m.summoned {
                due.extend(m.invitations.iter().filter(|i| remindable(i)).filter_map(|i| remind_due(f, m, i)));
            }
            due.into_iter().filter(|t| *t > now).min()
        })
        .min();
    [decisions, rest].into_iter().flatten().min()
}

/// One action of a pass with the meeting before and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    pub before: MeetingView,
    pub after: MeetingView,
}

/// Everything due at `now`, in order: plans, applies each action's [`transition`], and plans
/// again at the same instant (what an action makes due, such as the cutoff digest after the
/// summons) until nothing more is due. `meetings` and `last_note_taker` end in the state after
/// the last step. The daemon carries the steps out one transaction each; `samverkan preview`
/// describes them: the one state machine of a meeting.
pub fn settle(
    meetings: &mut [MeetingView],
    cfg: &Config,
    last_note_taker: &mut BTreeMap<String, String>,
    read_through: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    // Each round changes some meeting's state, and no state repeats; the bound only guards
    // against a rule that would undo another's change.
    for _ in 0..16 {
        let actions = plan(meetings, cfg, last_note_taker, read_through, now);
        if actions.is_empty() {
            break;
        }
        for action in actions {
            let Some(m) = meetings.iter_mut().find(|m| m.id == action.meeting_id()) else {
                continue;
            };
            if let Action::Invite { note_taker: Some(n), .. } = &action {
                last_note_taker.insert(m.forum_id.clone(), n.clone());
            }
            let after = transition(m, &action, now);
            let before = std::mem::replace(m, after.clone());
            steps.push(Step { action, before, after });
        }
    }
    steps
}

/// Applies an action taken at `now` to the in-memory meetings (preview, and the daemon's own
/// copy within a pass): [`transition`] on the meeting the action is about.
pub fn apply(meetings: &mut [MeetingView], action: &Action, now: DateTime<Utc>) {
    if let Some(m) = meetings.iter_mut().find(|m| m.id == action.meeting_id()) {
        *m = transition(m, action, now);
    }
}

/// The meeting's state after `action` is carried out at `now`: the one state transition of a
/// meeting. `samverkan preview` applies it in memory; the daemon applies it, then writes the
/// difference to the store (`Tx::save_transition`) in the transaction that queues the mails
/// [`mails`] lists, so the two cannot drift apart.
///
/// SEQUENCE rises whenever invitees already hold an earlier version: a summons after the
/// convenor's hold-the-date (or after anyone was invited, cancelled or not: a re-invited
/// person's calendar must see a version above its CANCEL), a change of attendees, a meeting
/// that is not held. An update or a cancel sends the SEQUENCE the change (an admin's move or
/// cancel) already raised.
pub fn transition(before: &MeetingView, action: &Action, now: DateTime<Utc>) -> MeetingView {
    let mut m = before.clone();
    let invite = |m: &mut MeetingView, a: &Attendee, seq: u32| match m.invitations.iter_mut().find(|i| i.address == a.address) {
        Some(i) => {
            i.active = true;
            i.role = a.role;
        }
        None => m.invitations.push(Invitation {
            address: a.address.clone(),
            name: a.name.clone(),
            role: a.role,
            partstat: a.partstat,
            sequence_sent: seq,
            active: true,
            reminded: false,
            undeliverable: false,
            delegate: false,
            invited_at: now,
        }),
    };
    let send_all = |m: &mut MeetingView, deactivate: bool| {
        let seq = m.sequence;
        m.invitations.iter_mut().filter(|i| i.active).for_each(|i| {
            i.sequence_sent = seq;
            if deactivate {
                i.active = false;
            }
        });
    };
    match action {
        Action::Invite {
            attendees,
            note_taker,
            summon,
            ..
        } => {
            if *summon && !m.invitations.is_empty() {
                m.sequence += 1;
            }
            m.invited = true;
            m.summoned |= *summon;
            if note_taker.is_some() {
                m.note_taker = note_taker.clone();
            }
            let seq = m.sequence;
            attendees.iter().for_each(|a| invite(&mut m, a, seq));
            send_all(&mut m, false);
        }
        Action::NotHeld { .. } => {
            m.invited = true;
            m.summoned = true;
            m.status = NOT_HELD.into();
            m.sequence += 1;
            send_all(&mut m, true);
        }
        Action::Attendees { add, remove, .. } => {
            m.sequence += 1;
            let seq = m.sequence;
            for i in m.invitations.iter_mut().filter(|i| i.active && remove.contains(&i.address)) {
                i.active = false;
                i.sequence_sent = seq;
            }
            add.iter().for_each(|a| invite(&mut m, a, seq));
            send_all(&mut m, false);
        }
        Action::Remind { addresses, .. } => m
            .invitations
            .iter_mut()
            .filter(|i| addresses.contains(&i.address))
            .for_each(|i| i.reminded = true),
        Action::Digest { which: Digest::Cutoff, .. } => m.digest_cutoff_sent = true,
        Action::Digest {
            which: Digest::Morning, ..
        } => m.digest_morning_sent = true,
        Action::RequestDecisions { .. } => m.decisions_requested = true,
        Action::Update { .. } => send_all(&mut m, false),
        Action::Cancel { .. } => send_all(&mut m, true),
    }
    m
}

/// A calendar mail an action sends to one invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarMail {
    pub to: Attendee,
    pub method: Method,
    /// The mail text's template: `invitation`, or `reminder` (the same REQUEST again, so the
    /// invitee can still press Accept).
    pub template: &'static str,
    /// The ATTENDEE lines of its calendar object.
    pub attendees: Vec<Attendee>,
    /// The text says the meeting changed.
    pub is_update: bool,
    /// The note taker the mail names.
    pub note_taker: Option<String>,
}

/// A mail an action sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeetingMail {
    Calendar(CalendarMail),
    /// The convenor's digest.
    Digest(Digest),
    /// The convenor is told the meeting is not held.
    NotHeld,
    /// The note taker (and the convenor) are asked for the decisions; the obligations that
    /// track the answer open with it.
    DecisionsRequest,
}

/// Every mail carrying out `action` sends, given the meeting before and after it
/// ([`transition`]): who gets which calendar object, with which attendee list. The calendar
/// mails carry the version `after` holds.
pub fn mails(before: &MeetingView, after: &MeetingView, action: &Action) -> Vec<MeetingMail> {
    let active = |m: &MeetingView| -> Vec<Attendee> {
        m.invitations
            .iter()
            .filter(|i| i.active)
            .map(|i| Attendee {
                name: i.name.clone(),
                address: i.address.clone(),
                role: i.role,
                partstat: PartStat::NeedsAction,
            })
            .collect()
    };
    let calendar =
        |to: &Attendee, method: Method, template: &'static str, attendees: &[Attendee], is_update: bool, note_taker: Option<&String>| {
            MeetingMail::Calendar(CalendarMail {
                to: to.clone(),
                method,
                template,
                attendees: attendees.to_vec(),
                is_update,
                note_taker: note_taker.cloned(),
            })
        };
    let note = after.note_taker.as_ref();
    match action {
        Action::Invite { attendees, summon, .. } => {
            // The summons goes to everyone (those who hold the date get the change); later
            // invitations only to the new invitees.
            // The calendar lists the planned attendees first, then those invited before.
            let mut everyone: Vec<Attendee> = Vec::new();
            let earlier = active(after);
            for a in attendees.iter().chain(earlier.iter()) {
                if let Some(e) = earlier.iter().find(|e| e.address == a.address)
                    && !everyone.iter().any(|x| x.address == e.address)
                {
                    everyone.push(e.clone());
                }
            }
            let to: Vec<&Attendee> = if *summon {
                everyone.iter().collect()
            } else {
                everyone
                    .iter()
                    .filter(|e| attendees.iter().any(|a| a.address == e.address))
                    .collect()
            };
            to.into_iter()
                .map(|a| calendar(a, Method::Request, "invitation", &everyone, false, note))
                .collect()
        }
        Action::Update { .. } => {
            let list = active(before);
            list.iter()
                .map(|a| calendar(a, Method::Request, "invitation", &list, true, note))
                .collect()
        }
        Action::Cancel { .. } => {
            let list = active(before);
            list.iter()
                .map(|a| calendar(a, Method::Cancel, "invitation", &list, false, note))
                .collect()
        }
        Action::Attendees { remove, .. } => {
            let removed: Vec<Attendee> = active(before).into_iter().filter(|a| remove.contains(&a.address)).collect();
            let everyone = active(after);
            let mut out: Vec<MeetingMail> = removed
                .iter()
                .map(|a| calendar(a, Method::Cancel, "invitation", &removed, false, None))
                .collect();
            out.extend(
                everyone
                    .iter()
                    .map(|a| calendar(a, Method::Request, "invitation", &everyone, true, note)),
            );
            out
        }
        Action::Remind { addresses, .. } => {
            let list = active(before);
            list.iter()
                .filter(|a| addresses.contains(&a.address))
                .map(|a| calendar(a, Method::Request, "reminder", &list, false, note))
                .collect()
        }
        Action::NotHeld { .. } => {
            let list = active(before);
            let mut out: Vec<MeetingMail> = list
                .iter()
                .map(|a| calendar(a, Method::Cancel, "invitation", &list, false, None))
                .collect();
            out.push(MeetingMail::NotHeld);
            out
        }
        Action::Digest { which, .. } => vec![MeetingMail::Digest(*which)],
        Action::RequestDecisions { .. } => vec![MeetingMail::DecisionsRequest],
    }
}

/// The calendar UID of a meeting: stable per occurrence of the series.
pub fn uid(forum_id: &str, occurrence: &str, domain: &str) -> String {
    match NaiveDate::parse_from_str(occurrence, "%Y-%m-%d") {
        Ok(d) => crate::core::ical::uid_for(forum_id, d, domain),
        Err(_) => {
            let clean: String = occurrence.chars().filter(char::is_ascii_alphanumeric).collect();
            format!("{forum_id}-{clean}@{domain}")
        }
    }
}

/// The default lead time of avstämningsmöte invitations.
pub fn default_invite_lead() -> Duration {
    Duration::days(14)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::schedule::{Schedule, occurrences};
    use crate::core::testing::{config, ts};

    fn cfg() -> Config {
        let mut c = config();
        c.forums[0].schedule = Some(Schedule {
            rrule: "FREQ=MONTHLY;BYDAY=2TU".into(),
            first: NaiveDate::from_ymd_opt(2026, 1, 13)
                .and_then(|d| d.and_hms_opt(13, 0, 0))
                .expect("d"),
            duration: Duration::minutes(60),
            kinds: vec![MeetingKind::Samverkan, MeetingKind::Avstamning],
            place: "Stadshuset".into(),
            cutoff_days_before: 1,
            cutoff_time: chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("t"),
            invite_lead: Duration::days(14),
            rsvp_reminder: Duration::days(2),
            digest_morning_time: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("t"),
        });
        c
    }

    fn meetings(c: &Config) -> Vec<MeetingView> {
        let f = &c.forums[0];
        let s = f.schedule.as_ref().expect("schedule");
        occurrences(s, f.time_zone, ts("2026-11-01T00:00:00Z"), ts("2027-02-01T00:00:00Z"))
            .into_iter()
            .enumerate()
            .map(|(i, o)| MeetingView {
                id: i as i64 + 1,
                forum_id: f.id.clone(),
                occurrence: o.key.to_string(),
                start: o.start,
                end: o.end,
                kind: o.kind,
                place: s.place.clone(),
                status: SCHEDULED.into(),
                sequence: 0,
                invited: false,
                summoned: false,
                note_taker: None,
                invitations: vec![],
                cases: vec![],
                digest_cutoff_sent: false,
                digest_morning_sent: false,
                decisions_requested: false,
                transfers: vec![],
            })
            .collect()
    }

    fn case(no: &str, submitter: &str, units: &[&str]) -> AgendaCase {
        AgendaCase {
            id: 1,
            case_no: no.into(),
            submitter: submitter.into(),
            units: units.iter().map(|s| s.to_string()).collect(),
            urgent: false,
            sections: BTreeMap::new(),
        }
    }

    #[test]
    fn the_series_alternates_as_configured() {
        let c = cfg();
        let ms = meetings(&c);
        // 2026-11-10 (index 10: samverkan), 2026-12-08 (avstämning), 2027-01-12 (samverkan).
        let kinds: Vec<_> = ms.iter().map(|m| (m.occurrence.as_str(), m.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("2026-11-10", MeetingKind::Samverkan),
                ("2026-12-08", MeetingKind::Avstamning),
                ("2027-01-12", MeetingKind::Samverkan)
            ]
        );
    }

    #[test]
    fn avstamningsmote_invites_every_deputy_head_14_days_ahead() {
        let c = cfg();
        let ms = meetings(&c);
        // 2026-12-08 12:00Z minus 14 days.
        assert!(
            plan_at(&ms, &c, ts("2026-11-24T11:59:00Z"))
                .iter()
                .all(|a| !matches!(a, Action::Invite { meeting_id: 2, .. }))
        );
        let acts = plan_at(&ms, &c, ts("2026-11-24T12:00:00Z"));
        let Some(Action::Invite {
            attendees,
            note_taker,
            summon: true,
            ..
        }) = acts.iter().find(|a| matches!(a, Action::Invite { meeting_id: 2, .. }))
        else {
            panic!("{acts:?}")
        };
        let who: Vec<(&str, Role)> = attendees.iter().map(|a| (a.address.as_str(), a.role)).collect();
        assert_eq!(
            who,
            vec![
                ("anna.berg@kommun.test", Role::Required),
                ("lars.ek@kommun.test", Role::Required),
                ("sara@kommun.test", Role::Optional)
            ]
        );
        assert_eq!(note_taker.as_deref(), Some("anna.berg@kommun.test"));
        assert_eq!(next_wakeup(&ms, &c, ts("2026-11-20T00:00:00Z")), Some(ts("2026-11-24T12:00:00Z")));
    }

    #[test]
    fn samverkansmote_summons_submitters_and_units_concerned_at_the_cutoff() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![
            case("2026-0001", "anna.berg@kommun.test", &["Vuxenenheten"]),
            case("2026-0002", "anna.berg@kommun.test", &[]),
        ];
        // 14 days ahead the convenor gets it in the calendar, to hold the date.
        let hold = plan_at(&ms, &c, ts("2026-12-29T12:00:00Z"));
        let Some(Action::Invite {
            attendees, summon: false, ..
        }) = hold.iter().find(|a| matches!(a, Action::Invite { meeting_id: 3, .. }))
        else {
            panic!("{hold:?}")
        };
        assert_eq!(
            attendees.iter().map(|a| a.address.as_str()).collect::<Vec<_>>(),
            vec!["sara@kommun.test"]
        );
        for a in &hold {
            apply(&mut ms, a, ts("2026-12-29T12:00:00Z"));
        }
        // Cutoff: Monday 11 January 2027 12:00 CET = 11:00Z.
        assert_eq!(next_wakeup(&ms, &c, ts("2027-01-01T00:00:00Z")), Some(ts("2027-01-11T11:00:00Z")));
        let before = plan_at(&ms, &c, ts("2027-01-11T10:59:59Z"));
        assert!(
            !before.iter().any(|a| matches!(a, Action::Invite { meeting_id: 3, .. })),
            "{before:?}"
        );
        let acts = plan(
            &ms,
            &c,
            &BTreeMap::from([("iof-aof".to_string(), "anna.berg@kommun.test".to_string())]),
            ts("2027-01-11T11:00:00Z"),
            ts("2027-01-11T11:00:00Z"),
        );
        let Some(Action::Invite {
            attendees,
            note_taker,
            summon: true,
            ..
        }) = acts.iter().find(|a| matches!(a, Action::Invite { meeting_id: 3, .. }))
        else {
            panic!("{acts:?}")
        };
        let who: Vec<&str> = attendees.iter().map(|a| a.address.as_str()).collect();
        assert_eq!(who, vec!["anna.berg@kommun.test", "lars.ek@kommun.test", "sara@kommun.test"]);
        assert_eq!(
            note_taker.as_deref(),
            Some("lars.ek@kommun.test"),
            "the rotation moves on from Anna"
        );
        for a in &acts {
            apply(&mut ms, a, ts("2027-01-11T11:00:00Z"));
        }
        assert_eq!(ms[2].sequence, 1, "the convenor's hold-the-date is updated with a higher SEQUENCE");
        assert!(ms[2].invitations.iter().all(|i| i.sequence_sent == 1 && i.active));
        assert!(core_actions(plan_at(&ms, &c, ts("2027-01-11T11:00:00Z"))).is_empty());
    }

    #[test]
    fn samverkansmote_without_cases_is_not_held_and_cancelled_for_those_invited() {
        let c = cfg();
        let mut ms = meetings(&c);
        for a in plan_at(&ms, &c, ts("2026-12-29T12:00:00Z")) {
            apply(&mut ms, &a, ts("2026-12-29T12:00:00Z"));
        }
        let acts = plan_at(&ms, &c, ts("2027-01-11T11:00:00Z"));
        assert!(acts.contains(&Action::NotHeld { meeting_id: 3 }), "{acts:?}");
        apply(&mut ms, &Action::NotHeld { meeting_id: 3 }, ts("2027-01-11T11:00:00Z"));
        assert_eq!((ms[2].status.as_str(), ms[2].sequence), (NOT_HELD, 1));
        assert!(ms[2].invitations.iter().all(|i| !i.active && i.sequence_sent == 1));
        assert!(core_actions(plan_at(&ms, &c, ts("2027-01-11T11:00:00Z"))).is_empty());
    }

    #[test]
    fn moves_and_cancellations_reach_every_invitee_once() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        let now = ts("2027-01-11T11:00:00Z");
        for a in plan_at(&ms, &c, now) {
            apply(&mut ms, &a, now);
        }
        assert!(core_actions(plan_at(&ms, &c, now)).is_empty(), "nothing twice");
        assert_eq!(ms[2].sequence, 0, "summoned directly: no earlier invitee to update");
        ms[2].sequence += 1; // moved by an admin
        assert_eq!(core_actions(plan_at(&ms, &c, now)), vec![Action::Update { meeting_id: 3 }]);
        apply(&mut ms, &Action::Update { meeting_id: 3 }, now);
        assert!(core_actions(plan_at(&ms, &c, now)).is_empty());
        ms[2].sequence += 1;
        ms[2].status = CANCELLED.into();
        assert_eq!(core_actions(plan_at(&ms, &c, now)), vec![Action::Cancel { meeting_id: 3 }]);
        apply(&mut ms, &Action::Cancel { meeting_id: 3 }, now);
        assert!(core_actions(plan_at(&ms, &c, now)).is_empty());
        assert!(ms[2].invitations.iter().all(|i| !i.active));
    }

    /// The plan at `now` with the inbox read through `now` and no note taker before.
    fn plan_at(ms: &[MeetingView], c: &Config, now: DateTime<Utc>) -> Vec<Action> {
        plan(ms, c, &BTreeMap::new(), now, now)
    }

    /// Plans and applies at `now` until nothing more is due at that instant ([`super::settle`]).
    fn settle(ms: &mut [MeetingView], c: &Config, read_through: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Action> {
        super::settle(ms, c, &mut BTreeMap::new(), read_through, now)
            .into_iter()
            .map(|s| s.action)
            .collect()
    }

    fn calendar_mails(step: &Step) -> Vec<(String, Method, &'static str, Vec<String>, bool)> {
        mails(&step.before, &step.after, &step.action)
            .into_iter()
            .filter_map(|m| match m {
                MeetingMail::Calendar(c) => Some((
                    c.to.address,
                    c.method,
                    c.template,
                    c.attendees.into_iter().map(|a| a.address).collect(),
                    c.is_update,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_summons_after_the_hold_the_date_reaches_everyone_with_a_higher_version() {
        let c = cfg();
        let mut ms = meetings(&c);
        let hold = ts("2026-12-29T12:00:00Z");
        let steps = super::settle(&mut ms, &c, &mut BTreeMap::new(), hold, hold);
        let first = steps.iter().find(|s| s.action.meeting_id() == 3).expect("meeting 3 held");
        assert_eq!(
            calendar_mails(first),
            vec![(
                "sara@kommun.test".to_string(),
                Method::Request,
                "invitation",
                vec!["sara@kommun.test".to_string()],
                false
            )]
        );
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        let cut = ts("2027-01-11T11:00:00Z");
        let steps = super::settle(&mut ms, &c, &mut BTreeMap::new(), cut, cut);
        let summons = steps
            .iter()
            .find(|s| {
                matches!(
                    s.action,
                    Action::Invite {
                        meeting_id: 3,
                        summon: true,
                        ..
                    }
                )
            })
            .expect("summons");
        assert_eq!(summons.after.sequence, 1, "above the hold-the-date's 0");
        let sent = calendar_mails(summons);
        let to: Vec<&str> = sent.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(
            to,
            ["anna.berg@kommun.test", "sara@kommun.test"],
            "the convenor gets the change too"
        );
        assert!(sent.iter().all(|m| m.1 == Method::Request && m.3 == to), "{sent:?}");
        assert!(
            steps.iter().any(|s| s.action
                == Action::Digest {
                    meeting_id: 3,
                    which: Digest::Cutoff
                }),
            "the cutoff digest at the same instant: {steps:?}"
        );
        assert!(summons.after.invitations.iter().all(|i| i.sequence_sent == 1 && i.active));
    }

    #[test]
    fn a_person_cancelled_and_summoned_again_gets_a_version_above_the_cancel() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![
            case("2026-0001", "anna.berg@kommun.test", &[]),
            case("2026-0002", "lars.ek@kommun.test", &[]),
        ];
        let now = ts("2027-01-11T11:00:00Z");
        settle(&mut ms, &c, now, now);
        let lars = ms[2].cases.pop().expect("lars");
        let steps = super::settle(&mut ms, &c, &mut BTreeMap::new(), now, now);
        assert_eq!(steps.len(), 1);
        let sent = calendar_mails(&steps[0]);
        assert_eq!(
            sent[0],
            (
                "lars.ek@kommun.test".to_string(),
                Method::Cancel,
                "invitation",
                vec!["lars.ek@kommun.test".to_string()],
                false
            ),
            "the CANCEL lists only him"
        );
        assert!(
            sent[1..]
                .iter()
                .all(|m| m.1 == Method::Request && m.4 && m.0 != "lars.ek@kommun.test")
        );
        assert_eq!(ms[2].sequence, 1);
        // He submits again before the meeting: invited again, above the CANCEL's version.
        ms[2].cases.push(lars);
        let steps = super::settle(&mut ms, &c, &mut BTreeMap::new(), now, now);
        assert_eq!(steps.len(), 1);
        assert_eq!(ms[2].sequence, 2);
        let again = ms[2].invitations.iter().find(|i| i.address == "lars.ek@kommun.test").expect("lars");
        assert!(again.active && again.sequence_sent == 2, "{again:?}");
        assert_eq!(
            ms[2].invitations.iter().filter(|i| i.address == "lars.ek@kommun.test").count(),
            1,
            "one invitation row per person"
        );
        assert!(
            calendar_mails(&steps[0])
                .iter()
                .any(|m| m.0 == "lars.ek@kommun.test" && m.1 == Method::Request)
        );
    }

    #[test]
    fn a_reminder_is_the_same_request_to_those_named_only() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        let now = ts("2027-01-11T11:00:00Z");
        settle(&mut ms, &c, now, now);
        let later = ts("2027-01-11T15:00:00Z");
        let steps = super::settle(&mut ms, &c, &mut BTreeMap::new(), later, later);
        let remind = steps.iter().find(|s| matches!(s.action, Action::Remind { .. })).expect("reminder");
        let sent = calendar_mails(remind);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, "anna.berg@kommun.test");
        assert_eq!((sent[0].1, sent[0].2), (Method::Request, "reminder"));
        assert_eq!(remind.after.sequence, remind.before.sequence, "a reminder is no new version");
    }

    #[test]
    fn the_cutoff_waits_until_the_inbox_was_read_through_it() {
        let c = cfg();
        let mut ms = meetings(&c);
        // Cutoff: 11 January 2027 11:00Z. The daemon starts at 11:30Z, before intake has read
        // the inbox (read through 10:00Z, when it last looked): no not-held, no summons.
        let (start, stale) = (ts("2027-01-11T11:30:00Z"), ts("2027-01-11T10:00:00Z"));
        settle(&mut ms, &c, stale, ts("2026-12-29T12:00:00Z"));
        let held = plan(&ms, &c, &BTreeMap::new(), stale, start);
        assert!(
            !held
                .iter()
                .any(|a| matches!(a, Action::NotHeld { meeting_id: 3 } | Action::Invite { meeting_id: 3, .. })),
            "{held:?}"
        );
        assert_eq!(awaiting_inbox(&ms, &c, stale, start), vec![3]);
        // Intake reads a submission that arrived 10:50Z and puts it on the meeting; once it has
        // read through 11:30Z the meeting is summoned with that case, never declared not held.
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        assert!(awaiting_inbox(&ms, &c, start, start).is_empty());
        let acts = settle(&mut ms, &c, start, start);
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Invite {
                    meeting_id: 3,
                    summon: true,
                    ..
                }
            )),
            "{acts:?}"
        );
        assert!(!acts.iter().any(|a| matches!(a, Action::NotHeld { .. })), "{acts:?}");
        // With no case once the inbox is read, it is not held, as before.
        let mut ms = meetings(&c);
        settle(&mut ms, &c, stale, ts("2026-12-29T12:00:00Z"));
        assert!(settle(&mut ms, &c, start, start).contains(&Action::NotHeld { meeting_id: 3 }));
        // An avstämningsmöte takes no cases: its invitations never wait for the inbox.
        let mut ms = meetings(&c);
        let acts = settle(&mut ms, &c, DateTime::<Utc>::MIN_UTC, ts("2026-11-24T12:00:00Z"));
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Invite {
                    meeting_id: 2,
                    summon: true,
                    ..
                }
            )),
            "{acts:?}"
        );
    }

    #[test]
    fn the_rsvp_rule_for_any_meeting() {
        let start = ts("2027-05-27T08:00:00Z");
        let d2 = Duration::days(2);
        // Invited long before: two days before the start.
        assert_eq!(
            rsvp_remind_at(start, ts("2027-05-04T07:00:00Z"), d2),
            Some(ts("2027-05-25T08:00:00Z"))
        );
        // Invited a day before: three hours after the invitation.
        assert_eq!(
            rsvp_remind_at(start, ts("2027-05-26T08:00:00Z"), d2),
            Some(ts("2027-05-26T11:00:00Z"))
        );
        // Invited two and a half hours before: it would fall in the last hour, so none.
        assert_eq!(rsvp_remind_at(start, ts("2027-05-27T05:30:00Z"), d2), None);
        // A zero lead sends none.
        assert_eq!(rsvp_remind_at(start, ts("2027-05-04T07:00:00Z"), Duration::zero()), None);
    }

    #[test]
    fn the_reminder_waits_three_hours_after_the_invitation_actually_went_out() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        // Meeting 12 January 12:00Z, rsvp_reminder 2 days. The summons was due at the cutoff
        // (11 January 11:00Z) but the daemon only ran at 20:00Z: the reminder waits until 23:00Z.
        let late = ts("2027-01-11T20:00:00Z");
        settle(&mut ms, &c, late, late);
        assert!(ms[2].invitations.iter().all(|i| i.invited_at == late));
        for t in ["2027-01-11T20:00:15Z", "2027-01-11T20:01:00Z", "2027-01-11T22:59:59Z"] {
            let acts = plan_at(&ms, &c, ts(t));
            assert!(!acts.iter().any(|a| matches!(a, Action::Remind { .. })), "{t}: {acts:?}");
        }
        assert_eq!(next_wakeup(&ms, &c, ts("2027-01-11T20:01:00Z")), Some(ts("2027-01-11T23:00:00Z")));
        assert!(
            plan_at(&ms, &c, ts("2027-01-11T23:00:00Z"))
                .iter()
                .any(|a| matches!(a, Action::Remind { meeting_id: 3, .. }))
        );
        // Summoned less than four hours before the meeting: no reminder at all.
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        let very_late = ts("2027-01-12T09:30:00Z");
        settle(&mut ms, &c, very_late, very_late);
        assert!(ms[2].invitations.iter().any(|i| i.active));
        for t in ["2027-01-12T09:31:00Z", "2027-01-12T11:00:00Z", "2027-01-12T11:59:00Z"] {
            let acts = plan_at(&ms, &c, ts(t));
            assert!(!acts.iter().any(|a| matches!(a, Action::Remind { .. })), "{t}: {acts:?}");
        }
    }

    /// The actions other than digests and reminders.
    fn core_actions(v: Vec<Action>) -> Vec<Action> {
        v.into_iter()
            .filter(|a| !matches!(a, Action::Digest { .. } | Action::Remind { .. }))
            .collect()
    }

    #[test]
    fn silent_invitees_get_one_reminder_and_the_convenor_two_digests() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &["Vuxenenheten"])];
        let at = |t: &str| ts(t);
        // The summons at the cutoff (11 Jan 11:00Z), then the cutoff digest in the same instant.
        for a in plan_at(&ms, &c, at("2027-01-11T11:00:00Z")) {
            apply(&mut ms, &a, at("2027-01-11T11:00:00Z"));
        }
        let acts = plan_at(&ms, &c, at("2027-01-11T11:00:00Z"));
        assert_eq!(
            acts,
            vec![Action::Digest {
                meeting_id: 3,
                which: Digest::Cutoff
            }]
        );
        apply(&mut ms, &acts[0], at("2027-01-11T11:00:00Z"));
        // Lars answers; Anna does not. "2 days before" (10 Jan) had passed at the summons, so the
        // reminder comes three hours after it, to Anna only, once.
        ms[2]
            .invitations
            .iter_mut()
            .filter(|i| i.address == "lars.ek@kommun.test")
            .for_each(|i| i.partstat = PartStat::Accepted);
        assert!(plan_at(&ms, &c, at("2027-01-11T11:05:00Z")).is_empty());
        assert_eq!(next_wakeup(&ms, &c, at("2027-01-11T11:05:00Z")), Some(at("2027-01-11T14:00:00Z")));
        let acts = plan_at(&ms, &c, at("2027-01-11T14:00:00Z"));
        assert_eq!(
            acts,
            vec![Action::Remind {
                meeting_id: 3,
                addresses: vec!["anna.berg@kommun.test".into()]
            }]
        );
        apply(&mut ms, &acts[0], at("2027-01-11T14:00:00Z"));
        assert!(plan_at(&ms, &c, at("2027-01-11T14:01:00Z")).is_empty(), "never twice");
        // The morning digest at 07:00 local (06:00Z) on the day.
        assert_eq!(next_wakeup(&ms, &c, at("2027-01-11T14:01:00Z")), Some(at("2027-01-12T06:00:00Z")));
        assert_eq!(
            plan_at(&ms, &c, at("2027-01-12T06:00:00Z")),
            vec![Action::Digest {
                meeting_id: 3,
                which: Digest::Morning
            }]
        );
    }

    #[test]
    fn decisions_are_asked_for_once_when_the_meeting_is_over() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![case("2026-0001", "anna.berg@kommun.test", &[])];
        for a in plan_at(&ms, &c, ts("2027-01-11T11:00:00Z")) {
            apply(&mut ms, &a, ts("2027-01-11T11:00:00Z"));
        }
        for a in plan_at(&ms, &c, ts("2027-01-12T06:00:00Z")) {
            apply(&mut ms, &a, ts("2027-01-12T06:00:00Z"));
        }
        assert_eq!(
            next_wakeup(&ms, &c, ts("2027-01-12T06:30:00Z")),
            Some(ts("2027-01-12T13:00:00Z")),
            "the meeting's end"
        );
        let acts = plan_at(&ms, &c, ts("2027-01-12T13:00:00Z"));
        assert_eq!(acts, vec![Action::RequestDecisions { meeting_id: 3 }]);
        apply(&mut ms, &acts[0], ts("2027-01-12T13:00:00Z"));
        assert!(plan_at(&ms, &c, ts("2027-01-12T14:00:00Z")).is_empty());
    }

    #[test]
    fn the_reminder_waits_for_its_time() {
        let c = cfg();
        let mut ms = meetings(&c);
        // The avstämningsmöte of 8 December: invited 24 November; reminder 6 December 12:00Z.
        for a in plan_at(&ms, &c, ts("2026-11-24T12:00:00Z")) {
            apply(&mut ms, &a, ts("2026-11-24T12:00:00Z"));
        }
        let acts = core_actions(plan_at(&ms, &c, ts("2026-12-06T11:59:00Z")));
        assert!(acts.is_empty(), "{acts:?}");
        let acts = plan_at(&ms, &c, ts("2026-12-06T12:00:00Z"));
        assert!(
            acts.iter()
                .any(|a| matches!(a, Action::Remind { meeting_id: 2, addresses } if addresses.len() == 2)),
            "{acts:?}"
        );
    }

    #[test]
    fn a_withdrawn_case_after_the_summons_cancels_for_its_submitter_and_updates_the_rest() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[2].cases = vec![
            case("2026-0001", "anna.berg@kommun.test", &[]),
            case("2026-0002", "lars.ek@kommun.test", &[]),
        ];
        let now = ts("2027-01-11T11:00:00Z");
        for a in plan_at(&ms, &c, now) {
            apply(&mut ms, &a, now);
        }
        ms[2].cases.retain(|c| c.case_no != "2026-0002"); // Lars withdrew his case
        let acts = core_actions(plan_at(&ms, &c, now));
        assert_eq!(
            acts,
            vec![Action::Attendees {
                meeting_id: 3,
                add: vec![],
                remove: vec!["lars.ek@kommun.test".into()]
            }]
        );
        apply(&mut ms, &acts[0], now);
        assert_eq!(ms[2].sequence, 1);
        assert!(core_actions(plan_at(&ms, &c, now)).is_empty());
    }

    #[test]
    fn past_and_cancelled_meetings_get_no_first_invitation() {
        let c = cfg();
        let mut ms = meetings(&c);
        ms[1].status = CANCELLED.into();
        let acts = plan_at(&ms, &c, ts("2026-12-01T00:00:00Z"));
        assert!(
            acts.is_empty(),
            "the November meeting is past, December's cancelled, January's not due: {acts:?}"
        );
    }

    #[test]
    fn note_taker_skips_those_not_required_or_declined_and_wraps() {
        let c = cfg();
        let f = &c.forums[0];
        let att = invitees(
            f,
            &MeetingView {
                kind: MeetingKind::Avstamning,
                ..meetings(&c)[1].clone()
            },
        );
        assert_eq!(
            next_note_taker(f, &att, Some("lars.ek@kommun.test"), &[]).as_deref(),
            Some("anna.berg@kommun.test")
        );
        assert_eq!(
            next_note_taker(f, &att, None, &["anna.berg@kommun.test".into()]).as_deref(),
            Some("lars.ek@kommun.test")
        );
        assert_eq!(
            next_note_taker(f, &att[2..], None, &[]),
            None,
            "the convenor (optional) is never picked"
        );
    }

    #[test]
    fn calendar_items_carry_initials_never_names() {
        assert_eq!(initials("Kalle Larsson, 17 år"), "K.L. 17 år");
        assert_eq!(initials("K.L., 17 år"), "K.L. 17 år");
        assert_eq!(initials("E.F. 82 år\nbor i Nacka"), "E.F. 82 år");
        assert_eq!(initials("Åsa Örn (45)"), "Å.Ö. 45 år");
        assert_eq!(initials("okänd"), "");
        assert_eq!(initials("Testperson 1, 14 år"), "T. 14 år", "the age is the number before 'år'");
        assert_eq!(initials("Pojke född 2010, 16år"), "P. 16 år");
    }

    #[test]
    fn uids_are_stable_per_occurrence() {
        assert_eq!(uid("iof-aof", "2026-12-08", "kommun.test"), "iof-aof-20261208@kommun.test");
        assert_eq!(
            uid("iof-aof", "extra-2026-12-09T13:00", "kommun.test"),
            "iof-aof-extra20261209T1300@kommun.test"
        );
    }
}
