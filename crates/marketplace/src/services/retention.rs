//! The retention sweep: removes what closed requests no longer need and accounts never
//! confirmed, after the periods in `[retention]`, each run recorded in the audit log.

use crate::client_ip::Origin;
use crate::error::AppError;
use crate::services::audit;
use crate::state::AppState;
use domain::AuditAction;

/// What one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub export_archives: u64,
    pub reference_photos: u64,
    pub message_bodies: u64,
    pub unverified_accounts: u64,
    /// Consent forms of erased accounts, once their jurisdiction's period passed.
    pub consent_forms: u64,
    /// Days and weeks of account activity past the 35 the insights page reads.
    pub activity_rows: u64,
}

/// How long account activity (who was signed in which day) is kept: the insights page's 30
/// days, and a week more for the weekly figure.
pub const ACTIVITY_DAYS: i64 = 35;

const BATCH: i64 = 200;

/// Runs every rule once. Objects are deleted before their rows, so an interrupted sweep finds
/// the same photos again next time (deleting an object twice is harmless).
pub async fn sweep(state: &AppState, now: i64) -> Result<Swept, AppError> {
    let r = &state.settings.retention;
    let days = |d: u32| now - i64::from(d) * 86_400;
    let mut swept = Swept::default();
    loop {
        let due = state
            .store
            .expired_references(days(r.reference_photos_days), BATCH)
            .await?;
        if due.is_empty() {
            break;
        }
        let mut requests: Vec<i64> = Vec::new();
        for (booking, image, thumb) in &due {
            state.media.delete(&[image, thumb]).await;
            swept.reference_photos += 1;
            if !requests.contains(booking) {
                requests.push(*booking);
            }
        }
        for booking in requests {
            state.store.forget_references(booking).await?;
        }
    }
    swept.export_archives = crate::services::exports::purge_expired(state, now).await?;
    swept.message_bodies = state
        .store
        .remove_message_bodies(days(r.message_bodies_days), now)
        .await?;
    swept.unverified_accounts = state
        .store
        .expire_unverified_accounts(days(r.unverified_accounts_days))
        .await?;
    swept.consent_forms = crate::services::erasure::purge_kept_consents(state, now).await?;
    let (day, week) = crate::metrics::activity::periods(now - ACTIVITY_DAYS * 86_400);
    swept.activity_rows = state.store.purge_activity(&day, &week).await?;
    if swept != Swept::default() {
        let detail = serde_json::json!({
            "export_archives": swept.export_archives,
            "reference_photos": swept.reference_photos,
            "message_bodies": swept.message_bodies,
            "unverified_accounts": swept.unverified_accounts,
            "consent_forms": swept.consent_forms,
            "activity_rows": swept.activity_rows,
        });
        let origin = Origin::default();
        audit::record(
            state,
            AuditAction::RetentionSwept,
            None,
            None,
            &origin,
            detail,
        )
        .await?;
    }
    Ok(swept)
}
