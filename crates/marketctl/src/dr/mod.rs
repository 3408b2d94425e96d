//! `marketctl dr drill`: lose the database under a write load, recover it, and measure RPO, RTO and every lost write.
//!
//! The drill never touches the environment's own database. It runs the environment's release
//! in a sandbox (its own directory, port and database, seeded with the demo data), backs it up
//! the way the environment would (the backup schedule on SQLite; pgBackRest with WAL archiving
//! on PostgreSQL), writes to it through the API while recording every acknowledged write,
//! destroys the database, restores the latest point, brings the service back, and then checks
//! which acknowledged writes survived.

pub mod load;
pub mod postgres;

use crate::backup::{Backups, Selector};
use crate::config::BackupSettings;
use load::{Kind, Load, Write};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What the drill must meet: RPO at most a minute, RTO at most five.
pub const RPO_LIMIT_SECONDS: f64 = 60.0;
pub const RTO_LIMIT_SECONDS: f64 = 300.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub env: String,
    pub release: PathBuf,
    pub engine: Engine,
    /// How long the write load runs before the database is destroyed.
    pub load_seconds: f64,
    pub writers: usize,
    /// SQLite: seconds between backups. PostgreSQL: `archive_timeout`, the longest a finished
    /// write waits before its WAL is archived. Either way, the bound on the RPO.
    pub interval: Duration,
    /// Where the sandbox lives (default: a temporary directory, removed afterwards).
    pub workdir: Option<PathBuf>,
    pub progress: bool,
}

/// The drill's findings, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub environment: String,
    pub engine: Engine,
    pub release: String,
    pub method: String,
    pub started_at: f64,
    pub loss_at: f64,
    pub ready_at: f64,
    /// From the moment of loss back to the newest write that survived.
    pub rpo_seconds: f64,
    /// From the moment of loss until the service answered ready again.
    pub rto_seconds: f64,
    pub restore_seconds: f64,
    pub restart_seconds: f64,
    pub restored_from: String,
    pub writes_acknowledged: usize,
    pub writes_survived: usize,
    pub writes_lost: Vec<Write>,
    /// Lost writes acknowledged before one that survived, or more than the RPO limit before
    /// the loss: either means the recovery is not a consistent recent point.
    pub writes_lost_beyond_rpo: Vec<Write>,
    pub refused_during_load: u64,
    pub integrity: String,
    pub write_after_recovery: Option<i64>,
    pub limits: Limits,
    pub problems: Vec<String>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub rpo_seconds: f64,
    pub rto_seconds: f64,
}

/// Why the drill could not run at all (as opposed to running and failing its limits).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl DrillError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DrillError::Usage(_) => 64,
            DrillError::Failed(_) => 1,
        }
    }
}

fn failed(e: impl std::fmt::Display) -> DrillError {
    DrillError::Failed(e.to_string())
}

/// The release running in the sandbox.
struct Service {
    child: tokio::process::Child,
    base: String,
}

impl Service {
    async fn start(
        release: &Path,
        env: &BTreeMap<String, String>,
        log: &Path,
    ) -> Result<Self, DrillError> {
        // Anything the release writes by a relative path lands in the sandbox too.
        let cwd = log.parent().unwrap_or(Path::new("."));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| failed(format!("{}: {e}", log.display())))?;
        let err = out.try_clone().map_err(failed)?;
        let child = tokio::process::Command::new(release)
            .arg("serve")
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("starting {}: {e}", release.display())))?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{}", env["TM_SERVER_PORT"]),
        })
    }

    /// Stops gracefully (SIGTERM), killing it if it does not exit within 30 s.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }

    async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Polls `/health/ready` until it answers 200, the process exits, or `timeout` passes.
