//! Every strategy, phase, verdict and rollback path against the in-memory platform, in
//! milliseconds. `tests/engine.rs` runs the same promises with real processes.

use super::{DeployRequest, Engine, Outcome, Report, Strategy};
use crate::config::DeployConfig;
use crate::platform::fake::{Call, FakePlatform, Traffic};
use crate::state::{Action, Ended, History, Phase, Proof};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const STRATEGIES: [Strategy; 3] = [Strategy::Rolling, Strategy::BlueGreen, Strategy::Canary];

fn config(state: &Path, extra: &str) -> DeployConfig {
    DeployConfig::parse(&format!(
        r#"
platform = "local"
instances = 2
[local]
admin_url = "http://127.0.0.1:9"
public_url = "http://127.0.0.1:9"
state_dir = "{}"
base_port = 18100
[strategy]
ready_timeout_seconds = 1
bake_seconds = 0.12
canary_steps = [10, 50, 100]
canary_step_seconds = 0.05
scale_down_delay_seconds = 0.12
[analysis]
interval_seconds = 0.01
consecutive_breaches = 2
inconclusive_wait_seconds = 0
{extra}
[smoke]
paths = ["/health/ready"]
"#,
        state.display()
    ))
    .unwrap()
}

/// A release: a script that answers `version --json` and `migrate` as the marketplace does.
fn release(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join(format!("release-{version}"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  version) echo '{{\"version\":\"{version}\",\"commit\":\"c0ffee\"}}' ;;\n  migrate) echo 'no pending migrations' ;;\nesac\n"
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

struct World {
    dir: tempfile::TempDir,
    config: DeployConfig,
    platform: FakePlatform,
}

impl World {
    fn new(traffic: impl Fn(&str) -> Traffic + Send + Sync + 'static, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = config(&dir.path().join("state"), extra);
        Self {
            dir,
            config,
            platform: FakePlatform::new(traffic),
        }
    }

    fn engine(&self) -> Engine<'_, FakePlatform> {
        Engine::new(
            &self.config,
            &self.platform,
            "test",
            &self.dir.path().join("state"),
            BTreeMap::new(),
            false,
        )
    }

    async fn deploy(&self, strategy: Strategy, version: &str) -> Report {
        let release = release(self.dir.path(), version);
        self.engine()
            .deploy(DeployRequest {
                strategy,
                release,
                run_checks: false,
            })
            .await
    }

    fn history(&self) -> History {
        History::open(&self.dir.path().join("state")).unwrap()
    }

    fn live(&self) -> String {
        let routes = self.platform.routes();
        assert_eq!(routes.len(), 1, "one version has all traffic: {routes:?}");
        assert_eq!(routes[0].1, 100);
        routes[0].0.clone()
    }
}

/// The fault-free release is `1.0.0`; anything else gets `bad`.
fn only_new_is(bad: Traffic) -> impl Fn(&str) -> Traffic + Send + Sync + 'static {
    move |version| {
        if version.starts_with("1.0.0") {
            Traffic::Healthy
        } else {
            bad
        }
    }
}

#[tokio::test]
async fn good_releases_ship_with_every_strategy_proven_by_analysis() {
    for strategy in STRATEGIES {
        let w = World::new(|_| Traffic::Healthy, "");
        let first = w.deploy(strategy, "1.0.0").await;
        assert_eq!(first.outcome, Outcome::Deployed, "{first:#?}");
        let second = w.deploy(strategy, "2.0.0").await;
        assert_eq!(
            second.outcome,
            Outcome::Deployed,
            "{strategy:?}: {second:#?}"
        );
        assert!(
            matches!(second.proven, Some(Proof::Analysis { windows }) if windows >= 3),
            "{strategy:?}: {:?}",
            second.proven
        );
        assert!(w.live().starts_with("2.0.0"));
        assert!(
            w.platform
                .versions_running()
                .iter()
                .all(|v| v.starts_with("2.0.0")),
            "the old fleet retired"
        );
        let last = w.history().records().unwrap().pop().unwrap();
        assert_eq!(
            (last.outcome, last.phase, last.strategy),
            (Some(Ended::Deployed), Some(Phase::Done), Some(strategy))
        );
        assert!(
            second.steps.iter().any(|s| s.name == "scale-down delay"),
            "{strategy:?}: the old release stayed warm after promotion: {:#?}",
            second.steps
        );
        // Each ending is a deploy marker on the platform, under the version it was for.
        let markers: Vec<(String, String, String)> = w
            .platform
            .markers()
            .into_iter()
            .map(|m| (m.action, m.outcome, m.version))
            .collect();
        assert_eq!(markers.len(), 2, "{markers:?}");
        assert_eq!(
            (markers[1].0.as_str(), markers[1].1.as_str()),
            ("deploy", "succeeded")
        );
        assert!(markers[1].2.starts_with("2.0.0"), "{markers:?}");
    }
}

