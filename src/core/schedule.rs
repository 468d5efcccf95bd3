//! A forum's meeting series and the routine's cutoff (seed 001): meetings recur by an RFC 5545
//! RRULE in the forum's time zone, alternating kinds; a case must arrive by 12:00 the day
//! before (configurable) to be on a meeting's agenda, or it goes to the next one.
//!
//! All rules are evaluated on the wall clock of the forum's zone (so "second Tuesday 13:00"
//! stays 13:00 across daylight-saving changes) and returned as UTC.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{RRule, Unvalidated};

/// The two meeting kinds of seed 001.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// samverkansmöte: consultation on individual cases; mandatory only for those summoned.
    Samverkan,
    /// avstämningsmöte: planned handovers, shared questions, trends; mandatory for all deputy heads.
    Avstamning,
}

impl MeetingKind {
    /// Parses a configured kind; ASCII spellings are accepted too.
    pub fn parse(s: &str) -> Option<MeetingKind> {
        match s.trim().to_lowercase().as_str() {
            "samverkansmöte" | "samverkansmote" | "samverkan" => Some(MeetingKind::Samverkan),
            "avstämningsmöte" | "avstamningsmote" | "avstämning" | "avstamning" => Some(MeetingKind::Avstamning),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MeetingKind::Samverkan => "samverkansmote",
            MeetingKind::Avstamning => "avstamningsmote",
        }
    }

    pub fn from_db(s: &str) -> MeetingKind {
        MeetingKind::parse(s).unwrap_or(MeetingKind::Samverkan)
    }

    /// The Swedish name, as in mails.
    pub fn label_sv(self) -> &'static str {
        match self {
            MeetingKind::Samverkan => "samverkansmöte",
            MeetingKind::Avstamning => "avstämningsmöte",
        }
    }
}

/// A forum's validated schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The RRULE value, e.g. `FREQ=MONTHLY;BYDAY=2TU`.
    pub rrule: String,
    /// The first meeting, local wall-clock time (the rule's DTSTART).
    pub first: NaiveDateTime,
    pub duration: Duration,
    /// Kinds in turn from `first`: occurrence n has kind `kinds[n % len]`.
    pub kinds: Vec<MeetingKind>,
    pub place: String,
    /// The cutoff: `cutoff_days_before` days before the meeting's local date, at `cutoff_time`.
    pub cutoff_days_before: u32,
    pub cutoff_time: NaiveTime,
    /// How long before an avstämningsmöte its invitations go out.
    pub invite_lead: Duration,
    /// How long before the meeting those who have not answered are reminded (once).
    pub rsvp_reminder: Duration,
    /// The local time of the convenor's digest on the meeting's day.
    pub digest_morning_time: NaiveTime,
}

/// One occurrence of the series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// The local date of the occurrence as the rule generates it: the series key, stable even
    /// when the meeting is later moved.
    pub key: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: MeetingKind,
}

/// Parses an RRULE value, for validation. The error is the parser's own text.
pub fn check_rrule(rule: &str, first: NaiveDateTime, tz: Tz) -> Result<(), String> {
    build(rule, first, tz).map(|_| ())
}

fn build(rule: &str, first: NaiveDateTime, tz: Tz) -> Result<rrule::RRuleSet, String> {
    let r: RRule<Unvalidated> = rule.trim().trim_start_matches("RRULE:").parse().map_err(|e| format!("{e}"))?;
    let start = local(tz, first).with_timezone(&rrule::Tz::Tz(tz));
    r.build(start).map_err(|e| format!("{e}"))
}

/// The UTC instant of a local wall-clock time. A time that does not exist (the spring-forward
/// gap) moves forward by the gap; an ambiguous one (autumn) takes the first.
pub fn local(tz: Tz, t: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&t) {
        chrono::LocalResult::Single(d) => d.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => {
            let later = t + Duration::hours(1);
            tz.from_local_datetime(&later)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&t), |d| d.with_timezone(&Utc))
        }
    }
}

