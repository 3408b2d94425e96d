//! Signing in with an OpenID provider (leaving for it, coming back, confirming a link) and the
//! sessions page, where people see their signed-in browsers and sign one out.

use crate::auth::csrf::CsrfForm;
use crate::auth::oidc::{OidcError, PendingFlow};
use crate::auth::session::current_device;
use crate::auth::{CurrentUser, MaybeUser};
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::accounts::{complete_sign_in, safe_next};
use crate::routes::pages::{layout, render, signed_in_layout};
use crate::services::identity::{self, Outcome, PendingLink};
use crate::state::AppState;
use crate::templates::accounts::{DeviceView, LinkAccountPage, SessionsPage};
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// The sign-in under way in this browser: what the provider must echo, and where to go after.
const FLOW_KEY: &str = "oidc_flow";
/// An identity whose account's owner has yet to confirm the link.
const LINK_KEY: &str = "oidc_link";

#[derive(serde::Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// Sends the browser to the provider, remembering the flow's secrets in its session.
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, AppError> {
    let (url, flow) = state.oidc.start(&provider).await.map_err(explain)?;
    let next = safe_next(query.next.as_deref());
    session.insert(FLOW_KEY, (flow, next)).await?;
    Ok(Redirect::to(&url).into_response())
}

/// What a provider's failure tells the person: nothing about keys or tokens, and a way on.
fn explain(e: OidcError) -> AppError {
    match e {
        OidcError::UnknownProvider(_) => AppError::NotFound,
        OidcError::Discovery(_) => {
            tracing::warn!(error = %e, "sign-in provider unavailable");
            AppError::Unavailable(
                "That sign-in provider cannot be reached right now. Try again in a moment, or \
                 sign in with your password."
                    .into(),
            )
        }
        OidcError::Exchange(_) | OidcError::Verification(_) => {
            tracing::warn!(error = %e, "sign-in through a provider refused");
            AppError::Forbidden(
                "The provider's answer could not be verified, so you are not signed in. Start \
                 again from the sign-in page."
                    .into(),
            )
        }
    }
}

#[derive(serde::Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back: the flow of this browser's session, used once.
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(current): MaybeUser,
    origin: Origin,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    // Taken out first, so a flow (and the code it leads to) works once, whatever happens next.
    let Some((flow, next)) = session.remove::<(PendingFlow, String)>(FLOW_KEY).await? else {
        return Err(AppError::BadRequest(
            "This sign-in has already been used or has expired. Start again from the sign-in \
             page."
                .into(),
        ));
    };
    let state_matches = query
        .state
        .as_deref()
        .is_some_and(|s| constant_time_eq::constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
    if flow.provider != provider || !state_matches {
        return Err(AppError::BadRequest(
            "This answer does not belong to the sign-in this browser started. Start again from \
             the sign-in page."
                .into(),
        ));
    }
    if query.error.is_some() {
        return Err(AppError::Forbidden(
            "The provider did not sign you in. Start again, or sign in with your password.".into(),
        ));
    }
    let code = query
        .code
        .ok_or_else(|| AppError::BadRequest("The provider sent no authorization code.".into()))?;
    let found = state.oidc.finish(&flow, &code).await.map_err(explain)?;
    match identity::resolve(&state, found, current.as_ref()).await? {
        Outcome::SignIn(user) if current.is_some() => {
            tracing::debug!(user_id = %user.id, "provider already linked");
            Ok(Redirect::to(&next).into_response())
        }
        Outcome::SignIn(user) => {
            complete_sign_in(&state, &session, &user, next, (&origin, "oidc")).await
        }
        Outcome::ConfirmLink(pending) => {
            session.insert(LINK_KEY, pending).await?;
            Ok(Redirect::to("/account/link").into_response())
        }
    }
}

/// Asks the account's owner to confirm the link (after signing in, if they are not yet).
#[tracing::instrument(skip_all)]
pub async fn link_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    let Some(pending) = session.get::<PendingLink>(LINK_KEY).await? else {
        return Ok(Redirect::to("/account").into_response());
    };
    let provider = state
        .oidc
        .name(&pending.provider)
        .ok_or(AppError::NotFound)?
        .to_owned();
    Ok(render(LinkAccountPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        provider,
        email: pending.email,
        signed_in: user.is_some(),
    })?
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    action: String,
}

/// The signed-in owner links (or declines) the waiting identity.
#[tracing::instrument(skip_all)]
pub async fn link(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<LinkForm>,
) -> Result<Response, AppError> {
    let Some(pending) = session.remove::<PendingLink>(LINK_KEY).await? else {
        return Ok(Redirect::to("/account").into_response());
    };
    if form.action != "link" {
        return Ok(Redirect::to("/account").into_response());
    }
    identity::confirm_link(&state, &user, &pending, &origin).await?;
    Ok(Redirect::to("/account?linked=1").into_response())
}

#[derive(serde::Deserialize)]
pub struct SessionsQuery {
    ended: Option<String>,
}

/// Every browser signed in to the account, this one marked.
#[tracing::instrument(skip_all)]
pub async fn sessions(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(query): Query<SessionsQuery>,
) -> Result<Html<String>, AppError> {
    let current = current_device(&session).await?;
    let devices = state
        .store
        .devices(user.id)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            current: current.as_deref() == Some(d.id.as_str()),
            id: d.id,
            label: d.label,
            created_at: d.created_at,
            last_seen_at: d.last_seen_at,
        })
        .collect();
    render(SessionsPage {
        layout: signed_in_layout(&state, &session, &user).await?,
        devices,
        ended: query.ended.is_some(),
    })
}

/// Signs one of the account's browsers out: its next request finds its session over.
#[tracing::instrument(skip_all)]
pub async fn end_session(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(device): Path<String>,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, AppError> {
    if !state.store.remove_device(user.id, &device).await? {
        return Err(AppError::NotFound);
    }
    tracing::info!(user_id = %user.id, "a session was ended from the sessions page");
    Ok(Redirect::to("/account/sessions?ended=1").into_response())
}
