//! Times as a person in France reads them: Europe/Paris (CET, and CEST
//! from the last Sunday of March to the last Sunday of October, changing at
//! 01:00 UTC, the EU rule), without a time-zone database.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};

/// 01:00 UTC on the last Sunday of `month` of `year`.
fn last_sunday_1utc(year: i32, month: u32) -> Option<NaiveDateTime> {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_next.pred_opt()?;
    let back = last.weekday().num_days_from_sunday();
    (last - Duration::days(i64::from(back))).and_hms_opt(1, 0, 0)
}

/// The local time in Paris of a Unix time (seconds).
pub fn local(unix: i64) -> Option<NaiveDateTime> {
    let utc = DateTime::<Utc>::from_timestamp(unix, 0)?.naive_utc();
    let year = utc.year();
    let summer = last_sunday_1utc(year, 3)? <= utc && utc < last_sunday_1utc(year, 10)?;
    Some(utc + Duration::hours(if summer { 2 } else { 1 }))
}

/// "03/12/2026 11:20": day/month/year and the 24-hour clock, Paris time
/// (what French and English pages and messages show).
pub fn format(unix: i64) -> String {
    local(unix).map_or_else(
        || unix.to_string(),
        |t| t.format("%d/%m/%Y %H:%M").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn winter_and_summer_time() {
        assert_eq!(format(at("2026-12-03T10:20:00Z")), "03/12/2026 11:20");
        assert_eq!(format(at("2026-07-14T10:00:00Z")), "14/07/2026 12:00");
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(format(at("2026-03-29T00:59:00Z")), "29/03/2026 01:59");
        assert_eq!(format(at("2026-03-29T01:00:00Z")), "29/03/2026 03:00");
        assert_eq!(format(at("2026-10-25T00:59:00Z")), "25/10/2026 02:59");
        assert_eq!(format(at("2026-10-25T01:00:00Z")), "25/10/2026 02:00");
    }
}
