//! Time zones defined inside a calendar object (RFC 5545 3.6.5), for a `TZID` parameter that
//! names one (RFC 5545 3.2.19) whatever its name: Outlook's `Customized Time Zone`, a zone a
//! program named after a city in its own language, a renamed Windows zone.
//!
//! A `VTIMEZONE` is a list of observances (`STANDARD`, `DAYLIGHT`), each with an onset
//! (`DTSTART`, local time in the offset before it, `TZOFFSETFROM`), the offset after it
//! (`TZOFFSETTO`), and more onsets from `RDATE` and a yearly `RRULE` (`BYMONTH` with `BYDAY`
//! such as `-1SU` or `2SU`, or `BYMONTHDAY`, optionally `UNTIL`, `COUNT`, `INTERVAL`). The
//! offset at an instant is the `TZOFFSETTO` of the latest onset before it. Outlook writes the
//! "fifth" weekday of a month for its last one (`BYDAY=5SU`); a month without a fifth takes its
//! last, as Outlook means it. Rules other than yearly ones do not occur in time zones and are
//! not read (their observance keeps only its `DTSTART` and `RDATE` onsets).
//!
//! Pure; the work per conversion is a few dozen onsets (three years of each observance).

use std::collections::HashMap;

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarFrequency, ICalendarProperty, ICalendarValue, ICalendarWeekday,
};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};

/// One `VTIMEZONE`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    observances: Vec<Observance>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Observance {
    /// `DTSTART`: local time, in `from`.
    start: NaiveDateTime,
    /// `TZOFFSETFROM`, `TZOFFSETTO`, in seconds east of UTC.
    from: i32,
    to: i32,
    rule: Option<Rule>,
    /// `RDATE`s, local time in `from`.
    rdates: Vec<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    months: Vec<u32>,
    /// `BYDAY`: (ordinal in the month, weekday); no ordinal is every such weekday.
    days: Vec<(Option<i16>, Weekday)>,
    monthdays: Vec<i8>,
    /// `UNTIL` as UTC (a local `UNTIL` is taken in `from`).
    until: Option<NaiveDateTime>,
    count: Option<u32>,
    interval: i32,
}

/// The zones a calendar defines, by `TZID`.
pub fn zones(ical: &ICalendar) -> HashMap<String, Zone> {
    let mut out = HashMap::new();
    for tz in ical
        .components
        .iter()
        .filter(|c| c.component_type == ICalendarComponentType::VTimezone)
    {
        let Some(id) = tz.property(&ICalendarProperty::Tzid).and_then(|e| match e.values.first() {
            Some(ICalendarValue::Text(t)) => Some(t.clone()),
            _ => None,
        }) else {
            continue;
        };
        let observances: Vec<Observance> = tz
            .component_ids
            .iter()
            .filter_map(|&i| ical.components.get(i as usize))
            .filter(|c| {
                matches!(
                    c.component_type,
                    ICalendarComponentType::Standard | ICalendarComponentType::Daylight
                )
            })
            .filter_map(observance)
            .collect();
        if !observances.is_empty() {
            out.insert(id, Zone { observances });
        }
    }
    out
}

fn observance(c: &ICalendarComponent) -> Option<Observance> {
    let start = match c.property(&ICalendarProperty::Dtstart)?.values.first()? {
        ICalendarValue::PartialDateTime(p) => local_of(p)?,
        _ => return None,
    };
    let offset = |prop: &ICalendarProperty| match c.property(prop)?.values.first()? {
        ICalendarValue::PartialDateTime(p) => {
            let secs = i32::from(p.tz_hour?) * 3600 + i32::from(p.tz_minute.unwrap_or(0)) * 60;
            (secs < 24 * 3600).then_some(if p.tz_minus { -secs } else { secs })
        }
        _ => None,
    };
    let from = offset(&ICalendarProperty::Tzoffsetfrom)?;
    let to = offset(&ICalendarProperty::Tzoffsetto)?;
    let rule = c.property(&ICalendarProperty::Rrule).and_then(|e| match e.values.first() {
        Some(ICalendarValue::RecurrenceRule(r)) if r.freq == ICalendarFrequency::Yearly => Some(Rule {
            months: r
                .bymonth
                .iter()
                .map(|m| u32::from(m.month()))
                .filter(|m| (1..=12).contains(m))
                .collect(),
            days: r.byday.iter().map(|d| (d.ordwk, weekday(d.weekday))).collect(),
            monthdays: r.bymonthday.clone(),
            until: r.until.as_ref().and_then(|u| {
                let t = local_of(u)?;
                // A local UNTIL is in the observance's own time before the onset.
                Some(if u.tz_hour.is_some() {
                    t
                } else {
                    t - TimeDelta::seconds(i64::from(from))
                })
            }),
            count: r.count,
            interval: i32::from(r.interval.unwrap_or(1).max(1)),
        }),
        _ => None,
    });
    let rdates = c
        .properties(&ICalendarProperty::Rdate)
        .flat_map(|e| e.values.iter())
        .filter_map(|v| match v {
            ICalendarValue::PartialDateTime(p) => local_of(p),
            _ => None,
        })
        .collect();
    Some(Observance {
        start,
        from,
        to,
        rule,
        rdates,
    })
}