async fn wait_ready(
    service: &mut Service,
    timeout: Duration,
    log: &Path,
) -> Result<(), DrillError> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client
            .get(format!("{}/health/ready", service.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        if let Ok(Some(status)) = service.child.try_wait() {
            return Err(failed(format!(
                "the service exited ({status}) before it was ready; its log: {}",
                tail(log)
            )));
        }
        if started.elapsed() > timeout {
            return Err(failed(format!(
                "the service was not ready within {} s; its log: {}",
                timeout.as_secs(),
                tail(log)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn free_port() -> Result<u16, DrillError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(format!("finding a free port: {e}")))
}

/// The sandbox service's settings: the demo data, its own port and files, and write limits
/// lifted so the load measures recovery, not the rate limiter.
fn service_env(dir: &Path, database_url: &str, port: u16) -> BTreeMap<String, String> {
    use rand::RngCore;
    let mut secret = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut secret);
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    [
        ("TM_ENV", "development".to_owned()),
        ("TM_CONFIG_DIR", dir.join("no-config").display().to_string()),
        ("TM_DATABASE_URL", database_url.to_owned()),
        ("TM_MEDIA_DIR", dir.join("media").display().to_string()),
        ("TM_MAIL_FOLDER", dir.join("mail").display().to_string()),
        // The restored service opens what the first one encrypted: one key file for both.
        (
            "TM_ENCRYPTION_LOCAL_KEY_FILE",
            dir.join("field-encryption.key").display().to_string(),
        ),
        ("TM_DEMO_SEED_WHEN_EMPTY", "true".into()),
        ("TM_SERVER_HOST", "127.0.0.1".into()),
        ("TM_SERVER_PORT", port.to_string()),
        ("TM_SERVER_PRE_STOP_DELAY_MS", "0".into()),
        ("TM_SESSION_SECRET", secret),
        ("TM_AUTH_API_WRITES_PER_MINUTE", "1000000".into()),
        ("TM_AUTH_ATTEMPTS_PER_MINUTE", "1000".into()),
        ("TM_LOG_LEVEL", "warn".into()),
        ("TM_LOG_FORMAT", "json".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs the drill and reports; `Err` only when it could not run at all.
pub async fn drill(mut options: DrillOptions) -> Result<Report, DrillError> {
    if !options.release.is_file() {
        return Err(DrillError::Usage(format!(
            "the release {} does not exist: pass --release with a marketplace binary",
            options.release.display()
        )));
    }
    // The release runs from the sandbox: a relative path must not change meaning.
    options.release = options.release.canonicalize().map_err(failed)?;
    if options.writers == 0 || options.load_seconds <= 0.0 {
        return Err(DrillError::Usage(
            "the drill needs at least one writer and some seconds of load".into(),
        ));
    }
    let scratch;
    let dir = match &options.workdir {
        Some(d) => {
            if std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()) {
                return Err(DrillError::Usage(format!(
                    "--workdir {} is not empty: the drill destroys what is in it",
                    d.display()
                )));
            }
            std::fs::create_dir_all(d).map_err(failed)?;
            d.canonicalize().map_err(failed)?
        }
        None => {
            scratch = tempfile::Builder::new()
                .prefix("marketctl-drill-")
                .tempdir()
                .map_err(failed)?;
            scratch.path().to_owned()
        }
    };
    let step = |text: &str| {
        if options.progress {
            eprintln!("  {text}");
        }
    };
    match options.engine {
        Engine::Sqlite => sqlite_drill(&options, &dir, &step).await,
        Engine::Postgres => postgres::drill(&options, &dir, &step).await,
    }
}

async fn sqlite_drill(
    options: &DrillOptions,
    dir: &Path,
    step: &dyn Fn(&str),
) -> Result<Report, DrillError> {
    let started_at = crate::state::now();
    let db = dir.join("drill.db");
    let url = format!("sqlite://{}", db.display());
    let log = dir.join("service.log");
    let env = service_env(dir, &url, free_port()?);
    step("start the release on a demo database");
    let mut service = Service::start(&options.release, &env, &log).await?;
    wait_ready(&mut service, Duration::from_secs(180), &log).await?;

    // A key made for the drill: its backups are throwaway, and no secret is needed to run it.
    let identity = age::x25519::Identity::generate();
    let settings = BackupSettings {
        store: format!("file://{}", dir.join("backups").display()),
        recipient: identity.to_public().to_string(),
        identity_env: "MARKETCTL_DRILL_IDENTITY_UNUSED".into(),
    };
    let backups = Arc::new(
        Backups::new(&options.env, &settings, &url, false)
            .map_err(failed)?
            .with_identity(identity),
    );
    step(&format!(
        "backups every {} s while {} writers send booking requests and messages for {} s",
        options.interval.as_secs(),
        options.writers,
        options.load_seconds
    ));
    let schedule = {
        let backups = backups.clone();
        let plan = crate::backup::Schedule {
            interval: options.interval,
            tiers: crate::backup::retention::Tiers::default(),
            metrics_file: None,
            once: false,
        };
        tokio::spawn(async move { backups.schedule(plan).await })
    };
    let (load, writers) = Load::start(&service.base, options.writers, Duration::from_millis(100))
        .await
        .map_err(failed)?;
    tokio::time::sleep(Duration::from_secs_f64(options.load_seconds)).await;

    step("destroy the database: kill the service, delete the file and its write-ahead log");
    load.stop.store(true, Ordering::SeqCst);
    let loss_at = crate::state::now();
    let lost_at = Instant::now();
    service.kill().await;
    schedule.abort();
    for w in writers {
        let _ = w.await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(format!("destroying the database: {e}"))),
        }
    }

    step("restore the newest backup and start the release on it");
    let restore_started = Instant::now();
    let (manifest, _) = backups
        .restore(
            &Selector::Latest,
            Some(db.clone()),
            &dir.join("state"),
            None,
        )
        .await
        .map_err(|e| failed(format!("restoring: {e}")))?;
    let restore_seconds = restore_started.elapsed().as_secs_f64();
    let restart_started = Instant::now();
    let mut service = Service::start(&options.release, &env, &log).await?;
    wait_ready(
        &mut service,
        Duration::from_secs(RTO_LIMIT_SECONDS as u64),
        &log,
    )
    .await?;
    let rto_seconds = lost_at.elapsed().as_secs_f64();
    let restart_seconds = restart_started.elapsed().as_secs_f64();
    let ready_at = crate::state::now();

    let (survivors, integrity) = sqlite_ids(&db).await?;
    let write_after = load::one_write(&service.base).await;
    service.stop().await;
    let writes = load.snapshot().await;
    Ok(judge(Findings {
        options,
        method: format!(
            "SQLite: VACUUM INTO snapshot every {} s while the data changes, gzip + age, restored from a file store",
            options.interval.as_secs()
        ),
        started_at,
        loss_at,
        ready_at,
        rto_seconds,
        restore_seconds,
        restart_seconds,
        restored_from: format!(
            "backup {} (taken {} UTC)",
            manifest.id,
            crate::state::utc(manifest.created_at)
        ),
        writes,
        survivors,
        refused: load.refused.load(Ordering::Relaxed),
        integrity,
        write_after,
    }))
}

/// The ids of every request and message in the restored database, and its integrity check,
/// read beside the running service (which has it in WAL mode).
async fn sqlite_ids(db: &Path) -> Result<(BTreeSet<(Kind, i64)>, String), DrillError> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|e| failed(format!("opening the restored database: {e}")))?;
    let mut ids = BTreeSet::new();
    for kind in [Kind::BookingRequest, Kind::Message] {
        let rows: Vec<i64> = sqlx::query_scalar(&format!("SELECT id FROM {}", kind.table()))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| failed(format!("reading {}: {e}", kind.table())))?;
        ids.extend(rows.into_iter().map(|id| (kind, id)));
    }
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| failed(format!("integrity check: {e}")))?;
    conn.close().await.ok();
    Ok((ids, integrity.join("; ")))
}

