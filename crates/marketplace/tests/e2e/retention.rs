//! Retention: once a request closes, its reference photos (objects and rows) and message bodies
//! go after the configured periods, open requests keep theirs, unconfirmed accounts expire, and
//! the public page shows the periods in force.

use crate::bookings::{artist, post, request_upload, send_upload};
use crate::helpers::spawn_app_with;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use storage::testing::TestDb;

async fn closed_requests_lose_photos_and_message_bodies_and_unconfirmed_accounts_expire(
    db: TestDb,
) {
    let app = spawn_app_with(
        db,
        &[
            ("TM_RETENTION_REFERENCE_PHOTOS_DAYS", "0"),
            ("TM_RETENTION_MESSAGE_BODIES_DAYS", "0"),
            // A day: with none, the sweep could remove this test's own accounts in the moment
            // between registering and confirming them. The rule itself is checked below.
            ("TM_RETENTION_UNVERIFIED_ACCOUNTS_DAYS", "1"),
            ("TM_RETENTION_RUN_EVERY_MINUTES", "0"),
        ],
    )
    .await;
    let page = app.get("/privacy/retention").await.text().await.unwrap();
    assert!(page.contains("<td id=\"keep-references\">0 days after the request closes"));

    let (artist_c, artist_id) =
        artist(&app, "keep-artist@example.com", "keep-artist", "US-FL").await;
    let (client_c, _) = app
        .api_account("keep-client@example.com", "client", "Api Person")
        .await;
    let photo = || vec![crate::uploads::png(200, 200)];
    let (s, closing) = send_upload(
        &client_c,
        &app,
        request_upload(artist_id, "1990-01-01", photo()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{closing}");
    let (s, open) = send_upload(
        &client_c,
        &app,
        request_upload(artist_id, "1990-01-01", photo()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{open}");
    for id in [&closing["id"], &open["id"]] {
        let (s, _) = post(
            &client_c,
            &app,
            &format!("/api/v1/booking-requests/{id}/messages"),
            json!({"body": "Here is the placement I meant"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let references = || crate::uploads::walk(&app.media.path().join("references")).len();
    assert_eq!(references(), 4);
    // An unconfirmed sign-up, and the (confirmed) accounts above.
    let token = app.csrf("/sign-up").await;
    let r = app
        .post_form(
            "/sign-up",
            &[
                ("csrf_token", &token),
                ("display_name", "Never Confirmed"),
                ("email", "typo@example.com"),
                ("password", crate::helpers::PASSWORD),
                ("role", "client"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let (s, out) = post(
        &artist_c,
        &app,
        &format!("/api/v1/booking-requests/{}/decline", closing["id"]),
        json!({"message": "Not my style"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");

    // The sweep runs on the jobs loop; a closed request's photos go once a second has passed.
    let started = Instant::now();
    while references() != 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "photos still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let thread = |id: &Value| format!("/api/v1/booking-requests/{id}/messages");
    let messages = |body: Value| body.as_array().cloned().unwrap_or_default();
    let closed: Value = crate::helpers::get_json(&client_c, &app, &thread(&closing["id"])).await;
    let still: Value = crate::helpers::get_json(&client_c, &app, &thread(&open["id"])).await;
    let closed = messages(closed);
    assert!(
        !closed.is_empty() && closed.iter().all(|m| m["body"] == ""),
        "{closed:?}"
    );
    assert!(
        messages(still).iter().all(|m| m["body"] != ""),
        "an open thread keeps its words"
    );
    let detail: Value = crate::helpers::get_json(
        &client_c,
        &app,
        &format!("/api/v1/booking-requests/{}", closing["id"]),
    )
    .await;
    assert_eq!(detail["references"], json!([]), "{detail}");
    let kept: Value = crate::helpers::get_json(
        &client_c,
        &app,
        &format!("/api/v1/booking-requests/{}", open["id"]),
    )
    .await;
    assert_eq!(kept["references"].as_array().unwrap().len(), 1);

    // A day later, the unconfirmed account goes and the confirmed ones stay.
    let gone = domain::Email::parse("typo@example.com").unwrap();
    let store = app.store.clone();
    let exists = |e: domain::Email| {
        let store = store.clone();
        async move { store.credentials_by_email(&e).await.unwrap().is_some() }
    };
    assert!(exists(gone.clone()).await);
    let tomorrow = time::OffsetDateTime::now_utc().unix_timestamp() + 86_400;
    assert_eq!(
        app.store
            .expire_unverified_accounts(tomorrow)
            .await
            .unwrap(),
        1
    );
    assert!(!exists(gone).await);
    let stays = domain::Email::parse("keep-client@example.com").unwrap();
    assert!(
        app.store
            .credentials_by_email(&stays)
            .await
            .unwrap()
            .is_some()
    );
    let swept = app
        .store
        .audit_entries(&Default::default(), 1_000)
        .await
        .unwrap();
    assert!(swept.iter().any(|e| e.action == "retention.swept"));

    // The cut-off counts from when a request closed: nothing closed a month ago.
    let month_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 30 * 86_400;
    assert!(
        app.store
            .expired_references(month_ago, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

storage::on_both_databases!(
    closed_requests_lose_photos_and_message_bodies_and_unconfirmed_accounts_expire
);
