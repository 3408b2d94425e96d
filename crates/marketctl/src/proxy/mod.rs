//! The host agent: a weighted HTTP proxy in front of supervised marketplace instances, with
//! per-version metrics and a token-protected admin API on loopback.

pub mod admin;
pub mod forward;
pub mod markers;
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
    /// Where the proxy's spans go; `None` records none and forwards `traceparent` untouched.
    pub tracing: Option<otel_pipeline::Provider>,
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
    /// Where the agent keeps its routes and instances, so a restarted agent resumes them.
    pub saved_state: PathBuf,
    pub routes: routes::RouteTable,
    pub metrics: metrics::ProxyMetrics,
    pub markers: markers::Markers,
    pub supervisor: supervisor::Supervisor,
    pub client: forward::UpstreamClient,
    pub token: String,
    pub tracer: Option<otel_pipeline::Tracer>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedState {
    routes: routes::RouteSpec,
    instances: Vec<supervisor::InstanceSpec>,
}

impl Shared {
    /// Writes routes and instance specs atomically (temp file, then rename).
    pub fn save(&self) {
        let state = SavedState {
            routes: (*self.routes.snapshot()).clone(),
            instances: self.supervisor.specs(),
        };
        let tmp = self.saved_state.with_extension("tmp");
        let result = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.saved_state));
        if let Err(e) = result {
            tracing::error!(error = %e, path = %self.saved_state.display(), "could not save the agent state");
        }
    }

    /// After a restart: starts the instances again and restores the routes.
    fn restore(&self) {
        let Ok(bytes) = std::fs::read(&self.saved_state) else {
            return;
        };
        let state: SavedState = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "saved agent state is unreadable; starting empty");
                return;
            }
        };
        for spec in state.instances {
            let id = spec.id.clone();
            if let Err(e) = self.supervisor.start(spec) {
                tracing::error!(%id, error = %e, "could not restart a saved instance");
            }
        }
        if let Err(e) = self.routes.replace(state.routes) {
            tracing::error!(error = %e, "saved routes are invalid; starting with none");
        }
        tracing::info!(
            instances = self.supervisor.list().len(),
            "restored the saved agent state"
        );
    }
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
        saved_state: config.state_dir.join("agent-state.json"),
        routes: routes::RouteTable::default(),
        metrics: metrics::ProxyMetrics::new(),
        markers: markers::Markers::default(),
        supervisor: supervisor::Supervisor::new(logs),
        client: forward::UpstreamClient::new(),
        token: config.token,
        tracer: config
            .tracing
            .as_ref()
            .map(|p| opentelemetry::trace::TracerProvider::tracer(p, "marketctl-proxy")),
    });
    shared.restore();
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
