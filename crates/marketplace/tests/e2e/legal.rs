//! Terms, privacy and cookies pages; acceptance recorded at sign-up and asked again for a new
//! version; "do not sell or share" by hand and by Global Privacy Control.

use crate::helpers::{PASSWORD, TestApp, client, csrf_in, spawn_app};
use marketplace::templates::legal::{PRIVACY, TERMS};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use storage::testing::TestDb;

async fn user_id(app: &TestApp, email: &str) -> domain::UserId {
    app.store
        .credentials_by_email(&domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .user
        .id
}

async fn actions(app: &TestApp) -> Vec<String> {
    app.store
        .audit_entries(&Default::default(), 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.action, e.detail))
        .collect()
}

async fn the_legal_pages_tell_the_truth_and_sign_up_records_what_was_accepted(db: TestDb) {
    let app = spawn_app(db).await;
    for (path, needle) in [
        ("/terms", format!("Version {}", TERMS.version)),
        ("/privacy", format!("Version {}", PRIVACY.version)),
        ("/cookies", "tm_session".to_owned()),
        ("/privacy/do-not-sell", "We do not sell".to_owned()),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&needle), "{path} lacks {needle}");
        for link in [
            "/privacy\"",
            "/terms\"",
            "/cookies\"",
            "/privacy/do-not-sell\"",
        ] {
            assert!(html.contains(link), "{path}: footer lacks {link}");
        }
    }
    let gpc: serde_json::Value = app.get("/.well-known/gpc.json").await.json().await.unwrap();
    assert_eq!(gpc["gpc"], true);

    // Signing up through the form accepts the versions it showed.
    let form = app.get("/sign-up").await.text().await.unwrap();
    assert!(form.contains(&format!("terms of service</a> (version {})", TERMS.version)));
    let signed_in = app.sign_up("reader@example.com", "client").await;
    // Every cookie the site sets is on the cookies page.
    let cookies_page = app.get("/cookies").await.text().await.unwrap();
    for set in signed_in.headers().get_all("set-cookie") {
        let name = set.to_str().unwrap().split('=').next().unwrap();
        assert!(
            cookies_page.contains(&format!("<code>{name}</code>")),
            "{name} not listed"
        );
    }
    let id = user_id(&app, "reader@example.com").await;
    let accepted = app.store.accepted_versions(id).await.unwrap();
    assert_eq!(
        accepted,
        vec![
            ("privacy".to_owned(), PRIVACY.version.to_owned()),
            ("terms".to_owned(), TERMS.version.to_owned())
        ]
    );
    assert!(
        actions(&app)
            .await
            .iter()
            .any(|a| a.starts_with("legal.accepted") && a.contains("sign_up"))
    );
    let account = app.get("/account").await.text().await.unwrap();
    assert!(!account.contains("id=\"legal-update\""));

    // A published version's text cannot change under it.
    let err = app
        .store
        .publish_document("terms", TERMS.version, "another text", 0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("new version"), "{err}");
}

async fn a_new_version_is_asked_for_again_and_accepted_once(db: TestDb) {
    let app = spawn_app(db).await;
    // An account that accepted last year's terms only, as after a new version is published.
    app.sign_up("old@example.com", "client").await;
    let id = user_id(&app, "old@example.com").await;
    app.store
        .publish_document("terms", "2025-01-01", "old text", 0)
        .await
        .unwrap();
    app.db
        .execute("DELETE FROM legal_acceptances WHERE document = 'terms'")
        .await
        .unwrap();
    app.store
        .accept_documents(id, &[("terms", "2025-01-01")], "sign_up", 0)
        .await
        .unwrap();
    // A fresh sign-in: the session's memory of the accepted versions is gone.
    let c = crate::helpers::TestAppClient::new(&app);
    c.sign_in("old@example.com").await;
    let page = c.get("/search").await.text().await.unwrap();
    assert!(page.contains("id=\"legal-update\""), "no banner");
    let ask = c.get("/legal/updated").await.text().await.unwrap();
    assert!(ask.contains("Terms of service</a>, version"), "{ask}");
    assert!(!ask.contains("Privacy policy</a>, version"));
    // A form for a version that is no longer current accepts nothing.
    let token = csrf_in(&ask).unwrap();
    let stale = c
        .client
        .post(app.url("/legal/updated"))
        .form(&[("csrf_token", token.as_str()), ("terms", "2025-01-01")])
        .send()
        .await
        .unwrap();
    assert_eq!(stale.headers()["location"], "/legal/updated");
    let accepted = c
        .client
        .post(app.url("/legal/updated"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("terms", TERMS.version),
            ("next", "/search"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(accepted.headers()["location"], "/search");
    let page = c.get("/search").await.text().await.unwrap();
    assert!(!page.contains("id=\"legal-update\""));
    assert!(
        actions(&app)
            .await
            .iter()
            .any(|a| a.contains("updated_terms"))
    );
    // No CSRF token, no change.
    let forged = c
        .client
        .post(app.url("/legal/updated"))
        .form(&[("terms", TERMS.version)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

async fn global_privacy_control_opts_out_and_the_page_records_the_choice(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("ccpa@example.com", "client").await;
    let id = user_id(&app, "ccpa@example.com").await;
    assert_eq!(app.store.privacy_choice(id).await.unwrap(), None);

    // A browser sending Sec-GPC: 1 signs in: the choice is recorded as from GPC.
    let mut headers = HeaderMap::new();
    headers.insert("sec-gpc", HeaderValue::from_static("1"));
    let gpc = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let html = gpc
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&html).unwrap();
    let r = gpc
        .post(app.url("/sign-in"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", "ccpa@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let choice = app.store.privacy_choice(id).await.unwrap().unwrap();
    assert!(choice.do_not_sell);
    assert_eq!(choice.source, "gpc");
    let page = gpc
        .get(app.url("/privacy/do-not-sell"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"gpc-detected\"") && page.contains("Global Privacy Control on"));
    // While the browser sends the signal, it cannot be withdrawn by hand.
    let token = csrf_in(&page).unwrap();
    let off = gpc
        .post(app.url("/privacy/do-not-sell"))
        .form(&[("csrf_token", token.as_str()), ("do_not_sell", "off")])
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::CONFLICT);
    assert!(
        app.store
            .privacy_choice(id)
            .await
            .unwrap()
            .unwrap()
            .do_not_sell
    );

    // Without the signal, the person withdraws and chooses again on the page.
    let token = app.csrf("/privacy/do-not-sell").await;
    let bad = app
        .post_form(
            "/privacy/do-not-sell",
            &[("csrf_token", &token), ("do_not_sell", "maybe")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for (value, expected) in [("off", false), ("on", true)] {
        let r = app
            .post_form(
                "/privacy/do-not-sell",
                &[("csrf_token", &token), ("do_not_sell", value)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let c = app.store.privacy_choice(id).await.unwrap().unwrap();
        assert_eq!((c.do_not_sell, c.source.as_str()), (expected, "form"));
    }
    let recorded: Vec<String> = actions(&app)
        .await
        .into_iter()
        .filter(|a| a.starts_with("privacy.choice_changed"))
        .collect();
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert!(recorded.iter().any(|a| a.contains("\"gpc\"")));

    // A visitor who is not signed in is told there is nothing to record.
    let anonymous = client()
        .get(app.url("/privacy/do-not-sell"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(anonymous.contains("Sign in</a> to record your choice"));
}

storage::on_both_databases!(
    the_legal_pages_tell_the_truth_and_sign_up_records_what_was_accepted,
    a_new_version_is_asked_for_again_and_accepted_once,
    global_privacy_control_opts_out_and_the_page_records_the_choice,
);
