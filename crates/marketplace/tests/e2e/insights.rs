//! The admin insights page end to end: the last 30 days from the database (registrations,
//! requests, bookings, deposits, active accounts), the funnel and the slowest routes, as SVG
//! charts with their tables; daily and weekly active accounts counted once each; and the page
//! photographed in real Chromium.

use crate::audit::{admin_secret, admin_with_code};
use crate::browser::{browser, text_of};
use crate::encryption::consented;
use crate::helpers::{PASSWORD, client, get_json, spawn_app_with, totp_now};
use crate::journey::{fill, shot};
use crate::kpi::value;
use fantoccini::Locator;
use marketplace::metrics::activity::periods;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use storage::testing::TestDb;

/// The cells of the day-by-day table's row for `day`, as text.
fn day_row(page: &str, day: &str) -> Vec<String> {
    let start = page
        .find(&format!("<tr><th scope=\"row\">{day}</th>"))
        .unwrap_or_else(|| panic!("a row for {day}"));
    let row = &page[start..start + page[start..].find("</tr>").unwrap()];
    row.split("<td>")
        .skip(1)
        .map(|cell| cell.split("</td>").next().unwrap().to_owned())
        .collect()
}

async fn the_insights_page_shows_the_month_the_funnel_and_active_accounts(db: TestDb) {
    // The retention sweep runs on every jobs tick, so old activity goes while the test watches.
    let app = spawn_app_with(db, &[("TM_RETENTION_RUN_EVERY_MINUTES", "0")]).await;
    let visitor = client();
    let r = visitor
        .get(app.url("/search?style=blackwork"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (client_c, _artist_c, _base, _) = consented(&app, "ins").await;
    // However often a signed-in account comes back today, it is one active account.
    for _ in 0..3 {
        let me = get_json(&client_c, &app, "/api/v1/me").await;
        assert!(me["id"].is_i64());
    }
    let refused = client_c
        .get(app.url("/admin/insights"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "admins only");

    let admin = admin_with_code(&app).await;
    assert_eq!(admin.get("/admin").await.status(), StatusCode::OK);
    // Activity is written off the request's path: wait for the three accounts to be counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let text = client()
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if value(&text, "marketplace_kpi_active_users_total{window=\"day\"}") >= 3.0
            || Instant::now() > deadline
        {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        value(
            &metrics,
            "marketplace_kpi_active_users_total{window=\"day\"}"
        ),
        3.0,
        "client, artist and admin, each once"
    );
    assert_eq!(
        value(
            &metrics,
            "marketplace_kpi_active_users_total{window=\"week\"}"
        ),
        3.0
    );

    let response = admin.get("/admin/insights").await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    let (today, _) = periods(marketplace::clock::now());
    let row = day_row(&page, &today);
    // Registrations (the admin is not one), requests, bookings, active accounts, deposits.
    assert_eq!(row[..4], ["2", "1", "1", "3"], "{row:?}");
    assert!(
        page.contains("<th scope=\"col\">Deposits (USD)</th>"),
        "a Florida artist is paid in dollars"
    );
    assert!(row[4].starts_with('$') && row[4] != "$0.00", "{row:?}");
    assert_eq!(
        page.matches("<tr><th scope=\"row\">20").count(),
        30,
        "every one of the 30 days has a row"
    );
    // One chart per series and currency, and the funnel's: a bar per day (or step).
    assert_eq!(page.matches("<svg ").count(), 6);
    assert_eq!(page.matches("<rect class=\"bar\"").count(), 5 * 30 + 5);
    assert!(page.contains("<title>") && page.contains("role=\"img\""));
    assert!(
        page.contains("Active accounts today</dt><dd>3</dd>"),
        "{page}"
    );
    assert!(page.contains("Active accounts in the last 7 days</dt><dd>3</dd>"));
    // The funnel: a search, a request quoted and booked; each step against the one before.
    for (step, count, rate) in [
        ("search", "1", "—"),
        ("request", "1", ""),
        ("quote", "1", "100.0%"),
        ("booked", "1", "100.0%"),
    ] {
        let cells = format!("<tr><th scope=\"row\">{step}</th><td>{count}</td><td>{rate}");
        assert!(page.contains(&cells), "{cells} in the funnel table");
    }
    // The slowest routes are route templates with their latencies.
    assert!(page.contains("<code>/api/v1/booking-requests"), "{page}");
    assert!(!page.contains("ins-client@example.com"), "no personal data");

    // Activity older than the page's window goes in the retention sweep; today's stays.
    let me = get_json(&client_c, &app, "/api/v1/me").await;
    let user = domain::UserId::new(me["id"].as_i64().unwrap());
    let first = app
        .store
        .record_activity(user, &["d:2026-01-05".into(), "w:2026-W02".into()])
        .await
        .unwrap();
    assert_eq!(first, [true, true]);
    let again = app
        .store
        .record_activity(user, &["d:2026-01-05".into()])
        .await
        .unwrap();
    assert_eq!(again, [false], "a period is recorded once");
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .store
        .active_between("2026-01-01", "2026-01-31")
        .await
        .unwrap()
        > 0
    {
        assert!(Instant::now() < deadline, "old activity is swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.store.active_between(&today, &today).await.unwrap(), 3);
}

storage::on_both_databases!(the_insights_page_shows_the_month_the_funnel_and_active_accounts);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insights_page_in_a_real_browser() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    consented(&app, "look").await;
    let secret = admin_secret(&app).await;
    let result = async {
        c.goto(&app.url("/sign-in")).await?;
        fill(&c, "email", "boss@example.com").await?;
        fill(&c, "password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        let code = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Id("code"))
            .await?;
        code.send_keys(&totp_now(&secret)).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.current_url().await?.path().starts_with("/sign-in") {
            assert!(Instant::now() < deadline, "the code signed the admin in");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.goto(&app.url("/admin/insights")).await?;
        let heading = text_of(&c, "h1").await;
        assert_eq!(heading, "Insights");
        // Drawn, not just sent: every chart has a width on screen, and today's bars stand.
        let widths = c
            .execute(
                "return [...document.querySelectorAll('svg.chart-svg')] \
                 .map(s => s.getBoundingClientRect().width)",
                vec![],
            )
            .await?;
        let widths: Vec<f64> = serde_json::from_value(widths).unwrap();
        assert_eq!(widths.len(), 6);
        assert!(widths.iter().all(|w| *w > 200.0), "{widths:?}");
        let standing = c
            .execute(
                "return [...document.querySelectorAll('svg.chart-svg rect.bar')] \
                 .filter(r => r.getBBox().height > 0).length",
                vec![],
            )
            .await?;
        assert!(standing.as_u64().unwrap() >= 5, "{standing}");
        let fill_colour = c
            .execute(
                "return getComputedStyle(document.querySelector('rect.bar')).fill",
                vec![],
            )
            .await?;
        assert_ne!(
            fill_colour, "rgb(0, 0, 0)",
            "the stylesheet colours the bars"
        );
        shot(&c, "admin-insights").await?;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    c.close().await.ok();
    result.expect("the insights page in Chromium");
}
