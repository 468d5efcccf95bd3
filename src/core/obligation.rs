//! One mechanism for everything after the meeting: an obligation is someone who must do
//! something by a deadline, is reminded, and is escalated to someone else if it is still not
//! done; an event (a reply, a decision) closes it. Handovers, decisions, follow-ups, escalations
//! and age transfers are all obligations of different kinds; their deadlines are in SQLite, so
//! a reminder that fell due while the daemon was down is sent once when it comes back (the
//! `reminded`/`escalated` marks make it once, not once per missed tick).

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::core::schedule::local;
use crate::core::workdays::{add_working_days, working_day_on_or_before};

/// The kinds, as stored.
pub const DECISIONS: &str = "decisions";
pub const HANDOVER_INFO: &str = "handover_info";
pub const HANDOVER_CONFIRM: &str = "handover_confirm";
pub const ESCALATION_ACK: &str = "escalation_ack";
pub const FOLLOW_UP: &str = "follow_up";
pub const AGE_TRANSFER: &str = "age_transfer";
pub const NOTES: &str = "notes";
pub const ADJUST: &str = "adjust";

/// Every kind.
pub const KINDS: &[&str] = &[
    DECISIONS,
    HANDOVER_INFO,
    HANDOVER_CONFIRM,
    ESCALATION_ACK,
    FOLLOW_UP,
    AGE_TRANSFER,
    NOTES,
    ADJUST,
    crate::core::person::BOOK,
    crate::core::person::NOTES_SENT,
    crate::core::person::NOTES_COMMENT,
    crate::core::person::NEW_CONTACT,
    crate::core::person::THREE_PARTY,
];

/// What is to be done, in Swedish, for the texts of reminders and escalations: a stored kind
/// ("adjust") is never shown to the people who must act.
pub fn what_sv(kind: &str) -> &'static str {
    match kind {
        DECISIONS => "besluten från mötet",
        HANDOVER_INFO => "överlämningsinformationen",
        HANDOVER_CONFIRM => "bekräftelsen av överlämningen",
        ESCALATION_ACK => "kvitteringen av det lyfta ärendet",
        FOLLOW_UP => "uppföljningen",
        AGE_TRANSFER => "anmälan av överföringen",
        NOTES => "arkiveringen av mötesanteckningarna",
        ADJUST => "justeringen av mötesanteckningarna",
        crate::core::person::BOOK => "bokningen av samverkansmötet",
        crate::core::person::NOTES_SENT => "beskedet om vem som skrev mötesanteckningarna",
        crate::core::person::NOTES_COMMENT => "kommentaren till mötesanteckningarna",
        crate::core::person::NEW_CONTACT => "kontakten med den andra verksamheten",
        crate::core::person::THREE_PARTY => "svaret om vilken handläggare som utses till trepartsmötet",
        _ => "en uppgift efter mötet",
    }
}

/// The deadline a reminder or escalation names: the escalation's moment when there is one
/// (what the owners must do by then, or failed to), else the moment the reminder was due.
pub fn deadline(o: &Obligation) -> Option<DateTime<Utc>> {
    o.escalate_at.or(o.remind_at)
}

/// An obligation as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    pub id: i64,
    pub kind: String,
    pub remind_at: Option<DateTime<Utc>>,
    pub escalate_at: Option<DateTime<Utc>>,
    pub reminded: bool,
    pub escalated: bool,
    pub closed: bool,
}

/// A step due now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Remind(i64),
    Escalate(i64),
}

/// The steps due at `now`: each reminder and escalation once, however late.
pub fn due(obligations: &[Obligation], now: DateTime<Utc>) -> Vec<Step> {
    let mut out = Vec::new();
    for o in obligations.iter().filter(|o| !o.closed) {
        if !o.reminded && o.remind_at.is_some_and(|t| t <= now) && o.escalate_at.is_none_or(|e| now < e || !o.escalated) {
            out.push(Step::Remind(o.id));
        }
        if !o.escalated && o.escalate_at.is_some_and(|t| t <= now) {
            out.push(Step::Escalate(o.id));
        }
    }
    out
}

