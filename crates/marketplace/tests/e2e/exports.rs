//! A copy of one's data (GDPR art. 15 and 20): asked for on the account page, built in the
//! background, announced by email, downloaded by its owner alone as a tar of JSON and images,
//! stored sealed, and purged once expired.

use crate::encryption::{ALLERGY, MEDICAL, consented};
use crate::helpers::{csrf_in, email_containing, holds, spawn_app_with};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::io::Read;
use std::time::{Duration, Instant};
use storage::testing::TestDb;

async fn a_person_downloads_everything_about_them_and_nobody_else_can(db: TestDb) {
    let app = spawn_app_with(db, &[("TM_RETENTION_RUN_EVERY_MINUTES", "0")]).await;
    let (client_c, artist_c, base, _) = consented(&app, "export").await;
    let booking = base.rsplit('/').next().unwrap().to_owned();

    let account = client_c
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(account.contains("id=\"your-data\""));
    let token = csrf_in(&account).unwrap();
    let asked = client_c
        .post(app.url("/account/data/export"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    // Without the form's token, nothing is asked for.
    let forged = client_c
        .post(app.url("/account/data/export"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let mail = email_containing(
        &app.media.path().join("mail"),
        "export-client@example.com",
        "/account/data/exports/",
    )
    .await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/account/data/exports/"))
        .unwrap();
    let path = link[link.find("/account/data/exports/").unwrap()..].to_owned();

    // The artist of the same request may not have it.
    let theirs = artist_c.get(app.url(&path)).send().await.unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    let r = client_c.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-tar");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let tar = r.bytes().await.unwrap();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut archive = tar::Archive::new(&tar[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(name, bytes);
    }
    let account: serde_json::Value = serde_json::from_slice(&files["account.json"]).unwrap();
    assert_eq!(account["account"]["email"], "export-client@example.com");
    assert!(!account["accepted_documents"].as_array().unwrap().is_empty());
    let request = &files[&format!("booking-requests/{booking}/request.json")];
    for plain in [MEDICAL, ALLERGY] {
        assert!(
            holds(request, plain.as_bytes()),
            "{plain} missing from the export"
        );
    }
    let photo = files
        .iter()
        .find(|(k, _)| k.starts_with(&format!("booking-requests/{booking}/reference-photos/")))
        .expect("the reference photo");
    assert_eq!(&photo.1[..2], &[0xFF, 0xD8]);
    assert!(files.keys().any(|k| k.starts_with("security-log/")));
    assert!(files.contains_key("README.txt"));

    // What the object store keeps of it is sealed.
    let parts = crate::uploads::walk(&app.media.path().join("exports"));
    assert!(!parts.is_empty());
    for p in &parts {
        let bytes = std::fs::read(p).unwrap();
        assert!(bytes.starts_with(b"TMENC1") && !holds(&bytes, MEDICAL.as_bytes()));
    }
    let audited: Vec<String> = app
        .store
        .audit_entries(&Default::default(), 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(audited.contains(&"data_export.requested".to_owned()));
    assert!(audited.contains(&"data_export.completed".to_owned()));

    // Past its expiry it is gone: refused with 410, then purged from the store by the sweep.
    app.db
        .execute("UPDATE data_exports SET expires_at = 1")
        .await
        .unwrap();
    let late = client_c.get(app.url(&path)).send().await.unwrap();
    assert_eq!(late.status(), StatusCode::GONE);
    let started = Instant::now();
    while !crate::uploads::walk(&app.media.path().join("exports")).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "parts not purged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let page = client_c
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Expired: ask again"), "{page}");
}

storage::on_both_databases!(a_person_downloads_everything_about_them_and_nobody_else_can);
