//! Environment files (`deploy/ENV.toml`): platform, fleet size, strategy and analysis settings,
//! smoke tests, required variables, notifications and branch rules.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    pub platform: PlatformKind,
    /// Desired number of instances of the live release.
    pub instances: u32,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    pub local: Option<LocalSettings>,
    pub ecs: Option<EcsSettings>,
    /// Environment the release runs with (and `version` / `migrate` run with).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Variables that must be set in marketctl's own environment; their values are passed on.
    #[serde(default)]
    pub required_variables: Vec<String>,
    #[serde(default)]
    pub strategy: StrategySettings,
    #[serde(default)]
    pub analysis: AnalysisSettings,
    #[serde(default)]
    pub smoke: SmokeSettings,
    #[serde(default)]
    pub probes: ProbeSettings,
    #[serde(default)]
    pub notify: NotifySettings,
    #[serde(default)]
    pub git: GitSettings,
    #[serde(default)]
    pub checks: ChecksSettings,
    /// Backups of the environment's database (platform = "local": its SQLite file).
    pub backup: Option<BackupSettings>,
    /// The environment's RDS instance (platform = "ecs"): what `restore` restores from.
    pub rds: Option<RdsSettings>,
    /// A self-hosted PostgreSQL backed up by pgBackRest (platform = "local").
    pub pgbackrest: Option<PgBackRestSettings>,
}

/// The pgBackRest stanza that backs up a self-hosted PostgreSQL, and how to verify its backups.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgBackRestSettings {
    #[serde(default = "default_stanza")]
    pub stanza: String,
    #[serde(default = "default_pgbackrest_config")]
    pub config: PathBuf,
    /// The account pgBackRest and PostgreSQL run as when marketctl runs as root.
    #[serde(default = "default_postgres")]
    pub run_as: String,
    /// The role a verification reads the restored copy as.
    #[serde(default = "default_postgres")]
    pub superuser: String,
    /// The service's database in the cluster.
    #[serde(default = "default_stanza")]
    pub database: String,
    /// Where a verification restores its scratch copy (it needs the database's size free).
    #[serde(default = "default_scratch_dir")]
    pub scratch_dir: PathBuf,
}

fn default_stanza() -> String {
    "marketplace".into()
}

fn default_pgbackrest_config() -> PathBuf {
    PathBuf::from("/etc/pgbackrest/pgbackrest.conf")
}

fn default_postgres() -> String {
    "postgres".into()
}

fn default_scratch_dir() -> PathBuf {
    PathBuf::from("/var/tmp")
}

/// An ECS environment's database, for point-in-time restores and the cut-over to one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsSettings {
    /// The live instance (`terraform output`: `tm-ENV`).
    pub instance: String,
    /// The Secrets Manager secret the service reads its database URL from; a cut-over points
    /// it at the restored instance.
    pub database_url_secret: String,
    #[serde(default = "default_rds_poll")]
    pub poll_seconds: f64,
    /// How long a restore may take to become available (RDS takes tens of minutes).
    #[serde(default = "default_rds_timeout")]
    pub timeout_minutes: f64,
    /// The disaster-recovery region `backup create` copies each snapshot to (`None`: no copy).
    pub dr_region: Option<String>,
    /// The customer-managed KMS key in `dr_region` the copies are encrypted with (a key never
    /// leaves its region, so the copy needs its own).
    pub dr_kms_key: Option<String>,
    /// Snapshots `backup create` took are deleted after this many days (automated backups
    /// follow the instance's own retention); 0 keeps only the newest.
    #[serde(default = "default_rds_retention")]
    pub retention_days: u32,
    /// Where `backup verify` publishes `BackupVerified` (the 26-hour alarm watches it).
    #[serde(default = "default_rds_namespace")]
    pub metrics_namespace: String,
}

fn default_rds_retention() -> u32 {
    30
}

fn default_rds_namespace() -> String {
    "TattooMarketplace/Backups".into()
}

fn default_rds_poll() -> f64 {
    15.0
}

