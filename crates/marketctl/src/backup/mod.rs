//! Backups of a single host's SQLite database: take, list, verify and restore, through an object store.
//!
//! A backup is two objects under `ENV/`: the sealed snapshot (`ID.db.gz.age`) and its manifest
//! (`ID.json`), written last, so a backup exists only once it is whole. The manifest records
//! what identifies the content (schema version, per-table row counts and checksums) and, once
//! verified, the verification's result.

pub mod archive;
pub mod pgbackrest;
pub mod rds;
pub mod retention;
pub mod snapshots;
pub mod sqlite;

use crate::config::BackupSettings;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The record kept next to each sealed snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub environment: String,
    /// Unix seconds when the snapshot's transaction began: the point the backup restores to.
    pub created_at: f64,
    pub engine: String,
    pub source: String,
    #[serde(flatten)]
    pub content: sqlite::Content,
    pub snapshot_bytes: u64,
    pub snapshot_seconds: f64,
    pub archive_bytes: u64,
    pub archive_sha256: String,
    pub verification: Option<Verification>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub at: f64,
    pub ok: bool,
    pub seconds: f64,
    pub problems: Vec<String>,
}

impl Verification {
    /// A verification recorded outside a manifest (RDS tags, pgBackRest annotations): when it
    /// ran and whether it passed; what failed is in that run's output, which a tag cannot hold.
    pub fn recorded(at: Option<&str>, result: Option<&str>) -> Option<Self> {
        let at = at?.parse::<f64>().ok()?;
        let ok = result == Some("passed");
        Some(Verification {
            at,
            ok,
            seconds: 0.0,
            problems: if ok {
                Vec::new()
            } else {
                vec!["failed (the reasons are in that verify run's output)".into()]
            },
        })
    }

    /// The VERIFIED column of a `backup list` table.
    pub fn column(this: Option<&Self>) -> String {
        match this {
            None => "-".to_owned(),
            Some(v) if v.ok => format!("passed {}", crate::state::utc(v.at)),
            Some(v) => format!(
                "FAILED {}: {}",
                crate::state::utc(v.at),
                v.problems.join("; ")
            ),
        }
    }
}

