//! Building and running the server: bind (port 0 in tests), serve, and shut down gracefully.
//!
//! Shutdown order, so that no request is refused: readiness turns 503 at once; the listener keeps
//! accepting for the pre-stop delay while load balancers deregister the instance; then it stops
//! accepting, in-flight requests drain up to the deadline, the pool closes and `run` returns.

use crate::assets::Assets;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::state::{AppState, BuildInfo, Lifecycle};
use anyhow::Context;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::{PoolOptions, Store};
use tokio::net::TcpListener;
use tower_sessions::cookie::Key;
use tower_sessions::session_store::ExpiredDeletion;
use tracing::Instrument;

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    address: SocketAddr,
    mailer: crate::jobs::Mailer,
    /// Start-up's span, ended once the server listens: its lines carry a trace id like any
    /// request's, and a slow start (migrations, seeding) shows as one trace.
    startup: tracing::Span,
}

impl Application {
    /// Connects to the database, applies migrations and seeds demo data when configured, and
    /// binds the listener. Nothing is served until `run_until_stopped`.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let startup = tracing::info_span!("startup");
        Self::assemble(settings, startup.clone())
            .instrument(startup)
            .await
    }

    async fn assemble(settings: Settings, startup: tracing::Span) -> anyhow::Result<Self> {
        tracing::info!(env = settings.env.as_str(), config = ?settings, "starting");
        let settings = Arc::new(settings);
        let store = crate::db_auth::connect(
            &settings.database,
            PoolOptions {
                max_connections: settings.database.max_connections,
                acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
                password: None,
            },
        )
        .await?;
        if settings.database.migrate_on_start {
            let applied = store.migrate().await.context("applying migrations")?;
            if !applied.is_empty() {
                tracing::info!(?applied, "migrations applied");
            }
        }
        // Early, so a changed text under an old version stops this release before it serves; with
        // migrations still pending it waits for the first acceptance (readiness says why meanwhile).
        if store.schema_status().await?.is_compatible() {
            crate::services::legal::publish(&store)
                .await
                .map_err(|e| anyhow::anyhow!("publishing the terms and privacy policy: {e}"))?;
        }
        if settings.demo.seed_when_empty
            && let Some(summary) = crate::seed::seed_if_empty(store.as_ref(), &settings.media.dir)
                .await
                .map_err(|e| anyhow::anyhow!("seeding demo data: {e}"))?
        {
            tracing::info!(?summary, "demo data seeded");
        }
        let passwords = crate::auth::password::Passwords::new((&settings.auth).into());
        let session_key = session_key(&settings)?;
        let media = crate::media::MediaStore::from_settings(&settings.media)?;
        let cipher = Arc::new(crate::crypto::FieldCipher::new(
            crate::crypto::wrapper_from(&settings.encryption).await?,
            store.clone(),
        ));
        let state = AppState {
            store,
            media,
            metrics: Metrics::new(BuildInfo::VERSION, BuildInfo::COMMIT)
                .with_emf(&settings.log.emf_namespace, settings.env.as_str()),
            assets: Arc::new(Assets::build()),
            lifecycle: Lifecycle::default(),
            listing: Arc::new(crate::listing::ListingCache::new(Duration::from_millis(
                settings.cache.listing_ttl_ms,
            ))),
            // A real hash of a random password, so unknown emails cost the same as known ones.
            dummy_hash: passwords
                .hash(uuid::Uuid::new_v4().to_string())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .into(),
            passwords,
            links: crate::auth::email_link::LinkSigner::new(session_key.master()),
            oidc: crate::auth::oidc::OidcProviders::new(
                &settings.auth.oidc,
                &settings.mail.public_url,
            )?,
            stripe: crate::card_payments::Stripe::from_settings(&settings.payments)?.map(Arc::new),
            cipher,
            activity: Arc::default(),
            settings: settings.clone(),
        };
        let mailer = crate::jobs::Mailer::from_settings(&settings.mail)?;
        if settings.env != crate::config::Environment::Development
            && settings.mail.transport == crate::config::MailTransport::Folder
        {
            tracing::warn!(folder = %settings.mail.folder.display(), "notification email is written to a folder, not sent");
        }
        if settings.env.is_strict() && settings.server.operator_token.is_none() {
            tracing::warn!(
                "no server.operator_token (TM_SERVER_OPERATOR_TOKEN): /metrics is not served and /version shows only the version"
            );
        }
        let router = crate::routes::router(state.clone(), session_key);
        let listener = TcpListener::bind(settings.bind_address())
            .await
            .with_context(|| format!("binding {}", settings.bind_address()))?;
        let address = listener.local_addr()?;
        Ok(Self {
            listener,
            router,
            state,
            address,
            mailer,
            startup,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Serves until `shutdown` resolves, then drains as described in the module docs.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            state,
            address,
            mailer,
            startup,
        } = self;
        // Jobs stop when serving stops; an interrupted email is retried after its lease.
        let jobs = state
            .settings
            .jobs
            .enabled
            .then(|| tokio::spawn(crate::jobs::run(state.clone(), mailer)));
        let server_settings = state.settings.server.clone();
        let sessions = state.store.session_store();
        let cleanup = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                let sweep =
                    tracing::info_span!("sessions.delete_expired", sampling.priority = 0_i64);
                if let Err(e) = sessions.delete_expired().instrument(sweep.clone()).await {
                    sweep.in_scope(|| {
                        tracing::warn!(error = %e, "deleting expired sessions failed; will retry")
                    });
                }
            }
        });
        let (stop_accepting, accepting_stopped) = tokio::sync::oneshot::channel::<()>();
        // Outside the router, so routing itself sees only canonical paths, and every route the
        // client's address.
        let trusted = crate::client_ip::TrustedProxies::parse(&server_settings.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("server.trusted_proxies: {e}"))?;
        let app = tower::ServiceBuilder::new()
            .layer(crate::canonical::CanonicalPathLayer)
            .layer(crate::client_ip::ClientIpLayer(trusted))
            .service(router);
        let server = axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                SocketAddr,
            >(app),
        )
        .with_graceful_shutdown(async move {
            let _ = accepting_stopped.await;
        })
        .into_future();
        let mut server = tokio::spawn(server);
        startup.in_scope(|| tracing::info!(%address, "listening"));
        drop(startup);

        tokio::select! {
            result = &mut server => {
                cleanup.abort();
                if let Some(j) = &jobs { j.abort(); }
                return result.context("server task")?.context("server failed");
            }
            () = shutdown => {}
        }
        // The drain is one trace too, so a slow or abandoned drain shows on its own.
        async move {
            state.lifecycle.start_draining();
            tracing::info!(
                pre_stop_ms = server_settings.pre_stop_delay_ms,
                "shutdown requested: readiness is now 503"
            );
            tokio::time::sleep(server_settings.pre_stop_delay()).await;
            let _ = stop_accepting.send(());
            tracing::info!(
                deadline_ms = server_settings.drain_deadline_ms,
                "stopped accepting; draining in-flight requests"
            );
            match tokio::time::timeout(server_settings.drain_deadline(), &mut server).await {
                Ok(result) => result.context("server task")?.context("server failed")?,
                Err(_) => {
                    tracing::warn!(
                        "drain deadline passed; abandoning the requests still in flight"
                    );
                    server.abort();
                }
            }
            cleanup.abort();
            if let Some(j) = &jobs {
                j.abort();
            }
            state.store.close().await;
            tracing::info!("shutdown complete");
            Ok(())
        }
        .instrument(tracing::info_span!("shutdown"))
        .await
    }
}

/// The cookie-signing key. Development may run without a secret; it then gets a random key, so
/// sessions last only as long as the process.
fn session_key(settings: &Settings) -> anyhow::Result<Key> {
    match &settings.session.secret {
        Some(secret) => Key::try_from(secret.expose_secret().as_bytes()).map_err(|_| {
            anyhow::anyhow!(
                "session.secret (TM_SESSION_SECRET) must be at least {} bytes",
                crate::config::MIN_SECRET_LEN
            )
        }),
        None => {
            tracing::warn!(
                "no session.secret set: using a random key; sessions end when the process stops"
            );
            Ok(Key::generate())
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