fn default_rds_timeout() -> f64 {
    90.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Where backups are kept: a folder (`file:///var/backups/tm` or a relative path) or
    /// `s3://bucket/prefix`.
    pub store: String,
    /// The age public key (age1…) backups are encrypted to. Taking backups needs only this;
    /// verifying and restoring need the identity.
    pub recipient: String,
    /// The variable holding the age identity (AGE-SECRET-KEY-1…).
    #[serde(default = "default_identity_env")]
    pub identity_env: String,
}

fn default_identity_env() -> String {
    "MARKETCTL_BACKUP_IDENTITY".into()
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    Local,
    Ecs,
}

fn default_health_path() -> String {
    "/health/ready".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// The agent's admin API.
    pub admin_url: String,
    /// The agent's public URL, for smoke tests through the proxy.
    pub public_url: String,
    /// Name of the variable holding the admin token.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Releases, history and the deploy lock.
    pub state_dir: PathBuf,
    /// Instances get ports from here upwards.
    pub base_port: u16,
    /// How many ports from `base_port` instances may use.
    #[serde(default = "default_port_span")]
    pub port_span: u16,
    #[serde(default)]
    pub sticky_cookie: Option<String>,
    /// How long an instance may take to answer before the proxy answers 504 in its place.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout_seconds: f64,
    /// Per path prefix (`"/api/v1/booking-requests" = 60`); the longest matching prefix wins.
    #[serde(default)]
    pub upstream_timeouts: std::collections::BTreeMap<String, f64>,
}

fn default_upstream_timeout() -> f64 {
    30.0
}

fn default_token_env() -> String {
    "MARKETCTL_ADMIN_TOKEN".into()
}

fn default_port_span() -> u16 {
    100
}

/// An ECS environment: the names Terraform outputs (`terraform output marketctl_ecs` in
/// `infrastructure/terraform/environments/ENV`), and how marketctl drives ECS's deployments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsSettings {
    pub region: String,
    pub cluster: String,
    /// The one service, on ECS's own deployment controller.
    pub service: String,
    /// The container in the task definition that runs the marketplace.
    #[serde(default = "default_container")]
    pub container: String,
    /// The production listener, for smoke tests after the deploy.
    pub public_url: String,
    /// The test listener: the new release before production traffic moves to it.
    pub test_url: String,
    /// Where the deploy history and lock live, shared by everyone who deploys.
    pub state_bucket: String,
    #[serde(default = "default_state_prefix")]
    pub state_prefix: String,
    /// CloudWatch alarms that make ECS roll a deployment back by itself.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// The canary's share of production traffic while it bakes.
    #[serde(default = "default_canary_percent")]
    pub canary_percent: f64,
    /// How long ECS waits at a pause for marketctl's answer before rolling back by itself
    /// (marketctl gone mid-deploy).
    #[serde(default = "default_hook_timeout")]
    pub hook_timeout_minutes: u32,
    /// The whole deployment; past it marketctl stops it with a rollback.
    #[serde(default = "default_deploy_timeout")]
    pub deploy_timeout_seconds: f64,
    /// How often the deployment is read.
    #[serde(default = "default_poll")]
    pub poll_seconds: f64,
    /// The migration task's command: arguments to the image's entrypoint (`/app/marketplace`),
    /// so the release's own binary migrates.
    #[serde(default = "default_migrate_command")]
    pub migrate_command: Vec<String>,
    /// The lock is someone else's until its heartbeat is this old (a holder on this host is
    /// known gone as soon as its process is).
    #[serde(default = "default_lock_stale")]
    pub lock_stale_seconds: f64,
}

