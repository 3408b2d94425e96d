//! The drill on PostgreSQL: a cluster of its own (`initdb`, `pg_ctl`, another port), pgBackRest with WAL archiving into an encrypted repository, loss of the data directory, and recovery to the end of the archived WAL.

use super::load::{Kind, Load};
use super::{DrillError, DrillOptions, Findings, Report, Service, failed, judge, wait_ready};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const STANZA: &str = "marketplace";
const DATABASE: &str = "marketplace";

/// pgBackRest's settings for a cluster: WAL archived to an encrypted repository, so a restore
/// reaches any point up to the last archived segment.
pub fn pgbackrest_conf(
    repo: &Path,
    cipher_pass: &str,
    data: &Path,
    port: u16,
    socket: &Path,
    spool: &Path,
) -> String {
    format!(
        "[global]\n\
         repo1-path={}\n\
         repo1-cipher-type=aes-256-cbc\n\
         repo1-cipher-pass={cipher_pass}\n\
         repo1-retention-full=2\n\
         log-path={spool}/log\n\
         lock-path={spool}/lock\n\
         log-level-console=warn\n\
         log-level-file=info\n\
         start-fast=y\n\n\
         [{STANZA}]\n\
         pg1-path={}\n\
         pg1-port={port}\n\
         pg1-socket-path={}\n\
         pg1-user=postgres\n",
        repo.display(),
        data.display(),
        socket.display(),
        spool = spool.display(),
    )
}

/// The server settings WAL archiving needs; `archive_timeout` bounds how long a committed
/// write waits before its segment is archived, and so the RPO.
pub fn archiving_settings(conf: &Path, archive_timeout: Duration) -> String {
    format!(
        "\n# marketctl: WAL archiving through pgBackRest\n\
         wal_level = replica\n\
         archive_mode = on\n\
         archive_command = 'pgbackrest --config={} --stanza={STANZA} archive-push %p'\n\
         archive_timeout = {}\n\
         max_wal_senders = 3\n",
        conf.display(),
        archive_timeout.as_secs().max(1)
    )
}

/// A throwaway cluster and its pgBackRest repository under the drill's directory (the backup
/// tests stand one up as a self-hosted server).
pub struct Cluster {
    root: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    conf: PathBuf,
    port: u16,
    bin: PathBuf,
    /// PostgreSQL refuses to run as root: then everything runs as the `postgres` account.
    owner: Option<nix::unistd::User>,
    running: bool,
}

