//! Retention: which stored personal data is past its time (`[retention]`). The store gathers
//! the facts (every case and obligation that still holds personal data, with the times the
//! routine worked or will work on it); [`due`] decides; the store wipes.
//!
//! A case's clock starts at its *last activity*: its last change, its meeting's end, its
//! follow-up and transfer dates, and its obligations' openings, reminders, escalations and
//! closings. A time still ahead (a future meeting, a follow-up date, a reminder not yet sent)
//! is activity too, so a case the routine still works on is never wiped under it, and as every
//! such time is finite nothing keeps data forever. How long after that depends on the state:
//! `case_days` for a finished case (closed, withdrawn, handed over), `incomplete_days` for a
//! submission nobody completed, `open_case_days` for every other state.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::config::Retention;

/// A case that still holds personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: i64,
    pub status: String,
    /// Its last change and arrival, its follow-up and transfer dates.
    pub times: Vec<DateTime<Utc>>,
    /// The end of the meeting it is on: activity while the case is unfinished (a case closed or
    /// withdrawn before its meeting is not on the agenda any more).
    pub meeting_end: Option<DateTime<Utc>>,
}

/// An obligation that still holds personal data (owners, escalation addresses, data, closer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    pub id: i64,
    pub case_id: Option<i64>,
    pub open: bool,
    /// Opened, reminded, escalated, closed; for an open one also the steps still to come.
    pub times: Vec<DateTime<Utc>>,
}

/// What goes now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Cases whose personal data is wiped (number, status and dates stay).
    pub cases: Vec<i64>,
    /// Obligations whose personal data is wiped: those of the cases above, and those without a
    /// case (a meeting's decisions, notes, review) or of a case wiped before, past their own time.
    pub obligations: Vec<i64>,
    /// Meetings that ended before this lose their invitees and note taker.
    pub meetings_ended_before: DateTime<Utc>,
    /// Outgoing mail created before this is deleted, and incoming mail's Message-IDs recorded
    /// before this are forgotten.
    pub mail_before: DateTime<Utc>,
    /// People who left a routine (issue 18) whose last change is before this are deleted
    /// (`case_days` after they left: their work is finished). A person still in a routine is
    /// kept: the routine works on them.
    pub people_left_before: DateTime<Utc>,
}

/// The states whose work is finished.
pub const FINISHED: [&str; 3] = ["closed", "withdrawn", "handed_over"];

/// How long a case in `status` is kept after its last activity.
pub fn keep_for(status: &str, r: &Retention) -> Duration {
    let days = if FINISHED.contains(&status) {
        r.case_days
    } else if status == crate::core::intake::INCOMPLETE {
        r.incomplete_days
    } else {
        r.open_case_days
    };
    Duration::days(i64::from(days))
}