/// A date or date-time as written, without its offset (`Z` is dropped: callers know).
fn local_of(p: &PartialDateTime) -> Option<NaiveDateTime> {
    let date = NaiveDate::from_ymd_opt(i32::from(p.year?), u32::from(p.month?), u32::from(p.day?))?;
    date.and_hms_opt(
        u32::from(p.hour.unwrap_or(0)),
        u32::from(p.minute.unwrap_or(0)),
        u32::from(p.second.unwrap_or(0)).min(59),
    )
}

fn weekday(w: ICalendarWeekday) -> Weekday {
    match w {
        ICalendarWeekday::Monday => Weekday::Mon,
        ICalendarWeekday::Tuesday => Weekday::Tue,
        ICalendarWeekday::Wednesday => Weekday::Wed,
        ICalendarWeekday::Thursday => Weekday::Thu,
        ICalendarWeekday::Friday => Weekday::Fri,
        ICalendarWeekday::Saturday => Weekday::Sat,
        ICalendarWeekday::Sunday => Weekday::Sun,
    }
}

impl Observance {
    /// The onsets (local, in `from`) in `years`, plus `DTSTART` and every `RDATE`.
    fn onsets(&self, years: std::ops::RangeInclusive<i32>) -> Vec<NaiveDateTime> {
        let mut out = vec![self.start];
        out.extend(self.rdates.iter().copied());
        let Some(rule) = &self.rule else {
            return out;
        };
        let first = self.start.year();
        let mut counted = 0u32;
        // With COUNT the occurrences are counted from DTSTART's year; without, only the years asked.
        let from_year = if rule.count.is_some() { first } else { (*years.start()).max(first) };
        for year in from_year..=*years.end() {
            if (year - first) % rule.interval != 0 {
                continue;
            }
            for t in rule.in_year(year, self.start) {
                if t < self.start {
                    continue;
                }
                if rule.until.is_some_and(|u| t - TimeDelta::seconds(i64::from(self.from)) > u) {
                    return out;
                }
                counted += 1;
                if rule.count.is_some_and(|c| counted > c) {
                    return out;
                }
                if years.contains(&year) {
                    out.push(t);
                }
            }
        }
        out
    }
}

impl Rule {
    /// The rule's occurrences in `year`, at `start`'s time of day, in order.
    fn in_year(&self, year: i32, start: NaiveDateTime) -> Vec<NaiveDateTime> {
        let months = if self.months.is_empty() {
            vec![start.month()]
        } else {
            self.months.clone()
        };
        let mut out = Vec::new();
        for month in months {
            let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else {
                continue;
            };
            let last = days_in_month(year, month);
            let mut days: Vec<u32> = Vec::new();
            if self.days.is_empty() {
                if self.monthdays.is_empty() {
                    days.push(start.day());
                } else {
                    days.extend(self.monthdays.iter().filter_map(|&d| monthday(d, last)));
                }
            } else {
                for &(ord, wd) in &self.days {
                    let offset = (7 + wd.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
                    let all: Vec<u32> = (1 + offset..=last).step_by(7).collect();
                    let picked: Vec<u32> = match ord {
                        None => all,
                        // Outlook's "fifth" is the last.
                        Some(n) if n >= 5 => all.last().copied().into_iter().collect(),
                        Some(n) if n > 0 => all.get(usize::try_from(n - 1).unwrap_or(usize::MAX)).copied().into_iter().collect(),
                        Some(n) => all
                            .len()
                            .checked_sub(usize::try_from(-n).unwrap_or(usize::MAX))
                            .and_then(|i| all.get(i))
                            .copied()
                            .into_iter()
                            .collect(),
                    };
                    days.extend(
                        picked
                            .into_iter()
                            .filter(|d| self.monthdays.is_empty() || self.monthdays.iter().any(|&m| monthday(m, last) == Some(*d))),
                    );
                }
            }
            days.sort_unstable();
            days.dedup();
            out.extend(
                days.into_iter()
                    .filter_map(|d| NaiveDate::from_ymd_opt(year, month, d))
                    .map(|d| d.and_time(start.time())),
            );
        }
        out.sort_unstable();
        out
    }
}

fn monthday(d: i8, last: u32) -> Option<u32> {
    let d = i32::from(d);
    let day = if d < 0 { i32::try_from(last).ok()? + 1 + d } else { d };
    u32::try_from(day).ok().filter(|&x| (1..=last).contains(&x))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).map_or(28, |d| d.day())
}

