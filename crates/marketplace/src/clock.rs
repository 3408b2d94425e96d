//! Time as the service reads and shows it: the current instant, IANA zones and local times.

use domain::ParseError;

/// The current time as the store takes it: unix seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The IANA zones a person picks from: region/city names and UTC, sorted (aliases such as
/// `posix/…` or `Etc/GMT+1`, whose signs read backwards, are left out).
pub fn zone_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|n| n.to_string())
            .filter(|n| {
                n == "UTC"
                    || (n.contains('/')
                        && ![
                            "Etc/", "SystemV/", "posix/", "right/", "US/", "Canada/", "Brazil/",
                            "Mexico/", "Chile/",
                        ]
                        .iter()
                        .any(|p| n.starts_with(p)))
            })
            .collect();
        names.sort();
        names.dedup();
        names
    })
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
