//! An artist's working week: the days and hours sessions may be scheduled in, in the artist's
//! own time zone.

use crate::ParseError;
use serde::Serialize;

pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Working days (Monday first) and the daily window, in minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Availability {
    pub days: [bool; 7],
    pub start_min: u16,
    pub end_min: u16,
}

impl Default for Availability {
    fn default() -> Self {
        Self {
            days: [true, true, true, true, true, true, false],
            start_min: 10 * 60,
            end_min: 19 * 60,
        }
    }
}

fn parse_clock(field: &'static str, raw: &str) -> Result<u16, ParseError> {
    let bad = || ParseError::new(field, "use the form HH:MM");
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn clock(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

impl Availability {
    /// `days` holds day keys (`mon` … `sun`), comma separated; `start` and `end` are HH:MM.
    pub fn parse(days: &str, start: &str, end: &str) -> Result<Self, ParseError> {
        let mut set = [false; 7];
        for d in days.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let i = DAYS
                .iter()
                .position(|k| k.eq_ignore_ascii_case(d))
                .ok_or_else(|| ParseError::new("work_days", format!("unknown day {d:?}")))?;
            set[i] = true;
        }
        if !set.contains(&true) {
            return Err(ParseError::new(
                "work_days",
                "choose at least one working day",
            ));
        }
        let start_min = parse_clock("work_start", start)?;
        let end_min = parse_clock("work_end", end)?;
        if end_min < start_min + 30 {
            return Err(ParseError::new(
                "work_end",
                "the working day ends at least 30 minutes after it starts",
            ));
        }
        Ok(Self {
            days: set,
            start_min,
            end_min,
        })
    }

    /// The stored form of the days, e.g. `tue,wed,thu`.
    pub fn days_key(&self) -> String {
        DAYS.iter()
            .zip(self.days)
            .filter(|(_, on)| *on)
            .map(|(d, _)| *d)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether a session on `weekday` (0 = Monday) from `start_min` lasting `minutes` fits.
    pub fn allows(&self, weekday: usize, start_min: u16, minutes: i64) -> bool {
        self.days.get(weekday).copied().unwrap_or(false)
            && start_min >= self.start_min
            && i64::from(start_min) + minutes <= i64::from(self.end_min)
    }

    /// For people: "Mon–Sat, 10:00–19:00".
    pub fn describe(&self) -> String {
        let days: Vec<&str> = DAY_NAMES
            .iter()
            .zip(self.days)
            .filter(|(_, on)| *on)
            .map(|(d, _)| *d)
            .collect();
        format!(
            "{}, {}–{}",
            days.join(" "),
            clock(self.start_min),
            clock(self.end_min)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_working_week_parses_and_bounds_sessions() {
        let a = Availability::parse("tue, wed,SAT", "11:00", "19:30").unwrap();
        assert_eq!(a.days_key(), "tue,wed,sat");
        assert!(a.allows(1, 11 * 60, 120));
        assert!(!a.allows(0, 11 * 60, 60), "Monday is off");
        assert!(!a.allows(1, 10 * 60 + 45, 60), "before opening");
        assert!(!a.allows(5, 18 * 60, 120), "runs past closing");
        assert_eq!(a.describe(), "Tue Wed Sat, 11:00–19:30");
        assert!(Availability::parse("", "10:00", "18:00").is_err());
        assert!(Availability::parse("mon", "18:00", "10:00").is_err());
        assert!(Availability::parse("funday", "10:00", "18:00").is_err());
        assert!(Availability::parse("mon", "25:00", "26:00").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(days in "[a-z, ]{0,30}", s in ".{0,6}", e in ".{0,6}") {
            if let Ok(a) = Availability::parse(&days, &s, &e) {
                let again = Availability::parse(&a.days_key(), &clock(a.start_min), &clock(a.end_min)).unwrap();
                prop_assert_eq!(a, again);
            }
        }
    }
}
