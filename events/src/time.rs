//! Timestamps in read models: RFC 3339 UTC with six fractional digits,
//! fixed width so that text order is time order on every database.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, to the microsecond the log and read models keep (so an event's own
/// timestamps compare equal after a round trip).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn stored_timestamps_round_trip_and_sort_as_text() {
        let early = Utc.with_ymd_and_hms(2026, 3, 14, 9, 59, 59).unwrap();
        let late = early + chrono::Duration::microseconds(1_000_001);
        assert_eq!(parse(&text(early)), Some(early));
        assert!(text(early) < text(late));
        assert_eq!(text(early), "2026-03-14T09:59:59.000000Z");
    }
}
