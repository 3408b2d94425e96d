//! Recovery on AWS RDS: a point-in-time restore into a new instance shaped like the live one, and the cut-over that points the service's database secret at it.

use super::{BackupError, Selector};
use crate::config::RdsSettings;
use crate::ecs::aws::{Aws, explain};
use aws_sdk_rds::types::{DbInstance, Tag};
use serde::Serialize;
use std::time::{Duration, Instant};

/// A restored instance, ready for connections.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub instance: String,
    pub source: String,
    /// Unix seconds of the point restored to (`None`: the latest restorable time).
    pub restored_to: Option<f64>,
    pub endpoint: String,
    pub port: i32,
    pub seconds: f64,
    /// Set once the secret points at it.
    pub cut_over: Option<CutOver>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CutOver {
    pub secret: String,
    /// The secret version that held the previous URL: putting it back undoes the cut-over.
    pub previous_version: Option<String>,
}

fn failed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(e.to_string())
}

pub(super) async fn describe(aws: &Aws, id: &str) -> Result<Option<DbInstance>, BackupError> {
    match aws
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed(explain(&format!("describing {id}"), e))),
    }
}

/// Restores the live instance to a point in time (or its latest restorable time) into a new
/// instance with the same network, class, parameters and IAM authentication, and waits until
/// it is available. The live instance is never touched.
pub async fn restore(
    aws: &Aws,
    settings: &RdsSettings,
    env: &str,
    which: &Selector,
    target: Option<String>,
    progress: bool,
) -> Result<Restored, BackupError> {
    let started = Instant::now();
    let step = |text: &str| {
        if progress {
            eprintln!("  {text}");
        }
    };
    let source = describe(aws, &settings.instance).await?.ok_or_else(|| {
        BackupError::Usage(format!(
            "{env}'s database {} does not exist in this account and region",
            settings.instance
        ))
    })?;
    let restored_to = match which {
        Selector::Latest => None,
        Selector::At(t) => {
            if *t > crate::state::now() {
                return Err(BackupError::Usage(format!(
                    "--to {} is in the future",
                    crate::state::utc(*t)
                )));
            }
            if let Some(latest) = source.latest_restorable_time()
                && (latest.secs() as f64) < *t
            {
                return Err(BackupError::Usage(format!(
                    "--to {} is after the latest restorable time, {} UTC: use --latest",
                    crate::state::utc(*t),
                    crate::state::utc(latest.secs() as f64)
                )));
            }
            Some(*t)
        }
        Selector::Id(_) => {
            return Err(BackupError::Usage(
                "on RDS, restore with --latest or --to TIME (point-in-time recovery)".into(),
            ));
        }
    };
    let target = target.unwrap_or_else(|| {
        format!(
            "{}-restore-{}",
            settings.instance,
            super::compact_utc(crate::state::now())
                .to_ascii_lowercase()
                .replace('t', "-")
                .trim_end_matches('z')
        )
    });
    if describe(aws, &target).await?.is_some() {
        return Err(BackupError::Usage(format!(
            "the restore target {target} already exists: choose another --into"
        )));
    }
    step(&format!(
        "restore {} to {} into {target}",
        settings.instance,
        restored_to.map_or("its latest restorable time".to_owned(), |t| format!(
            "{} UTC",
            crate::state::utc(t)
        ))
    ));
    let mut request = aws
        .rds
        .restore_db_instance_to_point_in_time()
        .source_db_instance_identifier(&settings.instance)
        .target_db_instance_identifier(&target)
        .publicly_accessible(false)
        .copy_tags_to_snapshot(true)
        .tags(tag("environment", env))
        .tags(tag("restored-from", &settings.instance))
        .tags(tag("managed-by", "marketctl"));
    request = match restored_to {
        None => request.use_latest_restorable_time(true),
        Some(t) => request.restore_time(aws_smithy_types::DateTime::from_secs_f64(t)),
    };
    if let Some(class) = source.db_instance_class() {
        request = request.db_instance_class(class);
    }
    if let Some(group) = source
        .db_subnet_group()
        .and_then(|g| g.db_subnet_group_name())
    {
        request = request.db_subnet_group_name(group);
    }
    for sg in source.vpc_security_groups() {
        if let Some(id) = sg.vpc_security_group_id() {
            request = request.vpc_security_group_ids(id);
        }
    }
    if let Some(group) = source
        .db_parameter_groups()
        .first()
        .and_then(|g| g.db_parameter_group_name())
    {
        request = request.db_parameter_group_name(group);
    }
    if let Some(multi_az) = source.multi_az() {
        request = request.multi_az(multi_az);
    }
    if source.iam_database_authentication_enabled() == Some(true) {
        // The app signs in with IAM tokens: the restored instance must accept them too.
        request = request.enable_iam_database_authentication(true);
    }
    request
        .send()
        .await
        .map_err(|e| failed(explain("RestoreDBInstanceToPointInTime", e)))?;

    let instance = wait_available(aws, settings, &target, &step).await?;
    let endpoint = instance
        .endpoint()
        .ok_or_else(|| failed(format!("{target} is available but has no endpoint")))?;
    Ok(Restored {
        source: settings.instance.clone(),
        restored_to,
        endpoint: endpoint.address().unwrap_or_default().to_owned(),
        port: endpoint.port().unwrap_or(5432),
        seconds: started.elapsed().as_secs_f64(),
        cut_over: None,
        instance: target,
    })
}