/// What a drill observed, before it is judged.
struct Findings<'a> {
    options: &'a DrillOptions,
    method: String,
    started_at: f64,
    loss_at: f64,
    ready_at: f64,
    rto_seconds: f64,
    restore_seconds: f64,
    restart_seconds: f64,
    restored_from: String,
    writes: Vec<Write>,
    survivors: BTreeSet<(Kind, i64)>,
    refused: u64,
    integrity: String,
    write_after: Result<i64, String>,
}

fn judge(f: Findings<'_>) -> Report {
    let (survived, mut lost): (Vec<&Write>, Vec<&Write>) = f
        .writes
        .iter()
        .partition(|w| f.survivors.contains(&(w.kind, w.id)));
    lost.sort_by(|a, b| a.at.total_cmp(&b.at));
    let last_survivor = survived.iter().map(|w| w.at).fold(f.started_at, f64::max);
    let rpo_seconds = (f.loss_at - last_survivor).max(0.0);
    let beyond: Vec<Write> = lost
        .iter()
        .filter(|w| w.at < last_survivor || f.loss_at - w.at > RPO_LIMIT_SECONDS)
        .map(|w| (*w).clone())
        .collect();
    let mut problems = Vec::new();
    if f.writes.is_empty() {
        problems.push("no write was acknowledged: the load never reached the service".into());
    }
    if rpo_seconds > RPO_LIMIT_SECONDS {
        problems.push(format!(
            "RPO {rpo_seconds:.1} s is over {RPO_LIMIT_SECONDS} s"
        ));
    }
    if f.rto_seconds > RTO_LIMIT_SECONDS {
        problems.push(format!(
            "RTO {:.1} s is over {RTO_LIMIT_SECONDS} s",
            f.rto_seconds
        ));
    }
    if !beyond.is_empty() {
        problems.push(format!(
            "{} lost writes are older than the RPO allows, or older than a write that survived",
            beyond.len()
        ));
    }
    if f.integrity != "ok" {
        problems.push(format!("integrity: {}", f.integrity));
    }
    if let Err(e) = &f.write_after {
        problems.push(e.clone());
    }
    Report {
        environment: f.options.env.clone(),
        engine: f.options.engine,
        release: f.options.release.display().to_string(),
        method: f.method,
        started_at: f.started_at,
        loss_at: f.loss_at,
        ready_at: f.ready_at,
        rpo_seconds,
        rto_seconds: f.rto_seconds,
        restore_seconds: f.restore_seconds,
        restart_seconds: f.restart_seconds,
        restored_from: f.restored_from,
        writes_acknowledged: f.writes.len(),
        writes_survived: survived.len(),
        writes_lost: lost.into_iter().cloned().collect(),
        writes_lost_beyond_rpo: beyond,
        refused_during_load: f.refused,
        integrity: f.integrity,
        write_after_recovery: f.write_after.ok(),
        limits: Limits {
            rpo_seconds: RPO_LIMIT_SECONDS,
            rto_seconds: RTO_LIMIT_SECONDS,
        },
        passed: problems.is_empty(),
        problems,
    }
}

