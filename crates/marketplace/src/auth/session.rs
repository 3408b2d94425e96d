//! Who is signed in, and extractors that enforce roles so a handler cannot forget to check.

use crate::auth::csrf;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::{Role, UserId};
use std::marker::PhantomData;
use storage::User;
use tower_sessions::Session;

const USER_KEY: &str = "user_id";
/// The account's `session_epoch` when the session began; sessions of an older epoch are over.
const EPOCH_KEY: &str = "epoch";
/// The signed-in browser's row in `user_devices`; once the row is gone the session is over.
const DEVICE_KEY: &str = "device";

/// Starts a signed-in session: a new session id (against fixation) and a new CSRF token.
pub async fn sign_in(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(USER_KEY, user.id.get()).await?;
    session.insert(EPOCH_KEY, user.session_epoch).await?;
    session.remove::<(i64, i64)>(PENDING_KEY).await?;
    // A new sign-in is a new entry on the sessions page, made on its first request.
    session.remove::<String>(DEVICE_KEY).await?;
    csrf::rotate(session).await?;
    Ok(())
}

/// Between a correct password and the second factor: the session names the account (and its
/// epoch) but is not signed in.
const PENDING_KEY: &str = "two_factor_pending";

/// Records that `user` gave the right password and still owes the second factor.
pub async fn begin_two_factor(session: &Session, user: &User) -> Result<(), AppError> {
    session.cycle_id().await?;
    session
        .insert(PENDING_KEY, (user.id.get(), user.session_epoch))
        .await?;
    csrf::rotate(session).await?;
    Ok(())
}

/// The account waiting for its second factor in this session, if it still exists unchanged.
pub async fn pending_two_factor(
    session: &Session,
    state: &AppState,
) -> Result<Option<User>, AppError> {
    let Some((id, epoch)) = session.get::<(i64, i64)>(PENDING_KEY).await? else {
        return Ok(None);
    };
    Ok(state
        .store
        .user(UserId::new(id))
        .await?
        .filter(|u| u.session_epoch == epoch))
}

/// Ends the session everywhere: the server-side record is deleted, not just the cookie.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await?;
    Ok(())
}

async fn session_of(parts: &mut Parts, state: &AppState) -> Result<Session, AppError> {
    Session::from_request_parts(parts, state)
        .await
        .map_err(|(_, m)| AppError::Internal(anyhow::anyhow!("session layer missing: {m}")))
}

async fn load_user(parts: &mut Parts, state: &AppState) -> Result<Option<User>, AppError> {
    let session = session_of(parts, state).await?;
    let Some(id) = session.get::<i64>(USER_KEY).await? else {
        return Ok(None);
    };
    let epoch = session.get::<i64>(EPOCH_KEY).await?.unwrap_or(0);
    let user = state
        .store
        .user(UserId::new(id))
        .await?
        .filter(|u| u.session_epoch == epoch);
    let Some(user) = user else {
        // The account is gone, or all its sessions were ended: this one must not keep working.
        session.flush().await?;
        return Ok(None);
    };
    let now = crate::clock::now();
    match session.get::<String>(DEVICE_KEY).await? {
        Some(device) => {
            if !state.store.device_seen(&device, user.id, now).await? {
                // Signed out from the sessions page.
                session.flush().await?;
                return Ok(None);
            }
        }
        None => {
            let device = uuid::Uuid::new_v4().simple().to_string();
            let agent = parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            state
                .store
                .add_device(&device, user.id, &browser_label(agent), now)
                .await?;
            session.insert(DEVICE_KEY, device).await?;
        }
    }
    state
        .activity
        .seen(&state.store, &state.metrics.kpi, user.id, now);
    Ok(Some(user))
}

/// The browser this session signed in from, as the sessions page names it.
pub async fn current_device(session: &Session) -> Result<Option<String>, AppError> {
    Ok(session.get::<String>(DEVICE_KEY).await?)
}

/// "Firefox on Linux": enough for people to tell their browsers apart, without keeping the
/// whole User-Agent (which narrows down who someone is).
pub fn browser_label(user_agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("A browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map(|(_, name)| *name);
    match system {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

/// The signed-in user, if any.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(cached) = parts.extensions.get::<CachedUser>() {
            return Ok(Self(cached.0.clone()));
        }
        let user = load_user(parts, state).await?;
        parts.extensions.insert(CachedUser(user.clone()));
        Ok(Self(user))
    }
}

/// Several extractors in one request share a single lookup.
#[derive(Clone)]
struct CachedUser(Option<User>);

/// Any signed-in user; anonymous requests get 401 (a redirect to sign-in on pages).
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        MaybeUser::from_request_parts(parts, state)
            .await?
            .0
            .map(Self)
            .ok_or(AppError::Unauthorized)
    }
}

/// A role requirement, expressed as a type so routes state it in their signature.
pub trait RoleRule: Send + Sync {
    const ALLOWED: &'static [Role];
    const NAME: &'static str;
    /// Privileged access needs a second factor (SOC 2).
    const NEEDS_TWO_FACTOR: bool = false;
}

/// A signed-in user whose role satisfies `R`; others get 403.
pub struct Authorized<R: RoleRule>(pub User, pub PhantomData<R>);

impl<R: RoleRule> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let CurrentUser(user) = CurrentUser::from_request_parts(parts, state).await?;
        if R::ALLOWED.contains(&user.role) {
            // Development's one-click demo sign-in (refused elsewhere) waives it for the demo.
            if R::NEEDS_TWO_FACTOR && !user.two_factor && !state.settings.auth.simplified_sign_in {
                return Err(AppError::Forbidden(format!(
                    "Pages for {} need two-factor sign-in: turn it on at /account/two-factor.",
                    R::NAME
                )));
            }
            Ok(Self(user, PhantomData))
        } else {
            Err(AppError::Forbidden(format!(
                "This page is for {} only.",
                R::NAME
            )))
        }
    }
}

pub struct AdminRule;
impl RoleRule for AdminRule {
    const ALLOWED: &'static [Role] = &[Role::Admin];
    const NAME: &'static str = "administrators";
    const NEEDS_TWO_FACTOR: bool = true;
}

pub struct ArtistRule;
impl RoleRule for ArtistRule {
    const ALLOWED: &'static [Role] = &[Role::Artist, Role::StudioOwner];
    const NAME: &'static str = "artists";
}

pub struct ClientRule;
impl RoleRule for ClientRule {
    const ALLOWED: &'static [Role] = &[Role::Client];
    const NAME: &'static str = "clients";
}

pub type AdminUser = Authorized<AdminRule>;
pub type ArtistUser = Authorized<ArtistRule>;
pub type ClientUser = Authorized<ClientRule>;