/// Polls a restoring instance until it is available; a failed restore, or one past the
/// timeout, is an error (the live instance is untouched either way).
pub(super) async fn wait_available(
    aws: &Aws,
    settings: &RdsSettings,
    target: &str,
    step: &dyn Fn(&str),
) -> Result<DbInstance, BackupError> {
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(settings.timeout_minutes * 60.0);
    let poll = Duration::from_secs_f64(settings.poll_seconds.max(0.05));
    let mut last = String::new();
    loop {
        let Some(instance) = describe(aws, target).await? else {
            return Err(failed(format!("{target} disappeared while restoring")));
        };
        let status = instance
            .db_instance_status()
            .unwrap_or("unknown")
            .to_owned();
        if status == "available" {
            step(&format!("{target} is available"));
            return Ok(instance);
        }
        if [
            "failed",
            "incompatible-restore",
            "incompatible-parameters",
            "storage-full",
        ]
        .contains(&status.as_str())
        {
            return Err(failed(format!(
                "{target} ended {status}: the restore failed; the live instance is untouched"
            )));
        }
        if started.elapsed() > deadline {
            return Err(failed(format!(
                "{target} is still {status} after {} minutes; it keeps restoring in AWS (docs/runbooks/disaster-recovery.md: what to do with it)",
                settings.timeout_minutes
            )));
        }
        if status != last {
            step(&format!("{target}: {status}"));
            last = status;
        }
        tokio::time::sleep(poll).await;
    }
}

/// An instance restored earlier (by `restore` without `--cut-over`), to cut over to now.
pub async fn existing(
    aws: &Aws,
    settings: &RdsSettings,
    id: &str,
) -> Result<Option<Restored>, BackupError> {
    let Some(instance) = describe(aws, id).await? else {
        return Ok(None);
    };
    if id == settings.instance {
        return Err(BackupError::Usage(format!(
            "{id} is the live instance: cut over to a restored one"
        )));
    }
    let status = instance.db_instance_status().unwrap_or("unknown");
    let endpoint = instance
        .endpoint()
        .filter(|_| status == "available")
        .ok_or_else(|| {
            BackupError::Usage(format!("{id} is {status}: cut over once it is available"))
        })?;
    Ok(Some(Restored {
        instance: id.to_owned(),
        source: settings.instance.clone(),
        restored_to: None,
        endpoint: endpoint.address().unwrap_or_default().to_owned(),
        port: endpoint.port().unwrap_or(5432),
        seconds: 0.0,
        cut_over: None,
    }))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

/// Points the service's database URL secret at the restored instance (a new secret version;
/// the previous one stays as `AWSPREVIOUS`). The tasks read it when they start: the caller
/// then restarts them through the deploy engine.
pub async fn cut_over(
    aws: &Aws,
    settings: &RdsSettings,
    restored: &mut Restored,
) -> Result<(), BackupError> {
    let secret = &settings.database_url_secret;
    let current = aws
        .secrets
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| failed(explain(&format!("reading {secret}"), e)))?;
    let url = current.secret_string().ok_or_else(|| {
        failed(format!(
            "{secret} holds no text: it should hold the database URL"
        ))
    })?;
    let new_url = with_host(url, &restored.endpoint, restored.port)
        .map_err(|e| BackupError::Usage(format!("{secret}: {e}")))?;
    aws.secrets
        .put_secret_value()
        .secret_id(secret)
        .secret_string(new_url)
        .send()
        .await
        .map_err(|e| failed(explain(&format!("updating {secret}"), e)))?;
    restored.cut_over = Some(CutOver {
        secret: secret.clone(),
        previous_version: current.version_id().map(str::to_owned),
    });
    Ok(())
}

/// The same database URL (user, database, options) on another host and port.
pub fn with_host(url: &str, host: &str, port: i32) -> Result<String, String> {
    let mut parsed =
        reqwest::Url::parse(url).map_err(|e| format!("the database URL does not parse ({e})"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "the database URL is {}://, not postgres://",
            parsed.scheme()
        ));
    }
    parsed
        .set_host(Some(host))
        .map_err(|e| format!("{host} is not a host name ({e})"))?;
    parsed
        .set_port(u16::try_from(port).ok())
        .map_err(|()| format!("port {port} cannot be set"))?;
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::with_host;

    #[test]
    fn the_url_keeps_its_user_database_and_options_on_the_new_host() {
        assert_eq!(
            with_host(
                "postgres://marketplace_app@tm-production.abc.us-west-2.rds.amazonaws.com:5432/marketplace?sslmode=require",
                "tm-production-restore-1.abc.us-west-2.rds.amazonaws.com",
                5432
            )
            .unwrap(),
            "postgres://marketplace_app@tm-production-restore-1.abc.us-west-2.rds.amazonaws.com:5432/marketplace?sslmode=require"
        );
        assert!(with_host("sqlite://data/x.db", "h", 5432).is_err());
        assert!(with_host("not a url", "h", 5432).is_err());
    }
}