/// The occurrences that start within `[from, until)`, in order. Indexing for the alternation
/// counts from the schedule's first meeting, so it does not depend on `from`.
pub fn occurrences(s: &Schedule, tz: Tz, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Occurrence> {
    let Ok(set) = build(&s.rrule, s.first, tz) else { return Vec::new() };
    let before = until.with_timezone(&rrule::Tz::Tz(tz));
    let all = set.before(before).all(u16::MAX).dates;
    all.into_iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let start = d.with_timezone(&Utc);
            (start >= from && start < until).then(|| Occurrence {
                key: d.date_naive(),
                start,
                end: start + s.duration,
                kind: s.kinds[i % s.kinds.len().max(1)],
            })
        })
        .collect()
}

/// The last moment a case can arrive for a meeting starting at `start`.
pub fn cutoff(s: &Schedule, tz: Tz, start: DateTime<Utc>) -> DateTime<Utc> {
    let day = start.with_timezone(&tz).date_naive() - Duration::days(i64::from(s.cutoff_days_before));
    local(tz, day.and_time(s.cutoff_time))
}

/// A meeting as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: i64,
    pub start: DateTime<Utc>,
    pub kind: MeetingKind,
    pub place: String,
    /// `scheduled` or `cancelled`.
    pub status: String,
}

/// Where a case arriving (or becoming complete) at `at` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub meeting: Meeting,
    /// The meeting it was too late for, when the cutoff of the nearest one had passed.
    pub missed: Option<Meeting>,
}

/// True when meetings of this kind consult on cases. With only avstämningsmöten configured,
/// every meeting takes cases.
fn takes_cases(s: &Schedule, k: MeetingKind) -> bool {
    k == MeetingKind::Samverkan || !s.kinds.contains(&MeetingKind::Samverkan)
}

