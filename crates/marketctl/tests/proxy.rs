//! The host agent against real HTTP backends and the real marketplace binary.

use axum::Router;
use axum::routing::{get, post};
use marketctl::proxy::{self, ProxyConfig, Running};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "test-token-0123456789abcdefghijklmnop";

struct Backend {
    addr: SocketAddr,
    posts: Arc<AtomicUsize>,
}

async fn backend(version: &'static str) -> Backend {
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    let app = Router::new()
        .route("/", get(move || async move { version }))
        .route(
            "/slow",
            get(move || async move {
                tokio::time::sleep(Duration::from_millis(800)).await;
                version
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/echo",
            post(move || {
                let counter = counter.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    version
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Backend { addr, posts }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn agent() -> (Running, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let running = proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        state_dir: state.path().to_owned(),
        tracing: None,
    })
    .await
    .unwrap();
    (running, state)
}

fn admin_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn set_routes(agent: &Running, spec: Value) {
    let response = admin_client()
        .put(format!("http://{}/v1/routes", agent.admin))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

fn route(version: &str, weight: u32, backends: &[(&str, SocketAddr)]) -> Value {
    json!({
        "version": version,
        "weight": weight,
        "backends": backends.iter().map(|(id, addr)| json!({"id": id, "addr": addr})).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_versions_under_load_fails_no_request() {
    let (a, b) = (backend("v1").await, backend("v2").await);
    let (agent, _state) = agent().await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 100, &[("a", a.addr)])]}),
    )
    .await;
    let url = format!("http://{}/", agent.public);
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..150 {
                    let r = client.get(&url).send().await.expect("no connection error");
                    seen.push((r.status(), r.text().await.unwrap()));
                }
                seen
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(60)).await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 0, &[("a", a.addr)]), route("v2", 100, &[("b", b.addr)])]}),
    )
    .await;
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    assert!(
        all.iter().all(|(s, _)| *s == StatusCode::OK),
        "a request failed during the switch"
    );
    assert!(all.iter().any(|(_, v)| v == "v1") && all.iter().any(|(_, v)| v == "v2"));
    let after = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(after, "v2", "the switch is complete and atomic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_backend_finishes_in_flight_requests_and_gets_no_new_ones() {
    let (a, b) = (backend("v1").await, backend("v2").await);
    let (agent, _state) = agent().await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 100, &[("a", a.addr)])]}),
    )
    .await;
    let slow = tokio::spawn(reqwest::get(format!("http://{}/slow", agent.public)));
    tokio::time::sleep(Duration::from_millis(150)).await;
    set_routes(
        &agent,
        json!({"versions": [route("v2", 100, &[("b", b.addr)])]}),
    )
    .await;
    for _ in 0..20 {
        let v = reqwest::get(format!("http://{}/", agent.public))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(v, "v2");
    }
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status(), StatusCode::OK);
    assert_eq!(
        slow.text().await.unwrap(),
        "v1",
        "the in-flight request finished on the old backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_are_retried_once_on_a_refused_connection_but_posts_never_are() {
    let a = backend("v1").await;
    let dead = free_addr();
    let (agent, _state) = agent().await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 100, &[("a", a.addr), ("dead", dead)])]}),
    )
    .await;
    let client = reqwest::Client::new();
    for _ in 0..40 {
        let r = client
            .get(format!("http://{}/", agent.public))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "GET was retried on the live backend"
        );
    }
    let mut ok = 0;
    let mut bad_gateway = 0;
    for _ in 0..40 {
        match client
            .post(format!("http://{}/echo", agent.public))
            .send()
            .await
            .unwrap()
            .status()
        {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_GATEWAY => bad_gateway += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        bad_gateway > 0,
        "some POSTs hit the dead backend and were not retried"
    );
    assert_eq!(
        a.posts.load(Ordering::SeqCst),
        ok,
        "no POST reached a backend twice"
    );
}

