//! What clients and artists write into a booking: the request, the quote, sessions, messages and
//! reviews, each parsed from raw input into a value that is known to be valid.

use crate::ParseError;
use serde::{Deserialize, Serialize};
use time::Date;

/// Rough size of a piece; the same scale sizes flash variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Size {
    S,
    M,
    L,
    XL,
}

impl Size {
    pub const ALL: [Size; 4] = [Size::S, Size::M, Size::L, Size::XL];

    pub fn as_str(self) -> &'static str {
        match self {
            Size::S => "S",
            Size::M => "M",
            Size::L => "L",
            Size::XL => "XL",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Size::S => "Small (up to 5 cm)",
            Size::M => "Medium (5–10 cm)",
            Size::L => "Large (10–20 cm)",
            Size::XL => "Extra large (over 20 cm)",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| ParseError::new("size", "choose S, M, L or XL"))
    }
}

/// Where on the body a piece goes.
pub const PLACEMENTS: &[&str] = &[
    "forearm",
    "upper-arm",
    "wrist",
    "shoulder",
    "collarbone",
    "hand",
    "finger",
    "chest",
    "sternum",
    "back",
    "ribs",
    "stomach",
    "hip",
    "thigh",
    "calf",
    "ankle",
    "foot",
    "neck",
    "behind-ear",
    "sleeve",
    "other",
];

/// The API description of a placement names every accepted value. Not an enum: input is
/// trimmed and case-folded, so values outside a strict enum are accepted too.
fn placement_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some(format!(
            "Where on the body; one of: {}.",
            PLACEMENTS.join(", ")
        )))
        .build()
}

pub fn parse_placement(raw: &str) -> Result<String, ParseError> {
    let p = raw.trim().to_ascii_lowercase();
    if PLACEMENTS.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(ParseError::new(
            "placement",
            "choose a placement from the list",
        ))
    }
}

/// Free text from a user: trimmed, control characters other than newlines removed, and bounded.
/// It is stored as plain text and escaped wherever it is shown, so markup never runs.
pub fn clean_text(
    field: &'static str,
    raw: &str,
    min: usize,
    max: usize,
) -> Result<String, ParseError> {
    let cleaned: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect();
    let n = cleaned.chars().count();
    if n < min {
        Err(ParseError::new(
            field,
            format!("write at least {min} characters"),
        ))
    } else if n > max {
        Err(ParseError::new(
            field,
            format!("keep it under {max} characters"),
        ))
    } else {
        Ok(cleaned)
    }
}

/// The largest amount anywhere in a booking (a price, a deposit): 1,000,000.00. Every amount is
/// checked against it, so sums and percentages of amounts can never overflow.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;

/// Money as typed by a person ("120", "120.50") to cents.
pub fn parse_money(field: &'static str, raw: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::new(field, "enter an amount like 150 or 150.50");
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 7 {
        return Err(bad());
    }
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let cents = format!("{frac:0<2}");
    Ok(whole.parse::<i64>().map_err(|_| bad())? * 100 + cents.parse::<i64>().map_err(|_| bad())?)
}

/// A booking request as the client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestDraft {
    pub idea: String,
    pub placement: String,
    pub size: Size,
    pub budget_cents: Option<i64>,
    pub preferred_dates: String,
    pub date_of_birth: Date,
}

/// The raw fields of a request, as forms and JSON carry them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct RawRequest {
    /// What the client would like tattooed, 10 to 4000 characters.
    #[serde(default)]
    pub idea: String,
    #[serde(default)]
    #[schema(schema_with = placement_schema)]
    pub placement: String,
    /// `S`, `M`, `L` or `XL`.
    #[serde(default)]
    pub size: String,
    /// Optional, in the artist's currency (`250` or `250.00`).
    #[serde(default)]
    pub budget: String,
    /// Free text, e.g. "weekday afternoons in March".
    #[serde(default)]
    pub preferred_dates: String,
    /// YYYY-MM-DD; checked against the artist's jurisdiction and minimum age, never shown.
    #[serde(default)]
    #[schema(format = Date)]
    pub date_of_birth: String,
}

pub fn parse_date(field: &'static str, raw: &str) -> Result<Date, ParseError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw.trim(), &format).map_err(|_| ParseError::new(field, "use the form YYYY-MM-DD"))
}

