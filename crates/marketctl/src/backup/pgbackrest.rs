//! Backups of a self-hosted PostgreSQL through pgBackRest: taken, listed from its repository, and verified by a restore into a scratch cluster that is checked and removed.
//!
//! pgBackRest owns the backups, the WAL archive and their encryption; marketctl drives it and
//! proves each backup restores. A verification's result is kept with the backup as pgBackRest
//! annotations (`marketctl-verification`, `marketctl-verified-at`).

use super::{BackupError, Selector, Verification};
use crate::config::PgBackRestSettings;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const VERIFIED_AT: &str = "marketctl-verified-at";
const VERIFICATION: &str = "marketctl-verification";

/// One backup set in the repository.
#[derive(Debug, Clone, Serialize)]
pub struct PgBackup {
    pub label: String,
    /// `full`, `diff` or `incr`.
    pub kind: String,
    pub started_at: f64,
    /// The backup is consistent from here: a restore reaches this point or any later one the
    /// archived WAL covers.
    pub finished_at: f64,
    pub database_bytes: u64,
    pub repository_bytes: u64,
    pub verification: Option<Verification>,
    /// Set by `verify`: what the restored copy holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked: Option<Checked>,
}

/// What a verification found in the restored copy.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub schema_version: Option<i64>,
    pub tables: usize,
    pub rows: i64,
}

fn failed(e: impl std::fmt::Display) -> BackupError {
    BackupError::Failed(e.to_string())
}

