//! Time as the service reads and shows it: the current instant, IANA zones and local times.

use domain::ParseError;

/// The current time as the store takes it: unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An IANA time zone by name, or a clear error naming it.
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, ParseError> {
    jiff::tz::TimeZone::get(name.trim()).map_err(|_| {
        ParseError::new(
            "time_zone",
            format!(
                "{:?} is not a time zone: use a name such as Europe/Berlin",
                name.trim()
            ),
        )
    })
}

/// A unix time as a person in `zone` reads it, e.g. "Sat 6 Mar 2027, 10:00 CET".
pub fn local_time(at: i64, zone: &str) -> String {
    let tz = time_zone(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_second(at) {
        Ok(t) => t
            .to_zoned_datetime(tz)
            .strftime("%a %-d %b %Y, %H:%M %Z")
            .to_string(),
        Err(_) => "unknown time".to_owned(),
    }
}
