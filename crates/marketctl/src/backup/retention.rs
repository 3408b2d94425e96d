//! Tiered retention: every backup for some hours, then one an hour for two days, then one a day for thirty.

use std::collections::BTreeSet;

/// How long each tier keeps backups.
#[derive(Debug, Clone, Copy)]
pub struct Tiers {
    /// Every backup younger than this is kept (the minute-by-minute tier).
    pub all_seconds: f64,
    /// The newest backup of each hour younger than this is kept.
    pub hourly_seconds: f64,
    /// The newest backup of each day younger than this is kept.
    pub daily_seconds: f64,
}

impl Default for Tiers {
    fn default() -> Self {
        Self {
            all_seconds: 6.0 * 3600.0,
            hourly_seconds: 48.0 * 3600.0,
            daily_seconds: 30.0 * 86400.0,
        }
    }
}

/// A backup as retention sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub created_at: f64,
    pub verified_ok: bool,
}

/// The ids to delete at `now`. The newest backup and the newest verified one are always kept,
/// whatever their age, so pruning can never leave nothing to restore.
pub fn expired(entries: &[Entry], tiers: Tiers, now: f64) -> Vec<String> {
    let mut keep = BTreeSet::new();
    let mut newest_first: Vec<&Entry> = entries.iter().collect();
    newest_first.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    if let Some(newest) = newest_first.first() {
        keep.insert(newest.id.clone());
    }
    if let Some(verified) = newest_first.iter().find(|e| e.verified_ok) {
        keep.insert(verified.id.clone());
    }
    let mut hours = BTreeSet::new();
    let mut days = BTreeSet::new();
    for e in &newest_first {
        let age = now - e.created_at;
        if age < tiers.all_seconds {
            keep.insert(e.id.clone());
        }
        if age < tiers.hourly_seconds && hours.insert((e.created_at / 3600.0).floor() as i64) {
            keep.insert(e.id.clone());
        }
        if age < tiers.daily_seconds && days.insert((e.created_at / 86400.0).floor() as i64) {
            keep.insert(e.id.clone());
        }
    }
    entries
        .iter()
        .filter(|e| !keep.contains(&e.id))
        .map(|e| e.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_minute_for(days: f64, now: f64) -> Vec<Entry> {
        let n = (days * 1440.0) as i64;
        (0..n)
            .map(|i| Entry {
                id: format!("b{i}"),
                created_at: now - (i as f64) * 60.0 - 1.0,
                verified_ok: i % 7 == 0,
            })
            .collect()
    }

    #[test]
    fn a_month_of_minutely_backups_thins_to_the_three_tiers() {
        let now = 1_764_460_800.0;
        let entries = every_minute_for(31.0, now);
        let gone: BTreeSet<String> = expired(&entries, Tiers::default(), now)
            .into_iter()
            .collect();
        let kept: Vec<&Entry> = entries.iter().filter(|e| !gone.contains(&e.id)).collect();
        let age = |e: &Entry| now - e.created_at;
        // Every minute of the last 6 hours.
        assert_eq!(kept.iter().filter(|e| age(e) < 6.0 * 3600.0).count(), 360);
        // One an hour for the rest of two days (the 42 hours past the first six).
        let hourly = kept
            .iter()
            .filter(|e| age(e) >= 6.0 * 3600.0 && age(e) < 48.0 * 3600.0)
            .count();
        assert!((42..=43).contains(&hourly), "{hourly} hourly");
        // One a day for the rest of thirty days, nothing older.
        let daily = kept.iter().filter(|e| age(e) >= 48.0 * 3600.0).count();
        assert!((28..=29).contains(&daily), "{daily} daily");
        assert!(kept.iter().all(|e| age(e) < 30.0 * 86400.0));
    }

    #[test]
    fn the_newest_and_the_newest_verified_survive_any_age() {
        let now = 2_000_000_000.0;
        let entries = vec![
            Entry {
                id: "old-verified".into(),
                created_at: now - 90.0 * 86400.0,
                verified_ok: true,
            },
            Entry {
                id: "older".into(),
                created_at: now - 91.0 * 86400.0,
                verified_ok: false,
            },
            Entry {
                id: "newest".into(),
                created_at: now - 60.0 * 86400.0,
                verified_ok: false,
            },
        ];
        assert_eq!(
            expired(&entries, Tiers::default(), now),
            vec!["older".to_owned()]
        );
        assert!(expired(&[], Tiers::default(), now).is_empty());
    }

    #[test]
    fn pruning_twice_deletes_nothing_more() {
        let now = 1_764_460_800.0;
        let entries = every_minute_for(5.0, now);
        let gone: BTreeSet<String> = expired(&entries, Tiers::default(), now)
            .into_iter()
            .collect();
        let kept: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !gone.contains(&e.id))
            .collect();
        assert!(expired(&kept, Tiers::default(), now).is_empty());
    }
}
