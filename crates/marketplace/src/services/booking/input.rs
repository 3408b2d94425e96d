//! Booking input as pages and the API send it, turned into the changes the store applies.

use crate::clock::{now, time_zone};
use crate::error::{AppError, FieldError};
use domain::request::{clean_text, parse_date};
use domain::{
    AppointmentAction, BookingAction, BookingPolicy, ConsentAnswers, ParseError, Quote, RawRequest,
    Slot,
};
use serde::Deserialize;
use storage::{AppointmentChange, BookingChange};
use time::OffsetDateTime;

/// Field errors as the 422 a person sees.
pub fn invalid(errors: impl IntoIterator<Item = ParseError>) -> AppError {
    AppError::Validation(errors.into_iter().map(FieldError::from).collect())
}

/// The request form's fields, as the page and multipart API calls send them.
pub fn raw_request(fields: &std::collections::HashMap<String, String>) -> RawRequest {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    RawRequest {
        idea: get("idea"),
        placement: get("placement"),
        size: get("size"),
        budget: get("budget"),
        preferred_dates: get("preferred_dates"),
        date_of_birth: get("date_of_birth"),
    }
}

/// What a participant sends with a booking action. Forms carry money as text ("150.50"); the
/// JSON API may send cents instead. Fields an action does not use are ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ActionInput {
    /// The artist's question (request-info), the client's answer (provide-info) or the reason
    /// for declining.
    #[serde(default)]
    pub message: Option<String>,
    /// Quote: the lowest price as text in the artist's currency ("150.50"); or send
    /// `price_min_cents` (minor units).
    #[serde(default)]
    pub price_min: Option<String>,
    /// Quote: the highest price as text in the artist's currency; or send `price_max_cents`.
    #[serde(default)]
    pub price_max: Option<String>,
    /// Quote: the deposit as text in the artist's currency; left out, the artist's deposit
    /// policy decides.
    #[serde(default)]
    pub deposit: Option<String>,
    #[serde(default)]
    pub price_min_cents: Option<i64>,
    #[serde(default)]
    pub price_max_cents: Option<i64>,
    #[serde(default)]
    pub deposit_cents: Option<i64>,
    /// Quote: how many sessions the piece needs.
    #[serde(default)]
    pub sessions: Option<NumberText>,
    /// Quote: days the quote stays open.
    #[serde(default)]
    pub valid_days: Option<NumberText>,
}

/// A whole number sent either as a JSON number or as form text.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum NumberText {
    Number(i64),
    Text(String),
}

impl NumberText {
    fn get(&self, field: &'static str) -> Result<i64, ParseError> {
        match self {
            NumberText::Number(n) => Ok(*n),
            NumberText::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| ParseError::new(field, "enter a whole number")),
        }
    }
}

fn cents(
    field: &'static str,
    cents: Option<i64>,
    text: Option<&str>,
    currency: domain::Currency,
) -> Result<Option<i64>, ParseError> {
    match (cents, text.map(str::trim).filter(|t| !t.is_empty())) {
        (Some(c), _) => Ok(Some(c)),
        (None, Some(t)) => currency.parse_amount(field, t).map(Some),
        (None, None) => Ok(None),
    }
}

