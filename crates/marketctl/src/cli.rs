//! The command line. Exit codes: 0 deployed / success, 1 failed (before traffic moved),
//! 2 rolled back, 3 timed out, 64 usage error.

use crate::config::{DeployConfig, PlatformKind};
use crate::engine::{DeployRequest, Engine, Strategy};
use crate::platform::Platform;
use crate::platform::local::LocalPlatform;
use crate::proxy::{self, ProxyConfig};
use crate::state::History;
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
        /// The marketplace binary to release.
        #[arg(long)]
        release: PathBuf,
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
    /// Who deployed what, when, how, and how it ended.
    History {
        env: String,
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

fn target(deploy_dir: &std::path::Path, env: &str) -> anyhow::Result<Target> {
    let config = DeployConfig::load(deploy_dir, env)?;
    if config.platform == PlatformKind::Ecs {
        anyhow::bail!(
            "platform \"ecs\" is not available yet in this marketctl; use platform = \"local\""
        );
    }
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
                },
        } => {
            let running = proxy::start(ProxyConfig {
                listen,
                admin,
                token,
                state_dir,
            })
            .await?;
            println!(
                "marketctl proxy: public http://{} admin http://{}",
                running.public, running.admin
            );
            shutdown_signal().await;
            tracing::info!("stopping: draining requests and stopping instances");
            running.shutdown().await;
            Ok(0)
        }
        Command::Deploy {
            env,
            strategy,
            release,
            skip_checks,
            deploy_dir,
            output,
        } => {
            let t = target(&deploy_dir, &env)?;
            let engine = Engine::new(
                &t.config,
                &t.platform,
                &env,
                &t.state_dir,
                t.release_env.clone(),
                output == Output::Human,
            );
            let report = engine
                .deploy(DeployRequest {
                    strategy,
                    release,
                    run_checks: !skip_checks,
                })
                .await;
            match output {
                Output::Json => print_json(&report),
                Output::Human => println!(
                    "{env}: {} → {}: {} in {:.1} s",
                    report.from_version.as_deref().unwrap_or("nothing"),
                    report.to_version.as_deref().unwrap_or("?"),
                    report.outcome.summary(),
                    report.seconds
                ),
            }
            Ok(report.outcome.exit_code())
        }
        Command::Rollback {
            env,
            to,
            deploy_dir,
            output,
        } => {
            let t = target(&deploy_dir, &env)?;
            let (_lock, _) = crate::state::Lock::acquire(&t.state_dir)?;
            let history = History::open(&t.state_dir)?;
            let fleet = t.platform.fleet().await?;
            let live = fleet.live_version().map(str::to_owned);
            let version = match to {
                Some(v) => v,
                None => history
                    .deployed_versions()?
                    .into_iter()
                    .rev()
                    .find(|v| Some(v) != live.as_ref())
                    .ok_or_else(|| {
                        anyhow::anyhow!("no earlier known-good release in the history")
                    })?,
            };
            let started = crate::state::now();
            let result =
                crate::engine::switch_to(&t.config, &t.platform, &t.state_dir, &version).await;
            let record = crate::state::Record {
                id: format!("{started:.3}-{}", std::process::id()),
                environment: env.clone(),
                user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
                action: "rollback".into(),
                strategy: None,
                from_version: live.clone(),
                to_version: version.clone(),
                started_at: started,
                warnings: Vec::new(),
                finished_at: Some(crate::state::now()),
                outcome: Some(if result.is_ok() {
                    "deployed".into()
                } else {
                    "failed".into()
                }),
                reason: result
                    .as_ref()
                    .err()
                    .cloned()
                    .or(Some("manual rollback".into())),
            };
            history.append(&record)?;
            if result.is_ok() {
                // The switch left one version live and nothing else: any interrupted deploy is settled.
                for mut r in history
                    .records()?
                    .into_iter()
                    .filter(|r| r.outcome.is_none())
                {
                    r.finished_at = Some(crate::state::now());
                    r.outcome = Some("failed".into());
                    r.reason = Some(format!(
                        "interrupted: marketctl stopped mid-deploy; reconciled by rollback to {version}"
                    ));
                    history.append(&r)?;
                }
            }
            match output {
                Output::Json => print_json(&record),
                Output::Human => match &result {
                    Ok(()) => println!(
                        "{env}: rolled back {} → {version}",
                        live.as_deref().unwrap_or("nothing")
                    ),
                    Err(e) => println!("{env}: rollback to {version} failed: {e}"),
                },
            }
            Ok(if result.is_ok() { 0 } else { 1 })
        }
        Command::Status {
            env,
            deploy_dir,
            output,
        } => {
            let t = target(&deploy_dir, &env)?;
            let unfinished: Vec<crate::state::Record> = History::open(&t.state_dir)?
                .records()?
                .into_iter()
                .filter(|r| r.outcome.is_none())
                .collect();
            if let Some(r) = unfinished.last() {
                eprintln!(
                    "warning: deploy {} of {} never finished (marketctl stopped mid-deploy); the next deploy or rollback reconciles it",
                    r.id, r.to_version
                );
            }
            let fleet = t.platform.fleet().await?;
            let mut windows = BTreeMap::new();
            for r in &fleet.routes {
                windows.insert(r.version.clone(), t.platform.window(&r.version, 60).await?);
            }
            match output {
                Output::Json => {
                    print_json(&serde_json::json!({"fleet": fleet, "last_60s": windows}))
                }
                Output::Human => {
                    println!("{env}: live {}", fleet.live_version().unwrap_or("nothing"));
                    for r in &fleet.routes {
                        let w = windows.get(&r.version).cloned().unwrap_or_default();
                        let p95 = match (w.totals.requests, w.totals.p95_seconds) {
                            (0, _) => "-".to_owned(),
                            (_, Some(p)) => format!("≤{p} s"),
                            (_, None) => ">60 s".to_owned(),
                        };
                        println!(
                            "  {:<24} weight {:>3}  {} instances  {} req/60s  {:.1}% 5xx  p95 {p95}  {} in flight",
                            r.version,
                            r.weight,
                            r.instances.len(),
                            w.totals.requests,
                            w.totals.error_rate * 100.0,
                            w.in_flight
                        );
                    }
                    for i in &fleet.instances {
                        println!(
                            "  {:<32} {:<10} {} failed checks",
                            i.id, i.status, i.consecutive_failures
                        );
                    }
                }
            }
            Ok(0)
        }
        Command::History {
            env,
            deploy_dir,
            output,
        } => {
            let config = DeployConfig::load(&deploy_dir, &env)?;
            let state_dir = config
                .local
                .map(|l| l.state_dir)
                .ok_or_else(|| anyhow::anyhow!("{env}.toml has no [local] section"))?;
            let records = History::open(&state_dir)?.records()?;
            match output {
                Output::Json => print_json(&records),
                Output::Human => {
                    for r in &records {
                        println!(
                            "{:<17} {:<10} {:<8} {:<10} {} → {}  {}{}  {}",
                            r.id.split('-').next().unwrap_or(""),
                            r.user,
                            r.action,
                            r.strategy.as_deref().unwrap_or("-"),
                            r.from_version.as_deref().unwrap_or("nothing"),
                            r.to_version,
                            r.outcome.as_deref().unwrap_or("in progress"),
                            r.reason
                                .as_deref()
                                .map(|x| format!(" ({x})"))
                                .unwrap_or_default(),
                            r.duration_seconds()
                                .map(|d| format!("{d:.1}s"))
                                .unwrap_or_default(),
                        );
                    }
                }
            }
            Ok(0)
        }
    }
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
