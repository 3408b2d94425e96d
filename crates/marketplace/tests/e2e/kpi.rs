//! The business KPIs, each driven by the real flow: registrations by role, the funnel from a
//! search to a booking, state changes by from/to, deposits, completed sessions, reviews,
//! messages and the artist's first response, read back from `/metrics`.

use crate::bookings::post;
use crate::encryption::consented;
use crate::helpers::{TestApp, client, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;
use storage::testing::TestDb;

/// The value of one series in the Prometheus text, or 0 when it is absent.
pub(crate) fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let r = client().get(app.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

async fn the_kpis_count_each_step_of_a_booking_as_it_commits(db: TestDb) {
    let app = spawn_app_with(db, &[]).await;
    let before = scrape(&app).await;
    for step in ["search", "profile_view", "request", "quote", "booked"] {
        let series = format!("marketplace_kpi_funnel_total{{step=\"{step}\"}}");
        assert_eq!(value(&before, &series), 0.0, "{series} starts at zero");
    }

    let visitor = client();
    let r = visitor
        .get(app.url("/search?style=blackwork"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (client_c, artist_c, base, ap_id) = consented(&app, "kpi").await;
    let r = visitor
        .get(app.url("/artists/kpi-artist"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, out) = post(
        &client_c,
        &app,
        &format!("{base}/messages"),
        json!({"body": "See you then"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{out}");
    app.db.start_session(ap_id).await;
    let (s, out) = post(
        &artist_c,
        &app,
        &format!("/api/v1/appointments/{ap_id}/complete"),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    let booking: i64 = base.rsplit('/').next().unwrap().parse().unwrap();
    let (s, out) = post(
        &client_c,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": booking, "rating": 5, "body": "Clean lines"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{out}");

    let m = scrape(&app).await;
    let expect = [
        ("marketplace_kpi_registrations_total{role=\"artist\"}", 1.0),
        ("marketplace_kpi_registrations_total{role=\"client\"}", 1.0),
        ("marketplace_kpi_funnel_total{step=\"search\"}", 1.0),
        ("marketplace_kpi_funnel_total{step=\"profile_view\"}", 1.0),
        ("marketplace_kpi_funnel_total{step=\"request\"}", 1.0),
        ("marketplace_kpi_funnel_total{step=\"quote\"}", 1.0),
        ("marketplace_kpi_funnel_total{step=\"booked\"}", 1.0),
        (
            "marketplace_kpi_booking_state_changes_total{from=\"submitted\",to=\"quoted\"}",
            1.0,
        ),
        (
            "marketplace_kpi_booking_state_changes_total{from=\"quoted\",to=\"deposit_pending\"}",
            1.0,
        ),
        (
            "marketplace_kpi_booking_state_changes_total{from=\"deposit_pending\",to=\"booked\"}",
            1.0,
        ),
        ("marketplace_kpi_deposits_recorded_total", 1.0),
        ("marketplace_kpi_sessions_completed_total", 1.0),
        ("marketplace_kpi_reviews_total", 1.0),
        ("marketplace_kpi_messages_total", 1.0),
        ("marketplace_kpi_artist_first_response_hours_count", 1.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&m, series), want, "{series}\n{m}");
    }
    // Bounded labels: no ids, addresses or names in any KPI series.
    for line in m.lines().filter(|l| l.starts_with("marketplace_kpi_")) {
        assert!(!line.contains('@') && !line.contains("kpi-"), "{line}");
    }
}

storage::on_both_databases!(the_kpis_count_each_step_of_a_booking_as_it_commits);