#[tokio::test]
async fn the_admin_api_refuses_a_missing_or_wrong_token() {
    let (agent, _state) = agent().await;
    let url = format!("http://{}/v1/state", agent.admin);
    assert_eq!(
        reqwest::get(&url).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = reqwest::Client::new()
        .get(&url)
        .bearer_auth("x".repeat(40))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let put = reqwest::Client::new()
        .put(format!("http://{}/v1/routes", agent.admin))
        .json(&json!({"versions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin_client().get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let bad = admin_client()
        .put(format!("http://{}/v1/routes", agent.admin))
        .json(&json!({"versions": [{"version": "v1", "weight": 0, "backends": []}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let empty = reqwest::get(format!("http://{}/", agent.public))
        .await
        .unwrap();
    assert_eq!(
        empty.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "no routes: 503, not a hang"
    );
}

#[tokio::test]
async fn the_agent_refuses_a_public_admin_listener_or_a_weak_token() {
    let state = tempfile::tempdir().unwrap();
    let config = |admin: &str, token: &str| ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: admin.parse().unwrap(),
        token: token.into(),
        state_dir: state.path().to_owned(),
        tracing: None,
    };
    let public = proxy::start(config("0.0.0.0:0", TOKEN))
        .await
        .err()
        .unwrap();
    assert!(public.to_string().contains("loopback"), "{public}");
    let weak = proxy::start(config("127.0.0.1:0", "short"))
        .await
        .err()
        .unwrap();
    assert!(weak.to_string().contains("at least 32"), "{weak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_version_metrics_feed_the_sliding_window_and_prometheus() {
    let (a, b) = (backend("v1").await, backend("v2").await);
    let (agent, _state) = agent().await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 100, &[("a", a.addr)]), route("v2", 0, &[("b", b.addr)])]}),
    )
    .await;
    for _ in 0..20 {
        reqwest::get(format!("http://{}/", agent.public))
            .await
            .unwrap();
    }
    for _ in 0..5 {
        reqwest::get(format!("http://{}/fail", agent.public))
            .await
            .unwrap();
    }
    let window: Value = admin_client()
        .get(format!("http://{}/v1/window/v1?seconds=60", agent.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(window["requests"], 25);
    assert_eq!(window["errors"], 5);
    assert!((window["error_rate"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert!(window["p95_seconds"].as_f64().unwrap() <= 0.25);
    let idle: Value = admin_client()
        .get(format!("http://{}/v1/window/v2", agent.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(idle["requests"], 0);
    let text = reqwest::get(format!("http://{}/metrics", agent.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"marketctl_proxy_responses_5xx_total{version="v1"} 5"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"marketctl_proxy_request_duration_seconds_bucket{version="v1",le="60"} 25"#
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_past_its_route_timeout_gets_504_counted_against_its_version() {
    let (agent, _state) = agent().await;
    let b = backend("v2").await;
    let mut spec = json!({"versions": [route("v2", 100, &[("b", b.addr)])]});
    // `/slow` takes 0.8 s: past the 0.3 s default, within its own 2 s.
    spec["timeouts"] = json!({"default_ms": 300, "by_prefix": []});
    set_routes(&agent, spec.clone()).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let r = client
        .get(format!("http://{}/slow", agent.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_millis(750),
        "answered at the timeout"
    );
    let fast = client
        .get(format!("http://{}/", agent.public))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), StatusCode::OK, "other routes are unaffected");
    let window: Value = admin_client()
        .get(format!("http://{}/v1/window/v2?seconds=30", agent.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (window["requests"].as_u64(), window["errors"].as_u64()),
        (Some(2), Some(1))
    );
    let slow = window["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["route"] == "/slow")
        .expect("the route's own group");
    assert_eq!(
        (slow["method"].as_str(), slow["errors"].as_u64()),
        (Some("GET"), Some(1))
    );

    spec["timeouts"] = json!({"default_ms": 300, "by_prefix": [{"prefix": "/slow", "ms": 2000}]});
    set_routes(&agent, spec).await;
    let r = client
        .get(format!("http://{}/slow", agent.public))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the prefix's longer timeout applies"
    );

    let bad = admin_client()
        .put(format!("http://{}/v1/routes", agent.admin))
        .json(&json!({"versions": [], "timeouts": {"default_ms": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.text().await.unwrap()
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_cookie_keeps_a_visitor_on_one_version() {
    let (a, b) = (backend("v1").await, backend("v2").await);
    let (agent, _state) = agent().await;
    set_routes(
        &agent,
        json!({"versions": [route("v1", 50, &[("a", a.addr)]), route("v2", 50, &[("b", b.addr)])], "sticky_cookie": "tm_release"}),
    )
    .await;
    for _ in 0..5 {
        let visitor = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let first = visitor
            .get(format!("http://{}/", agent.public))
            .send()
            .await
            .unwrap();
        assert!(
            first.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .starts_with("tm_release=v")
        );
        let version = first.text().await.unwrap();
        for _ in 0..10 {
            let again = visitor
                .get(format!("http://{}/", agent.public))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(again, version);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_reaches_the_version_it_names_only_while_that_version_takes_traffic() {
    let (a, b) = (backend("v1").await, backend("v2").await);
    let (agent, _state) = agent().await;
    let client = reqwest::Client::new();
    let probe = |version: &'static str| {
        client
            .get(format!("http://{}/", agent.public))
            .header("x-marketctl-pin", version)
            .send()
    };
    set_routes(
        &agent,
        json!({"versions": [route("v1", 95, &[("a", a.addr)]), route("v2", 5, &[("b", b.addr)])]}),
    )
    .await;
    for _ in 0..20 {
        let answer = probe("v2").await.unwrap();
        assert!(answer.headers().get("set-cookie").is_none());
        assert_eq!(
            answer.text().await.unwrap(),
            "v2",
            "the 5% canary, every time"
        );
    }
    // A version without weight (a warm old release) cannot be reached by naming it.
    set_routes(
        &agent,
        json!({"versions": [route("v1", 0, &[("a", a.addr)]), route("v2", 100, &[("b", b.addr)])]}),
    )
    .await;
    for _ in 0..10 {
        assert_eq!(probe("v1").await.unwrap().text().await.unwrap(), "v2");
    }
    agent.shutdown().await;
}

fn marketplace_binary() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or(root.join("target"));
    let binary = target.join("debug/marketplace");
    if !binary.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "marketplace", "--bin", "marketplace"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(status.success(), "building the marketplace binary");
    }
    binary
}

async fn instance_view(agent: &Running, id: &str) -> Value {
    admin_client()
        .get(format!("http://{}/v1/instances/{id}", agent.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_for(agent: &Running, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = instance_view(agent, id).await;
        if ok(&view) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {what}: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_runs_restarts_and_gracefully_stops_the_real_marketplace() {
    let binary = marketplace_binary();
    let (agent, state) = agent().await;
    let port = free_addr().port();
    let data = tempfile::tempdir().unwrap();
    let spec = json!({
        "id": "web-1", "version": "test", "binary": binary, "args": ["serve"], "port": port,
        "env": {
            "TM_CONFIG_DIR": data.path().join("none"),
            "TM_DATABASE_URL": format!("sqlite://{}", data.path().join("m.db").display()),
            "TM_MEDIA_DIR": data.path().join("media"),
            // Not the default `data/…` under the test's working directory, the source tree.
            "TM_ENCRYPTION_LOCAL_KEY_FILE": data.path().join("field-encryption.key"),
            "TM_MAIL_FOLDER": data.path().join("mail"),
            "TM_SERVER_PRE_STOP_DELAY_MS": "200",
            "TM_LOG_FORMAT": "json",
        }
    });
    let admin = admin_client();
    let created = admin
        .post(format!("http://{}/v1/instances", agent.admin))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let again = admin
        .post(format!("http://{}/v1/instances", agent.admin))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let ready = wait_for(&agent, "web-1", "ready", |v| v["status"] == "ready").await;
    set_routes(&agent, json!({"versions": [route("test", 100, &[("web-1", SocketAddr::from(([127, 0, 0, 1], port)))])]})).await;
    let home = reqwest::get(format!("http://{}/", agent.public))
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Tattoo Marketplace"));

    // A crash is restarted with backoff.
    let pid = ready["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let restarted = wait_for(&agent, "web-1", "restarted", |v| {
        v["restarts"] == 1 && v["status"] == "ready"
    })
    .await;
    assert_ne!(restarted["pid"], ready["pid"]);

    let refused = admin
        .delete(format!("http://{}/v1/instances/web-1", agent.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::CONFLICT,
        "a routed instance is not stopped"
    );
    set_routes(&agent, json!({"versions": []})).await;
    let stopped = admin
        .delete(format!("http://{}/v1/instances/web-1", agent.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), StatusCode::NO_CONTENT);
    let log = std::fs::read_to_string(state.path().join("logs/web-1.log")).unwrap();
    assert!(
        log.contains("shutdown complete"),
        "stopped with SIGTERM and drained: {log}"
    );
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_brings_back_its_instances_and_routes() {
    let binary = marketplace_binary();
    let state = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        state_dir: state.path().to_owned(),
        tracing: None,
    };
    let first = proxy::start(config.clone()).await.unwrap();
    let port = free_addr().port();
    let spec = json!({
        "id": "web-1", "version": "v1", "binary": binary, "args": ["serve"], "port": port,
        "env": {
            "TM_CONFIG_DIR": data.path().join("none"),
            "TM_DATABASE_URL": format!("sqlite://{}", data.path().join("m.db").display()),
            "TM_MEDIA_DIR": data.path().join("media"),
            "TM_ENCRYPTION_LOCAL_KEY_FILE": data.path().join("field-encryption.key"),
            "TM_MAIL_FOLDER": data.path().join("mail"),
            "TM_SERVER_PRE_STOP_DELAY_MS": "100",
        }
    });
    let created = admin_client()
        .post(format!("http://{}/v1/instances", first.admin))
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    wait_for(&first, "web-1", "ready", |v| v["status"] == "ready").await;
    set_routes(&first, json!({"versions": [route("v1", 100, &[("web-1", SocketAddr::from(([127, 0, 0, 1], port)))])]})).await;
    first.shutdown().await;

    let second = proxy::start(config).await.unwrap();
    wait_for(&second, "web-1", "ready again", |v| v["status"] == "ready").await;
    let home = reqwest::get(format!("http://{}/", second.public))
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK, "routes were restored");
    assert!(home.text().await.unwrap().contains("Tattoo Marketplace"));
    second.shutdown().await;
}

#[tokio::test]
async fn deploy_markers_become_metrics_with_their_version_and_bad_ones_are_refused() {
    let (agent, _state) = agent().await;
    let url = format!("http://{}/v1/markers", agent.admin);
    let marker = json!({"environment": "staging", "action": "deploy", "outcome": "rolled_back",
                        "version": "2.1.0-abc123", "at": 1_764_600_000.0});
    let anonymous = reqwest::Client::new()
        .post(&url)
        .json(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..2 {
        let r = admin_client()
            .post(&url)
            .json(&marker)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    let bad = admin_client()
        .post(&url)
        .json(
            &json!({"environment": "staging", "action": "deploy", "outcome": "rolled_back",
                      "version": "2.1.0\"} 1\nfake_metric 1", "at": 1.0}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("version must be"));
    let garbage = admin_client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);

    let text = reqwest::get(format!("http://{}/metrics", agent.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("marketctl_deploys_total{environment=\"staging\",action=\"deploy\",outcome=\"rolled_back\",version=\"2.1.0-abc123\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("marketctl_deploy_last_timestamp_seconds{"),
        "{text}"
    );
    assert!(!text.contains("fake_metric"), "{text}");
    agent.shutdown().await;
}