/// The human report.
pub fn table(r: &Report) -> String {
    let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
    // Every lost id is in the JSON; people get each kind's count, id range and age.
    let lost: Vec<String> = [
        (Kind::BookingRequest, "requests"),
        (Kind::Message, "messages"),
    ]
    .iter()
    .filter_map(|(kind, name)| {
        let of: Vec<&Write> = r.writes_lost.iter().filter(|w| w.kind == *kind).collect();
        let lo = of.iter().map(|w| w.id).min()?;
        let hi = of.iter().map(|w| w.id).max()?;
        let oldest = of.iter().map(|w| r.loss_at - w.at).fold(0.0, f64::max);
        Some(format!(
            "{} {name} (ids {lo}-{hi}), the oldest acknowledged {oldest:.1} s before the loss",
            of.len()
        ))
    })
    .collect();
    let mut out = format!(
        "{} drill of {} ({}), {} UTC\n  {}\n  restored from {}\n\n",
        match r.engine {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        },
        r.environment,
        r.release,
        crate::state::utc(r.started_at),
        r.method,
        r.restored_from
    );
    out.push_str(&format!(
        "{:<22} {:>12} {:>12} {}\n",
        "MEASURE", "MEASURED", "LIMIT", "RESULT"
    ));
    out.push_str(&format!(
        "{:<22} {:>10.1} s {:>10.0} s {}\n",
        "RPO",
        r.rpo_seconds,
        r.limits.rpo_seconds,
        verdict(r.rpo_seconds <= r.limits.rpo_seconds)
    ));
    out.push_str(&format!(
        "{:<22} {:>10.1} s {:>10.0} s {}\n",
        "RTO",
        r.rto_seconds,
        r.limits.rto_seconds,
        verdict(r.rto_seconds <= r.limits.rto_seconds)
    ));
    out.push_str(&format!(
        "{:<22} {:>10.1} s\n{:<22} {:>10.1} s\n",
        "  restore", r.restore_seconds, "  restart to ready", r.restart_seconds
    ));
    out.push_str(&format!(
        "{:<22} {:>12}\n{:<22} {:>12}\n{:<22} {:>12} {:>12} {}\n",
        "writes acknowledged",
        r.writes_acknowledged,
        "writes survived",
        r.writes_survived,
        "writes lost",
        r.writes_lost.len(),
        "",
        verdict(r.writes_lost_beyond_rpo.is_empty())
    ));
    out.push_str(&format!(
        "{:<22} {:>12} {:>12} {}\n{:<22} {:>12} {:>12} {}\n",
        "integrity",
        r.integrity,
        "",
        verdict(r.integrity == "ok"),
        "write after recovery",
        r.write_after_recovery
            .map(|id| format!("request {id}"))
            .unwrap_or_else(|| "none".into()),
        "",
        verdict(r.write_after_recovery.is_some())
    ));
    if !lost.is_empty() {
        out.push_str(&format!("\nlost: {}\n", lost.join("; ")));
    }
    out.push_str(&if r.passed {
        "\ndrill passed\n".to_owned()
    } else {
        format!("\ndrill FAILED: {}\n", r.problems.join("; "))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(writes: Vec<Write>, survivors: &[(Kind, i64)], rto: f64) -> Report {
        let options = DrillOptions {
            env: "local".into(),
            release: "marketplace".into(),
            engine: Engine::Sqlite,
            load_seconds: 10.0,
            writers: 1,
            interval: Duration::from_secs(30),
            workdir: None,
            progress: false,
        };
        judge(Findings {
            options: &options,
            method: String::new(),
            started_at: 1000.0,
            loss_at: 1100.0,
            ready_at: 1100.0 + rto,
            rto_seconds: rto,
            restore_seconds: 0.1,
            restart_seconds: 0.2,
            restored_from: String::new(),
            writes,
            survivors: survivors.iter().copied().collect(),
            refused: 0,
            integrity: "ok".into(),
            write_after: Ok(1),
        })
    }

    fn w(kind: Kind, id: i64, at: f64) -> Write {
        Write { kind, id, at }
    }

    #[test]
    fn losing_only_the_newest_writes_passes_with_the_rpo_from_the_last_survivor() {
        let r = findings(
            vec![
                w(Kind::BookingRequest, 1, 1050.0),
                w(Kind::Message, 1, 1060.0),
                w(Kind::BookingRequest, 2, 1090.0),
            ],
            &[(Kind::BookingRequest, 1), (Kind::Message, 1)],
            3.0,
        );
        assert!(r.passed, "{:?}", r.problems);
        assert_eq!(r.rpo_seconds, 40.0);
        assert_eq!(r.writes_lost.len(), 1);
        assert!(table(&r).contains("1 requests (ids 2-2)"), "{}", table(&r));
    }

    #[test]
    fn a_hole_behind_a_survivor_an_old_loss_a_slow_recovery_or_no_writes_fail() {
        // A write lost while a later one survived: not a consistent point in time.
        let hole = findings(
            vec![
                w(Kind::BookingRequest, 1, 1080.0),
                w(Kind::BookingRequest, 2, 1090.0),
            ],
            &[(Kind::BookingRequest, 2)],
            3.0,
        );
        assert!(!hole.passed);
        assert_eq!(hole.writes_lost_beyond_rpo.len(), 1);

        let old = findings(
            vec![
                w(Kind::BookingRequest, 1, 1010.0),
                w(Kind::BookingRequest, 2, 1090.0),
            ],
            &[],
            3.0,
        );
        assert!(!old.passed);
        assert!(
            old.problems.iter().any(|p| p.contains("RPO 100.0 s")),
            "{:?}",
            old.problems
        );

        let slow = findings(
            vec![w(Kind::Message, 1, 1099.0)],
            &[(Kind::Message, 1)],
            301.0,
        );
        assert!(!slow.passed);
        assert!(
            slow.problems.iter().any(|p| p.contains("RTO")),
            "{:?}",
            slow.problems
        );

        let idle = findings(Vec::new(), &[], 1.0);
        assert!(!idle.passed);
        assert!(table(&idle).contains("drill FAILED"));
    }
}
