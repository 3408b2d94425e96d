//! Registration, sign-in, sessions and roles, through the pages and the JSON API.

use crate::helpers::{PASSWORD, session_cookie, spawn_app};
use reqwest::StatusCode;
use storage::testing::TestDb;

async fn a_visitor_signs_up_signs_out_and_signs_in_again_through_the_forms(db: TestDb) {
    let app = spawn_app(db).await;
    let response = app.sign_up("ink@example.com", "artist").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/account");

    let account = app.get("/account").await.text().await.unwrap();
    assert!(
        account.contains("ink@example.com") && account.contains("Artist"),
        "{account}"
    );

    let token = crate::helpers::csrf_in(&account).expect("sign-out form has a token");
    let out = app.post_form("/sign-out", &[("csrf_token", &token)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = app.get("/account").await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "signed out users are sent to sign in"
    );
    assert_eq!(after.headers()["location"], "/sign-in?next=/account");

    let back = app.sign_in("INK@example.com", PASSWORD).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    let users = app.store.count_users().await.unwrap();
    assert_eq!(users, 1);
}

async fn the_session_id_changes_at_sign_in_and_the_cookie_is_http_only_and_lax(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("ink@example.com", "client").await;
    let token = crate::helpers::csrf_in(&app.get("/account").await.text().await.unwrap()).unwrap();
    app.post_form("/sign-out", &[("csrf_token", &token)]).await;

    let form = app.get("/sign-in").await;
    let before = session_cookie(&form).expect("the sign-in form starts a session for its token");
    let html = form.text().await.unwrap();
    let token = crate::helpers::csrf_in(&html).unwrap();
    let signed_in = app
        .post_form(
            "/sign-in",
            &[
                ("csrf_token", &token),
                ("email", "ink@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let after = session_cookie(&signed_in).expect("sign-in sets a new cookie");
    let value = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(
        value(&before),
        value(&after),
        "session id must rotate at sign-in"
    );
    let lower = after.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{after}");
    assert!(lower.contains("samesite=lax"), "{after}");
    assert!(
        !lower.contains("secure"),
        "development serves plain HTTP: {after}"
    );
}

async fn sign_in_failures_read_the_same_whether_or_not_the_account_exists(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("ink@example.com", "client").await;
    let token = crate::helpers::csrf_in(&app.get("/account").await.text().await.unwrap()).unwrap();
    app.post_form("/sign-out", &[("csrf_token", &token)]).await;

    let wrong_password = app
        .sign_in("ink@example.com", "not the password at all")
        .await;
    let status_a = wrong_password.status();
    let body_a = wrong_password.text().await.unwrap();
    let no_account = app
        .sign_in("nobody@example.com", "not the password at all")
        .await;
    let status_b = no_account.status();
    let body_b = no_account.text().await.unwrap();
    assert_eq!(status_a, StatusCode::UNAUTHORIZED);
    assert_eq!(status_a, status_b);
    let message = marketplace::services::accounts::SIGN_IN_FAILED;
    assert!(body_a.contains(message) && body_b.contains(message));
    let strip = |b: &str| {
        b.replace(&crate::helpers::csrf_in(b).unwrap(), "")
            .replace("ink@example.com", "")
            .replace("nobody@example.com", "")
    };
    assert_eq!(
        strip(&body_a),
        strip(&body_b),
        "pages differ only in echoed email and token"
    );

    let api_a = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "ink@example.com", "password": "wrong password here"}))
        .send()
        .await
        .unwrap();
    let api_b = app
        .client
        .post(app.url("/api/v1/session"))
        .json(
            &serde_json::json!({"email": "nobody@example.com", "password": "wrong password here"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(api_a.status(), api_b.status());
    assert_eq!(api_a.text().await.unwrap(), api_b.text().await.unwrap());
}

async fn weak_passwords_bad_emails_and_unknown_roles_are_explained_on_the_form(db: TestDb) {
    let app = spawn_app(db).await;
    let token = app.csrf("/sign-up").await;
    let response = app
        .post_form(
            "/sign-up",
            &[
                ("csrf_token", &token),
                ("display_name", ""),
                ("email", "not-an-email"),
                ("password", "short"),
                ("role", "wizard"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("enter a name"), "{html}");
    assert!(html.contains("name@example.com"), "{html}");
    assert!(
        html.contains("must be &#34;client&#34; or &#34;artist&#34;"),
        "{html}"
    );
    assert!(
        html.contains("value=\"not-an-email\""),
        "entered values are kept"
    );

    let token = app.csrf("/sign-up").await;
    let common = app
        .post_form(
            "/sign-up",
            &[
                ("csrf_token", &token),
                ("display_name", "Ink"),
                ("email", "ink@example.com"),
                ("password", "password1234"),
                ("role", "client"),
            ],
        )
        .await;
    assert_eq!(common.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        common
            .text()
            .await
            .unwrap()
            .contains("most common passwords")
    );
    assert_eq!(
        app.store.count_users().await.unwrap(),
        0,
        "nothing written on failure"
    );
}

async fn the_api_registers_signs_in_reports_me_and_signs_out(db: TestDb) {
    let app = spawn_app(db).await;
    let body = serde_json::json!({
        "email": "api@example.com", "password": PASSWORD, "display_name": "Api Person", "role": "artist"
    });
    let created = app
        .client
        .post(app.url("/api/v1/accounts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    let first: serde_json::Value = created.json().await.unwrap();
    assert_eq!(first["status"], "verification_sent");
    // Registration does not sign in, so it cannot tell a new address from a known one.
    assert_eq!(
        app.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The same answer for an address that already has an account.
    let again = app
        .client
        .post(app.url("/api/v1/accounts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(app.store.count_users().await.unwrap(), 1);

    let signed_in = app
        .client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": "api@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let me: serde_json::Value = app.get("/api/v1/me").await.json().await.unwrap();
    assert_eq!(me["display_name"], "Api Person");
    assert_eq!(me["role"], "artist");
    assert_eq!(me["email_verified"], false);
    assert!(me.get("password_hash").is_none());
    let out = app
        .client
        .delete(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let anonymous = app.get("/api/v1/me").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
}

async fn a_new_address_is_confirmed_through_the_emailed_link_before_it_may_book(db: TestDb) {
    let app = spawn_app(db).await;
    let token = app.csrf("/sign-up").await;
    let form = |email: &'static str, name: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("display_name", name.to_owned()),
            ("email", email.to_owned()),
            ("password", PASSWORD.to_owned()),
            ("role", "client".to_owned()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let url = app.url("/sign-up");
        let client = app.client.clone();
        async move { client.post(url).form(&fields).send().await.unwrap() }
    };
    let first = post(form("new@example.com", "New Person")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first_page = first.text().await.unwrap();
    assert!(first_page.contains("Check your inbox"));
    // Signing up again with the address reads exactly the same; its owner is told instead.
    let second = post(form("new@example.com", "Someone Else")).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.text().await.unwrap(), first_page);
    let notice = crate::helpers::email_containing(
        &app.media.path().join("mail"),
        "new@example.com",
        "already has one",
    )
    .await;
    assert!(notice.contains("new@example.com"));

    // Signed in but unconfirmed: browsing works, booking does not.
    let (_, artist_user) = app
        .api_account("needles@example.com", "artist", "Ada Needles")
        .await;
    let artist = app
        .store
        .save_artist_settings(
            domain::UserId::new(artist_user),
            storage::testing::artist_settings("ada-needles"),
        )
        .await
        .unwrap();
    assert_eq!(
        app.sign_in("new@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let account = app.get("/account").await.text().await.unwrap();
    assert!(account.contains("not confirmed yet"), "{account}");
    let r = app
        .client
        .post(app.url("/api/v1/booking-requests"))
        .json(&serde_json::json!({"artist_id": artist.id.get(), "idea": "A small swallow on the wrist",
                                  "placement": "wrist", "size": "S", "date_of_birth": "1990-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Confirm your email address")
    );

    // The link in the email confirms the address and signs its owner in.
    let mail = crate::helpers::email_containing(
        &app.media.path().join("mail"),
        "new@example.com",
        "verify-email?token=",
    )
    .await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/verify-email?token="))
        .unwrap();
    let path = &link[link.find("/verify-email").unwrap()..];
    let anonymous = crate::helpers::client();
    let r = anonymous.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/account");
    let me: serde_json::Value = anonymous
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true, "{me}");
    // A tampered link is refused with a clear page.
    let tampered = path.replace("token=", "token=9");
    let r = crate::helpers::client()
        .get(app.url(&tampered))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid or has expired"));
}

async fn a_forgotten_password_is_reset_once_through_the_emailed_link_and_every_session_ends(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    app.sign_up("reset@example.com", "client").await;
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    let other_device = crate::helpers::TestAppClient::new(&app);
    other_device.sign_in("reset@example.com").await;
    assert_eq!(other_device.get("/account").await.status(), StatusCode::OK);

    // A stranger's browser asks for links for a known and an unknown address: same answer.
    let browser = crate::helpers::client();
    let ask = |email: &'static str| {
        let browser = browser.clone();
        let form_url = app.url("/forgot-password");
        async move {
            let html = browser
                .get(&form_url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let token = crate::helpers::csrf_in(&html).unwrap();
            let r = browser
                .post(&form_url)
                .form(&[("csrf_token", token.as_str()), ("email", email)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let known = ask("reset@example.com").await;
    let unknown = ask("nobody@example.com").await;
    assert!(known.contains("If an account uses that address"));
    assert_eq!(known, unknown);

    let mail = crate::helpers::email_containing(
        &app.media.path().join("mail"),
        "reset@example.com",
        "reset-password?token=",
    )
    .await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/reset-password?token="))
        .unwrap();
    let path = link[link.find("/reset-password").unwrap()..].to_owned();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let set = |password: &'static str| {
        let browser = browser.clone();
        let page = app.url(&path);
        let post_url = app.url("/reset-password");
        let token = token.clone();
        async move {
            let html = browser
                .get(&page)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = crate::helpers::csrf_in(&html).unwrap();
            browser
                .post(&post_url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("token", token.as_str()),
                    ("password", password),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let weak = set("short").await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.text()
            .await
            .unwrap()
            .contains("at least 12 characters")
    );
    let done = set("a brand new lantern 77").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/account");
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "the resetting browser is signed in"
    );
    // Every earlier session is over, on every device.
    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        other_device.get("/account").await.status(),
        StatusCode::SEE_OTHER
    );
    // The link worked once.
    let again = set("another fresh phrase 88").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("has been used"));
    // The old password is gone, the new one works.
    assert_ne!(
        app.sign_in("reset@example.com", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.sign_in("reset@example.com", "a brand new lantern 77")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // "Sign out everywhere" ends this session and the resetting browser's.
    let html = app.get("/account").await.text().await.unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let out = app
        .post_form(
            "/account/sign-out-everywhere",
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/account").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        browser
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
}

async fn two_factor_sign_in_takes_each_code_once_and_recovery_codes_once(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("two@example.com", "client").await;
    // Turning it on: the page shows a key; a wrong code is refused, the right one shows the
    // recovery codes once.
    let page = app.get("/account/two-factor").await.text().await.unwrap();
    let secret = page
        .split("id=\"totp-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the key is shown")
        .to_owned();
    assert!(page.contains("otpauth://totp/"), "an enrolment link");
    let token = crate::helpers::csrf_in(&page).unwrap();
    let wrong = app
        .post_form(
            "/account/two-factor",
            &[
                ("csrf_token", token.as_str()),
                ("action", "enable"),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let on = app
        .post_form(
            "/account/two-factor",
            &[
                ("csrf_token", token.as_str()),
                ("action", "enable"),
                ("code", &crate::helpers::totp_at(&secret, now)),
            ],
        )
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    let html = on.text().await.unwrap();
    let recovery: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(recovery.len(), 10, "{html}");

    // Signing in: the password alone is not enough.
    let c = crate::helpers::TestAppClient::new(&app);
    let html = c.get("/sign-in").await.text().await.unwrap();
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let r = c
        .client
        .post(app.url("/sign-in"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "two@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Enter your code"));
    assert_eq!(
        c.get("/account").await.status(),
        StatusCode::SEE_OTHER,
        "not signed in yet"
    );
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let send = |code: String| {
        let client = c.client.clone();
        let url = app.url("/sign-in/two-factor");
        let csrf = csrf.clone();
        async move {
            client
                .post(url)
                .form(&[("csrf_token", csrf.as_str()), ("code", code.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        send("123456".into()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The step after the one used to turn it on (codes are accepted once each).
    let next_code = crate::helpers::totp_at(&secret, now + 30);
    assert_eq!(
        send(next_code.clone()).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(c.get("/account").await.status(), StatusCode::OK);

    // The API asks for the code, refuses a replayed one, and takes a recovery code once.
    let api = |code: Option<String>| {
        let url = app.url("/api/v1/session");
        async move {
            let mut body = serde_json::json!({"email": "two@example.com", "password": PASSWORD});
            if let Some(code) = code {
                body["totp_code"] = code.into();
            }
            crate::helpers::client()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = api(None).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("totp_code"));
    assert_eq!(
        api(Some(next_code)).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "replayed"
    );
    assert_eq!(
        api(Some(recovery[0].to_uppercase())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        api(Some(recovery[0].clone())).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a recovery code works once"
    );
    assert_eq!(
        api(Some(recovery[1].clone())).await.status(),
        StatusCode::OK
    );
}

async fn roles_are_enforced_for_pages_and_the_api(db: TestDb) {
    let app = spawn_app(db).await;
    let anonymous = app.get("/admin").await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);

    app.sign_up("client@example.com", "client").await;
    let as_client = app.get("/admin").await;
    assert_eq!(as_client.status(), StatusCode::FORBIDDEN);
    assert!(
        as_client
            .text()
            .await
            .unwrap()
            .contains("administrators only")
    );
    let api_client = app.get("/api/v1/admin/overview").await;
    assert_eq!(api_client.status(), StatusCode::FORBIDDEN);

    app.create_admin("boss@example.com").await;
    let admin = crate::helpers::TestAppClient::new(&app);
    admin.sign_in("boss@example.com").await;
    // Privileged pages need a second factor.
    let without = admin.get("/admin").await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert!(without.text().await.unwrap().contains("two-factor"));
    let boss = app
        .store
        .credentials_by_email(&domain::Email::parse("boss@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .user;
    let secret = marketplace::auth::two_factor::new_secret();
    app.store
        .set_two_factor(boss.id, Some(&secret), &[])
        .await
        .unwrap();
    let admin = crate::helpers::TestAppClient::new(&app);
    admin.sign_in_with_code("boss@example.com", &secret).await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Booking requests by state")
    );
    let overview: serde_json::Value = admin
        .get("/api/v1/admin/overview")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(overview["counts"]["users"], 2);
}

storage::on_both_databases!(
    a_visitor_signs_up_signs_out_and_signs_in_again_through_the_forms,
    the_session_id_changes_at_sign_in_and_the_cookie_is_http_only_and_lax,
    sign_in_failures_read_the_same_whether_or_not_the_account_exists,
    weak_passwords_bad_emails_and_unknown_roles_are_explained_on_the_form,
    the_api_registers_signs_in_reports_me_and_signs_out,
    a_new_address_is_confirmed_through_the_emailed_link_before_it_may_book,
    a_forgotten_password_is_reset_once_through_the_emailed_link_and_every_session_ends,
    roles_are_enforced_for_pages_and_the_api,
    two_factor_sign_in_takes_each_code_once_and_recovery_codes_once,
);

#[tokio::test]
async fn session_cookies_are_secure_and_hsts_is_sent_outside_development() {
    let secret = "s".repeat(64);
    let app = crate::helpers::spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_ENV", "staging"),
            ("TM_SESSION_SECRET", &secret),
            ("TM_ENCRYPTION_KMS_KEY_ID", "alias/tm-fields"),
            ("TM_SESSION_SECURE_COOKIE", "true"),
            ("TM_AUTH_SIMPLIFIED_SIGN_IN", "false"),
            ("TM_LOG_FORMAT", "json"),
        ],
    )
    .await;
    let form = app.get("/sign-up").await;
    let cookie = session_cookie(&form).unwrap().to_ascii_lowercase();
    assert!(cookie.contains("; secure"), "{cookie}");
    assert!(form.headers().contains_key("strict-transport-security"));
    let dev = spawn_app(TestDb::sqlite()).await;
    assert!(
        !dev.get("/")
            .await
            .headers()
            .contains_key("strict-transport-security")
    );
}

#[tokio::test]
async fn simplified_sign_in_exists_only_when_switched_on() {
    let off = spawn_app(TestDb::sqlite()).await;
    off.create_admin("boss@example.com").await;
    let token = off.csrf("/sign-in").await;
    let refused = off
        .post_form(
            "/dev/sign-in",
            &[("csrf_token", &token), ("email", "boss@example.com")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);

    let on =
        crate::helpers::spawn_app_with(TestDb::sqlite(), &[("TM_AUTH_SIMPLIFIED_SIGN_IN", "true")])
            .await;
    on.create_admin("boss@example.com").await;
    let page = on.get("/sign-in").await.text().await.unwrap();
    assert!(page.contains("sign in as a demo account"));
    let token = crate::helpers::csrf_in(&page).unwrap();
    let ok = on
        .post_form(
            "/dev/sign-in",
            &[("csrf_token", &token), ("email", "boss@example.com")],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(on.get("/admin").await.status(), StatusCode::OK);
}
