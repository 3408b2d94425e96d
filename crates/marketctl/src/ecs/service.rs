//! What marketctl reads from and writes to ECS around a deploy: the service and its target
//! groups, images in ECR, task definition revisions, the migration task and target health.

use super::Ecs;
use super::aws::explain;
use aws_sdk_ecs::types::{
    ContainerOverride, DesiredStatus, KeyValuePair, TaskDefinition, TaskOverride,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The service as a deploy needs it.
#[derive(Debug, Clone)]
pub struct ServiceView {
    pub arn: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    /// The target group taking production traffic now, and the idle one the next release
    /// goes to (blue/green and canary only).
    pub live_target_group: String,
    pub idle_target_group: Option<String>,
    pub load_balancer: String,
    pub production_rule: Option<String>,
    pub test_rule: Option<String>,
    network: Option<aws_sdk_ecs::types::NetworkConfiguration>,
    launch_type: Option<aws_sdk_ecs::types::LaunchType>,
    capacity: Vec<aws_sdk_ecs::types::CapacityProviderStrategyItem>,
}

/// An image in ECR, by digest.
#[derive(Debug, Clone)]
pub struct Image {
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`
    pub repository_uri: String,
    pub tag: Option<String>,
    pub digest: String,
}

impl Image {
    /// The reference a task definition pins: by digest, never a moving tag.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.repository_uri, self.digest)
    }

    /// The version marketctl records: the repository name and the digest.
    pub fn version(&self) -> String {
        let name = self
            .repository_uri
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository_uri);
        format!("{name}@{}", self.digest)
    }
}

/// `REGISTRY/NAME:TAG` or `REGISTRY/NAME@sha256:…` → (repository URI, name, tag, digest).
pub fn parse_image(uri: &str) -> Result<(String, String, Option<String>, Option<String>), String> {
    let bad = || {
        format!(
            "{uri:?} is not an ECR image: expected ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG \
             or …/NAME@sha256:DIGEST"
        )
    };
    let (repo, tag, digest) = if let Some((repo, digest)) = uri.split_once('@') {
        if !digest.starts_with("sha256:") || digest.len() != 71 {
            return Err(bad());
        }
        (repo, None, Some(digest.to_owned()))
    } else {
        let slash = uri.rfind('/').ok_or_else(bad)?;
        match uri[slash..].rfind(':') {
            Some(colon) => (
                &uri[..slash + colon],
                Some(uri[slash + colon + 1..].to_owned()),
                None,
            ),
            None => return Err(format!("{}; a tag or digest is required", bad())),
        }
    };
    let (registry, name) = repo.split_once('/').ok_or_else(bad)?;
    if !registry.contains(".dkr.ecr.") || name.is_empty() || tag.as_deref() == Some("") {
        return Err(bad());
    }
    Ok((repo.to_owned(), name.to_owned(), tag, digest))
}

fn ecr_registry_id(repository_uri: &str) -> Option<String> {
    repository_uri
        .split('.')
        .next()
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

impl Ecs<'_> {
    pub async fn identity(&self) -> Result<String, String> {
        let me = self
            .aws
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| explain("checking the AWS credentials (STS GetCallerIdentity)", e))?;
        Ok(format!(
            "account {} as {}",
            me.account().unwrap_or("?"),
            me.arn().unwrap_or("?")
        ))
    }

    pub async fn service(&self) -> Result<ServiceView, String> {
        let s = &self.settings;
        let out = self
            .aws
            .ecs
            .describe_services()
            .cluster(&s.cluster)
            .services(&s.service)
            .send()
            .await
            .map_err(|e| explain(&format!("reading service {}", s.service), e))?;
        let svc = out
            .services()
            .iter()
            .find(|x| x.status() == Some("ACTIVE"))
            .ok_or_else(|| {
                format!(
                    "service {} is not active in cluster {} (terraform apply creates it)",
                    s.service, s.cluster
                )
            })?;
        let lb = svc
            .load_balancers()
            .first()
            .ok_or_else(|| format!("service {} has no load balancer target group", s.service))?;
        let primary = lb
            .target_group_arn()
            .ok_or("the service's load balancer has no target group")?
            .to_owned();
        let advanced = lb.advanced_configuration();
        let alternate = advanced.and_then(|a| a.alternate_target_group_arn().map(str::to_owned));
        let production_rule =
            advanced.and_then(|a| a.production_listener_rule().map(str::to_owned));
        let test_rule = advanced.and_then(|a| a.test_listener_rule().map(str::to_owned));
        // Which of the pair takes production traffic changes with every blue/green deploy;
        // the production listener rule's weights say which it is now.
        let (live, idle) = match (&alternate, &production_rule) {
            (Some(alt), Some(rule)) => {
                let weights = self.rule_weights(rule).await?;
                let alt_weight = weights.get(alt.as_str()).copied().unwrap_or(0);
                let primary_weight = weights.get(primary.as_str()).copied().unwrap_or(0);
                if alt_weight > primary_weight {
                    (alt.clone(), Some(primary.clone()))
                } else {
                    (primary.clone(), Some(alt.clone()))
                }
            }
            _ => (primary.clone(), alternate.clone()),
        };
        let groups = self
            .aws
            .elb
            .describe_target_groups()
            .target_group_arns(&live)
            .send()
            .await
            .map_err(|e| explain(&format!("reading target group {live}"), e))?;
        let load_balancer = groups
            .target_groups()
            .first()
            .and_then(|g| g.load_balancer_arns().first().cloned())
            .ok_or_else(|| format!("target group {live} is not attached to a load balancer"))?;
        if let Some(idle) = &idle {
            self.aws
                .elb
                .describe_target_groups()
                .target_group_arns(idle)
                .send()
                .await
                .map_err(|e| explain(&format!("reading target group {idle}"), e))?;
        }
        Ok(ServiceView {
            arn: svc.service_arn().unwrap_or_default().to_owned(),
            task_definition: svc.task_definition().unwrap_or_default().to_owned(),
            desired: svc.desired_count(),
            running: svc.running_count(),
            live_target_group: live,
            idle_target_group: idle,
            load_balancer,
            production_rule,
            test_rule,
            network: svc.network_configuration().cloned(),
            launch_type: svc.launch_type().cloned(),
            capacity: svc.capacity_provider_strategy().to_vec(),
        })
    }

    async fn rule_weights(&self, rule: &str) -> Result<HashMap<String, i32>, String> {
        let out = self
            .aws
            .elb
            .describe_rules()
            .rule_arns(rule)
            .send()
            .await
            .map_err(|e| explain(&format!("reading listener rule {rule}"), e))?;
        let mut weights = HashMap::new();
        for action in out.rules().iter().flat_map(|r| r.actions()) {
            if let Some(forward) = action.forward_config() {
                for tg in forward.target_groups() {
                    if let Some(arn) = tg.target_group_arn() {
                        weights.insert(arn.to_owned(), tg.weight().unwrap_or(1));
                    }
                }
            } else if let Some(arn) = action.target_group_arn() {
                weights.insert(arn.to_owned(), 1);
            }
        }
        Ok(weights)
    }

    /// Finds the image in ECR and pins its digest.
    pub async fn resolve_image(&self, uri: &str) -> Result<super::service::Image, String> {
        let (repository_uri, name, tag, digest) = parse_image(uri)?;
        let id = aws_sdk_ecr::types::ImageIdentifier::builder()
            .set_image_tag(tag.clone())
            .set_image_digest(digest.clone())
            .build();
        let out = self
            .aws
            .ecr
            .describe_images()
            .set_registry_id(ecr_registry_id(&repository_uri))
            .repository_name(&name)
            .image_ids(id)
            .send()
            .await;
        let found = match out {
            Ok(out) => out.image_details().first().cloned(),
            Err(e) => {
                use aws_smithy_types::error::metadata::ProvideErrorMetadata;
                if matches!(
                    e.code(),
                    Some("ImageNotFoundException" | "RepositoryNotFoundException")
                ) {
                    None
                } else {
                    return Err(explain(&format!("looking up {uri} in ECR"), e));
                }
            }
        };
        let detail = found.ok_or_else(|| {
            format!(
                "image {uri} does not exist in ECR repository {name}: push it first (the build \
                 job's `docker push`), or check the tag"
            )
        })?;
        Ok(Image {
            repository_uri,
            tag,
            digest: detail
                .image_digest()
                .map(str::to_owned)
                .or(digest)
                .ok_or("ECR returned the image without a digest")?,
        })
    }

    pub async fn task_definition(&self, arn: &str) -> Result<TaskDefinition, String> {
        self.aws
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| explain(&format!("reading task definition {arn}"), e))?
            .task_definition
            .ok_or_else(|| format!("task definition {arn} is missing"))
    }

    /// The image the release container of a task definition runs.
    pub fn image_of(&self, td: &TaskDefinition) -> Option<String> {
        td.container_definitions()
            .iter()
            .find(|c| c.name() == Some(self.settings.container.as_str()))
            .and_then(|c| c.image().map(str::to_owned))
    }

    /// The image the service runs now.
    pub async fn live_image(&self) -> Result<String, String> {
        let view = self.service().await?;
        let td = self.task_definition(&view.task_definition).await?;
        self.image_of(&td).ok_or_else(|| {
            format!(
                "the live task definition {} has no {} container",
                view.task_definition, self.settings.container
            )
        })
    }

    /// Every secret the task definition names must exist, or its tasks cannot start.
    pub async fn check_secrets(&self, td: &TaskDefinition) -> Result<usize, String> {
        let mut checked = 0;
        for secret in td
            .container_definitions()
            .iter()
            .flat_map(|c| c.secrets())
            .map(|s| s.value_from())
        {
            // A Secrets Manager ARN may name a JSON key after the secret: keep the first 7 parts.
            if !secret.starts_with("arn:aws:secretsmanager:") {
                continue;
            }
            let id: String = secret.split(':').take(7).collect::<Vec<_>>().join(":");
            self.aws
                .secrets
                .describe_secret()
                .secret_id(&id)
                .send()
                .await
                .map_err(|e| {
                    explain(
                        &format!("the task's secret {id} is missing or unreadable"),
                        e,
                    )
                })?;
            checked += 1;
        }
        Ok(checked)
    }

    /// A new revision of `current` running `image`, labelled with the release.
    pub async fn register(
        &self,
        current: &TaskDefinition,
        image: &Image,
    ) -> Result<String, String> {
        let container = &self.settings.container;
        let mut found = false;
        let containers = current
            .container_definitions()
            .iter()
            .cloned()
            .map(|c| {
                if c.name() != Some(container.as_str()) {
                    return c;
                }
                found = true;
                let mut labels = c.docker_labels().cloned().unwrap_or_default();
                labels.insert("marketplace.release".into(), image.version());
                if let Some(tag) = &image.tag {
                    labels.insert("marketplace.tag".into(), tag.clone());
                }
                labels.insert("marketplace.deployed-by".into(), crate::state::who());
                let mut c = c;
                c.image = Some(image.pinned());
                c.docker_labels = Some(labels);
                c
            })
            .collect::<Vec<_>>();
        if !found {
            return Err(format!(
                "task definition {} has no container named {container:?} (ecs.container)",
                current.task_definition_arn().unwrap_or("?")
            ));
        }
        let out = self
            .aws
            .ecs
            .register_task_definition()
            .family(current.family().unwrap_or(&self.settings.service))
            .set_task_role_arn(current.task_role_arn().map(str::to_owned))
            .set_execution_role_arn(current.execution_role_arn().map(str::to_owned))
            .set_network_mode(current.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(current.volumes().to_vec()))
            .set_placement_constraints(Some(current.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(current.requires_compatibilities().to_vec()))
            .set_cpu(current.cpu().map(str::to_owned))
            .set_memory(current.memory().map(str::to_owned))
            .set_runtime_platform(current.runtime_platform().cloned())
            .set_ephemeral_storage(current.ephemeral_storage().cloned())
            .set_pid_mode(current.pid_mode().cloned())
            .set_ipc_mode(current.ipc_mode().cloned())
            .set_proxy_configuration(current.proxy_configuration().cloned())
            .send()
            .await
            .map_err(|e| explain("registering the new task definition revision", e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| "ECS registered no task definition".into())
    }

    /// Runs the migration command as a one-off task of `task_definition`; returns its log
    /// stream, or why it failed.
    pub async fn migrate(
        &self,
        view: &ServiceView,
        td: &TaskDefinition,
        task_definition: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let container = &self.settings.container;
        let mut run = self
            .aws
            .ecs
            .run_task()
            .cluster(&self.settings.cluster)
            .task_definition(task_definition)
            .count(1)
            .started_by("marketctl-migrate")
            .set_network_configuration(view.network.clone())
            .overrides(
                TaskOverride::builder()
                    .container_overrides(
                        ContainerOverride::builder()
                            .name(container)
                            .set_command(Some(self.settings.migrate_command.clone()))
                            .environment(
                                KeyValuePair::builder()
                                    .name("TM_MIGRATION_RUN")
                                    .value("marketctl")
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            );
        if view.capacity.is_empty() {
            run = run.set_launch_type(view.launch_type.clone());
        } else {
            run = run.set_capacity_provider_strategy(Some(view.capacity.clone()));
        }
        let out = run
            .send()
            .await
            .map_err(|e| explain("starting the migration task (RunTask)", e))?;
        if let Some(f) = out.failures().first() {
            return Err(format!(
                "ECS could not start the migration task: {} {}",
                f.reason().unwrap_or("?"),
                f.detail().unwrap_or("")
            ));
        }
        let task = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or("RunTask started no task")?
            .to_owned();
        let task_id = task.rsplit('/').next().unwrap_or(&task).to_owned();
        let log = td
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(container.as_str()))
            .and_then(|c| c.log_configuration())
            .map(|l| {
                let o = l.options().cloned().unwrap_or_default();
                format!(
                    "log group {} stream {}/{container}/{task_id}",
                    o.get("awslogs-group").map(String::as_str).unwrap_or("?"),
                    o.get("awslogs-stream-prefix")
                        .map(String::as_str)
                        .unwrap_or("?"),
                )
            })
            .unwrap_or_else(|| format!("task {task_id} (the task definition sets no log driver)"));
        self.note(&format!("migration task {task_id}: {log}"));
        let deadline = Instant::now() + timeout;
        loop {
            let out = self
                .aws
                .ecs
                .describe_tasks()
                .cluster(&self.settings.cluster)
                .tasks(&task)
                .send()
                .await
                .map_err(|e| explain("reading the migration task", e))?;
            if let Some(t) = out.tasks().first()
                && t.last_status() == Some(DesiredStatus::Stopped.as_str())
            {
                let code = t
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(container.as_str()))
                    .and_then(|c| c.exit_code());
                return match code {
                    Some(0) => Ok(log),
                    Some(code) => Err(format!(
                        "the migration task exited with {code}; nothing was deployed ({log})"
                    )),
                    None => Err(format!(
                        "the migration task stopped without an exit code ({}); nothing was \
                         deployed ({log})",
                        t.stopped_reason().unwrap_or("no reason given")
                    )),
                };
            }
            if Instant::now() > deadline {
                let _ = self
                    .aws
                    .ecs
                    .stop_task()
                    .cluster(&self.settings.cluster)
                    .task(&task)
                    .reason("marketctl: migration timed out")
                    .send()
                    .await;
                return Err(format!(
                    "the migration task did not finish within {:.0} s and was stopped ({log})",
                    timeout.as_secs_f64()
                ));
            }
            tokio::time::sleep(self.poll()).await;
        }
    }

    pub fn poll(&self) -> Duration {
        Duration::from_secs_f64(self.settings.poll_seconds)
    }

    /// (healthy, total, the first unhealthy target's reason) of a target group.
    pub async fn target_health(&self, target_group: &str) -> Result<TargetHealth, String> {
        let out = self
            .aws
            .elb
            .describe_target_health()
            .target_group_arn(target_group)
            .send()
            .await
            .map_err(|e| explain(&format!("reading target health of {target_group}"), e))?;
        let mut health = TargetHealth::default();
        for t in out.target_health_descriptions() {
            health.total += 1;
            let state = t.target_health().and_then(|h| h.state());
            match state.map(|s| s.as_str()) {
                Some("healthy") => health.healthy += 1,
                Some("unhealthy") => {
                    health.unhealthy += 1;
                    health.reason.get_or_insert_with(|| {
                        format!(
                            "{} {}",
                            t.target().and_then(|x| x.id()).unwrap_or("?"),
                            t.target_health()
                                .and_then(|h| h.description())
                                .unwrap_or("unhealthy")
                        )
                    });
                }
                _ => {}
            }
        }
        Ok(health)
    }
}

#[derive(Debug, Clone, Default)]
pub struct TargetHealth {
    pub healthy: u32,
    pub unhealthy: u32,
    pub total: u32,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::parse_image;

    #[test]
    fn image_references_are_parsed_or_refused_with_the_form_expected() {
        let (repo, name, tag, digest) =
            parse_image("123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging:v2").unwrap();
        assert_eq!(
            repo,
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging"
        );
        assert_eq!(
            (name.as_str(), tag.as_deref(), digest),
            ("tm-staging", Some("v2"), None)
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let (_, _, tag, digest) = parse_image(&format!(
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging@{d}"
        ))
        .unwrap();
        assert_eq!((tag, digest.as_deref()), (None, Some(d.as_str())));
        for bad in [
            "",
            "tm-staging:v2",
            "docker.io/library/nginx:1",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging:",
            "123456789012.dkr.ecr.us-west-2.amazonaws.com/tm-staging@sha256:short",
        ] {
            assert!(parse_image(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