fn default_container() -> String {
    "marketplace".into()
}
fn default_state_prefix() -> String {
    "marketctl/".into()
}
fn default_canary_percent() -> f64 {
    5.0
}
fn default_hook_timeout() -> u32 {
    30
}
fn default_deploy_timeout() -> f64 {
    3600.0
}
fn default_poll() -> f64 {
    5.0
}
fn default_migrate_command() -> Vec<String> {
    vec!["migrate".into()]
}
fn default_lock_stale() -> f64 {
    120.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategySettings {
    pub ready_timeout_seconds: f64,
    /// From an instance's start, how long a crash is the supervisor's to restart rather than
    /// a failed deploy (a fleet that starts together may trip over a shared resource once).
    pub startup_grace_seconds: f64,
    pub bake_seconds: f64,
    pub canary_steps: Vec<u32>,
    pub canary_step_seconds: f64,
    /// The share of traffic the old release keeps through the bake of a blue-green or rolling
    /// deploy, so the new one is compared with it on the same window (0: no baseline slice).
    pub baseline_percent: u32,
    /// After all traffic moved, how long the old release stays warm while analysis goes on
    /// (Argo Rollouts' `scaleDownDelaySeconds`): a breach then switches back at once.
    pub scale_down_delay_seconds: f64,
}

impl Default for StrategySettings {
    fn default() -> Self {
        Self {
            ready_timeout_seconds: 60.0,
            startup_grace_seconds: 15.0,
            bake_seconds: 60.0,
            canary_steps: vec![5, 25, 50, 100],
            canary_step_seconds: 60.0,
            baseline_percent: 10,
            scale_down_delay_seconds: 30.0,
        }
    }
}

impl StrategySettings {
    pub fn readiness(&self) -> crate::platform::Readiness {
        crate::platform::Readiness {
            timeout: Duration::from_secs_f64(self.ready_timeout_seconds),
            grace: Duration::from_secs_f64(
                self.startup_grace_seconds.min(self.ready_timeout_seconds),
            ),
        }
    }
    pub fn bake(&self) -> Duration {
        Duration::from_secs_f64(self.bake_seconds)
    }
    pub fn canary_step(&self) -> Duration {
        Duration::from_secs_f64(self.canary_step_seconds)
    }
    pub fn scale_down_delay(&self) -> Duration {
        Duration::from_secs_f64(self.scale_down_delay_seconds)
    }
}

/// The spec's rollback triggers and how they are evaluated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisSettings {
    pub interval_seconds: f64,
    pub window_seconds: u64,
    /// A window with fewer requests than this says nothing about error rate or latency.
    pub min_requests: u64,
    /// Breaching windows in a row before a rollback.
    pub consecutive_breaches: u32,
    pub max_error_rate: f64,
    pub max_p95_seconds: f64,
    pub health_check_failures: u32,
    /// How much worse than the old release's (on the same window) the error rate may be.
    pub max_error_rate_over_baseline: f64,
    /// A route group (method and path prefix) with fewer requests than this is not judged on
    /// its own; the version as a whole still is.
    pub min_group_requests: u64,
    /// The longest a request may wait unanswered at the new release before it breaches, even
    /// though it has not completed (the proxy's timeout ends it later).
    pub max_in_flight_seconds: f64,
    /// The new release's p95 may be at most this many times the old release's...
    pub max_p95_ratio_over_baseline: f64,
    /// ...once it is at least this slow (below it, bucket noise doubles easily).
    pub min_p95_to_compare_seconds: f64,
    /// When the whole watch had too few requests to judge: `fail` the deploy, or `proceed`
    /// with a warning in its history record. Either way it waits `inconclusive_wait_seconds`
    /// longer for traffic first.
    pub on_inconclusive: InconclusivePolicy,
    pub inconclusive_wait_seconds: u64,
    /// Windows with enough requests to judge that a release must pass before it is
    /// known-good, the only kind a bare `rollback` returns to.
    pub proof_windows: u32,
    /// Or: how long it must serve after its deploy with no breach in its latest window.
    pub known_good_after_seconds: f64,
    /// Rules for particular route groups, replacing the defaults they name (Argo Rollouts'
    /// AnalysisTemplates, Flagger's metric templates): `[[analysis.rules]]`.
    pub rules: Vec<AnalysisRule>,
}