/// Assigns a case to the first upcoming case meeting whose cutoff is still ahead of `at`.
pub fn assign(s: &Schedule, tz: Tz, meetings: &[Meeting], at: DateTime<Utc>) -> Option<Assignment> {
    let mut upcoming: Vec<&Meeting> = meetings
        .iter()
        .filter(|m| m.status == "scheduled" && m.start > at && takes_cases(s, m.kind))
        .collect();
    upcoming.sort_by_key(|m| m.start);
    let first = upcoming.first()?;
    if cutoff(s, tz, first.start) >= at {
        return Some(Assignment {
            meeting: (*first).clone(),
            missed: None,
        });
    }
    let next = upcoming.iter().find(|m| cutoff(s, tz, m.start) >= at)?;
    Some(Assignment {
        meeting: (*next).clone(),
        missed: Some((*first).clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::ts;
    use chrono_tz::Europe::Stockholm;

    fn sched() -> Schedule {
        Schedule {
            rrule: "FREQ=MONTHLY;BYDAY=2TU".into(),
            first: NaiveDate::from_ymd_opt(2026, 1, 13)
                .and_then(|d| d.and_hms_opt(13, 0, 0))
                .expect("date"),
            duration: Duration::minutes(60),
            kinds: vec![MeetingKind::Samverkan, MeetingKind::Avstamning],
            place: "Stadshuset".into(),
            cutoff_days_before: 1,
            cutoff_time: NaiveTime::from_hms_opt(12, 0, 0).expect("time"),
            invite_lead: Duration::days(14),
            rsvp_reminder: Duration::days(2),
            digest_morning_time: NaiveTime::from_hms_opt(7, 0, 0).expect("time"),
        }
    }

    fn meetings(s: &Schedule, from: &str, until: &str) -> Vec<Meeting> {
        occurrences(s, Stockholm, ts(from), ts(until))
            .into_iter()
            .enumerate()
            .map(|(i, o)| Meeting {
                id: i as i64 + 1,
                start: o.start,
                kind: o.kind,
                place: s.place.clone(),
                status: "scheduled".into(),
            })
            .collect()
    }

    #[test]
    fn second_tuesday_at_13_local_across_dst_and_alternating() {
        let o = occurrences(&sched(), Stockholm, ts("2026-01-01T00:00:00Z"), ts("2026-05-01T00:00:00Z"));
        let got: Vec<(String, &str)> = o.iter().map(|o| (o.start.to_rfc3339(), o.kind.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("2026-01-13T12:00:00+00:00".into(), "samverkansmote"),
                ("2026-02-10T12:00:00+00:00".into(), "avstamningsmote"),
                ("2026-03-10T12:00:00+00:00".into(), "samverkansmote"),
                // Summer time from 29 March: 13:00 local is 11:00 UTC.
                ("2026-04-14T11:00:00+00:00".into(), "avstamningsmote"),
            ]
        );
        assert_eq!(o[0].end - o[0].start, Duration::minutes(60));
        assert_eq!(o[3].key, NaiveDate::from_ymd_opt(2026, 4, 14).expect("d"));
    }

    #[test]
    fn alternation_does_not_depend_on_the_window() {
        let late = occurrences(&sched(), Stockholm, ts("2026-04-01T00:00:00Z"), ts("2026-05-01T00:00:00Z"));
        assert_eq!(late[0].kind, MeetingKind::Avstamning);
    }

    #[test]
    fn cutoff_is_noon_the_day_before_in_local_time() {
        let s = sched();
        // Winter: 12:00 local = 11:00 UTC.
        assert_eq!(cutoff(&s, Stockholm, ts("2026-01-13T12:00:00Z")), ts("2026-01-12T11:00:00Z"));
        // Summer: 12:00 local = 10:00 UTC.
        assert_eq!(cutoff(&s, Stockholm, ts("2026-04-14T11:00:00Z")), ts("2026-04-13T10:00:00Z"));
    }

    #[test]
    fn cutoff_the_day_after_a_dst_change() {
        // A meeting on Monday 30 March 2026 (summer time began Sunday 29 March at 02:00):
        // the cutoff is Sunday 12:00 CEST = 10:00 UTC, not 11:00.
        let s = Schedule {
            rrule: "FREQ=WEEKLY;BYDAY=MO".into(),
            first: NaiveDate::from_ymd_opt(2026, 3, 2).and_then(|d| d.and_hms_opt(9, 0, 0)).expect("d"),
            ..sched()
        };
        assert_eq!(cutoff(&s, Stockholm, ts("2026-03-30T07:00:00Z")), ts("2026-03-29T10:00:00Z"));
        // And after the autumn change (Sunday 25 October 2026): Sunday 12:00 CET = 11:00 UTC.
        assert_eq!(cutoff(&s, Stockholm, ts("2026-10-26T08:00:00Z")), ts("2026-10-25T11:00:00Z"));
    }

    #[test]
    fn before_and_after_the_cutoff() {
        let s = sched();
        let ms = meetings(&s, "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z");
        // The samverkansmöte of 10 March: cutoff Monday 9 March 12:00 CET = 11:00 UTC.
        let on_time = assign(&s, Stockholm, &ms, ts("2026-03-09T10:59:59Z")).expect("assigned");
        assert_eq!((on_time.meeting.start, on_time.missed), (ts("2026-03-10T12:00:00Z"), None));
        let exactly = assign(&s, Stockholm, &ms, ts("2026-03-09T11:00:00Z")).expect("assigned");
        assert_eq!(exactly.meeting.start, ts("2026-03-10T12:00:00Z"), "12:00:00 itself is in time");
        let late = assign(&s, Stockholm, &ms, ts("2026-03-09T11:00:01Z")).expect("assigned");
        // Too late for 10 March; April is an avstämningsmöte, so the next case meeting is 12 May.
        assert_eq!(late.meeting.start, ts("2026-05-12T11:00:00Z"));
        assert_eq!(late.missed.map(|m| m.start), Some(ts("2026-03-10T12:00:00Z")));
    }

    #[test]
    fn cancelled_meetings_take_no_cases() {
        let s = sched();
        let mut ms = meetings(&s, "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z");
        for m in ms.iter_mut().filter(|m| m.start == ts("2026-03-10T12:00:00Z")) {
            m.status = "cancelled".into();
        }
        let a = assign(&s, Stockholm, &ms, ts("2026-03-01T10:00:00Z")).expect("assigned");
        assert_eq!((a.meeting.start, a.missed), (ts("2026-05-12T11:00:00Z"), None));
    }

    #[test]
    fn no_upcoming_meeting_means_no_assignment() {
        assert_eq!(assign(&sched(), Stockholm, &[], ts("2026-03-01T10:00:00Z")), None);
    }

    #[test]
    fn a_bad_rule_is_reported() {
        assert!(check_rrule("FREQ=SOMETIMES", sched().first, Stockholm).is_err());
        assert!(check_rrule("FREQ=MONTHLY;BYDAY=2TU", sched().first, Stockholm).is_ok());
    }
}
