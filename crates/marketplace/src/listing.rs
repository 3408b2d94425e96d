//! The catalogue snapshot behind the home page and the search filters: the same for every
//! visitor, so it is read from the database at most once per TTL instead of on every page view.

use std::sync::Arc;
use std::time::{Duration, Instant};
use storage::{ArtistCard, CatalogueCounts, Store, StoreError};
use tokio::sync::Mutex;

/// How many artists the home page shows.
pub const FEATURED: u32 = 24;

pub struct Listing {
    pub artists: Vec<ArtistCard>,
    pub counts: CatalogueCounts,
    /// Every city with an artist, for the home page and the search filter.
    pub cities: Vec<String>,
}

pub struct ListingCache {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<Listing>)>>,
}

impl ListingCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    /// The current snapshot. Concurrent misses wait for a single refresh rather than each
    /// querying the database; a failed refresh is not cached.
    pub async fn get(&self, store: &dyn Store) -> Result<Arc<Listing>, StoreError> {
        let mut slot = self.slot.lock().await;
        if let Some((taken, listing)) = slot.as_ref()
            && taken.elapsed() < self.ttl
        {
            return Ok(listing.clone());
        }
        let (artists, counts, cities) = tokio::try_join!(
            store.featured_artists(FEATURED),
            store.catalogue_counts(),
            store.cities()
        )?;
        let listing = Arc::new(Listing {
            artists,
            counts,
            cities,
        });
        *slot = Some((Instant::now(), listing.clone()));
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::testing::TestDb;

    async fn add_user(store: &dyn Store, email: &str) {
        store
            .create_user(storage::NewUser {
                email: domain::Email::parse(email).unwrap(),
                display_name: domain::DisplayName::parse("X").unwrap(),
                role: domain::Role::Client,
                password_hash: "x".into(),
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_snapshot_is_reused_within_its_ttl_and_refreshed_after() {
        let db = TestDb::sqlite();
        let store = db.store().await;
        let cache = ListingCache::new(Duration::from_millis(300));
        let first = cache.get(store.as_ref()).await.unwrap();
        add_user(store.as_ref(), "a@example.com").await;
        let second = cache.get(store.as_ref()).await.unwrap();
        assert!(Arc::ptr_eq(&first, &second), "served from the snapshot");
        assert_eq!(second.counts.users, 0);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(cache.get(store.as_ref()).await.unwrap().counts.users, 1);
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_every_time_and_errors_are_not_cached() {
        let db = TestDb::sqlite();
        let store = db.store().await;
        let cache = ListingCache::new(Duration::ZERO);
        cache.get(store.as_ref()).await.unwrap();
        add_user(store.as_ref(), "a@example.com").await;
        assert_eq!(cache.get(store.as_ref()).await.unwrap().counts.users, 1);
        store.close().await;
        assert!(cache.get(store.as_ref()).await.is_err());
    }
}
