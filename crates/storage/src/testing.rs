//! Isolated databases for tests: a temporary SQLite file, or a fresh PostgreSQL database.
//!
//! PostgreSQL comes from `TM_TEST_POSTGRES_URL` (default: the local trust-auth server). When it is
//! unreachable the PostgreSQL tests skip locally but panic when `CI` is set, so CI can never pass
//! without them.

use crate::{Backend, PoolOptions, Store};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for one test and is removed afterwards.
pub struct TestDb {
    pub backend: Backend,
    pub url: SecretString,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

fn admin_url() -> String {
    std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        Self {
            backend: Backend::Sqlite,
            url: url.into(),
            _dir: Some(dir),
            pg: None,
        }
    }

    /// A fresh, empty PostgreSQL database, or `None` (outside CI) when PostgreSQL is unreachable.
    pub async fn postgres() -> Option<Self> {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) if !in_ci() => {
                eprintln!("skipping PostgreSQL test: {e} (set CI=true to make this fatal)");
                return None;
            }
            Err(e) => panic!("PostgreSQL is required in CI but unreachable: {e}"),
        };
        let name = format!("tm_test_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("admin URL names a database");
        let url = format!("{base}/{name}");
        Some(Self {
            backend: Backend::Postgres,
            url: url.into(),
            _dir: None,
            pg: Some((admin, name)),
        })
    }

    /// Opens the store and applies migrations.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = crate::connect(&self.url, &PoolOptions::default())
            .await
            .expect("connect to test database");
        store.migrate().await.expect("migrate test database");
        store
    }

    pub fn url_str(&self) -> &str {
        self.url.expose_secret()
    }

    /// Moves a session so that it started an hour ago, keeping its length: for tests of what
    /// may only happen once a session has started (completing it, a no-show).
    pub async fn start_session(&self, appointment: i64) {
        let started = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
        let sql = "UPDATE appointments SET ends_at = ends_at - (starts_at - $1), starts_at = $1 \
                   WHERE id = $2";
        let moved = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(self.url_str())
                    .await
                    .unwrap();
                sqlx::query(sql)
                    .bind(started)
                    .bind(appointment)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(self.url_str()).await.unwrap();
                sqlx::query(sql)
                    .bind(started)
                    .bind(appointment)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        };
        assert_eq!(moved.expect("move the session"), 1);
    }

    /// Runs one raw statement, as someone with direct database access would: for tests of what
    /// the schema itself refuses.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(self.url_str()).await?;
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres => {
                let mut c = PgConnection::connect(self.url_str()).await?;
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else {
            return;
        };
        // Drop runs outside any async context we can rely on, so use a private runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs each named `async fn(TestDb)` once on SQLite and once on PostgreSQL, as
/// `sqlite::NAME` and `postgres::NAME`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestDb::sqlite()).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::testing::TestDb::postgres().await else { return };
                    super::$name(db).await
                }
            )+
        }
    };
}

/// Artist settings for tests: a London fine-line artist, books open, default policy, working
/// around the clock so no slot falls outside the week. Tests override what they are about with
/// `ArtistSettings { city: .., ..artist_settings("slug") }`.
pub fn artist_settings(slug: &str) -> crate::ArtistSettings {
    crate::ArtistSettings {
        slug: domain::Slug::parse(slug).expect("a valid test slug"),
        bio: "Fine line botanicals".into(),
        city: "London".into(),
        country: "GB".into(),
        jurisdiction: "GB".into(),
        styles: vec![domain::Style::FineLine, domain::Style::Blackwork],
        price_min_cents: 10_000,
        price_max_cents: 80_000,
        hourly_rate_cents: 15_000,
        books_open: true,
        min_age: 18,
        policy: domain::BookingPolicy::default(),
        time_zone: "Europe/London".into(),
        availability: domain::Availability::parse("mon,tue,wed,thu,fri,sat,sun", "00:00", "24:00")
            .expect("a valid week"),
        currency: None,
        session_minutes: 120,
    }
}
