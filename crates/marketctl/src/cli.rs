//! The command line. Exit codes: 0 success, 1 failure, 64 usage error.

use crate::proxy::{self, ProxyConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "marketctl", version, about = "Tattoo Marketplace operations")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The host agent: proxy, instance supervisor and admin API.
    Proxy {
        #[command(subcommand)]
        command: ProxyCommand,
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
            Ok(())
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
