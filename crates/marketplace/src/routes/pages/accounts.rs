//! Account pages: sign-up, sign-in, the second factor, password reset, the account and the
//! admin overview.

use crate::auth::csrf::{self, CsrfForm};
use crate::auth::session::{sign_in as start_session, sign_out as end_session};
use crate::auth::{AdminUser, CurrentUser, MaybeUser};
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::routes::pages::{layout, render};
use crate::services::accounts::{self, Registration, SIGN_IN_FAILED};
use crate::services::audit;
use crate::state::AppState;
use crate::templates::{
    AccountPage, AdminPage, CheckEmailPage, DemoAccount, ForgotPasswordPage, Layout,
    ResetPasswordPage, SignInPage, SignUpPage, TwoFactorSignInPage,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{AuditAction, Email};
use tower_sessions::Session;

#[tracing::instrument(skip_all)]
pub async fn sign_up_form(
    State(state): State<AppState>,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, AppError> {
    if user.is_some() {
        return Ok(Redirect::to("/account").into_response());
    }
    let csrf = csrf::token(&session).await?;
    Ok(render(SignUpPage {
        layout: Layout::new(&state, None, Some(csrf)),
        errors: vec![],
        display_name: String::new(),
        email: String::new(),
        role: "client".into(),
    })?
    .into_response())
}

#[tracing::instrument(skip_all)]
pub async fn sign_up(
    State(state): State<AppState>,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<Registration>,
) -> Result<Response, AppError> {
    let (display_name, email, role) = (
        form.display_name.clone(),
        form.email.clone(),
        form.role.clone(),
    );
    match accounts::register(&state, form, &origin).await {
        // The same page whether or not the address already had an account.
        Ok(()) => Ok(render(CheckEmailPage {
            layout: Layout::new(&state, None, None),
            email,
        })?
        .into_response()),
        Err(AppError::Validation(errors)) => {
            let csrf = csrf::token(&session).await?;
            let page = render(SignUpPage {
                layout: Layout::new(&state, None, Some(csrf)),
                errors,
                display_name,
                email,
                role,
            })?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(serde::Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

/// The link in the verification email: confirms the address and signs its owner in.
#[tracing::instrument(skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, AppError> {
    let user = accounts::verify_email(&state, &query.token, &origin).await?;
    accounts::signed_in(&state, &user, &origin, "email_link").await?;
    start_session(&session, &user).await?;
    Ok(Redirect::to("/account").into_response())
}

#[tracing::instrument(skip_all)]
pub async fn forgot_password_form(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, AppError> {
    let csrf = csrf::token(&session).await?;
    render(ForgotPasswordPage {
        layout: Layout::new(&state, None, Some(csrf)),
        sent: false,
    })
}

#[derive(serde::Deserialize)]
pub struct ForgotPasswordForm {
    #[serde(default)]
    email: String,
}

/// The same answer whether or not the address has an account.
#[tracing::instrument(skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    CsrfForm { form, .. }: CsrfForm<ForgotPasswordForm>,
) -> Result<Html<String>, AppError> {
    accounts::request_password_reset(&state, &form.email).await?;
    render(ForgotPasswordPage {
        layout: Layout::new(&state, None, None),
        sent: true,
    })
}

#[derive(serde::Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

#[tracing::instrument(skip_all)]
pub async fn reset_password_form(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<ResetQuery>,
) -> Result<Html<String>, AppError> {
    let csrf = csrf::token(&session).await?;
    render(ResetPasswordPage {
        layout: Layout::new(&state, None, Some(csrf)),
        token: query.token,
        errors: vec![],
    })
}

#[derive(serde::Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

/// Saves the new password, ends every session of the account and signs this browser in afresh.
#[tracing::instrument(skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<ResetForm>,
) -> Result<Response, AppError> {
    match accounts::reset_password(&state, &form.token, &form.password, &origin).await {
        Ok(user) => {
            accounts::signed_in(&state, &user, &origin, "password_reset").await?;
            start_session(&session, &user).await?;
            Ok(Redirect::to("/account").into_response())
        }
        Err(AppError::Validation(errors)) => {
            let csrf = csrf::token(&session).await?;
            let page = render(ResetPasswordPage {
                layout: Layout::new(&state, None, Some(csrf)),
                token: form.token,
                errors,
            })?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// Ends every session of the account, this one included ("sign out everywhere").
#[tracing::instrument(skip_all)]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    origin: Origin,
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Redirect, AppError> {
    state.store.end_all_sessions(user.id).await?;
    end_session(&session).await?;
    tracing::info!(user_id = %user.id, "signed out everywhere");
    let (who, none) = (Some(user.id), serde_json::json!({}));
    audit::record(
        &state,
        AuditAction::SignedOutEverywhere,
        who,
        who,
        &origin,
        none,
    )
    .await?;
    Ok(Redirect::to("/sign-in"))
}

/// Sends a new verification link to the signed-in user's address.
#[tracing::instrument(skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, AppError> {
    if !user.email_verified {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        accounts::send_verification(&state, &user, now).await?;
    }
    Ok(Redirect::to("/account?sent=1").into_response())
}

#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a same-site path may be redirected to after sign-in. It must parse as a URI path (no
/// control characters or spaces, which browsers strip and so turn `/\t/evil.example` into
/// `//evil.example`), must not start with `//`, and may hold no backslash (browsers read `\`
/// as `/`) or outside ASCII (links are percent-encoded). Anything else goes to the account page.
pub fn safe_next(next: Option<&str>) -> String {
    let same_site = |n: &str| {
        n.starts_with('/')
            && n.is_ascii()
            && !n.starts_with("//")
            && !n.contains('\\')
            && n.parse::<axum::http::uri::PathAndQuery>().is_ok()
    };
    match next {
        Some(n) if same_site(n) => n.to_owned(),
        _ => "/account".to_owned(),
    }
}

async fn sign_in_page(
    state: &AppState,
    session: &Session,
    error: Option<String>,
    email: String,
    next: String,
) -> Result<Html<String>, AppError> {
    let csrf = csrf::token(session).await?;
    let demo_accounts = if state.settings.auth.simplified_sign_in {
        crate::seed::DEMO_SIGN_INS
            .iter()
            .map(|(email, label)| DemoAccount {
                email: (*email).to_owned(),
                label: (*label).to_owned(),
            })
            .collect()
    } else {
        vec![]
    };
    render(SignInPage {
        layout: Layout::new(state, None, Some(csrf)),
        error,
        email,
        next,
        demo_accounts,
        providers: state.oidc.list(),
    })
}

#[tracing::instrument(skip_all)]
pub async fn sign_in_form(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<NextQuery>,
) -> Result<Html<String>, AppError> {
    sign_in_page(
        &state,
        &session,
        None,
        String::new(),
        safe_next(query.next.as_deref()),
    )
    .await
}

#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(
    State(state): State<AppState>,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<SignInForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    match accounts::authenticate(&state, &form.email, &form.password, &origin).await? {
        Some(user) => complete_sign_in(&state, &session, &user, next, (&origin, "password")).await,
        None => {
            let page = sign_in_page(
                &state,
                &session,
                Some(SIGN_IN_FAILED.into()),
                form.email,
                next,
            )
            .await?;
            Ok((StatusCode::UNAUTHORIZED, page).into_response())
        }
    }
}

/// After the first factor (a password, or a provider's sign-in): the second factor's page for
/// accounts that have one, otherwise signed in and on to `next`.
/// `how` is where the sign-in came from and its method, for the audit log.
pub async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    user: &storage::User,
    next: String,
    (origin, method): (&Origin, &'static str),
) -> Result<Response, AppError> {
    if user.two_factor {
        crate::auth::session::begin_two_factor(session, user).await?;
        let csrf = csrf::token(session).await?;
        return Ok(render(TwoFactorSignInPage {
            layout: Layout::new(state, None, Some(csrf)),
            next,
            error: None,
        })?
        .into_response());
    }
    accounts::signed_in(state, user, origin, method).await?;
    start_session(session, user).await?;
    Ok(Redirect::to(&next).into_response())
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub(crate) code: String,
    next: Option<String>,
    #[serde(default)]
    pub(crate) action: String,
}

/// The second step of signing in: a TOTP or recovery code for the account whose password was
/// just given in this session.
#[tracing::instrument(skip_all)]
pub async fn two_factor_sign_in(
    State(state): State<AppState>,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<CodeForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let Some(user) = crate::auth::session::pending_two_factor(&session, &state).await? else {
        return Ok(Redirect::to("/sign-in").into_response());
    };
    if accounts::second_factor(&state, &user, &form.code, &origin).await? {
        accounts::signed_in(&state, &user, &origin, "second_factor").await?;
        start_session(&session, &user).await?;
        return Ok(Redirect::to(&next).into_response());
    }
    let csrf = csrf::token(&session).await?;
    let page = render(TwoFactorSignInPage {
        layout: Layout::new(&state, None, Some(csrf)),
        next,
        error: Some("That code is not valid, or has been used. Try the next one.".into()),
    })?;
    Ok((StatusCode::UNAUTHORIZED, page).into_response())
}

#[derive(serde::Deserialize)]
pub struct DevSignInForm {
    #[serde(default)]
    email: String,
}

/// Development only (the route exists only when `auth.simplified_sign_in` is on, which staging
/// and production refuse): signs in as an existing account without its password.
#[tracing::instrument(skip_all)]
pub async fn dev_sign_in(
    State(state): State<AppState>,
    origin: Origin,
    CsrfForm { form, session }: CsrfForm<DevSignInForm>,
) -> Result<Response, AppError> {
    let email = Email::parse(&form.email).map_err(|e| AppError::Validation(vec![e.into()]))?;
    let credentials = state
        .store
        .credentials_by_email(&email)
        .await?
        .ok_or(AppError::NotFound)?;
    accounts::signed_in(&state, &credentials.user, &origin, "development").await?;
    start_session(&session, &credentials.user).await?;
    Ok(Redirect::to("/account").into_response())
}

#[tracing::instrument(skip_all)]
pub async fn sign_out(
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Redirect, AppError> {
    end_session(&session).await?;
    Ok(Redirect::to("/"))
}

#[derive(serde::Deserialize)]
pub struct AccountQuery {
    sent: Option<String>,
    linked: Option<String>,
}

#[tracing::instrument(skip_all)]
pub async fn account(
    State(state): State<AppState>,
    session: Session,
    CurrentUser(user): CurrentUser,
    Query(query): Query<AccountQuery>,
) -> Result<Html<String>, AppError> {
    let member_since = user
        .created_at
        .format(time::macros::format_description!(
            "[day] [month repr:long] [year]"
        ))
        .map_err(|e| AppError::Internal(e.into()))?;
    render(AccountPage {
        layout: layout(&state, &session, Some(&user)).await?,
        name: user.display_name.as_str().to_owned(),
        email: user.email.as_str().to_owned(),
        role: match user.role {
            domain::Role::Client => "Client",
            domain::Role::Artist => "Artist",
            domain::Role::StudioOwner => "Studio owner",
            domain::Role::Admin => "Administrator",
        },
        member_since,
        email_verified: user.email_verified,
        link_sent: query.sent.is_some(),
        providers: {
            let linked = state.store.identities(user.id).await?;
            state
                .oidc
                .list()
                .into_iter()
                .map(|(id, name)| {
                    let email = linked
                        .iter()
                        .find(|(p, _)| *p == id)
                        .map(|(_, e)| e.clone());
                    (id, name, email)
                })
                .collect()
        },
        linked: query.linked.is_some(),
        exports: crate::routes::pages::data::export_rows(&state, &user).await?,
        erasure: state
            .store
            .erasure_of(user.id)
            .await?
            .filter(storage::ErasureRequest::is_open)
            .as_ref()
            .map(crate::routes::pages::erasure::view),
        is_client: user.role == domain::Role::Client,
        is_artist: matches!(user.role, domain::Role::Artist | domain::Role::StudioOwner),
    })
}

#[tracing::instrument(skip_all)]
pub async fn admin(
    State(state): State<AppState>,
    session: Session,
    admin: AdminUser,
) -> Result<Html<String>, AppError> {
    let (counts, bookings) =
        tokio::try_join!(state.store.catalogue_counts(), state.store.booking_counts())?;
    render(AdminPage {
        layout: layout(&state, &session, Some(&admin.0)).await?,
        counts,
        bookings: bookings.into_iter().map(|(s, n)| (s.as_str(), n)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn sign_in_redirects_only_to_same_site_paths_that_are_valid_headers() {
        for ok in [
            "/bookings/4",
            "/search?style=koi&city=Berlin",
            "/%09/x",
            "/",
        ] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n",
            "/\r\nSet-Cookie: x=1",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "/ /evil.example",
            "/caf\u{e9}",
            "/\u{202e}",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/account", "{bad:?}");
            // Whatever it answers is a valid Location header.
            axum::http::HeaderValue::try_from(safe_next(Some(bad))).unwrap();
        }
        assert_eq!(safe_next(None), "/account");
    }
}
