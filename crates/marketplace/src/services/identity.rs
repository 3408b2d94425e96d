//! Sign-in through OpenID providers: which account an identity is, and linking one to an
//! account. An identity finds or creates an account only through an address its provider
//! verified, and joins an existing account only after that account's owner, signed in, confirms.

use crate::auth::oidc::Identity;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use domain::{AuditAction, DisplayName, Email, Role};
use storage::{NewUser, StoreError, User};

/// A provider identity waiting for its account's owner to confirm the link; kept in the session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingLink {
    pub provider: String,
    pub subject: String,
    pub email: String,
}

/// What a provider's answer leads to.
#[derive(Debug)]
pub enum Outcome {
    /// Sign this account in (its second factor, if it has one, still applies).
    SignIn(User),
    /// The identity's verified address has an account: its owner must be signed in and confirm
    /// before the identity can sign in to it.
    ConfirmLink(PendingLink),
}

fn now() -> i64 {
    crate::clock::now()
}

/// Decides what `identity` means, for `current` (who is signed in in this browser, if anyone).
pub async fn resolve(
    state: &AppState,
    identity: Identity,
    current: Option<&User>,
) -> Result<Outcome, AppError> {
    let provider = state
        .oidc
        .name(&identity.provider)
        .unwrap_or("the provider")
        .to_owned();
    if let Some(owner) = state
        .store
        .identity_owner(&identity.provider, &identity.subject)
        .await?
    {
        if current.is_some_and(|u| u.id != owner) {
            return Err(AppError::Conflict(format!(
                "This {provider} account is linked to another Tattoo Marketplace account."
            )));
        }
        let user = state.store.user(owner).await?.ok_or(AppError::NotFound)?;
        return Ok(Outcome::SignIn(user));
    }
    // An unverified address proves nothing: it could be anyone's, so it may neither find an
    // account (that would be a takeover) nor create one.
    let email = match (&identity.email, identity.email_verified) {
        (Some(e), true) => Email::parse(e).map_err(|_| {
            AppError::Forbidden(format!(
                "{provider} gave an email address we cannot use: sign up with a password instead."
            ))
        })?,
        _ => {
            return Err(AppError::Forbidden(format!(
                "Your {provider} account's email address is not verified there, so it cannot sign \
                 you in here. Verify it with {provider}, or sign up with a password."
            )));
        }
    };
    let pending = PendingLink {
        provider: identity.provider.clone(),
        subject: identity.subject.clone(),
        email: email.as_str().to_owned(),
    };
    match state.store.credentials_by_email(&email).await? {
        Some(account) => match current {
            Some(u) if u.id != account.user.id => Err(AppError::Forbidden(format!(
                "This {provider} account's email address belongs to another Tattoo Marketplace \
                 account."
            ))),
            _ => Ok(Outcome::ConfirmLink(pending)),
        },
        None if current.is_some() => Err(AppError::Forbidden(format!(
            "Your {provider} account's email address is not this account's, so they cannot be \
             linked."
        ))),
        None => create_account(state, &identity, email).await,
    }
}

/// A new client account for a verified identity, its address confirmed by the provider. It has
/// no password anyone knows; "Forgot your password?" sets one.
async fn create_account(
    state: &AppState,
    identity: &Identity,
    email: Email,
) -> Result<Outcome, AppError> {
    let name = identity
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n).ok())
        .or_else(|| DisplayName::parse(email.as_str().split('@').next().unwrap_or("")).ok())
        .or_else(|| DisplayName::parse("New client").ok())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no display name fits")))?;
    let password_hash = state
        .passwords
        .hash(uuid::Uuid::new_v4().to_string())
        .await?;
    let new = NewUser {
        email,
        display_name: name,
        role: Role::Client,
        password_hash,
    };
    match state
        .store
        .create_identity_user(new, &identity.provider, &identity.subject, now())
        .await
    {
        Ok(user) => {
            state.metrics.registrations.inc();
            state.metrics.kpi.registered(user.role);
            tracing::info!(user_id = %user.id, provider = %identity.provider, "account registered through a provider");
            Ok(Outcome::SignIn(user))
        }
        // Registered meanwhile (a double click): the identity is linked, or the address now has
        // an account whose owner must confirm.
        Err(StoreError::Conflict(_)) => Err(AppError::Conflict(
            "An account was just created for this address: start the sign-in again.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Links `pending` to `user`, who is signed in and confirmed it. Only an identity whose verified
/// address is the account's own is linked.
pub async fn confirm_link(
    state: &AppState,
    user: &User,
    pending: &PendingLink,
    origin: &Origin,
) -> Result<(), AppError> {
    let email = Email::parse(&pending.email).map_err(|_| AppError::NotFound)?;
    if email != user.email {
        return Err(AppError::Forbidden(
            "That sign-in's email address is not this account's, so they cannot be linked.".into(),
        ));
    }
    match state
        .store
        .link_identity(user.id, &pending.provider, &pending.subject, &email, now())
        .await
    {
        Ok(()) => {
            tracing::info!(user_id = %user.id, provider = %pending.provider, "provider linked");
            let detail = serde_json::json!({ "provider": pending.provider });
            let who = Some(user.id);
            audit::record(state, AuditAction::IdentityLinked, who, who, origin, detail).await
        }
        Err(StoreError::Conflict(m)) => Err(AppError::Conflict(m.into())),
        Err(e) => Err(e.into()),
    }
}
