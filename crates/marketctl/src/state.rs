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

/// One deploy or rollback. Appended when it starts (no outcome) and again when it ends; the last
/// line for an id wins, so a record with no outcome means marketctl died mid-deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub environment: String,
    pub user: String,
    pub action: String,
    pub strategy: Option<String>,
    pub from_version: Option<String>,
    pub to_version: String,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// What passed without proof, such as an analysis with too little traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Record {
    pub fn duration_seconds(&self) -> Option<f64> {
        self.finished_at.map(|f| f - self.started_at)
    }
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

    /// Every record, latest state of each, in start order. Unreadable lines (a torn write from a
    /// crash) are skipped rather than failing every later command.
    pub fn records(&self) -> std::io::Result<Vec<Record>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
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
        Ok(order
            .into_iter()
            .filter_map(|id| latest.remove(&id))
            .collect())
    }

    /// Versions that were successfully deployed, oldest first.
    pub fn deployed_versions(&self) -> std::io::Result<Vec<String>> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| r.outcome.as_deref() == Some("deployed"))
            .map(|r| r.to_version)
            .collect())
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

    fn record(id: &str, outcome: Option<&str>, to: &str) -> Record {
        Record {
            id: id.into(),
            environment: "local".into(),
            user: "t".into(),
            action: "deploy".into(),
            strategy: Some("rolling".into()),
            from_version: None,
            to_version: to.into(),
            started_at: 1.0,
            finished_at: outcome.map(|_| 2.0),
            outcome: outcome.map(str::to_owned),
            reason: None,
            warnings: vec![],
        }
    }

    #[test]
    fn the_last_line_for_a_record_wins_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        h.append(&record("a", None, "v1")).unwrap();
        h.append(&record("a", Some("deployed"), "v1")).unwrap();
        h.append(&record("b", None, "v2")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("history.jsonl"))
            .unwrap()
            .write_all(b"{\"id\":\"c\",\"tor")
            .unwrap();
        let records = h.records().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].outcome.as_deref(), Some("deployed"));
        assert!(records[1].outcome.is_none(), "b never finished");
        assert_eq!(h.deployed_versions().unwrap(), vec!["v1"]);
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
