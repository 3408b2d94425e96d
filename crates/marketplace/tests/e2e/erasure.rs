//! Erasure of one's account (GDPR art. 17, CCPA "delete") end to end: refused while a booking is
//! open, scheduled with the password, called off from the emailed link, then carried out by the
//! jobs loop; read back raw, the database and the object store hold nothing of the person but
//! what the law keeps, and the artist's thread shows "Deleted user".

use crate::bookings::post;
use crate::encryption::consented;
use crate::helpers::{PASSWORD, TestApp, csrf_in, email_containing, holds, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};
use storage::testing::TestDb;

const SECRET_IDEA_WORD: &str = "Quetzalcoatl";

/// A logical copy of the whole database, as bytes: `pg_dump`, or SQLite's `VACUUM INTO`, which
/// leaves out freed pages (they are not data, and a real erasure is judged on what is readable).
async fn logical_copy(db: &TestDb, dir: &std::path::Path) -> Vec<u8> {
    let url = db.url_str();
    if url.starts_with("sqlite:") {
        let copy = dir.join("copy.db");
        let _ = std::fs::remove_file(&copy);
        db.execute(&format!("VACUUM INTO '{}'", copy.display()))
            .await
            .unwrap();
        std::fs::read(copy).unwrap()
    } else {
        let out = std::process::Command::new("pg_dump")
            .args(["--data-only", url])
            .output()
            .expect("pg_dump (PostgreSQL client tools)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

async fn page(c: &Client, app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn ask(c: &Client, app: &TestApp, password: &str) -> (StatusCode, String) {
    let (_, html) = page(c, app, "/account/delete").await;
    let token = csrf_in(&html).expect("the form's token");
    let r = c
        .post(app.url("/account/delete"))
        .form(&[("csrf_token", token.as_str()), ("password", password)])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn audited(app: &TestApp) -> Vec<String> {
    app.store
        .audit_entries(&Default::default(), 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn status_of(app: &TestApp, user: i64) -> String {
    app.store
        .erasure_of(domain::UserId::new(user))
        .await
        .unwrap()
        .map(|r| r.status)
        .unwrap_or_default()
}

async fn wait_for(app: &TestApp, user: i64, status: &str) {
    let started = Instant::now();
    while status_of(app, user).await != status {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "erasure not {status}: {}",
            status_of(app, user).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn an_account_is_erased_after_its_grace_period_keeping_only_what_the_law_requires(
    db: TestDb,
) {
    let app = spawn_app_with(db, &[("TM_RETENTION_RUN_EVERY_MINUTES", "0")]).await;
    let (client_c, artist_c, base, _) = consented(&app, "erase").await;
    let me: serde_json::Value = crate::helpers::get_json(&client_c, &app, "/api/v1/me").await;
    let user = me["id"].as_i64().unwrap();
    let (s, out) = post(
        &client_c,
        &app,
        &format!("{base}/messages"),
        json!({"body": format!("My {SECRET_IDEA_WORD} sleeve, see you soon")}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{out}");
    let references = crate::uploads::walk(&app.media.path().join("references"));
    assert!(!references.is_empty());

    // The account page leads to it; a wrong password and an open booking are each explained.
    let (_, account) = page(&client_c, &app, "/account").await;
    assert!(account.contains("href=\"/account/delete\""), "{account}");
    let (s, html) = ask(&client_c, &app, "not my password").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("not your current password"), "{html}");
    let (s, html) = ask(&client_c, &app, PASSWORD).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let booking = base.rsplit('/').next().unwrap();
    assert!(html.contains("still open"), "{html}");
    assert!(html.contains(&format!("/bookings/{booking}")), "{html}");
    assert_eq!(status_of(&app, user).await, "");
    // A forged form asks for nothing.
    let forged = client_c
        .post(app.url("/account/delete"))
        .form(&[("csrf_token", "forged"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The request is closed (withdrawn).
    app.db
        .execute(&format!(
            "UPDATE booking_requests SET state = 'withdrawn' WHERE id = {booking}"
        ))
        .await
        .unwrap();
    let (s, _) = ask(&client_c, &app, PASSWORD).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "sent to the status page");
    assert_eq!(status_of(&app, user).await, "scheduled");
    let (_, html) = page(&client_c, &app, "/account/delete").await;
    assert!(
        html.contains("Scheduled: your account will be deleted on"),
        "{html}"
    );
    assert!(html.contains("id=\"consent-periods\""));

    // The emailed link keeps the account; a forged one is refused.
    let mail = email_containing(
        &app.media.path().join("mail"),
        "erase-client@example.com",
        "/account/delete/keep?token=",
    )
    .await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/account/delete/keep?token="))
        .unwrap();
    let token = link.split("token=").nth(1).unwrap().trim().to_owned();
    let anonymous = crate::helpers::client();
    let (s, html) = page(
        &anonymous,
        &app,
        &format!("/account/delete/keep?token={token}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"keep-account\""));
    let forged = anonymous
        .post(app.url("/account/delete/keep"))
        .form(&[("token", format!("{user}.9999999999.{}", "0".repeat(64)))])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let kept = anonymous
        .post(app.url("/account/delete/keep"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), StatusCode::OK);
    assert!(kept.text().await.unwrap().contains("will not be deleted"));
    assert_eq!(status_of(&app, user).await, "cancelled");
    // Used once: the request it names is no longer open.
    let again = anonymous
        .post(app.url("/account/delete/keep"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Asked again; the grace period is made to pass.
    let (s, _) = ask(&client_c, &app, PASSWORD).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    app.db
        .execute("UPDATE erasure_requests SET erase_after = 1, next_attempt_at = 1 WHERE status = 'scheduled'")
        .await
        .unwrap();
    wait_for(&app, user, "done").await;

    // Signed out everywhere, and the address and password no longer sign in.
    let r = client_c.get(app.url("/account")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::OK);
    let r = crate::helpers::client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"email": "erase-client@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("do not match an account"));

    // The other party sees "Deleted user" and that the message was removed.
    let thread: serde_json::Value =
        crate::helpers::get_json(&artist_c, &app, &format!("{base}/messages")).await;
    let text = thread.to_string();
    assert!(text.contains("Deleted user"), "{text}");
    assert!(!text.contains(SECRET_IDEA_WORD), "{text}");

    // Nothing readable of the person is left in the database or the object store...
    let dump = logical_copy(&app.db, app.media.path()).await;
    for gone in ["erase-client@example.com", SECRET_IDEA_WORD] {
        assert!(!holds(&dump, gone.as_bytes()), "{gone} is still stored");
    }
    let erased = app
        .store
        .user(domain::UserId::new(user))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(erased.display_name.as_str(), "Deleted user");
    assert!(erased.email.as_str().ends_with("@erased.invalid"));
    for photo in &references {
        assert!(!photo.exists(), "{} is still stored", photo.display());
    }
    // ...but what the law requires stays: the signed consent form and the deposit ledger.
    let kept = app.store.kept_consents(0, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "the consent form is kept");
    assert_eq!(kept[0].jurisdiction, "US-FL");
    // Nobody can write to a deleted account.
    let (s, refused) = post(
        &artist_c,
        &app,
        &format!("{base}/messages"),
        json!({"body": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert!(refused.to_string().contains("deleted their account"));
    let artist_view: serde_json::Value = crate::helpers::get_json(&artist_c, &app, &base).await;
    let ledger = artist_view["ledger"].as_array().expect("the ledger");
    assert!(
        !ledger.is_empty(),
        "the deposit ledger is kept: {artist_view}"
    );
    assert_eq!(artist_view["client_name"], "Deleted user", "{artist_view}");

    let actions = audited(&app).await;
    for a in [
        "erasure.requested",
        "erasure.cancelled",
        "erasure.completed",
    ] {
        assert!(
            actions.contains(&a.to_owned()),
            "{a} not audited: {actions:?}"
        );
    }

    // The retention sweep (every tick here) keeps it: Florida's two years have not passed.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(app.store.kept_consents(0, 10).await.unwrap().len(), 1);
}

/// Stopped after the database part committed (the objects are listed but not deleted), the
/// erasure is taken up again by the jobs loop and finished; a second run changes nothing.
async fn an_interrupted_erasure_resumes_and_finishes(db: TestDb) {
    let app = spawn_app_with(db, &[]).await;
    crate::uploads::artist_with_profile(&app, "resume-artist@example.com", "resume-artist").await;
    let token = app.csrf("/dashboard/portfolio").await;
    let r = crate::uploads::upload(
        &app,
        crate::uploads::form(&token, "koi.png", crate::uploads::png(320, 240)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let objects = crate::uploads::walk(&app.media.path().join("portfolio"));
    assert_eq!(objects.len(), 2, "the image and its thumbnail");
    let me: serde_json::Value = crate::helpers::get_json(&app.client, &app, "/api/v1/me").await;
    let user = domain::UserId::new(me["id"].as_i64().unwrap());

    // Scheduled an hour ahead, so the jobs loop leaves it alone while the "crash" is staged.
    let at = time::OffsetDateTime::now_utc().unix_timestamp();
    let (r, new) = app
        .store
        .request_erasure(user, at, at + 3600, at + 30 * 86_400)
        .await
        .unwrap();
    assert!(new);
    assert_eq!(
        app.store.erase_account(r.id, at).await.unwrap(),
        storage::EraseOutcome::Erased { objects: 2 }
    );
    // The database part is all done and not repeated; the objects wait.
    assert_eq!(
        app.store.erase_account(r.id, at).await.unwrap(),
        storage::EraseOutcome::NotDue
    );
    assert_eq!(status_of(&app, user.get()).await, "erasing");
    assert_eq!(app.store.erasure_objects(r.id).await.unwrap().len(), 2);
    assert!(objects.iter().all(|o| o.exists()));
    assert!(
        app.store
            .artist_by_slug("resume-artist")
            .await
            .unwrap()
            .is_none(),
        "delisted"
    );
    let (_, search) = page(&app.client, &app, "/search?q=resume").await;
    assert!(!search.contains("resume-artist"), "{search}");

    app.db
        .execute("UPDATE erasure_requests SET next_attempt_at = 1")
        .await
        .unwrap();
    wait_for(&app, user.get(), "done").await;
    assert!(app.store.erasure_objects(r.id).await.unwrap().is_empty());
    assert!(objects.iter().all(|o| !o.exists()), "{objects:?}");
    assert!(
        audited(&app)
            .await
            .contains(&"erasure.completed".to_owned())
    );
}

/// The same rights through the JSON API: a copy asked for, listed and downloaded; an erasure
/// asked for (the password checked), read back, called off, asked for again and carried out.
async fn the_api_exports_and_erases_an_account(db: TestDb) {
    let app = spawn_app_with(db, &[]).await;
    let (c, user) = app
        .api_account("api-erase@example.com", "client", "Api Eraser")
        .await;
    let r = c
        .post(app.url("/api/v1/me/data-exports"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let started = Instant::now();
    let download = loop {
        let list: serde_json::Value =
            crate::helpers::get_json(&c, &app, "/api/v1/me/data-exports").await;
        if let Some(link) = list[0]["download"].as_str() {
            break link.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = c.get(app.url(&download)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tar = r.bytes().await.unwrap();
    assert!(holds(&tar, b"api-erase@example.com"));
    let other = crate::helpers::client();
    assert_eq!(
        other.get(app.url(&download)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let erase = |password: &'static str| {
        c.post(app.url("/api/v1/me/erasure"))
            .json(&json!({ "password": password }))
            .send()
    };
    assert_eq!(
        erase("wrong password").await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = erase(PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let scheduled: serde_json::Value = r.json().await.unwrap();
    assert_eq!(scheduled["status"], "scheduled");
    let read: serde_json::Value = crate::helpers::get_json(&c, &app, "/api/v1/me/erasure").await;
    assert_eq!(read["id"], scheduled["id"]);
    let r = c
        .delete(app.url("/api/v1/me/erasure"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "cancelled"
    );
    let r = c
        .delete(app.url("/api/v1/me/erasure"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        erase(PASSWORD).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    app.db
        .execute("UPDATE erasure_requests SET erase_after = 1, next_attempt_at = 1 WHERE status = 'scheduled'")
        .await
        .unwrap();
    wait_for(&app, user, "done").await;
    // The export's stored parts went with the account.
    assert!(crate::uploads::walk(&app.media.path().join("exports")).is_empty());
    let r = c.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

storage::on_both_databases!(
    an_account_is_erased_after_its_grace_period_keeping_only_what_the_law_requires,
    an_interrupted_erasure_resumes_and_finishes,
    the_api_exports_and_erases_an_account
);