/// Thresholds for the route groups under `route` (a path prefix), for one method or all.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRule {
    pub route: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    #[serde(default)]
    pub max_p95_seconds: Option<f64>,
    /// Requests the group needs in a window before this rule judges it.
    #[serde(default)]
    pub min_requests: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InconclusivePolicy {
    Fail,
    Proceed,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        Self {
            interval_seconds: 5.0,
            window_seconds: 30,
            min_requests: 20,
            consecutive_breaches: 2,
            max_error_rate: 0.05,
            max_p95_seconds: 10.0,
            health_check_failures: 3,
            max_error_rate_over_baseline: 0.02,
            min_group_requests: 5,
            max_in_flight_seconds: 10.0,
            max_p95_ratio_over_baseline: 2.0,
            min_p95_to_compare_seconds: 1.0,
            on_inconclusive: InconclusivePolicy::Proceed,
            inconclusive_wait_seconds: 20,
            proof_windows: 3,
            known_good_after_seconds: 3600.0,
            rules: Vec::new(),
        }
    }
}

impl AnalysisSettings {
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval_seconds)
    }

    /// The rule for a route group: the longest matching route prefix, a method-specific rule
    /// before one for all methods.
    pub fn rule_for(&self, method: &str, route: &str) -> Option<&AnalysisRule> {
        self.rules
            .iter()
            .filter(|r| {
                route.starts_with(&r.route)
                    && r.method
                        .as_deref()
                        .is_none_or(|m| m.eq_ignore_ascii_case(method))
            })
            .max_by_key(|r| (r.route.len(), r.method.is_some()))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmokeSettings {
    /// Paths that must answer 2xx/3xx: the health endpoints and the main user flows.
    pub paths: Vec<String>,
}

impl Default for SmokeSettings {
    fn default() -> Self {
        Self {
            paths: vec!["/health/ready".into(), "/".into(), "/sign-in".into()],
        }
    }
}

/// Synthetic probes: GETs of the critical routes sent to the new release through the public
/// entry all through its analysis, so thin real traffic still gives it windows to judge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeSettings {
    /// Paths probed in turn (none: no probes).
    pub paths: Vec<String>,
    /// Probes per second, all paths together.
    pub per_second: f64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            per_second: 4.0,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Slack-compatible incoming webhook, or the name of a variable holding it (`env:NAME`).
    pub webhook: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GitSettings {
    /// Deploys must come from this branch (production: main).
    pub branch: Option<String>,
    pub require_clean: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksSettings {
    /// Test and scan commands run before deploying (skipped with `--skip-checks`).
    pub commands: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The I/O error is in the message only, so error chains do not print it twice.
    #[error("reading {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "there is no environment {env:?}: {} has {}",
        dir.display(),
        if known.is_empty() { "no ENV.toml files".to_owned() } else { known.join(", ") }
    )]
    Unknown {
        env: String,
        dir: PathBuf,
        known: Vec<String>,
    },
}

impl ConfigError {
    /// A mistake in the command line rather than in the files: the usage exit code.
    pub fn is_usage(&self) -> bool {
        matches!(self, ConfigError::Unknown { .. })
    }
}

/// The environments `dir` holds, by name.
pub fn environments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "toml")
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

