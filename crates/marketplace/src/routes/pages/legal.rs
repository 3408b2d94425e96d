//! The legal pages: terms, privacy policy and cookies; the "do not sell or share" choice; the page
//! that asks for a new version of the terms; and the site's Global Privacy Control declaration.

use crate::auth::csrf::CsrfForm;
use crate::auth::{CurrentUser, MaybeUser};
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::accounts::safe_next;
use crate::routes::pages::{LEGAL_KEY, confirm, layout, render};
use crate::services::legal;
use crate::state::AppState;
use crate::templates::format::when;
use crate::templates::legal::{
    CookiesPage, DoNotSellPage, PrivacyPage, RetentionPage, TermsPage, UnsubscribePage,
    UpdatedTermsPage,
};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;
use tower_sessions::Session;

#[tracing::instrument(skip_all)]
pub async fn terms(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    render(TermsPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        version: legal::TERMS.version,
    })
}

#[tracing::instrument(skip_all)]
pub async fn privacy(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    render(PrivacyPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        version: legal::PRIVACY.version,
    })
}

#[tracing::instrument(skip_all)]
pub async fn cookies(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    render(CookiesPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        idle_hours: state.settings.session.idle_timeout_minutes.max(60) / 60,
    })
}

/// The retention periods in force, from the same settings the sweep uses.
#[tracing::instrument(skip_all)]
pub async fn retention(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Html<String>, AppError> {
    let r = &state.settings.retention;
    render(RetentionPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        reference_photos_days: r.reference_photos_days,
        message_bodies_days: r.message_bodies_days,
        unverified_accounts_days: r.unverified_accounts_days,
    })
}

/// The choice, and for a browser sending Global Privacy Control, that choice already made.
#[tracing::instrument(skip_all)]
pub async fn do_not_sell(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    origin: Origin,
) -> Result<Html<String>, AppError> {
    let choice = match &user {
        Some(u) => {
            legal::honour_gpc(&state, u.id, &origin).await?;
            legal::choice(&state, u).await?
        }
        None => None,
    };
    render(DoNotSellPage {
        layout: layout(&state, &session, user.as_ref()).await?,
        signed_in: user.is_some(),
        gpc: origin.gpc,
        do_not_sell: choice.as_ref().is_some_and(|c| c.do_not_sell),
        from_gpc: choice.as_ref().is_some_and(|c| c.source == "gpc"),
        since: choice.map(|c| when(c.updated_at)).unwrap_or_default(),
    })
}

#[derive(serde::Deserialize)]
pub struct ChoiceForm {
    #[serde(default)]
    do_not_sell: String,
}

#[tracing::instrument(skip_all)]
pub async fn set_do_not_sell(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<ChoiceForm>,
) -> Result<Response, AppError> {
    let on = match form.do_not_sell.as_str() {
        "on" => true,
        "off" if origin.gpc => {
            return Err(AppError::Conflict(
                "Your browser sends Global Privacy Control, which we honour: turn it off in your \
                 browser to withdraw this choice."
                    .into(),
            ));
        }
        "off" => false,
        _ => return Err(AppError::field("do_not_sell", "Choose on or off.")),
    };
    legal::set_do_not_sell(&state, user.id, &origin, on, "form").await?;
    confirm(
        &session,
        if on {
            "Recorded: we will not sell or share your personal information."
        } else {
            "Your \"do not sell or share\" choice is withdrawn."
        },
    )
    .await?;
    Ok(Redirect::to("/privacy/do-not-sell").into_response())
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// What changed in the documents the person has not accepted yet, and the button to accept.
#[tracing::instrument(skip_all)]
pub async fn updated_terms(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(query): Query<NextQuery>,
) -> Result<Html<String>, AppError> {
    let mut layout = layout(&state, &session, Some(&user)).await?;
    layout.legal_update = false;
    render(UpdatedTermsPage {
        layout,
        documents: legal::outdated(&state, user.id).await?,
        next: safe_next(query.next.as_deref()),
    })
}

/// Accepts the versions the page showed (a hidden field per document); a page shown before a
/// newer version was published accepts nothing, and the person is asked again.
#[tracing::instrument(skip_all)]
pub async fn accept_terms(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let shown: Vec<(&str, &str)> = legal::DOCUMENTS
        .iter()
        .filter_map(|d| form.get(d.key).map(|v| (d.key, v.as_str())))
        .collect();
    legal::accept(&state, user.id, &origin, &shown, "updated_terms").await?;
    session.remove::<String>(LEGAL_KEY).await?;
    let next = safe_next(form.get("next").map(String::as_str));
    if legal::outdated(&state, user.id).await?.is_empty() {
        confirm(&session, "Thank you: the updated terms are accepted.").await?;
        Ok(Redirect::to(&next).into_response())
    } else {
        Ok(Redirect::to("/legal/updated").into_response())
    }
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct UnsubscribeQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    kind: String,
}

/// The link in an optional email: a page with a button, so a mail scanner that follows links
/// unsubscribes nobody.
#[tracing::instrument(skip_all)]
pub async fn unsubscribe_page(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Query(query): Query<UnsubscribeQuery>,
) -> Result<Html<String>, AppError> {
    let (_, _, label) =
        crate::services::profile::unsubscribe_link(&state, &query.token, &query.kind)?;
    render(UnsubscribePage {
        layout: layout(&state, &session, user.as_ref()).await?,
        label,
        query: serde_urlencoded::to_string(&query).map_err(|e| AppError::Internal(e.into()))?,
        done: false,
    })
}

/// RFC 8058 one-click unsubscribe: mail clients POST `List-Unsubscribe=One-Click` to the link
/// without cookies, so the signed link is the only credential (and no CSRF token applies).
#[tracing::instrument(skip_all)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
    Query(query): Query<UnsubscribeQuery>,
) -> Result<Html<String>, AppError> {
    let (who, kind, label) =
        crate::services::profile::unsubscribe_link(&state, &query.token, &query.kind)?;
    crate::services::profile::unsubscribe(&state, who, kind).await?;
    render(UnsubscribePage {
        layout: layout(&state, &session, user.as_ref()).await?,
        label,
        query: String::new(),
        done: true,
    })
}

/// The Global Privacy Control well-known resource: this site honours the signal.
pub async fn gpc_declaration() -> impl IntoResponse {
    Json(serde_json::json!({ "gpc": true, "lastUpdate": legal::PRIVACY.version }))
}
