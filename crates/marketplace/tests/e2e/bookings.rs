//! The booking flow through the JSON API: every transition, every forbidden transition (409 or
//! 403 for the wrong side), every foreign id (404), and notification email through a real SMTP
//! exchange with a local sink.

use crate::helpers::{TestApp, client, spawn_app, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use storage::testing::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A signed-in API client for a new account.
pub(crate) async fn account(app: &TestApp, email: &str, role: &str) -> (Client, i64) {
    app.api_account(email, role, "Api Person").await
}

/// An artist account with a profile in `jurisdiction`; returns the client and the artist id.
pub(crate) async fn artist(
    app: &TestApp,
    email: &str,
    slug: &str,
    jurisdiction: &str,
) -> (Client, i64) {
    let (c, user) = account(app, email, "artist").await;
    let profile = app
        .store
        .save_artist_settings(
            domain::UserId::new(user),
            storage::ArtistSettings {
                bio: "Blackwork and ornamental".into(),
                city: "Miami".into(),
                country: "US".into(),
                jurisdiction: jurisdiction.into(),
                styles: vec![domain::Style::Blackwork],
                price_max_cents: 90_000,
                min_age: 16,
                time_zone: "America/New_York".into(),
                ..storage::testing::artist_settings(slug)
            },
        )
        .await
        .unwrap();
    (c, profile.id.get())
}

pub(crate) fn request_body(artist: i64, dob: &str) -> Value {
    json!({"artist_id": artist, "idea": "Ornamental mandala on the sternum", "placement": "sternum",
           "size": "L", "budget": "400", "preferred_dates": "March", "date_of_birth": dob})
}

pub(crate) async fn post(
    c: &Client,
    app: &TestApp,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = c.post(app.url(path)).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn future_slot(days: i64, hour: i64) -> String {
    let t = time::OffsetDateTime::now_utc()
        .date()
        .midnight()
        .assume_utc()
        + time::Duration::days(days)
        + time::Duration::hours(hour);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn every_transition_is_reachable_by_its_own_side_and_nobody_else(db: TestDb) {
    let app = spawn_app(db).await;
    let (client_c, _) = account(&app, "client@example.com", "client").await;
    let (stranger, _) = account(&app, "stranger@example.com", "client").await;
    let (artist_c, artist_id) = artist(&app, "artist@example.com", "api-artist", "US-FL").await;
    let (other_artist, _) = artist(&app, "other@example.com", "other-artist", "GB").await;

    let (s, body) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "submitted");
    let id = body["id"].as_i64().unwrap();
    let base = format!("/api/v1/booking-requests/{id}");

    // Foreign ids are 404 for reads, actions and messages alike.
    for c in [&stranger, &other_artist] {
        assert_eq!(
            c.get(app.url(&base)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
        for action in ["quote", "accept", "withdraw", "decline"] {
            let (s, _) = post(
                c,
                &app,
                &format!("{base}/{action}"),
                json!({"price_min_cents": 100}),
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{action}");
        }
        let (s, _) = post(c, &app, &format!("{base}/messages"), json!({"body": "hi"})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        client_c
            .get(app.url("/api/v1/booking-requests/999999"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The wrong side is 403; the wrong moment is 409.
    let (s, _) = post(
        &client_c,
        &app,
        &format!("{base}/quote"),
        json!({"price_min_cents": 20000}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = post(&client_c, &app, &format!("{base}/accept"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, _) = post(&artist_c, &app, &format!("{base}/deposit-paid"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Expiry is the deadline job's alone: for people it is no route at all, as the OpenAPI
    // document's list of actions says.
    let (s, _) = post(&artist_c, &app, &format!("{base}/expire"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(&artist_c, &app, &format!("{base}/teleport"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let steps: [(&Client, &str, Value, &str); 8] = [
        (
            &artist_c,
            "request-info",
            json!({"message": "Which size exactly?"}),
            "needs_info",
        ),
        (
            &client_c,
            "provide-info",
            json!({"message": "About 15 cm"}),
            "submitted",
        ),
        (
            &artist_c,
            "quote",
            json!({"price_min_cents": 30000, "price_max_cents": 45000, "sessions": 2, "valid_days": 7}),
            "quoted",
        ),
        // Until the client accepts, the artist may take the quote back and quote again, or
        // revise it.
        (
            &artist_c,
            "withdraw-quote",
            json!({"message": "I misjudged the size"}),
            "submitted",
        ),
        (
            &artist_c,
            "quote",
            json!({"price_min_cents": 30000, "sessions": 2}),
            "quoted",
        ),
        (
            &artist_c,
            "revise-quote",
            json!({"price_min_cents": 32000, "price_max_cents": 45000, "sessions": 2, "valid_days": 7}),
            "quoted",
        ),
        (&client_c, "accept", json!({}), "deposit_pending"),
        (&artist_c, "deposit-paid", json!({}), "booked"),
    ];
    for (c, action, body, expected) in steps {
        if action == "revise-quote" {
            let (s, _) = post(&client_c, &app, &format!("{base}/{action}"), body.clone()).await;
            assert_eq!(
                s,
                StatusCode::FORBIDDEN,
                "the quote is the artist's to revise"
            );
        }
        let (s, out) = post(c, &app, &format!("{base}/{action}"), body).await;
        assert_eq!(s, StatusCode::OK, "{action}: {out}");
        assert_eq!(out["state"], expected, "{action}");
        if action == "revise-quote" {
            assert_eq!(out["quote"]["price_min_cents"], 32000, "{out}");
        }
        if action == "withdraw-quote" {
            assert!(out["quote"].is_null(), "{out}");
        }
    }
    for action in ["revise-quote", "withdraw-quote"] {
        let (s, out) = post(
            &artist_c,
            &app,
            &format!("{base}/{action}"),
            json!({"price_min_cents": 1000}),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "an accepted quote is final: {out}");
    }

    let (s, ap) = post(
        &artist_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": future_slot(7, 10), "minutes": 180}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ap}");
    let (s, clash) = post(
        &artist_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": future_slot(7, 11), "minutes": 60}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{clash}");
    let (s, _) = post(
        &client_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": future_slot(8, 10), "minutes": 60}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let ap_id = ap["id"].as_i64().unwrap();
    let ap_base = format!("/api/v1/appointments/{ap_id}");

    let (s, _) = post(&artist_c, &app, &format!("{ap_base}/complete"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "not before consent");
    let (s, body) = post(
        &client_c,
        &app,
        &format!("{ap_base}/consent"),
        json!({"medical_notes": "", "confirms_age": true}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "aftercare must be acknowledged: {body}"
    );
    let (s, _) = post(&stranger, &app, &format!("{ap_base}/consent"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let consent = json!({"medical_notes": "Takes blood thinners", "allergies": "Latex",
                         "confirms_age": true, "aftercare_acknowledged": true, "photo_permission": false});
    let (s, body) = post(
        &client_c,
        &app,
        &format!("{ap_base}/consent"),
        consent.clone(),
    )
    .await;
    assert_eq!(
        (s, body["state"].as_str()),
        (StatusCode::OK, Some("confirmed")),
        "{body}"
    );
    // The artist reads the signed answers; both parties can download the record; nobody else.
    let detail: Value = artist_c
        .get(app.url(&base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signed = &detail["consents"][0];
    assert_eq!(
        (
            signed["allergies"].as_str(),
            signed["medical_notes"].as_str()
        ),
        (Some("Latex"), Some("Takes blood thinners")),
        "{detail}"
    );
    assert_eq!(signed["appointment_id"], ap_id);
    let pdf_path = format!("/bookings/{id}/sessions/{ap_id}/consent.pdf");
    for c in [&artist_c, &client_c] {
        let r = c.get(app.url(&pdf_path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/pdf");
        assert_eq!(r.headers()["cache-control"], "private, no-store");
        assert!(r.bytes().await.unwrap().starts_with(b"%PDF-"));
    }
    for c in [&stranger, &other_artist] {
        let r = c.get(app.url(&pdf_path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // A signed form is final: signing again is refused, and the database itself refuses edits.
    let (s, _) = post(&client_c, &app, &format!("{ap_base}/consent"), consent).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let edit = app
        .db
        .execute("UPDATE consents SET allergies = '' WHERE allergies <> ''")
        .await;
    assert!(
        edit.as_ref()
            .is_err_and(|e| e.to_string().contains("consents_immutable")),
        "{edit:?}"
    );
    // A week ahead it cannot be completed yet: that would open a review for work not done.
    let (s, body) = post(&artist_c, &app, &format!("{ap_base}/complete"), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    app.db.start_session(ap_id).await;
    let (s, body) = post(&artist_c, &app, &format!("{ap_base}/complete"), json!({})).await;
    assert_eq!(
        (s, body["state"].as_str()),
        (StatusCode::OK, Some("completed"))
    );

    let (s, _) = post(
        &artist_c,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": id, "rating": 5}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(
        &stranger,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": id, "rating": 5}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &client_c,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": id, "rating": 9}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, body) = post(
        &client_c,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": id, "rating": 5, "body": "Superb linework"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = post(
        &client_c,
        &app,
        "/api/v1/reviews",
        json!({"booking_id": id, "rating": 4}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let profile: Value = client()
        .get(app.url(&format!("/api/v1/artists/{artist_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            profile["rating_count"].as_i64(),
            profile["rating_centi"].as_i64()
        ),
        (Some(1), Some(500))
    );

    // Messages: both sides, unread counts, and nothing for strangers.
    let (s, _) = post(
        &client_c,
        &app,
        &format!("{base}/messages"),
        json!({"body": "Thank you!"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = post(
        &client_c,
        &app,
        &format!("{base}/messages"),
        json!({"body": "   "}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let list: Value = artist_c
        .get(app.url("/api/v1/booking-requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["unread_messages"], 1);
    let thread: Value = artist_c
        .get(app.url(&format!("{base}/messages")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(thread[0]["body"], "Thank you!");
    assert_eq!(
        stranger
            .get(app.url(&format!("{base}/messages")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // The other exits: decline, withdraw, cancel, no-show, reschedule.
    let (_, r2) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    let (s, out) = post(
        &artist_c,
        &app,
        &format!("/api/v1/booking-requests/{}/decline", r2["id"]),
        json!({"message": "Not my style"}),
    )
    .await;
    assert_eq!(
        (s, out["state"].as_str()),
        (StatusCode::OK, Some("declined"))
    );
    let (_, r3) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    let (s, out) = post(
        &client_c,
        &app,
        &format!("/api/v1/booking-requests/{}/withdraw", r3["id"]),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, out["state"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );

    let (_, r4) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    let b4 = format!("/api/v1/booking-requests/{}", r4["id"]);
    post(
        &artist_c,
        &app,
        &format!("{b4}/quote"),
        json!({"price_min_cents": 10000, "sessions": 3}),
    )
    .await;
    post(&client_c, &app, &format!("{b4}/accept"), json!({})).await;
    post(&artist_c, &app, &format!("{b4}/deposit-paid"), json!({})).await;
    let mut ids = Vec::new();
    for day in [20, 21, 22] {
        let (s, ap) = post(
            &artist_c,
            &app,
            &format!("{b4}/appointments"),
            json!({"starts_at": future_slot(day, 9), "minutes": 60}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{ap}");
        ids.push(ap["id"].as_i64().unwrap());
    }
    let (s, out) = post(
        &client_c,
        &app,
        &format!("/api/v1/appointments/{}/reschedule", ids[0]),
        json!({"starts_at": future_slot(30, 9), "minutes": 60}),
    )
    .await;
    assert_eq!(
        (s, out["state"].as_str()),
        (StatusCode::OK, Some("scheduled")),
        "{out}"
    );
    let (s, out) = post(
        &client_c,
        &app,
        &format!("/api/v1/appointments/{}/cancel", ids[1]),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, out["state"].as_str()),
        (StatusCode::OK, Some("cancelled_by_client"))
    );
    app.db.start_session(ids[2]).await;
    let (s, out) = post(
        &artist_c,
        &app,
        &format!("/api/v1/appointments/{}/no-show", ids[2]),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, out["state"].as_str()),
        (StatusCode::OK, Some("no_show"))
    );
    let (s, _) = post(
        &client_c,
        &app,
        &format!("/api/v1/appointments/{}/no-show", ids[2]),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(
        &artist_c,
        &app,
        &format!("/api/v1/appointments/{}/cancel", ids[2]),
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let metrics = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("marketplace_booking_transitions_total{action=\"quote\"} 3")
            && metrics.contains("marketplace_booking_transitions_total{action=\"revise-quote\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("marketplace_engagement_total{event=\"message\"} 1"));
}

async fn under_age_requests_are_refused_with_the_jurisdictions_rule(db: TestDb) {
    let app = spawn_app(db).await;
    let (client_c, _) = account(&app, "teen@example.com", "client").await;
    let (_, gb) = artist(&app, "gb@example.com", "london-ink", "GB").await;
    let (_, fl) = artist(&app, "fl@example.com", "miami-ink", "US-FL").await;
    let seventeen =
        (time::OffsetDateTime::now_utc().date() - time::Duration::days(17 * 365 + 30)).to_string();

    let (s, body) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(gb, &seventeen),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let why = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        why.contains("United Kingdom") && why.contains("18"),
        "{why}"
    );

    let (s, body) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(fl, &seventeen),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "Florida allows 16+ with a parent's consent: {body}"
    );
    assert_eq!(body["needs_guardian"], true);

    let (artist_c, _) = account(&app, "notaclient@example.com", "artist").await;
    let (s, _) = post(
        &artist_c,
        &app,
        "/api/v1/booking-requests",
        request_body(gb, "1990-01-01"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = post(
        &client(),
        &app,
        "/api/v1/booking-requests",
        request_body(gb, "1990-01-01"),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

storage::on_both_databases!(
    every_transition_is_reachable_by_its_own_side_and_nobody_else,
    under_age_requests_are_refused_with_the_jurisdictions_rule,
    sessions_outside_the_artists_working_week_are_refused,
    reference_images_travel_with_an_api_request_or_not_at_all,
);

/// The request's fields as multipart text parts, with `images` as files.
pub(crate) fn request_upload(
    artist: i64,
    dob: &str,
    images: Vec<Vec<u8>>,
) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in request_body(artist, dob).as_object().unwrap() {
        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        form = form.text(k.clone(), text);
    }
    for (i, bytes) in images.into_iter().enumerate() {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(format!("ref-{i}.png"));
        form = form.part("references", part);
    }
    form
}

pub(crate) async fn send_upload(
    c: &Client,
    app: &TestApp,
    form: reqwest::multipart::Form,
) -> (StatusCode, Value) {
    let r = c
        .post(app.url("/api/v1/booking-requests"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn reference_images_travel_with_an_api_request_or_not_at_all(db: TestDb) {
    let app = spawn_app(db).await;
    let (artist_c, artist_id) =
        artist(&app, "refs-artist@example.com", "refs-artist", "US-FL").await;
    let (c, _) = account(&app, "refs-client@example.com", "client").await;
    // Mail is written under the media folder too; only the references count here.
    let stored = || crate::uploads::walk(&app.media.path().join("references")).len();
    let png = crate::uploads::png;

    // Two images with the request: both are re-encoded, stored and listed on it.
    let (status, req) = send_upload(
        &c,
        &app,
        request_upload(artist_id, "1990-01-01", vec![png(640, 480), png(300, 300)]),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{req}");
    assert_eq!(stored(), 4, "two images and two thumbnails");
    let id = req["id"].as_i64().unwrap();
    let r = c
        .get(app.url(&format!("/api/v1/booking-requests/{id}")))
        .send()
        .await
        .unwrap();
    let detail: Value = r.json().await.unwrap();
    let refs = detail["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2, "{detail}");
    let image = c
        .get(app.url(&format!("/media/{}", refs[0][0].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    let bytes = image.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "re-encoded as JPEG");
    // The artist sees them too.
    let r = artist_c
        .get(app.url(&format!("/api/v1/booking-requests/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["references"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The images are the two parties' alone: not a stranger's, not anonymous, and never
    // cached by shared caches.
    let thumb = format!("/media/{}", refs[0][1].as_str().unwrap());
    let r = artist_c.get(app.url(&thumb)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/webp");
    assert_eq!(r.headers()["cache-control"], "private, max-age=3600");
    let (stranger, _) = account(&app, "refs-stranger@example.com", "client").await;
    let r = stranger.get(app.url(&thumb)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = client().get(app.url(&thumb)).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK, "anonymous");
    assert!(
        !r.bytes().await.unwrap().starts_with(b"RIFF"),
        "no image bytes"
    );
    // An encoded slash has no canonical spelling (400); an implausible key is no key (404).
    for (probe, status) in [
        (
            "/media/references/1/..%2F..%2Fetc%2Fpasswd.jpg",
            StatusCode::BAD_REQUEST,
        ),
        ("/media/references/x/a.jpg", StatusCode::NOT_FOUND),
    ] {
        let r = c.get(app.url(probe)).send().await.unwrap();
        assert_eq!(r.status(), status, "{probe}");
    }

    // Something that is not an image: 422 on `references`, and nothing new is kept.
    let (status, problem) = send_upload(
        &c,
        &app,
        request_upload(
            artist_id,
            "1990-01-01",
            vec![png(200, 200), b"GIF89a not really".to_vec()],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "references", "{problem}");
    assert_eq!(stored(), 4, "the first, valid image was removed again");

    // Good images but a refused request (under age in Florida): the images go too.
    let (status, problem) = send_upload(
        &c,
        &app,
        request_upload(artist_id, "2015-01-01", vec![png(200, 200)]),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "date_of_birth", "{problem}");
    assert_eq!(stored(), 4);

    // Too many files, a missing artist id, and an artist account: refused, nothing stored.
    let (status, _) = send_upload(
        &c,
        &app,
        request_upload(artist_id, "1990-01-01", vec![png(10, 10); 5]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let form = reqwest::multipart::Form::new().text("idea", "No artist named here at all");
    let (status, problem) = send_upload(&c, &app, form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "artist_id", "{problem}");
    let (status, _) = send_upload(
        &artist_c,
        &app,
        request_upload(artist_id, "1990-01-01", vec![png(50, 50)]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An artist that does not exist is a 404, as in JSON.
    let (status, _) = send_upload(
        &c,
        &app,
        request_upload(999_999, "1990-01-01", vec![png(50, 50)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(stored(), 4);
}

/// A minimal SMTP server: accepts every message and hands its raw text to the test.
async fn smtp_sink() -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(buf) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap()).unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            buf.push_str(&line);
                            buf.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_change_is_emailed_once_through_smtp() {
    let (port, mut inbox) = smtp_sink().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_MAIL_TRANSPORT", "smtp"),
            ("TM_MAIL_SMTP_URL", &url),
            ("TM_JOBS_INTERVAL_MS", "100"),
        ],
    )
    .await;
    let (client_c, _) = account(&app, "mailme@example.com", "client").await;
    let (artist_c, artist_id) = artist(&app, "inbox@example.com", "mail-artist", "GB").await;
    let (_, req) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    let base = format!("/api/v1/booking-requests/{}", req["id"]);
    post(
        &artist_c,
        &app,
        &format!("{base}/quote"),
        json!({"price_min_cents": 25000}),
    )
    .await;

    let mut mails = Vec::new();
    while mails.len() < 2 {
        let mail = tokio::time::timeout(std::time::Duration::from_secs(10), inbox.recv())
            .await
            .expect("the outbox worker delivers within 10 s")
            .unwrap();
        // The two new accounts' confirmation emails go out through the same outbox.
        if mail.contains("Confirm your email address") {
            continue;
        }
        mails.push(mail);
    }
    assert!(
        mails[0].contains("To: \"Api Person\" <inbox@example.com>")
            || mails[0].contains("inbox@example.com"),
        "{}",
        mails[0]
    );
    // Each says what happened and what to do next, as plain text with an HTML alternative.
    assert!(
        mails[0].contains("Subject: Api Person's booking request #")
            && mails[0].contains("waiting for your reply")
            && mails[0].contains("send a quote, ask a question or decline"),
        "{}",
        mails[0]
    );
    for mail in &mails {
        assert!(
            mail.contains("multipart/alternative")
                && mail.contains("Content-Type: text/plain")
                && mail.contains("Content-Type: text/html"),
            "{mail}"
        );
    }
    assert!(
        mails[1].contains("mailme@example.com") && mails[1].contains("sent you a quote"),
        "{}",
        mails[1]
    );
    assert!(
        mails[1].contains(&format!("/bookings/{}", req["id"])),
        "links to the request"
    );
    // Several more worker ticks pass: nothing is sent twice.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(inbox.try_recv().is_err(), "a notification was sent twice");
    assert_eq!(app.store.pending_notifications().await.unwrap(), 0);
}

#[test]
fn arbitrary_bodies_to_the_booking_endpoints_never_cause_a_server_error() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app(TestDb::sqlite()));
    let (client_c, id, token) = runtime.block_on(async {
        let (client_c, _) = account(&app, "fuzz@example.com", "client").await;
        let (_, artist_id) = artist(&app, "fuzz-artist@example.com", "fuzz-artist", "GB").await;
        let (_, req) = post(
            &client_c,
            &app,
            "/api/v1/booking-requests",
            request_body(artist_id, "1990-01-01"),
        )
        .await;
        let html = client_c
            .get(app.url("/dashboard"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let token = crate::helpers::csrf_in(&html).unwrap();
        (client_c, req["id"].as_i64().unwrap(), token)
    });
    let endpoints: Vec<(String, &str)> = vec![
        ("/api/v1/booking-requests".into(), "application/json"),
        (
            format!("/api/v1/booking-requests/{id}/quote"),
            "application/json",
        ),
        (
            format!("/api/v1/booking-requests/{id}/provide-info"),
            "application/json",
        ),
        (
            format!("/api/v1/booking-requests/{id}/appointments"),
            "application/json",
        ),
        (
            format!("/api/v1/booking-requests/{id}/messages"),
            "application/json",
        ),
        ("/api/v1/appointments/1/consent".into(), "application/json"),
        ("/api/v1/reviews".into(), "application/json"),
        (
            "/artists/fuzz-artist/book".into(),
            "multipart/form-data; boundary=x",
        ),
        (
            format!("/bookings/{id}/do/withdraw"),
            "application/x-www-form-urlencoded",
        ),
        (
            format!("/bookings/{id}/messages"),
            "application/x-www-form-urlencoded",
        ),
        ("/search?q=%FF%FE&page=99999999999".into(), "text/plain"),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(
            &(
                0usize..endpoints.len(),
                proptest::collection::vec(any::<u8>(), 0..600),
                any::<bool>(),
            ),
            |(i, fuzz, structured)| {
                let (path, ct) = &endpoints[i];
                let body = match (*ct, structured) {
                    ("application/x-www-form-urlencoded", _) => {
                        let mut b = format!("csrf_token={token}&").into_bytes();
                        b.extend_from_slice(&fuzz);
                        b
                    }
                    ("application/json", true) => {
                        // Valid JSON with fuzzed values reaches the parsers, not just serde.
                        let text = String::from_utf8_lossy(&fuzz).into_owned();
                        json!({"artist_id": fuzz.len(), "idea": text, "date_of_birth": text, "size": text,
                               "price_min_cents": -(fuzz.len() as i64), "sessions": text, "starts_at": text,
                               "minutes": fuzz.len(), "body": text, "rating": fuzz.first(), "booking_id": id,
                               "message": text})
                        .to_string()
                        .into_bytes()
                    }
                    _ => fuzz,
                };
                let method = if ct.starts_with("text/plain") { reqwest::Method::GET } else { reqwest::Method::POST };
                let status = runtime.block_on(async {
                    client_c
                        .request(method, app.url(path))
                        .header("content-type", *ct)
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

async fn sessions_outside_the_artists_working_week_are_refused(db: TestDb) {
    let app = spawn_app(db).await;
    let (client_c, _) = account(&app, "weekday@example.com", "client").await;
    let (artist_c, user) = account(&app, "hours@example.com", "artist").await;
    let profile = app
        .store
        .save_artist_settings(
            domain::UserId::new(user),
            storage::ArtistSettings {
                city: "Berlin".into(),
                country: "DE".into(),
                jurisdiction: "DE".into(),
                styles: vec![domain::Style::Dotwork],
                time_zone: "Europe/Berlin".into(),
                availability: domain::Availability::parse("mon,tue,wed,thu,fri", "10:00", "18:00")
                    .unwrap(),
                ..storage::testing::artist_settings("office-hours")
            },
        )
        .await
        .unwrap();
    let (_, req) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(profile.id.get(), "1990-01-01"),
    )
    .await;
    let base = format!("/api/v1/booking-requests/{}", req["id"]);
    post(
        &artist_c,
        &app,
        &format!("{base}/quote"),
        json!({"price_min_cents": 15000, "sessions": 2}),
    )
    .await;
    post(&client_c, &app, &format!("{base}/accept"), json!({})).await;
    post(&artist_c, &app, &format!("{base}/deposit-paid"), json!({})).await;

    let mut day = time::OffsetDateTime::now_utc().date() + time::Duration::days(7);
    while day.weekday() != time::Weekday::Saturday {
        day = day.next_day().unwrap();
    }
    let at = |d: time::Date, hh: u8| format!("{d}T{hh:02}:00:00+01:00");
    let (s, body) = post(
        &artist_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": at(day, 11), "minutes": 60}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Mon Tue Wed Thu Fri, 10:00–18:00"),
        "{body}"
    );
    let monday = day.next_day().unwrap().next_day().unwrap();
    let (s, _) = post(
        &artist_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": at(monday, 17), "minutes": 120}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "runs past 18:00");
    let (s, ap) = post(
        &artist_c,
        &app,
        &format!("{base}/appointments"),
        json!({"starts_at": at(monday, 11), "minutes": 120}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ap}");
    let (s, _) = post(
        &client_c,
        &app,
        &format!("/api/v1/appointments/{}/reschedule", ap["id"]),
        json!({"starts_at": at(day, 11), "minutes": 60}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reschedule must fit the working week too"
    );
}