/// The PostgreSQL server binaries' directory (`pg_config --bindir`).
pub fn pg_bindir() -> Option<PathBuf> {
    std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// `program` run as `owner` (through runuser) when given: PostgreSQL and pgBackRest refuse root.
pub fn command_as(owner: Option<&nix::unistd::User>, program: &Path) -> tokio::process::Command {
    let mut c = match owner {
        Some(u) => {
            let mut c = tokio::process::Command::new("runuser");
            c.args(["-u", &u.name, "--"]).arg(program);
            c
        }
        None => tokio::process::Command::new(program),
    };
    c.stdin(std::process::Stdio::null());
    c
}

/// Runs `command` with `args`; its standard output, or why it failed (its own words).
pub async fn stdout_of(
    mut command: tokio::process::Command,
    program: &Path,
    args: &[&str],
    what: &str,
) -> Result<String, String> {
    let out = command
        .args(args)
        .output()
        .await
        .map_err(|e| format!("{what}: running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs pgBackRest and the PostgreSQL tools as the cluster's owner (PostgreSQL and its
/// repository refuse root).
pub struct PgBackRest {
    settings: PgBackRestSettings,
    owner: Option<nix::unistd::User>,
    bin: PathBuf,
    progress: bool,
}

impl PgBackRest {
    pub fn new(settings: &PgBackRestSettings, progress: bool) -> Result<Self, BackupError> {
        let bin = pg_bindir().ok_or_else(|| {
            BackupError::Usage(
                "pg_config is not on PATH: verifying needs the PostgreSQL server binaries (pg_ctl, pg_amcheck)".into(),
            )
        })?;
        let owner = if nix::unistd::geteuid().is_root() {
            Some(
                nix::unistd::User::from_name(&settings.run_as)
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        BackupError::Usage(format!(
                            "running as root, and there is no {} account to run pgBackRest as ([pgbackrest] run_as)",
                            settings.run_as
                        ))
                    })?,
            )
        } else {
            None
        };
        if !settings.config.is_file() {
            return Err(BackupError::Usage(format!(
                "[pgbackrest] config {} does not exist (docs/runbooks/disaster-recovery.md: Self-hosted PostgreSQL)",
                settings.config.display()
            )));
        }
        Ok(Self {
            settings: settings.clone(),
            owner,
            bin,
            progress,
        })
    }

    fn step(&self, text: &str) {
        if self.progress {
            eprintln!("  {text}");
        }
    }

    fn command(&self, program: &Path) -> tokio::process::Command {
        let mut c = command_as(self.owner.as_ref(), program);
        c.current_dir("/");
        c
    }

    async fn run(&self, program: &Path, args: &[&str], what: &str) -> Result<String, BackupError> {
        stdout_of(self.command(program), program, args, what)
            .await
            .map_err(BackupError::Failed)
    }

    async fn pgbackrest(&self, args: &[&str], what: &str) -> Result<String, BackupError> {
        let conf = format!("--config={}", self.settings.config.display());
        let stanza = format!("--stanza={}", self.settings.stanza);
        let mut all = vec![conf.as_str(), stanza.as_str(), "--log-level-console=warn"];
        all.extend_from_slice(args);
        self.run(Path::new("pgbackrest"), &all, what).await
    }

    /// Every backup set, oldest first, with its recorded verification.
    pub async fn list(&self) -> Result<Vec<PgBackup>, BackupError> {
        let info = self
            .pgbackrest(&["info", "--output=json"], "pgbackrest info")
            .await?;
        let mut backups = parse_info(&info)?;
        for b in &mut backups {
            // Annotations are shown only for one set at a time.
            let one = self
                .pgbackrest(
                    &["info", "--output=json", &format!("--set={}", b.label)],
                    "pgbackrest info --set",
                )
                .await?;
            b.verification = parse_info(&one)?
                .into_iter()
                .find(|x| x.label == b.label)
                .and_then(|x| x.verification);
        }
        Ok(backups)
    }

    /// Takes a backup (incremental on the newest, full when there is none) while the cluster
    /// serves; WAL archiving carries every write after it.
    pub async fn create(&self) -> Result<PgBackup, BackupError> {
        self.step(&format!(
            "pgbackrest backup of stanza {}",
            self.settings.stanza
        ));
        self.pgbackrest(&["backup"], "pgbackrest backup").await?;
        self.list()
            .await?
            .pop()
            .ok_or_else(|| failed("pgbackrest backup succeeded but info lists no backup"))
    }

    /// Checks the repository's files against their checksums, restores the backup into a scratch
    /// cluster (archiving off, so it never writes to the repository), checks it with
    /// `pg_amcheck` and a full read, records the result with the backup and removes the scratch.
    pub async fn verify(&self, which: &Selector) -> Result<PgBackup, BackupError> {
        let started = Instant::now();
        let all = self.list().await?;
        let mut backup = match which {
            Selector::Latest => all.last(),
            Selector::Id(label) => all.iter().find(|b| &b.label == label),
            Selector::At(_) => {
                return Err(BackupError::Usage(
                    "verify takes --backup LABEL or the newest".into(),
                ));
            }
        }
        .cloned()
        .ok_or_else(|| {
            BackupError::Usage(match which {
                Selector::Id(label) => format!(
                    "stanza {} has no backup {label}: `marketctl backup ENV list` shows them",
                    self.settings.stanza
                ),
                _ => format!(
                    "stanza {} has no backup yet: take one with `marketctl backup ENV create`",
                    self.settings.stanza
                ),
            })
        })?;
        let mut problems = Vec::new();
        self.step("pgbackrest verify (every file in the repository against its checksum)");
        if let Err(e) = self
            .pgbackrest(
                &["verify", &format!("--set={}", backup.label)],
                "pgbackrest verify",
            )
            .await
        {
            problems.push(e.to_string());
        }
        let scratch = Scratch::new(self)?;
        let checked = match self.restore_and_check(&backup, &scratch).await {
            Ok((checked, found)) => {
                problems.extend(found);
                Some(checked)
            }
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        scratch.remove(self).await;
        let verification = Verification {
            at: crate::state::now(),
            ok: problems.is_empty(),
            seconds: started.elapsed().as_secs_f64(),
            problems,
        };
        self.pgbackrest(
            &[
                "annotate",
                &format!("--set={}", backup.label),
                &format!("--annotation={VERIFIED_AT}={:.0}", verification.at),
                &format!(
                    "--annotation={VERIFICATION}={}",
                    if verification.ok { "passed" } else { "failed" }
                ),
            ],
            "recording the verification (pgbackrest annotate)",
        )
        .await?;
        backup.checked = checked;
        let ok = verification.ok;
        let problems = verification.problems.join("; ");
        backup.verification = Some(verification);
        if ok {
            Ok(backup)
        } else {
            Err(failed(format!(
                "backup {} failed verification: {problems}",
                backup.label
            )))
        }
    }

    /// Restores into a new, empty data directory (never the live one): to the end of the
    /// archived WAL (`--latest`), to a time, or to the end of one backup. Archiving is off in
    /// the copy, so starting it beside the live cluster never writes into the live archive.
    pub async fn restore(
        &self,
        which: &Selector,
        into: Option<PathBuf>,
    ) -> Result<(PathBuf, Vec<String>), BackupError> {
        let target = into.unwrap_or_else(|| {
            self.settings.scratch_dir.join(format!(
                "{}-restored-{}",
                self.settings.stanza,
                super::compact_utc(crate::state::now())
            ))
        });
        if target.exists()
            && std::fs::read_dir(&target)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            return Err(BackupError::Usage(format!(
                "{} is not empty: restore into a new directory",
                target.display()
            )));
        }
        let mut args = vec![
            format!("--pg1-path={}", target.display()),
            "--archive-mode=off".to_owned(),
        ];
        match which {
            Selector::Latest => {}
            Selector::At(t) => {
                if *t > crate::state::now() {
                    return Err(BackupError::Usage(format!(
                        "--to {} is in the future",
                        crate::state::utc(*t)
                    )));
                }
                args.push("--type=time".into());
                args.push(format!("--target={}+00", crate::state::utc(*t)));
                args.push("--target-action=promote".into());
            }
            Selector::Id(label) => {
                if !self.list().await?.iter().any(|b| &b.label == label) {
                    return Err(BackupError::Usage(format!(
                        "stanza {} has no backup {label}: `marketctl backup ENV list` shows them",
                        self.settings.stanza
                    )));
                }
                args.push(format!("--set={label}"));
                args.push("--type=immediate".into());
                args.push("--target-action=promote".into());
            }
        }
        std::fs::create_dir_all(&target)
            .map_err(|e| failed(format!("{}: {e}", target.display())))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700))
                .map_err(failed)?;
            if let Some(u) = &self.owner {
                std::os::unix::fs::chown(&target, Some(u.uid.as_raw()), Some(u.gid.as_raw()))
                    .map_err(|e| failed(format!("chown {}: {e}", target.display())))?;
            }
        }
        self.step(&format!("pgbackrest restore into {}", target.display()));
        let mut all = vec!["restore"];
        all.extend(args.iter().map(String::as_str));
        if let Err(e) = self.pgbackrest(&all, "pgbackrest restore").await {
            // Nothing half-restored is left to be mistaken for a copy.
            let _ = std::fs::remove_dir_all(&target);
            return Err(e);
        }
        Ok((target, args))
    }

    async fn restore_and_check(
        &self,
        backup: &PgBackup,
        scratch: &Scratch,
    ) -> Result<(Checked, Vec<String>), BackupError> {
        let data = scratch.data.display().to_string();
        self.step(&format!("restore {} into {data}", backup.label));
        self.pgbackrest(
            &[
                "restore",
                &format!("--set={}", backup.label),
                &format!("--pg1-path={data}"),
                "--type=immediate",
                "--target-action=promote",
                "--archive-mode=off",
            ],
            "pgbackrest restore into the scratch directory",
        )
        .await?;
        let port = free_port()?;
        let options = format!(
            "-p {port} -c listen_addresses='' -c unix_socket_directories='{}' -c archive_mode=off",
            scratch.socket.display()
        );
        let log = scratch.root.join("postgres.log").display().to_string();
        self.run(
            &self.bin.join("pg_ctl"),
            &[
                "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "300", "start",
            ],
            "starting the scratch cluster",
        )
        .await?;
        let url = format!(
            "postgres://{}@localhost:{port}/{}?host={}",
            self.settings.superuser,
            self.settings.database,
            scratch.socket.display()
        );
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            match in_recovery(&url).await {
                Ok(false) => break,
                _ if Instant::now() > deadline => {
                    return Err(failed(
                        "the scratch cluster did not finish recovery in 300 s",
                    ));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let mut problems = Vec::new();
        self.step("pg_amcheck (tables and indexes) and a full read");
        let socket = scratch.socket.display().to_string();
        let port = port.to_string();
        if let Err(e) = self
            .run(
                &self.bin.join("pg_amcheck"),
                &[
                    "-h",
                    &socket,
                    "-p",
                    &port,
                    "-U",
                    &self.settings.superuser,
                    "--install-missing",
                    "--heapallindexed",
                    &self.settings.database,
                ],
                "pg_amcheck",
            )
            .await
        {
            problems.push(e.to_string());
        }
        let checked = read_everything(&url, &mut problems).await?;
        Ok((checked, problems))
    }
}

async fn in_recovery(url: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let r = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await;
    conn.close().await.ok();
    r
}

/// Reads every row of every table (a page that cannot be read fails here) and the schema
/// version the migrations left; a failed migration is a problem.
async fn read_everything(url: &str, problems: &mut Vec<String>) -> Result<Checked, BackupError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| failed(format!("connecting to the scratch cluster: {e}")))?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| failed(format!("listing the tables: {e}")))?;
    let mut rows = 0i64;
    for table in &tables {
        // The names come from the catalogue, quoted by quote_ident.
        match sqlx::query_scalar::<_, i64>(&format!(
            "SELECT COUNT(*) FROM (SELECT * FROM {table}) AS every_row"
        ))
        .fetch_one(&mut conn)
        .await
        {
            Ok(n) => rows += n,
            Err(e) => problems.push(format!("reading {table}: {e}")),
        }
    }
    let has_migrations = tables.iter().any(|t| t == "public._sqlx_migrations");
    let schema_version = if has_migrations {
        let failed_migrations: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| failed(format!("reading _sqlx_migrations: {e}")))?;
        if failed_migrations > 0 {
            problems.push(format!(
                "{failed_migrations} migration(s) recorded as failed: the backup was taken mid-migration"
            ));
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| failed(format!("reading _sqlx_migrations: {e}")))?
    } else {
        problems.push("the database has no _sqlx_migrations table: not the marketplace's".into());
        None
    };
    conn.close().await.ok();
    Ok(Checked {
        schema_version,
        tables: tables.len(),
        rows,
    })
}

