//! What marketctl keeps on disk per environment: released binaries (rollback targets), the
//! deploy history, and the lock that allows one deploy at a time.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How traffic moves to a new release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Canary,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Deploy,
    Rollback,
}

/// How a deploy or rollback ended. The aliases read the labels older histories stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    Deployed,
    #[serde(alias = "already live")]
    Unchanged,
    #[serde(alias = "rolled back")]
    RolledBack,
    Failed,
    #[serde(alias = "timed out")]
    TimedOut,
}

impl Ended {
    pub fn label(self) -> &'static str {
        match self {
            Ended::Deployed => "deployed",
            Ended::Unchanged => "already live",
            Ended::RolledBack => "rolled back",
            Ended::Failed => "failed",
            Ended::TimedOut => "timed out",
        }
    }
}

/// Where a deploy is: stored with every change, so `status` and a reconciling rerun know the
/// step it reached (Argo Rollouts' `currentStepIndex`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Checks,
    Migrating,
    Starting,
    /// Canary step `index` (from 0) of the configured steps, at `weight` percent.
    Canary {
        index: usize,
        weight: u32,
    },
    /// Rolling step `index` (from 0): that many instances replaced.
    Rolling {
        index: usize,
    },
    /// All traffic but the baseline slice on the new release, under analysis.
    Bake,
    /// All traffic on the new release, the old one still warm (the scale-down delay).
    PostPromotion,
    Retiring,
    RollingBack,
    /// On ECS: the service deployment's lifecycle stage.
    Ecs {
        stage: String,
    },
    Done,
}

/// Why a release counts as known-good: the only releases a bare `rollback` returns to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Proof {
    /// It passed analysis on this many windows with enough requests to judge.
    Analysis { windows: u32 },
    /// It served this long after its deploy with no breach in its latest window.
    Served { seconds: f64 },
}

impl std::fmt::Display for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proof::Analysis { windows } => write!(f, "passed analysis on {windows} windows"),
            Proof::Served { seconds } => {
                write!(f, "served {:.0} min without a breach", seconds / 60.0)
            }
        }
    }
}

/// One deploy or rollback. Appended when it starts (no outcome), at each phase, and when it
/// ends; the last line for an id wins, so a record with no outcome means marketctl died
/// mid-deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub environment: String,
    pub user: String,
    pub action: Action,
    pub strategy: Option<Strategy>,
    pub from_version: Option<String>,
    pub to_version: String,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub outcome: Option<Ended>,
    pub reason: Option<String>,
    /// What passed without proof, such as an analysis with too little traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Set once the release it deployed is known-good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<Proof>,
    /// Seconds from the start until traffic was off the new release, for a rolled-back deploy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_off_after: Option<f64>,
    /// What the release is on its platform, for going back to it: on ECS, the task definition
    /// revision (the version is the image digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// On ECS: the revision that was live before, and the service deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_artifact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_deployment: Option<String>,
}

impl Record {
    pub fn new(environment: &str, action: Action, to_version: &str) -> Self {
        let started_at = now();
        Self {
            id: format!("{started_at:.3}-{}", std::process::id()),
            environment: environment.to_owned(),
            user: who(),
            action,
            strategy: None,
            from_version: None,
            to_version: to_version.to_owned(),
            started_at,
            finished_at: None,
            outcome: None,
            reason: None,
            warnings: Vec::new(),
            phase: None,
            proven: None,
            traffic_off_after: None,
            artifact: None,
            previous_artifact: None,
            platform_deployment: None,
        }
    }

    pub fn duration_seconds(&self) -> Option<f64> {
        self.finished_at.map(|f| f - self.started_at)
    }

    /// The start as UTC `YYYY-MM-DD HH:MM:SS`, for people reading the history.
    pub fn started(&self) -> String {
        utc(self.started_at)
    }
}

/// Who is deploying, for the history: the login name, or the uid where none is set (a
/// container or a CI step).
pub fn who() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .and_then(|l| l.split_whitespace().next().map(|u| format!("uid {u}")))
                })
                .unwrap_or_else(|| "unknown".into())
        })
}

/// Unix seconds as UTC `YYYY-MM-DD HH:MM:SS`.
pub fn utc(seconds: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("{seconds:.0}"))
}

/// A history's JSON lines, latest state of each record, in start order. Unreadable lines (a
/// torn write from a crash) are skipped rather than failing every later command.
pub fn latest_records(text: &str) -> Vec<Record> {
    let mut order: Vec<String> = Vec::new();
    let mut latest = std::collections::HashMap::new();
    for record in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
    {
        if !latest.contains_key(&record.id) {
            order.push(record.id.clone());
        }
        latest.insert(record.id.clone(), record);
    }
    order
        .into_iter()
        .filter_map(|id| latest.remove(&id))
        .collect()
}

/// The latest deploy that made a known-good release other than `except` live.
pub fn last_known_good<'r>(records: &'r [Record], except: Option<&str>) -> Option<&'r Record> {
    let proven: std::collections::HashSet<&str> = records
        .iter()
        .filter(|r| r.proven.is_some())
        .map(|r| r.to_version.as_str())
        .collect();
    records.iter().rev().find(|r| {
        r.outcome == Some(Ended::Deployed)
            && Some(r.to_version.as_str()) != except
            && proven.contains(r.to_version.as_str())
    })
}

pub struct History {
    path: PathBuf,
}

impl History {
    pub fn open(state_dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        Ok(Self {
            path: state_dir.join("history.jsonl"),
        })
    }