/// The next moment a step falls due.
pub fn next_wakeup(obligations: &[Obligation], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    obligations
        .iter()
        .filter(|o| !o.closed)
        .flat_map(|o| {
            [
                (!o.reminded).then_some(o.remind_at).flatten(),
                (!o.escalated).then_some(o.escalate_at).flatten(),
            ]
        })
        .flatten()
        .filter(|t| *t > now)
        .min()
}

/// The morning (`at`, local) of the working day `n` working days after `from`'s local date.
pub fn after_working_days(from: DateTime<Utc>, tz: Tz, n: u32, at: NaiveTime) -> DateTime<Utc> {
    let day = add_working_days(from.with_timezone(&tz).date_naive(), n);
    local(tz, day.and_time(at))
}

/// A calendar-day deadline *after* an event moved forward to the next working day's morning
/// when it falls on a day off (a reminder never lands on Midsommarafton or Christmas Day; the
/// one who must act gets the day off, not less time).
pub fn on_working_day(t: DateTime<Utc>, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    let day = add_working_days(t.with_timezone(&tz).date_naive(), 0);
    local(tz, day.and_time(at))
}

/// A moment *at the latest* (a reminder so long before a date) moved back to the morning of
/// the working day on or before it: "senast 6 månader innan" that falls on a Saturday is the
/// Friday before, never the Monday after.
pub fn on_working_day_before(t: DateTime<Utc>, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    let day = working_day_on_or_before(t.with_timezone(&tz).date_naive());
    local(tz, day.and_time(at))
}

/// Six months (or `months`) before a date, for age transfers (seed 001).
pub fn months_before(day: chrono::NaiveDate, months: u32) -> chrono::NaiveDate {
    day.checked_sub_months(chrono::Months::new(months))
        .unwrap_or(day - Duration::days(i64::from(months) * 30))
}

/// When an age transfer on `on` is reminded: the morning (`at`) of the working day on or before
/// the day `months` before it (seed 001: "senast 6 månader innan").
pub fn transfer_notice(on: chrono::NaiveDate, months: u32, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    on_working_day_before(local(tz, months_before(on, months).and_time(at)), tz, at)
}

/// When to remind ahead of an event at `event`: `ahead` before it, on the morning of the
/// working day on or before that (a follow-up's submitter, an adjuster before the deadline).
pub fn reminder_before(event: DateTime<Utc>, ahead: Duration, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    on_working_day_before(event - ahead, tz, at)
}

/// The words of a line, lowercased: runs of letters and digits ("Oklart," is one word, "oklart").
fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The phrases that close an obligation of `kind` when its owner answers in its thread.
fn closing_phrases(kind: &str) -> &'static [&'static str] {
    match kind {
        HANDOVER_CONFIRM | ESCALATION_ACK => &[
            "mottaget",
            "mottagen",
            "mottagit",
            "kvitterat",
            "kvitteras",
            "bekräftar",
            "bekräftat",
            "received",
            "acknowledged",
        ],
        NOTES => &[
            "klart",
            "klar",
            "arkiverat",
            "arkiverad",
            "arkiverade",
            "sparat",
            "inlagt",
            "done",
            "filed",
        ],
        ADJUST => &[
            "justerat",
            "justerad",
            "justerade",
            "granskat",
            "godkänt",
            "godkänd",
            "inga synpunkter",
            "ok",
            "okay",
            "approved",
        ],
        _ => &[],
    }
}

/// Whether the owner's own text closes an obligation of `kind`: its first non-empty line begins
/// with one of the kind's closing phrases as whole words ("Klart, arkiverat i G:" closes notes;
/// "Klarar inte …" does not, nor does "Oklart vad som menas" close a review as "ok").
pub fn closes(kind: &str, own_text: &str) -> bool {
    let first = words(own_text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(""));
    closing_phrases(kind).iter().any(|phrase| {
        let phrase = words(phrase);
        !phrase.is_empty() && first.len() >= phrase.len() && first[..phrase.len()] == phrase[..]
    })
}

/// An obligation that a reply's thread belongs to, as deciding the reply needs it.
#[derive(Debug, Clone, Copy)]
pub struct InThread<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub owners: &'a [String],
    pub escalate_to: &'a [String],
    pub closed: bool,
}

