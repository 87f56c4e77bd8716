//! Time as a dependency, so that handlers can be tested at a chosen instant.

use time::OffsetDateTime;
use time::macros::format_description;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock, for production.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock stopped at one instant, for tests.
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// RFC 3339 in UTC with milliseconds (`2026-03-12T10:30:00.000Z`), the one timestamp format
/// Hookgate writes: fixed width, so that stored timestamps sort as text.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // An instant whose UTC form falls past year 9999 has none in this format (nor in `time`).
    at.checked_to_offset(time::UtcOffset::UTC)
        .and_then(|utc| utc.format(&format).ok())
        .unwrap_or_else(|| at.unix_timestamp().to_string())
}

/// Milliseconds since the epoch.
pub fn epoch_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// An RFC 3339 timestamp as clients and providers send it (any offset; spaces around ignored),
/// in UTC; `None` when it is not one, or names an instant past the end of year 9999 in UTC
/// (`9999-12-31T23:00:00-02:00`).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?
        .checked_to_offset(time::UtcOffset::UTC)
}

/// The instant an RFC 3339 timestamp names, in Hookgate's format ([`rfc3339`]); `None` when it
/// is not one.
pub fn normalized_rfc3339(text: &str) -> Option<String> {
    parse_rfc3339(text).map(rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last hours of year 9999 west of UTC are in year 10000 in UTC, which `time` cannot
    /// hold: refused, not a panic (a 500).
    #[test]
    fn an_instant_past_year_9999_in_utc_is_no_timestamp() {
        assert_eq!(parse_rfc3339("9999-12-31T23:00:00-02:00"), None);
        assert_eq!(normalized_rfc3339("9999-12-31T23:00:00-02:00"), None);
        assert_eq!(
            normalized_rfc3339("9999-12-31T23:00:00+02:00").as_deref(),
            Some("9999-12-31T21:00:00.000Z")
        );
        let west = OffsetDateTime::parse(
            "9999-12-31T23:00:00-02:00",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(rfc3339(west), west.unix_timestamp().to_string());
    }
}
