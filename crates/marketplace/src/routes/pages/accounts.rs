//! Account pages: sign-up, sign-in, the second factor, password reset, the account and the
//! admin overview.

use crate::auth::csrf::{self, CsrfForm};
use crate::auth::session::{sign_in as start_session, sign_out as end_session};
use crate::auth::{AdminUser, CurrentUser, MaybeUser};
use crate::error::AppError;
use crate::routes::pages::{layout, render};
use crate::services::accounts::{self, Registration, SIGN_IN_FAILED};
use crate::state::AppState;
use crate::templates::{
    AccountPage, AdminPage, CheckEmailPage, DemoAccount, ForgotPasswordPage, Layout,
    ResetPasswordPage, SignInPage, SignUpPage, TwoFactorPage, TwoFactorSignInPage,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::Email;
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
    CsrfForm { form, session }: CsrfForm<Registration>,
) -> Result<Response, AppError> {
    let (display_name, email, role) = (
        form.display_name.clone(),
        form.email.clone(),
        form.role.clone(),
    );
    match accounts::register(&state, form).await {
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
    Query(query): Query<VerifyQuery>,
) -> Result<Response, AppError> {
    let user = accounts::verify_email(&state, &query.token).await?;
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
    CsrfForm { form, session }: CsrfForm<ResetForm>,
) -> Result<Response, AppError> {
    match accounts::reset_password(&state, &form.token, &form.password).await {
        Ok(user) => {
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
    CsrfForm { session, .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Redirect, AppError> {
    state.store.end_all_sessions(user.id).await?;
    end_session(&session).await?;
    tracing::info!(user_id = %user.id, "signed out everywhere");
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
    CsrfForm { form, session }: CsrfForm<SignInForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    match accounts::authenticate(&state, &form.email, &form.password).await? {
        Some(user) => complete_sign_in(&state, &session, &user, next).await,
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
pub async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    user: &storage::User,
    next: String,
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
    start_session(session, user).await?;
    Ok(Redirect::to(&next).into_response())
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
    #[serde(default)]
    action: String,
}

/// The second step of signing in: a TOTP or recovery code for the account whose password was
/// just given in this session.
#[tracing::instrument(skip_all)]
pub async fn two_factor_sign_in(
    State(state): State<AppState>,
    CsrfForm { form, session }: CsrfForm<CodeForm>,
) -> Result<Response, AppError> {
    let next = safe_next(form.next.as_deref());
    let Some(user) = crate::auth::session::pending_two_factor(&session, &state).await? else {
        return Ok(Redirect::to("/sign-in").into_response());
    };
    if accounts::second_factor(&state, &user, &form.code).await? {
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
            if !accounts::second_factor(&state, &user, &form.code).await? {
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
            Ok(Redirect::to("/account").into_response())
        }
        _ => Ok(Redirect::to("/account/two-factor").into_response()),
    }
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
    CsrfForm { form, session }: CsrfForm<DevSignInForm>,
) -> Result<Response, AppError> {
    let email = Email::parse(&form.email).map_err(|e| AppError::Validation(vec![e.into()]))?;
    let credentials = state
        .store
        .credentials_by_email(&email)
        .await?
        .ok_or(AppError::NotFound)?;
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