#[tokio::test]
async fn blue_green_and_rolling_bake_against_a_baseline_slice_of_the_old_release() {
    for strategy in [Strategy::BlueGreen, Strategy::Rolling] {
        let w = World::new(|_| Traffic::Healthy, "");
        w.deploy(strategy, "1.0.0").await;
        w.deploy(strategy, "2.0.0").await;
        let slice = w.platform.calls().into_iter().any(|c| match c {
            Call::Route(routes) => {
                routes.len() == 2
                    && routes[0].0.starts_with("2.0.0")
                    && routes[0].1 == 90
                    && routes[1].1 == 10
            }
            _ => false,
        });
        assert!(
            slice,
            "{strategy:?} kept 10% on the old release: {:#?}",
            w.platform.calls()
        );
    }
}

/// Asserts a rolled-back deploy put all traffic on 1.0.0 before retiring any new instance,
/// and never stopped a new instance synchronously.
fn assert_aborted_without_dropping(w: &World, report: &Report) {
    assert!(
        matches!(report.outcome, Outcome::RolledBack(_)),
        "{report:#?}"
    );
    assert!(w.live().starts_with("1.0.0"));
    let calls = w.platform.calls();
    let back = calls
        .iter()
        .rposition(|c| matches!(c, Call::Route(r) if r.len() == 1 && r[0].0.starts_with("1.0.0")))
        .expect("traffic went back to the old release");
    let first_retire = calls
        .iter()
        .position(|c| matches!(c, Call::Retire(id) if !id.starts_with("1.0.0")))
        .expect("the bad instances were retired");
    assert!(
        back < first_retire,
        "traffic left the bad release before it drained: {calls:#?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::Stop(id) if !id.starts_with("1.0.0"))),
        "no bad instance was stopped synchronously: {calls:#?}"
    );
    assert!(report.traffic_off_at.is_some());
    let last = w.history().records().unwrap().pop().unwrap();
    assert_eq!(last.outcome, Some(Ended::RolledBack));
    assert!(last.traffic_off_after.is_some());
    assert_eq!(last.proven, None);
    let marker = w.platform.markers().pop().expect("a deploy marker");
    assert_eq!(marker.outcome, "rolled_back");
    assert!(
        !marker.version.starts_with("1.0.0"),
        "named by the release that failed: {marker:?}"
    );
}

#[tokio::test]
async fn failing_writes_alone_are_caught_and_rolled_back_by_every_strategy() {
    for strategy in STRATEGIES {
        let w = World::new(only_new_is(Traffic::FailingWrites), "");
        w.deploy(strategy, "1.0.0").await;
        let report = w.deploy(strategy, "2.0.0").await;
        assert_aborted_without_dropping(&w, &report);
        // Caught on the route group, or on the whole version against the old one's baseline.
        let reason = report.outcome.reason().unwrap();
        assert!(
            reason.contains("POST /sign-in") || reason.contains("baseline"),
            "{strategy:?}: {reason}"
        );
    }
}

#[tokio::test]
async fn a_hang_is_caught_while_it_hangs_by_every_strategy() {
    for strategy in STRATEGIES {
        let w = World::new(only_new_is(Traffic::Hanging), "");
        w.deploy(strategy, "1.0.0").await;
        let report = w.deploy(strategy, "2.0.0").await;
        assert_aborted_without_dropping(&w, &report);
        assert!(
            report.outcome.reason().unwrap().contains("waited"),
            "{strategy:?}: {report:#?}"
        );
    }
}

#[tokio::test]
async fn a_slow_leak_under_the_specs_threshold_is_caught_against_the_baseline_by_every_strategy() {
    for strategy in STRATEGIES {
        let w = World::new(only_new_is(Traffic::Slower), "");
        w.deploy(strategy, "1.0.0").await;
        let report = w.deploy(strategy, "2.0.0").await;
        assert_aborted_without_dropping(&w, &report);
        assert!(
            report
                .outcome
                .reason()
                .unwrap()
                .contains("p95 latency up to 5 s vs 0.05 s"),
            "{strategy:?}: {report:#?}"
        );
    }
}

#[tokio::test]
async fn a_fault_at_full_traffic_is_rolled_back_from_the_warm_old_release_after_promotion() {
    for strategy in STRATEGIES {
        let w = World::new(only_new_is(Traffic::FailsAtFullTraffic), "");
        w.deploy(strategy, "1.0.0").await;
        let starts_before = w.platform.calls().len();
        let report = w.deploy(strategy, "2.0.0").await;
        assert_aborted_without_dropping(&w, &report);
        let reason = report.outcome.reason().unwrap();
        assert!(
            reason.contains("after promotion") || reason.contains("at 100%"),
            "{strategy:?}: {reason}"
        );
        // The old release was still warm: traffic went to it before anything started (rolling
        // kept one old instance and tops the fleet up after; the others kept them all).
        let after = &w.platform.calls()[starts_before..];
        let back = after
            .iter()
            .position(
                |c| matches!(c, Call::Route(r) if r.len() == 1 && r[0].0.starts_with("1.0.0")),
            )
            .expect("traffic went back");
        let started_old = after
            .iter()
            .position(|c| matches!(c, Call::Start(id) if id.starts_with("1.0.0")));
        match strategy {
            Strategy::Rolling => assert!(started_old.is_some_and(|s| s > back), "{after:#?}"),
            _ => assert_eq!(started_old, None, "{strategy:?}: {after:#?}"),
        }
    }
}