impl Zone {
    /// The transitions around `year` as (UTC instant, offset after), in order.
    fn transitions(&self, year: i32) -> Vec<(NaiveDateTime, i32)> {
        let mut out: Vec<(NaiveDateTime, i32)> = self
            .observances
            .iter()
            .flat_map(|o| {
                o.onsets(year - 1..=year + 1)
                    .into_iter()
                    .map(move |t| (t - TimeDelta::seconds(i64::from(o.from)), o.to))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The offset in force before the first onset: the earliest observance's `TZOFFSETFROM`.
    fn initial(&self) -> i32 {
        self.observances.iter().min_by_key(|o| o.start).map_or(0, |o| o.from)
    }

    fn offset_at(transitions: &[(NaiveDateTime, i32)], initial: i32, utc: NaiveDateTime) -> i32 {
        transitions
            .iter()
            .take_while(|(t, _)| *t <= utc)
            .last()
            .map_or(initial, |(_, o)| *o)
    }

    /// A wall-clock time in this zone as UTC. A time that occurs twice is the earlier instant;
    /// one in a gap is read with the offset in force before the gap (RFC 5545 3.3.5).
    pub fn local_to_utc(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let transitions = self.transitions(t.year());
        let initial = self.initial();
        let mut offsets: Vec<i32> = transitions.iter().map(|(_, o)| *o).collect();
        offsets.push(initial);
        offsets.sort_unstable();
        offsets.dedup();
        let valid = offsets
            .iter()
            .filter_map(|&o| t.checked_sub_signed(TimeDelta::seconds(i64::from(o))).map(|u| (u, o)))
            .filter(|&(u, o)| Self::offset_at(&transitions, initial, u) == o)
            .map(|(u, _)| u)
            .min();
        if valid.is_some() {
            return valid;
        }
        let before = t.checked_sub_signed(TimeDelta::days(1))?;
        let o = Self::offset_at(&transitions, initial, before);
        t.checked_sub_signed(TimeDelta::seconds(i64::from(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(body: &str) -> Zone {
        let text = format!("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Customized Time Zone\r\n{body}END:VTIMEZONE\r\nEND:VCALENDAR\r\n");
        let ical = ICalendar::parse(&text).expect("calendar");
        zones(&ical).remove("Customized Time Zone").expect("zone")
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S").expect("time")
    }

    const OUTLOOK_CET: &str = "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n\
        RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\n\
        TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\n";

    #[test]
    fn outlook_customized_zone_by_its_rules() {
        let z = zone(OUTLOOK_CET);
        assert_eq!(z.local_to_utc(t("20261208T130000")), Some(t("20261208T120000")));
        assert_eq!(z.local_to_utc(t("20260610T130000")), Some(t("20260610T110000")));
        // The last Sunday of March 2026 is the 29th: 02:30 does not exist, read as +01.
        assert_eq!(z.local_to_utc(t("20260329T023000")), Some(t("20260329T013000")));
        assert_eq!(z.local_to_utc(t("20260329T033000")), Some(t("20260329T013000")));
        // 25 October 2026, 02:30 occurs twice: the earlier instant.
        assert_eq!(z.local_to_utc(t("20261025T023000")), Some(t("20261025T003000")));
        assert_eq!(z.local_to_utc(t("20261025T033000")), Some(t("20261025T023000")));
    }

    #[test]
    fn fifth_weekday_rdate_fixed_and_until() {
        // Outlook's BYDAY=5SU is the last Sunday.
        let z = zone(&OUTLOOK_CET.replace("-1SU", "5SU"));
        assert_eq!(z.local_to_utc(t("20261025T033000")), Some(t("20261025T023000")));
        // A zone without rules: a fixed offset from DTSTART on.
        let z = zone("BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n");
        assert_eq!(z.local_to_utc(t("20261208T130000")), Some(t("20261208T180000")));
        // US rules before 2007 (UNTIL) and after: second Sunday of March from 2007.
        let z = zone(
            "BEGIN:DAYLIGHT\r\nDTSTART:19870405T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
             RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z\r\nEND:DAYLIGHT\r\n\
             BEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\n\
             RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n\
             BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n\
             RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n\
             BEGIN:STANDARD\r\nDTSTART:19671029T020000\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\n\
             RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061029T060000Z\r\nEND:STANDARD\r\n",
        );
        assert_eq!(z.local_to_utc(t("20260320T120000")), Some(t("20260320T160000")));
        assert_eq!(z.local_to_utc(t("20260305T120000")), Some(t("20260305T170000")));
        assert_eq!(z.local_to_utc(t("20050410T120000")), Some(t("20050410T160000")));
        // An RDATE onset.
        let z = zone(
            "BEGIN:STANDARD\r\nDTSTART:20000101T000000\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\n\
             BEGIN:STANDARD\r\nDTSTART:20200101T000000\r\nRDATE:20200101T000000\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0400\r\nEND:STANDARD\r\n",
        );
        assert_eq!(z.local_to_utc(t("20190601T120000")), Some(t("20190601T090000")));
        assert_eq!(z.local_to_utc(t("20260601T120000")), Some(t("20260601T080000")));
    }
}
