//! Deploys through the real agent with real processes on loopback: the marketplace binary as the
//! good release, the release fixture as the bad one, steady load from the test throughout.

mod support;
use support::binary;

use marketctl::config::DeployConfig;
use marketctl::engine::{DeployRequest, Engine, Outcome, Report, Strategy};
use marketctl::platform::local::LocalPlatform;
use marketctl::platform::{Platform, Route};
use marketctl::proxy::{self, ProxyConfig, Running};
use marketctl::state::History;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const TOKEN: &str = "engine-test-token-0123456789abcdefghij";

/// A copy of `source` with a marker appended: it runs identically but is a distinct release.
fn release(dir: &Path, source: &Path, name: &str) -> PathBuf {
    let mut bytes = std::fs::read(source).unwrap();
    bytes.extend_from_slice(format!("\nrelease-marker:{name}\n").as_bytes());
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

struct Harness {
    agent: Running,
    config: DeployConfig,
    dir: tempfile::TempDir,
}

/// Each harness gets its own block of 100 ports below the kernel's ephemeral range, so parallel
/// tests never race for a port and OS-assigned ports never land in a block.
fn free_port_base() -> u16 {
    static NEXT_BLOCK: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(210);
    NEXT_BLOCK.fetch_add(1, Ordering::SeqCst) * 100
}

async fn harness(instances: u32, extra_env: &[(&str, &str)], extra: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let agent = proxy::start(ProxyConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        token: TOKEN.into(),
        state_dir: dir.path().join("agent"),
        tracing: None,
    })
    .await
    .unwrap();
    let mut env = format!(
        "TM_CONFIG_DIR = \"{d}/none\"\nTM_DATABASE_URL = \"sqlite://{d}/m.db\"\nTM_MEDIA_DIR = \"{d}/media\"\nTM_SERVER_PRE_STOP_DELAY_MS = \"300\"\nTM_LOG_FORMAT = \"json\"\n",
        d = dir.path().display()
    );
    for (k, v) in extra_env {
        env.push_str(&format!("{k} = \"{v}\"\n"));
    }
    let text = format!(
        r#"
platform = "local"
instances = {instances}
[local]
admin_url = "http://{admin}"
public_url = "http://{public}"
state_dir = "{state}"
base_port = {base}
port_span = 90
[env]
{env}
[strategy]
ready_timeout_seconds = 20
bake_seconds = 3
canary_steps = [25, 100]
canary_step_seconds = 3
scale_down_delay_seconds = 2
[analysis]
interval_seconds = 0.5
window_seconds = 3
min_requests = 5
consecutive_breaches = 2
# Scaled down with the window: a deploy with no load (each test's first) waits this long for
# evidence before it proceeds.
inconclusive_wait_seconds = 2
[smoke]
paths = ["/health/ready", "/"]
{extra}
"#,
        admin = agent.admin,
        public = agent.public,
        state = dir.path().join("state").display(),
        base = free_port_base(),
    );
    let config = DeployConfig::parse(&text).unwrap();
    Harness { agent, config, dir }
}

