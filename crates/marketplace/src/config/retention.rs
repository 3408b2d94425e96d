//! The `[retention]` settings: how long what a closed request no longer needs is kept.

use serde::Deserialize;

/// The longest any of these may be set to: ten years.
const MAX_DAYS: u32 = 3650;
/// The longest grace period before an erasure: it must end well inside the one-month deadline.
const MAX_GRACE_DAYS: u32 = 14;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Reference photos of skin, after the request closes (completed, declined, withdrawn,
    /// expired).
    pub reference_photos_days: u32,
    /// Message bodies, after the request closes; who wrote and when stay.
    pub message_bodies_days: u32,
    /// Accounts whose address was never confirmed, after they were made.
    pub unverified_accounts_days: u32,
    /// Between an erasure request and the erasure, while the person can still call it off.
    pub erasure_grace_days: u32,
    /// How often the retention sweep runs.
    pub run_every_minutes: u32,
}

impl RetentionSettings {
    pub fn problems(&self) -> Vec<String> {
        [
            ("reference_photos_days", self.reference_photos_days),
            ("message_bodies_days", self.message_bodies_days),
            ("unverified_accounts_days", self.unverified_accounts_days),
        ]
        .into_iter()
        .filter(|(_, days)| *days > MAX_DAYS)
        .map(|(name, days)| {
            format!("retention.{name} is {days}: at most {MAX_DAYS} days (ten years)")
        })
        .chain(
            (!(1..=MAX_GRACE_DAYS).contains(&self.erasure_grace_days)).then(|| {
                format!(
                    "retention.erasure_grace_days is {}: between 1 and {MAX_GRACE_DAYS}, so an \
                 erasure is done within GDPR's one month",
                    self.erasure_grace_days
                )
            }),
        )
        .collect()
    }
}
