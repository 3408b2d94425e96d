//! Liveness, readiness, metrics, version and request ids.

use crate::helpers::{spawn_app, spawn_app_with};
use reqwest::StatusCode;
use storage::testing::TestDb;

async fn readiness_reports_the_database_and_schema_version(db: TestDb) {
    let backend = db.backend.as_str();
    let app = spawn_app(db).await;
    assert_eq!(app.get("/health/live").await.status(), StatusCode::OK);
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], backend);
    assert!(body["schema_version"].as_i64().unwrap() > 0);
}

async fn readiness_is_503_with_the_reason_while_migrations_are_pending(db: TestDb) {
    let app = spawn_app_with(db, &[("TM_DATABASE_MIGRATE_ON_START", "false")]).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("pending migrations"),
        "{body}"
    );
    app.store.migrate().await.unwrap();
    assert_eq!(app.get("/health/ready").await.status(), StatusCode::OK);
}

async fn readiness_is_503_when_the_database_is_gone(db: TestDb) {
    let app = spawn_app(db).await;
    app.store.close().await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["reason"], "database unreachable");
    assert_eq!(
        app.get("/health/live").await.status(),
        StatusCode::OK,
        "liveness stays up"
    );
    app.get("/health/ready").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("marketplace_database_unreachable_total 2"),
        "each failed readiness check is counted for the DatabaseConnectionFailures alert:\n{text}"
    );
}

