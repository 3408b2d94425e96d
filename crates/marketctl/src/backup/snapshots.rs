//! Backups of an ECS environment's RDS database: snapshots taken, copied to the DR region, listed, and verified by restoring them into a scratch instance.
//!
//! RDS keeps its automated backups (daily, 30 days, point-in-time) by itself; these are the
//! snapshots an operator or the daily workflow takes on top, and the proof that any of them
//! restores. A verification's result is kept as tags on the snapshot and published as the
//! `BackupVerified` metric, which the 26-hour alarm watches.

use super::{BackupError, Selector, Verification};
use crate::config::RdsSettings;
use crate::ecs::aws::{Aws, explain};
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Tag};
use serde::Serialize;
use std::time::{Duration, Instant};

const MANAGED: &str = "managed-by";
const VERIFIED_AT: &str = "marketctl:verified-at";
const VERIFICATION: &str = "marketctl:verification";
const DR_COPY: &str = "marketctl:dr-copy";

/// One snapshot of the environment's instance, as `backup list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub arn: String,
    /// `manual` (taken by `backup create` or by hand) or `automated` (RDS's daily backup).
    pub kind: String,
    pub created_at: Option<f64>,
    pub status: String,
    pub encrypted: bool,
    pub kms_key: Option<String>,
    pub engine_version: Option<String>,
    pub allocated_gb: Option<i32>,
    /// The copy in the DR region, when `backup create` made one.
    pub dr_copy: Option<String>,
    pub verification: Option<Verification>,
}

fn failed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(e.to_string())
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tag_of<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(Tag::value)
}

impl Snapshot {
    fn of(s: &DbSnapshot) -> Self {
        let tags = s.tag_list();
        let verification =
            Verification::recorded(tag_of(tags, VERIFIED_AT), tag_of(tags, VERIFICATION));
        Snapshot {
            id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
            kind: s.snapshot_type().unwrap_or("manual").to_owned(),
            created_at: s.snapshot_create_time().map(|t| t.secs() as f64),
            status: s.status().unwrap_or("unknown").to_owned(),
            encrypted: s.encrypted() == Some(true),
            kms_key: s.kms_key_id().map(str::to_owned),
            engine_version: s.engine_version().map(str::to_owned),
            allocated_gb: s.allocated_storage(),
            dr_copy: tag_of(tags, DR_COPY).map(str::to_owned),
            verification,
        }
    }
}

/// The DR region's client, when the environment copies its snapshots there.
async fn dr(settings: &RdsSettings) -> Result<Option<(Aws, String, String)>, BackupError> {
    match (&settings.dr_region, &settings.dr_kms_key) {
        (None, None) => Ok(None),
        (Some(region), Some(key)) => Ok(Some((
            Aws::connect(region).await,
            region.clone(),
            key.clone(),
        ))),
        _ => Err(BackupError::Usage(
            "[rds] names dr_region and dr_kms_key together (terraform output marketctl_rds): an encrypted snapshot's copy needs a key in the region it is copied to".into(),
        )),
    }
}

async fn describe_snapshot(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<DbSnapshot>, BackupError> {
    match rds
        .describe_db_snapshots()
        .db_snapshot_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_snapshots().first().cloned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_snapshot_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(e) => Err(failed(explain(&format!("describing snapshot {id}"), e))),
    }
}

/// Polls a snapshot until it is available; a failed one, or one past the timeout, is an error.
async fn wait_snapshot(
    rds: &aws_sdk_rds::Client,
    id: &str,
    settings: &RdsSettings,
    step: &dyn Fn(&str),
) -> Result<DbSnapshot, BackupError> {
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(settings.timeout_minutes * 60.0);
    let mut last = String::new();
    loop {
        let snapshot = describe_snapshot(rds, id)
            .await?
            .ok_or_else(|| failed(format!("snapshot {id} disappeared while it was being made")))?;
        let status = snapshot.status().unwrap_or("unknown").to_owned();
        match status.as_str() {
            "available" => return Ok(snapshot),
            "failed" | "incompatible-restore" => {
                return Err(failed(format!("snapshot {id} ended {status}")));
            }
            _ => {}
        }
        if started.elapsed() > deadline {
            return Err(failed(format!(
                "snapshot {id} is still {status} after {} minutes; RDS keeps making it: `marketctl backup ENV list` shows when it is available",
                settings.timeout_minutes
            )));
        }
        if status != last {
            step(&format!("snapshot {id}: {status}"));
            last = status;
        }
        tokio::time::sleep(Duration::from_secs_f64(settings.poll_seconds.max(0.05))).await;
    }
}