/// Why a backup command failed; nothing live was changed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl BackupError {
    pub fn exit_code(&self) -> u8 {
        match self {
            BackupError::Usage(_) => 64,
            BackupError::Failed(_) => 1,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(e.to_string())
}

/// A database path from `sqlite://PATH` (the service's `TM_DATABASE_URL`).
pub fn sqlite_path(url: &str) -> Result<PathBuf, BackupError> {
    let rest = url.strip_prefix("sqlite://").ok_or_else(|| {
        BackupError::Usage(format!(
            "backups on one host are of SQLite databases (sqlite://PATH); this environment's database is {}",
            url.split("://").next().unwrap_or(url)
        ))
    })?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() {
        return Err(BackupError::Usage("the database URL names no file".into()));
    }
    Ok(PathBuf::from(path))
}

/// The environment's backups: where they are and what they are sealed to.
pub struct Backups {
    env: String,
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    recipient: age::x25519::Recipient,
    identity_env: String,
    /// Set by the drill, whose throwaway key never leaves the process.
    identity: Option<age::x25519::Identity>,
    database: PathBuf,
    progress: bool,
}

impl Backups {
    pub fn new(
        env: &str,
        settings: &BackupSettings,
        database_url: &str,
        progress: bool,
    ) -> Result<Self, BackupError> {
        let recipient = archive::recipient(&settings.recipient).map_err(BackupError::Usage)?;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = if let Some(rest) =
            settings.store.strip_prefix("s3://")
        {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| BackupError::Usage(format!("backup.store {}: {e}", settings.store)))?;
            (Arc::new(s3), prefix.trim_matches('/').to_owned())
        } else {
            let dir = settings
                .store
                .strip_prefix("file://")
                .unwrap_or(&settings.store);
            std::fs::create_dir_all(dir).map_err(|e| failed(format!("backup.store {dir}: {e}")))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| failed(format!("backup.store {dir}: {e}")))?;
            (Arc::new(local), String::new())
        };
        let prefix = if prefix.is_empty() {
            StorePath::from(env)
        } else {
            StorePath::from(format!("{prefix}/{env}"))
        };
        Ok(Self {
            env: env.to_owned(),
            store,
            prefix,
            recipient,
            identity_env: settings.identity_env.clone(),
            identity: None,
            database: sqlite_path(database_url)?,
            progress,
        })
    }

    fn step(&self, text: &str) {
        if self.progress {
            eprintln!("  {text}");
        }
    }

    fn object(&self, name: &str) -> StorePath {
        self.prefix.child(name)
    }

    /// Uses this identity to verify and restore, instead of the one named by `identity_env`.
    pub fn with_identity(mut self, identity: age::x25519::Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    fn identity(&self) -> Result<age::x25519::Identity, BackupError> {
        if let Some(identity) = &self.identity {
            return Ok(identity.clone());
        }
        let text = std::env::var(&self.identity_env).map_err(|_| {
            BackupError::Usage(format!(
                "{} must hold the age identity (AGE-SECRET-KEY-1…) the backups are encrypted to: verifying and restoring decrypt them",
                self.identity_env
            ))
        })?;
        let identity = archive::identity(&text)
            .map_err(|e| BackupError::Usage(format!("{}: {e}", self.identity_env)))?;
        if identity.to_public().to_string() != self.recipient.to_string() {
            return Err(BackupError::Usage(format!(
                "{} is not the identity of backup.recipient: it cannot decrypt these backups (wrong key)",
                self.identity_env
            )));
        }
        Ok(identity)
    }

    /// Takes a consistent snapshot of the live database, seals it and stores it.
    pub async fn create(&self) -> Result<Manifest, BackupError> {
        // With nothing to compare against, a backup is always stored.
        self.create_unless(None)
            .await?
            .ok_or_else(|| failed("the snapshot was not stored"))
    }

    /// Like [`Backups::create`], but stores nothing (and returns `None`) when the snapshot's
    /// content equals `previous`: the data did not change since that backup.
    async fn create_unless(
        &self,
        previous: Option<&sqlite::Content>,
    ) -> Result<Option<Manifest>, BackupError> {
        let scratch = tempfile::tempdir().map_err(failed)?;
        let snapshot = scratch.path().join("snapshot.db");
        let started = Instant::now();
        let created_at = crate::state::now();
        self.step(&format!("snapshot of {}", self.database.display()));
        sqlite::snapshot(&self.database, &snapshot)
            .await
            .map_err(failed)?;
        let snapshot_seconds = started.elapsed().as_secs_f64();
        let content = sqlite::content(&snapshot).await.map_err(failed)?;
        if previous == Some(&content) {
            return Ok(None);
        }
        let snapshot_bytes = std::fs::metadata(&snapshot).map_err(failed)?.len();
        self.step("compress and encrypt");
        let sealed_path = scratch.path().join("snapshot.db.gz.age");
        let sealed = archive::seal(&snapshot, &sealed_path, &self.recipient).map_err(failed)?;
        let id = format!("{}-{}", compact_utc(created_at), &sealed.sha256[..8]);
        let manifest = Manifest {
            id: id.clone(),
            environment: self.env.clone(),
            created_at,
            engine: "sqlite".into(),
            source: self.database.display().to_string(),
            content,
            snapshot_bytes,
            snapshot_seconds,
            archive_bytes: sealed.bytes,
            archive_sha256: sealed.sha256,
            verification: None,
        };
        self.step(&format!("store {id}"));
        let bytes = tokio::fs::read(&sealed_path).await.map_err(failed)?;
        self.store
            .put(
                &self.object(&format!("{id}.db.gz.age")),
                PutPayload::from(bytes),
            )
            .await
            .map_err(|e| failed(format!("storing {id}: {e}")))?;
        self.put_manifest(&manifest).await?;
        Ok(Some(manifest))
    }

    async fn put_manifest(&self, manifest: &Manifest) -> Result<(), BackupError> {
        let json = serde_json::to_vec_pretty(manifest).map_err(failed)?;
        self.store
            .put(
                &self.object(&format!("{}.json", manifest.id)),
                PutPayload::from(json),
            )
            .await
            .map_err(|e| failed(format!("storing the manifest of {}: {e}", manifest.id)))?;
        Ok(())
    }

    /// Every whole backup of the environment, oldest first.
    pub async fn list(&self) -> Result<Vec<Manifest>, BackupError> {
        let objects = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(|e| failed(format!("listing backups: {e}")))?
            .objects;
        let mut manifests = Vec::new();
        for o in objects {
            if o.location.extension() != Some("json") {
                continue;
            }
            let bytes = self
                .store
                .get(&o.location)
                .await
                .map_err(|e| failed(format!("reading {}: {e}", o.location)))?
                .bytes()
                .await
                .map_err(|e| failed(format!("reading {}: {e}", o.location)))?;
            match serde_json::from_slice::<Manifest>(&bytes) {
                Ok(m) => manifests.push(m),
                Err(e) => {
                    tracing::warn!(object = %o.location, error = %e, "not a backup manifest; skipped")
                }
            }
        }
        manifests.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        Ok(manifests)
    }

    /// The backup a selector names: an id, the newest, or the newest at or before a time.
    pub async fn select(&self, which: &Selector) -> Result<Manifest, BackupError> {
        let all = self.list().await?;
        let found = match which {
            Selector::Latest => all.last(),
            Selector::Id(id) => all.iter().find(|m| &m.id == id),
            Selector::At(t) => all.iter().rev().find(|m| m.created_at <= *t),
        };
        found.cloned().ok_or_else(|| {
            BackupError::Usage(match which {
                Selector::Latest => format!("{} has no backups yet", self.env),
                Selector::Id(id) => format!("{} has no backup {id}", self.env),
                Selector::At(t) => format!(
                    "{} has no backup taken at or before {}",
                    self.env,
                    crate::state::utc(*t)
                ),
            })
        })
    }

    /// Fetches, checks and opens a backup into `into` (a new file), then compares its content
    /// with the manifest. `into` is removed again on any failure.
    async fn fetch(&self, manifest: &Manifest, into: &Path) -> Result<(), BackupError> {
        let identity = self.identity()?;
        let scratch = tempfile::tempdir().map_err(failed)?;
        let sealed = scratch.path().join("backup.db.gz.age");
        let object = self.object(&format!("{}.db.gz.age", manifest.id));
        let bytes = match self.store.get(&object).await {
            Ok(g) => g
                .bytes()
                .await
                .map_err(|e| failed(format!("reading {object}: {e}")))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(failed(format!(
                    "backup {} is missing its snapshot ({object}): the store lost it; choose another backup",
                    manifest.id
                )));
            }
            Err(e) => return Err(failed(format!("reading {object}: {e}"))),
        };
        tokio::fs::write(&sealed, &bytes).await.map_err(failed)?;
        archive::open(&sealed, &manifest.archive_sha256, &identity, into)
            .map_err(|e| failed(format!("backup {}: {e}", manifest.id)))?;
        let check = async {
            let content = sqlite::content(into).await?;
            let mut problems = Vec::new();
            if content.schema_version != manifest.content.schema_version {
                problems.push(format!(
                    "schema version {:?}, the manifest recorded {:?}",
                    content.schema_version, manifest.content.schema_version
                ));
            }
            for (table, want) in &manifest.content.tables {
                match content.tables.get(table) {
                    Some(got) if got == want => {}
                    Some(got) => problems.push(format!(
                        "table {table}: {} rows (sha256 {}), the manifest recorded {} rows (sha256 {})",
                        got.rows,
                        &got.sha256[..12],
                        want.rows,
                        &want.sha256[..12]
                    )),
                    None => problems.push(format!("table {table} is missing")),
                }
            }
            for table in content.tables.keys() {
                if !manifest.content.tables.contains_key(table) {
                    problems.push(format!("table {table} was not in the backup"));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        };
        if let Err(e) = check.await {
            let _ = std::fs::remove_file(into);
            return Err(failed(format!(
                "backup {} does not match its manifest: {e}",
                manifest.id
            )));
        }
        Ok(())
    }

    /// Restores the backup into a scratch copy, checks integrity, schema and every table, and
    /// records the result in the manifest.
    pub async fn verify(&self, which: &Selector) -> Result<Manifest, BackupError> {
        let mut manifest = self.select(which).await?;
        self.step(&format!("verify {}", manifest.id));
        let scratch = tempfile::tempdir().map_err(failed)?;
        let started = Instant::now();
        let result = self
            .fetch(&manifest, &scratch.path().join("verify.db"))
            .await;
        manifest.verification = Some(Verification {
            at: crate::state::now(),
            ok: result.is_ok(),
            seconds: started.elapsed().as_secs_f64(),
            problems: result
                .as_ref()
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default(),
        });
        // A wrong or missing key says nothing about the backup: only its own faults are recorded.
        if !matches!(result, Err(BackupError::Usage(_))) {
            self.put_manifest(&manifest).await?;
        }
        result.map(|()| manifest)
    }

    /// Restores a backup into `into` (a new file by default, never the live database unless it
    /// is named explicitly and the service is stopped), refusing while a deploy holds the lock.
    pub async fn restore(
        &self,
        which: &Selector,
        into: Option<PathBuf>,
        state_dir: &Path,
        max_schema: Option<i64>,
    ) -> Result<(Manifest, PathBuf), BackupError> {
        if let Some(pid) = crate::state::Lock::holder(state_dir) {
            return Err(failed(format!(
                "a deploy holds the lock (pid {pid}): restore after it ends"
            )));
        }
        let manifest = self.select(which).await?;
        if let (Some(max), Some(v)) = (max_schema, manifest.content.schema_version)
            && v > max
        {
            return Err(BackupError::Usage(format!(
                "backup {} has schema version {v}, newer than the release's {max}: deploy that release first, or choose an older backup",
                manifest.id
            )));
        }
        let target = into.unwrap_or_else(|| {
            let mut name = self.database.as_os_str().to_owned();
            name.push(format!(".restored-{}", manifest.id));
            PathBuf::from(name)
        });
        if std::fs::metadata(&target).is_ok_and(|m| m.len() > 0) {
            return Err(BackupError::Usage(format!(
                "the restore target {} exists and is not empty: choose another --into, or move it away",
                target.display()
            )));
        }
        // Restored next to the target and renamed into place: the target never holds half a file.
        let partial = {
            let mut name = target.as_os_str().to_owned();
            name.push(".partial");
            PathBuf::from(name)
        };
        let _ = std::fs::remove_file(&partial);
        self.step(&format!(
            "restore {} into {}",
            manifest.id,
            target.display()
        ));
        self.fetch(&manifest, &partial).await?;
        std::fs::rename(&partial, &target).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            failed(format!(
                "moving the restored database to {}: {e}",
                target.display()
            ))
        })?;
        Ok((manifest, target))
    }
}

