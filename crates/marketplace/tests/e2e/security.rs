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
    assert_eq!(same_origin.status(), StatusCode::ACCEPTED);
}

/// Sends `method path` exactly as written (no client-side normalising) and returns the status
/// line's code, the headers and the body.
pub async fn raw_request(address: &str, method: &str, path: &str) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, response[split..].to_vec())
}

#[tokio::test]
async fn private_reference_photos_are_never_served_as_public_media_however_the_path_is_spelt() {
    let app = spawn_app(TestDb::sqlite()).await;
    let secret = b"\xFF\xD8PRIVATE-REFERENCE-PHOTO";
    let dir = app.media.path().join("references/1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0b1c-77.jpg"), secret).unwrap();
    let public = app.media.path().join("portfolio/1");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("a.jpg"), b"PUBLIC-PORTFOLIO").unwrap();

    for path in [
        "/media/references/1/0b1c-77.jpg",
        "/media/references/1/0b1c-77.jpg/",
        "/media//references/1/0b1c-77.jpg",
        "/media/references//1/0b1c-77.jpg",
        "//media/references/1/0b1c-77.jpg",
        "/media/./references/1/0b1c-77.jpg",
        "/media/references/1/./0b1c-77.jpg",
        "/media/portfolio/../references/1/0b1c-77.jpg",
        "/media/portfolio/1/../../references/1/0b1c-77.jpg",
        "/media/%72eferences/1/0b1c-77.jpg",
        "/media/%2e/references/1/0b1c-77.jpg",
        "/media/portfolio/%2e%2e/references/1/0b1c-77.jpg",
        "/media/references%2F1%2F0b1c-77.jpg",
        "/media/portfolio%2F..%2Freferences%2F1%2F0b1c-77.jpg",
        "/media/references%5C1%5C0b1c-77.jpg",
        "/media/References/1/0b1c-77.jpg",
        "/media/references/1/0b1c-77%2Ejpg",
        "/media/references/1/0b1c-77.jpg?download=1",
        "/media/references/1/0b1c-77.jpg%00",
        "/static/../media/references/1/0b1c-77.jpg",
    ] {
        for method in ["GET", "HEAD"] {
            let (status, head, body) = raw_request(&app.address, method, path).await;
            assert_ne!(status, 200, "{method} {path} was served:\n{head}");
            assert!(
                !body.windows(8).any(|w| w == b"PRIVATE-"),
                "{method} {path} leaked the photo"
            );
            assert!(
                !head.contains("cache-control: public"),
                "{method} {path}: {head}"
            );
        }
    }
    // The public folder still works, in any spelling.
    for path in [
        "/media/portfolio/1/a.jpg",
        "/media//portfolio/1/a.jpg/",
        "/media/%70ortfolio/1/a.jpg",
    ] {
        let (status, head, body) = raw_request(&app.address, "GET", path).await;
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(body, b"PUBLIC-PORTFOLIO", "{path}");
        assert!(head.contains("cache-control: public"), "{path}");
    }
    // A path with no canonical spelling is a clear 400, rendered like every other error.
    let (status, head, body) = raw_request(&app.address, "GET", "/artists/a%2Fb").await;
    assert_eq!(status, 400, "{head}");
    assert!(String::from_utf8_lossy(&body).contains("encoded slash"));
    let (status, head, _) = raw_request(&app.address, "GET", "/api/v1/artists/a%2Fb").await;
    assert_eq!(status, 400, "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
}

