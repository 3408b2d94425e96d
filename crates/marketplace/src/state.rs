//! The one shared state every handler sees: store, settings, metrics, assets and lifecycle.

use crate::assets::Assets;
use crate::config::Settings;
use crate::metrics::Metrics;
use axum::extract::FromRef;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use storage::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    pub assets: Arc<Assets>,
    pub lifecycle: Lifecycle,
    pub listing: Arc<crate::listing::ListingCache>,
    pub media: crate::media::MediaStore,
    /// A real argon2id hash of a random password, verified against when an email is unknown so
    /// that sign-in takes the same time whether or not the account exists.
    pub dummy_hash: Arc<str>,
    /// Signs the links in account emails (verification).
    pub links: crate::auth::email_link::LinkSigner,
    /// The bounded argon2id hasher every sign-in and registration goes through.
    pub passwords: Arc<crate::auth::password::Passwords>,
    /// The OpenID Connect providers people may sign in with.
    pub oidc: Arc<crate::auth::oidc::OidcProviders>,
    /// Stripe, when card deposits are set up.
    pub stripe: Option<Arc<crate::card_payments::Stripe>>,
    /// Seals and opens special-category fields (health answers, dates of birth, skin photos).
    pub cipher: Arc<crate::crypto::FieldCipher>,
    /// Accounts already marked active today (daily and weekly active users).
    pub activity: Arc<crate::metrics::activity::Activity>,
}

impl FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

/// Whether the instance is draining. Flipped once, at the start of shutdown.
#[derive(Clone, Default)]
pub struct Lifecycle(Arc<AtomicBool>);

impl Lifecycle {
    pub fn start_draining(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What this binary is: reported by `/version`, `marketplace version` and the build-info metric.
pub struct BuildInfo;

impl BuildInfo {
    pub const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    pub const COMMIT: &'static str = env!("TM_GIT_COMMIT");
    const BUILT_AT_EPOCH: &'static str = env!("TM_BUILD_TIME");

    /// The build time as RFC 3339.
    pub fn built_at() -> String {
        Self::BUILT_AT_EPOCH
            .parse::<i64>()
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "unknown".to_owned())
    }
}
