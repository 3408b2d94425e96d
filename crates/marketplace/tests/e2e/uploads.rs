//! Portfolio uploads through the real server: multipart with CSRF, content sniffing, size and
//! pixel limits, re-encoding without metadata, serving, deleting and ownership.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use storage::testing::TestDb;

pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 120, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG carrying an EXIF segment with GPS coordinates.
fn jpeg_with_gps() -> Vec<u8> {
    let mut jpeg = Vec::new();
    let img = image::RgbImage::from_pixel(300, 200, image::Rgb([200, 200, 10]));
    image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
        .encode_image(&img)
        .unwrap();
    let payload = b"Exif\0\0MM\0*GPSLatitude=48.85;GPSLongitude=2.35";
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

pub(crate) async fn artist_with_profile(app: &TestApp, email: &str, slug: &str) {
    assert_eq!(
        app.sign_up(email, "artist").await.status(),
        StatusCode::SEE_OTHER
    );
    let token = app.csrf("/dashboard/profile").await;
    let r = app
        .post_form(
            "/dashboard/profile",
            &[
                ("csrf_token", &token),
                ("slug", slug),
                ("bio", ""),
                ("city", "Paris"),
                ("country", "FR"),
                ("jurisdiction", "FR"),
                ("styles", "japanese"),
                ("price_min", "100"),
                ("price_max", "500"),
                ("hourly_rate", "120"),
                ("books_open", "on"),
                ("min_age", "18"),
                ("deposit_kind", "percent"),
                ("deposit_value", "20"),
                ("deposit_due_days", "3"),
                ("response_hours", "72"),
                ("notice_hours", "48"),
                ("max_reschedules", "2"),
                ("time_zone", "Europe/Paris"),
                ("work_day_tue", "on"),
                ("work_day_sat", "on"),
                ("work_start", "11:00"),
                ("work_end", "19:00"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

pub(crate) fn form(token: &str, file_name: &str, bytes: Vec<u8>) -> Form {
    Form::new()
        .text("csrf_token", token.to_owned())
        .text("title", "Koi in waves")
        .text("style", "japanese")
        .text("placement", "back")
        .text("healed", "on")
        .text("skin_tone_IV", "on")
        .part("image", Part::bytes(bytes).file_name(file_name.to_owned()))
}

pub(crate) async fn upload(app: &TestApp, form: Form) -> reqwest::Response {
    app.client
        .post(app.url("/dashboard/portfolio"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn an_artist_uploads_a_piece_that_is_re_encoded_served_and_deleted(db: TestDb) {
    let app = spawn_app(db).await;
    artist_with_profile(&app, "ink@example.com", "ink-paris").await;
    let token = app.csrf("/dashboard/portfolio").await;

    let r = upload(&app, form(&token, "holiday.jpg", jpeg_with_gps())).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = app.get("/dashboard/portfolio").await.text().await.unwrap();
    assert!(
        html.contains("Koi in waves") && html.contains("skin IV"),
        "{html}"
    );
    let thumb = html
        .split("src=\"/media/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let served = app.get(&format!("/media/{thumb}")).await;
    assert_eq!(served.status(), StatusCode::OK);
    let webp = served.bytes().await.unwrap();
    assert_eq!(
        image::guess_format(&webp).unwrap(),
        image::ImageFormat::WebP
    );
    let full = app
        .get(&format!("/media/{}", thumb.replace("-thumb.webp", ".jpg")))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        image::guess_format(&full).unwrap(),
        image::ImageFormat::Jpeg
    );
    assert!(
        !full.windows(3).any(|w| w == b"GPS"),
        "location data removed"
    );

    // The public profile and the API show it as healed work.
    let profile = app.get("/artists/ink-paris").await.text().await.unwrap();
    assert!(profile.contains("Koi in waves"));

    // Delete it: gone from the page and from storage.
    let id = html
        .split("/dashboard/portfolio/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let r = app
        .post_form(
            &format!("/dashboard/portfolio/{id}/delete"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/media/{thumb}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .post_form(
            &format!("/dashboard/portfolio/{id}/delete"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn bad_uploads_are_explained_and_store_nothing(db: TestDb) {
    let app = spawn_app_with(
        db,
        // A small size limit, so the refused body fits in the socket buffers: a server that answers
        // 413 before reading a large body may reset the connection under the sender.
        &[
            ("TM_MEDIA_MAX_PIXELS", "1000000"),
            ("TM_MEDIA_MAX_UPLOAD_BYTES", "100000"),
        ],
    )
    .await;
    artist_with_profile(&app, "ink@example.com", "ink-paris").await;
    let token = app.csrf("/dashboard/portfolio").await;

    let r = upload(
        &app,
        form(
            &token,
            "tattoo.jpg",
            b"<?php echo 'not an image'; ?>".to_vec(),
        ),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not a JPEG, PNG or WebP image")
    );

    let r = upload(&app, form(&token, "big.png", png(2000, 1000))).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("2 megapixels; the limit is 1")
    );

    let r = upload(&app, form(&token, "huge.png", vec![0u8; 180_000])).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let bad_fields = form(&token, "ok.png", png(50, 50)).text("style", "cubism");
    let r = upload(&app, bad_fields).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let r = upload(&app, form("forged", "ok.png", png(50, 50))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(app.url("/dashboard/portfolio"))
        .form(&[("csrf_token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let stored = walk(&app.media.path().join("portfolio"));
    assert!(
        stored.is_empty(),
        "nothing kept from refused uploads: {stored:?}"
    );

    // Clients cannot upload to a portfolio.
    let client = crate::helpers::signed_up_client(&app, "c@example.com").await;
    let r = client
        .get(app.url("/dashboard/portfolio"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

pub(crate) fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

/// Posts the settings form for a Tokyo artist with `currency` and prices as typed.
async fn save_tokyo_settings(
    app: &TestApp,
    currency: &str,
    price_min: &str,
    deposit: &str,
) -> reqwest::Response {
    let token = app.csrf("/dashboard/profile").await;
    app.post_form(
        "/dashboard/profile",
        &[
            ("csrf_token", &token),
            ("slug", "kenji-tokyo"),
            ("city", "Tokyo"),
            ("country", "JP"),
            ("jurisdiction", "JP"),
            ("style_japanese", "on"),
            ("style_blackwork", "on"),
            ("currency", currency),
            ("price_min", price_min),
            ("price_max", "250,000"),
            ("hourly_rate", "20000"),
            ("books_open", "on"),
            ("min_age", "20"),
            ("deposit_kind", "fixed"),
            ("deposit_value", deposit),
            ("deposit_due_days", "3"),
            ("response_hours", "72"),
            ("notice_hours", "48"),
            ("max_reschedules", "2"),
            ("time_zone", "Asia/Tokyo"),
            ("work_day_mon", "on"),
            ("work_start", "11:00"),
            ("work_end", "19:00"),
        ],
    )
    .await
}

async fn prices_are_typed_and_shown_in_the_artists_currency(db: TestDb) {
    let app = spawn_app(db).await;
    assert_eq!(
        app.sign_up("kenji@example.com", "artist").await.status(),
        StatusCode::SEE_OTHER
    );
    // The form offers pickers: every style as a box, time zones and currencies as lists.
    let form = app.get("/dashboard/profile").await.text().await.unwrap();
    assert!(form.contains("name=\"style_fine-line\"") && form.contains("name=\"style_handpoke\""));
    assert!(
        form.contains("<option value=\"Asia/Tokyo\"") && form.contains("<option value=\"JPY\"")
    );
    // Yen have no minor unit: a price with decimals is refused, in words.
    let refused = save_tokyo_settings(&app, "", "12000.50", "5000").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("enter an amount like 150")
    );
    // Left to the country, a Japanese artist prices in yen.
    let saved = save_tokyo_settings(&app, "", "12000", "5000").await;
    assert_eq!(
        saved.status(),
        StatusCode::OK,
        "{}",
        saved.text().await.unwrap()
    );
    let page = app.get("/artists/kenji-tokyo").await.text().await.unwrap();
    assert!(
        page.contains("¥12,000–¥250,000") && page.contains("¥20,000/hour"),
        "{page}"
    );
    assert!(page.contains("a ¥5,000 deposit"), "{page}");
    let id = app
        .store
        .artist_by_slug("kenji-tokyo")
        .await
        .unwrap()
        .unwrap()
        .id;
    let api: serde_json::Value = app
        .get(&format!("/api/v1/artists/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (api["currency"].as_str(), api["price_min_cents"].as_i64()),
        (Some("JPY"), Some(12_000))
    );
    // An artist may choose another currency; amounts are then read in it.
    let saved = save_tokyo_settings(&app, "USD", "120.50", "50").await;
    assert_eq!(saved.status(), StatusCode::OK);
    let page = app.get("/artists/kenji-tokyo").await.text().await.unwrap();
    assert!(page.contains("$120.50–$250,000"), "{page}");
    let settings = app.get("/dashboard/profile").await.text().await.unwrap();
    assert!(
        settings.contains("<option value=\"USD\" selected"),
        "the choice is kept"
    );
    assert!(settings.contains("name=\"style_japanese\" value=\"on\" checked"));
    let bad = save_tokyo_settings(&app, "XAU", "100", "50").await;
    assert_eq!(
        bad.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "gold is no price currency"
    );
}

storage::on_both_databases!(
    prices_are_typed_and_shown_in_the_artists_currency,
    an_artist_uploads_a_piece_that_is_re_encoded_served_and_deleted,
    bad_uploads_are_explained_and_store_nothing,
    flash_designs_and_guest_spots_show_on_profiles_studios_and_in_search,
);

async fn flash_designs_and_guest_spots_show_on_profiles_studios_and_in_search(db: TestDb) {
    let app = spawn_app(db).await;
    // A studio to guest at, from the catalogue import the seed uses.
    app.store
        .import_catalogue(storage::CatalogueBatch {
            studios: vec![storage::NewStudio {
                slug: domain::Slug::parse("harbour-ink").unwrap(),
                name: "Harbour Ink".into(),
                city: "Hamburg".into(),
                country: "DE".into(),
                jurisdiction: "DE".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    artist_with_profile(&app, "flash@example.com", "flash-paris").await;
    let token = app.csrf("/dashboard/flash").await;

    let design = |m_price: &str| {
        Form::new()
            .text("csrf_token", token.clone())
            .text("title", "Dagger and rose")
            .text("style", "japanese")
            .text("price_S", "90")
            .text("minutes_S", "60")
            .text("price_M", m_price.to_owned())
            .text("minutes_M", "120")
            .part("image", Part::bytes(png(400, 400)).file_name("dagger.png"))
    };
    let r = app
        .client
        .post(app.url("/dashboard/flash"))
        .multipart(design("80"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("bigger size cannot cost less")
    );
    assert!(
        walk(&app.media.path().join("flash")).is_empty(),
        "a refused design leaves no files"
    );
    let r = app
        .client
        .post(app.url("/dashboard/flash"))
        .multipart(design("150"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = (
        (today + time::Duration::days(10)).to_string(),
        (today + time::Duration::days(14)).to_string(),
    );
    let r = app
        .post_form(
            "/dashboard/guest-spots",
            &[
                ("csrf_token", &token),
                ("studio", "harbour-ink"),
                ("starts_on", &from),
                ("ends_on", &to),
                ("time_zone", "Mars/Olympus Mons"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a made-up zone with a space is refused"
    );
    let r = app
        .post_form(
            "/dashboard/guest-spots",
            &[
                ("csrf_token", &token),
                ("studio", "nowhere"),
                ("starts_on", &from),
                ("ends_on", &to),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post_form(
            "/dashboard/guest-spots",
            &[
                ("csrf_token", &token),
                ("studio", "harbour-ink"),
                ("starts_on", &from),
                ("ends_on", &to),
                ("time_zone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let profile = app.get("/artists/flash-paris").await.text().await.unwrap();
    assert!(
        profile.contains("Works Tue Sat, 11:00–19:00 (Europe/Paris)"),
        "{profile}"
    );
    assert!(
        profile.contains("Dagger and rose") && profile.contains("€150, 120 min"),
        "{profile}"
    );
    assert!(profile.contains("Harbour Ink") && profile.contains(&from));
    let studio = app.get("/studios/harbour-ink").await.text().await.unwrap();
    assert!(
        studio.contains("flash-paris") && studio.contains("Guest artists"),
        "{studio}"
    );
    assert_eq!(
        app.get("/studios/nope").await.status(),
        StatusCode::NOT_FOUND
    );

    // Searching Hamburg finds the Paris artist through the guest spot.
    let found: serde_json::Value = app
        .get("/api/v1/artists?city=Hamburg")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["artists"][0]["slug"], "flash-paris");

    // Booking a flash size pre-fills the request form for a client.
    let detail: serde_json::Value = app
        .get(&format!("/api/v1/artists/{}", found["artists"][0]["id"]))
        .await
        .json()
        .await
        .unwrap();
    let flash_id = detail["flash"][0]["id"].as_i64().unwrap();
    assert_eq!(detail["flash"][0]["variants"].as_array().unwrap().len(), 2);
    let c = crate::helpers::signed_up_client(&app, "fan@example.com").await;
    let form = c
        .get(app.url(&format!(
            "/artists/flash-paris/book?flash={flash_id}&size=M"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("Flash: &#34;Dagger and rose&#34;")
            || form.contains("Flash: &quot;Dagger and rose&quot;"),
        "{form}"
    );
    assert!(form.contains("value=\"M\" checked"), "size M pre-selected");
}
