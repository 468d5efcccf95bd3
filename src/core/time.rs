//! Times as the routine and its users see them: stored as UTC, shown in the forum's zone, in
//! Swedish.

use chrono::{DateTime, Locale, Utc};
use chrono_tz::Tz;

/// "tisdag 8 december 2026 kl. 13.00" in the forum's time zone.
pub fn swedish_datetime(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format_localized("%A %-d %B %Y kl. %H.%M", Locale::sv_SE)
        .to_string()
}

/// The database's time format: fixed-width UTC with milliseconds, so text order is time order.
/// (`%Y-%m-%dT%H:%M:%S%.3fZ`, written by chrono's RFC 3339 writer: a burst stores several times
/// per mail, and a format string is parsed again at every call, issue 20's profile.)
pub fn db(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses [`db`]'s format back.
pub fn from_db(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::ts;

    #[test]
    fn the_database_format_is_fixed_width_utc_with_milliseconds() {
        use chrono::TimeZone;
        for (secs, nanos) in [
            (0, 0),
            (1_796_724_000, 0),
            (1_796_724_000, 1_000_000),
            (1_796_724_059, 999_999_999),
            (253_402_300_799, 5_000),
        ] {
            let t = Utc.timestamp_opt(secs, nanos).single().expect("a time");
            assert_eq!(db(t), t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            assert_eq!(
                from_db(&db(t)),
                Some(t - chrono::Duration::nanoseconds(i64::from(nanos % 1_000_000)))
            );
        }
        assert_eq!(db(ts("2026-12-08T12:00:00Z")), "2026-12-08T12:00:00.000Z");
    }

    #[test]
    fn swedish_format_in_local_time_across_dst() {
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            swedish_datetime(ts("2026-12-08T12:00:00Z"), chrono_tz::Europe::Stockholm),
            "tisdag 8 december 2026 kl. 13.00"
        );
        assert_eq!(
            swedish_datetime(ts("2026-06-09T11:00:00Z"), chrono_tz::Europe::Stockholm),
            "tisdag 9 juni 2026 kl. 13.00"
        );
    }

    #[test]
    fn db_format_round_trips_and_sorts() {
        let a = ts("2026-03-01T09:05:00.5Z");
        assert_eq!(db(a), "2026-03-01T09:05:00.500Z");
        assert_eq!(from_db(&db(a)), Some(a));
        assert!(db(ts("2026-03-01T09:05:00Z")) < db(ts("2026-03-01T10:00:00Z")));
    }
}
