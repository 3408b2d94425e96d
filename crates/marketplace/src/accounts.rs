//! Registration and sign-in rules shared by the HTML pages and the JSON API.

use crate::error::{AppError, FieldError};
use crate::state::AppState;
use domain::{DisplayName, Email, NewPassword, RegistrableRole};
use storage::{NewUser, User};

/// What a sign-up form or API call sent, before parsing.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct Registration {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
}

/// The single message for every sign-in failure, so it never reveals whether an account exists.
pub const SIGN_IN_FAILED: &str = "That email and password do not match an account.";

/// Parses every field, reporting all problems at once, hashes the password and creates the user.
pub async fn register(state: &AppState, input: Registration) -> Result<User, AppError> {
    let mut errors = Vec::new();
    let email = Email::parse(&input.email)
        .map_err(|e| errors.push(FieldError::from(e)))
        .ok();
    let display_name = DisplayName::parse(&input.display_name)
        .map_err(|e| errors.push(e.into()))
        .ok();
    let role = RegistrableRole::parse(&input.role)
        .map_err(|e| errors.push(e.into()))
        .ok();
    let password = email.as_ref().and_then(|email| {
        NewPassword::parse(&input.password, email)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "password".into(),
                    message: format!("Password {e}"),
                })
            })
            .ok()
    });
    let (Some(email), Some(display_name), Some(role), Some(password)) =
        (email, display_name, role, password)
    else {
        return Err(AppError::Validation(errors));
    };
    let password_hash = state.passwords.hash(password.expose().to_owned()).await?;
    let user = state
        .store
        .create_user(NewUser {
            email,
            display_name,
            role: role.role(),
            password_hash,
        })
        .await
        .map_err(|e| match e {
            storage::StoreError::Conflict(_) => AppError::Validation(vec![FieldError {
                field: "email".into(),
                message: "An account with this email already exists. Sign in instead.".into(),
            }]),
            other => other.into(),
        })?;
    state.metrics.registrations.inc();
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "account registered");
    Ok(user)
}

/// Checks an email and password. Always does the same argon2 work, found or not.
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<User>, AppError> {
    let parsed = Email::parse(email).ok();
    let credentials = match &parsed {
        Some(e) => state.store.credentials_by_email(e).await?,
        None => None,
    };
    let password = password
        .chars()
        .take(NewPassword::MAX_CHARS)
        .collect::<String>();
    match credentials {
        Some(c) => Ok(state
            .passwords
            .verify(password, c.password_hash)
            .await?
            .then_some(c.user)),
        None => {
            state
                .passwords
                .verify(password, state.dummy_hash.to_string())
                .await?;
            Ok(None)
        }
    }
}