fn free_port() -> Result<u16, BackupError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(format!("finding a free port: {e}")))
}

/// The scratch cluster's directory, owned by the cluster's account.
struct Scratch {
    root: PathBuf,
    data: PathBuf,
    socket: PathBuf,
}

impl Scratch {
    fn new(p: &PgBackRest) -> Result<Self, BackupError> {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::Builder::new()
            .prefix("marketctl-verify-")
            .tempdir_in(&p.settings.scratch_dir)
            .map_err(|e| {
                failed(format!(
                    "making a scratch directory in {}: {e}",
                    p.settings.scratch_dir.display()
                ))
            })?
            .keep();
        let scratch = Self {
            data: root.join("data"),
            socket: root.join("socket"),
            root,
        };
        for d in [&scratch.root, &scratch.data, &scratch.socket] {
            std::fs::create_dir_all(d).map_err(failed)?;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
            if let Some(u) = &p.owner {
                std::os::unix::fs::chown(d, Some(u.uid.as_raw()), Some(u.gid.as_raw()))
                    .map_err(|e| failed(format!("chown {}: {e}", d.display())))?;
            }
        }
        Ok(scratch)
    }

    /// Stops the scratch cluster if it runs and removes its files: they are a copy of everyone's
    /// data.
    async fn remove(self, p: &PgBackRest) {
        if self.data.join("postmaster.pid").exists() {
            let data = self.data.display().to_string();
            let _ = p
                .run(
                    &p.bin.join("pg_ctl"),
                    &["-D", &data, "-m", "immediate", "-w", "stop"],
                    "stopping the scratch cluster",
                )
                .await;
        }
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!(
                "warning: the scratch copy {} was not removed ({e}): remove it by hand",
                self.root.display()
            );
        }
    }
}