/// A valid PNG of noise, which does not compress: about `w * h * 3` bytes.
fn noise_png(w: u32, h: u32) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn the_api_takes_the_image_sizes_it_documents_and_the_small_limit_holds_elsewhere() {
    let app = spawn_app(TestDb::sqlite()).await;
    let (_, user) = app
        .api_account("big-artist@example.com", "artist", "Big Artist")
        .await;
    let profile = app
        .store
        .save_artist_settings(
            domain::UserId::new(user),
            storage::testing::artist_settings("big-artist"),
        )
        .await
        .unwrap();
    let (client, _) = app
        .api_account("big-client@example.com", "client", "Big Client")
        .await;
    let png = noise_png(900, 900);
    assert!(png.len() > 2_300_000, "{} bytes", png.len());
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in [
        ("artist_id", profile.id.get().to_string()),
        ("idea", "A koi fish climbing a waterfall".to_owned()),
        ("placement", "forearm".to_owned()),
        ("size", "M".to_owned()),
        ("budget", "300".to_owned()),
        ("preferred_dates", "May".to_owned()),
        ("date_of_birth", "1990-01-01".to_owned()),
    ] {
        form = form.text(k, v);
    }
    form = form.part(
        "references",
        reqwest::multipart::Part::bytes(png).file_name("noise.png"),
    );
    let r = client
        .post(app.url("/api/v1/booking-requests"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    // Everywhere else a large body is still refused early.
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = client
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": huge, "password": "p"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn sign_in_never_redirects_off_site_or_fails_on_a_hostile_next() {
    let app = spawn_app(TestDb::sqlite()).await;
    assert_eq!(
        app.sign_up("next@example.com", "client").await.status(),
        StatusCode::SEE_OTHER
    );
    for next in [
        "/%09/evil.example",
        "/%0a",
        "/%0d%0aSet-Cookie:%20x=1",
        "/%5Cevil.example",
        "//evil.example",
    ] {
        app.post_form("/sign-out", &[("csrf_token", &app.csrf("/account").await)])
            .await;
        let token = app.csrf("/sign-in").await;
        let decoded = percent_encoding::percent_decode_str(next)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let r = app
            .post_form(
                "/sign-in",
                &[
                    ("csrf_token", token.as_str()),
                    ("email", "next@example.com"),
                    ("password", crate::helpers::PASSWORD),
                    ("next", decoded.as_str()),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(r.headers()["location"], "/account", "{next}");
    }
}

async fn api_sign_in(
    app: &crate::helpers::TestApp,
    email: &str,
    password: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = crate::helpers::client()
        .post(app.url("/api/v1/session"))
        .json(&serde_json::json!({"email": email, "password": password}));
    if let Some(ip) = forwarded {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn fifty_wrong_passwords_lock_the_account_so_the_right_one_no_longer_gets_in_at_once() {
    let app = spawn_app(TestDb::sqlite()).await;
    assert_eq!(
        app.sign_up("victim@example.com", "client").await.status(),
        StatusCode::SEE_OTHER
    );
    let mut refused = 0;
    for i in 0..50 {
        let r = api_sign_in(
            &app,
            "victim@example.com",
            &format!("guess number {i}"),
            None,
        )
        .await;
        match r.status() {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert!(r.headers().contains_key("retry-after"));
            }
            other => panic!("attempt {i}: {other}"),
        }
    }
    assert!(refused >= 40, "only {refused} of 50 guesses were refused");
    // On a slow machine the lock the loop ended on may be about to run out. Guess on until the
    // lock has whole seconds left (the lock doubles with each failure), so the right password
    // meets a lock and not the race with its end.
    for _ in 0..10 {
        let r = api_sign_in(&app, "victim@example.com", "one more guess", None).await;
        let left: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            if left >= 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(left)).await;
        }
    }
    let r = api_sign_in(&app, "victim@example.com", crate::helpers::PASSWORD, None).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked, even for the right password"
    );
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&secs), "{secs}");
    // An address without an account locks the same way, so the lock tells nothing: the free
    // failures pass, then a lock. The first locks last a second or two, so on a loaded machine
    // one may end between guesses; guessing on meets a longer one.
    let mut first_lock = None;
    for i in 0..20i64 {
        let r = api_sign_in(&app, "nobody-here@example.com", &format!("guess {i}"), None).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            first_lock = Some(i);
            break;
        }
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED),
            "guess {i}: {}",
            r.status()
        );
    }
    let first_lock = first_lock.expect("an address without an account never locked");
    assert!(
        first_lock >= domain::throttle::FREE_FAILURES,
        "locked after {first_lock} guesses, before the free ones were used"
    );
}

