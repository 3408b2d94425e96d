//! The deploy engine: pre-deploy checks, the expand/contract migration gate, the traffic
//! strategies with analysis in every state, automatic rollback, history and notifications.

pub mod analysis;
mod restore;
mod strategy;
#[cfg(test)]
mod tests;

use crate::config::DeployConfig;
use crate::platform::{Fleet, Platform, PlatformError};
use crate::state::{Action, Ended, History, Lock, Phase, Proof, Record, now, release_path};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use crate::state::Strategy;

/// How a deploy ended. Always one of these, and always said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    Deployed,
    /// The release is the one already live: nothing to do, and nothing wrong.
    Unchanged(String),
    RolledBack(String),
    Failed(String),
    TimedOut(String),
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Deployed | Outcome::Unchanged(_) => 0,
            Outcome::Failed(_) => 1,
            Outcome::RolledBack(_) => 2,
            Outcome::TimedOut(_) => 3,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Deployed => "deployed",
            Outcome::Unchanged(_) => "already live",
            Outcome::RolledBack(_) => "rolled back",
            Outcome::Failed(_) => "failed",
            Outcome::TimedOut(_) => "timed out",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Deployed => None,
            Outcome::Unchanged(r)
            | Outcome::RolledBack(r)
            | Outcome::Failed(r)
            | Outcome::TimedOut(r) => Some(r),
        }
    }

    pub fn ended(&self) -> Ended {
        match self {
            Outcome::Deployed => Ended::Deployed,
            Outcome::Unchanged(_) => Ended::Unchanged,
            Outcome::RolledBack(_) => Ended::RolledBack,
            Outcome::Failed(_) => Ended::Failed,
            Outcome::TimedOut(_) => Ended::TimedOut,
        }
    }

    pub fn summary(&self) -> String {
        match self.reason() {
            Some(r) => format!("{} ({r})", self.label()),
            None => self.label().to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    /// Seconds since the deploy started, when the step ended.
    pub at: f64,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub environment: String,
    pub action: Action,
    /// `None` for a rollback.
    pub strategy: Option<Strategy>,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub seconds: f64,
    /// Seconds from the start until the new release first took traffic.
    pub traffic_on_at: Option<f64>,
    /// For a rollback or an abort: seconds from the start until all traffic was on the release
    /// returned to. That is when the rollback counts as done; draining the bad instances
    /// goes on in the background.
    pub traffic_off_at: Option<f64>,
    /// Why the release deployed counts as known-good; `None` when it does not (yet).
    pub proven: Option<Proof>,
    pub warnings: Vec<String>,
    pub steps: Vec<Step>,
}

/// What a deploy needs besides the platform.
pub struct DeployRequest {
    pub strategy: Strategy,
    pub release: PathBuf,
    pub run_checks: bool,
}

pub struct Engine<'a, P: Platform> {
    pub config: &'a DeployConfig,
    pub platform: &'a P,
    pub environment: String,
    pub state_dir: PathBuf,
    /// Environment for `version` and `migrate` of a release: the instances' environment.
    pub release_env: BTreeMap<String, String>,
    pub webhook: Option<String>,
    /// Print progress lines to stderr.
    pub verbose: bool,
    steps: Vec<Step>,
    started: Instant,
    step_started: Instant,
    /// What the deploy let pass without proof (an inconclusive analysis, say), recorded in its
    /// history entry.
    warnings: Vec<String>,
    history: Option<History>,
    /// The deploy's (or rollback's) history record, rewritten at each phase.
    record: Option<Record>,
    /// Analysis windows the new release passed with enough requests to judge.
    judged: u32,
    traffic_on_at: Option<f64>,
    traffic_off_at: Option<f64>,
}

/// A step failed; the variant decides the outcome.
enum Stop {
    /// Not a failure: the release asked for is live already.
    Unchanged(String),
    Failed(String),
    TimedOut(String),
    RolledBack(String),
}

impl From<PlatformError> for Stop {
    fn from(e: PlatformError) -> Self {
        Stop::Failed(e.to_string())
    }
}

