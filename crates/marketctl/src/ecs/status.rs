//! `marketctl status ENV` on ECS: the service, its recent deployments with their stages, the
//! images they run, task counts, target health and the deploy lock.

use super::Ecs;
use super::aws::explain;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct EcsStatus {
    pub service: String,
    pub task_definition: String,
    pub image: Option<String>,
    pub running: i32,
    pub desired: i32,
    pub live_target_group: String,
    pub targets: Vec<GroupHealth>,
    pub deployments: Vec<DeploymentRow>,
    pub lock: Option<super::store::LockBody>,
}

#[derive(Debug, Serialize)]
pub struct GroupHealth {
    pub target_group: String,
    pub live: bool,
    pub healthy: u32,
    pub unhealthy: u32,
    pub total: u32,
}

#[derive(Debug, Serialize)]
pub struct DeploymentRow {
    pub arn: String,
    pub status: String,
    pub stage: Option<String>,
    pub reason: Option<String>,
    pub started: Option<String>,
    pub target_revision: Option<String>,
    /// The image it deploys, by digest, from the deploy that started it (marketctl's history).
    pub image: Option<String>,
    pub running: Option<i32>,
    pub requested: Option<i32>,
}

fn short(arn: &str) -> &str {
    arn.rsplit([':', '/']).next().unwrap_or(arn)
}

impl EcsStatus {
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} of {} tasks running, task definition {}",
            self.service,
            self.running,
            self.desired,
            self.task_definition.rsplit('/').next().unwrap_or_default()
        );
        if let Some(image) = &self.image {
            let _ = writeln!(out, "  image {image}");
        }
        if let Some(lock) = &self.lock {
            let _ = writeln!(out, "  deploy in progress: {}", lock.describe());
        }
        for g in &self.targets {
            let _ = writeln!(
                out,
                "  target group {:<40} {:<8} {} healthy, {} unhealthy of {}",
                g.target_group
                    .split(":targetgroup/")
                    .nth(1)
                    .unwrap_or(&g.target_group),
                if g.live { "live" } else { "idle" },
                g.healthy,
                g.unhealthy,
                g.total
            );
        }
        for d in &self.deployments {
            let _ = writeln!(
                out,
                "  deployment {} {:<20} {:<30} {} started {} tasks {}/{}{}",
                short(&d.arn),
                d.status,
                d.stage.as_deref().unwrap_or("-"),
                d.image.as_deref().unwrap_or("(not deployed by marketctl)"),
                d.started.as_deref().unwrap_or("?"),
                d.running
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "?".into()),
                d.requested
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "?".into()),
                d.reason
                    .as_deref()
                    .map(|r| format!("\n      {r}"))
                    .unwrap_or_default()
            );
        }
        out
    }
}

impl Ecs<'_> {
    pub async fn status(&self) -> Result<EcsStatus, String> {
        let view = self.service().await?;
        let td = self.task_definition(&view.task_definition).await?;
        let mut targets = Vec::new();
        for (group, live) in std::iter::once((view.live_target_group.clone(), true))
            .chain(view.idle_target_group.clone().map(|g| (g, false)))
        {
            let h = self.target_health(&group).await?;
            targets.push(GroupHealth {
                target_group: group,
                live,
                healthy: h.healthy,
                unhealthy: h.unhealthy,
                total: h.total,
            });
        }
        let listed = self
            .aws
            .ecs
            .list_service_deployments()
            .cluster(&self.settings.cluster)
            .service(&self.settings.service)
            .max_results(5)
            .send()
            .await
            .map_err(|e| explain("ListServiceDeployments", e))?;
        let arns: Vec<String> = listed
            .service_deployments()
            .iter()
            .filter_map(|d| d.service_deployment_arn().map(str::to_owned))
            .collect();
        let mut deployments = Vec::new();
        let records = self.state.records().await?;
        let image_of = |arn: &str| {
            records
                .iter()
                .rev()
                .find(|r| r.platform_deployment.as_deref() == Some(arn))
                .map(|r| r.to_version.clone())
        };
        if !arns.is_empty() {
            let described = self
                .aws
                .ecs
                .describe_service_deployments()
                .set_service_deployment_arns(Some(arns))
                .send()
                .await
                .map_err(|e| explain("DescribeServiceDeployments", e))?;
            for d in described.service_deployments() {
                let target = d.target_service_revision();
                deployments.push(DeploymentRow {
                    arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
                    status: d
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()),
                    reason: d
                        .rollback()
                        .and_then(|r| r.reason())
                        .or(d.status_reason())
                        .map(str::to_owned),
                    started: d
                        .started_at()
                        .or(d.created_at())
                        .map(|t| crate::state::utc(t.as_secs_f64())),
                    target_revision: target.and_then(|t| t.arn().map(str::to_owned)),
                    image: d.service_deployment_arn().and_then(image_of),
                    running: target.map(|t| t.running_task_count()),
                    requested: target.map(|t| t.requested_task_count()),
                });
            }
        }
        Ok(EcsStatus {
            service: self.settings.service.clone(),
            task_definition: view.task_definition.clone(),
            image: self.image_of(&td),
            running: view.running,
            desired: view.desired,
            live_target_group: view.live_target_group.clone(),
            targets,
            deployments,
            lock: self.state.holder().await?,
        })
    }
}
