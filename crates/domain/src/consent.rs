//! Age and consent rules by jurisdiction, read from `data/jurisdictions.csv`, and the decision
//! they give for one client and one artist.

use crate::ParseError;
use std::sync::OnceLock;
use time::Date;

/// One jurisdiction's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jurisdiction {
    pub code: String,
    pub name: String,
    pub min_age: u8,
    /// The youngest age at which a parent's written consent makes a tattoo lawful, if ever.
    pub parental_consent_from: Option<u8>,
    /// How many years a signed consent form must be kept, even after the client's account is
    /// erased.
    pub consent_record_years: u8,
}

/// The rule for places the data file does not list: the safe default.
pub const DEFAULT_MIN_AGE: u8 = 18;

/// How long consent forms are kept where the data file says nothing.
pub const DEFAULT_CONSENT_RECORD_YEARS: u8 = 3;

static TABLE: OnceLock<Vec<Jurisdiction>> = OnceLock::new();

fn parse_table(text: &str) -> Result<Vec<Jurisdiction>, ParseError> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |m: &str| ParseError::new("jurisdictions", format!("line {}: {m}", n + 1));
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let [code, name, min, parental, years] = cols[..] else {
            return Err(bad("expected 5 columns"));
        };
        let consent_record_years: u8 = years
            .parse()
            .ok()
            .filter(|y| (1..=25).contains(y))
            .ok_or_else(|| bad("years to keep consent forms must be 1 to 25"))?;
        let min_age: u8 = min
            .parse()
            .map_err(|_| bad("minimum age is not a number"))?;
        let parental_consent_from = match parental {
            "" => None,
            p => Some(
                p.parse::<u8>()
                    .map_err(|_| bad("parental age is not a number"))?,
            ),
        };
        if parental_consent_from.is_some_and(|p| p > min_age) || !(12..=21).contains(&min_age) {
            return Err(bad("ages out of order"));
        }
        rows.push(Jurisdiction {
            code: code.to_owned(),
            name: name.to_owned(),
            min_age,
            parental_consent_from,
            consent_record_years,
        });
    }
    Ok(rows)
}

/// Every listed jurisdiction.
pub fn jurisdictions() -> &'static [Jurisdiction] {
    TABLE.get_or_init(|| {
        // The file is compiled in and checked by a unit test, so a parse failure is a build bug.
        parse_table(include_str!("../data/jurisdictions.csv")).unwrap_or_default()
    })
}

/// The rule for `code`, or the safe default (18, no parental consent) for unknown codes.
pub fn rules_for(code: &str) -> Jurisdiction {
    jurisdictions()
        .iter()
        .find(|j| j.code.eq_ignore_ascii_case(code.trim()))
        .cloned()
        .unwrap_or_else(|| Jurisdiction {
            code: code.trim().to_uppercase(),
            name: format!("{} (default rule)", code.trim().to_uppercase()),
            min_age: DEFAULT_MIN_AGE,
            parental_consent_from: None,
            consent_record_years: DEFAULT_CONSENT_RECORD_YEARS,
        })
}

/// Whole years between `born` and `on`.
pub fn age_on(born: Date, on: Date) -> i32 {
    let mut years = on.year() - born.year();
    if (on.month() as u8, on.day()) < (born.month() as u8, born.day()) {
        years -= 1;
    }
    years
}

/// What the rules say about tattooing one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgeDecision {
    Allowed,
    /// Lawful only with a parent's or guardian's signed consent.
    NeedsParentalConsent,
    /// Refused, with an explanation the client can read.
    Refused(String),
}

