//! Erasure of one's account (GDPR art. 17, CCPA "delete"): asked for with the password,
//! carried out by the jobs loop after a grace period in which an emailed link calls it off, the
//! database part in one transaction and then every listed object deleted, resuming if stopped.

use crate::auth::email_link::Purpose;
use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use domain::{AuditAction, Role, UserId};
use storage::{EraseOutcome, ErasureRequest, User};

/// GDPR's one month (CCPA allows 45 days).
const DUE_SECS: i64 = 30 * 86_400;
/// A worker that stopped mid-way leaves the request to another after this; it is also how long
/// a failed object deletion waits before the next try.
const LEASE_SECS: i64 = 15 * 60;
/// Years of kept consent forms, counted generously (leap days included).
const YEAR_SECS: i64 = 366 * 86_400;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// What the signed "keep my account" link is bound to: one request, so it cannot call off a
/// later one.
fn binding(request: i64) -> String {
    format!("erasure:{request}")
}

/// Why an erasure cannot be asked for yet, for the page to show.
#[derive(Debug)]
pub enum Refusal {
    /// These booking requests are still open and must be cancelled or finished first.
    ActiveRequests(Vec<i64>),
    WrongPassword,
    Admin,
}

/// Checks the password and that nothing is still open, then schedules the erasure after the
/// grace period and emails the link that calls it off. An erasure already under way is
/// returned as it is.
pub async fn request(
    state: &AppState,
    user: &User,
    password: &str,
    origin: &Origin,
) -> Result<Result<ErasureRequest, Refusal>, AppError> {
    if user.role == Role::Admin {
        return Ok(Err(Refusal::Admin));
    }
    let credentials = state
        .store
        .credentials_by_email(&user.email)
        .await?
        .ok_or(AppError::NotFound)?;
    if !state
        .passwords
        .verify(password.to_owned(), credentials.password_hash)
        .await?
    {
        return Ok(Err(Refusal::WrongPassword));
    }
    let active = state.store.active_requests_of(user.id).await?;
    if !active.is_empty() {
        return Ok(Err(Refusal::ActiveRequests(active)));
    }
    let at = now();
    let grace = i64::from(state.settings.retention.erasure_grace_days) * 86_400;
    let (request, new) = state
        .store
        .request_erasure(user.id, at, at + grace, at + DUE_SECS)
        .await?;
    if new {
        let detail = serde_json::json!({
            "erasure": request.id,
            "erase_after": request.erase_after,
            "due_at": request.due_at,
        });
        let who = Some(user.id);
        audit::record(
            state,
            AuditAction::ErasureRequested,
            who,
            who,
            origin,
            detail,
        )
        .await?;
        notify_scheduled(state, &request).await?;
    }
    Ok(Ok(request))
}

async fn notify_scheduled(state: &AppState, request: &ErasureRequest) -> Result<(), AppError> {
    let base = state.settings.mail.public_url.trim_end_matches('/');
    let token = state.links.sign(
        Purpose::KeepAccount,
        request.user_id,
        &binding(request.id),
        request.erase_after,
    );
    let when = crate::templates::format::when(request.erase_after);
    state
        .store
        .queue_account_email(
            UserId::new(request.user_id),
            "account.erasure_scheduled",
            "Your Tattoo Marketplace account will be deleted",
            &format!(
                "You asked us to delete your Tattoo Marketplace account. We will delete it on \
                 {when}.\n\nChanged your mind, or was it not you? Keep your account here before \
                 then:\n\n{base}/account/delete/keep?token={token}\n\nOnce deleted, your profile, \
                 messages, reference photos, reviews and sign-in details are gone for good. What \
                 the law makes us keep is listed at {base}/account/delete.\n"
            ),
            now(),
        )
        .await?;
    Ok(())
}

/// Calls off the signed-in person's erasure during the grace period.
pub async fn cancel(
    state: &AppState,
    user: UserId,
    origin: &Origin,
) -> Result<Option<ErasureRequest>, AppError> {
    let cancelled = state.store.cancel_erasure(user, now()).await?;
    if let Some(r) = &cancelled {
        let detail = serde_json::json!({ "erasure": r.id });
        audit::record(
            state,
            AuditAction::ErasureCancelled,
            Some(user),
            Some(user),
            origin,
            detail,
        )
        .await?;
    }
    Ok(cancelled)
}