impl<'a, P: Platform> Engine<'a, P> {
    pub fn new(
        config: &'a DeployConfig,
        platform: &'a P,
        environment: &str,
        state_dir: &Path,
        release_env: BTreeMap<String, String>,
        verbose: bool,
    ) -> Self {
        Self {
            config,
            platform,
            environment: environment.to_owned(),
            state_dir: state_dir.to_owned(),
            release_env,
            webhook: crate::notify::webhook_url(config.notify.webhook.as_deref()),
            verbose,
            steps: Vec::new(),
            started: Instant::now(),
            step_started: Instant::now(),
            warnings: Vec::new(),
            history: None,
            record: None,
            judged: 0,
            traffic_on_at: None,
            traffic_off_at: None,
        }
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Stores the phase in the record: the one place a deploy's progress is written down.
    fn enter(&mut self, phase: Phase) {
        let Some(record) = self.record.as_mut() else {
            return;
        };
        record.phase = Some(phase);
        let record = record.clone();
        if let Some(history) = &self.history
            && let Err(e) = history.append(&record)
        {
            self.note(&format!("could not record the phase: {e}"));
        }
    }

    fn traffic_on(&mut self) {
        if self.traffic_on_at.is_none() {
            self.traffic_on_at = Some(self.elapsed());
        }
    }

    fn traffic_off(&mut self) {
        if self.traffic_off_at.is_none() {
            let at = self.elapsed();
            self.traffic_off_at = Some(at);
            self.note(&format!("all traffic is off the new release at {at:.1} s"));
        }
    }

    fn begin_step(&mut self, name: &str) {
        self.step_started = Instant::now();
        if self.verbose {
            eprintln!("[{:>6.1}s] {name} …", self.started.elapsed().as_secs_f64());
        }
    }

    fn end_step(&mut self, name: &str, detail: impl Into<String>) {
        let detail = detail.into();
        let seconds = self.step_started.elapsed().as_secs_f64();
        if self.verbose {
            eprintln!(
                "[{:>6.1}s] {name}: {detail} ({seconds:.1}s)",
                self.started.elapsed().as_secs_f64()
            );
        }
        self.steps.push(Step {
            name: name.to_owned(),
            seconds,
            at: self.started.elapsed().as_secs_f64(),
            detail,
        });
    }

    fn warn(&mut self, line: &str) {
        self.note(&format!("warning: {line}"));
        self.warnings.push(line.to_owned());
    }

    fn note(&self, line: &str) {
        if self.verbose {
            eprintln!("[{:>6.1}s]   {line}", self.started.elapsed().as_secs_f64());
        }
    }

    fn history(&self) -> Result<History, String> {
        History::open(&self.state_dir).map_err(|e| format!("opening the history: {e}"))
    }

    /// Runs a whole deploy and returns its report; never panics, never leaves the lock.
    pub async fn deploy(mut self, request: DeployRequest) -> Report {
        self.started = Instant::now();
        let lock = match Lock::acquire(&self.state_dir) {
            Ok((lock, stale)) => {
                if let Some(pid) = stale {
                    self.note(&format!("replaced a stale deploy lock left by pid {pid}"));
                }
                lock
            }
            Err(e) => {
                return self.report(
                    Some(request.strategy),
                    None,
                    None,
                    Outcome::Failed(e.to_string()),
                );
            }
        };
        let history = match self.history() {
            Ok(h) => h,
            Err(e) => return self.report(Some(request.strategy), None, None, Outcome::Failed(e)),
        };
        if let Err(e) = self.reconcile(&history).await {
            drop(lock);
            return self.report(
                Some(request.strategy),
                None,
                None,
                Outcome::Failed(format!("reconciling an interrupted deploy: {e}")),
            );
        }

        crate::notify::send(
            self.webhook.as_deref(),
            &format!(
                "Deploy to {} started ({}, {})",
                self.environment,
                request.strategy.as_str(),
                request.release.display()
            ),
        )
        .await;

        self.history = Some(history);
        let mut versions = (None, None);
        let outcome = match self.run_deploy(&request, &mut versions).await {
            Ok(()) => Outcome::Deployed,
            Err(Stop::Unchanged(r)) => Outcome::Unchanged(r),
            Err(Stop::Failed(r)) => Outcome::Failed(r),
            Err(Stop::TimedOut(r)) => Outcome::TimedOut(r),
            Err(Stop::RolledBack(r)) => Outcome::RolledBack(r),
        };
        let proven = (outcome == Outcome::Deployed
            && self.judged >= self.config.analysis.proof_windows)
            .then_some(Proof::Analysis {
                windows: self.judged,
            });
        if outcome == Outcome::Deployed && proven.is_none() {
            self.warn(&format!(
                "not known-good yet: {} analysis windows had enough traffic to judge ({} needed); \
                 a bare rollback will not return to it until it has served {:.0} min without a breach",
                self.judged,
                self.config.analysis.proof_windows,
                self.config.analysis.known_good_after_seconds / 60.0
            ));
        }
        self.finish(&outcome, proven.clone());
        self.mark(Action::Deploy, &outcome, versions.1.as_deref())
            .await;
        let mut report = self.report(Some(request.strategy), versions.0, versions.1, outcome);
        report.proven = proven;
        crate::notify::send(
            self.webhook.as_deref(),
            &format!(
                "Deploy to {} of {}: {} after {:.0} s",
                report.environment,
                report.to_version.as_deref().unwrap_or("?"),
                report.outcome.summary(),
                report.seconds
            ),
        )
        .await;
        drop(lock);
        report
    }

    /// Writes the record's last line: outcome, reason, warnings, proof.
    fn finish(&mut self, outcome: &Outcome, proven: Option<Proof>) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        record.finished_at = Some(now());
        record.outcome = Some(outcome.ended());
        record.reason = outcome.reason().map(str::to_owned);
        record.warnings = self.warnings.clone();
        record.phase = Some(Phase::Done);
        record.proven = proven;
        record.traffic_off_after = self.traffic_off_at;
        if let Some(history) = &self.history
            && let Err(e) = history.append(&record)
        {
            self.note(&format!("could not write the history record: {e}"));
        }
        self.record = Some(record);
    }

