//! The `marketplace` binary itself: subcommands, exit codes, startup errors and SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use storage::testing::TestDb;

fn marketplace(db_url: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marketplace"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("TM_")) {
        cmd.env_remove(key);
    }
    cmd.env("TM_CONFIG_DIR", dir.join("no-config"))
        .env("TM_DATABASE_URL", db_url)
        .env("TM_MEDIA_DIR", dir.join("media"))
        .env("TM_SERVER_PORT", "0")
        .env("TM_SERVER_PRE_STOP_DELAY_MS", "200")
        .env("TM_LOG_FORMAT", "json");
    cmd
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

#[test]
fn serve_answers_healthcheck_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let mut child = marketplace(&url, dir.path())
        .arg("serve")
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

    // A sign-up attempt with personal data: it must be logged as one line without that data.
    let client = reqwest::blocking::Client::new();
    let response = client
        .post(format!("{base}/api/v1/accounts"))
        .header("x-request-id", "req-log-check")
        .json(&serde_json::json!({
            "email": "private.person@example.com", "password": "secret passphrase 123",
            "display_name": "Private Person", "role": "client"
        }))
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);

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
    assert_eq!(line["status"], 201);
    assert!(line["latency_ms"].as_f64().is_some());
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