/// Calls off an erasure from the emailed link, which needs no sign-in: it names the account
/// and the request, and stops working when the grace period ends.
pub async fn cancel_by_link(
    state: &AppState,
    token: &str,
    origin: &Origin,
) -> Result<Option<ErasureRequest>, AppError> {
    let invalid = || AppError::BadRequest("This link is not valid, or its time has passed.".into());
    let user = crate::auth::email_link::LinkSigner::user_of(token).map_err(|_| invalid())?;
    let open = state
        .store
        .erasure_of(UserId::new(user))
        .await?
        .filter(|r| r.status == "scheduled" || r.status == "waiting")
        .ok_or_else(invalid)?;
    state
        .links
        .check(Purpose::KeepAccount, token, &binding(open.id), now())
        .map_err(|_| invalid())?;
    cancel(state, UserId::new(user), origin).await
}

/// Carries out the next erasure whose time has come, if any; called by the jobs loop.
pub async fn run_next(state: &AppState) -> Result<Option<i64>, AppError> {
    let at = now();
    let Some(request) = state.store.claim_erasure(at, at + LEASE_SECS).await? else {
        return Ok(None);
    };
    if request.status != "erasing" {
        match state.store.erase_account(request.id, at).await? {
            EraseOutcome::Waiting { active } => {
                if request.status == "scheduled" {
                    notify_waiting(state, &request, active).await?;
                }
                return Ok(Some(request.id));
            }
            EraseOutcome::NotDue => return Ok(Some(request.id)),
            EraseOutcome::Erased { .. } => {}
        }
    }
    delete_objects(state, &request).await?;
    Ok(Some(request.id))
}

/// Deletes the listed objects, forgetting each once it is gone; the request is done when none
/// is left. A failure leaves the rest listed for the next try.
async fn delete_objects(state: &AppState, request: &ErasureRequest) -> Result<(), AppError> {
    let keys = state.store.erasure_objects(request.id).await?;
    let count = keys.len();
    for key in keys {
        state.media.remove(&key).await.map_err(AppError::Internal)?;
        state.store.forget_erasure_object(request.id, &key).await?;
    }
    state.store.finish_erasure(request.id, now()).await?;
    let detail = serde_json::json!({ "erasure": request.id, "objects": count });
    audit::record(
        state,
        AuditAction::ErasureCompleted,
        None,
        Some(UserId::new(request.user_id)),
        &Origin::default(),
        detail,
    )
    .await?;
    tracing::info!(erasure = request.id, objects = count, "account erased");
    Ok(())
}

async fn notify_waiting(
    state: &AppState,
    request: &ErasureRequest,
    active: i64,
) -> Result<(), AppError> {
    let base = state.settings.mail.public_url.trim_end_matches('/');
    state
        .store
        .queue_account_email(
            UserId::new(request.user_id),
            "account.erasure_waiting",
            "We could not delete your account yet",
            &format!(
                "Your account is due to be deleted, but {active} booking request(s) are still \
                 open. Cancel or finish them, and we delete the account within the hour:\n\n\
                 {base}/account/delete\n"
            ),
            now(),
        )
        .await?;
    Ok(())
}

/// Whether a form signed at `signed_at` under `jurisdiction` may be deleted at `now`.
fn consent_expired(jurisdiction: &str, signed_at: i64, now: i64) -> bool {
    let years = domain::consent::rules_for(jurisdiction).consent_record_years;
    signed_at < now - i64::from(years) * YEAR_SECS
}

/// Deletes the consent forms of erased accounts whose jurisdiction's period has passed; part of
/// the retention sweep. Returns how many.
pub async fn purge_kept_consents(state: &AppState, now: i64) -> Result<u64, AppError> {
    let (mut after, mut purged) = (0, 0);
    loop {
        let batch = state.store.kept_consents(after, 500).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for c in &batch {
            if consent_expired(&c.jurisdiction, c.signed_at, now) {
                state.store.delete_kept_consent(c.id).await?;
                purged += 1;
            }
        }
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: i64 = 1_800_000_000;
    const DAY: i64 = 86_400;

    #[test]
    fn consent_forms_are_kept_for_their_jurisdictions_period() {
        // Florida keeps two years, Spain five, and places not listed the default three.
        assert!(!consent_expired("US-FL", SIGNED, SIGNED + 2 * 365 * DAY));
        assert!(consent_expired("US-FL", SIGNED, SIGNED + 2 * 366 * DAY + 1));
        assert!(!consent_expired("ES", SIGNED, SIGNED + 4 * 366 * DAY));
        assert!(consent_expired("ES", SIGNED, SIGNED + 5 * 366 * DAY + 1));
        assert!(!consent_expired("XX-YY", SIGNED, SIGNED + 3 * 365 * DAY));
        assert!(consent_expired("XX-YY", SIGNED, SIGNED + 3 * 366 * DAY + 1));
    }
}