/// A stored local date (`YYYY-MM-DD`: follow-up, transfer) as the end of that day in UTC, or
/// `None` for an empty or unreadable one.
pub fn end_of_day(s: &str) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The latest of `times` (the epoch for none: no activity at all).
fn last(times: &[DateTime<Utc>]) -> DateTime<Utc> {
    times.iter().copied().max().unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Whether a period of `keep` after `last` is over at `now`.
fn over(last: DateTime<Utc>, keep: Duration, now: DateTime<Utc>) -> bool {
    last.checked_add_signed(keep).is_some_and(|t| t <= now)
}

/// What is past its retention time at `now`.
pub fn due(cases: &[Case], obligations: &[Obligation], now: DateTime<Utc>, r: &Retention) -> Due {
    let days = |d: u32| Duration::days(i64::from(d));
    let mut activity: HashMap<i64, Vec<DateTime<Utc>>> = cases
        .iter()
        .map(|c| {
            let meeting = c.meeting_end.filter(|_| !FINISHED.contains(&c.status.as_str()));
            (c.id, c.times.iter().copied().chain(meeting).collect())
        })
        .collect();
    for o in obligations {
        if let Some(times) = o.case_id.and_then(|c| activity.get_mut(&c)) {
            times.extend(o.times.iter().copied());
        }
    }
    let mut wiped: Vec<i64> = cases
        .iter()
        .filter(|c| activity.get(&c.id).is_some_and(|t| over(last(t), keep_for(&c.status, r), now)))
        .map(|c| c.id)
        .collect();
    wiped.sort_unstable();
    let mut gone: Vec<i64> = obligations
        .iter()
        .filter(|o| match o.case_id.filter(|c| activity.contains_key(c)) {
            // With its case, which has the obligation's times among its own.
            Some(c) => wiped.binary_search(&c).is_ok(),
            // A meeting's, or of a case whose data went before: on its own times.
            None => over(last(&o.times), days(if o.open { r.open_case_days } else { r.case_days }), now),
        })
        .map(|o| o.id)
        .collect();
    gone.sort_unstable();
    Due {
        cases: wiped,
        obligations: gone,
        meetings_ended_before: now - days(r.case_days),
        mail_before: now - days(r.mail_days),
        people_left_before: now - days(r.case_days),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    fn policy() -> Retention {
        Retention {
            case_days: 365,
            open_case_days: 200,
            incomplete_days: 30,
            mail_days: 90,
        }
    }

    fn case(id: i64, status: &str, times: &[&str]) -> Case {
        Case {
            id,
            status: status.into(),
            times: times.iter().map(|s| t(s)).collect(),
            meeting_end: None,
        }
    }

    fn ob(id: i64, case_id: Option<i64>, open: bool, times: &[&str]) -> Obligation {
        Obligation {
            id,
            case_id,
            open,
            times: times.iter().map(|s| t(s)).collect(),
        }
    }

    /// The cases due at `now` among `cases` (no obligations).
    fn check(cases: &[Case], now: &str, expected: &[i64]) {
        assert_eq!(due(cases, &[], t(now), &policy()).cases, expected, "at {now}");
    }

    #[test]
    fn each_state_is_kept_for_its_own_time_after_its_last_activity() {
        let cases = [
            case(1, "closed", &["2026-01-01T00:00:00Z"]),
            case(2, "withdrawn", &["2026-01-01T00:00:00Z"]),
            case(3, "handed_over", &["2026-01-01T00:00:00Z"]),
            case(4, "incomplete", &["2026-01-01T00:00:00Z"]),
            case(5, "submitted", &["2026-01-01T00:00:00Z"]),
            case(6, "handover", &["2026-01-01T00:00:00Z"]),
            case(7, "follow_up", &["2026-01-01T00:00:00Z"]),
            case(8, "escalated", &["2026-01-01T00:00:00Z"]),
            case(9, "a state added later", &["2026-01-01T00:00:00Z"]),
        ];
        check(&cases, "2026-01-30T23:59:59Z", &[]);
        check(&cases, "2026-01-31T00:00:00Z", &[4]);
        check(&cases, "2026-07-19T23:59:59Z", &[4]);
        check(&cases, "2026-07-20T00:00:00Z", &[4, 5, 6, 7, 8, 9]);
        check(&cases, "2027-01-01T00:00:00Z", &[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn the_latest_time_counts_even_when_it_is_ahead() {
        // A follow-up date a year and a half ahead keeps an old case; after it, the clock runs.
        let cases = [case(1, "follow_up", &["2026-01-01T00:00:00Z", "2027-07-01T00:00:00Z"])];
        check(&cases, "2027-07-01T00:00:00Z", &[]);
        check(&cases, "2028-01-16T23:59:59Z", &[]);
        check(&cases, "2028-01-17T00:00:00Z", &[1]);
    }

    #[test]
    fn a_future_meeting_keeps_a_case_on_its_agenda_but_not_one_closed_before_it() {
        let on = |id, status| Case {
            meeting_end: Some(t("2027-03-01T12:00:00Z")),
            ..case(id, status, &["2025-01-01T00:00:00Z"])
        };
        let cases = [on(1, "submitted"), on(2, "closed"), on(3, "withdrawn")];
        check(&cases, "2027-03-01T00:00:00Z", &[2, 3]);
        check(&cases, "2027-09-17T12:00:00Z", &[1, 2, 3]);
    }

    #[test]
    fn an_open_obligation_with_a_step_ahead_keeps_its_case_and_goes_with_it() {
        let cases = [case(1, "handover", &["2025-01-01T00:00:00Z"])];
        // The reminder is still to come (an age transfer years ahead).
        let obligations = [ob(10, Some(1), true, &["2025-01-01T00:00:00Z", "2030-03-02T00:00:00Z"])];
        let r = policy();
        let d = due(&cases, &obligations, t("2030-01-01T00:00:00Z"), &r);
        assert!(d.cases.is_empty() && d.obligations.is_empty(), "{d:?}");
        // 200 days after the reminder, both go.
        let d = due(&cases, &obligations, t("2030-09-18T00:00:00Z"), &r);
        assert_eq!((d.cases, d.obligations), (vec![1], vec![10]));
    }

    #[test]
    fn an_obligation_of_a_kept_case_is_kept_with_it() {
        let cases = [case(1, "follow_up", &["2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z"])];
        let obligations = [ob(10, Some(1), false, &["2025-01-01T00:00:00Z"])];
        let d = due(&cases, &obligations, t("2027-06-01T00:00:00Z"), &policy());
        assert!(d.obligations.is_empty(), "{d:?}");
    }

    #[test]
    fn meeting_obligations_and_those_of_cases_wiped_before_go_on_their_own_times() {
        let obligations = [
            ob(1, None, false, &["2026-01-01T00:00:00Z"]),
            ob(2, None, true, &["2026-01-01T00:00:00Z"]),
            // Its case has no personal data left (not among the facts).
            ob(3, Some(99), false, &["2026-01-01T00:00:00Z"]),
            // An open one whose reminder is ahead.
            ob(4, None, true, &["2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z"]),
        ];
        let r = policy();
        assert_eq!(due(&[], &obligations, t("2026-07-20T00:00:00Z"), &r).obligations, vec![2]);
        assert_eq!(due(&[], &obligations, t("2027-01-01T00:00:00Z"), &r).obligations, vec![1, 2, 3]);
        assert_eq!(due(&[], &obligations, t("2027-06-19T00:00:00Z"), &r).obligations, vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_case_without_any_time_goes_at_once() {
        check(&[case(1, "submitted", &[])], "2026-01-01T00:00:00Z", &[1]);
    }

    #[test]
    fn time_cuts_for_meetings_and_mail() {
        let d = due(&[], &[], t("2027-01-01T00:00:00Z"), &policy());
        assert_eq!(d.meetings_ended_before, t("2026-01-01T00:00:00Z"));
        assert_eq!(d.mail_before, t("2026-10-03T00:00:00Z"));
    }

    #[test]
    fn stored_dates_end_at_the_end_of_their_day() {
        assert_eq!(end_of_day("2026-03-01"), Some(t("2026-03-02T00:00:00Z")));
        assert_eq!(end_of_day(""), None);
        assert_eq!(end_of_day("1 mars"), None);
    }
}
