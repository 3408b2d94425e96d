//! A person's own account: next steps, name, password, becoming an artist, which optional
//! emails they get, and being told once when an artist's books open.

use crate::helpers::{PASSWORD, TestApp, email_containing, spawn_app};
use reqwest::StatusCode;
use storage::testing::TestDb;

/// The page a form's redirect leads to (the test client does not follow redirects).
async fn follow(app: &TestApp, r: reqwest::Response) -> String {
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a form redirects after success"
    );
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    app.get(&to).await.text().await.unwrap()
}

async fn user_id(app: &TestApp, email: &str) -> domain::UserId {
    app.store
        .credentials_by_email(&domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .expect("the account exists")
        .user
        .id
}

async fn sign_out(app: &TestApp) {
    let token = app.csrf("/account").await;
    let r = app.post_form("/sign-out", &[("csrf_token", &token)]).await;
    assert!(r.status().is_success() || r.status().is_redirection());
}

async fn the_account_page_offers_next_steps_that_work(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("sam@example.com", "client").await;
    let account = app.get("/account").await.text().await.unwrap();
    for step in [
        "href=\"/search\"",
        "href=\"/account/profile\"",
        "href=\"/account/notifications\"",
        "action=\"/account/become-artist\"",
    ] {
        assert!(account.contains(step), "{step} missing from the next steps");
    }

    // Renaming shows the new name at once, with a confirmation.
    let token = app.csrf("/account/profile").await;
    let r = app
        .post_form(
            "/account/profile",
            &[("csrf_token", &token), ("display_name", "Sam Rivers")],
        )
        .await;
    let page = follow(&app, r).await;
    assert!(
        page.contains("Your name is saved.") && page.contains("Sam Rivers"),
        "{page}"
    );
    let r = app
        .post_form(
            "/account/profile",
            &[("csrf_token", &token), ("display_name", "")],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "an empty name is explained"
    );

    // A wrong current password changes nothing; the right one changes it.
    let new = "lanterns over the harbour";
    let r = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", "not my password"),
                ("new_password", new),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not your current password")
    );
    let r = app
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", PASSWORD),
                ("new_password", new),
            ],
        )
        .await;
    let page = follow(&app, r).await;
    assert!(page.contains("Password changed."), "{page}");
    // This browser stays signed in; the old password no longer works.
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    sign_out(&app).await;
    let old = app.sign_in("sam@example.com", PASSWORD).await;
    assert_ne!(
        old.status(),
        StatusCode::SEE_OTHER,
        "the old password is refused"
    );
    let fresh = app.sign_in("sam@example.com", new).await;
    assert_eq!(fresh.status(), StatusCode::SEE_OTHER);

    // Becoming an artist leads to the profile set-up, and only a client can.
    let token = app.csrf("/account").await;
    let r = app
        .post_form("/account/become-artist", &[("csrf_token", &token)])
        .await;
    assert_eq!(r.headers()["location"], "/dashboard/profile");
    assert!(follow(&app, r).await.contains("You are now an artist."));
    let again = app
        .post_form("/account/become-artist", &[("csrf_token", &token)])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