impl Harness {
    fn platform(&self) -> LocalPlatform {
        LocalPlatform::new(&self.config, TOKEN.into(), self.config.env.clone()).unwrap()
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    async fn deploy(&self, strategy: Strategy, release: &Path) -> Report {
        let platform = self.platform();
        Engine::new(
            &self.config,
            &platform,
            "test",
            &self.state_dir(),
            self.config.env.clone(),
            std::env::var_os("TEST_LOG").is_some(),
        )
        .deploy(DeployRequest {
            strategy,
            release: release.to_owned(),
            run_checks: true,
        })
        .await
    }

    /// The live version and its instance count, once every other instance has drained (an
    /// abort leaves the bad instances draining in the agent, up to their stop deadline).
    async fn live(&self) -> (Option<String>, usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(45);
        loop {
            let fleet = self.platform().fleet().await.unwrap();
            let live = fleet.live_version().map(str::to_owned);
            let settled = fleet
                .instances
                .iter()
                .all(|i| Some(&i.version) == live.as_ref());
            if settled || std::time::Instant::now() > deadline {
                return (live, fleet.instances.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Steady GET traffic through the proxy until stopped: (ok, failed).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn load(public: std::net::SocketAddr, clients: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let tasks = (0..clients)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                // Bounded: at most 20 000 requests per client, and it stops when told.
                for _ in 0..20_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match client.get(format!("http://{public}/")).send().await {
                        Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::SeqCst),
                        _ => failed.fetch_add(1, Ordering::SeqCst),
                    };
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    Load {
        stop,
        ok,
        failed,
        tasks,
    }
}

impl Load {
    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

async fn good_release_under_load(strategy: Strategy) {
    let h = harness(2, &[], "").await;
    let marketplace = binary("marketplace");
    let v1 = release(h.dir.path(), &marketplace, "v1");
    let v2 = release(h.dir.path(), &marketplace, "v2");
    let first = h.deploy(Strategy::BlueGreen, &v1).await;
    assert_eq!(first.outcome, Outcome::Deployed, "{first:#?}");
    let load = load(h.agent.public, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = h.deploy(strategy, &v2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, failed) = load.finish().await;
    assert_eq!(report.outcome, Outcome::Deployed, "{report:#?}");
    assert_eq!(report.outcome.exit_code(), 0);
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during a {} deploy",
        ok + failed,
        strategy.as_str()
    );
    assert!(ok > 100, "the load ran ({ok} requests)");
    let (live, count) = h.live().await;
    assert_eq!(live, report.to_version);
    assert_eq!(count, 2, "the old fleet is gone");
    let history = History::open(&h.state_dir()).unwrap().records().unwrap();
    assert_eq!(
        history.last().unwrap().outcome,
        Some(marketctl::state::Ended::Deployed)
    );
    assert_eq!(history.last().unwrap().from_version, first.to_version);
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_deploy_of_a_good_release_fails_no_request() {
    good_release_under_load(Strategy::Rolling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blue_green_deploy_of_a_good_release_fails_no_request() {
    good_release_under_load(Strategy::BlueGreen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_deploy_of_a_good_release_fails_no_request() {
    good_release_under_load(Strategy::Canary).await;
}

/// An agent with the marketplace live (deployed blue-green as `v1`) and a fixture release in
/// `mode` ready to deploy over it; `configure` adjusts the harness before anything runs.
async fn v1_live_and_a_bad_release(
    mode: &str,
    configure: impl FnOnce(&mut Harness),
) -> (Harness, PathBuf) {
    let mut h = harness(
        2,
        &[("FIXTURE_MODE", mode), ("FIXTURE_VERSION", "9.9.9-bad")],
        "",
    )
    .await;
    configure(&mut h);
    let v1 = release(h.dir.path(), &binary("marketplace"), "v1");
    let bad = release(h.dir.path(), &binary("release-fixture"), "bad");
    assert_eq!(
        h.deploy(Strategy::BlueGreen, &v1).await.outcome,
        Outcome::Deployed
    );
    (h, bad)
}

async fn bad_release(strategy: Strategy, mode: &str) -> (Report, u64, u64, Harness) {
    let (h, bad) = v1_live_and_a_bad_release(mode, |_| {}).await;
    let load = load(h.agent.public, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = h.deploy(strategy, &bad).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed) = load.finish().await;
    let (live, _) = h.live().await;
    assert!(
        live.as_deref().unwrap().starts_with("0.1.0-"),
        "traffic is back on v1: {live:?}"
    );
    (report, ok, failed, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blue_green_release_answering_5xx_rolls_back_by_itself_during_the_bake() {
    let (report, ok, failed, h) = bad_release(Strategy::BlueGreen, "errors:0.5").await;
    let Outcome::RolledBack(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    // After the switch either the public smoke test or the bake's analysis catches it first
    // (on a route group or on the whole release).
    assert!(
        (reason.starts_with("during the bake: ") && reason.contains("5xx rate"))
            || reason.contains("smoke test GET / through the public entry"),
        "{reason}"
    );
    assert_eq!(report.outcome.exit_code(), 2);
    assert!(
        failed > 0 && ok > failed,
        "errors reached users only until the rollback: {failed} of {}",
        ok + failed
    );
    let (_, count) = h.live().await;
    assert_eq!(count, 2, "the bad fleet was stopped");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_that_fails_rolls_back_with_its_errors_within_the_canarys_share() {
    let (report, ok, failed, h) = bad_release(Strategy::Canary, "errors:0.5").await;
    let Outcome::RolledBack(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    assert!(reason.starts_with("at 25%"), "{reason}");
    let share = failed as f64 / (ok + failed) as f64;
    assert!(
        share < 0.25,
        "failed requests ({share:.2}) stay within the 25% canary share"
    );
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_failing_its_smoke_tests_fails_before_any_traffic_moves() {
    let (report, _, failed, h) = bad_release(Strategy::BlueGreen, "errors:1").await;
    let Outcome::Failed(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("smoke test"), "{reason}");
    assert_eq!(report.outcome.exit_code(), 1);
    assert_eq!(failed, 0, "no user ever reached the bad release");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_deploy_answering_5xx_rolls_back_and_restores_the_old_fleet() {
    let (report, _, _, h) = bad_release(Strategy::Rolling, "errors:0.5").await;
    assert!(
        matches!(report.outcome, Outcome::RolledBack(_)),
        "{report:#?}"
    );
    assert_eq!(report.outcome.exit_code(), 2);
    let (_, count) = h.live().await;
    assert_eq!(count, 2, "the old fleet is back at full size");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migration_that_breaks_the_running_release_stops_the_deploy_before_traffic_moves() {
    let marker = tempfile::tempdir().unwrap();
    let mark = marker.path().join("broken");
    let mark_str = mark.display().to_string();
    let h = harness(
        1,
        &[
            ("FIXTURE_MARK", mark_str.as_str()),
            ("FIXTURE_VERSION", "1.0.0"),
        ],
        "",
    )
    .await;
    let fixture = binary("release-fixture");
    let v1 = release(h.dir.path(), &fixture, "v1");
    let breaking = release(h.dir.path(), &fixture, "breaking-migration");
    assert_eq!(
        h.deploy(Strategy::BlueGreen, &v1).await.outcome,
        Outcome::Deployed
    );
    let report = h.deploy(Strategy::BlueGreen, &breaking).await;
    let Outcome::Failed(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    assert!(
        reason.contains("no longer ready") && reason.contains("20270101000000"),
        "{reason}"
    );
    assert!(
        report.steps.iter().all(|s| s.name != "switch"),
        "traffic never moved"
    );
    let (live, count) = h.live().await;
    assert!(live.unwrap().starts_with("1.0.0-fixture"));
    assert_eq!(count, 1);
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_that_crashes_under_traffic_is_rolled_back_on_failing_health() {
    let (report, _, _, h) = bad_release(Strategy::Canary, "crash:15").await;
    assert!(
        matches!(report.outcome, Outcome::RolledBack(_)),
        "{report:#?}"
    );
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_that_never_becomes_ready_times_out_before_traffic_moves() {
    let mut h = harness(1, &[("FIXTURE_MODE", "unhealthy")], "").await;
    h.config.strategy.ready_timeout_seconds = 3.0;
    let v1 = release(h.dir.path(), &binary("marketplace"), "v1");
    let bad = release(h.dir.path(), &binary("release-fixture"), "bad");
    assert_eq!(
        h.deploy(Strategy::Rolling, &v1).await.outcome,
        Outcome::Deployed
    );
    let report = h.deploy(Strategy::Rolling, &bad).await;
    assert!(
        matches!(report.outcome, Outcome::TimedOut(_)),
        "{report:#?}"
    );
    assert_eq!(report.outcome.exit_code(), 3);
    let (live, count) = h.live().await;
    assert!(live.unwrap().starts_with("0.1.0-"));
    assert_eq!(count, 1, "the unready instance was stopped");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_one_deploy_runs_at_a_time_and_an_interrupted_one_is_reconciled() {
    let h = harness(1, &[], "").await;
    let marketplace = binary("marketplace");
    let v1 = release(h.dir.path(), &marketplace, "v1");
    let v2 = release(h.dir.path(), &marketplace, "v2");
    let first = h.deploy(Strategy::BlueGreen, &v1).await;
    assert_eq!(first.outcome, Outcome::Deployed);

    std::fs::write(h.state_dir().join("deploy.lock"), "1").unwrap();
    let busy = h.deploy(Strategy::Rolling, &v2).await;
    assert!(
        matches!(&busy.outcome, Outcome::Failed(r) if r.contains("another deploy")),
        "{busy:#?}"
    );
    std::fs::remove_file(h.state_dir().join("deploy.lock")).unwrap();

    // Simulate marketctl killed mid-canary: an unfinished record and a mixed fleet.
    let platform = h.platform();
    let stored = marketctl::state::release_path(&h.state_dir(), "half-deployed");
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::copy(&v2, &stored).unwrap();
    let stray = platform.start("half-deployed", &stored).await.unwrap();
    platform
        .wait_ready(
            std::slice::from_ref(&stray),
            marketctl::platform::Readiness {
                timeout: Duration::from_secs(20),
                grace: Duration::ZERO,
            },
        )
        .await
        .unwrap();
    let fleet = platform.fleet().await.unwrap();
    let v1_ids: Vec<String> = fleet
        .of_version(first.to_version.as_deref().unwrap())
        .map(|i| i.id.clone())
        .collect();
    platform
        .route(&[
            Route {
                version: first.to_version.clone().unwrap(),
                weight: 50,
                instances: v1_ids,
            },
            Route {
                version: "half-deployed".into(),
                weight: 50,
                instances: vec![stray.clone()],
            },
        ])
        .await
        .unwrap();
    History::open(&h.state_dir())
        .unwrap()
        .append(&marketctl::state::Record {
            id: "0-interrupted".into(),
            strategy: Some(Strategy::Canary),
            from_version: first.to_version.clone(),
            phase: Some(marketctl::state::Phase::Canary {
                index: 0,
                weight: 25,
            }),
            ..marketctl::state::Record::new(
                "test",
                marketctl::state::Action::Deploy,
                "half-deployed",
            )
        })
        .unwrap();

    let next = h.deploy(Strategy::BlueGreen, &v2).await;
    assert_eq!(next.outcome, Outcome::Deployed, "{next:#?}");
    assert_eq!(next.steps[0].name, "reconcile");
    assert_eq!(
        next.from_version, first.to_version,
        "reconciled to the known-good release first"
    );
    let records = History::open(&h.state_dir()).unwrap().records().unwrap();
    let interrupted = records.iter().find(|r| r.id == "0-interrupted").unwrap();
    assert_eq!(interrupted.outcome, Some(marketctl::state::Ended::Failed));
    assert!(
        interrupted
            .reason
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
    let (_, count) = h.live().await;
    assert_eq!(count, 1, "the stray instance is gone");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_webhook_hears_the_start_and_the_honest_end() {
    let received: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let h = harness(
        1,
        &[],
        &format!("[notify]\nwebhook = \"http://{hook}/hook\"\n"),
    )
    .await;
    let v1 = release(h.dir.path(), &binary("marketplace"), "v1");
    assert_eq!(
        h.deploy(Strategy::Rolling, &v1).await.outcome,
        Outcome::Deployed
    );
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("started") && messages[0].contains("rolling"));
    assert!(messages[1].contains("deployed"), "{}", messages[1]);
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_reports_status_history_and_rolls_back_to_the_last_known_good_release() {
    let h = harness(1, &[], "").await;
    let marketplace = binary("marketplace");
    let v1 = release(h.dir.path(), &marketplace, "v1");
    let v2 = release(h.dir.path(), &marketplace, "v2");
    let deploy_dir = h.dir.path().join("deploy");
    std::fs::create_dir_all(&deploy_dir).unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
            .args(args)
            .env("MARKETCTL_DEPLOY_DIR", &deploy_dir)
            .env("MARKETCTL_ADMIN_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    std::fs::write(deploy_dir.join("test.toml"), config_text(&h)).unwrap();
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&args)
    };
    let d1 = tokio::task::block_in_place(|| {
        run(vec![
            "deploy".into(),
            "test".into(),
            "rolling".into(),
            "--release".into(),
            v1.display().to_string(),
            "--output".into(),
            "json".into(),
        ])
    });
    assert_eq!(
        d1.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&d1.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&d1.stdout).unwrap();
    assert_eq!(report["outcome"], "deployed");
    let d2 = tokio::task::block_in_place(|| {
        run(vec![
            "deploy".into(),
            "test".into(),
            "blue-green".into(),
            "--release".into(),
            v2.display().to_string(),
        ])
    });
    assert_eq!(
        d2.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&d2.stderr)
    );
    assert!(
        String::from_utf8_lossy(&d2.stderr).contains("bake"),
        "progress lines with elapsed time"
    );
    // The same release again: nothing to do, and not a failure.
    let again = tokio::task::block_in_place(|| {
        run(vec![
            "deploy".into(),
            "test".into(),
            "rolling".into(),
            "--release".into(),
            v2.display().to_string(),
            "--output".into(),
            "json".into(),
        ])
    });
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let unchanged: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(unchanged["outcome"], "unchanged", "{unchanged}");
    assert!(
        unchanged["reason"]
            .as_str()
            .unwrap()
            .contains("already live")
    );

    let status = tokio::task::block_in_place(|| {
        run(vec![
            "status".into(),
            "test".into(),
            "--output".into(),
            "json".into(),
        ])
    });
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["fleet"]["instances"].as_array().unwrap().len(), 1);

    let back = tokio::task::block_in_place(|| run(vec!["rollback".into(), "test".into()]));
    assert_eq!(
        back.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let (live, _) = h.live().await;
    assert_eq!(
        live.as_deref(),
        report["to_version"].as_str(),
        "back on the first release"
    );

    let history = tokio::task::block_in_place(|| run(vec!["history".into(), "test".into()]));
    let text = String::from_utf8_lossy(&history.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(" UTC ")).count(),
        3,
        "two deploys and a rollback, with readable times: {text}"
    );
    assert!(
        text.contains("rollback") && text.contains("deploy blue-green"),
        "{text}"
    );
    assert!(
        text.contains("known-good: served"),
        "the first release became known-good by serving: {text}"
    );

    let usage = tokio::task::block_in_place(|| {
        run(vec!["deploy".into(), "test".into(), "sideways".into()])
    });
    assert_eq!(usage.status.code(), Some(64), "usage errors exit 64");
    let missing = tokio::task::block_in_place(|| run(vec!["status".into(), "nowhere".into()]));
    assert_eq!(
        missing.status.code(),
        Some(64),
        "an unknown environment is a usage error"
    );
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("no environment \"nowhere\"") && said.contains("has test"),
        "{said}"
    );
    assert_eq!(said.matches("os error").count(), 0, "{said}");
    h.agent.shutdown().await;
}

/// The harness's configuration as a file the CLI can read.
fn config_text(h: &Harness) -> String {
    let local = h.config.local.as_ref().unwrap();
    let env: BTreeMap<_, _> = h.config.env.clone();
    let env_lines: String = env
        .iter()
        .map(|(k, v)| format!("{k} = \"{v}\"\n"))
        .collect();
    format!(
        "platform = \"local\"\ninstances = {}\n[local]\nadmin_url = \"{}\"\npublic_url = \"{}\"\nstate_dir = \"{}\"\nbase_port = {}\nport_span = 90\n[env]\n{env_lines}[strategy]\nbake_seconds = 2\nscale_down_delay_seconds = 1\n[analysis]\ninterval_seconds = 0.5\nwindow_seconds = 3\nmin_requests = 5\ninconclusive_wait_seconds = 2\nknown_good_after_seconds = 0\n[smoke]\npaths = [\"/health/ready\"]\n",
        h.config.instances,
        local.admin_url,
        local.public_url,
        local.state_dir.display(),
        local.base_port
    )
}

#[test]
fn verify_cli() {
    use clap::CommandFactory;
    marketctl::cli::Cli::command().debug_assert();
}

/// A mixed load (pages, search, an artist, sign-in posts) from `clients` tasks. Only what the
/// system got wrong counts as failed: a 5xx, a timeout or a dropped connection, by route.
struct MixedLoad {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<std::sync::Mutex<BTreeMap<&'static str, u64>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn mixed_load(public: std::net::SocketAddr, clients: usize) -> MixedLoad {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let tasks = (0..clients)
        .map(|c| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                for n in 0..20_000usize {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // Sign-in posts are one request in thirty: a fault in them alone stays
                    // under the whole version's 5% error threshold.
                    let (route, request) = match (n + c) % 30 {
                        29 => (
                            "/sign-in",
                            client
                                .post(format!("http://{public}/sign-in"))
                                .form(&[("email", "x@example.com"), ("password", "x")]),
                        ),
                        k if k % 3 == 0 => ("/", client.get(format!("http://{public}/"))),
                        k if k % 3 == 1 => (
                            "/search",
                            client.get(format!("http://{public}/search?q=koi")),
                        ),
                        _ => (
                            "/artists",
                            client.get(format!("http://{public}/artists/mira")),
                        ),
                    };
                    match request.send().await {
                        Ok(r) if !r.status().is_server_error() => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => *failed.lock().unwrap().entry(route).or_default() += 1,
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    MixedLoad {
        stop,
        ok,
        failed,
        tasks,
    }
}

impl MixedLoad {
    async fn finish(self) -> (u64, BTreeMap<&'static str, u64>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        let failed = self.failed.lock().unwrap().clone();
        (self.ok.load(Ordering::SeqCst), failed)
    }
}

/// Deploys a release with a fault confined to part of the traffic under a mixed load; it must
/// be rolled back, with failures only on the broken part. Returns the rollback's reason.
async fn confined_fault(strategy: Strategy, mode: &str, broken_route: &str) -> String {
    let (h, bad) = v1_live_and_a_bad_release(mode, |h| {
        h.config.local.as_mut().unwrap().upstream_timeout_seconds = 5.0;
        h.config.analysis.max_in_flight_seconds = 2.0;
    })
    .await;
    let load = mixed_load(h.agent.public, 8);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = h.deploy(strategy, &bad).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ok, failed) = load.finish().await;
    let Outcome::RolledBack(reason) = &report.outcome else {
        panic!(
            "{} shipped a release with {mode}: {report:#?}",
            strategy.as_str()
        )
    };
    let (live, count) = h.live().await;
    assert!(
        live.as_deref().unwrap().starts_with("0.1.0-"),
        "traffic is back on v1: {live:?}"
    );
    assert_eq!(count, 2, "the bad fleet was stopped");
    assert!(ok > 100, "the load ran ({ok} requests)");
    assert!(
        failed.keys().all(|route| *route == broken_route),
        "only {broken_route} failed: {failed:?}"
    );
    h.agent.shutdown().await;
    reason.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hang_on_one_route_is_rolled_back_by_blue_green_while_it_hangs() {
    let reason = confined_fault(Strategy::BlueGreen, "hang:/search:30", "/search").await;
    assert!(
        reason.contains("waited") || reason.contains("GET /search"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hang_on_one_route_is_rolled_back_by_rolling_while_it_hangs() {
    let reason = confined_fault(Strategy::Rolling, "hang:/search:30", "/search").await;
    assert!(
        reason.contains("waited") || reason.contains("GET /search"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hang_on_one_route_is_rolled_back_by_canary_while_it_hangs() {
    let reason = confined_fault(Strategy::Canary, "hang:/search:30", "/search").await;
    assert!(
        reason.contains("waited") || reason.contains("GET /search"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_writes_are_rolled_back_by_blue_green() {
    let reason = confined_fault(Strategy::BlueGreen, "fail:POST", "/sign-in").await;
    // Caught on the route group, or against the old release on the same window.
    assert!(
        reason.contains("POST /sign-in: 5xx rate") || reason.contains("(the baseline)"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_writes_are_rolled_back_by_rolling() {
    let reason = confined_fault(Strategy::Rolling, "fail:POST", "/sign-in").await;
    // Caught on the route group, or against the old release on the same window.
    assert!(
        reason.contains("POST /sign-in: 5xx rate") || reason.contains("(the baseline)"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_writes_are_rolled_back_by_canary() {
    let reason = confined_fault(Strategy::Canary, "fail:POST", "/sign-in").await;
    // Caught on the route group, or against the old release on the same window.
    assert!(
        reason.contains("POST /sign-in: 5xx rate") || reason.contains("(the baseline)"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_slower_than_ten_seconds_is_rolled_back_on_p95() {
    let mut h = harness(
        1,
        &[
            ("FIXTURE_MODE", "slow:11"),
            ("FIXTURE_VERSION", "9.9.9-slow"),
        ],
        "",
    )
    .await;
    h.config.analysis.window_seconds = 20;
    h.config.strategy.bake_seconds = 40.0;
    let v1 = release(h.dir.path(), &binary("marketplace"), "v1");
    let slow = release(h.dir.path(), &binary("release-fixture"), "slow");
    assert_eq!(
        h.deploy(Strategy::BlueGreen, &v1).await.outcome,
        Outcome::Deployed
    );
    let load = load(h.agent.public, 12);
    let report = h.deploy(Strategy::BlueGreen, &slow).await;
    let _ = load.finish().await;
    let Outcome::RolledBack(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    // The slow requests breach while still in flight, or once they complete.
    assert!(
        reason.contains("p95 latency above 10 s") || reason.contains("waited"),
        "{reason}"
    );
    h.agent.shutdown().await;
}

async fn pid_of(agent: &Running, id: &str) -> i32 {
    let view: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/v1/instances/{id}", agent.admin))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    view["pid"].as_i64().unwrap() as i32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_an_instance_mid_deploy_neither_derails_the_deploy_nor_fails_more_than_in_flight_requests()
 {
    let h = harness(2, &[], "").await;
    let marketplace = binary("marketplace");
    let v1 = release(h.dir.path(), &marketplace, "v1");
    let v2 = release(h.dir.path(), &marketplace, "v2");
    let first = h.deploy(Strategy::BlueGreen, &v1).await;
    let old_version = first.to_version.clone().unwrap();
    let load = load(h.agent.public, 4);
    let platform = h.platform();
    let killer = async {
        // Once the green fleet exists, kill -9 one blue instance that is still serving.
        loop {
            let fleet = platform.fleet().await.unwrap();
            if fleet.instances.iter().any(|i| i.version != old_version) {
                let victim = fleet.of_version(&old_version).next().unwrap().id.clone();
                let pid = pid_of(&h.agent, &victim).await;
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .unwrap();
                return victim;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (report, _victim) = tokio::join!(h.deploy(Strategy::BlueGreen, &v2), killer);
    let (ok, failed) = load.finish().await;
    assert_eq!(report.outcome, Outcome::Deployed, "{report:#?}");
    assert!(
        failed <= 4,
        "only requests in flight on the killed instance may fail: {failed} of {}",
        ok + failed
    );
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_marketctl_mid_deploy_leaves_a_record_that_the_rerun_reconciles() {
    let h = harness(1, &[], "").await;
    let marketplace = binary("marketplace");
    let v1 = release(h.dir.path(), &marketplace, "v1");
    let v2 = release(h.dir.path(), &marketplace, "v2");
    let deploy_dir = h.dir.path().join("deploy");
    std::fs::create_dir_all(&deploy_dir).unwrap();
    std::fs::write(
        deploy_dir.join("test.toml"),
        config_text(&h).replace("bake_seconds = 2", "bake_seconds = 30"),
    )
    .unwrap();
    let first = h.deploy(Strategy::BlueGreen, &v1).await;
    assert_eq!(first.outcome, Outcome::Deployed);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_marketctl"))
        .args(["deploy", "test", "blue-green", "--release"])
        .arg(&v2)
        .env("MARKETCTL_DEPLOY_DIR", &deploy_dir)
        .env("MARKETCTL_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the switch: the new version takes all traffic while the bake runs.
    let platform = h.platform();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let fleet = platform.fleet().await.unwrap();
        if fleet
            .live_version()
            .is_some_and(|v| Some(v) != first.to_version.as_deref())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deploy never switched"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();
    let records = History::open(&h.state_dir()).unwrap().records().unwrap();
    assert!(
        records.last().unwrap().outcome.is_none(),
        "the killed deploy left an unfinished record"
    );

    let rerun = h.deploy(Strategy::BlueGreen, &v2).await;
    assert_eq!(rerun.steps[0].name, "reconcile", "{rerun:#?}");
    assert_eq!(
        rerun.from_version, first.to_version,
        "reconciled back to the known-good release first"
    );
    assert_eq!(rerun.outcome, Outcome::Deployed, "{rerun:#?}");
    let (live, count) = h.live().await;
    assert_eq!(live, rerun.to_version);
    assert_eq!(count, 1, "one consistent fleet");
    h.agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pre_deploy_checks_stop_a_deploy_before_anything_starts() {
    let mut h = harness(1, &[], "").await;
    let v1 = release(h.dir.path(), &binary("marketplace"), "v1");
    h.config.required_variables = vec!["MARKETCTL_TEST_SURELY_UNSET".into()];
    let report = h.deploy(Strategy::Rolling, &v1).await;
    assert!(
        matches!(&report.outcome, Outcome::Failed(r) if r.contains("MARKETCTL_TEST_SURELY_UNSET")),
        "{report:#?}"
    );
    assert_eq!(h.live().await.1, 0, "nothing was started");

    h.config.required_variables.clear();
    h.config.checks.commands = vec!["true".into(), "exit 3".into()];
    let report = h.deploy(Strategy::Rolling, &v1).await;
    assert!(
        matches!(&report.outcome, Outcome::Failed(r) if r.contains("check failed: exit 3")),
        "{report:#?}"
    );

    h.config.git.branch = Some("surely-not-this-branch".into());
    let platform = h.platform();
    let report = Engine::new(
        &h.config,
        &platform,
        "test",
        &h.state_dir(),
        h.config.env.clone(),
        false,
    )
    .deploy(DeployRequest {
        strategy: Strategy::Rolling,
        release: v1.clone(),
        run_checks: false,
    })
    .await;
    assert!(
        matches!(&report.outcome, Outcome::Failed(r) if r.contains("surely-not-this-branch")),
        "branch rules apply even when the test and scan commands are skipped: {report:#?}"
    );
    assert_eq!(h.live().await.1, 0);
    h.agent.shutdown().await;
}

/// One instance of a fleet starting together crashes once (the first deploy's race on an empty
/// database was one such): inside the start-up grace the supervisor's restart is awaited, and
/// the deploy goes on; with no grace the same crash fails it before traffic moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_at_start_up_is_left_to_the_supervisor_within_the_grace() {
    let marker = tempfile::tempdir().unwrap();
    let mode = format!("crash-first:{}", marker.path().join("crashed").display());
    let h = harness(2, &[("FIXTURE_MODE", &mode)], "").await;
    let fixture = release(h.dir.path(), &binary("release-fixture"), "fixture");
    let report = h.deploy(Strategy::BlueGreen, &fixture).await;
    assert_eq!(report.outcome, Outcome::Deployed, "{report:#?}");
    h.agent.shutdown().await;

    let marker = tempfile::tempdir().unwrap();
    let mode = format!("crash-first:{}", marker.path().join("crashed").display());
    let mut h = harness(2, &[("FIXTURE_MODE", &mode)], "").await;
    h.config.strategy.startup_grace_seconds = 0.0;
    let fixture = release(h.dir.path(), &binary("release-fixture"), "fixture");
    let report = h.deploy(Strategy::BlueGreen, &fixture).await;
    let Outcome::Failed(reason) = &report.outcome else {
        panic!("{report:#?}")
    };
    assert!(reason.contains("crashed"), "{reason}");
    assert!(
        reason.contains(".log"),
        "the message names the instance's log: {reason}"
    );
    h.agent.shutdown().await;
}

/// Latency that creeps up, request by request, on every route: it breaches against the old
/// release's baseline slice long before the spec's 10 s p95.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_leak_of_latency_is_rolled_back_against_the_baseline() {
    let (h, bad) = v1_live_and_a_bad_release("leak:40", |_| {}).await;
    let load = mixed_load(h.agent.public, 8);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = h.deploy(Strategy::BlueGreen, &bad).await;
    let (ok, _) = load.finish().await;
    let Outcome::RolledBack(reason) = &report.outcome else {
        panic!("a latency leak shipped: {report:#?}")
    };
    assert!(
        reason.contains("p95 latency") || reason.contains("waited"),
        "{reason}"
    );
    assert!(ok > 100, "the load ran ({ok} requests)");
    let (live, _) = h.live().await;
    assert!(live.unwrap().starts_with("0.1.0-"), "back on v1");
    h.agent.shutdown().await;
}
