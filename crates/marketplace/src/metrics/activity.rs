//! Daily and weekly active users: the first signed-in request of an account in a UTC day is
//! written down once (and counted), every later one costs a map lookup.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use storage::Store;

/// Which accounts this instance already marked active today.
#[derive(Default)]
pub struct Activity {
    seen: Mutex<(String, HashSet<i64>)>,
}

/// The UTC day (`YYYY-MM-DD`) and ISO week (`YYYY-Www`) of a Unix time.
pub fn periods(now: i64) -> (String, String) {
    let at =
        time::OffsetDateTime::from_unix_timestamp(now).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let day = at.date();
    let (year, week, _) = day.to_iso_week_date();
    (
        format!(
            "{:04}-{:02}-{:02}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ),
        format!("{year:04}-W{week:02}"),
    )
}

impl Activity {
    /// Notes that `user` made a signed-in request at `now`. The first time in a day it records
    /// the day and the week in the database in the background, off the request's path, and
    /// bumps the KPI counters for whichever the database had not seen yet.
    pub fn seen(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        kpi: &super::kpi::Kpis,
        user: domain::UserId,
        now: i64,
    ) {
        let (day, week) = periods(now);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.0 != day {
                *seen = (day.clone(), HashSet::new());
            }
            if !seen.1.insert(user.get()) {
                return;
            }
        }
        let (store, kpi, me) = (store.clone(), kpi.clone(), self.clone());
        tokio::spawn(async move {
            let periods = [format!("d:{day}"), format!("w:{week}")];
            match store.record_activity(user, &periods).await {
                Ok(first) => {
                    for (window, first) in ["day", "week"].into_iter().zip(first) {
                        if first {
                            kpi.active(window);
                        }
                    }
                }
                Err(e) => {
                    // Forget it, so the account's next request tries again.
                    let mut seen = me.seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.1.remove(&user.get());
                    tracing::warn!(error = %e, "could not record account activity");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_weeks_are_iso() {
        // Tuesday 1 December 2026, 23:30 UTC.
        assert_eq!(
            periods(1_796_167_800),
            ("2026-12-01".into(), "2026-W49".into())
        );
        // 1 January 2027 is a Friday: still ISO week 53 of 2026.
        assert_eq!(
            periods(1_798_761_600),
            ("2027-01-01".into(), "2026-W53".into())
        );
    }
}
