//! Two-factor sign-in settings: turning the authenticator app on (a new key, confirmed by a
//! code) or off (with a current code), each recorded in the audit log.

use crate::auth::CurrentUser;
use crate::auth::csrf::CsrfForm;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::accounts::CodeForm;
use crate::routes::pages::{layout, render};
use crate::services::{accounts, audit};
use crate::state::AppState;
use crate::templates::TwoFactorPage;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::AuditAction;
use tower_sessions::Session;

const SETUP_KEY: &str = "totp_setup";

/// Turning the second factor on (a new key, kept in the session until a code confirms it) or off.
#[tracing::instrument(skip_all)]
pub async fn two_factor_settings(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Html<String>, AppError> {
    two_factor_page(&state, &session, &user, None).await
}

async fn two_factor_page(
    state: &AppState,
    session: &Session,
    user: &storage::User,
    error: Option<String>,
) -> Result<Html<String>, AppError> {
    let (secret, url) = if user.two_factor {
        (String::new(), String::new())
    } else {
        let secret = match session.get::<String>(SETUP_KEY).await? {
            Some(s) => s,
            None => {
                let s = crate::auth::two_factor::new_secret();
                session.insert(SETUP_KEY, &s).await?;
                s
            }
        };
        let url = crate::auth::two_factor::enrolment_url(&secret, user.email.as_str())?;
        (secret, url)
    };
    render(TwoFactorPage {
        layout: layout(state, session, Some(user)).await?,
        enabled: user.two_factor,
        secret,
        url,
        recovery: vec![],
        error,
    })
}

#[tracing::instrument(skip_all)]
pub async fn change_two_factor(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<CodeForm>,
) -> Result<Response, AppError> {
    match form.action.as_str() {
        "enable" if !user.two_factor => {
            let Some(secret) = session.get::<String>(SETUP_KEY).await? else {
                return Ok(Redirect::to("/account/two-factor").into_response());
            };
            let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
            if crate::auth::two_factor::matching_step(&secret, &form.code, now)?.is_none() {
                let page = two_factor_page(&state, &session, &user, Some(
                    "That code does not match: check the app's clock and type the current code.".into(),
                )).await?;
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
            }
            let (codes, hashes) = crate::auth::two_factor::new_recovery_codes();
            state
                .store
                .set_two_factor(user.id, Some(&secret), &hashes)
                .await?;
            session.remove::<String>(SETUP_KEY).await?;
            tracing::info!(user_id = %user.id, "two-factor sign-in turned on");
            let (who, none) = (Some(user.id), serde_json::json!({}));
            audit::record(
                &state,
                AuditAction::TwoFactorEnabled,
                who,
                who,
                &origin,
                none,
            )
            .await?;
            Ok(render(TwoFactorPage {
                layout: layout(&state, &session, Some(&user)).await?,
                enabled: true,
                secret: String::new(),
                url: String::new(),
                recovery: codes,
                error: None,
            })?
            .into_response())
        }
        "disable" if user.two_factor => {
            if !accounts::second_factor(&state, &user, &form.code, &origin).await? {
                let page = two_factor_page(
                    &state,
                    &session,
                    &user,
                    Some("That code is not valid.".into()),
                )
                .await?;
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
            }
            state.store.set_two_factor(user.id, None, &[]).await?;
            tracing::info!(user_id = %user.id, "two-factor sign-in turned off");
            let (who, none) = (Some(user.id), serde_json::json!({}));
            audit::record(
                &state,
                AuditAction::TwoFactorDisabled,
                who,
                who,
                &origin,
                none,
            )
            .await?;
            Ok(Redirect::to("/account").into_response())
        }
        _ => Ok(Redirect::to("/account/two-factor").into_response()),
    }
}
