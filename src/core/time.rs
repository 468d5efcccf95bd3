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
pub fn db(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
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
