//! A deploy, a rollback and a reconcile on ECS: the steps, the deployment configuration per
//! strategy, and the watch that answers ECS's pauses with smoke tests and analysis.

use super::Ecs;
use super::aws::explain;
use super::metrics::{CloudWatch, Metrics};
use super::service::ServiceView;
use crate::engine::Outcome;
use crate::engine::analysis::{Breaches, Verdict, judge};
use crate::platform::{Fleet, Instance, Status, Window};
use crate::state::{Action, Phase, Proof, Record, Strategy};
use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentLifecycleHook, DeploymentLifecycleHookAction, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, ServiceDeployment,
    ServiceDeploymentStatus, StopServiceDeploymentStopType,
};
use std::time::{Duration, Instant};

/// What an ECS deploy needs.
pub struct EcsRequest {
    pub strategy: Strategy,
    /// An ECR image by tag or digest.
    pub image: String,
    pub run_checks: bool,
    /// Print the steps and API changes; change nothing.
    pub plan: bool,
    /// Deploy even when the image is already live: a new task definition revision, so every
    /// task restarts and re-reads its secrets (a database cut-over).
    pub restart: bool,
}

/// Why a step stopped the deploy; the variant decides the outcome.
enum Stop {
    Failed(String),
    Unchanged(String),
}

/// Minutes for ECS, from the seconds in the environment file (ECS counts whole minutes).
fn minutes(seconds: f64) -> i32 {
    (seconds / 60.0).ceil().max(0.0) as i32
}

