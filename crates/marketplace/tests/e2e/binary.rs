//! The `marketplace` binary itself: subcommands, exit codes, startup errors and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use storage::testing::TestDb;

pub(crate) fn marketplace(db_url: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketplace"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TM_")) {
        cmd.env_remove(key);
    }
    cmd.env("TM_CONFIG_DIR", dir.join("no-config"))
        .env("TM_DATABASE_URL", db_url)
        .env("TM_MEDIA_DIR", dir.join("media"))
        .env(
            "TM_ENCRYPTION_LOCAL_KEY_FILE",
            dir.join("field-encryption.key"),
        )
        .env("TM_SERVER_PORT", "0")
        .env("TM_SERVER_PRE_STOP_DELAY_MS", "200")
        .env("TM_LOG_FORMAT", "json");
    cmd
}

/// A started `marketplace serve`: its URL, the lines it printed up to it, and the rest as they
/// come.
pub(crate) struct Serving {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
    pub(crate) output: Vec<String>,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
}

/// Starts `command` (a `serve`) with its stdout read on a thread, and waits for its URL.
pub(crate) fn serve(mut command: Command) -> Serving {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut output = Vec::new();
    let base = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("prints its URL");
        output.push(line.clone());
        if let Some(url) = line.split("running at ").nth(1) {
            break url.trim().to_owned();
        }
    };
    Serving {
        child,
        base,
        output,
        lines,
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

#[test]
fn version_prints_the_version_commit_and_build_time_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = marketplace("sqlite://x.db", dir.path())
        .args(["version", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["commit"].is_string() && v["build_time"].is_string());
}

#[test]
fn an_unknown_database_url_scheme_stops_startup_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = marketplace("mysql://root:hunter2@localhost/tm", dir.path())
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("unsupported database URL scheme \"mysql\""),
        "{all}"
    );
    assert!(
        !all.contains("hunter2"),
        "the password never reaches the output: {all}"
    );
}

#[test]
fn production_refuses_insecure_settings_and_names_each_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = marketplace("postgres://app:pw@127.0.0.1/tm", dir.path())
        .env("TM_CONFIG_DIR", repo_config())
        .env("TM_ENV", "production")
        .env("TM_SESSION_SECRET", "too-short")
        .env("TM_AUTH_SIMPLIFIED_SIGN_IN", "true")
        .env("TM_SESSION_SECURE_COOKIE", "false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let all = text(&out);
    for setting in [
        "session.secret",
        "too short",
        "auth.simplified_sign_in",
        "session.secure_cookie",
    ] {
        assert!(all.contains(setting), "{setting} not named in: {all}");
    }
    assert!(
        !all.contains("too-short"),
        "the secret itself is never printed"
    );

    let missing = marketplace("postgres://app:pw@127.0.0.1/tm", dir.path())
        .env("TM_CONFIG_DIR", repo_config())
        .env("TM_ENV", "production")
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("session.secret (TM_SESSION_SECRET) is missing"));
}

#[test]
fn migrate_check_reports_pending_migrations_without_applying_them() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let check = marketplace(&url, dir.path())
        .args(["migrate", "--check"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(text(&check).contains("pending"));
    let again = marketplace(&url, dir.path())
        .args(["migrate", "--check"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "--check applied nothing");
    let apply = marketplace(&url, dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", text(&apply));
    let embedded = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../storage/migrations/sqlite"
    ))
    .unwrap()
    .count();
    assert!(
        text(&apply).contains(&format!("applied {embedded} migration")),
        "{}",
        text(&apply)
    );
    let ok = marketplace(&url, dir.path())
        .args(["migrate", "--check"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
}

#[tokio::test]
async fn migrate_works_on_postgresql_too() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url_str().to_owned();
    let d = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let apply = marketplace(&url, &d).arg("migrate").output().unwrap();
        let check = marketplace(&url, &d)
            .args(["migrate", "--check"])
            .output()
            .unwrap();
        (apply, check)
    })
    .await
    .unwrap();
    assert!(out.0.status.success(), "{}", text(&out.0));
    assert!(out.1.status.success(), "{}", text(&out.1));
}

