//! The command line. Exit codes: 0 deployed / success, 1 failed (before traffic moved),
//! 2 rolled back, 3 timed out, 64 usage error.

use crate::config::{DeployConfig, PlatformKind};
use crate::engine::{DeployRequest, Engine, Strategy};
use crate::platform::Platform;
use crate::platform::local::LocalPlatform;
use crate::proxy::{self, ProxyConfig};
use crate::state::History;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "marketctl", version, about = "Tattoo Marketplace operations")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The host agent: proxy, instance supervisor and admin API.
    Proxy {
        #[command(subcommand)]
        command: ProxyCommand,
    },
    /// Deploy a release with a strategy; rolls back by itself on any trigger.
    Deploy {
        /// Environment: reads DEPLOY_DIR/ENV.toml.
        env: String,
        strategy: Strategy,
        /// The marketplace binary to release (platform = "local").
        #[arg(long, required_unless_present = "image", conflicts_with = "image")]
        release: Option<PathBuf>,
        /// The image to release, by tag or digest (platform = "ecs"); the digest is recorded.
        #[arg(long)]
        image: Option<String>,
        /// Print the steps and the API changes the deploy would make; change nothing.
        #[arg(long)]
        plan: bool,
        /// Skip the configured test and scan commands (the spec's RUN_CHECKS=false).
        #[arg(long)]
        skip_checks: bool,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Put all traffic back on the last known-good release (or --to VERSION).
    Rollback {
        env: String,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Versions, weights, instance health and live error rates.
    Status {
        env: String,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Backups of the environment's database: create (the default), list or verify.
    Backup {
        env: String,
        #[arg(value_enum, default_value = "create")]
        action: BackupAction,
        /// verify: this backup (default: the newest).
        #[arg(long)]
        backup: Option<String>,
        /// schedule: seconds between checks for changed data (30 keeps the RPO under a minute:
        /// the interval plus the snapshot's few seconds).
        #[arg(long, default_value_t = 30)]
        interval_seconds: u64,
        /// schedule: write the backup gauges here (node_exporter's textfile collector).
        #[arg(long)]
        metrics_file: Option<PathBuf>,
        /// schedule: one round, then exit.
        #[arg(long)]
        once: bool,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Restore a backup into a new database file; the live database is replaced only when
    /// --into names it (with the service stopped), as an explicit cut-over.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["latest", "to", "backup"])))]
    Restore {
        env: String,
        /// The newest backup.
        #[arg(long)]
        latest: bool,
        /// The newest backup taken at or before this time (RFC 3339 or Unix seconds).
        #[arg(long)]
        to: Option<String>,
        /// This backup.
        #[arg(long)]
        backup: Option<String>,
        /// Where to restore (default: next to the live database, named after the backup; on
        /// ECS, a new RDS instance named after the source and the time).
        #[arg(long)]
        into: Option<PathBuf>,
        /// ECS: once the restored instance is available, point the database secret at it and
        /// restart the service through a rolling deploy of the live image.
        #[arg(long)]
        cut_over: bool,
        /// The release that will serve the restored data: a backup from a newer schema than it
        /// knows is refused (default: the environment's live release).
        #[arg(long)]
        release: Option<PathBuf>,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
    /// Disaster recovery.
    Dr {
        #[command(subcommand)]
        command: DrCommand,
    },
    /// Who deployed what, when, how, and how it ended.
    History {
        env: String,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackupAction {
    /// Take a consistent snapshot now, sealed and stored.
    Create,
    /// Every backup, oldest first, with its verification.
    List,
    /// Restore a backup into a scratch copy and check it against its manifest.
    Verify,
    /// Run the host's schedule: a backup each interval while the data changes, verified,
    /// pruned to the tiers (every one for 6 h, hourly for 2 days, daily for 30).
    Schedule,
    /// Print a new age identity and its public key, for [backup] recipient.
    Keygen,
}

#[derive(Debug, Subcommand)]
pub enum DrCommand {
    /// Lose the database under a write load and recover it, in a sandbox that runs the
    /// environment's release: measures RPO, RTO and every lost write. Exit 0 when the RPO is
    /// at most 60 s, the RTO at most 300 s, no write older than the RPO was lost, and the
    /// restored database passes its integrity check; 1 otherwise.
    Drill {
        env: String,
        /// The marketplace binary to drill (default: the environment's live release).
        #[arg(long)]
        release: Option<PathBuf>,
        /// sqlite: backup schedule; postgres: pgBackRest with WAL archiving (default: the
        /// environment's database).
        #[arg(long, value_enum)]
        engine: Option<crate::dr::Engine>,
        /// Seconds of write load before the database is destroyed.
        #[arg(long, default_value_t = 60.0)]
        load_seconds: f64,
        #[arg(long, default_value_t = 4)]
        writers: usize,
        /// sqlite: seconds between backups; postgres: archive_timeout.
        #[arg(long, default_value_t = 30)]
        interval_seconds: u64,
        /// Keep the sandbox here (an empty or new directory) instead of a removed temporary one.
        #[arg(long)]
        workdir: Option<PathBuf>,
        #[arg(long, default_value = "deploy", env = "MARKETCTL_DEPLOY_DIR")]
        deploy_dir: PathBuf,
        #[arg(long, value_enum, default_value = "human")]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// Run the agent until SIGTERM or SIGINT.
    Run {
        /// Public listener.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Admin API listener (loopback only).
        #[arg(long, default_value = "127.0.0.1:9180")]
        admin: SocketAddr,
        /// Admin token (at least 32 characters); prefer the environment over the command line.
        #[arg(long, env = "MARKETCTL_ADMIN_TOKEN", hide_env_values = true)]
        token: String,
        /// Where instance logs (and later releases and history) live.
        #[arg(
            long,
            env = "MARKETCTL_STATE_DIR",
            default_value = "/var/lib/marketctl"
        )]
        state_dir: PathBuf,
        /// Export the proxy's spans to this OTLP/HTTP collector (its base URL, such as
        /// http://127.0.0.1:4318). Unset, the proxy records no spans and passes a request's
        /// `traceparent` on unchanged.
        #[arg(long, env = "MARKETCTL_OTLP_ENDPOINT", default_value = "")]
        otlp_endpoint: String,
        /// The share of new traces exported, 0 to 1; a caller's decision is followed, and a
        /// trace with a 5xx in it is exported whatever this says.
        #[arg(long, env = "MARKETCTL_TRACE_SAMPLE_RATIO", default_value_t = 1.0)]
        trace_sample_ratio: f64,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MARKETCTL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Stdout carries the command's answer (`--output json` is parsed by scripts): logs never.
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            let usage = e
                .downcast_ref::<crate::config::ConfigError>()
                .is_some_and(|c| c.is_usage());
            if usage {
                ExitCode::from(64)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// What a newcomer should do about the errors they meet first.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    use crate::platform::PlatformError;
    match e.downcast_ref::<PlatformError>()? {
        PlatformError::Unreachable(_) => Some(
            "is the agent running? With MARKETCTL_ADMIN_TOKEN exported, start it with \
             `marketctl proxy run --listen 127.0.0.1:8080 --admin 127.0.0.1:9180 --state-dir \
             .marketctl/agent` (README: Deploying on one machine)",
        ),
        PlatformError::Unauthorized => Some(
            "the agent refused the admin token: MARKETCTL_ADMIN_TOKEN (or the variable \
             `token_env` names) must hold the token the agent was started with",
        ),
        _ => None,
    }
}

/// The environment file, the platform, and the environment releases run with.
struct Target {
    config: DeployConfig,
    platform: LocalPlatform,
    state_dir: PathBuf,
    release_env: BTreeMap<String, String>,
}

impl Target {
    /// The engine for this environment; progress lines go to stderr for people only.
    fn engine(&self, env: &str, output: Output) -> Engine<'_, LocalPlatform> {
        Engine::new(
            &self.config,
            &self.platform,
            env,
            &self.state_dir,
            self.release_env.clone(),
            output == Output::Human,
        )
    }
}

fn target(deploy_dir: &std::path::Path, env: &str) -> anyhow::Result<Target> {
    let config = DeployConfig::load(deploy_dir, env)?;
    let local = config
        .local
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{env}.toml has no [local] section"))?;
    let token = std::env::var(&local.token_env)
        .map_err(|_| anyhow::anyhow!("{} must hold the agent's admin token", local.token_env))?;
    let mut release_env = config.env.clone();
    for name in &config.required_variables {
        if let Ok(value) = std::env::var(name) {
            release_env.insert(name.clone(), value);
        }
    }
    let platform = LocalPlatform::new(&config, token, release_env.clone())?;
    Ok(Target {
        state_dir: local.state_dir,
        config,
        platform,
        release_env,
    })
}

/// The environment's backups and its state directory (for the deploy lock).
fn backups(
    deploy_dir: &std::path::Path,
    env: &str,
    output: Output,
) -> Result<(crate::backup::Backups, PathBuf), crate::backup::BackupError> {
    use crate::backup::BackupError;
    let config = DeployConfig::load(deploy_dir, env).map_err(|e| {
        if e.is_usage() {
            BackupError::Usage(e.to_string())
        } else {
            BackupError::Failed(e.to_string())
        }
    })?;
    let settings = config.backup.as_ref().ok_or_else(|| {
        BackupError::Usage(format!(
            "{env}.toml has no [backup] section: name a store and the age recipient (README: \"Backups on one machine\")"
        ))
    })?;
    let local = config.local.as_ref().ok_or_else(|| {
        BackupError::Usage(format!(
            "{env} runs on ECS: its database is RDS, backed up by RDS itself (docs/runbooks/disaster-recovery.md)"
        ))
    })?;
    let url = config.env.get("TM_DATABASE_URL").ok_or_else(|| {
        BackupError::Usage(format!(
            "{env}.toml's [env] has no TM_DATABASE_URL to back up"
        ))
    })?;
    let backups = crate::backup::Backups::new(env, settings, url, output == Output::Human)?;
    Ok((backups, local.state_dir.clone()))
}

/// The ECS environment's `[rds]` section, or says what is missing.
fn rds_settings<'a>(config: &'a DeployConfig, env: &str) -> Option<&'a crate::config::RdsSettings> {
    if config.rds.is_none() {
        eprintln!(
            "error: {env}.toml has no [rds] section: name the instance and its database URL secret (terraform output marketctl_rds)"
        );
    }
    config.rds.as_ref()
}

/// `backup` of a self-hosted PostgreSQL: pgBackRest takes and keeps the backups; marketctl
/// proves them by restoring into a scratch cluster.
async fn backup_pgbackrest(
    settings: &crate::config::PgBackRestSettings,
    env: &str,
    action: BackupAction,
    selector: &crate::backup::Selector,
    output: Output,
) -> anyhow::Result<u8> {
    use crate::backup::pgbackrest::{PgBackRest, table};
    if action == BackupAction::Schedule {
        eprintln!(
            "error: {env}'s PostgreSQL archives its WAL continuously through pgBackRest: schedule `marketctl backup {env} create` and `verify` daily (cron or a systemd timer; docs/runbooks/disaster-recovery.md)"
        );
        return Ok(64);
    }
    let result = match PgBackRest::new(settings, output == Output::Human) {
        Err(e) => Err(e),
        Ok(p) => match action {
            BackupAction::Schedule | BackupAction::Keygen => unreachable!("handled before"),
            BackupAction::Create => p.create().await.map(|b| vec![b]),
            BackupAction::List => p.list().await,
            BackupAction::Verify => p.verify(selector).await.map(|b| vec![b]),
        },
    };
    match result {
        Ok(all) => {
            match (output, action) {
                (Output::Json, BackupAction::List) => print_json(&all),
                (Output::Json, _) => print_json(&all[0]),
                (Output::Human, BackupAction::List) => print!("{}", table(&all)),
                (Output::Human, BackupAction::Create) => println!(
                    "{env}: pgBackRest {} backup {} taken, consistent at {} UTC ({} bytes stored)",
                    all[0].kind,
                    all[0].label,
                    crate::state::utc(all[0].finished_at),
                    all[0].repository_bytes
                ),
                (Output::Human, _) => println!(
                    "{env}: backup {} verified: restored into a scratch cluster, pg_amcheck clean, {} rows in {} tables read, schema version {}; scratch removed ({:.1} s)",
                    all[0].label,
                    all[0].checked.as_ref().map_or(0, |c| c.rows),
                    all[0].checked.as_ref().map_or(0, |c| c.tables),
                    all[0]
                        .checked
                        .as_ref()
                        .and_then(|c| c.schema_version)
                        .map_or("none".into(), |v| v.to_string()),
                    all[0].verification.as_ref().map_or(0.0, |v| v.seconds)
                ),
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

/// `restore` of a self-hosted PostgreSQL into a new data directory, through pgBackRest.
async fn restore_pgbackrest(
    config: &DeployConfig,
    settings: &crate::config::PgBackRestSettings,
    env: &str,
    to: Option<String>,
    backup: Option<String>,
    into: Option<PathBuf>,
    output: Output,
) -> anyhow::Result<u8> {
    if let Some(local) = &config.local
        && let Some(pid) = crate::state::Lock::holder(&local.state_dir)
    {
        eprintln!("error: a deploy holds {env}'s lock (pid {pid}): restore after it ends");
        return Ok(1);
    }
    let result = async {
        let selector = crate::backup::Selector::from_args(to, backup)?;
        let p = crate::backup::pgbackrest::PgBackRest::new(settings, output == Output::Human)?;
        p.restore(&selector, into).await
    }
    .await;
    match result {
        Ok((target, args)) => {
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "restored_into": target,
                    "pgbackrest_options": args,
                })),
                Output::Human => println!(
                    "{env}: restored into {dir} (archiving off in the copy).\n\
                     Check it: pg_ctl -D {dir} -o '-p <free port>' start, then pg_amcheck.\n\
                     Cut over: stop the live cluster, move {dir} to its data directory, remove \
                     archive_mode from postgresql.auto.conf, start it, run `pgbackrest stanza-upgrade` \
                     if asked, and take a full backup (docs/runbooks/disaster-recovery.md).",
                    dir = target.display()
                ),
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

/// `backup` on ECS: snapshots of the RDS instance, copied to the DR region, verified by a
/// restore into a scratch instance.
async fn backup_rds(
    config: &DeployConfig,
    env: &str,
    action: BackupAction,
    selector: &crate::backup::Selector,
    output: Output,
) -> anyhow::Result<u8> {
    use crate::backup::snapshots;
    let Some(settings) = rds_settings(config, env) else {
        return Ok(64);
    };
    if action == BackupAction::Schedule {
        eprintln!(
            "error: {env} runs on ECS: RDS takes its automated backups itself, and the daily backup workflow (.github/workflows/backup.yml) runs `backup {env} create` and `verify`"
        );
        return Ok(64);
    }
    let region = config
        .ecs
        .as_ref()
        .map(|e| e.region.clone())
        .unwrap_or_default();
    let aws = crate::ecs::aws::Aws::connect(&region).await;
    let progress = output == Output::Human;
    let result = match action {
        BackupAction::Schedule | BackupAction::Keygen => unreachable!("handled before"),
        BackupAction::Create => snapshots::create(&aws, settings, env, progress)
            .await
            .map(|s| vec![s]),
        BackupAction::List => snapshots::list(&aws, settings).await,
        BackupAction::Verify => snapshots::verify(&aws, settings, env, selector, progress)
            .await
            .map(|s| vec![s]),
    };
    match result {
        Ok(all) => {
            match (output, action) {
                (Output::Json, BackupAction::List) => print_json(&all),
                (Output::Json, _) => print_json(&all[0]),
                (Output::Human, BackupAction::List) => print!("{}", snapshots::table(&all)),
                (Output::Human, BackupAction::Create) => println!(
                    "{env}: snapshot {} taken{}",
                    all[0].id,
                    all[0]
                        .dr_copy
                        .as_ref()
                        .map(|c| format!(", copied to {c}"))
                        .unwrap_or_default()
                ),
                (Output::Human, _) => println!(
                    "{env}: snapshot {} verified: restored into a scratch instance, checked, and the scratch instance deleted ({:.0} s)",
                    all[0].id,
                    all[0].verification.as_ref().map_or(0.0, |v| v.seconds)
                ),
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

/// `restore` on ECS: point-in-time restore of the RDS instance into a new one, then (with
/// `--cut-over`) the secret moved to it and a rolling restart through the deploy engine.
async fn restore_rds(
    config: &DeployConfig,
    env: &str,
    to: Option<String>,
    backup: Option<String>,
    into: Option<PathBuf>,
    cut_over: bool,
    output: Output,
) -> anyhow::Result<u8> {
    let Some(settings) = rds_settings(config, env) else {
        return Ok(64);
    };
    let selector = match crate::backup::Selector::from_args(to, backup) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(e.exit_code());
        }
    };
    let ecs = crate::ecs::Ecs::connect(config, env, output == Output::Human)
        .await
        .map_err(anyhow::Error::msg)?;
    // A deploy moving tasks while the database is swapped under them would mix both.
    if let Ok(Some(holder)) = ecs.state.holder().await {
        eprintln!(
            "error: a deploy holds {env}'s lock ({}): restore after it ends",
            holder.describe()
        );
        return Ok(1);
    }
    let target = into.map(|p| p.display().to_string());
    // `--cut-over --into X` with X already restored: the cut-over alone.
    let earlier = match (&target, cut_over) {
        (Some(id), true) => match crate::backup::rds::existing(&ecs.aws, settings, id).await {
            Ok(found) => found,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(e.exit_code());
            }
        },
        _ => None,
    };
    let restored = match earlier {
        Some(r) => Ok(r),
        None => {
            crate::backup::rds::restore(
                &ecs.aws,
                settings,
                env,
                &selector,
                target,
                output == Output::Human,
            )
            .await
        }
    };
    let mut restored = match restored {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(e.exit_code());
        }
    };
    let mut deploy = None;
    if cut_over {
        if let Err(e) = crate::backup::rds::cut_over(&ecs.aws, settings, &mut restored).await {
            eprintln!("error: {e}");
            return Ok(e.exit_code());
        }
        let image = match ecs.live_image().await {
            Ok(i) => i,
            Err(e) => {
                eprintln!(
                    "error: the secret points at {} but the service was not restarted: {e}",
                    restored.instance
                );
                return Ok(1);
            }
        };
        let report = ecs
            .deploy(crate::ecs::EcsRequest {
                strategy: Strategy::Rolling,
                image: image.clone(),
                run_checks: false,
                plan: false,
                restart: true,
            })
            .await;
        deploy = Some(report);
    }
    let code = deploy.as_ref().map_or(0, |r| r.outcome.exit_code());
    match output {
        Output::Json => print_json(&serde_json::json!({
            "restored": restored,
            "restart": deploy,
        })),
        Output::Human => {
            println!(
                "{env}: {} restored into {} ({}:{}) in {:.0} s",
                restored.source,
                restored.instance,
                restored.endpoint,
                restored.port,
                restored.seconds
            );
            match (&restored.cut_over, &deploy) {
                (Some(c), Some(r)) => println!(
                    "cut over: {} now points at {}; rolling restart {}",
                    c.secret,
                    restored.instance,
                    match &r.outcome {
                        crate::engine::Outcome::Deployed => "done".to_owned(),
                        other => format!("ended {other:?}: check `marketctl status {env}`"),
                    }
                ),
                _ => println!(
                    "Nothing points at it yet. Check it, then cut over: marketctl restore {env} --latest --cut-over --into {}",
                    restored.instance
                ),
            }
        }
    }
    Ok(code)
}

/// The binary of the environment's live release, when this host has deployed one.
fn live_release(state_dir: &std::path::Path) -> Option<PathBuf> {
    let records = History::open(state_dir).ok()?.records().ok()?;
    let good = crate::state::last_known_good(&records, None)?;
    let path = crate::state::release_path(state_dir, &good.to_version);
    path.exists().then_some(path)
}

/// The newest schema a release binary knows (`marketplace version --json`).
async fn release_schema(binary: &std::path::Path) -> anyhow::Result<i64> {
    let out = tokio::process::Command::new(binary)
        .args(["version", "--json"])
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("running {} version: {e}", binary.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow::anyhow!("{} version --json printed no JSON: {e}", binary.display()))?;
    v["schema_version"].as_i64().ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not report its schema version; pass --release with a newer build",
            binary.display()
        )
    })
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Proxy {
            command:
                ProxyCommand::Run {
                    listen,
                    admin,
                    token,
                    state_dir,
                    otlp_endpoint,
                    trace_sample_ratio,
                },
        } => {
            let settings = otel_pipeline::Settings {
                endpoint: otlp_endpoint,
                sample_ratio: trace_sample_ratio,
                service_name: "marketctl-proxy".into(),
                service_version: env!("CARGO_PKG_VERSION").into(),
                environment: String::new(),
            };
            otel_pipeline::validate(&settings).context("--otlp-endpoint, --trace-sample-ratio")?;
            let tracing = (!settings.endpoint.trim().is_empty())
                .then(|| otel_pipeline::provider(&settings))
                .transpose()?;
            let running = proxy::start(ProxyConfig {
                listen,
                admin,
                token,
                state_dir,
                tracing: tracing.clone(),
            })
            .await?;
            println!(
                "marketctl proxy: public http://{} admin http://{}",
                running.public, running.admin
            );
            shutdown_signal().await;
            tracing::info!("stopping: draining requests and stopping instances");
            running.shutdown().await;
            if let Some(provider) = tracing {
                // Exporting what is queued blocks on the network.
                let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            }
            Ok(0)
        }
        Command::Deploy {
            env,
            strategy,
            release,
            image,
            plan,
            skip_checks,
            deploy_dir,
            output,
        } => {
            let config = DeployConfig::load(&deploy_dir, &env)?;
            if config.platform == PlatformKind::Ecs {
                let Some(image) = image else {
                    eprintln!(
                        "error: {env} runs on ECS: deploy an image with --image URI (a tag or a digest in ECR)"
                    );
                    return Ok(64);
                };
                let ecs = crate::ecs::Ecs::connect(&config, &env, output == Output::Human)
                    .await
                    .map_err(anyhow::Error::msg)?;
                let report = ecs
                    .deploy(crate::ecs::EcsRequest {
                        strategy,
                        image: image.clone(),
                        run_checks: !skip_checks,
                        plan,
                        restart: false,
                    })
                    .await;
                if plan && output == Output::Human && report.outcome.exit_code() == 0 {
                    println!(
                        "{env}: plan for {} → {}; nothing was changed",
                        report.from_version.as_deref().unwrap_or("nothing"),
                        report.to_version.as_deref().unwrap_or(&image)
                    );
                } else {
                    print_deploy(&env, &report, &image, output);
                }
                return Ok(report.outcome.exit_code());
            }
            let Some(release) = release else {
                eprintln!("error: {env} runs on one host: deploy a binary with --release PATH");
                return Ok(64);
            };
            if plan {
                eprintln!("error: --plan is for ECS environments");
                return Ok(64);
            }
            let t = target(&deploy_dir, &env)?;
            let engine = t.engine(&env, output);
            let report = engine
                .deploy(DeployRequest {
                    strategy,
                    release: release.clone(),
                    run_checks: !skip_checks,
                })
                .await;
            print_deploy(&env, &report, &release.display().to_string(), output);
            Ok(report.outcome.exit_code())
        }
        Command::Rollback {
            env,
            to,
            deploy_dir,
            output,
        } => {
            let config = DeployConfig::load(&deploy_dir, &env)?;
            let report = if config.platform == PlatformKind::Ecs {
                let ecs = crate::ecs::Ecs::connect(&config, &env, output == Output::Human)
                    .await
                    .map_err(anyhow::Error::msg)?;
                ecs.rollback(to).await
            } else {
                let t = target(&deploy_dir, &env)?;
                let engine = t.engine(&env, output);
                match engine.rollback(to).await {
                    Ok(report) => report,
                    Err(refused) => {
                        eprintln!("error: {refused}");
                        return Ok(if refused.is_usage() { 64 } else { 1 });
                    }
                }
            };
            match output {
                Output::Json => print_json(&report),
                Output::Human => println!(
                    "{env}: rollback {} → {}: {}{} in {:.1} s",
                    report.from_version.as_deref().unwrap_or("nothing"),
                    report.to_version.as_deref().unwrap_or("?"),
                    report.outcome.summary(),
                    report
                        .traffic_off_at
                        .map(|at| format!(", all traffic on it after {at:.1} s"))
                        .unwrap_or_default(),
                    report.seconds
                ),
            }
            Ok(match report.outcome {
                crate::engine::Outcome::Deployed | crate::engine::Outcome::Unchanged(_) => 0,
                _ => 1,
            })
        }
        Command::Status {
            env,
            deploy_dir,
            output,
        } => {
            let config = DeployConfig::load(&deploy_dir, &env)?;
            if config.platform == PlatformKind::Ecs {
                let ecs = crate::ecs::Ecs::connect(&config, &env, false)
                    .await
                    .map_err(anyhow::Error::msg)?;
                let status = ecs.status().await.map_err(anyhow::Error::msg)?;
                match output {
                    Output::Json => print_json(&status),
                    Output::Human => print!("{}", status.table()),
                }
                return Ok(0);
            }
            let t = target(&deploy_dir, &env)?;
            let records = History::open(&t.state_dir)?.records()?;
            let running = crate::state::Lock::holder(&t.state_dir);
            let unfinished = records.iter().rev().find(|r| r.outcome.is_none());
            let fleet = t.platform.fleet().await?;
            let mut windows = BTreeMap::new();
            for r in &fleet.routes {
                windows.insert(r.version.clone(), t.platform.window(&r.version, 60).await?);
            }
            match output {
                Output::Json => print_json(&serde_json::json!({
                    "fleet": fleet,
                    "last_60s": windows,
                    "deploy_in_progress": running.and(unfinished),
                })),
                Output::Human => {
                    match (running, unfinished) {
                        (Some(pid), Some(r)) => println!(
                            "{env}: {} {} → {} in progress (pid {pid}, phase {})",
                            r.strategy.map(|s| s.as_str()).unwrap_or("rollback"),
                            r.from_version.as_deref().unwrap_or("nothing"),
                            r.to_version,
                            r.phase
                                .as_ref()
                                .map(phase_label)
                                .unwrap_or_else(|| "starting".into())
                        ),
                        (None, Some(r)) => eprintln!(
                            "warning: deploy {} of {} never finished (marketctl stopped mid-deploy); the next deploy or rollback reconciles it",
                            r.id, r.to_version
                        ),
                        _ => {}
                    }
                    println!("{env}: live {}", fleet.live_version().unwrap_or("nothing"));
                    print!("{}", status_table(&fleet, &windows));
                }
            }
            Ok(0)
        }
        Command::Backup {
            env: _,
            action: BackupAction::Keygen,
            ..
        } => {
            use age::secrecy::ExposeSecret;
            let identity = age::x25519::Identity::generate();
            println!(
                "# public key: put it in [backup] recipient = \"...\"\n{}\n# identity: keep it secret and off this host's disk; export it as MARKETCTL_BACKUP_IDENTITY to verify and restore\n{}",
                identity.to_public(),
                identity.to_string().expose_secret()
            );
            Ok(0)
        }
        Command::Backup {
            env,
            action,
            backup,
            interval_seconds,
            metrics_file,
            once,
            deploy_dir,
            output,
        } => {
            let selector =
                backup.map_or(crate::backup::Selector::Latest, crate::backup::Selector::Id);
            if let Ok(config) = DeployConfig::load(&deploy_dir, &env)
                && config.platform == PlatformKind::Ecs
            {
                return backup_rds(&config, &env, action, &selector, output).await;
            }
            if let Ok(config) = DeployConfig::load(&deploy_dir, &env)
                && let Some(settings) = &config.pgbackrest
            {
                return backup_pgbackrest(settings, &env, action, &selector, output).await;
            }
            let (backups, _) = match backups(&deploy_dir, &env, output) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(e.exit_code());
                }
            };
            if action == BackupAction::Schedule {
                if interval_seconds == 0 {
                    eprintln!("error: --interval-seconds must be at least 1");
                    return Ok(64);
                }
                let plan = crate::backup::Schedule {
                    interval: std::time::Duration::from_secs(interval_seconds),
                    tiers: crate::backup::retention::Tiers::default(),
                    metrics_file,
                    once,
                };
                let run = backups.schedule(plan);
                let result = if once {
                    run.await
                } else {
                    tokio::select! {
                        r = run => r,
                        () = shutdown_signal() => Ok(()),
                    }
                };
                return match result {
                    Ok(()) => Ok(0),
                    Err(e) => {
                        eprintln!("error: {e}");
                        Ok(e.exit_code())
                    }
                };
            }
            let result = match action {
                BackupAction::Schedule | BackupAction::Keygen => unreachable!("handled above"),
                BackupAction::Create => backups.create().await.map(|m| vec![m]),
                BackupAction::List => backups.list().await,
                BackupAction::Verify => backups.verify(&selector).await.map(|m| vec![m]),
            };
            match result {
                Ok(manifests) => {
                    match output {
                        Output::Json if action == BackupAction::List => print_json(&manifests),
                        Output::Json => print_json(&manifests[0]),
                        Output::Human if action == BackupAction::List => {
                            print!("{}", crate::backup::table(&manifests))
                        }
                        Output::Human => {
                            let m = &manifests[0];
                            println!(
                                "{env}: backup {} {} ({} tables, {} rows; {} bytes stored, snapshot in {:.2} s)",
                                m.id,
                                if action == BackupAction::Verify {
                                    "verified"
                                } else {
                                    "taken"
                                },
                                m.content.tables.len(),
                                m.content.tables.values().map(|t| t.rows).sum::<u64>(),
                                m.archive_bytes,
                                m.snapshot_seconds
                            );
                        }
                    }
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(e.exit_code())
                }
            }
        }
        Command::Restore {
            env,
            latest: _,
            to,
            backup,
            into,
            cut_over,
            release,
            deploy_dir,
            output,
        } => {
            if let Ok(config) = DeployConfig::load(&deploy_dir, &env)
                && config.platform == PlatformKind::Ecs
            {
                return restore_rds(&config, &env, to, backup, into, cut_over, output).await;
            }
            if cut_over {
                eprintln!(
                    "error: --cut-over is for ECS environments; on one host, stop the service and move the restored file into place (docs/runbooks/disaster-recovery.md)"
                );
                return Ok(64);
            }
            if let Ok(config) = DeployConfig::load(&deploy_dir, &env)
                && let Some(settings) = &config.pgbackrest
            {
                return restore_pgbackrest(&config, settings, &env, to, backup, into, output).await;
            }
            let (backups, state_dir) = match backups(&deploy_dir, &env, output) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(e.exit_code());
                }
            };
            let selector = match crate::backup::Selector::from_args(to, backup) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(e.exit_code());
                }
            };
            let release = release.or_else(|| live_release(&state_dir));
            let max_schema = match &release {
                Some(binary) => match release_schema(binary).await {
                    Ok(v) => Some(v),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return Ok(1);
                    }
                },
                None => None,
            };
            match backups
                .restore(&selector, into, &state_dir, max_schema)
                .await
            {
                Ok((manifest, target)) => {
                    match output {
                        Output::Json => print_json(&serde_json::json!({
                            "backup": manifest,
                            "restored_into": target,
                        })),
                        Output::Human => println!(
                            "{env}: backup {} (taken {} UTC) restored into {}; verified against its manifest.\n\
                             Cut over: stop the service, move {} to the live database path, start it.",
                            manifest.id,
                            crate::state::utc(manifest.created_at),
                            target.display(),
                            target.display()
                        ),
                    }
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(e.exit_code())
                }
            }
        }
        Command::Dr {
            command:
                DrCommand::Drill {
                    env,
                    release,
                    engine,
                    load_seconds,
                    writers,
                    interval_seconds,
                    workdir,
                    deploy_dir,
                    output,
                },
        } => {
            let config = match DeployConfig::load(&deploy_dir, &env) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(if e.is_usage() { 64 } else { 1 });
                }
            };
            let release = release.or_else(|| {
                config
                    .local
                    .as_ref()
                    .and_then(|l| live_release(&l.state_dir))
            });
            let Some(release) = release else {
                eprintln!(
                    "error: {env} has no live release on this host: pass --release with a marketplace binary"
                );
                return Ok(64);
            };
            let engine = engine.unwrap_or_else(|| match config.env.get("TM_DATABASE_URL") {
                Some(url) if url.starts_with("postgres") => crate::dr::Engine::Postgres,
                _ => crate::dr::Engine::Sqlite,
            });
            if interval_seconds == 0 {
                eprintln!("error: --interval-seconds must be at least 1");
                return Ok(64);
            }
            let options = crate::dr::DrillOptions {
                env: env.clone(),
                release,
                engine,
                load_seconds,
                writers,
                interval: std::time::Duration::from_secs(interval_seconds),
                workdir,
                progress: output == Output::Human,
            };
            match crate::dr::drill(options).await {
                Ok(report) => {
                    match output {
                        Output::Json => print_json(&report),
                        Output::Human => print!("{}", crate::dr::table(&report)),
                    }
                    Ok(if report.passed { 0 } else { 1 })
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(e.exit_code())
                }
            }
        }
        Command::History {
            env,
            deploy_dir,
            output,
        } => {
            let config = DeployConfig::load(&deploy_dir, &env)?;
            let records = if config.platform == PlatformKind::Ecs {
                let ecs = crate::ecs::Ecs::connect(&config, &env, false)
                    .await
                    .map_err(anyhow::Error::msg)?;
                ecs.state.records().await.map_err(anyhow::Error::msg)?
            } else {
                let state_dir = config
                    .local
                    .map(|l| l.state_dir)
                    .ok_or_else(|| anyhow::anyhow!("{env}.toml has no [local] section"))?;
                History::open(&state_dir)?.records()?
            };
            match output {
                Output::Json => print_json(&records),
                Output::Human => print!("{}", history_table(&records)),
            }
            Ok(0)
        }
    }
}

