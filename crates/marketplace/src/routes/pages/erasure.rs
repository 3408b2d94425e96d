//! "Delete my account": asking for erasure with the password, its status and deadline, calling
//! it off while signed in or from the emailed link, and what the law makes us keep.

use crate::auth::CurrentUser;
use crate::auth::MaybeUser;
use crate::auth::csrf::CsrfForm;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::{confirm, layout, render};
use crate::services::erasure::{self, Refusal};
use crate::state::AppState;
use crate::templates::erasure::{ErasurePage, ErasureView, KeepAccountPage, KeptFor};
use crate::templates::format::when;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use storage::{ErasureRequest, User};
use tower_sessions::Session;

/// The request as the page (and the account page's "Your data") describes it.
pub fn view(r: &ErasureRequest) -> ErasureView {
    let status = match r.status.as_str() {
        "scheduled" => format!(
            "Scheduled: your account will be deleted on {}",
            when(r.erase_after)
        ),
        "waiting" => "Waiting: cancel or finish your open booking requests, then it is deleted \
                      within the hour"
            .to_owned(),
        "erasing" => "Being deleted".to_owned(),
        "done" => format!(
            "Deleted on {}",
            when(r.completed_at.unwrap_or(r.erase_after))
        ),
        _ => "Called off: your account was kept".to_owned(),
    };
    ErasureView {
        requested: when(r.requested_at),
        erase_after: when(r.erase_after),
        due: when(r.due_at),
        status,
        cancellable: matches!(r.status.as_str(), "scheduled" | "waiting"),
    }
}

async fn page(
    state: &AppState,
    session: &Session,
    user: &User,
    errors: Vec<String>,
    active: Vec<i64>,
) -> Result<Response, AppError> {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let request = state
        .store
        .erasure_of(user.id)
        .await?
        .filter(ErasureRequest::is_open);
    let page = ErasurePage {
        layout: layout(state, session, Some(user)).await?,
        grace_days: state.settings.retention.erasure_grace_days,
        request: request.as_ref().map(view),
        active,
        errors,
        kept_for: domain::consent::jurisdictions()
            .iter()
            .map(|j| KeptFor {
                name: j.name.clone(),
                years: j.consent_record_years,
            })
            .collect(),
        default_years: domain::consent::DEFAULT_CONSENT_RECORD_YEARS,
    };
    Ok((status, render(page)?).into_response())
}

#[tracing::instrument(skip_all)]
pub async fn erasure_page(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
) -> Result<Response, AppError> {
    page(&state, &session, &user, Vec::new(), Vec::new()).await
}

#[derive(serde::Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    password: String,
}

#[tracing::instrument(skip_all)]
pub async fn request_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<EraseForm>,
) -> Result<Response, AppError> {
    let refused = |m: &str| vec![m.to_owned()];
    match erasure::request(&state, &user, &form.password, &origin).await? {
        Ok(r) => {
            let text = format!(
                "Your account will be deleted on {}. We emailed you a link to keep it; you can \
                 also keep it here until then.",
                when(r.erase_after)
            );
            confirm(&session, text).await?;
            Ok(Redirect::to("/account/delete").into_response())
        }
        Err(Refusal::WrongPassword) => {
            let errors = refused("That is not your current password.");
            page(&state, &session, &user, errors, Vec::new()).await
        }
        Err(Refusal::Admin) => {
            let errors = refused(
                "An administrator account cannot delete itself: ask another administrator to \
                 change its role first.",
            );
            page(&state, &session, &user, errors, Vec::new()).await
        }
        Err(Refusal::ActiveRequests(active)) => {
            let errors = refused(
                "You have booking requests that are still open. Cancel or finish them first, so \
                 nobody is left waiting for a session that will not happen.",
            );
            page(&state, &session, &user, errors, active).await
        }
    }
}

#[tracing::instrument(skip_all)]
pub async fn cancel_erasure(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, AppError> {
    let text = match erasure::cancel(&state, user.id, &origin).await? {
        Some(_) => "Your account will not be deleted.",
        None => "There was no deletion to call off.",
    };
    confirm(&session, text).await?;
    Ok(Redirect::to("/account/delete").into_response())
}

#[derive(serde::Deserialize)]
pub struct KeepQuery {
    #[serde(default)]
    token: String,
}

/// The emailed link shows a button rather than acting on a GET, which mail scanners follow.
#[tracing::instrument(skip_all)]
pub async fn keep_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Query(query): Query<KeepQuery>,
) -> Result<Html<String>, AppError> {
    if crate::auth::email_link::LinkSigner::user_of(&query.token).is_err() {
        return Err(AppError::BadRequest(
            "This link is not valid, or its time has passed.".into(),
        ));
    }
    render(KeepAccountPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        token: query.token,
        done: false,
    })
}

/// The signed link is the credential, as for one-click unsubscribe: it names one request and
/// can only keep an account, so a forged cross-site post without it does nothing.
#[tracing::instrument(skip_all)]
pub async fn keep_account(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    origin: Origin,
    axum::Form(form): axum::Form<KeepQuery>,
) -> Result<Html<String>, AppError> {
    erasure::cancel_by_link(&state, &form.token, &origin).await?;
    render(KeepAccountPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        token: String::new(),
        done: true,
    })
}
