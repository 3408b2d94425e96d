//! What the admin insights page shows: the last 30 days day by day (registrations, requests,
//! bookings, deposits, active accounts), the funnel's conversion and the slowest routes.

use crate::error::AppError;
use crate::metrics::activity::periods;
use crate::metrics::slowest::RouteLatency;
use crate::state::AppState;
use domain::Currency;

/// Days on the page, today included.
pub const DAYS: i64 = 30;

/// One UTC day's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub registrations: i64,
    pub requests: i64,
    pub bookings: i64,
    pub active: i64,
    /// Deposits paid, in minor units, one per currency of [`Insights::currencies`].
    pub deposits: Vec<i64>,
}

/// One funnel step since this instance started.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    pub step: &'static str,
    pub count: u64,
    /// This step's count as a share of the step before, in percent; `None` for the first step
    /// or when the step before has no events.
    pub of_previous: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Insights {
    /// Oldest first; every day of the window, zero where nothing happened.
    pub days: Vec<Day>,
    /// The currencies deposits were paid in, most revenue first.
    pub currencies: Vec<Currency>,
    pub active_today: i64,
    pub active_this_week: i64,
    pub funnel: Vec<FunnelStep>,
    pub slowest: Vec<RouteLatency>,
}

/// The figures as of `now`.
pub async fn overview(state: &AppState, now: i64) -> Result<Insights, AppError> {
    let days: Vec<String> = (0..DAYS)
        .rev()
        .map(|back| periods(now - back * 86_400).0)
        .collect();
    let figures = state.store.daily_figures(&days[0]).await?;
    let count = |series: &[storage::DayCount], day: &str| {
        series.iter().find(|c| c.day == day).map_or(0, |c| c.count)
    };
    // Revenue by currency, each row's currency resolved as the artist's pages show it.
    let mut totals: Vec<(Currency, i64)> = Vec::new();
    let deposits: Vec<(String, Currency, i64)> = figures
        .deposits
        .iter()
        .map(|d| {
            let currency = Currency::of_artist(d.currency.as_deref(), &d.country);
            match totals.iter_mut().find(|(c, _)| *c == currency) {
                Some(total) => total.1 += d.cents,
                None => totals.push((currency, d.cents)),
            }
            (d.day.clone(), currency, d.cents)
        })
        .collect();
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.code().cmp(b.0.code())));
    let currencies: Vec<Currency> = totals.into_iter().map(|(c, _)| c).collect();
    let days: Vec<Day> = days
        .into_iter()
        .map(|day| Day {
            registrations: count(&figures.registrations, &day),
            requests: count(&figures.requests, &day),
            bookings: count(&figures.bookings, &day),
            active: count(&figures.active, &day),
            deposits: currencies
                .iter()
                .map(|c| {
                    deposits
                        .iter()
                        .filter(|(d, dc, _)| *d == day && dc == c)
                        .map(|(_, _, cents)| cents)
                        .sum()
                })
                .collect(),
            day,
        })
        .collect();
    let today = days.last().map(|d| d.day.clone()).unwrap_or_default();
    let week_start = periods(now - 6 * 86_400).0;
    let active_this_week = state.store.active_between(&week_start, &today).await?;
    let active_today = days.last().map_or(0, |d| d.active);
    Ok(Insights {
        days,
        currencies,
        active_today,
        active_this_week,
        funnel: funnel(&state.metrics.kpi.funnel_counts()),
        slowest: state.metrics.slowest_routes(10),
    })
}

/// Each step with its conversion from the step before.
pub fn funnel(counts: &[(&'static str, u64)]) -> Vec<FunnelStep> {
    let mut previous: Option<u64> = None;
    counts
        .iter()
        .map(|(step, count)| {
            let of_previous = previous
                .filter(|p| *p > 0)
                .map(|p| *count as f64 * 100.0 / p as f64);
            previous = Some(*count);
            FunnelStep {
                step,
                count: *count,
                of_previous,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_converts_from_the_one_before_and_an_empty_step_has_no_rate() {
        let steps = funnel(&[
            ("search", 200),
            ("profile_view", 50),
            ("request", 0),
            ("quote", 0),
            ("booked", 0),
        ]);
        assert_eq!(steps[0].of_previous, None);
        assert_eq!(steps[1].of_previous, Some(25.0));
        assert_eq!(steps[2].of_previous, Some(0.0));
        assert_eq!(steps[3].of_previous, None, "nothing to convert from");
    }
}