#[tokio::test]
async fn too_little_traffic_is_never_a_pass() {
    let w = World::new(only_new_is(Traffic::Silent), "on_inconclusive = \"fail\"");
    w.deploy(Strategy::BlueGreen, "1.0.0").await;
    let report = w.deploy(Strategy::BlueGreen, "2.0.0").await;
    assert_aborted_without_dropping(&w, &report);
    assert!(report.outcome.reason().unwrap().contains("inconclusive"));

    let w = World::new(
        only_new_is(Traffic::Silent),
        "on_inconclusive = \"proceed\"",
    );
    w.deploy(Strategy::Canary, "1.0.0").await;
    let report = w.deploy(Strategy::Canary, "2.0.0").await;
    assert_eq!(report.outcome, Outcome::Deployed);
    assert_eq!(report.proven, None, "shipped, but not proven");
    assert!(
        report.warnings.iter().any(|w| w.contains("inconclusive")),
        "{:?}",
        report.warnings
    );
    let last = w.history().records().unwrap().pop().unwrap();
    assert!(!last.warnings.is_empty(), "the warning is in the history");
}

#[tokio::test]
async fn a_bare_rollback_returns_to_the_last_known_good_release_and_a_bad_target_changes_nothing() {
    let w = World::new(
        |v| {
            if v.starts_with("2.0.0") {
                Traffic::Silent
            } else {
                Traffic::Healthy
            }
        },
        "",
    );
    assert_eq!(
        w.deploy(Strategy::BlueGreen, "1.0.0").await.outcome,
        Outcome::Deployed
    );
    // Shipped with no traffic to judge: deployed, not known-good.
    let quiet = w.deploy(Strategy::BlueGreen, "2.0.0").await;
    assert_eq!(quiet.outcome, Outcome::Deployed);
    assert!(w.live().starts_with("2.0.0"));

    let lines = || std::fs::read_to_string(w.dir.path().join("state/history.jsonl")).unwrap();
    let before = lines();
    let refused = w
        .engine()
        .rollback(Some("9.9.9-nope".into()))
        .await
        .unwrap_err();
    assert!(refused.is_usage(), "{refused}");
    assert!(
        refused.to_string().contains("1.0.0"),
        "it lists the releases: {refused}"
    );
    assert_eq!(lines(), before, "a refused rollback writes nothing");

    let report = w.engine().rollback(None).await.unwrap();
    assert_eq!(report.outcome, Outcome::Deployed, "{report:#?}");
    assert!(
        report.to_version.as_deref().unwrap().starts_with("1.0.0"),
        "the last known-good, not the last deployed: {report:#?}"
    );
    assert!(w.live().starts_with("1.0.0"));
    assert!(report.traffic_off_at.is_some());
    let last = w.history().records().unwrap().pop().unwrap();
    assert_eq!(
        (last.action, last.outcome),
        (Action::Rollback, Some(Ended::Deployed))
    );
    let marker = w.platform.markers().pop().unwrap();
    assert_eq!(
        (marker.action.as_str(), marker.outcome.as_str()),
        ("rollback", "rolled_back")
    );
    assert!(marker.version.starts_with("1.0.0"), "{marker:?}");
    let count = w.platform.markers().len();

    let again = w
        .engine()
        .rollback(report.to_version.clone())
        .await
        .unwrap();
    assert!(matches!(again.outcome, Outcome::Unchanged(_)), "{again:#?}");
    assert_eq!(
        w.platform.markers().len(),
        count,
        "nothing changed, so no marker"
    );
}

#[tokio::test]
async fn a_first_deploy_that_fails_leaves_nothing_routed_to_it() {
    let w = World::new(|_| Traffic::FailingWrites, "");
    let report = w.deploy(Strategy::Canary, "2.0.0").await;
    assert!(
        matches!(report.outcome, Outcome::RolledBack(_)),
        "{report:#?}"
    );
    assert!(w.platform.routes().is_empty());
    assert!(w.platform.versions_running().is_empty());
}

#[tokio::test]
async fn synthetic_probes_test_the_new_release_through_every_analysis() {
    let w = World::new(
        |_| Traffic::Healthy,
        "[probes]\npaths = [\"/search?q=koi\", \"/sign-in\"]\nper_second = 100",
    );
    w.deploy(Strategy::Canary, "1.0.0").await;
    w.deploy(Strategy::Canary, "2.0.0").await;
    let probes = w.platform.probes();
    let to_new: Vec<_> = probes
        .iter()
        .filter(|(v, _)| v.starts_with("2.0.0"))
        .collect();
    assert!(to_new.len() >= 10, "{probes:?}");
    assert!(to_new.iter().any(|(_, p)| p == "/sign-in"));
    assert!(to_new.iter().any(|(_, p)| p == "/search?q=koi"));
}