impl Ecs<'_> {
    /// The deployment configuration for a strategy: ECS's circuit breaker and the rollback
    /// alarms always; pauses for marketctl after the test and production traffic shifts.
    pub fn deployment_configuration(&self, strategy: Strategy) -> DeploymentConfiguration {
        let s = self.settings;
        let alarms = DeploymentAlarms::builder()
            .set_alarm_names(Some(s.alarms.clone()))
            .enable(!s.alarms.is_empty())
            .rollback(true)
            .build()
            .ok();
        let breaker = DeploymentCircuitBreaker::builder()
            .enable(true)
            .rollback(true)
            .build();
        let pause = DeploymentLifecycleHook::builder()
            .target_type(DeploymentLifecycleHookTargetType::Pause)
            .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
            .lifecycle_stages(DeploymentLifecycleHookStage::PostProductionTrafficShift)
            .timeout_configuration(
                DeploymentLifecycleHookTimeoutConfiguration::builder()
                    .timeout_in_minutes(s.hook_timeout_minutes as i32)
                    .action(DeploymentLifecycleHookAction::Rollback)
                    .build(),
            )
            .build();
        let base = DeploymentConfiguration::builder()
            .deployment_circuit_breaker(breaker)
            .set_alarms(alarms)
            .maximum_percent(200)
            .minimum_healthy_percent(100);
        let bake = minutes(self.config.strategy.bake_seconds);
        match strategy {
            Strategy::Rolling => base.strategy(DeploymentStrategy::Rolling).build(),
            Strategy::BlueGreen => base
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(bake)
                .lifecycle_hooks(pause)
                .build(),
            Strategy::Canary => base
                .strategy(DeploymentStrategy::Canary)
                .bake_time_in_minutes(bake)
                .canary_configuration(
                    CanaryConfiguration::builder()
                        .canary_percent(s.canary_percent)
                        .canary_bake_time_in_minutes(
                            minutes(self.config.strategy.canary_step_seconds).max(1),
                        )
                        .build(),
                )
                .lifecycle_hooks(pause)
                .build(),
        }
    }

    /// Runs a whole deploy (or prints its plan); never panics, never leaves the lock held.
    pub async fn deploy(mut self, request: EcsRequest) -> crate::engine::Report {
        self.started = Instant::now();
        let strategy = Some(request.strategy);
        self.begin_step("checks");
        let checked = match self.checks(&request).await {
            Ok(c) => c,
            Err(reason) => {
                return self.report(
                    Action::Deploy,
                    strategy,
                    None,
                    None,
                    Outcome::Failed(reason),
                );
            }
        };
        let Checked {
            view,
            current,
            image,
            from,
        } = checked;
        let to = image.version();
        if request.plan {
            self.print_plan(request.strategy, &current, &image);
            return self.report(
                Action::Deploy,
                strategy,
                Some(from),
                Some(to),
                Outcome::Unchanged("plan only: nothing was changed".into()),
            );
        }
        let mut record = Record::new(&self.environment, Action::Deploy, &to);
        record.strategy = strategy;
        record.from_version = Some(from.clone());
        record.previous_artifact = Some(view.task_definition.clone());
        let lock = match self.state.lock(&record.id).await {
            Ok((lock, replaced)) => {
                if let Some(lost) = replaced {
                    self.note(&format!(
                        "took over the lock of a lost deploy: {}",
                        lost.describe()
                    ));
                }
                lock
            }
            Err(e) => {
                return self.report(
                    Action::Deploy,
                    strategy,
                    Some(from),
                    Some(to),
                    Outcome::Failed(e),
                );
            }
        };
        let outcome = self.deploy_locked(&request, record, &image).await;
        lock.release().await;
        self.report(Action::Deploy, strategy, Some(from), Some(to), outcome)
    }

    /// The deploy once the lock is held; the caller releases it whatever happens here.
    async fn deploy_locked(
        &mut self,
        request: &EcsRequest,
        record: Record,
        image: &super::service::Image,
    ) -> Outcome {
        if let Err(e) = self.reconcile().await {
            return Outcome::Failed(format!("reconciling an interrupted deploy: {e}"));
        }
        // Re-read after reconciling: a rollback it made may have changed what is live.
        let view = match self.service().await {
            Ok(view) => view,
            Err(e) => return Outcome::Failed(e),
        };
        let current = match self.task_definition(&view.task_definition).await {
            Ok(td) => td,
            Err(e) => return Outcome::Failed(e),
        };
        let started = format!(
            "Deploy to {} started ({}, {})",
            self.environment,
            request.strategy.as_str(),
            image.tag.as_deref().unwrap_or(&record.to_version)
        );
        self.record = Some(record);
        self.enter(Phase::Checks).await;
        crate::notify::send(self.webhook.as_deref(), &started).await;
        let outcome = match self.run(request, &view, &current, image).await {
            Ok(outcome) => outcome,
            Err(Stop::Failed(reason)) => Outcome::Failed(reason),
            Err(Stop::Unchanged(reason)) => Outcome::Unchanged(reason),
        };
        let proven = (outcome == Outcome::Deployed
            && self.judged >= self.config.analysis.proof_windows)
            .then_some(Proof::Analysis {
                windows: self.judged,
            });
        self.finish(&outcome, proven).await;
        outcome
    }

    async fn checks(&mut self, request: &EcsRequest) -> Result<Checked, String> {
        crate::engine::repository_checks(self.config, &self.environment)?;
        let who = self.identity().await?;
        self.note(&format!("credentials: {who}"));
        let view = self.service().await?;
        if request.strategy != Strategy::Rolling
            && (view.idle_target_group.is_none() || view.production_rule.is_none())
        {
            return Err(format!(
                "{} needs the service's alternate target group and listener rules \
                 (loadBalancers[].advancedConfiguration, set by the Terraform ecs module); \
                 service {} has none",
                request.strategy.as_str(),
                self.settings.service
            ));
        }
        let image = self.resolve_image(&request.image).await?;
        let current = self.task_definition(&view.task_definition).await?;
        let secrets = self.check_secrets(&current).await?;
        let from = self
            .image_of(&current)
            .and_then(|i| super::service::parse_image(&i).ok())
            .map(|(repo, name, tag, digest)| match digest {
                Some(d) => format!("{name}@{d}"),
                None => format!(
                    "{}:{}",
                    repo.rsplit('/').next().unwrap_or(&name),
                    tag.unwrap_or_default()
                ),
            })
            .unwrap_or_else(|| view.task_definition.clone());
        if request.run_checks && !request.plan {
            crate::engine::configured_checks(self.config, |line| self.note(line)).await?;
        }
        self.end_step(
            "checks",
            format!(
                "{who}; service {} ({} of {} running) on {}; image {} exists; {secrets} secrets exist",
                self.settings.service,
                view.running,
                view.desired,
                view.live_target_group.rsplit(':').next().unwrap_or_default(),
                image.version()
            ),
        );
        Ok(Checked {
            view,
            current,
            image,
            from,
        })
    }

    fn print_plan(
        &self,
        strategy: Strategy,
        current: &aws_sdk_ecs::types::TaskDefinition,
        image: &super::service::Image,
    ) {
        let s = self.settings;
        let config = self.deployment_configuration(strategy);
        let pauses = if strategy == Strategy::Rolling {
            "none (rolling): marketctl analyses the production target group until ECS reports SUCCESSFUL".to_owned()
        } else {
            format!(
                "POST_TEST_TRAFFIC_SHIFT → smoke tests GET {} via {}; POST_PRODUCTION_TRAFFIC_SHIFT → analysis; each answered with ContinueServiceDeployment(CONTINUE|ROLLBACK), ECS rolls back by itself after {} min without an answer",
                self.config.smoke.paths.join(", "),
                s.test_url,
                s.hook_timeout_minutes
            )
        };
        println!(
            "plan: deploy {} to {} ({}); nothing will be changed by this command\n\
             1. checks (read-only): STS GetCallerIdentity, ECS DescribeServices, ELBv2 DescribeRules/DescribeTargetGroups, ECR DescribeImages, Secrets Manager DescribeSecret\n\
             2. ECS RegisterTaskDefinition family {}: container {} image {} → {}\n\
             3. ECS RunTask of the new revision with command {:?}, exit code read; then the live target group must still be healthy\n\
             4. ECS UpdateService {}: taskDefinition → the new revision, deploymentConfiguration = {:?}\n\
             5. watch DescribeServiceDeployments every {} s; pauses: {}\n\
             6. analysis on CloudWatch (AWS/ApplicationELB per target group): 5xx > {:.0}%, p95 > {} s, unhealthy targets, at least {} requests per {} s window, {} breaches in a row; ECS alarms: {}\n\
             7. time-out after {:.0} s: StopServiceDeployment(ROLLBACK)\n\
             history and lock: s3://{}/{}{}/",
            image.version(),
            self.environment,
            strategy.as_str(),
            current.family().unwrap_or("?"),
            s.container,
            self.image_of(current).unwrap_or_default(),
            image.pinned(),
            s.migrate_command,
            s.service,
            config,
            s.poll_seconds,
            pauses,
            self.config.analysis.max_error_rate * 100.0,
            self.config.analysis.max_p95_seconds,
            self.config.analysis.min_requests,
            self.config.analysis.window_seconds,
            self.config.analysis.consecutive_breaches,
            if s.alarms.is_empty() {
                "none".to_owned()
            } else {
                s.alarms.join(", ")
            },
            s.deploy_timeout_seconds,
            s.state_bucket,
            s.state_prefix,
            self.environment,
        );
    }

    async fn run(
        &mut self,
        request: &EcsRequest,
        view: &ServiceView,
        current: &aws_sdk_ecs::types::TaskDefinition,
        image: &super::service::Image,
    ) -> Result<Outcome, Stop> {
        if !request.restart && self.image_of(current).as_deref() == Some(image.pinned().as_str()) {
            return Err(Stop::Unchanged(format!(
                "{} is already live (task definition {})",
                image.version(),
                view.task_definition
            )));
        }
        self.begin_step("task definition");
        let revision = self.register(current, image).await.map_err(Stop::Failed)?;
        if let Some(r) = self.record.as_mut() {
            r.artifact = Some(revision.clone());
        }
        self.end_step(
            "task definition",
            format!("{revision} (previous {})", view.task_definition),
        );
        self.enter(Phase::Migrating).await;
        self.begin_step("migrate");
        let td = self
            .task_definition(&revision)
            .await
            .map_err(Stop::Failed)?;
        let timeout = Duration::from_secs_f64(self.settings.deploy_timeout_seconds.min(1800.0));
        let log = self
            .migrate(view, &td, &revision, timeout)
            .await
            .map_err(Stop::Failed)?;
        // The expand/contract gate: the running release must still work on the new schema.
        let live = self
            .target_health(&view.live_target_group)
            .await
            .map_err(Stop::Failed)?;
        if live.total > 0 && live.healthy == 0 {
            return Err(Stop::Failed(format!(
                "after the migration the running release is not ready ({} of {} targets healthy{}); \
                 the migration must stay compatible with it (expand/contract). Nothing was deployed.",
                live.healthy,
                live.total,
                live.reason.map(|r| format!(": {r}")).unwrap_or_default()
            )));
        }
        self.end_step(
            "migrate",
            format!(
                "exit 0 ({log}); the running release is ready ({} of {} healthy)",
                live.healthy, live.total
            ),
        );
        self.begin_step("update service");
        let deployment = self
            .start_deployment(&revision, request.strategy)
            .await
            .map_err(Stop::Failed)?;
        if let Some(r) = self.record.as_mut() {
            r.platform_deployment = Some(deployment.clone());
        }
        self.end_step("update service", format!("service deployment {deployment}"));
        self.enter(Phase::Ecs {
            stage: "PENDING".into(),
        })
        .await;
        let new_group = match request.strategy {
            Strategy::Rolling => view.live_target_group.clone(),
            _ => view
                .idle_target_group
                .clone()
                .unwrap_or_else(|| view.live_target_group.clone()),
        };
        let outcome = self
            .watch(&deployment, request.strategy, view, &new_group)
            .await;
        if outcome == Outcome::Deployed {
            self.smoke_public().await;
        }
        Ok(outcome)
    }

    /// Points the service at `revision` with `strategy`'s deployment configuration; returns
    /// the service deployment ECS started for it.
    async fn start_deployment(&self, revision: &str, strategy: Strategy) -> Result<String, String> {
        let since = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        self.aws
            .ecs
            .update_service()
            .cluster(&self.settings.cluster)
            .service(&self.settings.service)
            .task_definition(revision)
            .deployment_configuration(self.deployment_configuration(strategy))
            .send()
            .await
            .map_err(|e| explain("UpdateService", e))?;
        self.find_deployment(since).await
    }

    /// The service deployment UpdateService started: the newest one created since.
    async fn find_deployment(&self, since: aws_smithy_types::DateTime) -> Result<String, String> {
        for _ in 0..30 {
            let out = self
                .aws
                .ecs
                .list_service_deployments()
                .cluster(&self.settings.cluster)
                .service(&self.settings.service)
                .send()
                .await
                .map_err(|e| explain("ListServiceDeployments", e))?;
            let newest = out
                .service_deployments()
                .iter()
                .filter(|d| d.created_at().is_none_or(|c| c.secs() >= since.secs() - 1))
                .max_by_key(|d| d.created_at().map(|c| c.as_nanos()).unwrap_or_default());
            if let Some(arn) = newest.and_then(|d| d.service_deployment_arn()) {
                return Ok(arn.to_owned());
            }
            tokio::time::sleep(self.poll()).await;
        }
        Err("ECS started no service deployment after UpdateService".into())
    }

    async fn describe(&self, arn: &str) -> Result<ServiceDeployment, String> {
        self.aws
            .ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| explain("DescribeServiceDeployments", e))?
            .service_deployments()
            .first()
            .cloned()
            .ok_or_else(|| format!("ECS no longer knows service deployment {arn}"))
    }

    async fn answer(
        &self,
        arn: &str,
        hook: &str,
        action: DeploymentLifecycleHookAction,
    ) -> Result<(), String> {
        self.aws
            .ecs
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook)
            .action(action.clone())
            .send()
            .await
            .map_err(|e| {
                explain(
                    &format!("ContinueServiceDeployment({})", action.as_str()),
                    e,
                )
            })?;
        Ok(())
    }

    async fn stop_with_rollback(&self, arn: &str) -> Result<(), String> {
        self.aws
            .ecs
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .send()
            .await
            .map_err(|e| explain("StopServiceDeployment(ROLLBACK)", e))?;
        Ok(())
    }

    /// Follows the deployment to its end, answering its pauses and watching its traffic.
    async fn watch(
        &mut self,
        arn: &str,
        strategy: Strategy,
        view: &ServiceView,
        new_group: &str,
    ) -> Outcome {
        let deadline =
            Instant::now() + Duration::from_secs_f64(self.settings.deploy_timeout_seconds);
        let analysis = self.config.analysis.clone();
        let mut breaches = Breaches::default();
        let mut next_look = Instant::now();
        let mut last_stage = String::new();
        // Set once marketctl has asked ECS to roll back, with why.
        let mut ours: Option<(String, Instant)> = None;
        let mut answered: Vec<String> = Vec::new();
        let mut failed_reads = 0;
        self.begin_step("deployment");
        loop {
            if Instant::now() > deadline && ours.is_none() {
                let reason = format!(
                    "the deployment did not finish within {:.0} s",
                    self.settings.deploy_timeout_seconds
                );
                self.note(&format!("{reason}: StopServiceDeployment(ROLLBACK)"));
                let requested = self.stop_with_rollback(arn).await;
                let ended = match requested {
                    Ok(()) => self.wait_rollback(arn).await,
                    Err(e) => format!("the rollback request failed: {e}"),
                };
                self.end_step("deployment", format!("timed out; {ended}"));
                return Outcome::TimedOut(format!(
                    "{reason}; marketctl stopped it with a rollback: {ended}"
                ));
            }
            let d = match self.describe(arn).await {
                Ok(d) => {
                    failed_reads = 0;
                    d
                }
                Err(e) => {
                    failed_reads += 1;
                    self.note(&format!("could not read the deployment ({e}); retrying"));
                    if failed_reads > 20 {
                        self.end_step("deployment", "lost track of it");
                        return Outcome::Failed(format!(
                            "lost track of service deployment {arn}: {e}; `marketctl status {}` shows where it is",
                            self.environment
                        ));
                    }
                    tokio::time::sleep(self.poll()).await;
                    continue;
                }
            };
            let status = d
                .status()
                .cloned()
                .unwrap_or(ServiceDeploymentStatus::Pending);
            let stage = d
                .lifecycle_stage()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let label = format!("{} · {stage}", status.as_str());
            if label != last_stage {
                self.note(&format!("ECS: {label}"));
                last_stage = label;
                self.enter(Phase::Ecs {
                    stage: stage.clone(),
                })
                .await;
            }
            let ecs_reason = || ecs_reason(&d);
            match status {
                ServiceDeploymentStatus::Successful => {
                    self.end_step("deployment", "ECS: SUCCESSFUL");
                    return Outcome::Deployed;
                }
                ServiceDeploymentStatus::RollbackSuccessful
                | ServiceDeploymentStatus::RollbackFailed => {
                    let rolled = status == ServiceDeploymentStatus::RollbackSuccessful;
                    let ecs = format!("ECS: {} ({})", status.as_str(), ecs_reason());
                    let at = ours
                        .as_ref()
                        .map(|(_, at)| {
                            format!(
                                "; the rollback took {:.1} s from marketctl's request",
                                at.elapsed().as_secs_f64()
                            )
                        })
                        .unwrap_or_default();
                    self.end_step("deployment", format!("{ecs}{at}"));
                    let reason = match &ours {
                        Some((why, _)) => format!("{why}; {ecs}"),
                        None => format!("ECS rolled the deployment back by itself: {ecs}"),
                    };
                    return if rolled {
                        Outcome::RolledBack(reason)
                    } else {
                        Outcome::Failed(format!(
                            "{reason}; the rollback FAILED: check the service now"
                        ))
                    };
                }
                ServiceDeploymentStatus::Stopped => {
                    self.end_step("deployment", format!("ECS: STOPPED ({})", ecs_reason()));
                    return Outcome::Failed(format!(
                        "ECS stopped the deployment: {}",
                        ecs_reason()
                    ));
                }
                ServiceDeploymentStatus::RollbackInProgress
                | ServiceDeploymentStatus::RollbackRequested
                | ServiceDeploymentStatus::StopRequested => {
                    tokio::time::sleep(self.poll()).await;
                    continue;
                }
                _ => {}
            }
            // A pause waiting for marketctl's answer.
            if let Some(hook) = d.lifecycle_hook_details().iter().find(|h| {
                h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction)
                    && h.hook_id()
                        .is_some_and(|id| !answered.iter().any(|a| a == id))
            }) {
                let hook_id = hook.hook_id().unwrap_or_default().to_owned();
                answered.push(hook_id.clone());
                let verdict = if stage == "POST_TEST_TRAFFIC_SHIFT" {
                    self.smoke_test_listener().await
                } else {
                    self.judge_at_pause(view, new_group, strategy, &mut breaches)
                        .await
                };
                let (action, why) = match verdict {
                    Ok(detail) => {
                        self.note(&format!(
                            "{stage}: {detail}; ContinueServiceDeployment(CONTINUE)"
                        ));
                        (DeploymentLifecycleHookAction::Continue, None)
                    }
                    Err(why) => {
                        self.note(&format!(
                            "{stage}: {why}; ContinueServiceDeployment(ROLLBACK)"
                        ));
                        (DeploymentLifecycleHookAction::Rollback, Some(why))
                    }
                };
                if let Err(e) = self.answer(arn, &hook_id, action).await {
                    self.note(&format!("{e}; ECS acts on its time-out instead"));
                }
                if let Some(why) = why {
                    ours = Some((why, Instant::now()));
                }
                continue;
            }
            // Production traffic on the new release outside a pause: the canary's bake, the
            // bake after the shift, a rolling update. A breach stops it with a rollback.
            let exposed = match strategy {
                Strategy::Rolling => stage != "PRE_SCALE_UP",
                _ => matches!(stage.as_str(), "PRODUCTION_TRAFFIC_SHIFT" | "BAKE_TIME"),
            };
            if exposed && ours.is_none() && Instant::now() >= next_look {
                next_look = Instant::now() + analysis.interval();
                match self.look(view, new_group, strategy).await {
                    Ok(verdict) => {
                        if let Verdict::Breach(r) = &verdict {
                            self.note(&format!("breach: {r}"));
                        }
                        if let Some(reason) =
                            breaches.observe(&verdict, analysis.consecutive_breaches)
                        {
                            self.note(&format!(
                                "rollback trigger: {reason}; StopServiceDeployment(ROLLBACK)"
                            ));
                            match self.stop_with_rollback(arn).await {
                                Ok(()) => {
                                    ours = Some((format!("analysis: {reason}"), Instant::now()))
                                }
                                Err(e) => self.note(&format!("{e}; retrying")),
                            }
                        }
                    }
                    Err(e) => self.note(&format!("analysis could not read the metrics: {e}")),
                }
            }
            tokio::time::sleep(self.poll().min(analysis.interval())).await;
        }
    }

    /// Waits for ECS to finish a rollback; says how it ended.
    async fn wait_rollback(&self, arn: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(d) = self.describe(arn).await {
                match d.status() {
                    Some(ServiceDeploymentStatus::RollbackSuccessful) => {
                        return "the rollback succeeded (ECS: ROLLBACK_SUCCESSFUL)".into();
                    }
                    Some(ServiceDeploymentStatus::RollbackFailed) => {
                        return format!(
                            "the rollback FAILED (ECS: ROLLBACK_FAILED, {})",
                            ecs_reason(&d)
                        );
                    }
                    Some(
                        s
                        @ (ServiceDeploymentStatus::Successful | ServiceDeploymentStatus::Stopped),
                    ) => {
                        return format!("ECS ended it as {} instead", s.as_str());
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(self.poll()).await;
        }
        "the rollback had not finished after 600 s: check `marketctl status`".into()
    }

    /// One analysis window of the new release (and the old one as its baseline while both
    /// take traffic).
    async fn look(
        &mut self,
        view: &ServiceView,
        new_group: &str,
        strategy: Strategy,
    ) -> Result<Verdict, String> {
        let a = &self.config.analysis;
        let cw = CloudWatch {
            client: &self.aws.cloudwatch,
        };
        let window = |totals| Window {
            seconds: a.window_seconds,
            totals,
            ..Window::default()
        };
        let new = window(
            cw.window(&view.load_balancer, new_group, a.window_seconds)
                .await?,
        );
        let baseline = if strategy != Strategy::Rolling && new_group != view.live_target_group {
            let old = cw
                .window(
                    &view.load_balancer,
                    &view.live_target_group,
                    a.window_seconds,
                )
                .await?;
            (old.requests > 0).then(|| window(old))
        } else {
            None
        };
        let health = self.target_health(new_group).await?;
        let fleet = Fleet {
            instances: (0..health.total)
                .map(|i| {
                    let sick = i < health.unhealthy;
                    Instance {
                        id: if sick {
                            health
                                .reason
                                .clone()
                                .unwrap_or_else(|| format!("target {i}"))
                        } else {
                            format!("target {i}")
                        },
                        version: "new".into(),
                        status: if sick {
                            Status::Unhealthy
                        } else {
                            Status::Ready
                        },
                        consecutive_failures: if sick { a.health_check_failures } else { 0 },
                        log: None,
                    }
                })
                .collect(),
            routes: Vec::new(),
        };
        let verdict = judge(a, &fleet, "new", &new, baseline.as_ref());
        if matches!(verdict, Verdict::Healthy) {
            self.judged += 1;
        }
        Ok(verdict)
    }

    /// At the pause after production traffic moved: windows until the release passes enough
    /// of them, breaches enough in a row, or the wait for traffic runs out.
    async fn judge_at_pause(
        &mut self,
        view: &ServiceView,
        new_group: &str,
        strategy: Strategy,
        breaches: &mut Breaches,
    ) -> Result<String, String> {
        let a = self.config.analysis.clone();
        let needed = a.proof_windows.max(1);
        let started = Instant::now();
        // Enough windows to pass, plus the wait for traffic; always well inside ECS's own
        // time-out for the pause.
        let patience = Duration::from_secs_f64(
            (a.window_seconds as f64 * f64::from(needed + 1) + a.inconclusive_wait_seconds as f64)
                .min(f64::from(self.settings.hook_timeout_minutes) * 60.0 / 2.0),
        );
        let mut passed = 0;
        let mut last = String::from("no window yet");
        loop {
            let verdict = self.look(view, new_group, strategy).await?;
            match &verdict {
                Verdict::Healthy => passed += 1,
                Verdict::Breach(r) | Verdict::Inconclusive(r) => last = r.clone(),
            }
            if let Some(reason) = breaches.observe(&verdict, a.consecutive_breaches) {
                return Err(format!("analysis: {reason}"));
            }
            if passed >= needed && !breaches.pending() {
                return Ok(format!("analysis passed {passed} windows"));
            }
            if started.elapsed() > patience {
                if passed > 0 && !breaches.pending() {
                    return Ok(format!("analysis passed {passed} windows"));
                }
                return match a.on_inconclusive {
                    crate::config::InconclusivePolicy::Fail => Err(format!(
                        "analysis has no data to judge ({last}); too little traffic is never a pass"
                    )),
                    crate::config::InconclusivePolicy::Proceed => {
                        self.warn(&format!("analysis was inconclusive at the pause ({last}); continued by on_inconclusive = \"proceed\""));
                        Ok("inconclusive, proceeding as configured".into())
                    }
                };
            }
            tokio::time::sleep(a.interval()).await;
        }
    }

    async fn get(&self, base: &str, path: &str) -> Result<u16, String> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        reqwest::Client::new()
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// The smoke paths through the test listener, before any production traffic moves.
    async fn smoke_test_listener(&mut self) -> Result<String, String> {
        let base = self.settings.test_url.clone();
        for path in self.config.smoke.paths.clone() {
            let status = self
                .get(&base, &path)
                .await
                .map_err(|e| format!("smoke test through the test listener failed: {e}"))?;
            if !(200..400).contains(&status) {
                return Err(format!(
                    "smoke test through the test listener failed: GET {path} answered {status}; production traffic never moved"
                ));
            }
        }
        Ok(format!(
            "smoke tests passed through the test listener ({})",
            self.config.smoke.paths.join(", ")
        ))
    }

    /// After success, the smoke paths once through the public entry; a failure is a warning
    /// for people (ECS's bake and marketctl's analysis already judged the release).
    async fn smoke_public(&mut self) {
        let base = self.settings.public_url.clone();
        for path in self.config.smoke.paths.clone() {
            match self.get(&base, &path).await {
                Ok(s) if (200..400).contains(&s) => {}
                Ok(s) => self.warn(&format!(
                    "after the deploy, GET {path} on {base} answered {s}"
                )),
                Err(e) => self.warn(&format!("after the deploy, {e}")),
            }
        }
    }

    /// A deploy that never finished (marketctl stopped mid-deploy): its ECS deployment is
    /// stopped with a rollback if it still runs, and its record gets the ending ECS gave it.
    async fn reconcile(&mut self) -> Result<(), String> {
        let records = self.state.records().await?;
        let Some(mut unfinished) = records.into_iter().rev().find(|r| r.outcome.is_none()) else {
            return Ok(());
        };
        self.begin_step("reconcile");
        let mut detail = "it had not changed the service yet".to_owned();
        let mut ended = crate::state::Ended::Failed;
        if let Some(arn) = unfinished.platform_deployment.clone() {
            let d = self.describe(&arn).await?;
            let status = d.status().cloned();
            match status {
                Some(ServiceDeploymentStatus::Pending | ServiceDeploymentStatus::InProgress) => {
                    self.stop_with_rollback(&arn).await?;
                    detail = format!(
                        "its ECS deployment was still running: stopped with a rollback; {}",
                        self.wait_rollback(&arn).await
                    );
                    ended = crate::state::Ended::RolledBack;
                }
                Some(ServiceDeploymentStatus::Successful) => {
                    detail = "ECS finished its deployment (SUCCESSFUL), unwatched".into();
                    ended = crate::state::Ended::Deployed;
                }
                Some(s) => {
                    if matches!(
                        s,
                        ServiceDeploymentStatus::RollbackSuccessful
                            | ServiceDeploymentStatus::RollbackInProgress
                            | ServiceDeploymentStatus::RollbackRequested
                    ) {
                        ended = crate::state::Ended::RolledBack;
                    }
                    detail = format!(
                        "ECS ended its deployment as {} ({})",
                        s.as_str(),
                        ecs_reason(&d)
                    );
                }
                None => {}
            }
        }
        unfinished.finished_at = Some(crate::state::now());
        unfinished.outcome = Some(ended);
        unfinished.phase = Some(Phase::Done);
        unfinished.reason = Some(format!(
            "interrupted: marketctl stopped mid-deploy; {detail}"
        ));
        self.state.append(&unfinished).await?;
        self.end_step(
            "reconcile",
            format!(
                "deploy {} of {}: {detail}",
                unfinished.id, unfinished.to_version
            ),
        );
        Ok(())
    }

    /// Stops an in-progress deployment with a rollback, or otherwise deploys the last
    /// known-good revision (or `to`) with a rolling update.
    pub async fn rollback(mut self, to: Option<String>) -> crate::engine::Report {
        self.started = Instant::now();
        let fail = |s: &Self, from: Option<String>, e: String| {
            s.report(Action::Rollback, None, from, None, Outcome::Failed(e))
        };
        let mut record = Record::new(&self.environment, Action::Rollback, "?");
        let lock = match self.state.lock(&record.id).await {
            Ok((lock, _)) => lock,
            Err(e) => return fail(&self, None, e),
        };
        let result = self.rollback_locked(&mut record, to).await;
        lock.release().await;
        match result {
            Ok((from, to, outcome)) => {
                self.report(Action::Rollback, None, Some(from), Some(to), outcome)
            }
            Err(e) => fail(&self, None, e),
        }
    }

    async fn rollback_locked(
        &mut self,
        record: &mut Record,
        to: Option<String>,
    ) -> Result<(String, String, Outcome), String> {
        let view = self.service().await?;
        let current = self.task_definition(&view.task_definition).await?;
        let live = self.image_of(&current).unwrap_or_default();
        let from = super::service::parse_image(&live)
            .ok()
            .and_then(|(_, name, _, d)| d.map(|d| format!("{name}@{d}")))
            .unwrap_or(live);
        // A deployment under way: ECS's own rollback is the fastest way back.
        let running = self
            .aws
            .ecs
            .list_service_deployments()
            .cluster(&self.settings.cluster)
            .service(&self.settings.service)
            .status(ServiceDeploymentStatus::InProgress)
            .status(ServiceDeploymentStatus::Pending)
            .send()
            .await
            .map_err(|e| explain("ListServiceDeployments", e))?;
        if let Some(arn) = running
            .service_deployments()
            .first()
            .and_then(|d| d.service_deployment_arn())
        {
            let arn = arn.to_owned();
            // The deploy that started it knows what was live before.
            let before = self
                .state
                .records()
                .await?
                .into_iter()
                .rev()
                .find(|r| r.platform_deployment.as_deref() == Some(arn.as_str()))
                .and_then(|r| r.from_version)
                .unwrap_or_else(|| format!("the release before {arn}"));
            *record = Record::new(&self.environment, Action::Rollback, &before);
            record.from_version = Some(from.clone());
            record.platform_deployment = Some(arn.clone());
            self.record = Some(record.clone());
            self.enter(Phase::RollingBack).await;
            self.begin_step("stop deployment");
            self.stop_with_rollback(&arn).await?;
            let ended = self.wait_rollback(&arn).await;
            self.end_step("stop deployment", format!("{arn}: {ended}"));
            let outcome = if ended.starts_with("the rollback succeeded") {
                Outcome::Deployed
            } else {
                Outcome::Failed(ended)
            };
            self.finish(&outcome, None).await;
            // Then the interrupted deploy's own record, if its marketctl is gone.
            self.reconcile().await?;
            return Ok((from, before, outcome));
        }
        self.reconcile().await?;
        let records = self.state.records().await?;
        let target = match &to {
            Some(want) => records
                .iter()
                .rev()
                .find(|r| r.artifact.is_some() && (r.to_version == *want || r.to_version.ends_with(want.as_str()) || r.artifact.as_deref() == Some(want)))
                .cloned()
                .ok_or_else(|| format!("no deploy of {want} in the history of {}", self.environment))?,
            None => crate::state::last_known_good(&records, Some(&from))
                .cloned()
                .ok_or_else(|| format!("no known-good release other than the live one ({from}) in the history of {}", self.environment))?,
        };
        let revision = target
            .artifact
            .clone()
            .ok_or("that deploy recorded no task definition")?;
        *record = Record::new(&self.environment, Action::Rollback, &target.to_version);
        record.from_version = Some(from.clone());
        record.artifact = Some(revision.clone());
        record.previous_artifact = Some(view.task_definition.clone());
        self.record = Some(record.clone());
        self.enter(Phase::RollingBack).await;
        self.begin_step("update service");
        let arn = self.start_deployment(&revision, Strategy::Rolling).await?;
        if let Some(r) = self.record.as_mut() {
            r.platform_deployment = Some(arn.clone());
        }
        self.end_step(
            "update service",
            format!("{revision}: service deployment {arn}"),
        );
        let outcome = self
            .watch(
                &arn,
                Strategy::Rolling,
                &view,
                &view.live_target_group.clone(),
            )
            .await;
        self.finish(&outcome, None).await;
        Ok((from, target.to_version, outcome))
    }
}

/// ECS's own words for how a deployment ended, as it gave them: the rollback's reason and the
/// status reason, both when they differ.
fn ecs_reason(d: &ServiceDeployment) -> String {
    match (d.rollback().and_then(|r| r.reason()), d.status_reason()) {
        (Some(rollback), Some(status)) if rollback != status => {
            format!("rollback.reason: {rollback}; statusReason: {status}")
        }
        (Some(reason), _) | (None, Some(reason)) => reason.to_owned(),
        (None, None) => "no reason given".to_owned(),
    }
}

struct Checked {
    view: ServiceView,
    current: aws_sdk_ecs::types::TaskDefinition,
    image: super::service::Image,
    from: String,
}
