//! The artist's settings: the form's page, and turning its text fields into settings.

use crate::auth::ArtistUser;
use crate::auth::csrf::CsrfForm;
use crate::auth::session::Authorized;
use crate::error::{AppError, FieldError};
use crate::routes::pages::{render, signed_in_layout};
use crate::services::portfolio;
use crate::state::AppState;
use crate::templates::settings::{ArtistSettingsForm, ArtistSettingsPage};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use storage::ArtistSettings;
use tower_sessions::Session;

#[tracing::instrument(skip_all)]
pub async fn settings_form(
    State(state): State<AppState>,
    session: Session,
    Authorized(user, _): ArtistUser,
) -> Result<Html<String>, AppError> {
    let form = match state.store.artist_for_user(user.id).await? {
        Some(p) => {
            let mut form = ArtistSettingsForm::from_profile(&p);
            let today = time::OffsetDateTime::now_utc().date().to_string();
            form.days_off = state.store.days_off(p.id, &today).await?.join("\n");
            form
        }
        None => ArtistSettingsForm::new_for(&user),
    };
    render(ArtistSettingsPage::new(
        signed_in_layout(&state, &session, &user).await?,
        form,
        vec![],
        false,
    ))
}

#[tracing::instrument(skip_all)]
pub async fn save_settings(
    State(state): State<AppState>,
    Authorized(user, _): ArtistUser,
    CsrfForm { form, session }: CsrfForm<ArtistSettingsForm>,
) -> Result<Response, AppError> {
    let saved = match (ArtistSettings::try_from(&form), days_off(&form.days_off)) {
        (Ok(settings), Ok(days)) => match portfolio::save_settings(&state, &user, settings).await {
            Ok(()) => state
                .store
                .set_days_off(user.id, &days)
                .await
                .map_err(Into::into),
            Err(e) => Err(e),
        },
        (Err(mut errors), days) => {
            errors.extend(days.err());
            Err(AppError::Validation(errors))
        }
        (Ok(_), Err(e)) => Err(AppError::Validation(vec![e])),
    };
    let layout = signed_in_layout(&state, &session, &user).await?;
    match saved {
        Ok(()) => Ok(render(ArtistSettingsPage::new(layout, form, vec![], true))?.into_response()),
        Err(AppError::Validation(errors)) => {
            let page = ArtistSettingsPage::new(layout, form, errors, false);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(page)?).into_response())
        }
        Err(e) => Err(e),
    }
}

