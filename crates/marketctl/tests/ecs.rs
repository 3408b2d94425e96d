//! marketctl on ECS against a simulated AWS: moto for the real APIs, plus the harness in
//! `tests/ecs_harness/harness.py` for what moto lacks (service deployments moving through
//! their lifecycle stages, pause hooks, target health, listener weights, traffic metrics and
//! percentiles). Each test starts its own harness; the real `marketctl` binary talks to it
//! with the real AWS SDK clients over HTTP.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Harness {
    child: Child,
    url: String,
    world: Value,
    dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An interpreter that has moto: scripts/install-tools.sh's venv (`moto-python`, on PATH in
/// CI and in /opt/tm-tools/bin), or python3 where moto is installed for the user.
fn python() -> String {
    let has_moto = |p: &str| {
        Command::new(p)
            .args(["-c", "import moto, boto3, werkzeug"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    ["moto-python", "/opt/tm-tools/bin/moto-python", "python3"]
        .into_iter()
        .find(|p| has_moto(p))
        .expect("no Python with moto: run `bash scripts/install-tools.sh` (or pip install 'moto[server]')")
        .to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Settings that make a deploy take seconds: one simulated minute is one second.
const FAST: &str = r#"
[strategy]
bake_seconds = 60
canary_step_seconds = 120

[analysis]
interval_seconds = 0.5
window_seconds = 2
min_requests = 20
proof_windows = 2
inconclusive_wait_seconds = 3
on_inconclusive = "fail"

[smoke]
paths = ["/health/ready", "/"]
"#;

impl Harness {
    /// Starts moto and the harness with `images` (tag → behaviour); `live` runs first.
    fn start(images: Value) -> Self {
        Self::start_with(images, "")
    }

    fn start_with(images: Value, ecs_extra: &str) -> Self {
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ecs_harness/harness.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(port.to_string())
            .env("HARNESS_MINUTE_SECONDS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the harness's Python must start");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the ECS harness did not start: is moto installed? (pip install 'moto[server]')"
        );
        let url = format!("http://127.0.0.1:{port}");
        let world: Value = reqwest::blocking::Client::new()
            .post(format!("{url}/_harness/setup"))
            .json(&json!({ "images": images }))
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let toml = format!(
            r#"platform = "ecs"
instances = 2

[ecs]
region = "us-west-2"
cluster = "{cluster}"
service = "{service}"
public_url = "{public}"
test_url = "{test}"
state_bucket = "{bucket}"
alarms = {alarms}
canary_percent = 25.0
hook_timeout_minutes = 10
deploy_timeout_seconds = 40
poll_seconds = 0.2
{ecs_extra}
{FAST}"#,
            cluster = world["cluster"].as_str().unwrap(),
            service = world["service"].as_str().unwrap(),
            public = world["public_url"].as_str().unwrap(),
            test = world["test_url"].as_str().unwrap(),
            bucket = world["bucket"].as_str().unwrap(),
            alarms = world["alarms"],
        );
        std::fs::write(dir.path().join("staging.toml"), toml).unwrap();
        Harness {
            child,
            url,
            world,
            dir,
        }
    }

    fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.world["repository"].as_str().unwrap())
    }

    fn digest(&self, tag: &str) -> String {
        self.world["digests"][tag].as_str().unwrap().to_owned()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_marketctl"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_REGION", "us-west-2")
            .env(
                "AWS_ACCESS_KEY_ID",
                self.world["access_key_id"].as_str().unwrap(),
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                self.world["secret_access_key"].as_str().unwrap(),
            )
            .env("MARKETCTL_DEPLOY_DIR", self.dir.path())
            .env("USER", "ci");
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let out = self.command(args).output().unwrap();
        Run::of(out, started.elapsed())
    }

    /// `marketctl deploy staging STRATEGY --image …:TAG`, not yet run.
    fn deploy_command(&self, strategy: &str, tag: &str) -> Command {
        let image = self.image(tag);
        self.command(&[
            "deploy",
            "staging",
            strategy,
            "--image",
            &image,
            "--skip-checks",
        ])
    }

    fn deploy(&self, strategy: &str, tag: &str) -> Run {
        let started = Instant::now();
        let out = self.deploy_command(strategy, tag).output().unwrap();
        Run::of(out, started.elapsed())
    }

    fn get(&self, path: &str) -> Value {
        reqwest::blocking::get(format!("{}{path}", self.url))
            .unwrap()
            .json()
            .unwrap()
    }

    /// The AWS calls marketctl made, in order (the harness logs the Rust SDK's and S3's).
    fn calls(&self) -> Vec<String> {
        self.get("/_harness/calls")
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["call"].as_str().unwrap().to_owned())
            .filter(|c| {
                !c.starts_with("GET /")
                    && !c.starts_with("PUT /")
                    && !c.starts_with("HEAD /")
                    && !c.starts_with("DELETE /")
            })
            .collect()
    }

    fn deployments(&self) -> Vec<Value> {
        self.get("/_harness/deployments")
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until the newest deployment is at `stage`.
    fn wait_stage(&self, stage: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self
                .deployments()
                .iter()
                .any(|d| d["lifecycleStage"] == stage && d["status"] == "IN_PROGRESS")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no deployment reached {stage}: {:#?}", self.deployments());
    }

    fn history(&self) -> Vec<Value> {
        let r = self.run(&["history", "staging", "--output", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The image the service runs now.
    fn live_image(&self) -> String {
        let r = self.run(&["status", "staging", "--output", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["image"].as_str().unwrap().to_owned()
    }

    /// The API calls and timings of a scenario, for the closing note's figures.
    fn figures(&self, scenario: &str, run: &Run) {
        let mut calls = self.calls();
        calls.dedup();
        eprintln!(
            "FIGURES {scenario}: exit {} in {:.1} s\n  calls: {}\n  steps: {}",
            run.code,
            run.seconds,
            calls.join(" → "),
            run.stderr
                .lines()
                .filter(|l| l.contains("s] ") && !l.contains("…"))
                .collect::<Vec<_>>()
                .join("\n         ")
        );
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    seconds: f64,
}

impl Run {
    fn of(out: Output, took: Duration) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            seconds: took.as_secs_f64(),
        }
    }

    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn good() -> Value {
    json!({ "v1": {}, "v2": {} })
}

fn good_release(strategy: &str) {
    let h = Harness::start(good());
    let r = h.deploy(strategy, "v2");
    h.figures(&format!("good {strategy}"), &r);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains(": deployed in"), "{}", r.stdout);
    assert!(
        h.live_image().ends_with(&h.digest("v2")),
        "the service runs v2 by digest"
    );
    let calls = h.calls();
    for call in [
        "GetCallerIdentity",
        "DescribeImages",
        "DescribeSecret",
        "RegisterTaskDefinition",
        "RunTask",
        "UpdateService",
        // The deploy marker on the dashboard.
        "PutMetricData",
    ] {
        assert!(
            calls.iter().any(|c| c == call),
            "{call} missing from {calls:?}"
        );
    }
    let status = h.run(&["status", "staging"]);
    assert_eq!(status.code, 0, "{}", status.all());
    for shown in [
        "2 of 2 tasks running",
        "SUCCESSFUL",
        h.digest("v2").as_str(),
        "2 healthy",
    ] {
        assert!(
            status.stdout.contains(shown),
            "{shown} not in:\n{}",
            status.stdout
        );
    }
    let history = h.history();
    let last = history.last().unwrap();
    assert_eq!(last["outcome"], "deployed");
    assert_eq!(last["strategy"], strategy);
    assert!(
        last["to_version"]
            .as_str()
            .unwrap()
            .ends_with(&h.digest("v2")),
        "the record keeps the digest"
    );
    assert!(
        last["artifact"]
            .as_str()
            .unwrap()
            .contains("task-definition/tm-staging:2")
    );
    assert!(
        last["previous_artifact"]
            .as_str()
            .unwrap()
            .contains("task-definition/tm-staging:1")
    );
    assert!(
        last["proven"].is_object(),
        "passed analysis makes it known-good: {last}"
    );
    if strategy != "rolling" {
        assert!(
            calls
                .iter()
                .filter(|c| *c == "ContinueServiceDeployment")
                .count()
                == 2,
            "both pauses answered: {calls:?}"
        );
        assert!(
            r.stderr
                .contains("smoke tests passed through the test listener"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_good_release_deploys_with_rolling() {
    good_release("rolling");
}

#[test]
fn a_good_release_deploys_with_blue_green() {
    good_release("blue-green");
}

#[test]
fn a_good_release_deploys_with_canary() {
    good_release("canary");
}

#[test]
fn ecs_circuit_breaker_rolls_back_a_rolling_deploy_and_marketctl_reports_it() {
    let h = Harness::start(json!({ "v1": {}, "v2": { "start": "crash" } }));
    let r = h.deploy("rolling", "v2");
    h.figures("rolling, circuit breaker", &r);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("rolled back"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("ECS rolled the deployment back by itself"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("circuit breaker"),
        "ECS's own reason, as it is: {}",
        r.stdout
    );
    assert!(h.live_image().ends_with(&h.digest("v1")));
    // The rollback is a marker on the dashboard.
    assert!(h.calls().iter().any(|c| c == "PutMetricData"));
    assert!(
        r.stderr.contains("deploy marker recorded: rolled_back"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_alarm_during_the_canary_bake_is_ecs_s_rollback_and_reported_as_such() {
    let h = Harness::start(good());
    let child = h
        .deploy_command("canary", "v2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    h.wait_stage("PRODUCTION_TRAFFIC_SHIFT", Duration::from_secs(20));
    // SetAlarmState through moto's real CloudWatch API, as an alarm firing would.
    let alarm = h.world["alarms"][2].as_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-west-2"))
            .endpoint_url(&h.url)
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                h.world["access_key_id"].as_str().unwrap(),
                h.world["secret_access_key"].as_str().unwrap(),
                None,
                None,
                "test",
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .load()
            .await;
        aws_sdk_cloudwatch::Client::new(&config)
            .set_alarm_state()
            .alarm_name(&alarm)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            // No spaces: moto recomputes the query signature from re-encoded parameters and
            // disagrees with the SDK about how a space is written.
            .state_reason("threshold-crossed")
            .send()
            .await
            .unwrap();
    });
    let fired = started.elapsed();
    let out = child.wait_with_output().unwrap();
    let r = Run::of(out, started.elapsed());
    h.figures("canary, alarm in bake", &r);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stdout
            .contains("ECS rolled the deployment back by itself"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&alarm),
        "ECS's reason names the alarm: {}",
        r.stdout
    );
    eprintln!("FIGURES alarm set at {:.1} s", fired.as_secs_f64());
    assert!(h.live_image().ends_with(&h.digest("v1")));
    let history = h.history();
    assert_eq!(history.last().unwrap()["outcome"], "rolled_back");
}

#[test]
fn a_breach_at_the_pause_rolls_back_with_continue_rollback() {
    let h = Harness::start(json!({ "v1": {}, "v2": { "error_rate": 0.3 } }));
    let r = h.deploy("blue-green", "v2");
    h.figures("blue-green, analysis breach at pause", &r);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("5xx rate"), "{}", r.stdout);
    assert!(
        r.stderr.contains("ContinueServiceDeployment(ROLLBACK)"),
        "{}",
        r.stderr
    );
    assert!(h.calls().iter().any(|c| c == "ContinueServiceDeployment"));
    assert!(h.live_image().ends_with(&h.digest("v1")));
}

#[test]
fn a_smoke_failure_on_the_test_listener_rolls_back_before_production_traffic_moves() {
    let h = Harness::start(json!({ "v1": {}, "v2": { "smoke": "failing" } }));
    let r = h.deploy("blue-green", "v2");
    h.figures("blue-green, smoke failure", &r);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("test listener"), "{}", r.stdout);
    let d = h.deployments();
    let last = d.last().unwrap();
    assert_eq!(last["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(
        last["harness"]["maxWeight"], 0,
        "production traffic never moved: {last}"
    );
}

#[test]
fn a_failed_migration_task_stops_the_deploy_before_anything_moves() {
    let h = Harness::start(json!({ "v1": {}, "v2": { "migrate_exit": 3 } }));
    let r = h.deploy("blue-green", "v2");
    h.figures("migration exits 3", &r);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("the migration task exited with 3"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("stream marketplace/marketplace/"),
        "names the log stream: {}",
        r.stdout
    );
    assert!(
        !h.calls().iter().any(|c| c == "UpdateService"),
        "the service was not touched"
    );
    assert!(h.deployments().is_empty());
    assert_eq!(h.history().last().unwrap()["outcome"], "failed");
}

#[test]
fn a_deploy_that_never_finishes_times_out_and_is_stopped_with_a_rollback() {
    let h = Harness::start_with(json!({ "v1": {}, "v2": { "start": "stuck" } }), "");
    let toml = h.dir.path().join("staging.toml");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("deploy_timeout_seconds = 40", "deploy_timeout_seconds = 4");
    std::fs::write(&toml, text).unwrap();
    let r = h.deploy("rolling", "v2");
    h.figures("time-out", &r);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(r.stdout.contains("timed out"), "{}", r.stdout);
    assert!(
        r.stdout.contains("the rollback succeeded"),
        "says whether the rollback worked: {}",
        r.stdout
    );
    assert!(h.calls().iter().any(|c| c == "StopServiceDeployment"));
    assert!(h.live_image().ends_with(&h.digest("v1")));
}

/// Starts a deploy of an image whose tasks never start, so it stays mid-deploy.
fn deploy_in_background(h: &Harness) -> Child {
    let child = h
        .deploy_command("rolling", "stuck")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    h.wait_stage("SCALE_UP", Duration::from_secs(20));
    child
}

#[test]
fn a_second_deploy_is_refused_while_the_lock_is_held() {
    let h = Harness::start(json!({ "v1": {}, "v2": {}, "stuck": { "start": "stuck" } }));
    let mut first = deploy_in_background(&h);
    let r = h.deploy("blue-green", "v2");
    h.figures("second deploy while locked", &r);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("another deploy holds the lock"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ci on"), "names the holder: {}", r.stdout);
    let updates = h.calls().iter().filter(|c| *c == "UpdateService").count();
    assert_eq!(updates, 1, "only the first deploy changed the service");
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn marketctl_killed_mid_deploy_and_a_rerun_reconciles() {
    let h = Harness::start(json!({ "v1": {}, "v2": {}, "stuck": { "start": "stuck" } }));
    let mut first = deploy_in_background(&h);
    first.kill().unwrap();
    first.wait().unwrap();
    let r = h.deploy("blue-green", "v2");
    h.figures("rerun after kill", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("took over the lock of a lost deploy"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("reconcile"), "{}", r.stderr);
    let history = h.history();
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[0]["outcome"], "rolled_back");
    assert!(
        history[0]["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{history:#?}"
    );
    assert_eq!(history[1]["outcome"], "deployed");
    assert!(h.live_image().ends_with(&h.digest("v2")));
}

#[test]
fn bad_credentials_and_a_missing_image_fail_with_a_clear_message() {
    let h = Harness::start(good());
    let out = h
        .deploy_command("rolling", "v2")
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEWRONGKEY1")
        .output()
        .unwrap();
    let r = Run::of(out, Duration::ZERO);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("AWS refused the credentials"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("InvalidClientTokenId"), "{}", r.stdout);

    let r = h.deploy("rolling", "no-such-tag");
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout
            .contains("does not exist in ECR repository tm-staging"),
        "{}",
        r.stdout
    );
    assert!(
        !h.calls()
            .iter()
            .any(|c| c == "RegisterTaskDefinition" || c == "UpdateService")
    );

    let r = h.run(&["deploy", "staging", "rolling", "--image", "nginx:latest"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("is not an ECR image"), "{}", r.stdout);
}

#[test]
fn thin_traffic_at_the_pause_is_no_data_never_a_pass() {
    let h = Harness::start(good());
    let _: Value = reqwest::blocking::Client::new()
        .post(format!("{}/_harness/traffic", h.url))
        .json(&json!({ "rps": 2 }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let r = h.deploy("blue-green", "v2");
    h.figures("thin traffic", &r);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stdout.contains("no data"), "{}", r.stdout);
}

#[test]
fn plan_prints_the_changes_and_makes_none() {
    let h = Harness::start(good());
    let image = h.image("v2");
    let r = h.run(&["deploy", "staging", "canary", "--image", &image, "--plan"]);
    assert_eq!(r.code, 0, "{}", r.all());
    for expected in [
        "RegisterTaskDefinition",
        "RunTask",
        "UpdateService",
        "strategy: Some(Canary)",
        "canary_percent: Some(25.0)",
        "POST_TEST_TRAFFIC_SHIFT",
    ] {
        assert!(
            r.stdout.contains(expected),
            "{expected} missing from the plan:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("nothing was changed"), "{}", r.stdout);
    let calls = h.calls();
    for changing in ["RegisterTaskDefinition", "RunTask", "UpdateService"] {
        assert!(
            !calls.iter().any(|c| c == changing),
            "--plan called {changing}"
        );
    }
    assert!(h.history().is_empty());
}

#[test]
fn rollback_returns_to_the_last_known_good_revision() {
    let h = Harness::start(json!({ "v1": {}, "v2": {}, "v3": {} }));
    assert_eq!(h.deploy("rolling", "v2").code, 0);
    assert_eq!(h.deploy("rolling", "v3").code, 0);
    let r = h.run(&["rollback", "staging"]);
    h.figures("rollback to known-good", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(h.live_image().ends_with(&h.digest("v2")), "{}", r.all());
    let history = h.history();
    assert_eq!(history.last().unwrap()["action"], "rollback");
    assert_eq!(history.last().unwrap()["outcome"], "deployed");
}

#[test]
fn the_spec_s_deploy_script_runs_a_canary_on_ecs() {
    let h = Harness::start(good());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/deploy.sh");
    // The harness's environment, around the script instead of the binary.
    let marketctl = h.command(&[]);
    let mut c = Command::new("bash");
    c.arg(&script).args(["staging", "canary", "false"]);
    for (k, v) in marketctl.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    let r = c
        .env("IMAGE", h.image("v2"))
        .env("MARKETCTL", PathBuf::from(marketctl.get_program()))
        .output()
        .unwrap();
    let r = Run::of(r, Duration::ZERO);
    assert_eq!(r.code, 0, "{}", r.all());
    for stage in [
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "SUCCESSFUL",
    ] {
        assert!(r.stderr.contains(stage), "{stage} not shown:\n{}", r.stderr);
    }
    assert!(r.stdout.contains("deployed"), "{}", r.stdout);
}

#[test]
fn rollback_stops_a_deployment_in_progress_with_ecs_s_own_rollback() {
    let h = Harness::start(json!({ "v1": {}, "stuck": { "start": "stuck" } }));
    let mut first = deploy_in_background(&h);
    first.kill().unwrap();
    first.wait().unwrap();
    let r = h.run(&["rollback", "staging"]);
    h.figures("rollback of a deployment in progress", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("the rollback succeeded"), "{}", r.stderr);
    assert!(h.calls().iter().any(|c| c == "StopServiceDeployment"));
    let history = h.history();
    let rollback = history.iter().find(|r| r["action"] == "rollback").unwrap();
    assert_eq!(rollback["outcome"], "deployed");
    assert!(
        rollback["to_version"]
            .as_str()
            .unwrap()
            .ends_with(&h.digest("v1")),
        "back to what was live before the deploy: {rollback}"
    );
    let deploy = history.iter().find(|r| r["action"] == "deploy").unwrap();
    assert_eq!(deploy["outcome"], "rolled_back", "{deploy}");
    assert!(h.live_image().ends_with(&h.digest("v1")));
}

impl Harness {
    /// Adds the environment's database to its file, as `terraform output marketctl_rds` gives it.
    fn with_rds(self) -> Self {
        let path = self.dir.path().join("staging.toml");
        let mut toml = std::fs::read_to_string(&path).unwrap();
        toml.push_str(&format!(
            "\n[rds]\ninstance = \"{}\"\ndatabase_url_secret = \"{}\"\npoll_seconds = 0.1\ntimeout_minutes = 1\n",
            self.world["db_instance"].as_str().unwrap(),
            self.world["secret_name"].as_str().unwrap()
        ));
        std::fs::write(path, toml).unwrap();
        self
    }

    /// Reads AWS state straight from moto with boto3, as an operator's console would.
    fn boto(&self, code: &str) -> Value {
        let out = Command::new(python())
            .arg("-c")
            .arg(format!(
                "import boto3, json, sys\nkw = dict(endpoint_url=sys.argv[1], region_name='us-west-2', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])\n{code}"
            ))
            .args([
                &self.url,
                self.world["access_key_id"].as_str().unwrap(),
                self.world["secret_access_key"].as_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn database_url(&self) -> String {
        let name = self.world["secret_name"].as_str().unwrap();
        self.boto(&format!(
            "print(json.dumps(boto3.client('secretsmanager', **kw).get_secret_value(SecretId='{name}')['SecretString']))"
        ))
        .as_str()
        .unwrap()
        .to_owned()
    }

    fn db_instances(&self) -> Vec<String> {
        self.boto("print(json.dumps([d['DBInstanceIdentifier'] for d in boto3.client('rds', **kw).describe_db_instances()['DBInstances']]))")
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }
}

#[test]
fn a_point_in_time_restore_makes_a_new_instance_and_the_cut_over_moves_the_secret_and_restarts() {
    let h = Harness::start(good()).with_rds();
    let live_db = h.world["db_instance"].as_str().unwrap().to_owned();
    let before_url = h.database_url();
    let before_image = h.live_image();

    // Restore alone: a new instance shaped like the live one; nothing points at it yet.
    let r = h.run(&["restore", "staging", "--latest", "--output", "json"]);
    h.figures("RDS point-in-time restore", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let restored = v["restored"]["instance"].as_str().unwrap().to_owned();
    assert!(
        restored.starts_with(&format!("{live_db}-restore-")),
        "{restored}"
    );
    let endpoint = v["restored"]["endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with(&restored), "{endpoint}");
    assert!(
        h.calls()
            .iter()
            .any(|c| c.contains("RestoreDBInstanceToPointInTime")),
        "{:?}",
        h.calls()
    );
    let instances = h.db_instances();
    assert!(
        instances.contains(&live_db) && instances.contains(&restored),
        "{instances:?}"
    );
    assert_eq!(h.database_url(), before_url);
    assert!(v["restart"].is_null());

    // Refused before anything changes: a taken name, a time to come, a backup id (RDS restores
    // to times), and cut-over flags on one host are covered by the local tests.
    let taken = h.run(&["restore", "staging", "--latest", "--into", &restored]);
    assert_eq!(taken.code, 64, "{}", taken.all());
    assert!(taken.stderr.contains("already exists"), "{}", taken.stderr);
    let future = h.run(&["restore", "staging", "--to", "2999-01-01T00:00:00Z"]);
    assert_eq!(future.code, 64, "{}", future.all());
    assert!(future.stderr.contains("in the future"), "{}", future.stderr);
    let by_id = h.run(&["restore", "staging", "--backup", "rds:whatever"]);
    assert_eq!(by_id.code, 64, "{}", by_id.all());
    let live = h.run(&[
        "restore",
        "staging",
        "--latest",
        "--cut-over",
        "--into",
        &live_db,
    ]);
    assert_eq!(live.code, 64, "{}", live.all());
    assert!(
        live.stderr.contains("is the live instance"),
        "{}",
        live.stderr
    );
    assert_eq!(h.db_instances().len(), 2);
    assert_eq!(h.database_url(), before_url);

    // The cut-over to it: the secret moves, the user and database stay, and the service
    // restarts through a rolling deploy of the same image.
    let r = h.run(&[
        "restore",
        "staging",
        "--latest",
        "--cut-over",
        "--into",
        &restored,
        "--output",
        "json",
    ]);
    h.figures("RDS cut-over and rolling restart", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["restart"]["outcome"], "deployed", "{}", r.all());
    assert_eq!(
        h.database_url(),
        format!("postgres://app@{endpoint}:5432/tm")
    );
    assert_eq!(h.db_instances().len(), 2, "the cut-over restored again");
    assert_eq!(h.live_image(), before_image);
    let history = h.history();
    let last = history.last().unwrap();
    assert_eq!(last["action"], "deploy");
    assert_eq!(last["strategy"], "rolling");
    assert_eq!(last["outcome"], "deployed");
}

#[test]
fn restore_without_an_rds_section_says_what_is_missing() {
    let h = Harness::start(good());
    let r = h.run(&["restore", "staging", "--latest"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(r.stderr.contains("no [rds] section"), "{}", r.stderr);
}

impl Harness {
    /// `[rds]` with the DR region's copy and a retention, as `terraform output marketctl_rds`
    /// gives them.
    fn with_backups(self, retention_days: u32) -> Self {
        let h = self.with_rds();
        let path = h.dir.path().join("staging.toml");
        let mut toml = std::fs::read_to_string(&path).unwrap();
        toml.push_str(&format!(
            "dr_region = \"{}\"\ndr_kms_key = \"{}\"\nretention_days = {retention_days}\n",
            h.world["dr_region"].as_str().unwrap(),
            h.world["dr_kms_key"].as_str().unwrap(),
        ));
        std::fs::write(path, toml).unwrap();
        h
    }

    /// The instance's snapshots in a region: id → (kms key, tags).
    fn snapshots_in(&self, region: &str) -> Value {
        self.boto(&format!(
            "rds = boto3.client('rds', **dict(kw, region_name='{region}'))\n\
             out = {{}}\n\
             for s in rds.describe_db_snapshots()['DBSnapshots']:\n    \
                 tags = rds.list_tags_for_resource(ResourceName=s['DBSnapshotArn'])['TagList']\n    \
                 out[s['DBSnapshotIdentifier']] = {{'kms': s.get('KmsKeyId'), 'encrypted': s.get('Encrypted'), 'tags': {{t['Key']: t['Value'] for t in tags}}}}\n\
             print(json.dumps(out))"
        ))
    }
}

#[test]
fn a_snapshot_is_copied_to_the_dr_region_and_verified_by_a_restore_that_leaves_nothing_behind() {
    let h = Harness::start(good()).with_backups(30);
    let live_db = h.world["db_instance"].as_str().unwrap().to_owned();
    let dr_region = h.world["dr_region"].as_str().unwrap().to_owned();

    let r = h.run(&["backup", "staging", "create", "--output", "json"]);
    h.figures("RDS snapshot and cross-region copy", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    let taken: Value = serde_json::from_str(&r.stdout).unwrap();
    let id = taken["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with(&format!("{live_db}-marketctl-")), "{id}");
    assert_eq!(taken["encrypted"], true);
    assert_eq!(taken["kms_key"], h.world["db_kms_key"]);
    let copy = taken["dr_copy"].as_str().unwrap();
    assert!(copy.contains(&dr_region), "{copy}");
    let in_dr = h.snapshots_in(&dr_region);
    assert_eq!(in_dr[&id]["encrypted"], true, "{in_dr}");
    assert_eq!(in_dr[&id]["kms"], h.world["dr_kms_key"], "{in_dr}");

    let r = h.run(&["backup", "staging", "verify", "--output", "json"]);
    h.figures("RDS snapshot verification", &r);
    assert_eq!(r.code, 0, "{}", r.all());
    let verified: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(verified["id"], id.as_str());
    assert_eq!(verified["verification"]["ok"], true, "{verified}");
    let calls = h.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains("RestoreDBInstanceFromDBSnapshot")),
        "{calls:?}"
    );
    assert_eq!(
        h.db_instances(),
        vec![live_db.clone()],
        "scratch left behind"
    );
    let tags = &h.snapshots_in("us-west-2")[&id]["tags"];
    assert_eq!(tags["marketctl:verification"], "passed", "{tags}");
    let metric = h.boto(
        "cw = boto3.client('cloudwatch', **kw)\n\
         m = cw.list_metrics(Namespace='TattooMarketplace/Backups', MetricName='BackupVerified')['Metrics']\n\
         print(json.dumps([d['Value'] for x in m for d in x['Dimensions'] if d['Name'] == 'DBInstanceIdentifier']))",
    );
    assert_eq!(metric, json!([live_db]));

    let listed = h.run(&["backup", "staging", "list", "--output", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["verification"]["ok"], true, "{row}");
    let human = h.run(&["backup", "staging", "list"]);
    assert!(
        human.stdout.contains(&id) && human.stdout.contains("passed"),
        "{}",
        human.stdout
    );

    // The DR copy lost: verification fails, says so, records it, and still cleans up.
    h.boto(&format!(
        "boto3.client('rds', **dict(kw, region_name='{dr_region}')).delete_db_snapshot(DBSnapshotIdentifier='{id}')\nprint('null')"
    ));
    let r = h.run(&["backup", "staging", "verify", "--backup", &id]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains(&format!("its copy in {dr_region} is missing")),
        "{}",
        r.stderr
    );
    assert_eq!(
        h.db_instances(),
        vec![live_db.clone()],
        "scratch left behind"
    );
    let tags = &h.snapshots_in("us-west-2")[&id]["tags"];
    assert!(tags["marketctl:verification"] == "failed", "{tags}");

    // Refusals, before anything is made.
    let r = h.run(&[
        "backup",
        "staging",
        "verify",
        "--backup",
        "no-such-snapshot",
    ]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(
        r.stderr.contains("has no snapshot no-such-snapshot"),
        "{}",
        r.stderr
    );
    let r = h.run(&["backup", "staging", "schedule"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert_eq!(
        h.db_instances(),
        vec![live_db],
        "a refusal made an instance"
    );
}

#[test]
fn backups_past_retention_go_in_both_regions_and_the_newest_stays() {
    let h = Harness::start(good()).with_backups(0);
    let dr_region = h.world["dr_region"].as_str().unwrap().to_owned();
    let first = h.run(&["backup", "staging", "create", "--output", "json"]);
    assert_eq!(first.code, 0, "{}", first.all());
    let first: Value = serde_json::from_str(&first.stdout).unwrap();
    // Snapshot names are to the second.
    std::thread::sleep(Duration::from_millis(1100));
    let second = h.run(&["backup", "staging", "create", "--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.all());
    let second: Value = serde_json::from_str(&second.stdout).unwrap();
    for region in ["us-west-2", dr_region.as_str()] {
        let all = h.snapshots_in(region);
        let ids: Vec<&String> = all.as_object().unwrap().keys().collect();
        assert!(
            ids.contains(&&second["id"].as_str().unwrap().to_owned()),
            "{region}: {ids:?}"
        );
        assert!(
            !ids.contains(&&first["id"].as_str().unwrap().to_owned()),
            "{region}: {ids:?}"
        );
    }
}

#[test]
fn a_dr_region_without_its_key_is_refused() {
    let h = Harness::start(good()).with_rds();
    let path = h.dir.path().join("staging.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml.push_str("dr_region = \"us-east-1\"\n");
    std::fs::write(path, toml).unwrap();
    let r = h.run(&["backup", "staging", "create"]);
    assert_eq!(r.code, 64, "{}", r.all());
    assert!(r.stderr.contains("dr_kms_key"), "{}", r.stderr);
}
