//! Recording security-relevant events in the append-only audit log, reading it back for admins,
//! and verifying its hash chain.

use crate::client_ip::Origin;
use crate::error::AppError;
use crate::state::AppState;
use domain::{AuditAction, UserId};
use std::sync::Arc;
use storage::{AuditEntry, AuditFilter, ChainBreak, GENESIS_HASH, NewAuditEntry, Store};

/// Appends one entry. `detail` holds non-personal facts only: a method, a request id. The entry
/// is also written as a log line (target `audit`), which is how it reaches CloudWatch Logs on ECS:
/// without the address, as no log line carries one, but with the hash that covers it, so the
/// copy outside the database still shows any later change.
pub async fn record(
    state: &AppState,
    action: AuditAction,
    actor: Option<UserId>,
    subject: Option<UserId>,
    origin: &Origin,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    append(&state.store, action, actor, subject, origin, detail).await
}

/// [`record`] for code that holds only the store (the CLI, background jobs).
pub async fn append(
    store: &Arc<dyn Store>,
    action: AuditAction,
    actor: Option<UserId>,
    subject: Option<UserId>,
    origin: &Origin,
    detail: serde_json::Value,
) -> Result<(), AppError> {
    let entry = store
        .append_audit(&NewAuditEntry {
            action,
            actor,
            subject,
            ip: origin.ip.map(|ip| ip.to_string()),
            request_id: origin.request_id.clone(),
            detail,
            at: time::OffsetDateTime::now_utc().unix_timestamp(),
        })
        .await?;
    tracing::info!(
        target: "audit",
        seq = entry.seq,
        action = %entry.action,
        actor = entry.actor,
        subject = entry.subject,
        request_id = entry.request_id.as_deref(),
        detail = %entry.detail,
        hash = %entry.hash,
        "audit"
    );
    Ok(())
}

/// One page of the log for an admin; the viewing itself is recorded, since entries name other
/// people's accounts.
pub async fn browse(
    state: &AppState,
    admin: UserId,
    origin: &Origin,
    filter: &AuditFilter,
    limit: i64,
) -> Result<Vec<AuditEntry>, AppError> {
    let entries = state.store.audit_entries(filter, limit).await?;
    let detail = serde_json::json!({
        "action": filter.action.map(|a| a.as_str()),
        "user": filter.user.map(|u| u.get()),
    });
    record(
        state,
        AuditAction::AuditLogViewed,
        Some(admin),
        filter.user,
        origin,
        detail,
    )
    .await?;
    Ok(entries)
}

/// What `marketplace audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry chains to its predecessor; `entries` were checked, the last with `head`.
    Intact {
        entries: i64,
        head: String,
    },
    Broken(ChainBreak),
}

/// Walks the whole chain in pages, so a long log is never held in memory at once.
pub async fn verify(store: &Arc<dyn Store>) -> Result<Verdict, AppError> {
    const PAGE: i64 = 1_000;
    let mut at = (0, GENESIS_HASH.to_owned());
    loop {
        let run = store.audit_run(at.0, PAGE).await?;
        if run.is_empty() {
            return Ok(Verdict::Intact {
                entries: at.0,
                head: at.1,
            });
        }
        at = match storage::verify_run(at, &run) {
            Ok(next) => next,
            Err(e) => return Ok(Verdict::Broken(e)),
        };
    }
}