/// Days off as typed, one date per line (commas too), sorted; past days are dropped.
fn days_off(raw: &str) -> Result<Vec<String>, FieldError> {
    let today = time::OffsetDateTime::now_utc().date();
    let mut days = Vec::new();
    for entry in raw
        .split(['\n', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let day = domain::request::parse_date("days_off", entry).map_err(|_| FieldError {
            field: "days_off".into(),
            message: format!("{entry:?} is not a date: write days off as YYYY-MM-DD"),
        })?;
        if day >= today {
            days.push(day.to_string());
        }
    }
    if days.len() > 366 {
        return Err(FieldError {
            field: "days_off".into(),
            message: "list at most a year of days off".into(),
        });
    }
    days.sort();
    days.dedup();
    Ok(days)
}

/// Every field parsed, or every problem at once.
impl TryFrom<&ArtistSettingsForm> for ArtistSettings {
    type Error = Vec<FieldError>;

    fn try_from(form: &ArtistSettingsForm) -> Result<Self, Vec<FieldError>> {
        use domain::request::clean_text;
        let mut errors: Vec<domain::ParseError> = Vec::new();
        let int = |field: &'static str, raw: &str| {
            raw.trim()
                .parse::<i64>()
                .map_err(|_| domain::ParseError::new(field, "enter a whole number"))
        };
        let days = form
            .work_days()
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(",");
        let availability = keep(
            &mut errors,
            domain::Availability::parse(&days, &form.work_start, &form.work_end),
        );
        let time_zone = keep(
            &mut errors,
            crate::clock::time_zone(&form.time_zone).map(|_| form.time_zone.trim().to_owned()),
        );
        let slug = keep(&mut errors, domain::Slug::parse(&form.slug));
        let bio = keep(&mut errors, clean_text("bio", &form.bio, 0, 4000));
        let city = keep(&mut errors, clean_text("city", &form.city, 2, 80));
        let country = keep(
            &mut errors,
            clean_text("country", &form.country, 2, 2).map(|c| c.to_uppercase()),
        );
        let jurisdiction = keep(
            &mut errors,
            clean_text("jurisdiction", &form.jurisdiction, 2, 10).map(|c| c.to_uppercase()),
        );
        let styles: Option<Vec<_>> = keep(
            &mut errors,
            form.chosen_styles()
                .iter()
                .map(|s| domain::Style::parse(s))
                .collect::<Result<Vec<_>, _>>(),
        );
        let chosen_currency = match form.currency.trim() {
            "" => None,
            code => keep(&mut errors, domain::Currency::parse(code)),
        };
        let session_minutes = keep(
            &mut errors,
            // Left empty (older forms, the API), sessions keep the usual three hours.
            match form.session_minutes.trim() {
                "" => Ok(180),
                m => int("session_minutes", m),
            }
            .and_then(|m| {
                ((30..=600).contains(&m) && m % 15 == 0)
                    .then_some(m)
                    .ok_or_else(|| {
                        domain::ParseError::new(
                            "session_minutes",
                            "a session lasts 30 to 600 minutes, in steps of 15",
                        )
                    })
            }),
        );
        let money = form.currency();
        let min = keep(
            &mut errors,
            money.parse_amount("price_min", &form.price_min),
        );
        let max = keep(
            &mut errors,
            money.parse_amount("price_max", &form.price_max),
        );
        let hourly = keep(
            &mut errors,
            money.parse_amount("hourly_rate", &form.hourly_rate),
        );
        let min_age = keep(
            &mut errors,
            int("min_age", &form.min_age).and_then(|a| {
                u8::try_from(a)
                    .ok()
                    .filter(|a| (16..=99).contains(a))
                    .ok_or_else(|| domain::ParseError::new("min_age", "between 16 and 99"))
            }),
        );
        let deposit_value = match form.deposit_kind.as_str() {
            "fixed" => keep(
                &mut errors,
                money.parse_amount("deposit_value", &form.deposit_value),
            ),
            _ => keep(&mut errors, int("deposit_value", &form.deposit_value)),
        };
        let numbers = [
            keep(&mut errors, int("deposit_due_days", &form.deposit_due_days)),
            keep(&mut errors, int("response_hours", &form.response_hours)),
            keep(&mut errors, int("notice_hours", &form.notice_hours)),
            keep(&mut errors, int("max_reschedules", &form.max_reschedules)),
        ];
        let policy = match (deposit_value, numbers) {
            (Some(v), [Some(d), Some(r), Some(n), Some(m)]) => keep(
                &mut errors,
                domain::BookingPolicy::parse(&form.deposit_kind, v, d, r, n, m),
            ),
            _ => None,
        };
        if let (Some(a), Some(b)) = (min, max)
            && b < a
        {
            keep(
                &mut errors,
                Err::<(), _>(domain::ParseError::new(
                    "price_max",
                    "must be at least the minimum price",
                )),
            );
        }
        match (
            slug,
            bio,
            city,
            country,
            jurisdiction,
            styles,
            min,
            max,
            hourly,
            min_age,
            policy,
        ) {
            (
                Some(slug),
                Some(bio),
                Some(city),
                Some(country),
                Some(jurisdiction),
                Some(styles),
                Some(min),
                Some(max),
                Some(hourly),
                Some(min_age),
                Some(policy),
            ) if errors.is_empty() => Ok(storage::ArtistSettings {
                slug,
                bio,
                city,
                country,
                jurisdiction,
                styles,
                price_min_cents: min,
                price_max_cents: max,
                hourly_rate_cents: hourly,
                books_open: form.books_open.is_some(),
                min_age,
                policy,
                time_zone: time_zone.unwrap_or_default(),
                availability: availability.unwrap_or_default(),
                currency: chosen_currency,
                session_minutes: session_minutes.unwrap_or(180),
            }),
            _ => Err(errors.into_iter().map(FieldError::from).collect()),
        }
    }
}

/// Keeps a parsed value, or records why it failed so every problem is reported together.
fn keep<T>(errors: &mut Vec<domain::ParseError>, r: Result<T, domain::ParseError>) -> Option<T> {
    r.map_err(|e| errors.push(e)).ok()
}
