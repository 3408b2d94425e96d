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

storage::on_both_databases!(
    an_artist_subscribes_to_a_private_calendar_feed_and_can_replace_its_address,
    the_account_page_offers_next_steps_that_work,
    a_client_is_emailed_once_when_books_open_and_optional_emails_can_be_turned_off,
);