    pub fn append(&self, record: &Record) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        writeln!(file, "{line}")?;
        file.sync_data()
    }

    /// Every record, latest state of each, in start order.
    pub fn records(&self) -> std::io::Result<Vec<Record>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(latest_records(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The last known-good release other than `except` (the live one): what a bare rollback
    /// returns to. A release a rollback put back counts with its original proof.
    pub fn last_known_good(&self, except: Option<&str>) -> std::io::Result<Option<String>> {
        Ok(last_known_good(&self.records()?, except).map(|r| r.to_version.clone()))
    }

    /// The record of the deploy that made `version` live, if any.
    pub fn deploy_of(&self, version: &str) -> std::io::Result<Option<Record>> {
        Ok(self.records()?.into_iter().rev().find(|r| {
            r.action == Action::Deploy
                && r.to_version == version
                && r.outcome == Some(Ended::Deployed)
        }))
    }

    /// Every version this environment ever ran, newest first.
    pub fn versions(&self) -> std::io::Result<Vec<String>> {
        let mut seen = Vec::new();
        for r in self.records()?.into_iter().rev() {
            if !seen.contains(&r.to_version) {
                seen.push(r.to_version);
            }
        }
        Ok(seen)
    }
}

/// Held for the whole of a deploy or rollback; removed on drop.
pub struct Lock {
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deploy is running (pid {0}); wait for it or stop it first")]
    Busy(u32),
    #[error("deploy lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Lock {
    /// The pid of a running marketctl holding the lock: a deploy or rollback under way.
    pub fn holder(state_dir: &Path) -> Option<u32> {
        std::fs::read_to_string(state_dir.join("deploy.lock"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|pid| alive(*pid))
    }

    /// Takes the lock, replacing it if its holder is no longer running (a stale lock).
    pub fn acquire(state_dir: &Path) -> Result<(Self, Option<u32>), LockError> {
        let path = state_dir.join("deploy.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut replaced = None;
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).map_err(io)?;
                    return Ok((Self { path }, replaced));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if alive(pid) && pid != std::process::id() => {
                            return Err(LockError::Busy(pid));
                        }
                        _ => {
                            replaced = holder;
                            std::fs::remove_file(&path).map_err(io)?;
                        }
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        Err(LockError::Busy(0))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where a release's binary is kept so it can be rolled back to.
pub fn release_path(state_dir: &Path, version: &str) -> PathBuf {
    state_dir.join("releases").join(version).join("marketplace")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, outcome: Option<Ended>, to: &str) -> Record {
        Record {
            id: id.into(),
            finished_at: outcome.map(|_| 2.0),
            outcome,
            ..Record::new("local", Action::Deploy, to)
        }
    }

    #[test]
    fn the_last_line_for_a_record_wins_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.append(&record("a", None, "v1")).unwrap();
        h.append(&record("a", Some(Ended::Deployed), "v1")).unwrap();
        h.append(&record("b", None, "v2")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("history.jsonl"))
            .unwrap()
            .write_all(b"{\"id\":\"c\",\"tor")
            .unwrap();
        let records = h.records().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].outcome, Some(Ended::Deployed));
        assert!(records[1].outcome.is_none(), "b never finished");
        assert_eq!(h.versions().unwrap(), vec!["v2", "v1"]);
    }

    #[test]
    fn a_bare_rollback_target_is_the_last_proven_release_not_the_last_deployed() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        let mut v1 = record("1", Some(Ended::Deployed), "v1");
        v1.proven = Some(Proof::Analysis { windows: 4 });
        h.append(&v1).unwrap();
        // v2 shipped on a quiet night: deployed, never proven.
        h.append(&record("2", Some(Ended::Deployed), "v2")).unwrap();
        h.append(&record("3", Some(Ended::RolledBack), "v3"))
            .unwrap();
        assert_eq!(
            h.last_known_good(Some("v2")).unwrap().as_deref(),
            Some("v1")
        );
        assert_eq!(h.last_known_good(Some("v1")).unwrap(), None);
        // A rollback to v1 is a deploy of v1 without analysis: v1 keeps its earlier proof.
        let mut back = record("4", Some(Ended::Deployed), "v1");
        back.action = Action::Rollback;
        h.append(&back).unwrap();
        assert_eq!(
            h.last_known_good(Some("v3")).unwrap().as_deref(),
            Some("v1")
        );
    }

    #[test]
    fn histories_written_before_typed_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("history.jsonl"),
            r#"{"id":"1.000-1","environment":"local","user":"u","action":"deploy","strategy":"blue-green","from_version":null,"to_version":"v1","started_at":1.0,"finished_at":2.0,"outcome":"rolled back","reason":"x"}"#,
        )
        .unwrap();
        let records = History::open(dir.path()).unwrap().records().unwrap();
        assert_eq!(records[0].outcome, Some(Ended::RolledBack));
        assert_eq!(records[0].strategy, Some(Strategy::BlueGreen));
    }

    #[test]
    fn the_lock_admits_one_holder_and_replaces_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let (held, _) = Lock::acquire(dir.path()).unwrap();
        // This process already holds it: a second acquire from elsewhere would see a live pid.
        std::fs::write(dir.path().join("deploy.lock"), "1").unwrap();
        assert!(
            matches!(Lock::acquire(dir.path()), Err(LockError::Busy(1))),
            "pid 1 is alive"
        );
        std::fs::write(dir.path().join("deploy.lock"), "4000000").unwrap();
        let (_again, replaced) = Lock::acquire(dir.path()).unwrap();
        assert_eq!(
            replaced,
            Some(4_000_000),
            "a dead holder's lock is replaced"
        );
        drop(held);
    }
}
