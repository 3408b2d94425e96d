//! SQLite's side of a backup: a consistent online snapshot (`VACUUM INTO`), and what identifies its content.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// One table's content, for comparing a restored copy with what was backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    pub rows: u64,
    /// SHA-256 over every row (SQLite's `quote()` of each column), rows in sorted order.
    pub sha256: String,
}

/// What a snapshot holds: integrity, schema version and per-table content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub schema_version: Option<i64>,
    pub tables: BTreeMap<String, TableStats>,
}

/// Opens read-only in the journal mode the file already has (sqlx would otherwise try to set
/// WAL, a write): the service runs the live database in WAL, `VACUUM INTO` copies in DELETE.
async fn open(path: &Path, mode: SqliteJournalMode) -> Result<SqliteConnection, String> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false)
        .journal_mode(mode)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|e| format!("opening {}: {e}", path.display()))
}

/// Writes a transactionally consistent copy of the live database at `live` to `to`, while the
/// service keeps reading and writing it (`VACUUM INTO` reads inside one transaction).
pub async fn snapshot(live: &Path, to: &Path) -> Result<(), String> {
    if !live.exists() {
        return Err(format!("the database {} does not exist", live.display()));
    }
    let mut conn = open(live, SqliteJournalMode::Wal).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(to.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await
        .map_err(|e| format!("snapshot of {}: {e}", live.display()))?;
    conn.close().await.ok();
    Ok(())
}

/// Checks a copy (never the live database): integrity first, then reads every table.
/// A copy caught in a failed migration is refused: it is not a state the service ever served.
pub async fn content(copy: &Path) -> Result<Content, String> {
    let mut conn = open(copy, SqliteJournalMode::Delete).await?;
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("integrity check: {e}"))?;
    if integrity != ["ok"] {
        return Err(format!("integrity check failed: {}", integrity.join("; ")));
    }
    let has_migrations: bool = sqlx::query_scalar(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let schema_version = if has_migrations {
        let failed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 0")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
        if failed > 0 {
            return Err(
                "the database is in a failed migration: back up after `marketplace migrate` succeeds"
                    .into(),
            );
        }
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?
    } else {
        None
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    let mut tables = BTreeMap::new();
    for name in names {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        let columns: Vec<String> = sqlx::query(&format!("PRAGMA table_info({quoted})"))
            .fetch_all(&mut conn)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .collect();
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{}\")", c.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        // Ordered by the row's own text: the same content hashes the same in any physical order.
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT {row} FROM {quoted} ORDER BY 1"))
                .fetch_all(&mut conn)
                .await
                .map_err(|e| format!("reading {name}: {e}"))?;
        let mut hash = Sha256::new();
        for r in &rows {
            hash.update(r.as_bytes());
            hash.update(b"\n");
        }
        tables.insert(
            name,
            TableStats {
                rows: rows.len() as u64,
                sha256: super::archive::hex(&hash.finalize()),
            },
        );
    }
    conn.close().await.ok();
    Ok(Content {
        schema_version,
        tables,
    })
}
