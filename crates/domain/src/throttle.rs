//! Per-account sign-in backoff: after a few free failures, each further one locks the account's
//! sign-in for twice as long as the last, up to a cap; the owner hears about it once per streak.

/// Failures allowed before any lock (typos happen).
pub const FREE_FAILURES: i64 = 5;
/// At this many failures in a streak the account's owner is emailed.
pub const NOTIFY_AT_FAILURES: i64 = 10;
/// The longest lock.
pub const MAX_LOCK_SECS: i64 = 15 * 60;
/// A streak ends after this long without failures.
pub const FORGET_AFTER_SECS: i64 = 24 * 3600;

/// How long sign-in stays locked after the `failures`-th failure in a streak.
pub fn lock_secs(failures: i64) -> i64 {
    if failures <= FREE_FAILURES {
        return 0;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES - 1).unwrap_or(u32::MAX);
    1i64.checked_shl(doublings)
        .filter(|s| *s > 0)
        .map_or(MAX_LOCK_SECS, |s| s.min(MAX_LOCK_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_lock_doubles_after_the_free_failures_and_is_capped() {
        let locks: Vec<i64> = (1..=12).map(lock_secs).collect();
        assert_eq!(locks, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(lock_secs(40), MAX_LOCK_SECS);
        assert_eq!(lock_secs(i64::MAX), MAX_LOCK_SECS);
        assert_eq!(lock_secs(i64::MIN), 0);
    }

    proptest! {
        #[test]
        fn locks_never_shrink_as_failures_grow(n in 0i64..10_000) {
            prop_assert!(lock_secs(n) <= lock_secs(n + 1));
            prop_assert!((0..=MAX_LOCK_SECS).contains(&lock_secs(n)));
        }
    }
}
