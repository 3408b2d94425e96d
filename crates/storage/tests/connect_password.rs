//! Short-lived PostgreSQL passwords (RDS IAM tokens): asked for at connect, refreshed on schedule, and a clear error when unavailable.

use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use storage::testing::TestDb;
use storage::{ConnectPassword, PoolOptions, StoreError};

struct Counting {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait]
impl ConnectPassword for Counting {
    async fn password(&self, host: &str, port: u16, user: &str) -> Result<String, String> {
        assert_eq!((host, port, user), ("127.0.0.1", 5432, "postgres"));
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            Err("no credentials in this test".into())
        } else {
            Ok(format!("token-{}", self.calls.load(Ordering::SeqCst)))
        }
    }

    fn refresh_every(&self) -> Duration {
        Duration::from_millis(100)
    }
}

#[tokio::test]
async fn the_pool_asks_for_a_password_at_connect_and_keeps_refreshing_it() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let source = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        fail: false,
    });
    let store = storage::connect(
        &db.url,
        &PoolOptions {
            max_connections: 2,
            password: Some(source.clone()),
            ..PoolOptions::default()
        },
    )
    .await
    .expect("connects with the password source");
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        1,
        "asked once at connect"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let calls = source.calls.load(Ordering::SeqCst);
    assert!(calls >= 3, "refreshed on schedule: {calls} calls");
    // New connections open with the refreshed options.
    store.ping().await.expect("the pool still connects");
    store.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_close = source.calls.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        after_close,
        "the refresh stops with the pool"
    );
}

#[tokio::test]
async fn no_password_means_a_clear_error_not_a_connection_attempt() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let source = Arc::new(Counting {
        calls: AtomicUsize::new(0),
        fail: true,
    });
    let err = match storage::connect(
        &db.url,
        &PoolOptions {
            password: Some(source),
            ..PoolOptions::default()
        },
    )
    .await
    {
        Ok(_) => panic!("connected without a password"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Credentials(_)), "{err:?}");
    assert!(err.to_string().contains("no credentials in this test"));
}
