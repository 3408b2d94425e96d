//! The command line: `serve` (default), `migrate [--check]`, `seed-demo`, `keys rotate`,
//! `audit verify`, `healthcheck`, `version`.
//!
//! Exit codes: 0 success; 1 the operation failed or the check did not pass; 2 bad usage or configuration.

use crate::config::Settings;
use crate::startup::{Application, shutdown_signal};
use crate::state::BuildInfo;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use storage::PoolOptions;

#[derive(Debug, Parser)]
#[command(
    name = "marketplace",
    version,
    about = "Tattoo Marketplace web service"
)]
pub struct Cli {
    /// Folder holding base.toml and the environment files.
    #[arg(long, env = "TM_CONFIG_DIR", default_value = "config", global = true)]
    pub config_dir: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate {
        /// Only report; exit 1 if any migration is pending. Applies nothing.
        #[arg(long)]
        check: bool,
    },
    /// Fill an empty database with demo artists, studios, clients and bookings.
    SeedDemo {
        /// Then grow the catalogue to this many artists (ten portfolio pieces each), for load
        /// tests and benchmarks; works on a database seeded before.
        #[arg(long)]
        artists: Option<usize>,
    },
    /// Exit 0 only if the local instance's /health/ready answers 200 (for container health checks).
    Healthcheck {
        /// Readiness URL; defaults to http://127.0.0.1:PORT/health/ready from the configuration.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Print the version, git commit and build time.
    Version {
        #[arg(long)]
        json: bool,
    },
    /// Field-encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI document this build serves at /api/openapi.json (no configuration or
    /// database needed), for client generators and API reviews.
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Re-wrap every data key under the configured KMS key (after KMS rotates it, or to move to
    /// another key), then start a new data key for new data. Nothing is re-encrypted and running
    /// instances carry on: run it while serving.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash chain; exit 1 naming the first entry that was changed or removed.
    Verify,
}

enum Failure {
    Config(String),
    Failed(String),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
        Err(Failure::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Config(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn load(cli: &Cli) -> Result<Settings, Failure> {
    Settings::load(&cli.config_dir).map_err(|e| Failure::Config(e.to_string()))
}

fn failed(e: impl std::fmt::Display) -> Failure {
    Failure::Failed(format!("{e:#}"))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        None | Some(Command::Serve) => {
            let settings = load(&cli)?;
            let _telemetry =
                crate::telemetry::init(&settings.log, &settings.tracing, settings.env.as_str())
                    .map_err(|e| Failure::Config(e.to_string()))?;
            let app = Application::build(settings).await.map_err(failed)?;
            println!("Tattoo Marketplace is running at http://{}", app.address());
            app.run_until_stopped(shutdown_signal())
                .await
                .map_err(failed)
        }
        Some(Command::Migrate { check }) => {
            let settings = load(&cli)?;
            let store = crate::db_auth::connect(&settings.database, PoolOptions::default())
                .await
                .map_err(failed)?;
            let status = store.schema_status().await.map_err(failed)?;
            if check {
                store.close().await;
                if status.is_compatible() {
                    println!("schema is up to date (version {})", status.expected);
                    return Ok(());
                }
                return Err(Failure::Failed(format!(
                    "{} migration(s) pending: {:?}; failed: {:?}",
                    status.pending.len(),
                    status.pending,
                    status.dirty
                )));
            }
            let applied = store.migrate().await.map_err(failed)?;
            store.close().await;
            if applied.is_empty() {
                println!("no pending migrations (schema version {})", status.expected);
            } else {
                println!("applied {} migration(s): {applied:?}", applied.len());
            }
            Ok(())
        }
        Some(Command::SeedDemo { artists }) => {
            let settings = load(&cli)?;
            let store = crate::db_auth::connect(&settings.database, PoolOptions::default())
                .await
                .map_err(failed)?;
            store.migrate().await.map_err(failed)?;
            let result = async {
                let seeded =
                    crate::seed::seed_if_empty(store.as_ref(), &settings.media.dir).await?;
                let added = match artists {
                    Some(target) => Some(crate::seed::seed_bulk(store.as_ref(), target).await?),
                    None => None,
                };
                Ok::<_, crate::error::AppError>((seeded, added))
            }
            .await;
            store.close().await;
            match result.map_err(failed)? {
                (Some(s), added) => {
                    println!(
                        "seeded {} users, {} artists, {} studios, {} portfolio items, {} bookings",
                        s.users, s.artists, s.studios, s.portfolio_items, s.bookings
                    );
                    if let Some(n) = added {
                        println!("added {n} artists with {} portfolio items each", 10);
                    }
                    Ok(())
                }
                (None, Some(n)) => {
                    println!("the demo data was already there; added {n} artists");
                    Ok(())
                }
                (None, None) => Err(Failure::Failed(
                    "the database already has accounts; seed-demo only fills an empty database \
                     (add --artists N to grow the catalogue)"
                        .into(),
                )),
            }
        }
        Some(Command::Audit {
            command: AuditCommand::Verify,
        }) => {
            let settings = load(&cli)?;
            let store = crate::db_auth::connect(&settings.database, PoolOptions::default())
                .await
                .map_err(failed)?;
            let verdict = crate::services::audit::verify(&store).await;
            store.close().await;
            match verdict.map_err(failed)? {
                crate::services::audit::Verdict::Intact { entries, head } => {
                    println!("audit log intact: {entries} entries, last hash {head}");
                    Ok(())
                }
                crate::services::audit::Verdict::Broken(e) => {
                    Err(Failure::Failed(format!("audit log tampered with: {e}")))
                }
            }
        }
        Some(Command::Keys {
            command: KeysCommand::Rotate,
        }) => {
            let settings = load(&cli)?;
            let store = crate::db_auth::connect(&settings.database, PoolOptions::default())
                .await
                .map_err(failed)?;
            let wrapper = crate::crypto::wrapper_from(&settings.encryption)
                .await
                .map_err(failed)?;
            let cipher = crate::crypto::FieldCipher::new(wrapper, store.clone());
            let rotated = cipher.rotate().await;
            let done = match &rotated {
                Ok(r) => {
                    let detail = serde_json::json!({
                        "rewrapped": r.rewrapped, "new_key": r.new_key, "key_ref": r.key_ref,
                    });
                    crate::services::audit::append(
                        &store,
                        domain::AuditAction::KeysRotated,
                        None,
                        None,
                        &crate::client_ip::Origin::default(),
                        detail,
                    )
                    .await
                    .map_err(failed)
                }
                Err(_) => Ok(()),
            };
            store.close().await;
            let r = rotated.map_err(failed)?;
            done?;
            println!(
                "rewrapped {} data key(s) under {}; new data is encrypted with data key {}",
                r.rewrapped, r.key_ref, r.new_key
            );
            Ok(())
        }
        Some(Command::Healthcheck { url, timeout_secs }) => {
            let url = match url {
                Some(u) => u,
                None => {
                    let port = Settings::load(&cli.config_dir)
                        .map_err(|e| Failure::Config(e.to_string()))?
                        .server
                        .port;
                    format!("http://127.0.0.1:{port}/health/ready")
                }
            };
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(timeout_secs))
                .build()
                .map_err(failed)?;
            let response = client
                .get(&url)
                .send()
                .await
                .map_err(|e| Failure::Failed(format!("{url}: {e}")))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if status == reqwest::StatusCode::OK {
                println!("ready: {body}");
                Ok(())
            } else {
                Err(Failure::Failed(format!("not ready ({status}): {body}")))
            }
        }
        Some(Command::Openapi) => {
            let doc = crate::routes::openapi_document()
                .to_pretty_json()
                .map_err(failed)?;
            println!("{doc}");
            Ok(())
        }
        Some(Command::Version { json }) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "version": BuildInfo::VERSION,
                        "commit": BuildInfo::COMMIT,
                        "build_time": BuildInfo::built_at(),
                        "schema_version": storage::embedded_schema_version(),
                    })
                );
            } else {
                println!(
                    "marketplace {} (commit {}, built {})",
                    BuildInfo::VERSION,
                    BuildInfo::COMMIT,
                    BuildInfo::built_at()
                );
            }
            Ok(())
        }
    }
}