    /// Tells the platform how the deploy or rollback ended, for the dashboards' deploy markers.
    /// A marker that cannot be recorded is a note, never a change to the outcome.
    async fn mark(&mut self, action: Action, outcome: &Outcome, version: Option<&str>) {
        let Some(ending) = crate::ecs::markers::outcome(action, outcome.ended()) else {
            return;
        };
        let marker = crate::proxy::markers::DeployMarker {
            environment: self.environment.clone(),
            action: match action {
                Action::Deploy => "deploy",
                Action::Rollback => "rollback",
            }
            .into(),
            outcome: ending.into(),
            version: version.unwrap_or("unknown").into(),
            at: now(),
        };
        match self.platform.mark(&marker).await {
            Ok(()) => self.note(&format!(
                "deploy marker recorded: {ending} ({})",
                marker.version
            )),
            Err(e) => self.note(&format!("deploy marker not recorded: {e}")),
        }
    }

    fn report(
        &self,
        strategy: Option<Strategy>,
        from: Option<String>,
        to: Option<String>,
        outcome: Outcome,
    ) -> Report {
        Report {
            environment: self.environment.clone(),
            action: if strategy.is_some() {
                Action::Deploy
            } else {
                Action::Rollback
            },
            strategy,
            from_version: from,
            to_version: to,
            outcome,
            seconds: self.elapsed(),
            traffic_on_at: self.traffic_on_at,
            traffic_off_at: self.traffic_off_at,
            proven: None,
            warnings: self.warnings.clone(),
            steps: self.steps.clone(),
        }
    }

    async fn run_deploy(
        &mut self,
        request: &DeployRequest,
        versions: &mut (Option<String>, Option<String>),
    ) -> Result<(), Stop> {
        // Known before anything can fail, so even a failed pre-check names what is live.
        if let Ok(fleet) = self.platform.fleet().await {
            versions.0 = fleet.live_version().map(str::to_owned);
        }
        self.begin_step("pre-deploy checks");
        self.pre_checks(request.run_checks).await?;
        self.end_step(
            "pre-deploy checks",
            if request.run_checks {
                "passed"
            } else {
                "passed (test and scan commands skipped)"
            },
        );

        self.begin_step("release");
        let version = self.release_version(&request.release).await?;
        let stored = release_path(&self.state_dir, &version);
        store_release(&request.release, &stored).map_err(Stop::Failed)?;
        let fleet = self.platform.fleet().await?;
        let live = fleet.live_version().map(str::to_owned);
        *versions = (live.clone(), None);
        if live.as_deref() == Some(version.as_str()) {
            *versions = (live.clone(), Some(version.clone()));
            return Err(Stop::Unchanged(format!(
                "{version} is already live: nothing to deploy"
            )));
        }
        *versions = (live.clone(), Some(version.clone()));
        if let Some(live) = &live {
            self.prove_by_service(live, &fleet).await;
        }
        let record = Record {
            strategy: Some(request.strategy),
            from_version: live.clone(),
            ..Record::new(&self.environment, Action::Deploy, &version)
        };
        self.record = Some(record);
        self.enter(Phase::Migrating);
        self.end_step(
            "release",
            format!("{} → {version}", live.as_deref().unwrap_or("nothing")),
        );

        self.begin_step("migrations");
        let detail = self.migrate(&stored, &fleet, live.as_deref()).await?;
        self.end_step("migrations", detail);

        let deploy = strategy::Deploy {
            new_version: version,
            new_release: stored,
            old_version: live.clone(),
            old_release: live.as_deref().map(|v| release_path(&self.state_dir, v)),
            old_ids: live
                .as_deref()
                .map(|v| fleet.of_version(v).map(|i| i.id.clone()).collect())
                .unwrap_or_default(),
        };
        self.enter(Phase::Starting);
        match request.strategy {
            Strategy::Rolling => self.rolling(&deploy).await,
            Strategy::BlueGreen => self.blue_green(&deploy).await,
            Strategy::Canary => self.canary(&deploy).await,
        }
    }

