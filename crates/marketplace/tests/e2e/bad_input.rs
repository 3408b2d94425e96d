//! Bad input of every kind gets a clear 4xx in the caller's format, never a 500.

use crate::helpers::{spawn_app, spawn_app_with};
use proptest::prelude::*;
use reqwest::StatusCode;
use storage::testing::TestDb;

fn content_type(r: &reqwest::Response) -> String {
    r.headers()["content-type"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn oversized_bodies_get_413_as_html_for_forms_and_problem_json_for_the_api() {
    let app = spawn_app_with(TestDb::sqlite(), &[("TM_SERVER_BODY_LIMIT_BYTES", "4096")]).await;
    let token = app.csrf("/sign-up").await;
    let big = "x".repeat(10_000);
    let form = app
        .post_form(
            "/sign-up",
            &[("csrf_token", &token), ("display_name", &big)],
        )
        .await;
    assert_eq!(form.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(content_type(&form).starts_with("text/html"));
    let api = app
        .client
        .post(app.url("/api/v1/accounts"))
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type(&api), "application/problem+json");
}

#[tokio::test]
async fn malformed_json_wrong_content_types_and_unknown_roles_are_explained() {
    let app = spawn_app(TestDb::sqlite()).await;
    let post = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/api/v1/accounts"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let broken = post("{\"email\": ", "application/json").await.unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    assert_eq!(content_type(&broken), "application/problem+json");
    let wrong_type = post("email=a", "text/plain").await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let wrong_shape = post("[1,2,3]", "application/json").await.unwrap();
    assert_eq!(wrong_shape.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let role = post(
        r#"{"email":"a@example.com","password":"koi carp sleeve 1998","display_name":"A","role":"admin"}"#,
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(role.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: serde_json::Value = role.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "role", "{problem}");
    assert_eq!(problem["status"], 422);

    let form_as_json = app
        .client
        .post(app.url("/sign-up"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(form_as_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(content_type(&form_as_json).starts_with("text/html"));
    let wrong_method = app.client.delete(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        wrong_method
            .text()
            .await
            .unwrap()
            .contains("does not accept that method")
    );
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn invalid_utf8_in_a_form_is_a_clear_4xx() {
    let app = spawn_app(TestDb::sqlite()).await;
    let token = app.csrf("/sign-up").await;
    let mut body = format!("csrf_token={token}&display_name=").into_bytes();
    body.extend_from_slice(&[0xff, 0xfe, b'%', b'F', b'F']);
    body.extend_from_slice(b"&email=%C3%28@example.com&password=koi+carp+sleeve+1998&role=client");
    let response = app
        .client
        .post(app.url("/sign-up"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

#[tokio::test]
async fn an_expired_session_gets_a_clear_answer_on_pages_forms_and_the_api() {
    let app = spawn_app(TestDb::sqlite()).await;
    app.sign_up("ink@example.com", "client").await;
    let token = crate::helpers::csrf_in(&app.get("/account").await.text().await.unwrap()).unwrap();
    // Expire every session server-side, as the idle timeout would.
    let pool = sqlx::SqlitePool::connect(app.db.url_str()).await.unwrap();
    sqlx::query("DELETE FROM tower_sessions")
        .execute(&pool)
        .await
        .unwrap();

    let page = app.get("/account").await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let form = app.post_form("/sign-out", &[("csrf_token", &token)]).await;
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    assert!(form.text().await.unwrap().contains("expired"));
    let api = app.get("/api/v1/me").await;
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    let problem: serde_json::Value = api.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
}

#[test]
fn arbitrary_bodies_to_every_write_endpoint_never_cause_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app(TestDb::sqlite()));
    let token = runtime.block_on(app.csrf("/sign-up"));
    let endpoints: [(&str, &str); 5] = [
        ("/sign-up", "application/x-www-form-urlencoded"),
        ("/sign-in", "application/x-www-form-urlencoded"),
        ("/api/v1/accounts", "application/json"),
        ("/api/v1/session", "application/json"),
        ("/sign-up", "multipart/form-data; boundary=x"),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    runner
        .run(
            &(
                0usize..endpoints.len(),
                proptest::collection::vec(any::<u8>(), 0..600),
                any::<bool>(),
            ),
            |(i, fuzz, with_token)| {
                let (path, ct) = endpoints[i];
                let mut body = if with_token && ct.starts_with("application/x-www") {
                    format!("csrf_token={token}&").into_bytes()
                } else {
                    Vec::new()
                };
                body.extend_from_slice(&fuzz);
                let status = runtime.block_on(async {
                    app.client
                        .post(app.url(path))
                        .header("content-type", ct)
                        .body(body)
                        .send()
                        .await
                        .unwrap()
                        .status()
                });
                prop_assert!(!status.is_server_error(), "{path} answered {status}");
                Ok(())
            },
        )
        .unwrap();
}