fn print_deploy(env: &str, report: &crate::engine::Report, asked: &str, output: Output) {
    match output {
        Output::Json => print_json(report),
        Output::Human => println!(
            "{env}: {} → {}: {} in {:.1} s",
            report.from_version.as_deref().unwrap_or("nothing"),
            report.to_version.as_deref().unwrap_or(asked),
            report.outcome.summary(),
            report.seconds
        ),
    }
}

fn phase_label(phase: &crate::state::Phase) -> String {
    use crate::state::Phase;
    match phase {
        Phase::Canary { index, weight } => format!("canary step {} at {weight}%", index + 1),
        Phase::Rolling { index } => format!("rolling step {}", index + 1),
        Phase::PostPromotion => "post-promotion watch".into(),
        Phase::RollingBack => "rolling back".into(),
        Phase::Ecs { stage } => format!("ECS {stage}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Seconds as people read them: `≤0.05 s`, `>60 s`, `-` with no requests.
fn latency(requests: u64, seconds: Option<f64>) -> String {
    match (requests, seconds) {
        (0, _) => "-".to_owned(),
        (_, Some(p)) => format!("≤{p}s"),
        (_, None) => ">60s".to_owned(),
    }
}

/// One line per version, with weights as a share of 100 whatever the strategy wrote (rolling
/// weights by instance count, canary by percent), then one line per instance.
pub fn status_table(
    fleet: &crate::platform::Fleet,
    windows: &BTreeMap<String, crate::platform::Window>,
) -> String {
    use std::fmt::Write;
    let total: u32 = fleet.routes.iter().map(|r| r.weight).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<28} {:>7} {:>5} {:>9} {:>6} {:>8} {:>8} {:>8} {:>9}",
        "version", "traffic", "inst", "req/60s", "5xx", "p50", "p95", "p99", "in flight"
    );
    for r in &fleet.routes {
        let w = windows.get(&r.version).cloned().unwrap_or_default();
        let share = if total == 0 {
            0.0
        } else {
            f64::from(r.weight) * 100.0 / f64::from(total)
        };
        let t = &w.totals;
        let _ = writeln!(
            out,
            "  {:<28} {:>6.0}% {:>5} {:>9} {:>5.1}% {:>8} {:>8} {:>8} {:>9}",
            r.version,
            share,
            r.instances.len(),
            t.requests,
            t.error_rate * 100.0,
            latency(t.requests, t.p50_seconds),
            latency(t.requests, t.p95_seconds),
            latency(t.requests, t.p99_seconds),
            if w.in_flight > 0 {
                format!("{} ({:.0}s)", w.in_flight, w.oldest_in_flight_seconds)
            } else {
                "0".into()
            }
        );
    }
    for i in &fleet.instances {
        let _ = writeln!(
            out,
            "  {:<36} {:<10} {} failed checks",
            i.id, i.status, i.consecutive_failures
        );
    }
    out
}

/// One line per deploy or rollback: when (UTC), who, what, how it ended and whether the
/// release it left live is known-good.
pub fn history_table(records: &[crate::state::Record]) -> String {
    use crate::state::Action;
    use std::fmt::Write;
    let mut out = String::new();
    for r in records {
        let what = match (r.action, r.strategy) {
            (Action::Rollback, _) => "rollback".to_owned(),
            (Action::Deploy, Some(s)) => format!("deploy {}", s.as_str()),
            (Action::Deploy, None) => "deploy".to_owned(),
        };
        let ended = match (r.outcome, &r.phase) {
            (Some(o), _) => o.label().to_owned(),
            (None, Some(p)) => format!("in progress ({})", phase_label(p)),
            (None, None) => "in progress".to_owned(),
        };
        let _ = writeln!(
            out,
            "{} UTC  {:<10} {:<18} {} → {}  {}{}{}{}",
            r.started(),
            r.user,
            what,
            r.from_version.as_deref().unwrap_or("nothing"),
            r.to_version,
            ended,
            r.duration_seconds()
                .map(|d| format!(" in {d:.1}s"))
                .unwrap_or_default(),
            r.proven
                .as_ref()
                .map(|p| format!("; known-good: {p}"))
                .unwrap_or_default(),
            r.reason
                .as_deref()
                .map(|x| format!("\n    {x}"))
                .unwrap_or_default(),
        );
        for w in &r.warnings {
            let _ = writeln!(out, "    warning: {w}");
        }
    }
    out
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