    /// A live release that was never proven by analysis becomes known-good once it has served
    /// `known_good_after_seconds` since its deploy and its latest window shows no breach.
    async fn prove_by_service(&mut self, live: &str, fleet: &Fleet) {
        let Some(history) = &self.history else { return };
        let Ok(Some(mut record)) = history.deploy_of(live) else {
            return;
        };
        let served = now() - record.finished_at.unwrap_or(now());
        if record.proven.is_some() || served < self.config.analysis.known_good_after_seconds {
            return;
        }
        let settings = &self.config.analysis;
        let Ok(window) = self.platform.window(live, settings.window_seconds).await else {
            return;
        };
        if let analysis::Verdict::Breach(why) =
            analysis::judge(settings, fleet, live, &window, None)
        {
            self.note(&format!("{live} is not known-good: {why}"));
            return;
        }
        record.proven = Some(Proof::Served { seconds: served });
        match history.append(&record) {
            Ok(()) => self.note(&format!(
                "{live} is now known-good: served {:.0} min without a breach",
                served / 60.0
            )),
            Err(e) => self.note(&format!("could not record {live} as known-good: {e}")),
        }
    }

    async fn pre_checks(&mut self, run_checks: bool) -> Result<(), Stop> {
        repository_checks(self.config, &self.environment).map_err(Stop::Failed)?;
        self.platform.check().await?;
        if run_checks {
            configured_checks(self.config, |line| self.note(line))
                .await
                .map_err(Stop::Failed)?;
        }
        Ok(())
    }

