//! marketctl on AWS ECS: ECS's own deployment strategies (rolling, blue/green, canary) driven
//! with the engine's checks, migration gate, analysis rules, outcomes, history and lock.
//!
//! ECS moves the tasks and the listener weights; marketctl decides. It pauses the deployment
//! with lifecycle hooks, smoke-tests the new release through the test listener before
//! production traffic moves, judges it at each pause and through the bake with the same
//! `engine::analysis` rules as the single-host platform (on the load balancer's metrics), and
//! answers with `ContinueServiceDeployment(CONTINUE|ROLLBACK)` or
//! `StopServiceDeployment(ROLLBACK)`. Where ECS rolls back by itself (circuit breaker, alarms)
//! it reports ECS's own status and reason.

pub mod aws;
mod deploy;
pub mod markers;
pub mod metrics;
mod service;
mod status;
pub mod store;

use crate::config::{DeployConfig, EcsSettings};
use crate::engine::{Outcome, Report, Step};
use crate::state::{Action, Phase, Record, Strategy};
use std::time::Instant;

pub use deploy::EcsRequest;

/// One ECS environment: its settings, the AWS clients and the shared state.
pub struct Ecs<'a> {
    pub config: &'a DeployConfig,
    pub settings: &'a EcsSettings,
    pub aws: aws::Aws,
    pub state: store::SharedState,
    pub environment: String,
    /// Progress lines on stderr.
    pub verbose: bool,
    webhook: Option<String>,
    started: Instant,
    step_started: Instant,
    steps: Vec<Step>,
    warnings: Vec<String>,
    record: Option<Record>,
    /// Analysis windows the new release passed with enough requests to judge.
    judged: u32,
}

impl<'a> Ecs<'a> {
    pub async fn connect(
        config: &'a DeployConfig,
        environment: &str,
        verbose: bool,
    ) -> Result<Self, String> {
        let settings = config
            .ecs
            .as_ref()
            .ok_or_else(|| format!("{environment}.toml has no [ecs] section"))?;
        let aws = aws::Aws::connect(&settings.region).await;
        let state = store::SharedState::open(settings, environment, aws.endpoint.as_deref())?;
        Ok(Self {
            config,
            settings,
            aws,
            state,
            environment: environment.to_owned(),
            verbose,
            webhook: crate::notify::webhook_url(config.notify.webhook.as_deref()),
            started: Instant::now(),
            step_started: Instant::now(),
            steps: Vec::new(),
            warnings: Vec::new(),
            record: None,
            judged: 0,
        })
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn begin_step(&mut self, name: &str) {
        self.step_started = Instant::now();
        if self.verbose {
            eprintln!("[{:>6.1}s] {name} …", self.elapsed());
        }
    }

    fn end_step(&mut self, name: &str, detail: impl Into<String>) {
        let detail = detail.into();
        let seconds = self.step_started.elapsed().as_secs_f64();
        if self.verbose {
            eprintln!(
                "[{:>6.1}s] {name}: {detail} ({seconds:.1}s)",
                self.elapsed()
            );
        }
        self.steps.push(Step {
            name: name.to_owned(),
            seconds,
            at: self.elapsed(),
            detail,
        });
    }

    fn note(&self, line: &str) {
        if self.verbose {
            eprintln!("[{:>6.1}s]   {line}", self.elapsed());
        }
    }

    fn warn(&mut self, line: &str) {
        self.note(&format!("warning: {line}"));
        self.warnings.push(line.to_owned());
    }

    /// Writes the record as it stands; a failed write is a warning, never the deploy's end.
    async fn save(&mut self) {
        let Some(record) = self.record.clone() else {
            return;
        };
        if let Err(e) = self.state.append(&record).await {
            self.warn(&format!("could not record the deploy's progress: {e}"));
        }
    }

    async fn enter(&mut self, phase: Phase) {
        if let Some(r) = self.record.as_mut() {
            r.phase = Some(phase);
        }
        self.save().await;
    }

    async fn finish(&mut self, outcome: &Outcome, proven: Option<crate::state::Proof>) {
        if let Some(r) = self.record.as_mut() {
            r.finished_at = Some(crate::state::now());
            r.outcome = Some(outcome.ended());
            r.reason = outcome.reason().map(str::to_owned);
            r.warnings = self.warnings.clone();
            r.phase = Some(Phase::Done);
            r.proven = proven;
        }
        self.save().await;
        let action = self.record.as_ref().map_or(Action::Deploy, |r| r.action);
        if let Some(ending) = markers::outcome(action, outcome.ended()) {
            match markers::put(&self.aws.cloudwatch, &self.environment, ending).await {
                Ok(()) => self.note(&format!("deploy marker recorded: {ending}")),
                Err(e) => self.warn(&e),
            }
        }
        let text = format!(
            "{} to {}: {}",
            match self.record.as_ref().map(|r| r.action) {
                Some(Action::Rollback) => "Rollback",
                _ => "Deploy",
            },
            self.environment,
            outcome.summary()
        );
        crate::notify::send(self.webhook.as_deref(), &text).await;
    }

    fn report(
        &self,
        action: Action,
        strategy: Option<Strategy>,
        from: Option<String>,
        to: Option<String>,
        outcome: Outcome,
    ) -> Report {
        Report {
            environment: self.environment.clone(),
            action,
            strategy,
            from_version: from,
            to_version: to,
            outcome,
            seconds: self.elapsed(),
            traffic_on_at: None,
            traffic_off_at: None,
            proven: self.record.as_ref().and_then(|r| r.proven.clone()),
            warnings: self.warnings.clone(),
            steps: self.steps.clone(),
        }
    }
}