/// What a reply in the thread of a mail sent about an obligation is. It never touches the
/// case's submission parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Decision lines (from an owner or the convenor) for the meeting's decisions, again
    /// when they correct earlier ones.
    Decisions(i64),
    /// The handover information its submitter was asked for.
    HandoverInfo(i64),
    /// An owner's closing word ("Mottaget", "Klart", "Justerat"): the obligation is done.
    Closes(i64),
    /// Anything else from someone the routine involves: a comment on that obligation,
    /// acknowledged to the sender and forwarded to the note taker.
    Comment(i64),
}

/// Decides what a reply in an obligation's thread is. `thread`: the obligations the mails of
/// the thread were sent about (open or closed); `sender`: the sender's member address (or the
/// address as written); `convenor` and `member`: whether the sender is the forum's convenor, a
/// member; `decision_lines`: whether the own text holds decision lines. `None`: the sender has
/// no part in these obligations (a stranger), so the mail is handled like any other.
pub fn answer(thread: &[InThread<'_>], sender: &str, convenor: bool, member: bool, decision_lines: bool, own_text: &str) -> Option<Answer> {
    let owns = |o: &&InThread<'_>| o.owners.iter().any(|a| a == sender);
    // Open ones first, then the newest: the obligation the reply most likely answers.
    let mut ordered: Vec<&InThread<'_>> = thread.iter().collect();
    ordered.sort_by_key(|o| (o.closed, std::cmp::Reverse(o.id)));
    if decision_lines && let Some(o) = ordered.iter().find(|o| o.kind == DECISIONS && (convenor || owns(o))) {
        return Some(Answer::Decisions(o.id));
    }
    let open = || ordered.iter().filter(|o| !o.closed);
    if let Some(o) = open().find(|o| o.kind == HANDOVER_INFO && owns(o)) {
        return Some(Answer::HandoverInfo(o.id));
    }
    if let Some(o) = open().find(|o| owns(o) && closes(o.kind, own_text)) {
        return Some(Answer::Closes(o.id));
    }
    let party = convenor || member || thread.iter().any(|o| o.owners.iter().chain(o.escalate_to).any(|a| a == sender));
    if !party {
        return None;
    }
    ordered.iter().find(|o| owns(o)).or(ordered.first()).map(|o| Answer::Comment(o.id))
}

/// The strings of `data[key]`, a list.
fn strings(data: &serde_json::Value, key: &str) -> Vec<String> {
    data.get(key)
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The obligation's data with `case_no` recorded as decided, and whether every case of the
/// agenda (`data.cases`, recorded when the decisions were asked for) now has a decision: the
/// decisions obligation stays open until then.
pub fn decided(data: &serde_json::Value, case_no: &str) -> (serde_json::Value, bool) {
    let agenda = strings(data, "cases");
    let mut done = strings(data, "decided");
    if !done.iter().any(|c| c == case_no) {
        done.push(case_no.to_string());
    }
    let complete = agenda.iter().all(|c| done.contains(c));
    let mut out = if data.is_object() { data.clone() } else { serde_json::json!({}) };
    out["decided"] = done.into();
    (out, complete)
}

/// The agenda's cases that have no decision yet (for the reminder).
pub fn undecided(data: &serde_json::Value) -> Vec<String> {
    let done = strings(data, "decided");
    strings(data, "cases").into_iter().filter(|c| !done.contains(c)).collect()
}

/// "Mottaget, handläggare Eva Ek": the case worker named after the closing word, if any.
pub fn case_worker(own_text: &str) -> Option<String> {
    let first = own_text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let low = first.to_lowercase();
    let i = low.find("handläggare").map(|i| i + "handläggare".len())?;
    let rest = first
        .get(i..)?
        .trim_start_matches([':', ' ', '-', '–'])
        .trim()
        .trim_end_matches('.');
    (!rest.is_empty()).then(|| rest.chars().take(80).collect())
}

/// Every step still to come for these obligations up to `until`, in time order, for
/// `samverkan preview`: a step already due is sent on the next pass, so it is listed at `now`.
pub fn upcoming(obligations: &[Obligation], now: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(DateTime<Utc>, Step)> {
    let mut out: Vec<(DateTime<Utc>, Step)> = Vec::new();
    for o in obligations.iter().filter(|o| !o.closed) {
        if let (false, Some(r)) = (o.reminded, o.remind_at) {
            // As in `due`: no reminder once the escalation it would precede has gone out.
            let t = r.max(now);
            if o.escalate_at.is_none_or(|e| t < e || !o.escalated) {
                out.push((t, Step::Remind(o.id)));
            }
        }
        if let (false, Some(t)) = (o.escalated, o.escalate_at) {
            out.push((t.max(now), Step::Escalate(o.id)));
        }
    }
    out.retain(|(t, _)| *t < until);
    out.sort_by_key(|(t, s)| (*t, matches!(s, Step::Escalate(_))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::ts;
    use chrono_tz::Europe::Stockholm;

    fn nine() -> NaiveTime {
        NaiveTime::from_hms_opt(9, 0, 0).expect("t")
    }

    fn ob(id: i64, remind: &str, escalate: &str) -> Obligation {
        Obligation {
            id,
            kind: HANDOVER_CONFIRM.into(),
            remind_at: Some(ts(remind)),
            escalate_at: Some(ts(escalate)),
            reminded: false,
            escalated: false,
            closed: false,
        }
    }

    #[test]
    fn handover_deadlines_count_working_days_and_skip_holidays() {
        // Forwarded Wednesday 17 June 2026 at 14:00: 3 working days skips Midsommarafton
        // (Friday 19): reminder Tuesday 23 June 09:00; 7 working days: Monday 29 June.
        let sent = ts("2026-06-17T12:00:00Z");
        assert_eq!(after_working_days(sent, Stockholm, 3, nine()), ts("2026-06-23T07:00:00Z"));
        assert_eq!(after_working_days(sent, Stockholm, 7, nine()), ts("2026-06-29T07:00:00Z"));
        // Over Christmas: Tuesday 22 December + 3 → Tuesday 29 December, 09:00 CET.
        assert_eq!(
            after_working_days(ts("2026-12-22T10:00:00Z"), Stockholm, 3, nine()),
            ts("2026-12-29T08:00:00Z")
        );
    }

    #[test]
    fn a_calendar_deadline_on_a_day_off_moves_to_the_next_working_day() {
        assert_eq!(
            on_working_day(ts("2026-12-25T10:00:00Z"), Stockholm, nine()),
            ts("2026-12-28T08:00:00Z")
        );
        assert_eq!(
            on_working_day(ts("2026-12-23T15:00:00Z"), Stockholm, nine()),
            ts("2026-12-23T08:00:00Z")
        );
    }

    #[test]
    fn a_deadline_at_the_latest_moves_back_to_the_working_day_before() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d");
        // Issue 15 item 8: a transfer on Friday 20 August 2027; six months before is Saturday
        // 20 February: reminded Friday 19 February 09:00 (CET), not Monday 22 February.
        assert_eq!(transfer_notice(d("2027-08-20"), 6, Stockholm, nine()), ts("2027-02-19T08:00:00Z"));
        // On a working day it stays: 3 May 2027 → Tuesday 3 November 2026.
        assert_eq!(transfer_notice(d("2027-05-03"), 6, Stockholm, nine()), ts("2026-11-03T08:00:00Z"));
        // 1 May 2027 → Sunday 1 November 2026, after Alla helgons dag: Friday 30 October.
        assert_eq!(transfer_notice(d("2027-05-01"), 6, Stockholm, nine()), ts("2026-10-30T08:00:00Z"));
        // Two days before a follow-up on Monday 29 June 2026 is Saturday 27: Friday 26 June.
        assert_eq!(
            reminder_before(ts("2026-06-29T07:00:00Z"), Duration::days(2), Stockholm, nine()),
            ts("2026-06-26T07:00:00Z")
        );
        // Two days before a review deadline on Tuesday 29 December 2026 is Sunday 27: the
        // working day before is Wednesday 23 (24-26 are days off).
        assert_eq!(
            reminder_before(ts("2026-12-29T14:00:00Z"), Duration::days(2), Stockholm, nine()),
            ts("2026-12-23T08:00:00Z")
        );
    }

    #[test]
    fn each_step_once_however_late() {
        let mut obs = vec![ob(1, "2026-06-23T07:00:00Z", "2026-06-29T07:00:00Z")];
        assert!(due(&obs, ts("2026-06-22T00:00:00Z")).is_empty());
        assert_eq!(next_wakeup(&obs, ts("2026-06-22T00:00:00Z")), Some(ts("2026-06-23T07:00:00Z")));
        assert_eq!(due(&obs, ts("2026-06-23T07:00:00Z")), vec![Step::Remind(1)]);
        obs[0].reminded = true;
        assert!(due(&obs, ts("2026-06-24T00:00:00Z")).is_empty(), "not twice");
        assert_eq!(next_wakeup(&obs, ts("2026-06-24T00:00:00Z")), Some(ts("2026-06-29T07:00:00Z")));
        assert_eq!(due(&obs, ts("2026-06-29T07:00:00Z")), vec![Step::Escalate(1)]);
        obs[0].escalated = true;
        assert!(due(&obs, ts("2026-07-30T00:00:00Z")).is_empty());
        assert_eq!(next_wakeup(&obs, ts("2026-07-30T00:00:00Z")), None);
    }

    #[test]
    fn down_through_both_deadlines_sends_each_once() {
        let obs = vec![ob(1, "2026-06-23T07:00:00Z", "2026-06-29T07:00:00Z")];
        // The daemon was down for two weeks: one reminder and one escalation now, not ten.
        assert_eq!(due(&obs, ts("2026-07-06T00:00:00Z")), vec![Step::Remind(1), Step::Escalate(1)]);
    }

    #[test]
    fn closed_obligations_are_silent() {
        let mut obs = vec![ob(1, "2026-06-23T07:00:00Z", "2026-06-29T07:00:00Z")];
        obs[0].closed = true;
        assert!(due(&obs, ts("2026-07-06T00:00:00Z")).is_empty());
        assert_eq!(next_wakeup(&obs, ts("2026-06-01T00:00:00Z")), None);
    }

    #[test]
    fn closing_words_and_the_case_worker() {
        assert!(closes(HANDOVER_CONFIRM, "Mottaget!\n\nMvh"));
        assert!(closes(HANDOVER_CONFIRM, "\n  mottaget, handläggare Eva Ek"));
        assert!(!closes(HANDOVER_CONFIRM, "Vi har inte fått något"));
        assert!(closes(NOTES, "Klart, arkiverat i G:"));
        assert!(closes(ADJUST, "Justerat, inga fel."));
        assert!(!closes(ADJUST, "Det står fel datum i punkt 2"));
        assert_eq!(case_worker("Mottaget, handläggare: Eva Ek."), Some("Eva Ek".into()));
        assert_eq!(case_worker("Mottaget"), None);
    }

    /// Closing words are whole words at the start of the answer, never a prefix of another word.
    #[test]
    fn closing_words_are_whole_words_never_prefixes() {
        #[rustfmt::skip]
        let table: &[(&str, &str, bool)] = &[
            // Reviews (seed 002).
            (ADJUST, "Justerat", true),
            (ADJUST, "justerat!", true),
            (ADJUST, "OK", true),
            (ADJUST, "Ok, inga fel.", true),
            (ADJUST, "ok.", true),
            (ADJUST, "Inga synpunkter.", true),
            (ADJUST, "Approved", true),
            (ADJUST, "Oklart vad som menas i punkt 2.", false),
            (ADJUST, "Okej att jag svarar i morgon?", false),
            (ADJUST, "Okänt datum i punkt 3", false),
            (ADJUST, "Inga", false),
            (ADJUST, "Ingasynpunkter", false),
            (ADJUST, "Justeras av Eva i stället", false),
            (ADJUST, "Godkänner inte punkt 4", false),
            (ADJUST, "Approvedish", false),
            (ADJUST, "Not approved", false),
            (ADJUST, "Ej justerat", false),
            // The notes.
            (NOTES, "Klart", true),
            (NOTES, "Klar.", true),
            (NOTES, "KLART – G:/Samverkan", true),
            (NOTES, "Done", true),
            (NOTES, "Filed in G:", true),
            (NOTES, "Klarar inte att arkivera förrän på måndag", false),
            (NOTES, "Klargör vad som ska stå i punkt 2", false),
            (NOTES, "Inte klart än", false),
            (NOTES, "Doneringar?", false),
            (NOTES, "Filedrawer is full", false),
            (NOTES, "Sparade inget", false),
            // Handovers and escalations.
            (HANDOVER_CONFIRM, "Mottaget", true),
            (HANDOVER_CONFIRM, "Received, thanks", true),
            (HANDOVER_CONFIRM, "Mottagandet kan inte ske förrän i januari", false),
            (HANDOVER_CONFIRM, "Receivers unknown", false),
            (HANDOVER_CONFIRM, "Bekräftarna saknas", false),
            (HANDOVER_CONFIRM, "Inte mottaget", false),
            (ESCALATION_ACK, "Kvitterat", true),
            (ESCALATION_ACK, "Kvitteringen kommer senare", false),
            (ESCALATION_ACK, "Acknowledgement pending", false),
            // Kinds that no word closes.
            (DECISIONS, "Klart", false),
            (FOLLOW_UP, "OK", false),
        ];
        for (kind, text, want) in table {
            assert_eq!(closes(kind, text), *want, "{kind}: {text:?}");
        }
    }

    #[test]
    fn every_kind_is_named_in_swedish_and_its_deadline_is_the_one_that_passes() {
        for kind in KINDS {
            let what = what_sv(kind);
            assert!(!what.contains(kind) && what != what_sv("unknown"), "{kind}: {what}");
        }
        let mut o = ob(1, "2026-06-23T07:00:00Z", "2026-06-29T07:00:00Z");
        assert_eq!(deadline(&o), Some(ts("2026-06-29T07:00:00Z")), "the escalation's moment");
        o.escalate_at = None;
        assert_eq!(deadline(&o), Some(ts("2026-06-23T07:00:00Z")), "without one, the reminder's");
    }

    /// Issue 15 items 2, 6 and 10: what a reply in an obligation's thread is.
    #[test]
    fn a_reply_in_an_obligation_thread_is_for_that_obligation() {
        let (anna, lars, sara, head) = (
            ["anna@k".to_string()],
            ["lars@k".to_string()],
            ["sara@k".to_string()],
            ["chef@k".to_string()],
        );
        fn o<'a>(id: i64, kind: &'a str, owners: &'a [String], escalate_to: &'a [String], closed: bool) -> InThread<'a> {
            InThread {
                id,
                kind,
                owners,
                escalate_to,
                closed,
            }
        }
        let beslut = [o(1, DECISIONS, &anna, &[], false), o(2, NOTES, &anna, &[], false)];
        let beslut_done = [o(1, DECISIONS, &anna, &[], true), o(2, NOTES, &anna, &[], false)];
        let handover = [o(3, HANDOVER_INFO, &anna, &[], false)];
        let confirm = [o(4, HANDOVER_CONFIRM, &lars, &head, false)];
        let review = [o(5, ADJUST, &lars, &sara, false)];
        let reviewed = [o(5, ADJUST, &lars, &sara, true)];
        /// (thread, sender, convenor, member, decision lines, text, expected)
        type Row<'a> = (&'a [InThread<'a>], &'a str, bool, bool, bool, &'a str, Option<Answer>);
        #[rustfmt::skip]
        let table: &[Row<'_>] = &[
            (&beslut, "anna@k", false, true, true, "2026-0001: AVSLUTAD", Some(Answer::Decisions(1))),
            (&beslut, "sara@k", true, true, true, "2026-0001: AVSLUTAD", Some(Answer::Decisions(1))),
            (&beslut, "lars@k", false, true, true, "2026-0001: AVSLUTAD", Some(Answer::Comment(2))),
            (&beslut, "anna@k", false, true, false, "Klart, i G:", Some(Answer::Closes(2))),
            (&beslut, "anna@k", false, true, false, "Klarar inte att arkivera i dag", Some(Answer::Comment(2))),
            // A correction after every case had a decision is still read as decisions.
            (&beslut_done, "anna@k", false, true, true, "2026-0002: AVSLUTAD", Some(Answer::Decisions(1))),
            // The handover information, in answer to the request or its reminder.
            (&handover, "anna@k", false, true, false, "Bakgrund: …", Some(Answer::HandoverInfo(3))),
            (&handover, "lars@k", false, true, false, "Aktuell situation: …", Some(Answer::Comment(3))),
            (&confirm, "lars@k", false, true, false, "Mottaget", Some(Answer::Closes(4))),
            (&confirm, "lars@k", false, true, false, "Mottagandet dröjer", Some(Answer::Comment(4))),
            (&confirm, "chef@k", false, false, false, "Jag tar det med Lars", Some(Answer::Comment(4))),
            (&review, "lars@k", false, true, false, "Justerat.", Some(Answer::Closes(5))),
            (&review, "lars@k", false, true, false, "Oklart vad som menas i punkt 2.", Some(Answer::Comment(5))),
            (&review, "sara@k", true, true, false, "Påminn honom", Some(Answer::Comment(5))),
            (&reviewed, "lars@k", false, true, false, "Justerat igen", Some(Answer::Comment(5))),
            // A stranger has no part in it: handled like any other mail (quarantine).
            (&review, "x@annan.test", false, false, false, "Justerat", None),
        ];
        for (thread, sender, convenor, member, lines, text, want) in table {
            assert_eq!(answer(thread, sender, *convenor, *member, *lines, text), *want, "{sender}: {text}");
        }
    }

    #[test]
    fn decisions_stay_open_until_every_case_on_the_agenda_has_one() {
        let data = serde_json::json!({ "cases": ["2026-0001", "2026-0002"] });
        assert_eq!(undecided(&data), vec!["2026-0001", "2026-0002"]);
        let (data, complete) = decided(&data, "2026-0001");
        assert!(!complete);
        assert_eq!(undecided(&data), vec!["2026-0002"]);
        let (again, complete) = decided(&data, "2026-0001");
        assert!(!complete, "the same case twice is still one");
        assert_eq!(again, data);
        let (data, complete) = decided(&data, "2026-0002");
        assert!(complete);
        assert!(undecided(&data).is_empty());
        // A case from another meeting decided here does not count for this agenda.
        let (_, complete) = decided(&serde_json::json!({ "cases": ["2026-0003"] }), "2026-0009");
        assert!(!complete);
        // No agenda recorded (an obligation opened before this was kept): the first decision closes.
        assert!(decided(&serde_json::json!({}), "2026-0001").1);
    }

    #[test]
    fn six_months_before_a_birthday() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("d");
        assert_eq!(months_before(d("2027-08-31"), 6), d("2027-02-28"));
        assert_eq!(months_before(d("2027-05-01"), 6), d("2026-11-01"));
    }

    #[test]
    fn upcoming_lists_each_step_once_in_time_order_and_past_due_steps_now() {
        let o = |id, remind: Option<&str>, escalate: Option<&str>, reminded, escalated| Obligation {
            id,
            kind: HANDOVER_CONFIRM.into(),
            remind_at: remind.map(ts),
            escalate_at: escalate.map(ts),
            reminded,
            escalated,
            closed: false,
        };
        let now = ts("2027-01-12T08:00:00Z");
        let list = [
            o(1, Some("2027-01-15T08:00:00Z"), Some("2027-01-21T08:00:00Z"), false, false),
            o(2, Some("2027-01-10T08:00:00Z"), Some("2027-01-14T08:00:00Z"), false, false),
            o(3, Some("2027-01-10T08:00:00Z"), Some("2027-01-13T08:00:00Z"), true, false),
            o(4, Some("2027-01-10T08:00:00Z"), None, true, false),
            o(5, Some("2027-03-10T08:00:00Z"), None, false, false),
            Obligation {
                closed: true,
                ..o(6, Some("2027-01-13T08:00:00Z"), None, false, false)
            },
        ];
        assert_eq!(
            upcoming(&list, now, ts("2027-02-01T00:00:00Z")),
            vec![
                (now, Step::Remind(2)),
                (ts("2027-01-13T08:00:00Z"), Step::Escalate(3)),
                (ts("2027-01-14T08:00:00Z"), Step::Escalate(2)),
                (ts("2027-01-15T08:00:00Z"), Step::Remind(1)),
                (ts("2027-01-21T08:00:00Z"), Step::Escalate(1)),
            ]
        );
        // The steps `due` would take now are the ones listed at `now`.
        let due_now: Vec<Step> = upcoming(&list, now, now + Duration::seconds(1))
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        assert_eq!(due_now, due(&list, now));
    }
}