    async fn release_version(&self, release: &Path) -> Result<String, Stop> {
        let output = tokio::process::Command::new(release)
            .args(["version", "--json"])
            .env_clear()
            .envs(&self.release_env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .await
            .map_err(|e| Stop::Failed(format!("running {} version: {e}", release.display())))?;
        if !output.status.success() {
            return Err(Stop::Failed(format!(
                "{} version failed: {}",
                release.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            Stop::Failed(format!(
                "{} version --json printed no JSON: {e}",
                release.display()
            ))
        })?;
        let version = v["version"].as_str().unwrap_or_default();
        let commit = v["commit"].as_str().unwrap_or("unknown");
        if version.is_empty() {
            return Err(Stop::Failed("the release reported no version".into()));
        }
        // Streamed, off the runtime: a release binary is tens of megabytes (hundreds in a debug
        // build) and the deploy's own timers and probes share this runtime.
        let path = release.to_owned();
        let digest =
            tokio::task::spawn_blocking(move || crate::backup::archive::sha256_file(&path))
                .await
                .map_err(|e| Stop::Failed(format!("hashing the release: {e}")))?
                .map_err(|e| Stop::Failed(format!("reading {}: {e}", release.display())))?;
        Ok(format!("{version}-{commit}-{}", &digest[..8]))
    }

    /// Applies the new release's migrations, then insists the running release is still ready:
    /// the expand/contract gate, before any traffic moves.
    async fn migrate(
        &mut self,
        release: &Path,
        fleet: &Fleet,
        live: Option<&str>,
    ) -> Result<String, Stop> {
        let output = tokio::process::Command::new(release)
            .arg("migrate")
            .env_clear()
            .envs(&self.release_env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .await
            .map_err(|e| Stop::Failed(format!("running migrate: {e}")))?;
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() {
            return Err(Stop::Failed(format!(
                "migrations failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        if let Some(live) = live {
            for instance in fleet.of_version(live).filter(|i| i.is_ready()) {
                let status = self
                    .platform
                    .probe(&instance.id, &self.config.health_path)
                    .await?;
                if status != 200 {
                    return Err(Stop::Failed(format!(
                        "after migrating, the running release {live} is no longer ready on {} ({status}): the migration is not backward compatible ({said})",
                        instance.id
                    )));
                }
            }
        }
        Ok(said)
    }

    /// After a crash mid-deploy: one version gets all traffic, everything else stops.
    async fn reconcile(&mut self, history: &History) -> Result<(), String> {
        let records = history.records().map_err(|e| e.to_string())?;
        let Some(mut unfinished) = records.into_iter().rev().find(|r| r.outcome.is_none()) else {
            return Ok(());
        };
        self.begin_step("reconcile");
        let fleet = self.platform.fleet().await.map_err(|e| e.to_string())?;
        let ready = |v: &str| fleet.of_version(v).filter(|i| i.is_ready()).count();
        let target = unfinished
            .from_version
            .clone()
            .filter(|v| ready(v) > 0)
            .or_else(|| {
                let mut versions: Vec<&str> =
                    fleet.instances.iter().map(|i| i.version.as_str()).collect();
                versions.sort_unstable();
                versions.dedup();
                versions
                    .into_iter()
                    .max_by_key(|v| ready(v))
                    .filter(|v| ready(v) > 0)
                    .map(str::to_owned)
            });
        let detail = match &target {
            Some(version) => {
                let (ready, leaving) = fleet.split(version);
                let release = release_path(&self.state_dir, version);
                self.restore(version, &release, ready, &leaving, false)
                    .await?;
                // That moment belongs to the interrupted deploy, not to the one starting now.
                self.traffic_off_at = None;
                format!(
                    "deploy {} of {} was interrupted; all traffic now goes to {version}",
                    unfinished.id, unfinished.to_version
                )
            }
            None => format!(
                "deploy {} was interrupted and no instance is ready",
                unfinished.id
            ),
        };
        unfinished.finished_at = Some(now());
        unfinished.outcome = Some(Ended::Failed);
        unfinished.phase = Some(Phase::Done);
        unfinished.reason = Some(format!(
            "interrupted: marketctl stopped mid-deploy; {detail}"
        ));
        history.append(&unfinished).map_err(|e| e.to_string())?;
        self.end_step("reconcile", detail);
        Ok(())
    }
}

/// The checks every platform runs before anything changes: required variables, the branch and
/// a clean working tree.
pub(crate) fn repository_checks(config: &DeployConfig, environment: &str) -> Result<(), String> {
    let missing: Vec<&String> = config
        .required_variables
        .iter()
        .filter(|v| std::env::var(v).map(|x| x.is_empty()).unwrap_or(true))
        .collect();
    if !missing.is_empty() {
        return Err(format!("required variables not set: {missing:?}"));
    }
    if let Some(branch) = &config.git.branch {
        let current = git(&["rev-parse", "--abbrev-ref", "HEAD"])?;
        if &current != branch {
            return Err(format!(
                "deploys to {environment} come from {branch}, not {current}"
            ));
        }
    }
    if config.git.require_clean {
        let status = git(&["status", "--porcelain"])?;
        if !status.is_empty() {
            return Err("the git working tree has uncommitted changes".into());
        }
    }
    Ok(())
}

/// The configured test and scan commands (skipped with RUN_CHECKS=false).
pub(crate) async fn configured_checks(
    config: &DeployConfig,
    note: impl Fn(&str),
) -> Result<(), String> {
    for command in &config.checks.commands {
        note(&format!("running: {command}"));
        let status = tokio::process::Command::new("sh")
            .args(["-c", command])
            .status()
            .await
            .map_err(|e| format!("{command}: {e}"))?;
        if !status.success() {
            return Err(format!("check failed: {command} ({status})"));
        }
    }
    Ok(())
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("git {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn store_release(from: &Path, to: &Path) -> Result<(), String> {
    if to.exists() {
        return Ok(());
    }
    let dir = to.parent().ok_or("release path has no parent")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // Copy then rename, so a crash never leaves a half-written release that looks complete.
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial).map_err(|e| format!("storing the release: {e}"))?;
    std::fs::rename(&partial, to).map_err(|e| format!("storing the release: {e}"))?;
    Ok(())
}
