//! Field-level encryption end to end: health answers, dates of birth and photos of skin are
//! sealed before they are stored (read back raw, the database and object store hold no
//! plaintext), the two parties read them as before, KMS (moto) wraps the data keys, rotation
//! re-wraps them while the service runs, and a KMS outage refuses writes with a clear 503.

use crate::binary::{Reaped, marketplace, moto_server};
use crate::bookings::{artist, future_slot, post, request_upload, send_upload};
use crate::helpers::{TestApp, holds, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use storage::testing::TestDb;

pub(crate) const MEDICAL: &str = "Takes warfarin since March";
pub(crate) const ALLERGY: &str = "Nickel and latex allergy";
const BORN: &str = "1987-03-14";

/// Everything the database holds, as bytes: the SQLite files, or PostgreSQL's `pg_dump`.
async fn raw_database(db: &TestDb) -> Vec<u8> {
    let url = db.url_str();
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap();
        let mut all = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            all.extend(wal);
        }
        all
    } else {
        let out = Command::new("pg_dump")
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

/// A request with a photo and a date of birth, quoted, accepted, paid, scheduled and consented
/// to; returns the two parties, the request's API path and the session id.
pub(crate) async fn consented(app: &TestApp, tag: &str) -> (Client, Client, String, i64) {
    let (artist_c, artist_id) = artist(
        app,
        &format!("{tag}-artist@example.com"),
        &format!("{tag}-artist"),
        "US-FL",
    )
    .await;
    let (client_c, _) = app
        .api_account(&format!("{tag}-client@example.com"), "client", "Api Person")
        .await;
    let png = crate::uploads::png(320, 240);
    let (s, req) = send_upload(&client_c, app, request_upload(artist_id, BORN, vec![png])).await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    let base = format!("/api/v1/booking-requests/{}", req["id"]);
    for (c, action, body) in [
        (
            &artist_c,
            "quote",
            json!({"price_min_cents": 30000, "sessions": 1}),
        ),
        (&client_c, "accept", json!({})),
        (&artist_c, "deposit-paid", json!({})),
    ] {
        let (s, out) = post(c, app, &format!("{base}/{action}"), body).await;
        assert_eq!(s, StatusCode::OK, "{action}: {out}");
    }
    let (s, ap) = post(
        &artist_c,
        app,
        &format!("{base}/appointments"),
        json!({"starts_at": future_slot(7, 10), "minutes": 120}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ap}");
    let ap_id = ap["id"].as_i64().unwrap();
    let consent = json!({"medical_notes": MEDICAL, "allergies": ALLERGY, "confirms_age": true,
                         "aftercare_acknowledged": true, "photo_permission": false});
    let (s, out) = post(
        &client_c,
        app,
        &format!("/api/v1/appointments/{ap_id}/consent"),
        consent,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    (client_c, artist_c, base, ap_id)
}

/// What the artist reads of the signed form.
async fn signed_answers(artist_c: &Client, app: &TestApp, base: &str) -> (String, String) {
    let detail: Value = crate::helpers::get_json(artist_c, app, base).await;
    let c = &detail["consents"][0];
    (
        c["medical_notes"].as_str().unwrap_or_default().to_owned(),
        c["allergies"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn health_answers_birth_dates_and_skin_photos_are_stored_sealed(db: TestDb) {
    let app = spawn_app_with(db, &[]).await;
    let (client_c, artist_c, base, ap_id) = consented(&app, "sealed").await;

    // The two parties read everything as before.
    assert_eq!(
        signed_answers(&artist_c, &app, &base).await,
        (MEDICAL.to_owned(), ALLERGY.to_owned())
    );
    let id = base.rsplit('/').next().unwrap();
    let pdf = client_c
        .get(app.url(&format!("/bookings/{id}/sessions/{ap_id}/consent.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    let detail: Value = crate::helpers::get_json(&client_c, &app, &base).await;
    let key = detail["references"][0][0].as_str().unwrap().to_owned();
    let photo = artist_c
        .get(app.url(&format!("/media/{key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), StatusCode::OK);
    assert_eq!(&photo.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);

    // Read raw, the database holds none of it in the clear.
    let raw = raw_database(&app.db).await;
    for plain in [MEDICAL, ALLERGY, BORN] {
        assert!(
            !holds(&raw, plain.as_bytes()),
            "{plain:?} is stored in the clear"
        );
    }
    assert!(holds(&raw, b"enc:v1:"), "the sealed values are there");
    // Nor does the object store: every reference photo and thumbnail is sealed.
    let files = crate::uploads::walk(&app.media.path().join("references"));
    assert_eq!(files.len(), 2, "a photo and its thumbnail");
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            bytes.starts_with(b"TMENC1"),
            "{} is not sealed",
            f.display()
        );
        assert!(!holds(&bytes, &[0xFF, 0xD8, 0xFF]) && !holds(&bytes, b"RIFF"));
    }
}

storage::on_both_databases!(health_answers_birth_dates_and_skin_photos_are_stored_sealed);

/// moto's KMS on a free port, with one symmetric key; returns the server, its URL and the key.
async fn moto_kms() -> Option<(Reaped, String, String)> {
    let moto = moto_server()?;
    let port = crate::browser::free_port();
    let server = Reaped(
        Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version_latest()
        .http_client(http)
        .endpoint_url(&endpoint)
        .region(aws_sdk_kms::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .build();
    let kms = aws_sdk_kms::Client::from_conf(config);
    let started = Instant::now();
    let key = loop {
        match kms
            .create_key()
            .description("tm field encryption")
            .send()
            .await
        {
            Ok(k) => break k.key_metadata().unwrap().arn().unwrap().to_owned(),
            Err(e) => {
                assert!(started.elapsed() < Duration::from_secs(30), "moto: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    Some((server, endpoint, key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_wraps_the_data_keys_rotation_rewraps_them_while_serving_and_an_outage_is_a_503() {
    let Some((_moto, endpoint, key)) = moto_kms().await else {
        return;
    };
    let kms_vars = [
        ("TM_ENCRYPTION_KMS_KEY_ID", key.as_str()),
        ("TM_ENCRYPTION_KMS_ENDPOINT", endpoint.as_str()),
    ];
    let app = spawn_app_with(TestDb::sqlite(), &kms_vars).await;
    let url = app.db.url_str().to_owned();
    let (_client_c, artist_c, base, _) = consented(&app, "kms").await;
    let keys = app.store.data_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_ref, key, "wrapped by the KMS key");

    // Rotation from the command line while the service runs: the key is re-wrapped, a new one
    // starts, and the running service and a fresh one both still read the form.
    let dir = tempfile::tempdir().unwrap();
    let out = marketplace(&url, dir.path())
        .env("TM_ENCRYPTION_KMS_KEY_ID", &key)
        .env("TM_ENCRYPTION_KMS_ENDPOINT", &endpoint)
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("rewrapped 1 data key(s)"), "{said}");
    let after = app.store.data_keys().await.unwrap();
    assert_eq!(after.len(), 2);
    assert_ne!(after[0].wrapped, keys[0].wrapped, "re-wrapped in place");
    assert_eq!(
        signed_answers(&artist_c, &app, &base).await,
        (MEDICAL.to_owned(), ALLERGY.to_owned())
    );
    let entries = app.store.audit_run(0, 1_000).await.unwrap();
    assert!(entries.iter().any(|e| e.action == "keys.rotated"));

    // KMS unreachable, nothing cached: a new request is refused with a clear 503 and leaves no
    // request and no photo behind.
    let dead = format!("http://127.0.0.1:{}", crate::browser::free_port());
    let down = spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_ENCRYPTION_KMS_KEY_ID", key.as_str()),
            ("TM_ENCRYPTION_KMS_ENDPOINT", dead.as_str()),
        ],
    )
    .await;
    let (_, artist_id) = artist(&down, "down-artist@example.com", "down-artist", "US-FL").await;
    let (c, _) = down
        .api_account("down-client@example.com", "client", "Api Person")
        .await;
    let png = crate::uploads::png(320, 240);
    let (s, body) = send_upload(&c, &down, request_upload(artist_id, BORN, vec![png])).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("try again"),
        "{body}"
    );
    let listed: Value = crate::helpers::get_json(&c, &down, "/api/v1/booking-requests").await;
    assert_eq!(
        listed["items"].as_array().map_or(0, Vec::len),
        0,
        "{listed}"
    );
    assert!(crate::uploads::walk(&down.media.path().join("references")).is_empty());
}