impl Cluster {
    pub fn new(dir: &Path, port: u16) -> Result<Self, DrillError> {
        let bin = crate::backup::pgbackrest::pg_bindir().ok_or_else(|| {
            DrillError::Usage(
                "pg_config is not on PATH: the PostgreSQL drill needs the server binaries (initdb, pg_ctl)".into(),
            )
        })?;
        if which("pgbackrest").is_none() {
            return Err(DrillError::Usage(
                "pgbackrest is not on PATH: install it (apt-get install pgbackrest)".into(),
            ));
        }
        let owner = if nix::unistd::geteuid().is_root() {
            Some(
                nix::unistd::User::from_name("postgres")
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        DrillError::Usage(
                            "running as root, and there is no postgres account to run the cluster as".into(),
                        )
                    })?,
            )
        } else {
            None
        };
        let root = dir.join("pg");
        Ok(Self {
            data: root.join("data"),
            socket: root.join("socket"),
            conf: root.join("pgbackrest.conf"),
            root,
            port,
            bin,
            owner,
            running: false,
        })
    }

    fn own(&self, path: &Path) -> Result<(), DrillError> {
        if let Some(u) = &self.owner {
            std::os::unix::fs::chown(path, Some(u.uid.as_raw()), Some(u.gid.as_raw()))
                .map_err(|e| failed(format!("chown {}: {e}", path.display())))?;
        }
        Ok(())
    }

    fn mkdir(&self, path: &Path) -> Result<(), DrillError> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(path).map_err(|e| failed(format!("{}: {e}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
        self.own(path)
    }

    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut c = crate::backup::pgbackrest::command_as(self.owner.as_ref(), program);
        c.current_dir(&self.root);
        c
    }

    async fn run(&self, program: &Path, args: &[&str], what: &str) -> Result<String, DrillError> {
        crate::backup::pgbackrest::stdout_of(self.command(program), program, args, what)
            .await
            .map_err(failed)
    }

    /// Its pgBackRest configuration.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    fn pg(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    async fn pgbackrest(&self, args: &[&str], what: &str) -> Result<String, DrillError> {
        let conf = format!("--config={}", self.conf.display());
        let mut all = vec![conf.as_str(), "--stanza", STANZA];
        all.extend_from_slice(args);
        self.run(Path::new("pgbackrest"), &all, what).await
    }

    async fn start(&mut self) -> Result<(), DrillError> {
        let data = self.data.display().to_string();
        let log = self.root.join("postgres.log").display().to_string();
        self.running = true;
        self.run(
            &self.pg("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-t", "300", "start"],
            "starting the cluster",
        )
        .await?;
        Ok(())
    }

    /// initdb, archiving settings, the stanza, and a check that WAL reaches the repository.
    pub async fn create(&mut self, archive_timeout: Duration) -> Result<(), DrillError> {
        use rand::RngCore;
        for d in [&self.root, &self.socket, &self.root.join("repo")] {
            self.mkdir(d)?;
        }
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let cipher_pass: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(
            &self.conf,
            pgbackrest_conf(
                &self.root.join("repo"),
                &cipher_pass,
                &self.data,
                self.port,
                &self.socket,
                &self.root,
            ),
        )
        .map_err(failed)?;
        self.own(&self.conf)?;
        let data = self.data.display().to_string();
        self.run(
            &self.pg("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            "initdb",
        )
        .await?;
        let mut settings = format!(
            "\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
            self.port,
            self.socket.display()
        );
        settings.push_str(&archiving_settings(&self.conf, archive_timeout));
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .map_err(failed)?;
        std::io::Write::write_all(&mut conf, settings.as_bytes()).map_err(failed)?;
        self.start().await?;
        let port = self.port.to_string();
        let socket = self.socket.display().to_string();
        self.run(
            &self.pg("createdb"),
            &["-h", &socket, "-p", &port, "-U", "postgres", DATABASE],
            "createdb",
        )
        .await?;
        self.pgbackrest(&["stanza-create"], "pgbackrest stanza-create")
            .await?;
        self.pgbackrest(&["check"], "pgbackrest check (WAL archiving)")
            .await?;
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Crashes the cluster and removes its data directory: WAL not yet archived is gone.
    async fn destroy(&mut self) -> Result<(), DrillError> {
        let data = self.data.display().to_string();
        self.run(
            &self.pg("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
            "stopping the cluster",
        )
        .await?;
        self.running = false;
        std::fs::remove_dir_all(&self.data)
            .map_err(|e| failed(format!("removing {}: {e}", self.data.display())))
    }

    /// Restores the newest backup and replays the archived WAL to its end, then waits until
    /// the cluster has left recovery and takes writes.
    async fn restore(&mut self) -> Result<(), DrillError> {
        self.mkdir(&self.data)?;
        self.pgbackrest(&["restore"], "pgbackrest restore").await?;
        self.start().await?;
        let started = Instant::now();
        loop {
            if let Ok(false) = self.in_recovery().await {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(super::RTO_LIMIT_SECONDS as u64) {
                return Err(failed("the restored cluster did not leave recovery"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn in_recovery(&self) -> Result<bool, sqlx::Error> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url()).await?;
        let r = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut conn)
            .await;
        conn.close().await.ok();
        r
    }

    /// The newest backup's label and when it finished.
    async fn newest_backup(&self) -> Result<String, DrillError> {
        let info = self
            .pgbackrest(&["info", "--output=json"], "pgbackrest info")
            .await?;
        let v: serde_json::Value = serde_json::from_str(&info).map_err(failed)?;
        let newest = v[0]["backup"]
            .as_array()
            .and_then(|b| b.last())
            .ok_or_else(|| failed("pgbackrest info lists no backup"))?;
        Ok(format!(
            "pgBackRest {} backup {} (finished {} UTC) and the archived WAL after it",
            newest["type"].as_str().unwrap_or("?"),
            newest["label"].as_str().unwrap_or("?"),
            crate::state::utc(newest["timestamp"]["stop"].as_f64().unwrap_or(0.0))
        ))
    }

    /// `pg_amcheck` over every heap and B-tree index of the application database.
    async fn amcheck(&self) -> String {
        let port = self.port.to_string();
        let socket = self.socket.display().to_string();
        match self
            .run(
                &self.pg("pg_amcheck"),
                &[
                    "-h",
                    &socket,
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "--install-missing",
                    "--heapallindexed",
                    DATABASE,
                ],
                "pg_amcheck",
            )
            .await
        {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    async fn ids(&self) -> Result<BTreeSet<(Kind, i64)>, DrillError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url())
            .await
            .map_err(|e| failed(format!("connecting to the restored cluster: {e}")))?;
        let mut ids = BTreeSet::new();
        for kind in [Kind::BookingRequest, Kind::Message] {
            let rows: Vec<i64> = sqlx::query_scalar(&format!("SELECT id FROM {}", kind.table()))
                .fetch_all(&mut conn)
                .await
                .map_err(|e| failed(format!("reading {}: {e}", kind.table())))?;
            ids.extend(rows.into_iter().map(|id| (kind, id)));
        }
        conn.close().await.ok();
        Ok(ids)
    }
}

impl Drop for Cluster {
    // A drill that fails midway must not leave a server running on the machine.
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let pg_ctl = self.pg("pg_ctl");
        let mut c = match &self.owner {
            Some(u) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", &u.name, "--"]).arg(&pg_ctl);
                c
            }
            None => std::process::Command::new(&pg_ctl),
        };
        let _ = c
            .current_dir(&self.root)
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

pub(super) async fn drill(
    options: &DrillOptions,
    dir: &Path,
    step: &dyn Fn(&str),
) -> Result<Report, DrillError> {
    let started_at = crate::state::now();
    let mut cluster = Cluster::new(dir, super::free_port()?)?;
    // The postgres account must reach the cluster's directory inside the drill's.
    cluster.own(dir)?;
    step(&format!(
        "a cluster on port {} with WAL archived by pgBackRest (encrypted repository, archive_timeout {} s)",
        cluster.port,
        options.interval.as_secs()
    ));
    cluster.create(options.interval).await?;

    let log = dir.join("service.log");
    let env = super::service_env(dir, &cluster.url(), super::free_port()?);
    step("start the release on it with the demo data");
    let mut service = Service::start(&options.release, &env, &log).await?;
    wait_ready(&mut service, Duration::from_secs(180), &log).await?;
    step("full backup");
    cluster
        .pgbackrest(&["backup", "--type=full"], "pgbackrest backup")
        .await?;

    step(&format!(
        "{} writers send booking requests and messages for {} s",
        options.writers, options.load_seconds
    ));
    let (load, writers) = Load::start(&service.base, options.writers, Duration::from_millis(100))
        .await
        .map_err(failed)?;
    tokio::time::sleep(Duration::from_secs_f64(options.load_seconds)).await;

    step("destroy the database: crash the cluster and remove its data directory");
    load.stop.store(true, Ordering::SeqCst);
    let loss_at = crate::state::now();
    let lost_at = Instant::now();
    cluster.destroy().await?;
    for w in writers {
        let _ = w.await;
    }

    step("restore with pgBackRest to the end of the archived WAL; the service reconnects");
    let restore_started = Instant::now();
    cluster.restore().await?;
    let restore_seconds = restore_started.elapsed().as_secs_f64();
    let reconnect_started = Instant::now();
    wait_ready(
        &mut service,
        Duration::from_secs(super::RTO_LIMIT_SECONDS as u64),
        &log,
    )
    .await?;
    let rto_seconds = lost_at.elapsed().as_secs_f64();
    let restart_seconds = reconnect_started.elapsed().as_secs_f64();
    let ready_at = crate::state::now();

    let survivors = cluster.ids().await?;
    let integrity = cluster.amcheck().await;
    let restored_from = cluster.newest_backup().await?;
    let write_after = super::load::one_write(&service.base).await;
    service.stop().await;
    let writes = load.snapshot().await;
    Ok(judge(Findings {
        options,
        method: format!(
            "PostgreSQL: pgBackRest full backup, WAL archived at least every {} s (archive_timeout), restored to the end of the archive",
            options.interval.as_secs()
        ),
        started_at,
        loss_at,
        ready_at,
        rto_seconds,
        restore_seconds,
        restart_seconds,
        restored_from,
        writes,
        survivors,
        refused: load.refused.load(Ordering::Relaxed),
        integrity,
        write_after,
    }))
}