async fn a_client_is_emailed_once_when_books_open_and_optional_emails_can_be_turned_off(
    db: TestDb,
) {
    let app = spawn_app(db).await;
    // An artist with closed books.
    app.sign_up("ink@example.com", "artist").await;
    let settings = storage::ArtistSettings {
        books_open: false,
        ..storage::testing::artist_settings("closed-books")
    };
    let artist_user = user_id(&app, "ink@example.com").await;
    app.store
        .save_artist_settings(artist_user, settings.clone())
        .await
        .unwrap();
    sign_out(&app).await;

    // A visitor is asked to sign in; a client asks to be told, once.
    let page = app.get("/artists/closed-books").await.text().await.unwrap();
    assert!(page.contains("to be told by email when"), "{page}");
    app.sign_up("fan@example.com", "client").await;
    let token = app.csrf("/artists/closed-books").await;
    for _ in 0..2 {
        let r = app
            .post_form("/artists/closed-books/notify", &[("csrf_token", &token)])
            .await;
        let page = follow(&app, r).await;
        assert!(page.contains("We will email you once when"), "{page}");
    }
    assert!(page_has_stop(&app).await, "the page offers to stop waiting");

    // The client turns messages off; essential emails have no switch.
    let prefs = app
        .get("/account/notifications")
        .await
        .text()
        .await
        .unwrap();
    assert!(prefs.contains("name=\"message\" value=\"on\" checked"));
    assert!(
        !prefs.contains("name=\"booking."),
        "essential emails cannot be turned off"
    );
    let r = app
        .post_form(
            "/account/notifications",
            &[
                ("csrf_token", &token),
                ("review", "on"),
                ("healed.prompt", "on"),
            ],
        )
        .await;
    let page = follow(&app, r).await;
    assert!(page.contains("Your email choices are saved."));
    assert!(
        !page.contains("name=\"message\" value=\"on\" checked"),
        "messages are off"
    );
    let fan = user_id(&app, "fan@example.com").await;
    assert_eq!(app.store.email_opt_out(fan).await.unwrap(), ["message"]);

    // The artist opens the books: the client is emailed once, with a link to the profile.
    app.store
        .save_artist_settings(
            artist_user,
            storage::ArtistSettings {
                books_open: true,
                ..settings.clone()
            },
        )
        .await
        .unwrap();
    let mail = email_containing(
        &app.media.path().join("mail"),
        "fan@example.com",
        "opened their books",
    )
    .await;
    assert!(mail.contains("/artists/closed-books"), "{mail}");
    assert!(mail.contains("Content-Type: text/html"), "{mail}");
    assert!(
        !app.store
            .watches_books(
                app.store
                    .artist_by_slug("closed-books")
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                fan
            )
            .await
            .unwrap(),
        "the watch is spent"
    );
    // Closing and opening again tells nobody: they asked once.
    for open in [false, true] {
        app.store
            .save_artist_settings(
                artist_user,
                storage::ArtistSettings {
                    books_open: open,
                    ..settings.clone()
                },
            )
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let sent = std::fs::read_dir(app.media.path().join("mail"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|m| m.contains("opened their books"))
        .count();
    assert_eq!(sent, 1);
    // Watching open books is refused with the way forward.
    let r = app
        .post_form("/artists/closed-books/notify", &[("csrf_token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("you can send a request now")
    );
}

async fn page_has_stop(app: &TestApp) -> bool {
    app.get("/artists/closed-books")
        .await
        .text()
        .await
        .unwrap()
        .contains("Stop waiting")
}

async fn an_artist_subscribes_to_a_private_calendar_feed_and_can_replace_its_address(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("cal@example.com", "artist").await;
    let artist_user = user_id(&app, "cal@example.com").await;
    app.store
        .save_artist_settings(artist_user, storage::testing::artist_settings("cal-ink"))
        .await
        .unwrap();
    let feed_of = |page: &str| {
        page.split("id=\"feed-url\" readonly value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the dashboard shows the feed address")
            .to_owned()
    };
    let dashboard = app.get("/dashboard").await.text().await.unwrap();
    let url = feed_of(&dashboard);
    let path = url
        .split_once("/calendar/")
        .map(|(_, t)| format!("/calendar/{t}"))
        .unwrap();
    assert_eq!(
        feed_of(&app.get("/dashboard").await.text().await.unwrap()),
        url,
        "one address"
    );
    sign_out(&app).await;
    // The address alone opens the feed: calendar apps send no cookies.
    let feed = app.get(&path).await;
    assert_eq!(feed.status(), StatusCode::OK);
    assert_eq!(
        feed.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert!(feed.text().await.unwrap().starts_with("BEGIN:VCALENDAR"));
    for wrong in [
        "/calendar/nope.ics",
        "/calendar/0000000000000000000000000000000000000000000000000.ics",
    ] {
        assert_eq!(
            app.get(wrong).await.status(),
            StatusCode::NOT_FOUND,
            "{wrong}"
        );
    }
    // A new address retires the old one.
    app.sign_in("cal@example.com", PASSWORD).await;
    let token = app.csrf("/dashboard").await;
    let r = app
        .post_form("/dashboard/calendar/renew", &[("csrf_token", &token)])
        .await;
    let page = follow(&app, r).await;
    assert!(page.contains("Your calendar feed has a new address"));
    assert_ne!(feed_of(&page), url);
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
}

async fn an_address_changes_only_through_a_link_to_the_new_one_and_the_old_one_is_told(db: TestDb) {
    let app = spawn_app(db).await;
    app.api_account("taken@example.com", "client", "Someone Else")
        .await;
    app.sign_up("before@example.com", "client").await;
    let mail = app.media.path().join("mail");
    let ask = |email: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let token = app.csrf("/account/profile").await;
            app.post_form(
                "/account/email",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await
        }
    };
    // A wrong password or a bad address changes nothing and says why.
    let wrong = ask("after@example.com", "not my password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("not your current password")
    );
    let bad = ask("after@", PASSWORD).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An address another account holds: the same answer; that owner is told, nothing moves.
    let taken = ask("taken@example.com", PASSWORD).await;
    assert!(
        follow(&app, taken)
            .await
            .contains("We emailed a link to taken@example.com")
    );
    email_containing(&mail, "taken@example.com", "already has an account").await;

    let asked = ask("after@example.com", PASSWORD).await;
    let page = follow(&app, asked).await;
    assert!(
        page.contains("your address stays before@example.com"),
        "{page}"
    );
    let before = domain::Email::parse("before@example.com").unwrap();
    let after = domain::Email::parse("after@example.com").unwrap();
    assert!(
        app.store
            .credentials_by_email(&after)
            .await
            .unwrap()
            .is_none()
    );

    let link = email_containing(&mail, "after@example.com", "/account/email/confirm?").await;
    let link = link
        .split_whitespace()
        .find(|w| w.contains("/account/email/confirm?"))
        .unwrap();
    let path = &link[link.find("/account/email/confirm").unwrap()..];
    // The link is bound to both addresses: another address in it is refused.
    let forged = path.replace("after%40example.com", "evil%40example.com");
    let r = crate::helpers::client()
        .get(app.url(&forged))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = crate::helpers::client()
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let moved = app
        .store
        .credentials_by_email(&after)
        .await
        .unwrap()
        .unwrap()
        .user;
    assert!(moved.email_verified);
    assert!(
        app.store
            .credentials_by_email(&before)
            .await
            .unwrap()
            .is_none()
    );
    email_containing(&mail, "before@example.com", "was just changed").await;
    // It works once.
    let again = crate::helpers::client()
        .get(app.url(path))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let changes = app
        .store
        .audit_entries(
            &storage::AuditFilter {
                action: Some(domain::AuditAction::EmailChanged),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 3, "two asked, one confirmed");
    assert!(
        !format!("{changes:?}").contains("example.com"),
        "no address in the log"
    );
}

async fn optional_emails_carry_a_one_click_unsubscribe_that_stops_only_their_kind(db: TestDb) {
    use crate::bookings::{artist, post, request_body};
    let app = spawn_app(db).await;
    let (_artist_c, artist_id) =
        artist(&app, "inbox-artist@example.com", "inbox-artist", "US-FL").await;
    let (client_c, _) = app
        .api_account("inbox-client@example.com", "client", "Api Person")
        .await;
    let (s, req) = post(
        &client_c,
        &app,
        "/api/v1/booking-requests",
        request_body(artist_id, "1990-01-01"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = post(
        &client_c,
        &app,
        &format!("/api/v1/booking-requests/{}/messages", req["id"]),
        serde_json::json!({"body": "Is Tuesday fine?"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let mail = email_containing(
        &app.media.path().join("mail"),
        "inbox-artist@example.com",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    )
    .await;
    let header = mail
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe: <"))
        .unwrap();
    let url = header
        .trim_start_matches("List-Unsubscribe: <")
        .trim_end_matches('>');
    let path = &url[url.find("/unsubscribe").unwrap()..];
    assert!(mail.contains("To stop emails like this one"));
    let artist_id_user = app
        .store
        .credentials_by_email(&domain::Email::parse("inbox-artist@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .user
        .id;

    // Opening the link changes nothing (mail scanners follow links); the button does.
    let stranger = crate::helpers::client();
    let page = stranger.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        app.store
            .email_opt_out(artist_id_user)
            .await
            .unwrap()
            .is_empty()
    );
    // The link's kind cannot be swapped for another.
    let swapped = path.replace("kind=message", "kind=review");
    let r = stranger.post(app.url(&swapped)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The mail client's one-click POST: no cookies, no CSRF token, the signed link alone.
    let r = stranger
        .post(app.url(path))
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("id=\"unsubscribed\""));
    assert_eq!(
        app.store.email_opt_out(artist_id_user).await.unwrap(),
        vec!["message".to_owned()]
    );
    // Twice is harmless.
    let r = stranger.post(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        app.store.email_opt_out(artist_id_user).await.unwrap().len(),
        1
    );
}

storage::on_both_databases!(
    optional_emails_carry_a_one_click_unsubscribe_that_stops_only_their_kind,
    an_address_changes_only_through_a_link_to_the_new_one_and_the_old_one_is_told,
    an_artist_subscribes_to_a_private_calendar_feed_and_can_replace_its_address,
    the_account_page_offers_next_steps_that_work,
    a_client_is_emailed_once_when_books_open_and_optional_emails_can_be_turned_off,
);