impl Backups {
    /// Deletes a backup: its manifest first, so it stops being listed before its snapshot goes.
    pub async fn delete(&self, id: &str) -> Result<(), BackupError> {
        for name in [format!("{id}.json"), format!("{id}.db.gz.age")] {
            match self.store.delete(&self.object(&name)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(failed(format!("deleting {name}: {e}"))),
            }
        }
        Ok(())
    }

    /// The host's backup schedule: a backup each interval while the data changes, each one
    /// verified when the identity is at hand, the tiers pruned, and the metrics file rewritten.
    /// Change is judged by content: each round snapshots (cheap: `VACUUM INTO`) and stores it
    /// only if its tables differ from the newest backup's. Unchanged data takes no new backup,
    /// but the newest is re-verified daily.
    pub async fn schedule(&self, plan: Schedule) -> Result<(), BackupError> {
        loop {
            let all = self.list().await?;
            let stale_verification = all.last().is_none_or(|m| {
                m.verification
                    .as_ref()
                    .is_none_or(|v| crate::state::now() - v.at > 86_400.0)
            });
            match self.create_unless(all.last().map(|m| &m.content)).await {
                Ok(Some(m)) => {
                    tracing::info!(id = %m.id, bytes = m.archive_bytes, seconds = m.snapshot_seconds, "backup taken");
                    self.verify_if_possible(&Selector::Id(m.id)).await;
                }
                Ok(None) if stale_verification => {
                    self.verify_if_possible(&Selector::Latest).await;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "backup failed"),
            }
            let all = self.list().await?;
            let entries: Vec<retention::Entry> = all
                .iter()
                .map(|m| retention::Entry {
                    id: m.id.clone(),
                    created_at: m.created_at,
                    verified_ok: m.verification.as_ref().is_some_and(|v| v.ok),
                })
                .collect();
            for id in retention::expired(&entries, plan.tiers, crate::state::now()) {
                if let Err(e) = self.delete(&id).await {
                    tracing::warn!(%id, error = %e, "pruning failed; retried next round");
                }
            }
            if let Some(path) = &plan.metrics_file {
                let all = self.list().await?;
                if let Err(e) = write_metrics(path, &self.env, &all) {
                    tracing::warn!(path = %path.display(), error = %e, "metrics file not written");
                }
            }
            if plan.once {
                return Ok(());
            }
            tokio::time::sleep(plan.interval).await;
        }
    }

