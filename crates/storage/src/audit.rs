//! The append-only audit log: entries chained by SHA-256, appended one at a time under a lock,
//! read back filtered for admins and in order for verification.

use crate::error::Result;
use async_trait::async_trait;
use domain::{AuditAction, UserId};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller records; the store gives it its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub action: AuditAction,
    /// Who did it (None: someone not signed in, or the system).
    pub actor: Option<UserId>,
    /// Whose account or data it concerns.
    pub subject: Option<UserId>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    /// A JSON object of non-personal facts (a method, a request id); never secrets or health data.
    pub detail: serde_json::Value,
    pub at: i64,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    /// The stored name; kept as text so entries written by a newer release still read.
    pub action: String,
    pub actor: Option<i64>,
    pub subject: Option<i64>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry must carry, given its predecessor's: SHA-256 over a JSON array of
    /// every field, so no two different entries encode alike.
    pub fn expected_hash(&self, prev_hash: &str) -> String {
        let canonical = serde_json::json!([
            prev_hash,
            self.seq,
            self.at,
            self.action,
            self.actor,
            self.subject,
            self.ip,
            self.request_id,
            self.detail,
        ]);
        hex(&Sha256::digest(canonical.to_string().as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What the admin page filters by; every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    /// Entries whose actor or subject is this account.
    pub user: Option<UserId>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only entries older than this sequence number (the next page).
    pub before_seq: Option<i64>,
}

/// Why the chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {seq}: its hash does not match its contents (it was changed)")]
    Altered { seq: i64 },
    #[error("entry {seq}: it does not follow entry {prev} (an entry was removed or inserted)")]
    Broken { seq: i64, prev: i64 },
}

/// Checks a run of entries in sequence order, continuing from `(prev_seq, prev_hash)`. Returns
/// where the next run continues from.
pub fn verify_run(
    mut prev: (i64, String),
    entries: &[AuditEntry],
) -> std::result::Result<(i64, String), ChainBreak> {
    for e in entries {
        if e.seq != prev.0 + 1 || e.prev_hash != prev.1 {
            return Err(ChainBreak::Broken {
                seq: e.seq,
                prev: prev.0,
            });
        }
        if e.expected_hash(&prev.1) != e.hash {
            return Err(ChainBreak::Altered { seq: e.seq });
        }
        prev = (e.seq, e.hash.clone());
    }
    Ok(prev)
}

/// The audit log's storage operations. There is deliberately no update or delete.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry after the current last one, in its own transaction.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;

    /// Entries matching `filter`, newest first.
    async fn audit_entries(&self, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditEntry>>;

    /// Entries after `after_seq` in sequence order, for verification.
    async fn audit_run(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>>;
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: i64,
    action: String,
    actor_id: Option<i64>,
    subject_id: Option<i64>,
    ip: Option<String>,
    request_id: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            seq: r.seq,
            at: r.at,
            action: r.action,
            actor: r.actor_id,
            subject: r.subject_id,
            ip: r.ip,
            request_id: r.request_id,
            detail: r.detail,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

pub(crate) const AUDIT_SELECT: &str = "SELECT seq, at, action, actor_id, subject_id, ip, \
request_id, detail, prev_hash, hash FROM audit_log";

/// Implements `AuditStore` for a backend; see `sql::impl_sql_store` for the arguments.
macro_rules! impl_audit_store {
    ($ty:ty, db: $db:ty, styles_agg: $agg:literal, search: $search:expr, lock: $lock:literal, skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::AuditStore for $ty {
            #[tracing::instrument(skip_all, name = "store.append_audit")]
            async fn append_audit(
                &self,
                new: &$crate::NewAuditEntry,
            ) -> $crate::Result<$crate::AuditEntry> {
                let mut tx = self.write_tx().await?;
                // One appender at a time, or two would chain to the same predecessor. SQLite's
                // write transaction already excludes every other writer.
                if !$lock.is_empty() {
                    sqlx::query("SELECT pg_advisory_xact_lock(7401)")
                        .execute(&mut *tx)
                        .await?;
                }
                let last: Option<(i64, String)> =
                    sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&mut *tx)
                        .await?;
                let (prev_seq, prev_hash) =
                    last.unwrap_or((0, $crate::audit::GENESIS_HASH.to_owned()));
                let mut entry = $crate::AuditEntry {
                    seq: prev_seq + 1,
                    at: new.at,
                    action: new.action.as_str().to_owned(),
                    actor: new.actor.map(|u| u.get()),
                    subject: new.subject.map(|u| u.get()),
                    ip: new.ip.clone(),
                    request_id: new.request_id.clone(),
                    detail: new.detail.to_string(),
                    prev_hash,
                    hash: String::new(),
                };
                entry.hash = entry.expected_hash(&entry.prev_hash);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, action, actor_id, subject_id, ip, request_id, \
                     detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(entry.seq)
                .bind(entry.at)
                .bind(&entry.action)
                .bind(entry.actor)
                .bind(entry.subject)
                .bind(&entry.ip)
                .bind(&entry.request_id)
                .bind(&entry.detail)
                .bind(&entry.prev_hash)
                .bind(&entry.hash)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(entry)
            }

            #[tracing::instrument(skip_all, name = "store.audit_entries")]
            async fn audit_entries(
                &self,
                filter: &$crate::AuditFilter,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::AuditEntry>> {
                // Each condition is off when its parameter is NULL, so one statement serves
                // every combination of filters.
                let sql = format!(
                    "{} WHERE ($1 IS NULL OR action = $1) \
                     AND ($2 IS NULL OR actor_id = $2 OR subject_id = $2) \
                     AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) \
                     AND ($5 IS NULL OR seq < $5) ORDER BY seq DESC LIMIT $6",
                    $crate::audit::AUDIT_SELECT
                );
                let rows: Vec<$crate::audit::AuditRow> = sqlx::query_as(&sql)
                    .bind(filter.action.map(|a| a.as_str()))
                    .bind(filter.user.map(|u| u.get()))
                    .bind(filter.since)
                    .bind(filter.until)
                    .bind(filter.before_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            #[tracing::instrument(skip_all, name = "store.audit_run")]
            async fn audit_run(
                &self,
                after_seq: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::AuditEntry>> {
                let sql = format!(
                    "{} WHERE seq > $1 ORDER BY seq LIMIT $2",
                    $crate::audit::AUDIT_SELECT
                );
                let rows: Vec<$crate::audit::AuditRow> = sqlx::query_as(&sql)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}
pub(crate) use impl_audit_store;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, prev: &str) -> AuditEntry {
        let mut e = AuditEntry {
            seq,
            at: 1_700_000_000 + seq,
            action: "sign_in.failed".into(),
            actor: None,
            subject: Some(7),
            ip: Some("127.0.0.1".into()),
            request_id: None,
            detail: "{}".into(),
            prev_hash: prev.into(),
            hash: String::new(),
        };
        e.hash = e.expected_hash(prev);
        e
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS_HASH.to_owned(), |e| e.hash.clone());
            out.push(entry(seq, &prev));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies_and_any_change_or_gap_is_named() {
        let entries = chain(5);
        let start = (0, GENESIS_HASH.to_owned());
        assert_eq!(verify_run(start.clone(), &entries).unwrap().0, 5);
        // Verified in two runs, it continues where the first stopped.
        let mid = verify_run(start.clone(), &entries[..2]).unwrap();
        assert_eq!(verify_run(mid, &entries[2..]).unwrap().0, 5);

        let mut changed = entries.clone();
        changed[2].subject = Some(8);
        assert_eq!(
            verify_run(start.clone(), &changed),
            Err(ChainBreak::Altered { seq: 3 })
        );
        let mut removed = entries.clone();
        removed.remove(1);
        assert_eq!(
            verify_run(start.clone(), &removed),
            Err(ChainBreak::Broken { seq: 3, prev: 1 })
        );
        // Re-hashing the changed entry is not enough: its successor names the old hash.
        let mut rehashed = entries;
        rehashed[2].detail = r#"{"method":"oidc"}"#.into();
        rehashed[2].hash = rehashed[2].expected_hash(&rehashed[1].hash);
        assert_eq!(
            verify_run(start, &rehashed),
            Err(ChainBreak::Broken { seq: 4, prev: 3 })
        );
    }

    #[test]
    fn no_two_different_entries_encode_alike() {
        let a = entry(1, GENESIS_HASH);
        let mut b = a.clone();
        b.ip = None;
        b.request_id = Some("127.0.0.1".into());
        assert_ne!(a.expected_hash(GENESIS_HASH), b.expected_hash(GENESIS_HASH));
    }
}