/// The deploy engine migrates, then starts a whole fleet at once on the new database: every
/// instance must come up, with the demo seeded exactly once.
async fn instances_starting_together_on_an_empty_database_all_come_up(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let url = db.url_str().to_owned();
    let d = dir.path().to_owned();
    let migrate = {
        let (url, d) = (url.clone(), d.clone());
        tokio::task::spawn_blocking(move || marketplace(&url, &d).arg("migrate").output().unwrap())
            .await
            .unwrap()
    };
    assert!(migrate.status.success(), "{}", text(&migrate));
    let outcomes = tokio::task::spawn_blocking(move || {
        let mut children: Vec<_> = (0..2)
            .map(|_| {
                marketplace(&url, &d)
                    .arg("serve")
                    .env("TM_DEMO_SEED_WHEN_EMPTY", "true")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let readers: Vec<_> = children
            .iter_mut()
            .map(|child| {
                let stdout = child.stdout.take().unwrap();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        let up = line.contains("running at ");
                        seen.push(line);
                        if up {
                            return (true, seen);
                        }
                    }
                    (false, seen)
                })
            })
            .collect();
        let outcomes: Vec<(bool, Vec<String>)> =
            readers.into_iter().map(|r| r.join().unwrap()).collect();
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        outcomes
    })
    .await
    .unwrap();
    for (up, lines) in &outcomes {
        assert!(up, "an instance did not come up: {lines:#?}");
    }
    let seeded = outcomes
        .iter()
        .filter(|(_, lines)| lines.iter().any(|l| l.contains("demo data seeded")))
        .count();
    assert_eq!(seeded, 1, "exactly one instance seeds: {outcomes:#?}");
    let store = db.store().await;
    assert!(store.catalogue_counts().await.unwrap().artists >= 40);
}

storage::on_both_databases!(instances_starting_together_on_an_empty_database_all_come_up);

#[test]
fn serve_answers_healthcheck_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut command = marketplace(&url, dir.path());
    command
        .arg("serve")
        .env("TM_LOG_EMF_NAMESPACE", "TattooMarketplace");
    let Serving {
        mut child,
        base,
        mut output,
        lines,
    } = serve(command);

    // A sign-up attempt with personal data: it must be logged as one line without that data.
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{base}/api/v1/accounts"))
        .header("x-request-id", "req-log-check")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&serde_json::json!({
            "email": "private.person@example.com", "password": "secret passphrase 123",
            "display_name": "Private Person", "role": "client"
        }))
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);

    let health = marketplace(&url, dir.path())
        .args(["healthcheck", "--url", &format!("{base}/health/ready")])
        .output()
        .unwrap();
    assert!(health.status.success(), "{}", text(&health));

    let started = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    output.extend(lines.try_iter());
    let request_lines: Vec<serde_json::Value> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["request_id"] == "req-log-check" && v["message"] == "request")
        .collect();
    assert_eq!(request_lines.len(), 1, "one line per request: {output:#?}");
    let line = &request_lines[0];
    assert_eq!(line["route"], "/api/v1/accounts");
    assert_eq!(line["method"], "POST");
    assert_eq!(line["status"], 202);
    assert!(line["latency_ms"].as_f64().is_some());
    // The caller's trace continues here: its id is on the line, under a span of our own.
    assert_eq!(line["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    assert!(
        line["span_id"]
            .as_str()
            .is_some_and(|s| s.len() == 16 && s != "b7ad6b7169203331")
    );
    // Every line written while serving a request carries its trace id.
    let in_requests: Vec<serde_json::Value> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == "req-log-check")
        .collect();
    assert!(
        in_requests.len() >= 2,
        "the sign-up logs inside its request: {output:#?}"
    );
    assert!(
        in_requests
            .iter()
            .all(|v| v["trace_id"] == "0af7651916cd43dd8448eb211c80319c")
    );
    // And every log line at all: start-up and shutdown are traces of their own.
    let log_lines: Vec<serde_json::Value> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("level").is_some())
        .collect();
    for wanted in ["starting", "listening", "shutdown complete"] {
        assert!(
            log_lines.iter().any(|v| v["message"] == wanted),
            "no {wanted:?} line: {output:#?}"
        );
    }
    for line in &log_lines {
        assert!(
            line["trace_id"]
                .as_str()
                .is_some_and(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())),
            "a log line without a trace id: {line}"
        );
    }
    // The registration is also a CloudWatch Embedded Metric Format line, for ECS.
    let emf: Vec<serde_json::Value> = output
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TattooMarketplace")
        .collect();
    assert_eq!(emf.len(), 1, "{output:#?}");
    assert_eq!(emf[0]["Registrations"], 1.0);
    assert_eq!(emf[0]["Environment"], "development");
    let all = output.join("\n");
    for private in [
        "private.person@example.com",
        "secret passphrase 123",
        "Private Person",
    ] {
        assert!(!all.contains(private), "{private} leaked into logs:\n{all}");
    }
    assert!(all.contains("shutdown complete"));

    let down = marketplace(&url, dir.path())
        .args([
            "healthcheck",
            "--url",
            &format!("{base}/health/ready"),
            "--timeout-secs",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        down.status.code(),
        Some(1),
        "healthcheck fails when nothing answers"
    );
}

