//! The data rights in real Chromium: a client downloads and inspects their archive, corrects
//! their address, opts out of sale and sharing, then deletes their account; the erasure is
//! checked in the database and the object store, and the browser finds itself signed out.

use crate::browser::{browser, text_of, wait_for_path, wait_for_text};
use crate::encryption::{MEDICAL, consented};
use crate::helpers::{PASSWORD, holds, spawn_app_with};
use crate::journey::{fill, shot};
use base64::Engine;
use fantoccini::Locator;
use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};
use storage::testing::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_uses_each_data_right_in_a_real_browser() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app_with(TestDb::sqlite(), &[]).await;
    let (api_client, _, base, _) = consented(&app, "rights").await;
    let me: serde_json::Value = crate::helpers::get_json(&api_client, &app, "/api/v1/me").await;
    let user = domain::UserId::new(me["id"].as_i64().unwrap());
    let booking = base.rsplit('/').next().unwrap().to_owned();
    let references = crate::uploads::walk(&app.media.path().join("references"));
    assert!(!references.is_empty());

    let result = async {
        c.goto(&app.url("/sign-in")).await?;
        fill(&c, "email", "rights-client@example.com").await?;
        fill(&c, "password", PASSWORD).await?;
        c.find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for_path(&c, "/account").await;

        // The copy: asked for, announced by email, downloaded by the browser and opened.
        c.find(Locator::Id("request-export")).await?.click().await?;
        wait_for_text(&c, "#notice", "preparing a copy").await;
        crate::helpers::email_containing(
            &app.media.path().join("mail"),
            "rights-client@example.com",
            "/account/data/exports/",
        )
        .await;
        c.goto(&app.url("/account")).await?;
        let href = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#exports a[download]"))
            .await?
            .attr("href")
            .await?
            .expect("a download link");
        let fetched = c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(async r => {
                   const bytes = new Uint8Array(await r.arrayBuffer());
                   let s = '';
                   for (let i = 0; i < bytes.length; i += 8192)
                     s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
                   done([r.status, r.headers.get('content-type'), btoa(s)]);
                 });",
                vec![href.into()],
            )
            .await?;
        assert_eq!(fetched[0], 200);
        assert_eq!(fetched[1], "application/x-tar");
        let tar = base64::engine::general_purpose::STANDARD
            .decode(fetched[2].as_str().unwrap())
            .unwrap();
        let mut files: HashMap<String, Vec<u8>> = HashMap::new();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(name, bytes);
        }
        assert!(holds(&files["account.json"], b"rights-client@example.com"));
        assert!(holds(
            &files[&format!("booking-requests/{booking}/request.json")],
            MEDICAL.as_bytes()
        ));
        assert!(
            files
                .iter()
                .any(|(k, v)| k.contains("/reference-photos/") && v.starts_with(&[0xFF, 0xD8]))
        );

        // Rectification: the address changes once the link sent to the new one is followed.
        c.goto(&app.url("/account/profile")).await?;
        fill(&c, "new_email", "rights-new@example.com").await?;
        fill(&c, "email_password", PASSWORD).await?;
        c.find(Locator::Css("#email-form button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for_text(&c, "#notice", "rights-new@example.com").await;
        let mail = crate::helpers::email_containing(
            &app.media.path().join("mail"),
            "rights-new@example.com",
            "/account/email/confirm",
        )
        .await;
        let link = mail
            .split_whitespace()
            .find(|w| w.contains("/account/email/confirm"))
            .expect("a confirmation link");
        c.goto(&app.url(&link[link.find("/account/email/confirm").unwrap()..]))
            .await?;
        c.goto(&app.url("/account")).await?;
        if c.current_url().await?.path() == "/sign-in" {
            fill(&c, "email", "rights-new@example.com").await?;
            fill(&c, "password", PASSWORD).await?;
            c.find(Locator::Css("form button[type=submit]"))
                .await?
                .click()
                .await?;
            wait_for_path(&c, "/account").await;
        }
        wait_for_text(&c, ".facts", "rights-new@example.com").await;

        // The CCPA choice, recorded on the account.
        c.goto(&app.url("/privacy/do-not-sell")).await?;
        c.find(Locator::Id("opt-out")).await?.click().await?;
        wait_for_text(&c, "#privacy-choice", "Your choice: do not sell or share").await;
        c.goto(&app.url("/account")).await?;
        wait_for_path(&c, "/account").await;

        // The request closes; then the account is deleted from the account page.
        app.db
            .execute(&format!(
                "UPDATE booking_requests SET state = 'withdrawn' WHERE id = {booking}"
            ))
            .await
            .unwrap();
        c.find(Locator::Id("delete-link")).await?.click().await?;
        wait_for_path(&c, "/account/delete").await;
        assert!(
            text_of(&c, "#what-stays")
                .await
                .contains("What the law makes us keep")
        );
        fill(&c, "password", PASSWORD).await?;
        c.find(Locator::Id("request-erasure"))
            .await?
            .click()
            .await?;
        wait_for_text(&c, "#erasure-state", "Scheduled").await;
        shot(&c, "account-delete").await?;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if let Err(e) = result {
        c.close().await.ok();
        panic!("browser flow: {e}");
    }

    // The grace period passes and the jobs loop erases the account.
    app.db
        .execute("UPDATE erasure_requests SET erase_after = 1, next_attempt_at = 1")
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let r = app.store.erasure_of(user).await.unwrap().unwrap();
        if r.status == "done" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // In the database: a tombstone, no reference photo rows, the consent form kept by law.
    let erased = app.store.user(user).await.unwrap().unwrap();
    assert_eq!(erased.display_name.as_str(), "Deleted user");
    assert!(!erased.email.as_str().contains("rights-client"));
    assert!(
        app.store
            .credentials_by_email(&domain::Email::parse("rights-client@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.store.kept_consents(0, 10).await.unwrap().len(), 1);
    assert_eq!(
        app.db
            .execute(&format!(
                "DELETE FROM booking_references WHERE booking_id = {booking}"
            ))
            .await
            .unwrap(),
        0,
        "no reference photo rows are left"
    );
    // In the object store: the photos and the archive's parts are gone.
    assert!(references.iter().all(|p| !p.exists()), "{references:?}");
    assert!(crate::uploads::walk(&app.media.path().join("exports")).is_empty());

    // The browser's session ended with the account.
    let outcome = async {
        c.goto(&app.url("/account")).await?;
        wait_for_path(&c, "/sign-in").await;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    c.close().await.ok();
    outcome.expect("signed out");
}