/// `pgbackrest info --output=json` for the stanza: its backup sets, oldest first.
pub fn parse_info(json: &str) -> Result<Vec<PgBackup>, BackupError> {
    let v: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| failed(format!("pgbackrest info printed no JSON ({e})")))?;
    let stanza = v
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| failed("pgbackrest info lists no stanza"))?;
    if let Some(code) = stanza["status"]["code"].as_i64()
        && code != 0
        && code != 2
    {
        // 2 is "no valid backups": an empty list, not an error.
        return Err(failed(format!(
            "pgbackrest: the stanza is not usable: {}",
            stanza["status"]["message"]
                .as_str()
                .unwrap_or("unknown status")
        )));
    }
    let sets = stanza["backup"].as_array().cloned().unwrap_or_default();
    Ok(sets
        .iter()
        .map(|b| {
            let annotation = &b["annotation"];
            let verification = Verification::recorded(
                annotation[VERIFIED_AT].as_str(),
                annotation[VERIFICATION].as_str(),
            );
            PgBackup {
                label: b["label"].as_str().unwrap_or_default().to_owned(),
                kind: b["type"].as_str().unwrap_or_default().to_owned(),
                started_at: b["timestamp"]["start"].as_f64().unwrap_or(0.0),
                finished_at: b["timestamp"]["stop"].as_f64().unwrap_or(0.0),
                database_bytes: b["info"]["size"].as_u64().unwrap_or(0),
                repository_bytes: b["info"]["repository"]["size"].as_u64().unwrap_or(0),
                verification,
                checked: None,
            }
        })
        .collect())
}