impl DeployConfig {
    /// Loads `DIR/ENV.toml`.
    pub fn load(dir: &Path, env: &str) -> Result<Self, ConfigError> {
        let valid_name = !env.is_empty()
            && env
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let path = dir.join(format!("{env}.toml"));
        if !valid_name || !path.exists() {
            return Err(ConfigError::Unknown {
                env: env.to_owned(),
                dir: dir.to_owned(),
                known: environments(dir),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::Read {
            path: path.clone(),
            error,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Invalid { path, message })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.instances == 0 {
            return Err("instances must be at least 1".into());
        }
        if let Some(b) = &self.backup {
            crate::backup::archive::recipient(&b.recipient)?;
        }
        if self.platform == PlatformKind::Local && self.local.is_none() {
            return Err("platform = \"local\" needs a [local] section".into());
        }
        if self.platform == PlatformKind::Ecs && self.ecs.is_none() {
            return Err("platform = \"ecs\" needs an [ecs] section".into());
        }
        let steps = &self.strategy.canary_steps;
        if steps.is_empty()
            || steps.last() != Some(&100)
            || steps.windows(2).any(|w| w[0] >= w[1])
            || steps[0] == 0
        {
            return Err("strategy.canary_steps must rise strictly from above 0 to 100".into());
        }
        if self.strategy.baseline_percent >= 50 {
            return Err(
                "strategy.baseline_percent must be below 50: it is the old release's slice".into(),
            );
        }
        let a = &self.analysis;
        if !(0.0..=1.0).contains(&a.max_error_rate)
            || a.consecutive_breaches == 0
            || a.window_seconds == 0
        {
            return Err("analysis: max_error_rate must be in 0..1, consecutive_breaches and window_seconds at least 1".into());
        }
        let p = &self.probes;
        if !p.paths.is_empty() && !(0.1..=100.0).contains(&p.per_second)
            || p.paths.iter().any(|path| !path.starts_with('/'))
        {
            return Err("probes: per_second must be 0.1 to 100 and every path start with /".into());
        }
        for rule in &a.rules {
            let rate_ok = rule.max_error_rate.is_none_or(|r| (0.0..=1.0).contains(&r));
            let p95_ok = rule.max_p95_seconds.is_none_or(|p| p > 0.0);
            if !rule.route.starts_with('/') || !rate_ok || !p95_ok {
                return Err(format!(
                    "analysis.rules for {:?}: the route must start with /, max_error_rate be in 0..1 and max_p95_seconds above 0",
                    rule.route
                ));
            }
        }
        if let Some(ecs) = &self.ecs {
            if !(0.0 < ecs.canary_percent && ecs.canary_percent < 100.0) {
                return Err("ecs.canary_percent must be above 0 and below 100".into());
            }
            if ecs.poll_seconds <= 0.0 || ecs.deploy_timeout_seconds <= 0.0 {
                return Err(
                    "ecs.poll_seconds and ecs.deploy_timeout_seconds must be above 0".into(),
                );
            }
            if ecs.hook_timeout_minutes == 0 || ecs.migrate_command.is_empty() {
                return Err(
                    "ecs.hook_timeout_minutes must be at least 1 and ecs.migrate_command not empty"
                        .into(),
                );
            }
            for url in [&ecs.public_url, &ecs.test_url] {
                if reqwest::Url::parse(url).is_err() {
                    return Err(format!("ecs: {url:?} is not a URL"));
                }
            }
        }
        if let Some(local) = &self.local
            && local.port_span < self.instances.saturating_mul(3) as u16
        {
            return Err(
                "local.port_span must leave room for three fleets (old, new, rollback)".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_environment_file_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                DeployConfig::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 4, "the four environments");
    }

    const MINIMAL: &str = r#"
platform = "local"
instances = 2
[local]
admin_url = "http://127.0.0.1:9180"
public_url = "http://127.0.0.1:8080"
state_dir = "/tmp/x"
base_port = 18100
"#;

    #[test]
    fn a_minimal_file_gets_the_specs_defaults() {
        let c = DeployConfig::parse(MINIMAL).unwrap();
        assert_eq!(c.analysis.max_error_rate, 0.05);
        assert_eq!(c.analysis.max_p95_seconds, 10.0);
        assert_eq!(c.analysis.health_check_failures, 3);
        assert_eq!(c.strategy.canary_steps, vec![5, 25, 50, 100]);
        assert_eq!(c.strategy.bake_seconds, 60.0);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(
            DeployConfig::parse("platform = \"local\"\ninstances = 0")
                .unwrap_err()
                .contains("instances")
        );
        let typo = format!("{MINIMAL}\n[analysis]\nmax_eror_rate = 0.1\n");
        assert!(
            DeployConfig::parse(&typo)
                .unwrap_err()
                .contains("max_eror_rate")
        );
        let steps = format!("{MINIMAL}\n[strategy]\ncanary_steps = [50, 25, 100]\n");
        assert!(
            DeployConfig::parse(&steps)
                .unwrap_err()
                .contains("canary_steps")
        );
        assert!(DeployConfig::parse("not toml [").is_err());
    }

    #[test]
    fn the_shipped_environment_files_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
        for env in ["local", "development", "staging", "production"] {
            DeployConfig::load(&dir, env).unwrap_or_else(|e| panic!("{env}: {e}"));
        }
        assert!(DeployConfig::load(&dir, "../etc/passwd").is_err());
    }
}