/// Turns an action and its input into the change the store applies.
pub fn booking_change(
    action: BookingAction,
    input: ActionInput,
    policy: &BookingPolicy,
    currency: domain::Currency,
) -> Result<BookingChange, AppError> {
    let text = |field: &'static str, min: usize| {
        clean_text(field, input.message.as_deref().unwrap_or(""), min, 2000)
            .map_err(|e| invalid([e]))
    };
    Ok(match action {
        BookingAction::RequestInfo => BookingChange::RequestInfo {
            question: text("message", 5)?,
        },
        BookingAction::ProvideInfo => BookingChange::ProvideInfo {
            answer: text("message", 2)?,
        },
        BookingAction::Decline => BookingChange::Decline {
            reason: text("message", 0)?,
        },
        BookingAction::Accept => BookingChange::Accept,
        BookingAction::Withdraw => BookingChange::Withdraw,
        BookingAction::DepositPaid => BookingChange::DepositPaid,
        BookingAction::Expire => {
            return Err(AppError::Forbidden(
                "Requests expire on their own when a deadline passes.".into(),
            ));
        }
        BookingAction::WithdrawQuote => BookingChange::WithdrawQuote {
            reason: text("message", 0)?,
        },
        BookingAction::Quote | BookingAction::ReviseQuote => {
            let min = cents(
                "price_min",
                input.price_min_cents,
                input.price_min.as_deref(),
                currency,
            );
            let max = cents(
                "price_max",
                input.price_max_cents,
                input.price_max.as_deref(),
                currency,
            );
            let deposit = cents(
                "deposit",
                input.deposit_cents,
                input.deposit.as_deref(),
                currency,
            );
            let sessions = input.sessions.as_ref().map_or(Ok(1), |s| s.get("sessions"));
            let days = input
                .valid_days
                .as_ref()
                .map_or(Ok(14), |d| d.get("valid_days"));
            let (min, max, deposit, sessions, days) = match (min, max, deposit, sessions, days) {
                (Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)) => (a, b, c, d, e),
                (a, b, c, d, e) => {
                    return Err(invalid(
                        [a.err(), b.err(), c.err(), d.err(), e.err()]
                            .into_iter()
                            .flatten(),
                    ));
                }
            };
            let min =
                min.ok_or_else(|| invalid([ParseError::new("price_min", "enter the price")]))?;
            let max = max.unwrap_or(min);
            let deposit = deposit.unwrap_or_else(|| policy.deposit_for(min));
            let quote = Quote::new(min, max, sessions, deposit, days).map_err(|e| invalid([e]))?;
            if action == BookingAction::Quote {
                BookingChange::Quote(quote)
            } else {
                BookingChange::ReviseQuote(quote)
            }
        }
    })
}

/// A session's time as forms send it (date, time of day, length), or as the API does (RFC 3339).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SlotInput {
    /// RFC 3339 with an offset, e.g. `2027-03-01T10:00:00+01:00`.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// Instead of `starts_at`: a day (YYYY-MM-DD) in the artist's time zone...
    #[serde(default)]
    pub date: Option<String>,
    /// ...and a time of day (HH:MM).
    #[serde(default)]
    pub time: Option<String>,
    /// The session's length in minutes.
    #[serde(default)]
    pub minutes: Option<NumberText>,
}

impl SlotInput {
    /// A date and time of day are read in the artist's time zone `zone`; RFC 3339 carries its
    /// own offset.
    pub fn slot(&self, zone: &str) -> Result<Slot, AppError> {
        let starts_at =
            match (&self.starts_at, &self.date, &self.time) {
                (Some(s), _, _) => {
                    OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
                        .map(|t| t.unix_timestamp())
                        .map_err(|_| {
                            invalid([ParseError::new(
                                "starts_at",
                                "use an RFC 3339 time such as 2027-03-01T10:00:00Z",
                            )])
                        })?
                }
                (None, Some(d), Some(t)) => {
                    let date = parse_date("date", d).map_err(|e| invalid([e]))?;
                    let format = time::macros::format_description!("[hour]:[minute]");
                    let tod = time::Time::parse(t.trim(), &format)
                        .map_err(|_| invalid([ParseError::new("time", "use the form HH:MM")]))?;
                    let tz = time_zone(zone).map_err(|e| invalid([e]))?;
                    let civil =
                        jiff::civil::date(date.year() as i16, date.month() as i8, date.day() as i8)
                            .at(tod.hour() as i8, tod.minute() as i8, 0, 0);
                    civil
                        .to_zoned_datetime(tz)
                        .map_err(|_| {
                            invalid([ParseError::new("time", "that time does not exist there")])
                        })?
                        .timestamp()
                        .as_second()
                }
                _ => {
                    return Err(invalid([ParseError::new(
                        "starts_at",
                        "choose a date and a time",
                    )]));
                }
            };
        let minutes = self
            .minutes
            .as_ref()
            .map_or(Ok(120), |m| m.get("minutes"))
            .map_err(|e| invalid([e]))?;
        Slot::new(starts_at, minutes, now()).map_err(|e| invalid([e]))
    }
}