impl RequestDraft {
    /// Parses every field and returns all the problems at once, so a form can show them together.
    /// The budget is in the artist's `currency`.
    pub fn parse(raw: &RawRequest, currency: crate::Currency) -> Result<Self, Vec<ParseError>> {
        let idea = clean_text("idea", &raw.idea, 10, 4000);
        let placement = parse_placement(&raw.placement);
        let size = Size::parse(&raw.size);
        let budget = match raw.budget.trim() {
            "" => Ok(None),
            b => currency.parse_amount("budget", b).map(Some),
        };
        let dates = clean_text("preferred_dates", &raw.preferred_dates, 0, 500);
        let dob = parse_date("date_of_birth", &raw.date_of_birth);
        match (idea, placement, size, budget, dates, dob) {
            (
                Ok(idea),
                Ok(placement),
                Ok(size),
                Ok(budget_cents),
                Ok(preferred_dates),
                Ok(date_of_birth),
            ) => Ok(Self {
                idea,
                placement,
                size,
                budget_cents,
                preferred_dates,
                date_of_birth,
            }),
            (a, b, c, d, e, f) => Err([a.err(), b.err(), c.err(), d.err(), e.err(), f.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

/// An artist's quote: a price range, how many sessions, the deposit and how long it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub price_min_cents: i64,
    pub price_max_cents: i64,
    pub sessions: u8,
    pub deposit_cents: i64,
    pub valid_days: u16,
}

impl Quote {
    pub fn new(
        price_min_cents: i64,
        price_max_cents: i64,
        sessions: i64,
        deposit_cents: i64,
        valid_days: i64,
    ) -> Result<Self, ParseError> {
        if price_min_cents <= 0 || price_max_cents < price_min_cents {
            return Err(ParseError::new(
                "price",
                "the price range must be positive and in order",
            ));
        }
        if price_max_cents > MAX_AMOUNT_CENTS {
            return Err(ParseError::new("price", "a price is at most 1,000,000.00"));
        }
        if !(1..=20).contains(&sessions) {
            return Err(ParseError::new("sessions", "between 1 and 20 sessions"));
        }
        if !(0..=price_min_cents).contains(&deposit_cents) {
            return Err(ParseError::new(
                "deposit",
                "the deposit cannot exceed the lowest price",
            ));
        }
        if !(1..=60).contains(&valid_days) {
            return Err(ParseError::new(
                "valid_days",
                "a quote is valid for 1 to 60 days",
            ));
        }
        Ok(Self {
            price_min_cents,
            price_max_cents,
            sessions: sessions as u8,
            deposit_cents,
            valid_days: valid_days as u16,
        })
    }
}

/// A session slot: unix seconds, on a 15-minute grid, between 30 minutes and 10 hours long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub starts_at: i64,
    pub ends_at: i64,
}

impl Slot {
    pub fn new(starts_at: i64, minutes: i64, now: i64) -> Result<Self, ParseError> {
        if starts_at % 900 != 0 {
            return Err(ParseError::new(
                "starts_at",
                "sessions start on a quarter hour",
            ));
        }
        if starts_at <= now {
            return Err(ParseError::new(
                "starts_at",
                "a session must start in the future",
            ));
        }
        if !(30..=600).contains(&minutes) || minutes % 15 != 0 {
            return Err(ParseError::new(
                "minutes",
                "30 minutes to 10 hours, in quarter hours",
            ));
        }
        if starts_at > now + 2 * 365 * 86_400 {
            return Err(ParseError::new("starts_at", "at most two years ahead"));
        }
        Ok(Self {
            starts_at,
            ends_at: starts_at + minutes * 60,
        })
    }

    pub fn overlaps(&self, other: &Slot) -> bool {
        self.starts_at < other.ends_at && other.starts_at < self.ends_at
    }
}

/// A star rating from 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rating(u8);

impl Rating {
    pub fn parse(raw: i64) -> Result<Self, ParseError> {
        if (1..=5).contains(&raw) {
            Ok(Self(raw as u8))
        } else {
            Err(ParseError::new("rating", "a rating is 1 to 5 stars"))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// The consent form a client signs before a session is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct ConsentAnswers {
    /// Free-text answers to the medical questions (conditions, medication, pregnancy, …).
    #[serde(default)]
    pub medical_notes: String,
    /// Allergies (latex, pigments, antiseptics, …): kept apart so the artist cannot miss them.
    #[serde(default)]
    pub allergies: String,
    #[serde(default)]
    pub confirms_age: bool,
    /// The guardian's full name, where the jurisdiction allows parental consent.
    #[serde(default)]
    pub guardian_name: String,
    #[serde(default)]
    pub aftercare_acknowledged: bool,
    #[serde(default)]
    pub photo_permission: bool,
    /// The two health fields were checked and then encrypted by the caller, so they are no
    /// longer text to check again. Never read from input.
    #[serde(skip)]
    pub health_sealed: bool,
}

impl ConsentAnswers {
    /// Checks the form given whether this client needs a parent's consent.
    pub fn validate(mut self, needs_guardian: bool) -> Result<Self, Vec<ParseError>> {
        let mut errors = Vec::new();
        if !self.health_sealed {
            match clean_text("medical_notes", &self.medical_notes, 0, 2000) {
                Ok(t) => self.medical_notes = t,
                Err(e) => errors.push(e),
            }
            match clean_text("allergies", &self.allergies, 0, 1000) {
                Ok(t) => self.allergies = t,
                Err(e) => errors.push(e),
            }
        }
        if !self.confirms_age {
            errors.push(ParseError::new(
                "confirms_age",
                "confirm your age to continue",
            ));
        }
        if !self.aftercare_acknowledged {
            errors.push(ParseError::new(
                "aftercare_acknowledged",
                "read and acknowledge the aftercare instructions",
            ));
        }
        if needs_guardian {
            match clean_text("guardian_name", &self.guardian_name, 3, 120) {
                Ok(t) => self.guardian_name = t,
                Err(_) => errors.push(ParseError::new(
                    "guardian_name",
                    "a parent or guardian must sign: enter their full name",
                )),
            }
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_amounts_are_bounded_so_nothing_overflows() {
        for (min, max) in [
            (i64::MAX - 1, i64::MAX),
            (1, i64::MAX),
            (MAX_AMOUNT_CENTS, MAX_AMOUNT_CENTS + 1),
        ] {
            assert!(Quote::new(min, max, 1, 0, 14).is_err(), "{min}..{max}");
        }
        assert!(Quote::new(MAX_AMOUNT_CENTS, MAX_AMOUNT_CENTS, 1, MAX_AMOUNT_CENTS, 14).is_ok());
        assert!(Quote::new(i64::MIN, 10, 1, 0, 14).is_err());
        assert!(Quote::new(100, 200, 1, -1, 14).is_err());
    }
    use proptest::prelude::*;

    fn raw() -> RawRequest {
        RawRequest {
            idea: "A small swallow with a banner".into(),
            placement: "forearm".into(),
            size: "m".into(),
            budget: "250".into(),
            preferred_dates: "weekends".into(),
            date_of_birth: "1990-04-01".into(),
        }
    }

    #[test]
    fn a_complete_request_parses() {
        let d = RequestDraft::parse(&raw(), crate::Currency::EUR).unwrap();
        assert_eq!((d.size, d.budget_cents), (Size::M, Some(25_000)));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = RawRequest {
            idea: "x".into(),
            placement: "nose".into(),
            size: "huge".into(),
            budget: "lots".into(),
            preferred_dates: String::new(),
            date_of_birth: "1/4/90".into(),
        };
        let fields: Vec<_> = RequestDraft::parse(&bad, crate::Currency::EUR)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["idea", "placement", "size", "budget", "date_of_birth"]
        );
    }

    #[test]
    fn money_is_parsed_exactly() {
        assert_eq!(parse_money("p", "150"), Ok(15_000));
        assert_eq!(parse_money("p", "150.5"), Ok(15_050));
        assert_eq!(parse_money("p", "0.05"), Ok(5));
        for bad in ["", "-1", "1.234", "1e3", "12345678", ".5", "1.x"] {
            assert!(parse_money("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotes_and_slots_enforce_their_bounds() {
        assert!(Quote::new(20_000, 30_000, 2, 5_000, 14).is_ok());
        assert!(Quote::new(20_000, 10_000, 2, 5_000, 14).is_err());
        assert!(Quote::new(20_000, 30_000, 2, 25_000, 14).is_err());
        assert!(Slot::new(3600 * 100, 120, 0).is_ok());
        assert!(Slot::new(3600 * 100 + 60, 120, 0).is_err());
        assert!(Slot::new(3600, 120, 7200).is_err());
    }

    #[test]
    fn consent_without_the_required_ticks_or_guardian_is_refused() {
        let c = ConsentAnswers {
            confirms_age: true,
            aftercare_acknowledged: true,
            ..Default::default()
        };
        assert!(c.clone().validate(false).is_ok());
        assert_eq!(c.validate(true).unwrap_err()[0].field, "guardian_name");
        assert_eq!(
            ConsentAnswers::default().validate(false).unwrap_err().len(),
            2
        );
    }

    proptest! {
        #[test]
        fn request_parsing_never_panics(idea in ".{0,60}", placement in ".{0,12}", size in ".{0,4}",
                                        budget in ".{0,10}", dob in ".{0,12}") {
            let r = RawRequest { idea, placement, size, budget, preferred_dates: String::new(), date_of_birth: dob };
            let _ = RequestDraft::parse(&r, crate::Currency::EUR);
        }

        #[test]
        fn cleaned_text_has_no_control_characters(s in "\\PC{0,40}[\\x00-\\x1f]{0,5}") {
            if let Ok(t) = clean_text("t", &s, 0, 100) {
                prop_assert!(t.chars().all(|c| !c.is_control() || c == '\n'));
            }
        }

        #[test]
        fn overlapping_is_symmetric(a in 0i64..1000, la in 1i64..100, b in 0i64..1000, lb in 1i64..100) {
            let x = Slot { starts_at: a, ends_at: a + la };
            let y = Slot { starts_at: b, ends_at: b + lb };
            prop_assert_eq!(x.overlaps(&y), y.overlaps(&x));
        }
    }
}
