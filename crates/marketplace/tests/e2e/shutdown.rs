//! Graceful shutdown: readiness flips first, nothing is refused during the pre-stop delay, and
//! in-flight requests finish.

use crate::helpers::spawn_app_with;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use storage::testing::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn fresh_connection_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_in_flight_request_completes_after_shutdown_begins() {
    let mut app = spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_SERVER_PRE_STOP_DELAY_MS", "200"),
            ("TM_SERVER_DRAIN_DEADLINE_MS", "10000"),
        ],
    )
    .await;
    let body = r#"{"email":"slow@example.com","password":"koi carp sleeve 1998"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.begin_shutdown();
    // Wait until the pre-stop delay is over and the listener has closed; this request is still in flight.
    let closed_by = Instant::now() + Duration::from_secs(5);
    loop {
        let probe = TcpStream::connect(app.address.trim_start_matches("http://")).await;
        if probe.is_err() {
            break;
        }
        assert!(Instant::now() < closed_by, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 403"),
        "the in-flight request got its answer: {response}"
    );
    app.stop().await.expect("clean exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_is_refused_during_the_pre_stop_delay_while_readiness_says_draining() {
    let mut app =
        spawn_app_with(TestDb::sqlite(), &[("TM_SERVER_PRE_STOP_DELAY_MS", "1500")]).await;
    let client = fresh_connection_client();
    assert_eq!(
        client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(1000) {
        let live = client
            .get(app.url("/"))
            .send()
            .await
            .expect("no refused connection");
        assert_eq!(live.status(), StatusCode::OK);
        let ready = client
            .get(app.url("/health/ready"))
            .send()
            .await
            .expect("no refused connection");
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(body["status"], "draining");
        served += 1;
    }
    assert!(served > 2, "only {served} rounds");
    let metrics = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("marketplace_draining 1"));
    let finished = Instant::now();
    app.stop().await.expect("clean exit");
    assert!(finished.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_request_cannot_hold_shutdown_past_the_drain_deadline() {
    let mut app = spawn_app_with(
        TestDb::sqlite(),
        &[
            ("TM_SERVER_PRE_STOP_DELAY_MS", "0"),
            ("TM_SERVER_DRAIN_DEADLINE_MS", "500"),
        ],
    )
    .await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"POST /api/v1/session HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    app.begin_shutdown();
    app.stop().await.expect("exits cleanly after the deadline");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}
