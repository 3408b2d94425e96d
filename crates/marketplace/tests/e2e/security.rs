//! Security headers, CSRF on forms and the API, and cache headers for hashed assets.

use crate::helpers::spawn_app;
use reqwest::StatusCode;
use storage::testing::TestDb;

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app(TestDb::sqlite()).await;
    let home = app.get("/").await.text().await.unwrap();
    let css = home
        .split("href=\"/static/app.")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|rest| format!("/static/app.{rest}"))
        .expect("stylesheet link");
    for path in [
        "/",
        "/sign-in",
        "/health/live",
        "/metrics",
        "/nope",
        "/api/v1/me",
        css.as_str(),
    ] {
        let response = app.get(path).await;
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        assert!(h.contains_key("permissions-policy"), "{path}");
    }
    assert!(
        !home.contains("<script>") && !home.contains("style=\""),
        "no inline script or style"
    );
}

#[tokio::test]
async fn hashed_static_assets_are_cached_forever_and_unhashed_names_are_not_served() {
    let app = spawn_app(TestDb::sqlite()).await;
    let home = app.get("/").await.text().await.unwrap();
    let href = home
        .split("href=\"")
        .find_map(|s| {
            s.split('"')
                .next()
                .filter(|h| h.starts_with("/static/app.") && h.ends_with(".css"))
        })
        .unwrap()
        .to_owned();
    let css = app.get(&href).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        app.get("/static/app.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app(TestDb::sqlite()).await;
    app.csrf("/sign-up").await;
    let forged = app
        .post_form(
            "/sign-up",
            &[
                ("csrf_token", "0000"),
                ("display_name", "X"),
                ("email", "x@example.com"),
                ("password", crate::helpers::PASSWORD),
                ("role", "client"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(forged.text().await.unwrap().contains("Reload the page"));
    let missing = app.post_form("/sign-out", &[]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn cross_site_writes_to_the_api_are_refused() {
    let app = spawn_app(TestDb::sqlite()).await;
    let body = serde_json::json!({
        "email": "api@example.com", "password": crate::helpers::PASSWORD, "display_name": "A", "role": "client"
    });
    let cross_site = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("sec-fetch-site", "cross-site")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        cross_site.headers()["content-type"],
        "application/problem+json"
    );
    let foreign_origin = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("origin", "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.store.count_users().await.unwrap(), 0);

    let host = app.address.trim_start_matches("http://").to_owned();
    let same_origin = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("origin", format!("http://{host}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::CREATED);
}
