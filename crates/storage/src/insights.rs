//! What the admin insights page reads: day-by-day registrations, requests, bookings, deposits
//! and active accounts; and the activity rows behind daily and weekly active users.

use crate::Result;
use async_trait::async_trait;
use domain::UserId;

/// One figure for one UTC day (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    pub day: String,
    pub count: i64,
}

/// Deposits paid on one day to artists of one currency: the artist's chosen currency (`None`:
/// their country's), with the country to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDeposits {
    pub day: String,
    pub currency: Option<String>,
    pub country: String,
    pub cents: i64,
}

/// Everything since a day, each series in day order; days with nothing are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyFigures {
    pub registrations: Vec<DayCount>,
    pub requests: Vec<DayCount>,
    /// Requests that reached `booked` that day (each counted once).
    pub bookings: Vec<DayCount>,
    pub deposits: Vec<DayDeposits>,
    /// Accounts that made a signed-in request that day.
    pub active: Vec<DayCount>,
}

#[async_trait]
pub trait InsightsStore: Send + Sync {
    /// The figures from the start of `since_day` (`YYYY-MM-DD`, UTC), administrators' own
    /// accounts not counted as registrations.
    async fn daily_figures(&self, since_day: &str) -> Result<DailyFigures>;

    /// Marks `user` active in `periods` (`d:YYYY-MM-DD`, `w:YYYY-Www`); for each, whether this
    /// call was the first to (so a counter bumped on `true` counts each account once per period,
    /// however many instances saw it).
    async fn record_activity(&self, user: UserId, periods: &[String]) -> Result<Vec<bool>>;

    /// Distinct accounts active on the days `from_day..=to_day`.
    async fn active_between(&self, from_day: &str, to_day: &str) -> Result<i64>;

    /// Deletes activity of days and weeks before `day` (`YYYY-MM-DD`); returns how many rows.
    async fn purge_activity(&self, before_day: &str, before_week: &str) -> Result<u64>;
}

/// Implements `InsightsStore`; `day_of_time` and `day_of_unix` turn a timestamp column and a
/// Unix-seconds column (`{}` stands for it) into its UTC `YYYY-MM-DD`, in the dialect.
macro_rules! impl_insights_store {
    ($ty:ty, day_of_time: $time:literal, day_of_unix: $unix:literal) => {
        #[async_trait::async_trait]
        impl $crate::InsightsStore for $ty {
            #[tracing::instrument(skip_all, name = "store.daily_figures")]
            async fn daily_figures(&self, since_day: &str) -> $crate::Result<$crate::DailyFigures> {
                let since = $crate::insights::day_start(since_day)?;
                let by_day = |rows: Vec<(String, i64)>| {
                    rows.into_iter()
                        .map(|(day, count)| $crate::DayCount { day, count })
                        .collect::<Vec<_>>()
                };
                let registrations: Vec<(String, i64)> = sqlx::query_as(&format!(
                    "SELECT {d} AS day, COUNT(*) FROM users WHERE created_at >= $1 AND role <> 'admin' \
                     GROUP BY 1 ORDER BY 1",
                    d = $time.replace("{}", "created_at")
                ))
                .bind($crate::rows::ts(since))
                .fetch_all(&self.pool)
                .await?;
                let requests: Vec<(String, i64)> = sqlx::query_as(&format!(
                    "SELECT {d} AS day, COUNT(*) FROM booking_requests WHERE created_at >= $1 \
                     GROUP BY 1 ORDER BY 1",
                    d = $time.replace("{}", "created_at")
                ))
                .bind($crate::rows::ts(since))
                .fetch_all(&self.pool)
                .await?;
                let bookings: Vec<(String, i64)> = sqlx::query_as(&format!(
                    "SELECT {d} AS day, COUNT(DISTINCT booking_id) FROM booking_events \
                     WHERE to_state = 'booked' AND at >= $1 GROUP BY 1 ORDER BY 1",
                    d = $unix.replace("{}", "at")
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                let deposits: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(&format!(
                    "SELECT {d} AS day, a.currency, a.country, CAST(SUM(l.amount_cents) AS BIGINT) \
                     FROM deposit_ledger l JOIN booking_requests b ON b.id = l.booking_id \
                     JOIN artists a ON a.id = b.artist_id \
                     WHERE l.entry = 'deposit_paid' AND l.at >= $1 \
                     GROUP BY 1, a.currency, a.country ORDER BY 1",
                    d = $unix.replace("{}", "l.at")
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                let active: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT substr(period, 3) AS day, COUNT(*) FROM user_activity \
                     WHERE period >= $1 AND period LIKE 'd:%' GROUP BY 1 ORDER BY 1",
                )
                .bind(format!("d:{since_day}"))
                .fetch_all(&self.pool)
                .await?;
                Ok($crate::DailyFigures {
                    registrations: by_day(registrations),
                    requests: by_day(requests),
                    bookings: by_day(bookings),
                    deposits: deposits
                        .into_iter()
                        .map(|(day, currency, country, cents)| $crate::DayDeposits {
                            day,
                            currency,
                            country,
                            cents,
                        })
                        .collect(),
                    active: by_day(active),
                })
            }

            #[tracing::instrument(skip_all, name = "store.record_activity")]
            async fn record_activity(
                &self,
                user: domain::UserId,
                periods: &[String],
            ) -> $crate::Result<Vec<bool>> {
                let mut first = Vec::with_capacity(periods.len());
                for period in periods {
                    let done = sqlx::query(
                        "INSERT INTO user_activity (user_id, period) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(user.get())
                    .bind(period)
                    .execute(&self.pool)
                    .await?;
                    first.push(done.rows_affected() == 1);
                }
                Ok(first)
            }

            #[tracing::instrument(skip_all, name = "store.active_between")]
            async fn active_between(&self, from_day: &str, to_day: &str) -> $crate::Result<i64> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(DISTINCT user_id) FROM user_activity \
                     WHERE period >= $1 AND period <= $2",
                )
                .bind(format!("d:{from_day}"))
                .bind(format!("d:{to_day}"))
                .fetch_one(&self.pool)
                .await?;
                Ok(n)
            }

            #[tracing::instrument(skip_all, name = "store.purge_activity")]
            async fn purge_activity(&self, before_day: &str, before_week: &str) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM user_activity WHERE (period LIKE 'd:%' AND period < $1) \
                     OR (period LIKE 'w:%' AND period < $2)",
                )
                .bind(format!("d:{before_day}"))
                .bind(format!("w:{before_week}"))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
pub(crate) use impl_insights_store;

/// The Unix time a `YYYY-MM-DD` day starts (UTC), or a clear error.
pub(crate) fn day_start(day: &str) -> Result<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, &format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .map_err(|_| crate::StoreError::Refused(format!("{day:?} is not a YYYY-MM-DD day")))
}