#[tokio::test]
async fn each_client_ip_gets_a_few_attempts_a_minute_and_forged_forwarding_headers_do_not_help() {
    // Nobody is a trusted proxy: X-Forwarded-For is the client's own claim and is ignored.
    let app = crate::helpers::spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_AUTH_ATTEMPTS_PER_MINUTE", "3"),
            ("TM_SERVER_TRUSTED_PROXIES", ""),
        ],
    )
    .await;
    for i in 0..3 {
        let r = api_sign_in(
            &app,
            &format!("a{i}@example.com"),
            "wrong password",
            Some(&format!("198.51.100.{i}")),
        )
        .await;
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "attempt {i}");
    }
    let r = api_sign_in(
        &app,
        "a9@example.com",
        "wrong password",
        Some("198.51.100.200"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // The pages' sign-in shares the budget and answers with an HTML page.
    let token = app.csrf("/sign-in").await;
    let r = app
        .post_form(
            "/sign-in",
            &[
                ("csrf_token", token.as_str()),
                ("email", "x@example.com"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many"));
    // Reading is never limited.
    assert_eq!(app.get("/sign-in").await.status(), StatusCode::OK);

    // Behind a trusted proxy (loopback, the default), each forwarded client has its own budget.
    let app =
        crate::helpers::spawn_app_with(TestDb::sqlite(), &[("TM_AUTH_ATTEMPTS_PER_MINUTE", "1")])
            .await;
    for i in 0..3 {
        let r = api_sign_in(
            &app,
            "b@example.com",
            "wrong password",
            Some(&format!("203.0.113.{i}")),
        )
        .await;
        assert_ne!(r.status(), StatusCode::TOO_MANY_REQUESTS, "client {i}");
    }
    let r = api_sign_in(&app, "b@example.com", "wrong password", Some("203.0.113.0")).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the first client again"
    );
}

#[tokio::test]
async fn metrics_and_build_details_are_for_operators_only() {
    let app = crate::helpers::spawn_app_with(
        TestDb::sqlite(),
        &[(
            "TM_SERVER_OPERATOR_TOKEN",
            "an-operator-token-of-some-length",
        )],
    )
    .await;
    let with = |token: &'static str| {
        let url = app.url("/metrics");
        async move {
            crate::helpers::client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(with("wrong").await.status(), StatusCode::NOT_FOUND);
    let r = with("an-operator-token-of-some-length").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("http_requests_total"));

    let public: serde_json::Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(
        public,
        serde_json::json!({"version": env!("CARGO_PKG_VERSION")}),
        "only what a client needs"
    );
    let full: serde_json::Value = crate::helpers::client()
        .get(app.url("/version"))
        .bearer_auth("an-operator-token-of-some-length")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        full["commit"].is_string() && full["schema_version"].is_i64(),
        "{full}"
    );
}

fn keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_public_artist_api_shows_no_account_or_booking_ids() {
    let app =
        crate::helpers::spawn_app_with(TestDb::sqlite(), &[("TM_DEMO_SEED_WHEN_EMPTY", "true")])
            .await;
    // Best rated first: those have reviews (and, in the demo, healed work).
    let list: serde_json::Value = app
        .get("/api/v1/artists?sort=rating")
        .await
        .json()
        .await
        .unwrap();
    let mut reviewed = 0;
    let mut healed = 0;
    for card in list["artists"].as_array().unwrap() {
        let id = card["id"].as_i64().unwrap();
        let detail: serde_json::Value = app
            .get(&format!("/api/v1/artists/{id}"))
            .await
            .json()
            .await
            .unwrap();
        let mut all = Vec::new();
        keys(&detail, &mut all);
        assert!(
            !all.iter()
                .any(|k| k == "user_id" || k == "booking_id" || k.ends_with("email")),
            "artist {id}: {all:?}"
        );
        reviewed += detail["reviews"].as_array().unwrap().len();
        healed += detail["portfolio"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["healed"] == true)
            .count();
    }
    // Healed photos shared by clients are the entries that carry a booking id in the store;
    // reviews are served as `PublicReview`, a type without one.
    assert!(
        healed > 0,
        "the demo has healed work ({healed}; {reviewed} reviews)"
    );
}

#[tokio::test]
async fn names_that_reorder_text_and_passwords_made_of_the_name_are_refused_at_sign_up() {
    let app = spawn_app(TestDb::sqlite()).await;
    let register = |name: &'static str, email: &'static str, password: &'static str| {
        let url = app.url("/api/v1/accounts");
        async move {
            let r = crate::helpers::client()
                .post(url)
                .json(&serde_json::json!({"email": email, "password": password,
                                          "display_name": name, "role": "client"}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, body) = register(
        "Ali\u{202e}ecila",
        "ali@example.com",
        crate::helpers::PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "display_name", "{body}");
    for password in ["marguerite.v7 rocks", "Delacroix-1998-ink"] {
        let (status, body) =
            register("Jeanne Delacroix", "marguerite.v7@example.com", password).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password}: {body}"
        );
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
    }
    let (status, _) = register(
        "Jeanne Delacroix",
        "marguerite.v7@example.com",
        crate::helpers::PASSWORD,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(app.store.count_users().await.unwrap(), 1);
}