async fn metrics_count_requests_by_route_and_expose_business_and_pool_gauges(db: TestDb) {
    let app = spawn_app(db).await;
    app.get("/health/live").await;
    app.get("/no/such/page/123").await;
    app.sign_up("ink@example.com", "client").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for needle in [
        r#"http_requests_total{method="GET",route="/health/live",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_requests_total{method="POST",route="/sign-up",status="200"} 1"#,
        r#"http_request_duration_seconds_bucket{route="/health/live",le="30"} 1"#,
        r#"http_request_duration_seconds_bucket{route="/health/live",le="60"} 1"#,
        "http_requests_in_flight 1",
        "marketplace_registrations_total 1",
        r#"marketplace_bookings_total{state="submitted"} 0"#,
        r#"marketplace_db_pool_connections{state="idle"}"#,
        "marketplace_db_pool_max_connections 10",
        "marketplace_draining 0",
        "marketplace_database_unreachable_total 0",
        "marketplace_build_info{",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(
        !text.contains("/no/such/page/123"),
        "raw paths never become labels"
    );
}

async fn version_reports_the_build_and_the_schema(db: TestDb) {
    let app = spawn_app(db).await;
    let v: serde_json::Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(!v["commit"].as_str().unwrap().is_empty());
    assert!(v["build_time"].as_str().unwrap().contains('T'), "{v}");
    assert_eq!(v["schema_version"], v["expected_schema_version"]);
}

storage::on_both_databases!(
    readiness_reports_the_database_and_schema_version,
    readiness_is_503_with_the_reason_while_migrations_are_pending,
    readiness_is_503_when_the_database_is_gone,
    metrics_count_requests_by_route_and_expose_business_and_pool_gauges,
    version_reports_the_build_and_the_schema,
);

#[tokio::test]
async fn request_ids_are_echoed_when_given_and_generated_when_not() {
    let app = spawn_app(TestDb::sqlite()).await;
    let given = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123");
    let generated = app.get("/health/live").await;
    assert_eq!(generated.headers()["x-request-id"].len(), 36);
}

#[tokio::test]
async fn the_home_page_lists_seeded_artists_with_their_images() {
    let app = spawn_app(TestDb::sqlite()).await;
    let empty = app.get("/").await.text().await.unwrap();
    assert!(empty.contains("No artists have joined yet"));

    let summary = marketplace::seed::seed_if_empty(app.store.as_ref(), app.media.path())
        .await
        .unwrap()
        .expect("empty database is seeded");
    assert!(summary.artists >= 40 && summary.studios >= 8 && summary.bookings >= 8);
    let again = marketplace::seed::seed_if_empty(app.store.as_ref(), app.media.path())
        .await
        .unwrap();
    assert!(
        again.is_none(),
        "seeding never touches a database that has accounts"
    );

    let counts = app.store.catalogue_counts().await.unwrap();
    assert!(counts.cities >= 8, "{counts:?}");
    let by_state = app.store.booking_counts().await.unwrap();
    assert_eq!(
        by_state.len(),
        domain::BookingState::ALL.len(),
        "bookings in every state"
    );
    let cards = app.store.featured_artists(100).await.unwrap();
    let mut styles: Vec<_> = cards.iter().flat_map(|c| c.styles.clone()).collect();
    styles.sort_by_key(|s| s.slug());
    styles.dedup();
    assert!(styles.len() >= 12, "{} styles", styles.len());
    assert!(
        cards.iter().any(|c| c.studio_name.is_some())
            && cards.iter().any(|c| c.studio_name.is_none())
    );

    let home = app.get("/").await.text().await.unwrap();
    let thumb = home
        .split("src=\"/media/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("home shows a thumbnail");
    let image = app.get(&format!("/media/{thumb}")).await;
    assert_eq!(image.status(), StatusCode::OK);
    let bytes = image.bytes().await.unwrap();
    assert_eq!(&bytes[8..12], b"WEBP", "thumbnails are WebP");
    for email in marketplace::seed::DEMO_SIGN_INS.iter().map(|(e, _)| *e) {
        let found = app
            .store
            .credentials_by_email(&domain::Email::parse(email).unwrap())
            .await
            .unwrap();
        assert!(found.is_some(), "demo sign-in {email} exists");
    }

    // Artists price in their country's currency.
    for (slug, symbol) in [
        ("jonas-lindqvist", "£"),
        ("nina-petrova", "$"),
        ("ben-carter", "A$"),
        ("mara-okafor", "€"),
    ] {
        let page = app
            .get(&format!("/artists/{slug}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("/hour") && page.contains(&format!(">{symbol}")),
            "{slug}: {symbol}"
        );
    }

    // The demo artist offered on the sign-in page can be booked, and shows flash in sizes.
    assert!(summary.flash_designs >= 10, "{summary:?}");
    let mara = app.get("/artists/mara-okafor").await.text().await.unwrap();
    assert!(
        mara.contains("Books open"),
        "the sign-in demo artist takes bookings"
    );
    assert!(mara.contains("id=\"flash-heading\""), "she has flash");
    for size in ["Small", "Medium", "Large"] {
        assert!(mara.contains(size), "flash offered in {size}");
    }
    // Every thumbnail opens a full-size view that needs no script: a link to a fragment whose
    // target holds the full image, which the server serves.
    let target = mara
        .split("class=\"enlarge\"")
        .next()
        .and_then(|before| before.rsplit("href=\"#").next())
        .and_then(|rest| rest.split('"').next())
        .expect("a thumbnail links to its full-size view")
        .to_owned();
    let view = mara
        .split(&format!("id=\"{target}\""))
        .nth(1)
        .expect("the full-size view exists");
    let full = view
        .split("src=\"/media/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert!(full.ends_with(".png") && !full.contains("thumb"), "{full}");
    let image = app.get(&format!("/media/{full}")).await;
    assert_eq!(image.status(), StatusCode::OK);
    let decoded = image::load_from_memory(&image.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.width(), 480, "the full image, not the thumbnail");
}

#[tokio::test]
async fn internal_errors_render_a_500_page_and_problem_json_without_internal_detail() {
    let app = spawn_app(TestDb::sqlite()).await;
    app.sign_up("ink@example.com", "client").await;
    app.store.close().await;
    let page = app.get("/").await;
    assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Something went wrong on our side"), "{html}");
    assert!(
        !html.to_lowercase().contains("pool") && !html.contains("sqlx"),
        "{html}"
    );
    let api = app.get("/api/v1/me").await;
    assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.headers()["content-type"], "application/problem+json");
    let body = api.text().await.unwrap();
    assert!(
        !body.to_lowercase().contains("pool") && !body.contains("sqlx"),
        "{body}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_api_route() {
    let app = spawn_app(TestDb::sqlite()).await;
    let doc: serde_json::Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let same: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(doc, same, "both addresses serve one document");
    assert_eq!(
        doc,
        serde_json::to_value(marketplace::routes::openapi_document()).unwrap(),
        "the served document is the one `marketplace openapi` prints"
    );
    for path in [
        "/api/v1/accounts",
        "/api/v1/session",
        "/api/v1/me",
        "/api/v1/admin/overview",
        "/health/ready",
        "/version",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
}