fn stamp() -> String {
    super::compact_utc(crate::state::now())
        .to_ascii_lowercase()
        .replace('t', "-")
        .trim_end_matches('z')
        .to_owned()
}

/// Takes a snapshot of the live instance, copies it to the DR region (encrypted with the DR
/// key) when the environment has one, and deletes the snapshots it took earlier that are past
/// retention, in both regions.
pub async fn create(
    aws: &Aws,
    settings: &RdsSettings,
    env: &str,
    progress: bool,
) -> Result<Snapshot, BackupError> {
    let step = |text: &str| {
        if progress {
            eprintln!("  {text}");
        }
    };
    let dr = dr(settings).await?;
    if super::rds::describe(aws, &settings.instance)
        .await?
        .is_none()
    {
        return Err(BackupError::Usage(format!(
            "{env}'s database {} does not exist in this account and region",
            settings.instance
        )));
    }
    let id = format!("{}-marketctl-{}", settings.instance, stamp());
    step(&format!("snapshot {} as {id}", settings.instance));
    aws.rds
        .create_db_snapshot()
        .db_instance_identifier(&settings.instance)
        .db_snapshot_identifier(&id)
        .tags(tag("environment", env))
        .tags(tag(MANAGED, "marketctl"))
        .send()
        .await
        .map_err(|e| failed(explain("CreateDBSnapshot", e)))?;
    let snapshot = wait_snapshot(&aws.rds, &id, settings, &step).await?;
    let mut taken = Snapshot::of(&snapshot);
    if let Some((dr_aws, region, key)) = &dr {
        // In the commercial regions a cross-region copy of an encrypted snapshot needs no
        // presigned URL (only GovCloud does): the source's ARN and a key in the DR region.
        step(&format!("copy {id} to {region}"));
        let out = dr_aws
            .rds
            .copy_db_snapshot()
            .source_db_snapshot_identifier(&taken.arn)
            .target_db_snapshot_identifier(&id)
            .kms_key_id(key)
            .copy_tags(true)
            .send()
            .await
            .map_err(|e| {
                failed(format!(
                    "{id} was taken but not copied to {region}: {}",
                    explain("CopyDBSnapshot", e)
                ))
            })?;
        let copy = out
            .db_snapshot()
            .and_then(DbSnapshot::db_snapshot_arn)
            .unwrap_or_default()
            .to_owned();
        wait_snapshot(&dr_aws.rds, &id, settings, &step).await?;
        aws.rds
            .add_tags_to_resource()
            .resource_name(&taken.arn)
            .tags(tag(DR_COPY, &copy))
            .send()
            .await
            .map_err(|e| failed(explain("tagging the snapshot with its copy", e)))?;
        taken.dr_copy = Some(copy);
    }
    let cutoff = crate::state::now() - f64::from(settings.retention_days) * 86_400.0;
    let mut pruned = prune(&aws.rds, settings, cutoff, &id).await?;
    if let Some((dr_aws, _, _)) = &dr {
        pruned += prune(&dr_aws.rds, settings, cutoff, &id).await?;
    }
    if pruned > 0 {
        step(&format!(
            "deleted {pruned} snapshot(s) older than {} days",
            settings.retention_days
        ));
    }
    Ok(taken)
}

async fn snapshots(
    rds: &aws_sdk_rds::Client,
    instance: &str,
) -> Result<Vec<DbSnapshot>, BackupError> {
    let mut all = Vec::new();
    let mut marker = None;
    loop {
        let out = rds
            .describe_db_snapshots()
            .db_instance_identifier(instance)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| failed(explain("DescribeDBSnapshots", e)))?;
        all.extend(out.db_snapshots().iter().cloned());
        marker = out.marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    all.sort_by(|a, b| {
        let t = |s: &DbSnapshot| s.snapshot_create_time().map_or(0.0, |t| t.as_secs_f64());
        t(a).total_cmp(&t(b))
    });
    Ok(all)
}