/// `backup list` for people.
pub fn table(backups: &[PgBackup]) -> String {
    let mut out = format!(
        "{:<26} {:<5} {:<20} {:>12} {:>12}  {}\n",
        "BACKUP", "TYPE", "CONSISTENT AT (UTC)", "DATABASE", "STORED", "VERIFIED"
    );
    for b in backups {
        out.push_str(&format!(
            "{:<26} {:<5} {:<20} {:>12} {:>12}  {}\n",
            b.label,
            b.kind,
            crate::state::utc(b.finished_at),
            b.database_bytes,
            b.repository_bytes,
            Verification::column(b.verification.as_ref())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_info;

    #[test]
    fn info_gives_each_set_and_its_verification() {
        let json = r#"[{"name":"marketplace","status":{"code":0,"message":"ok"},"backup":[
            {"label":"20261130-101500F","type":"full","timestamp":{"start":1764497700,"stop":1764497710},
             "info":{"size":8000000,"repository":{"size":900000}}},
            {"label":"20261130-101500F_20261130-111500I","type":"incr","timestamp":{"start":1764501300,"stop":1764501302},
             "info":{"size":8100000,"repository":{"size":20000}},
             "annotation":{"marketctl-verified-at":"1764501400","marketctl-verification":"passed"}}]}]"#;
        let sets = parse_info(json).unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].kind, "full");
        assert!(sets[0].verification.is_none());
        assert_eq!(sets[1].repository_bytes, 20000);
        assert!(sets[1].verification.as_ref().unwrap().ok);
    }

    #[test]
    fn a_broken_stanza_is_an_error_and_an_empty_one_is_not() {
        let broken =
            r#"[{"name":"m","status":{"code":1,"message":"missing stanza path"},"backup":[]}]"#;
        assert!(
            parse_info(broken)
                .unwrap_err()
                .to_string()
                .contains("missing stanza path")
        );
        let empty =
            r#"[{"name":"m","status":{"code":2,"message":"no valid backups"},"backup":[]}]"#;
        assert!(parse_info(empty).unwrap().is_empty());
        assert!(parse_info("not json").is_err());
        assert!(parse_info("[]").is_err());
    }
}
