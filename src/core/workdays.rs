//! Swedish working days: Monday to Friday, except public holidays (computed, Easter included)
//! and the eves that are days off in practice (Midsommarafton, Julafton, Nyårsafton), so that no
//! reminder lands on Midsommarafton or Christmas Day.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Easter Sunday (Gregorian calendar; the anonymous algorithm of Meeus/Jones/Butcher).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default()
}

/// The first `weekday` on or after `from`.
fn first_on_or_after(from: NaiveDate, weekday: Weekday) -> NaiveDate {
    let diff = (7 + weekday.num_days_from_monday() as i64 - from.weekday().num_days_from_monday() as i64) % 7;
    from + Duration::days(diff)
}

/// The days off of a year, with their Swedish names, in date order.
pub fn days_off(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let d = |m, day| NaiveDate::from_ymd_opt(year, m, day).unwrap_or_default();
    let e = easter(year);
    let midsummer_day = first_on_or_after(d(6, 20), Weekday::Sat);
    let mut v = vec![
        (d(1, 1), "nyårsdagen"),
        (d(1, 6), "trettondedag jul"),
        (e - Duration::days(2), "långfredagen"),
        (e - Duration::days(1), "påskafton"),
        (e, "påskdagen"),
        (e + Duration::days(1), "annandag påsk"),
        (d(5, 1), "första maj"),
        (e + Duration::days(39), "Kristi himmelsfärdsdag"),
        (e + Duration::days(49), "pingstdagen"),
        (d(6, 6), "Sveriges nationaldag"),
        (midsummer_day - Duration::days(1), "midsommarafton"),
        (midsummer_day, "midsommardagen"),
        (first_on_or_after(d(10, 31), Weekday::Sat), "alla helgons dag"),
        (d(12, 24), "julafton"),
        (d(12, 25), "juldagen"),
        (d(12, 26), "annandag jul"),
        (d(12, 31), "nyårsafton"),
    ];
    v.sort();
    v
}

/// A working day: Monday to Friday and not a day off.
pub fn is_working_day(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !days_off(day.year()).iter().any(|(d, _)| *d == day)
}

/// The date `n` working days after `from` (n = 0: `from` itself if it is a working day, else the
/// next one).
pub fn add_working_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut day = from;
    while !is_working_day(day) {
        day += Duration::days(1);
    }
    let mut left = n;
    while left > 0 {
        day += Duration::days(1);
        if is_working_day(day) {
            left -= 1;
        }
    }
    day
}

/// `day` itself if it is a working day, else the working day before it: where a deadline "at
/// the latest" that falls on a day off moves (seed 001: "senast 6 månader innan").
pub fn working_day_on_or_before(day: NaiveDate) -> NaiveDate {
    let mut day = day;
    while !is_working_day(day) {
        day -= Duration::days(1);
    }
    day
}

/// The working days after `from` up to and including `to` (0 when `to` is not after `from`):
/// how many working days something took or was late.
pub fn working_days_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let mut n = 0;
    let mut day = from;
    while day < to {
        day += Duration::days(1);
        if is_working_day(day) {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn easter_dates() {
        for (y, e) in [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2038, "2038-04-25"),
            (2000, "2000-04-23"),
        ] {
            assert_eq!(easter(y), d(e), "{y}");
        }
    }

    #[test]
    fn the_2026_days_off() {
        let got: Vec<String> = days_off(2026).iter().map(|(d, n)| format!("{d} {n}")).collect();
        assert_eq!(
            got,
            vec![
                "2026-01-01 nyårsdagen",
                "2026-01-06 trettondedag jul",
                "2026-04-03 långfredagen",
                "2026-04-04 påskafton",
                "2026-04-05 påskdagen",
                "2026-04-06 annandag påsk",
                "2026-05-01 första maj",
                "2026-05-14 Kristi himmelsfärdsdag",
                "2026-05-24 pingstdagen",
                "2026-06-06 Sveriges nationaldag",
                "2026-06-19 midsommarafton",
                "2026-06-20 midsommardagen",
                "2026-10-31 alla helgons dag",
                "2026-12-24 julafton",
                "2026-12-25 juldagen",
                "2026-12-26 annandag jul",
                "2026-12-31 nyårsafton",
            ]
        );
    }

    #[test]
    fn working_days_skip_weekends_holidays_and_eves() {
        assert!(!is_working_day(d("2026-06-19")), "midsommarafton");
        assert!(!is_working_day(d("2026-12-25")), "juldagen");
        assert!(!is_working_day(d("2026-05-14")), "Kristi himmelsfärd");
        assert!(is_working_day(d("2026-05-15")), "klämdag is a working day");
        // Wednesday 17 June + 3 working days: Thu 18, (Fri 19 midsommarafton), Mon 22, Tue 23.
        assert_eq!(add_working_days(d("2026-06-17"), 3), d("2026-06-23"));
        // Tuesday 22 December + 3: Wed 23, (24, 25, 26, 27), Mon 28, Tue 29.
        assert_eq!(add_working_days(d("2026-12-22"), 3), d("2026-12-29"));
        // Thursday 2 April 2026 + 1: (Good Friday, Easter, Easter Monday) Tuesday 7 April.
        assert_eq!(add_working_days(d("2026-04-02"), 1), d("2026-04-07"));
        // From a Saturday, 0 working days is the next Monday.
        assert_eq!(add_working_days(d("2026-11-28"), 0), d("2026-11-30"));
    }

    #[test]
    fn a_deadline_at_the_latest_moves_back_to_a_working_day() {
        assert_eq!(working_day_on_or_before(d("2027-02-19")), d("2027-02-19"), "a Friday stays");
        assert_eq!(working_day_on_or_before(d("2027-02-20")), d("2027-02-19"), "Saturday → Friday");
        assert_eq!(working_day_on_or_before(d("2027-02-21")), d("2027-02-19"), "Sunday → Friday");
        // Easter Monday 2026 → Thursday 2 April (Good Friday and Easter in between).
        assert_eq!(working_day_on_or_before(d("2026-04-06")), d("2026-04-02"));
        // Midsommardagen 2026 → Thursday 18 June (Midsommarafton is a day off).
        assert_eq!(working_day_on_or_before(d("2026-06-20")), d("2026-06-18"));
        // Christmas → Wednesday 23 December.
        assert_eq!(working_day_on_or_before(d("2026-12-26")), d("2026-12-23"));
    }
}
