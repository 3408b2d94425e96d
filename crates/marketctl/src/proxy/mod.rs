//! The host agent: a weighted HTTP proxy in front of supervised marketplace instances, with
//! per-version metrics and a token-protected admin API on loopback.

pub mod admin;
pub mod forward;
pub mod metrics;
pub mod routes;
pub mod supervisor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Shortest admin token accepted: guessing it must be hopeless.
pub const MIN_TOKEN_LEN: usize = 32;

/// How the agent is started.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Public listener that clients reach.
    pub listen: SocketAddr,
    /// Admin API listener; must be a loopback address.
    pub admin: SocketAddr,
    pub token: String,
    /// Instance logs go under `STATE_DIR/logs`.
    pub state_dir: PathBuf,
}

/// Why the agent refused to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the admin API must listen on loopback, not {0}")]
    AdminNotLoopback(SocketAddr),
    #[error("the admin token must be at least {MIN_TOKEN_LEN} characters")]
    WeakToken,
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("creating {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything the proxy's handlers share.
pub struct Shared {
    pub routes: routes::RouteTable,
    pub metrics: metrics::ProxyMetrics,
    pub supervisor: supervisor::Supervisor,
    pub client: forward::UpstreamClient,
    pub token: String,
}

/// A running agent.
pub struct Running {
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, then stops every instance with SIGTERM.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.shared.supervisor.stop_all().await;
    }
}

/// Binds both listeners and serves until `shutdown`.
pub async fn start(config: ProxyConfig) -> Result<Running, StartError> {
    if !config.admin.ip().is_loopback() {
        return Err(StartError::AdminNotLoopback(config.admin));
    }
    if config.token.len() < MIN_TOKEN_LEN {
        return Err(StartError::WeakToken);
    }
    let logs = config.state_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| StartError::StateDir {
        path: logs.clone(),
        source,
    })?;
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })
    };
    let public_listener = bind(config.listen).await?;
    let admin_listener = bind(config.admin).await?;
    let public = public_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let admin = admin_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            addr: config.admin,
            source,
        })?;

    let shared = Arc::new(Shared {
        routes: routes::RouteTable::default(),
        metrics: metrics::ProxyMetrics::new(),
        supervisor: supervisor::Supervisor::new(logs),
        client: forward::UpstreamClient::new(),
        token: config.token,
    });
    let (stop, stopped) = watch::channel(false);
    let serve = |listener: TcpListener, app: axum::Router, mut stopped: watch::Receiver<bool>| {
        tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let result = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "listener failed");
            }
        })
    };
    let tasks = vec![
        serve(
            public_listener,
            forward::router(shared.clone()),
            stopped.clone(),
        ),
        serve(admin_listener, admin::router(shared.clone()), stopped),
    ];
    tracing::info!(%public, %admin, "proxy listening");
    Ok(Running {
        public,
        admin,
        shared,
        stop,
        tasks,
    })
}
