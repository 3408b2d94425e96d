//! Abuse without an account: floods of sign-ins and of huge images must not exhaust memory. Runs
//! the real binary in its own process, so that its peak RSS is its own.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use storage::testing::TestDb;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Peak resident memory so far, in MiB (the kernel's high-water mark).
    fn peak_rss_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .expect("VmHWM")
            / 1024
    }
}

fn serve(db: &TestDb, dir: &std::path::Path, vars: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketplace"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TM_")) {
        cmd.env_remove(key);
    }
    cmd.env("TM_CONFIG_DIR", dir.join("no-config"))
        .env("TM_DATABASE_URL", db.url_str())
        .env("TM_MEDIA_DIR", dir.join("media"))
        .env("TM_MAIL_FOLDER", dir.join("mail"))
        .env("TM_SERVER_PORT", port.to_string())
        .env("TM_LOG_LEVEL", "warn")
        .envs(vars.iter().copied())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Server {
        child: cmd.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(format!("{}/health/ready", server.base))
        .map(|r| r.status() != StatusCode::OK)
        .unwrap_or(true)
    {
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_parallel_wrong_sign_ins_are_refused_with_retry_after_instead_of_exhausting_memory()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    // As from 500 addresses: the per-IP limit would otherwise answer before the hasher is reached.
    let server = tokio::task::block_in_place(|| {
        serve(
            &db,
            dir.path(),
            &[("TM_AUTH_ATTEMPTS_PER_MINUTE", "100000")],
        )
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // 500 different emails, so the per-account lock does not answer first either.
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let c = client.clone();
            let url = format!("{}/api/v1/session", server.base);
            tokio::spawn(async move {
                let r = c
                    .post(url)
                    .json(&json!({"email": format!("nobody{i}@example.com"), "password": "wrong password 123"}))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.headers().get("retry-after").cloned())
            })
        })
        .collect();
    let mut refused = 0;
    for t in tasks {
        let (status, retry_after) = t.await.unwrap();
        match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                let secs: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
                assert!(secs > 0);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused > 0,
        "the queue is bounded, so a burst of 500 overflows it"
    );
    let peak = server.peak_rss_mib();
    assert!(
        peak < 256,
        "peak RSS {peak} MiB under 500 parallel sign-ins"
    );
}

/// A 6000x6000 PNG of about 100 KB: tiny on the wire, 108 MB once decoded.
fn huge_png() -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(
        &vec![0u8; 6000 * 6000 * 3],
        6000,
        6000,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_bookings_with_huge_images_are_all_processed_within_a_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let server = tokio::task::block_in_place(|| serve(&db, dir.path(), &[]));
    let store = db.store().await;
    // Register, confirm the address (as its emailed link would) and sign in.
    let account = |email: &'static str, role: &'static str| {
        let base = server.base.clone();
        let store = store.clone();
        async move {
            let c = crate::helpers::client();
            let r = c
                .post(format!("{base}/api/v1/accounts"))
                .json(
                    &json!({"email": email, "password": crate::helpers::PASSWORD,
                              "display_name": "Memory Person", "role": role}),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::ACCEPTED);
            let parsed = domain::Email::parse(email).unwrap();
            let user = store
                .credentials_by_email(&parsed)
                .await
                .unwrap()
                .unwrap()
                .user;
            store
                .mark_email_verified(user.id, &parsed, 0)
                .await
                .unwrap();
            let r = c
                .post(format!("{base}/api/v1/session"))
                .json(&json!({"email": email, "password": crate::helpers::PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
            (c, id)
        }
    };
    let (_, artist_user) = account("mem-artist@example.com", "artist").await;
    let (client, _) = account("mem-client@example.com", "client").await;
    let artist = store
        .save_artist_settings(
            domain::UserId::new(artist_user),
            storage::testing::artist_settings("mem-artist"),
        )
        .await
        .unwrap();
    let png = huge_png();
    assert!(png.len() < 200 * 1024, "{} bytes", png.len());
    let before = server.peak_rss_mib();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in [
                ("artist_id", artist.id.get().to_string()),
                ("idea", "A koi sleeve with waves".into()),
                ("placement", "forearm".into()),
                ("size", "L".into()),
                ("budget", "400".into()),
                ("preferred_dates", "March".into()),
                ("date_of_birth", "1990-01-01".into()),
            ] {
                form = form.text(k, v);
            }
            for i in 0..4 {
                let part =
                    reqwest::multipart::Part::bytes(png.clone()).file_name(format!("big-{i}.png"));
                form = form.part("references", part);
            }
            let request = client
                .post(format!("{}/api/v1/booking-requests", server.base))
                .multipart(form);
            tokio::spawn(async move { request.send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::CREATED);
    }
    let peak = server.peak_rss_mib();
    assert!(
        peak < 512,
        "peak RSS {peak} MiB for 3 parallel bookings of four 6000x6000 images (before: {before} MiB)"
    );
}
