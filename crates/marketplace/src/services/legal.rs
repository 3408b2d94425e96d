//! The terms and privacy policy people accept (versioned, their text fixed per version), and the
//! "do not sell or share" choice, including the browser's Global Privacy Control.

use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use domain::{AuditAction, UserId};
use std::sync::Arc;
use storage::{PrivacyChoice, Store, User};

pub use crate::templates::legal::{DOCUMENTS, LegalDocument, PRIVACY, TERMS};

/// The current versions as one string, for remembering in a session that they were accepted.
pub fn current_versions() -> String {
    DOCUMENTS
        .iter()
        .map(|d| format!("{}:{}", d.key, d.version))
        .collect::<Vec<_>>()
        .join(";")
}

/// Records the current versions as published; at startup, before anyone can accept them.
pub async fn publish(store: &Arc<dyn Store>) -> Result<(), AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for d in DOCUMENTS {
        store
            .publish_document(d.key, d.version, &d.digest(), now)
            .await?;
    }
    Ok(())
}

/// The documents whose current version `user` has not accepted.
pub async fn outdated(
    state: &AppState,
    user: UserId,
) -> Result<Vec<&'static LegalDocument>, AppError> {
    let accepted = state.store.accepted_versions(user).await?;
    Ok(DOCUMENTS
        .into_iter()
        .filter(|d| !accepted.iter().any(|(k, v)| k == d.key && v == d.version))
        .collect())
}

/// Records acceptance of the documents in `shown` whose version is the current one: what the
/// person saw on the page. A page shown before a new version was published accepts nothing, and
/// the person is asked again.
pub async fn accept(
    state: &AppState,
    user: UserId,
    origin: &Origin,
    shown: &[(&str, &str)],
    method: &'static str,
) -> Result<bool, AppError> {
    let current: Vec<(&str, &str)> = DOCUMENTS
        .iter()
        .filter(|d| shown.contains(&(d.key, d.version)))
        .map(|d| (d.key, d.version))
        .collect();
    if current.is_empty() {
        return Ok(false);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Published at startup unless migrations were pending then; idempotent either way.
    publish(&state.store).await?;
    state
        .store
        .accept_documents(user, &current, method, now)
        .await?;
    let versions: serde_json::Map<String, serde_json::Value> = current
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let detail = serde_json::json!({ "method": method, "versions": versions });
    let who = Some(user);
    audit::record(state, AuditAction::LegalAccepted, who, who, origin, detail).await?;
    Ok(current.len() == DOCUMENTS.len())
}

/// The current versions, as a page showing them passes them back.
pub fn current_shown() -> Vec<(&'static str, &'static str)> {
    DOCUMENTS.iter().map(|d| (d.key, d.version)).collect()
}

pub async fn choice(state: &AppState, user: &User) -> Result<Option<PrivacyChoice>, AppError> {
    Ok(state.store.privacy_choice(user.id).await?)
}

/// Turns "do not sell or share" on or off for `user`; `source` is `form` or `gpc`.
pub async fn set_do_not_sell(
    state: &AppState,
    user: UserId,
    origin: &Origin,
    on: bool,
    source: &'static str,
) -> Result<(), AppError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if state.store.set_do_not_sell(user, on, source, now).await? {
        let detail = serde_json::json!({ "do_not_sell": on, "source": source });
        let who = Some(user);
        audit::record(
            state,
            AuditAction::PrivacyChoiceChanged,
            who,
            who,
            origin,
            detail,
        )
        .await?;
    }
    Ok(())
}

/// A browser sending `Sec-GPC: 1` opts its signed-in person out, recorded as such. The signal
/// wins over an earlier choice on the page (CCPA regulations, section 7025): to opt in again a
/// person turns the signal off in their browser.
pub async fn honour_gpc(state: &AppState, user: UserId, origin: &Origin) -> Result<(), AppError> {
    if !origin.gpc {
        return Ok(());
    }
    match state.store.privacy_choice(user).await? {
        Some(c) if c.do_not_sell => Ok(()),
        _ => set_do_not_sell(state, user, origin, true, "gpc").await,
    }
}