#[test]
fn seed_demo_refuses_a_database_that_already_has_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let migrate = marketplace(&url, dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(migrate.status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = storage::connect(&url.clone().into(), &Default::default())
            .await
            .unwrap();
        store
            .create_user(storage::NewUser {
                email: domain::Email::parse("someone@example.com").unwrap(),
                display_name: domain::DisplayName::parse("Someone").unwrap(),
                role: domain::Role::Client,
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        store.close().await;
    });
    let out = marketplace(&url, dir.path())
        .arg("seed-demo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("only fills an empty database"));
}

/// Kills a child process when the test ends, passing or not.
pub(crate) struct Reaped(pub(crate) std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's local S3, from `scripts/install-tools.sh`. Required in CI; skipped elsewhere without it.
pub(crate) fn moto_server() -> Option<PathBuf> {
    let found = std::env::var_os("TM_MOTO_SERVER")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/opt/tm-tools/bin/moto_server")))
        .filter(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "moto_server is missing: run scripts/install-tools.sh"
        );
        eprintln!("skipped: moto_server is not installed (scripts/install-tools.sh)");
    }
    found
}

#[test]
fn media_goes_to_s3_under_media_and_reference_photos_come_back_only_through_the_service() {
    let Some(moto) = moto_server() else { return };
    let s3_port = crate::browser::free_port();
    let _moto = Reaped(
        Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &s3_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let s3 = format!("http://127.0.0.1:{s3_port}");
    // moto checks who asks but not the signature: any well-formed credential reads the bucket.
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0"
            .parse()
            .unwrap(),
    );
    let http = reqwest::blocking::Client::builder()
        .default_headers(auth)
        .build()
        .unwrap();
    let started = Instant::now();
    while http.get(&s3).send().is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        http.put(format!("{s3}/tm-media"))
            .send()
            .unwrap()
            .status()
            .is_success()
    );

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s3.db").display());
    let with_s3 = |mut cmd: Command| {
        cmd.env("TM_MEDIA_S3_BUCKET", "tm-media")
            .env("AWS_ENDPOINT", &s3)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("TM_JOBS_ENABLED", "false");
        cmd
    };
    let seeded = with_s3(marketplace(&url, dir.path()))
        .arg("seed-demo")
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{}", text(&seeded));
    let mut server = with_s3(marketplace(&url, dir.path()));
    let mut child = server
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Reaped(child);
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let base = lines
        .find_map(|l| l.split("running at ").nth(1).map(|u| u.trim().to_owned()))
        .expect("prints its URL");

    let client = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    // A demo client: its address is confirmed, so it may send requests.
    let r = client
        .post(format!("{base}/api/v1/session"))
        .json(
            &serde_json::json!({"email": "sam.whitfield@clients.tattoo.example",
                                  "password": "ink-and-needles-demo"}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let artists: serde_json::Value = client
        .get(format!("{base}/api/v1/artists?open=on"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let artist_id = artists["artists"][0]["id"].as_i64().expect("a demo artist");

    let png = {
        let img = image::RgbImage::from_pixel(320, 240, image::Rgb([30, 60, 90]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let form = reqwest::blocking::multipart::Form::new()
        .text("artist_id", artist_id.to_string())
        .text("idea", "A small koi on the forearm, black and grey")
        .text("placement", "forearm")
        .text("size", "M")
        .text("date_of_birth", "1990-01-01")
        .part(
            "references",
            reqwest::blocking::multipart::Part::bytes(png).file_name("koi.png"),
        );
    let r = client
        .post(format!("{base}/api/v1/booking-requests"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED, "{:?}", r.text());
    let id = r.json::<serde_json::Value>().unwrap()["id"]
        .as_i64()
        .unwrap();
    let detail: serde_json::Value = client
        .get(format!("{base}/api/v1/booking-requests/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let key = detail["references"][0][0]
        .as_str()
        .expect("a reference key");
    assert!(key.starts_with("references/"), "{key}");

    // In the bucket under media/, where the CDN's /media/* paths point; nothing at the top.
    let stored = http
        .get(format!("{s3}/tm-media/media/{key}"))
        .send()
        .unwrap();
    assert_eq!(stored.status(), reqwest::StatusCode::OK);
    // A photo of skin: the bucket holds it encrypted, never the JPEG.
    let stored = stored.bytes().unwrap();
    assert!(stored.starts_with(b"TMENC1"), "stored sealed");
    assert!(
        !stored.windows(3).any(|w| w == [0xFF, 0xD8, 0xFF]),
        "no JPEG in the bucket"
    );
    let top = http.get(format!("{s3}/tm-media/{key}")).send().unwrap();
    assert_eq!(top.status(), reqwest::StatusCode::NOT_FOUND);

    // The service reads it back from S3 for the client, and for nobody else.
    let served = client.get(format!("{base}/media/{key}")).send().unwrap();
    assert_eq!(served.status(), reqwest::StatusCode::OK);
    let served = served.bytes().unwrap();
    assert_eq!(
        &served[..2],
        &[0xFF, 0xD8],
        "decrypted for the client, as JPEG"
    );
    let stranger = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = stranger.get(format!("{base}/media/{key}")).send().unwrap();
    assert_ne!(r.status(), reqwest::StatusCode::OK);
}
