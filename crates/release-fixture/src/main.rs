//! A release that behaves badly on purpose, with the marketplace's command-line interface
//! (`version --json`, `migrate`, `serve`), so deploy tests can exercise every rollback trigger.
//!
//! `FIXTURE_MODE`: `healthy` (default), `unhealthy` (readiness 503), `errors:RATE` (that share of
//! requests answer 500), `slow:SECONDS` (every page waits that long), `crash:N` (exits after N
//! requests), and faults confined to part of the traffic, as real releases fail:
//! `hang:PREFIX:SECONDS` (paths under PREFIX wait that long), `fail:METHOD` (that method answers
//! 500), `leak:MS` (each request waits MS longer than the one before), `crash-first:PATH` (the
//! first instance to start creates PATH and exits at once, as one of a fleet starting together
//! on a shared resource may; later starts serve). `FIXTURE_VERSION` names the release. `FIXTURE_MARK` names a file: readiness fails
//! while it exists, and `migrate` creates it when this binary's file ends with the bytes
//! `breaking-migration` — a release whose migration is not backward compatible.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Clone)]
enum Mode {
    Healthy,
    Unhealthy,
    Errors(f64),
    Slow(f64),
    Crash(u64),
    Hang(String, f64),
    Fail(axum::http::Method),
    Leak(f64),
    CrashFirst(std::path::PathBuf),
}

fn mode() -> Mode {
    let raw = std::env::var("FIXTURE_MODE").unwrap_or_default();
    let (kind, arg) = raw.split_once(':').unwrap_or((raw.as_str(), ""));
    match (kind, arg.parse::<f64>()) {
        ("unhealthy", _) => Mode::Unhealthy,
        ("errors", Ok(rate)) => Mode::Errors(rate),
        ("slow", Ok(secs)) => Mode::Slow(secs),
        ("crash", Ok(n)) => Mode::Crash(n as u64),
        ("leak", Ok(ms)) => Mode::Leak(ms),
        ("crash-first", _) if !arg.is_empty() => Mode::CrashFirst(arg.into()),
        ("fail", _) => arg.parse().map_or(Mode::Healthy, Mode::Fail),
        ("hang", _) => match arg.rsplit_once(':') {
            Some((prefix, secs)) => secs
                .parse()
                .map_or(Mode::Healthy, |s| Mode::Hang(prefix.to_owned(), s)),
            None => Mode::Healthy,
        },
        _ => Mode::Healthy,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let version = std::env::var("FIXTURE_VERSION").unwrap_or_else(|_| "0.0.0-fixture".into());
    match args.first().map(String::as_str) {
        Some("version") => println!(
            "{{\"version\":\"{version}\",\"commit\":\"fixture\",\"build_time\":\"unknown\"}}"
        ),
        Some("migrate") => migrate(),
        Some("serve") | None => serve(version),
        Some(other) => {
            eprintln!("unknown command {other}");
            std::process::exit(64);
        }
    }
}

fn migrate() {
    let breaking = std::env::current_exe()
        .and_then(std::fs::read)
        .map(|bytes| {
            bytes.len() >= 64
                && String::from_utf8_lossy(&bytes[bytes.len() - 64..])
                    .contains("breaking-migration")
        })
        .unwrap_or(false);
    match (breaking, std::env::var_os("FIXTURE_MARK")) {
        (true, Some(mark)) => {
            std::fs::write(mark, b"dropped a column the running release reads")
                .expect("write mark");
            println!("applied 1 migration(s): [20270101000000]");
        }
        _ => println!("no pending migrations"),
    }
}

fn serve(version: String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let port: u16 = std::env::var("TM_SERVER_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(8080);
        let mode = mode();
        if let Mode::CrashFirst(path) = &mode
            && std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .is_ok()
        {
            eprintln!("crash-first: this start crashes; the next ones serve");
            std::process::exit(1);
        }
        let ready_mode = mode.clone();
        let served = Arc::new(AtomicU64::new(0));
        let page = move |method: axum::http::Method, uri: axum::http::Uri| {
            let served = served.clone();
            let version = version.clone();
            let mode = mode.clone();
            async move {
                let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                match mode {
                    Mode::Hang(prefix, secs) if uri.path().starts_with(&prefix) => {
                        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                        (StatusCode::OK, format!("Tattoo Marketplace {version}"))
                    }
                    Mode::Fail(m) if m == method => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "fixture error".to_owned(),
                    ),
                    Mode::Leak(ms) => {
                        tokio::time::sleep(Duration::from_secs_f64(ms * n as f64 / 1000.0)).await;
                        (StatusCode::OK, format!("Tattoo Marketplace {version}"))
                    }
                    Mode::Errors(rate)
                        if (n as f64 * rate).floor() > ((n - 1) as f64 * rate).floor() =>
                    {
                        (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "fixture error".to_owned(),
                        )
                    }
                    Mode::Slow(secs) => {
                        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                        (StatusCode::OK, format!("Tattoo Marketplace {version}"))
                    }
                    Mode::Crash(limit) if n >= limit => std::process::exit(101),
                    _ => (StatusCode::OK, format!("Tattoo Marketplace {version}")),
                }
            }
        };
        let mark = std::env::var_os("FIXTURE_MARK");
        let ready = move || {
            let mode = ready_mode.clone();
            let broken = mark
                .as_ref()
                .is_some_and(|m| std::path::Path::new(m).exists());
            async move {
                match mode {
                    Mode::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
                    _ if broken => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::OK,
                }
            }
        };
        let app = Router::new()
            .route("/health/ready", get(ready))
            .route("/health/live", get(|| async { "live" }))
            .fallback(page);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal");
            term.recv().await;
        };
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .expect("serve");
    });
}