    async fn verify_if_possible(&self, which: &Selector) {
        if self.identity.is_none() && std::env::var_os(&self.identity_env).is_none() {
            return;
        }
        match self.verify(which).await {
            Ok(m) => tracing::info!(id = %m.id, "backup verified"),
            Err(e) => tracing::error!(error = %e, "backup verification failed"),
        }
    }
}

/// How `backup ENV schedule` runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub interval: std::time::Duration,
    pub tiers: retention::Tiers,
    pub metrics_file: Option<PathBuf>,
    pub once: bool,
}

/// The backup gauges in Prometheus's text format, for node_exporter's textfile collector,
/// replaced atomically so a scrape never reads half a file.
pub fn write_metrics(path: &Path, env: &str, all: &[Manifest]) -> std::io::Result<()> {
    let last_success = all.iter().map(|m| m.created_at).fold(0.0, f64::max);
    let last_verified = all
        .iter()
        .filter_map(|m| {
            m.verification
                .as_ref()
                .filter(|v| v.ok)
                .map(|_| m.created_at)
        })
        .fold(0.0, f64::max);
    let size = all.last().map(|m| m.archive_bytes).unwrap_or(0);
    let text = format!(
        "# HELP marketplace_backup_last_success_timestamp_seconds When the newest backup's snapshot was taken.\n\
         # TYPE marketplace_backup_last_success_timestamp_seconds gauge\n\
         marketplace_backup_last_success_timestamp_seconds{{environment=\"{env}\"}} {last_success}\n\
         # HELP marketplace_backup_last_verified_timestamp_seconds When the newest backup that passed verification was taken.\n\
         # TYPE marketplace_backup_last_verified_timestamp_seconds gauge\n\
         marketplace_backup_last_verified_timestamp_seconds{{environment=\"{env}\"}} {last_verified}\n\
         # HELP marketplace_backup_size_bytes Stored size of the newest backup.\n\
         # TYPE marketplace_backup_size_bytes gauge\n\
         marketplace_backup_size_bytes{{environment=\"{env}\"}} {size}\n\
         # HELP marketplace_backups Backups kept.\n\
         # TYPE marketplace_backups gauge\n\
         marketplace_backups{{environment=\"{env}\"}} {}\n",
        all.len()
    );
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Which backup a command means.
#[derive(Debug, Clone)]
pub enum Selector {
    Latest,
    Id(String),
    /// The newest taken at or before this Unix time.
    At(f64),
}

impl Selector {
    /// What `restore`'s `--backup ID` / `--to TIME` / `--latest` name (an id wins).
    pub fn from_args(to: Option<String>, backup: Option<String>) -> Result<Self, BackupError> {
        Ok(match (to, backup) {
            (_, Some(id)) => Selector::Id(id),
            (Some(t), None) => Selector::At(parse_time(&t)?),
            (None, None) => Selector::Latest,
        })
    }
}

/// `--to` times: RFC 3339 (`2026-11-30T14:55:00Z`) or Unix seconds.
pub fn parse_time(text: &str) -> Result<f64, BackupError> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Ok(seconds);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
        .map_err(|e| {
            BackupError::Usage(format!(
                "--to {text:?} is not a time: use RFC 3339 (2026-11-30T14:55:00Z) or Unix seconds ({e})"
            ))
        })
}

/// `20261130T145500Z`: sortable, and safe in object names.
fn compact_utc(seconds: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The human table of `backup list`.
pub fn table(manifests: &[Manifest]) -> String {
    let mut out = format!(
        "{:<28} {:<21} {:>10} {:>10} {:>7} {}\n",
        "ID", "TAKEN (UTC)", "DATABASE", "STORED", "SCHEMA", "VERIFIED"
    );
    for m in manifests {
        let verified = match &m.verification {
            None => "not yet".to_owned(),
            Some(v) if v.ok => format!("ok {}", crate::state::utc(v.at)),
            Some(v) => format!("FAILED: {}", v.problems.join("; ")),
        };
        out.push_str(&format!(
            "{:<28} {:<21} {:>10} {:>10} {:>7} {}\n",
            m.id,
            crate::state::utc(m.created_at),
            human_bytes(m.snapshot_bytes),
            human_bytes(m.archive_bytes),
            m.content
                .schema_version
                .map(|v| (v % 100_000).to_string())
                .unwrap_or_else(|| "-".into()),
            verified
        ));
    }
    out
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