/// Applies the jurisdiction's rule and the artist's own minimum age to a client born on `born`,
/// as of `on`.
pub fn decide(
    jurisdiction: &Jurisdiction,
    artist_min_age: u8,
    born: Date,
    on: Date,
) -> AgeDecision {
    let age = age_on(born, on);
    if !(0..=130).contains(&age) {
        return AgeDecision::Refused("The date of birth is not plausible.".into());
    }
    if age < i32::from(artist_min_age) {
        return AgeDecision::Refused(format!(
            "This artist tattoos clients aged {artist_min_age} and over; you are {age}."
        ));
    }
    if age >= i32::from(jurisdiction.min_age) {
        return AgeDecision::Allowed;
    }
    match jurisdiction.parental_consent_from {
        Some(from) if age >= i32::from(from) => AgeDecision::NeedsParentalConsent,
        Some(from) => AgeDecision::Refused(format!(
            "In {} the minimum age for a tattoo is {}, or {from} with a parent's consent; you are {age}.",
            jurisdiction.name, jurisdiction.min_age
        )),
        None => AgeDecision::Refused(format!(
            "In {} the minimum age for a tattoo is {}, and a parent's consent does not change that; you are {age}.",
            jurisdiction.name, jurisdiction.min_age
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::Month;
    use time::macros::date;

    #[test]
    fn the_data_file_parses_and_covers_the_required_jurisdictions() {
        let table = parse_table(include_str!("../data/jurisdictions.csv")).unwrap();
        for code in [
            "GB", "US-CA", "US-FL", "US-NY", "DE", "FR", "NL", "AU-NSW", "CA-ON",
        ] {
            assert!(table.iter().any(|j| j.code == code), "{code} missing");
        }
        assert_eq!(jurisdictions().len(), table.len());
    }

    #[test]
    fn malformed_rows_are_rejected_with_their_line() {
        let e = parse_table("GB,United Kingdom,eighteen,,3\n").unwrap_err();
        assert!(e.message.contains("line 1"), "{e}");
        assert!(parse_table("GB,UK,18\n").is_err());
        assert!(parse_table("GB,UK,18,\n").is_err());
        assert!(parse_table("GB,UK,16,18,3\n").is_err());
        assert!(parse_table("GB,UK,18,,0\n").is_err());
        assert!(parse_table("GB,UK,18,,many\n").is_err());
        assert_eq!(
            parse_table("GB,UK,18,,3\n").unwrap()[0].consent_record_years,
            3
        );
    }

    #[test]
    fn unknown_places_get_the_safe_default() {
        let j = rules_for("XX-YY");
        assert_eq!((j.min_age, j.parental_consent_from), (18, None));
    }

    #[test]
    fn ages_count_whole_years() {
        assert_eq!(age_on(date!(2008 - 11 - 27), date!(2026 - 11 - 26)), 17);
        assert_eq!(age_on(date!(2008 - 11 - 26), date!(2026 - 11 - 26)), 18);
    }

    #[test]
    fn a_seventeen_year_old_needs_a_parent_in_florida_and_is_refused_in_california() {
        let born = date!(2009 - 01 - 01);
        let on = date!(2026 - 11 - 26);
        assert_eq!(
            decide(&rules_for("US-FL"), 16, born, on),
            AgeDecision::NeedsParentalConsent
        );
        match decide(&rules_for("US-CA"), 16, born, on) {
            AgeDecision::Refused(why) => assert!(why.contains("California"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_artists_own_minimum_applies_on_top() {
        let born = date!(2006 - 01 - 01);
        assert!(matches!(
            decide(&rules_for("GB"), 21, born, date!(2026 - 11 - 26)),
            AgeDecision::Refused(_)
        ));
    }

    proptest! {
        #[test]
        fn nobody_under_the_parental_floor_is_ever_allowed(
            code in 0usize..15, year in 1990i32..2026, month in 1u8..=12, day in 1u8..=28, artist_min in 16u8..25
        ) {
            let j = &jurisdictions()[code % jurisdictions().len()];
            let born = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
            let on = date!(2026 - 11 - 26);
            let age = age_on(born, on);
            let floor = j.parental_consent_from.unwrap_or(j.min_age).max(artist_min);
            match decide(j, artist_min, born, on) {
                AgeDecision::Allowed => prop_assert!(age >= i32::from(j.min_age.max(artist_min))),
                AgeDecision::NeedsParentalConsent => prop_assert!(age >= i32::from(floor) && age < i32::from(j.min_age)),
                AgeDecision::Refused(_) => prop_assert!(age < i32::from(j.min_age.max(artist_min)) || age > 130),
            }
        }
    }
}
