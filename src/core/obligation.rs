//! One mechanism for everything after the meeting: an obligation is someone who must do
//! something by a deadline, is reminded, and is escalated to someone else if it is still not
//! done; an event (a reply, a decision) closes it. Handovers, decisions, follow-ups, escalations
//! and age transfers are all obligations of different kinds; their deadlines are in SQLite, so
//! a reminder that fell due while the daemon was down is sent once when it comes back (the
//! `reminded`/`escalated` marks make it once, not once per missed tick).

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::core::schedule::local;
use crate::core::workdays::add_working_days;

/// The kinds, as stored.
pub const DECISIONS: &str = "decisions";
pub const HANDOVER_INFO: &str = "handover_info";
pub const HANDOVER_CONFIRM: &str = "handover_confirm";
pub const ESCALATION_ACK: &str = "escalation_ack";
pub const FOLLOW_UP: &str = "follow_up";
pub const AGE_TRANSFER: &str = "age_transfer";
pub const NOTES: &str = "notes";
pub const ADJUST: &str = "adjust";

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

/// A calendar-day deadline moved forward to the next working day's morning when it falls on a
/// day off (a reminder never lands on Midsommarafton or Christmas Day).
pub fn on_working_day(t: DateTime<Utc>, tz: Tz, at: NaiveTime) -> DateTime<Utc> {
    let day = t.with_timezone(&tz).date_naive();
    let wd = add_working_days(day, 0);
    if wd == day {
        local(tz, day.and_time(at))
    } else {
        local(tz, wd.and_time(at))
    }
}

/// Six months (or `months`) before a date, for age transfers (seed 001).
pub fn months_before(day: chrono::NaiveDate, months: u32) -> chrono::NaiveDate {
    day.checked_sub_months(chrono::Months::new(months))
        .unwrap_or(day - Duration::days(i64::from(months) * 30))
}

/// Words that close an obligation when its owner answers in the request's thread.
pub fn closes(kind: &str, own_text: &str) -> bool {
    let first = own_text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_lowercase();
    let words: &[&str] = match kind {
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
            "approved",
        ],
        _ => &[],
    };
    words.iter().any(|w| first.starts_with(w))
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

/// What an obligation is about, in Swedish, for lists an admin or convenor reads.
pub fn label_sv(kind: &str) -> &'static str {
    match kind {
        DECISIONS => "besluten från mötet",
        HANDOVER_INFO => "överlämningsinformationen",
        HANDOVER_CONFIRM => "bekräftelsen av överlämningen",
        ESCALATION_ACK => "kvittensen av det lyfta ärendet",
        FOLLOW_UP => "uppföljningen",
        AGE_TRANSFER => "åldersövergången",
        NOTES => "minnesanteckningarna",
        ADJUST => "justeringen av minnesanteckningarna",
        _ => "en uppgift efter mötet",
    }
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