/// Deletes the snapshots marketctl took (never an operator's, never RDS's own) before `cutoff`,
/// except `keep`, the one just taken.
async fn prune(
    rds: &aws_sdk_rds::Client,
    settings: &RdsSettings,
    cutoff: f64,
    keep: &str,
) -> Result<usize, BackupError> {
    let mut deleted = 0;
    for s in snapshots(rds, &settings.instance).await? {
        let ours = tag_of(s.tag_list(), MANAGED) == Some("marketctl")
            && s.snapshot_type() == Some("manual");
        let old = s
            .snapshot_create_time()
            .is_some_and(|t| t.as_secs_f64() <= cutoff);
        if ours
            && old
            && s.status() == Some("available")
            && s.db_snapshot_identifier() != Some(keep)
        {
            let id = s.db_snapshot_identifier().unwrap_or_default();
            rds.delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map_err(|e| failed(explain(&format!("deleting {id} past retention"), e)))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Every snapshot of the instance, oldest first, with its verification.
pub async fn list(aws: &Aws, settings: &RdsSettings) -> Result<Vec<Snapshot>, BackupError> {
    Ok(snapshots(&aws.rds, &settings.instance)
        .await?
        .iter()
        .map(Snapshot::of)
        .collect())
}

/// What is wrong with an instance restored from `snapshot` of `source` (empty: nothing).
pub fn problems(
    snapshot: &DbSnapshot,
    restored: &DbInstance,
    source: Option<&DbInstance>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let status = restored.db_instance_status().unwrap_or("unknown");
    if status != "available" {
        problems.push(format!("the restored instance is {status}, not available"));
    }
    if restored.endpoint().and_then(|e| e.address()).is_none() {
        problems.push("the restored instance has no endpoint".into());
    }
    if snapshot.encrypted() != Some(true) {
        problems.push(
            "the snapshot is not encrypted: backups are encrypted with the customer-managed key"
                .into(),
        );
    }
    if restored.storage_encrypted() != Some(true) {
        problems.push("the restored instance's storage is not encrypted".into());
    } else if restored.kms_key_id() != snapshot.kms_key_id() {
        problems.push(format!(
            "the restored instance is encrypted with {}, the snapshot with {}",
            restored.kms_key_id().unwrap_or("no key"),
            snapshot.kms_key_id().unwrap_or("no key")
        ));
    }
    if restored.engine() != snapshot.engine()
        || restored.engine_version() != snapshot.engine_version()
    {
        problems.push(format!(
            "the restored instance runs {} {}, the snapshot is of {} {}",
            restored.engine().unwrap_or("?"),
            restored.engine_version().unwrap_or("?"),
            snapshot.engine().unwrap_or("?"),
            snapshot.engine_version().unwrap_or("?")
        ));
    }
    if let (Some(have), Some(want)) = (restored.allocated_storage(), snapshot.allocated_storage())
        && have < want
    {
        problems.push(format!(
            "the restored instance has {have} GB, the snapshot {want} GB"
        ));
    }
    if let Some(source) = source {
        if source.kms_key_id().is_some() && snapshot.kms_key_id() != source.kms_key_id() {
            problems.push(format!(
                "the snapshot is encrypted with {}, the live instance with {}",
                snapshot.kms_key_id().unwrap_or("no key"),
                source.kms_key_id().unwrap_or("no key")
            ));
        }
        if source.iam_database_authentication_enabled() == Some(true)
            && restored.iam_database_authentication_enabled() != Some(true)
        {
            problems.push(
                "the restored instance does not take IAM sign-ins, which the service uses".into(),
            );
        }
    }
    problems
}

/// Restores a snapshot (the newest available by default) into a scratch instance shaped like
/// the live one, checks it and its DR copy, deletes the scratch instance, records the result
/// on the snapshot and, when it passed, publishes `BackupVerified`.
pub async fn verify(
    aws: &Aws,
    settings: &RdsSettings,
    env: &str,
    which: &Selector,
    progress: bool,
) -> Result<Snapshot, BackupError> {
    let started = Instant::now();
    let step = |text: &str| {
        if progress {
            eprintln!("  {text}");
        }
    };
    let dr = dr(settings).await?;
    let all = snapshots(&aws.rds, &settings.instance).await?;
    let snapshot = match which {
        Selector::Latest => all
            .iter()
            .rev()
            .find(|s| s.status() == Some("available"))
            .ok_or_else(|| {
                BackupError::Usage(format!(
                    "{} has no available snapshot to verify: take one with `marketctl backup {env} create`",
                    settings.instance
                ))
            })?,
        Selector::Id(id) => all
            .iter()
            .find(|s| s.db_snapshot_identifier() == Some(id.as_str()))
            .ok_or_else(|| {
                BackupError::Usage(format!(
                    "{} has no snapshot {id}: `marketctl backup {env} list` shows them",
                    settings.instance
                ))
            })?,
        Selector::At(_) => {
            return Err(BackupError::Usage(
                "verify takes --backup ID or the newest".into(),
            ));
        }
    }
    .clone();
    let id = snapshot
        .db_snapshot_identifier()
        .unwrap_or_default()
        .to_owned();
    let source = super::rds::describe(aws, &settings.instance).await?;
    let scratch = format!("{}-verify-{}", settings.instance, stamp());
    step(&format!("restore {id} into the scratch instance {scratch}"));
    let mut request = aws
        .rds
        .restore_db_instance_from_db_snapshot()
        .db_snapshot_identifier(&id)
        .db_instance_identifier(&scratch)
        .publicly_accessible(false)
        .multi_az(false)
        .deletion_protection(false)
        .tags(tag("environment", env))
        .tags(tag(MANAGED, "marketctl"))
        .tags(tag("purpose", "backup-verification"));
    if let Some(source) = &source {
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
            if let Some(sg) = sg.vpc_security_group_id() {
                request = request.vpc_security_group_ids(sg);
            }
        }
        if source.iam_database_authentication_enabled() == Some(true) {
            request = request.enable_iam_database_authentication(true);
        }
    }
    request
        .send()
        .await
        .map_err(|e| failed(explain("RestoreDBInstanceFromDBSnapshot", e)))?;
    let restored = super::rds::wait_available(aws, settings, &scratch, &step).await;
    let mut found = match &restored {
        Ok(instance) => problems(&snapshot, instance, source.as_ref()),
        Err(e) => vec![e.to_string()],
    };
    // The scratch instance goes whatever the result: it holds a copy of everyone's data.
    step(&format!("delete the scratch instance {scratch}"));
    if let Err(e) = aws
        .rds
        .delete_db_instance()
        .db_instance_identifier(&scratch)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        found.push(format!(
            "the scratch instance {scratch} could not be deleted; delete it by hand: {}",
            explain("DeleteDBInstance", e)
        ));
    }
    let mut record = Snapshot::of(&snapshot);
    if let (Some((dr_aws, region, key)), Some(_)) = (&dr, &record.dr_copy) {
        match describe_snapshot(&dr_aws.rds, &id).await? {
            None => found.push(format!("its copy in {region} is missing")),
            Some(copy) => {
                if copy.status() != Some("available") {
                    found.push(format!(
                        "its copy in {region} is {}",
                        copy.status().unwrap_or("unknown")
                    ));
                }
                // RDS reports the key's ARN: an alias in [rds] is compared by encryption only.
                let by_arn = key.contains(":key/");
                if copy.encrypted() != Some(true)
                    || (by_arn && copy.kms_key_id() != Some(key.as_str()))
                {
                    found.push(format!(
                        "its copy in {region} is not encrypted with the DR key {key}"
                    ));
                }
            }
        }
    }
    let verification = Verification {
        at: crate::state::now(),
        ok: found.is_empty(),
        seconds: started.elapsed().as_secs_f64(),
        problems: found,
    };
    let result = if verification.ok { "passed" } else { "failed" };
    aws.rds
        .add_tags_to_resource()
        .resource_name(&record.arn)
        .tags(tag(VERIFIED_AT, &format!("{:.0}", verification.at)))
        .tags(tag(VERIFICATION, result))
        .send()
        .await
        .map_err(|e| failed(explain("recording the verification on the snapshot", e)))?;
    if verification.ok {
        aws.cloudwatch
            .put_metric_data()
            .namespace(&settings.metrics_namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name("BackupVerified")
                    // The instance, which Terraform's alarm names too (it knows no marketctl
                    // environment name).
                    .dimensions(
                        Dimension::builder()
                            .name("DBInstanceIdentifier")
                            .value(&settings.instance)
                            .build(),
                    )
                    .value(1.0)
                    .unit(StandardUnit::Count)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                failed(format!(
                    "{id} verified, but BackupVerified was not published (the 26-hour alarm will fire): {}",
                    explain("PutMetricData", e)
                ))
            })?;
    }
    let ok = verification.ok;
    record.verification = Some(verification);
    if ok {
        Ok(record)
    } else {
        Err(failed(format!(
            "{id} failed verification: {}",
            record
                .verification
                .as_ref()
                .map(|v| v.problems.join("; "))
                .unwrap_or_default()
        )))
    }
}