/// What a participant sends with a session action: consent answers or a new time.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AppointmentInput {
    #[serde(flatten)]
    pub slot: SlotInput,
    /// Consent: medical conditions and medication.
    #[serde(default)]
    pub medical_notes: String,
    /// Consent: allergies (latex, pigments, antiseptics, …), shown to the artist highlighted.
    #[serde(default)]
    pub allergies: String,
    /// Consent: the client is of age (or, where allowed, has a guardian's consent).
    #[serde(default, deserialize_with = "checkbox")]
    #[schema(value_type = Tick)]
    pub confirms_age: bool,
    /// Consent: the guardian's full name, where the jurisdiction allows parental consent.
    #[serde(default)]
    pub guardian_name: String,
    #[serde(default, deserialize_with = "checkbox")]
    #[schema(value_type = Tick)]
    pub aftercare_acknowledged: bool,
    #[serde(default, deserialize_with = "checkbox")]
    #[schema(value_type = Tick)]
    pub photo_permission: bool,
}

/// A ticked box: a JSON boolean, or the text a form checkbox sends ("on", "true", "yes", "1").
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Tick {
    Bool(bool),
    Text(String),
}

/// HTML checkboxes send "on" (or a chosen value) when ticked and nothing when not; JSON sends
/// booleans. Both mean the same here.
fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Tick::deserialize(d)? {
        Tick::Bool(b) => b,
        Tick::Text(t) => matches!(t.as_str(), "on" | "true" | "yes" | "1"),
    })
}

pub fn appointment_change(
    action: AppointmentAction,
    input: AppointmentInput,
    needs_guardian: bool,
    zone: &str,
    ip: String,
    user_agent: String,
) -> Result<AppointmentChange, AppError> {
    Ok(match action {
        AppointmentAction::Consent => {
            let answers = ConsentAnswers {
                medical_notes: input.medical_notes,
                allergies: input.allergies,
                confirms_age: input.confirms_age,
                guardian_name: input.guardian_name,
                aftercare_acknowledged: input.aftercare_acknowledged,
                photo_permission: input.photo_permission,
                health_sealed: false,
            }
            .validate(needs_guardian)
            .map_err(invalid)?;
            AppointmentChange::Consent {
                answers,
                ip,
                user_agent: user_agent.chars().take(300).collect(),
            }
        }
        AppointmentAction::Complete => AppointmentChange::Complete,
        AppointmentAction::Cancel => AppointmentChange::Cancel,
        AppointmentAction::NoShow => AppointmentChange::NoShow,
        AppointmentAction::Reschedule => AppointmentChange::Reschedule(input.slot.slot(zone)?),
    })
}

/// A review as sent by a form or the API.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReviewInput {
    /// The completed request being reviewed (the API only; the page knows it from the URL).
    #[serde(default)]
    pub booking_id: Option<i64>,
    /// 1 to 5 stars.
    #[serde(default)]
    pub rating: Option<NumberText>,
    #[serde(default)]
    pub body: String,
}

impl ReviewInput {
    pub fn parse(&self) -> Result<(domain::Rating, String), AppError> {
        let rating = self
            .rating
            .as_ref()
            .ok_or_else(|| ParseError::new("rating", "choose 1 to 5 stars"))
            .and_then(|r| r.get("rating"))
            .and_then(domain::Rating::parse);
        let body = clean_text("body", &self.body, 0, 4000);
        match (rating, body) {
            (Ok(r), Ok(b)) => Ok((r, b)),
            (r, b) => Err(invalid([r.err(), b.err()].into_iter().flatten())),
        }
    }
}

/// Message text: 1 to 4000 characters after cleaning.
pub fn message_body(raw: &str) -> Result<String, AppError> {
    clean_text("body", raw, 1, 4000).map_err(|e| invalid([e]))
}
