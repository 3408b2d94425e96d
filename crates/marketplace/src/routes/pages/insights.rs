//! The admin insights page: the last 30 days, the funnel and the slowest routes.

use crate::auth::AdminUser;
use crate::error::AppError;
use crate::routes::pages::{layout, render};
use crate::services::insights;
use crate::state::AppState;
use crate::templates::format::when;
use crate::templates::insights::{DayRow, FunnelRow, InsightsPage, RouteRow, bar_chart};
use axum::extract::State;
use axum::response::Html;
use tower_sessions::Session;

/// Seconds as people read a latency: milliseconds under a second.
fn latency(seconds: f64) -> String {
    if seconds.is_infinite() {
        "over 60 s".to_owned()
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.1} s")
    }
}

#[tracing::instrument(skip_all)]
pub async fn insights_page(
    State(state): State<AppState>,
    session: Session,
    admin: AdminUser,
) -> Result<Html<String>, AppError> {
    let figures = insights::overview(&state, crate::clock::now()).await?;
    let series = |pick: fn(&insights::Day) -> i64| -> Vec<(String, i64)> {
        figures
            .days
            .iter()
            .map(|d| (d.day.clone(), pick(d)))
            .collect()
    };
    let count = |v: i64| v.to_string();
    let mut charts = vec![
        bar_chart(
            "registrations",
            "Registrations",
            &series(|d| d.registrations),
            count,
        ),
        bar_chart(
            "requests",
            "Booking requests",
            &series(|d| d.requests),
            count,
        ),
        bar_chart("bookings", "Bookings", &series(|d| d.bookings), count),
        bar_chart("active", "Active accounts", &series(|d| d.active), count),
    ];
    for (i, currency) in figures.currencies.iter().enumerate() {
        let points: Vec<(String, i64)> = figures
            .days
            .iter()
            .map(|d| (d.day.clone(), d.deposits[i]))
            .collect();
        charts.push(bar_chart(
            &format!("deposits-{}", currency.code().to_ascii_lowercase()),
            &format!("Deposits paid ({})", currency.code()),
            &points,
            |v| currency.format(v),
        ));
    }
    let funnel_points: Vec<(String, i64)> = figures
        .funnel
        .iter()
        .map(|f| {
            (
                f.step.to_owned(),
                i64::try_from(f.count).unwrap_or(i64::MAX),
            )
        })
        .collect();
    render(InsightsPage {
        layout: layout(&state, &session, Some(&admin.0)).await?,
        since: figures
            .days
            .first()
            .map(|d| d.day.clone())
            .unwrap_or_default(),
        until: figures
            .days
            .last()
            .map(|d| d.day.clone())
            .unwrap_or_default(),
        active_today: figures.active_today,
        active_this_week: figures.active_this_week,
        charts,
        currencies: figures.currencies.iter().map(|c| c.code()).collect(),
        days: figures
            .days
            .iter()
            .map(|d| DayRow {
                day: d.day.clone(),
                registrations: d.registrations,
                requests: d.requests,
                bookings: d.bookings,
                active: d.active,
                deposits: figures
                    .currencies
                    .iter()
                    .zip(&d.deposits)
                    .map(|(c, cents)| c.format(*cents))
                    .collect(),
            })
            .collect(),
        funnel_chart: bar_chart(
            "funnel",
            "Booking funnel, events per step",
            &funnel_points,
            count,
        ),
        funnel: figures
            .funnel
            .iter()
            .map(|f| FunnelRow {
                step: f.step,
                count: f.count,
                conversion: f
                    .of_previous
                    .map_or_else(|| "—".to_owned(), |p| format!("{p:.1}%")),
            })
            .collect(),
        routes: figures
            .slowest
            .iter()
            .map(|r| RouteRow {
                route: r.route.clone(),
                requests: r.requests,
                p95: latency(r.p95_seconds),
                mean: latency(r.mean_seconds),
            })
            .collect(),
        counting_since: when(state.metrics.started_at),
    })
}