/// `backup list` for people.
pub fn table(snapshots: &[Snapshot]) -> String {
    let mut out = format!(
        "{:<48} {:<9} {:<20} {:<10} {:<9} {}\n",
        "SNAPSHOT", "KIND", "TAKEN (UTC)", "STATUS", "DR COPY", "VERIFIED"
    );
    for s in snapshots {
        out.push_str(&format!(
            "{:<48} {:<9} {:<20} {:<10} {:<9} {}\n",
            s.id,
            s.kind,
            s.created_at.map(crate::state::utc).unwrap_or_default(),
            s.status,
            if s.dr_copy.is_some() { "yes" } else { "-" },
            Verification::column(s.verification.as_ref())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::types::Endpoint;
    use aws_sdk_rds::types::builders::{DbInstanceBuilder, DbSnapshotBuilder};

    fn snapshot_with(f: impl FnOnce(DbSnapshotBuilder) -> DbSnapshotBuilder) -> DbSnapshot {
        f(DbSnapshot::builder()
            .db_snapshot_identifier("tm-production-marketctl-20261130-030000")
            .status("available")
            .encrypted(true)
            .kms_key_id("arn:aws:kms:us-west-2:1:key/live")
            .engine("postgres")
            .engine_version("16.6")
            .allocated_storage(100))
        .build()
    }

    fn restored_with(f: impl FnOnce(DbInstanceBuilder) -> DbInstanceBuilder) -> DbInstance {
        f(DbInstance::builder()
            .db_instance_status("available")
            .endpoint(Endpoint::builder().address("x.rds.amazonaws.com").build())
            .storage_encrypted(true)
            .kms_key_id("arn:aws:kms:us-west-2:1:key/live")
            .engine("postgres")
            .engine_version("16.6")
            .allocated_storage(100)
            .iam_database_authentication_enabled(true))
        .build()
    }

    #[test]
    fn a_restore_like_its_snapshot_passes() {
        let live = restored_with(|b| b);
        assert_eq!(
            problems(&snapshot_with(|b| b), &restored_with(|b| b), Some(&live)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_difference_is_named() {
        let snapshot = snapshot_with(|b| b);
        let live = restored_with(|b| b);
        let plain = snapshot_with(|b| b.encrypted(false));
        assert!(problems(&plain, &live, None)[0].contains("not encrypted"));
        let other_key = restored_with(|b| b.kms_key_id("arn:other"));
        assert!(problems(&snapshot, &other_key, None)[0].contains("encrypted with arn:other"));
        let older = restored_with(|b| b.engine_version("15.4"));
        assert!(problems(&snapshot, &older, None)[0].contains("15.4"));
        let no_iam = restored_with(|b| b.iam_database_authentication_enabled(false));
        assert!(problems(&snapshot, &no_iam, Some(&live))[0].contains("IAM"));
        let creating = restored_with(|b| b.db_instance_status("creating"));
        assert!(problems(&snapshot, &creating, None)[0].contains("creating"));
        let smaller = restored_with(|b| b.allocated_storage(20));
        assert!(problems(&snapshot, &smaller, None)[0].contains("20 GB"));
    }
}
