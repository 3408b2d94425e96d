//! The audit log on SQLite and PostgreSQL: appends chain under concurrency, the schema refuses
//! changes, and a change made behind the schema's back is found by verification.

use domain::{AuditAction, UserId};
use std::sync::Arc;
use storage::testing::TestDb;
use storage::{AuditFilter, ChainBreak, GENESIS_HASH, NewAuditEntry, Store, verify_run};

fn entry(action: AuditAction, subject: i64, at: i64) -> NewAuditEntry {
    NewAuditEntry {
        action,
        actor: None,
        subject: Some(UserId::new(subject)),
        ip: Some("127.0.0.1".into()),
        request_id: None,
        detail: serde_json::json!({ "method": "password" }),
        at,
    }
}

async fn verify_all(store: &Arc<dyn Store>) -> Result<i64, ChainBreak> {
    let mut at = (0, GENESIS_HASH.to_owned());
    loop {
        let run = store.audit_run(at.0, 7).await.unwrap();
        if run.is_empty() {
            return Ok(at.0);
        }
        at = verify_run(at, &run)?;
    }
}

async fn parallel_appends_form_one_chain_that_nothing_in_the_app_can_change(db: TestDb) {
    let store = db.store().await;
    // Forty appends from many tasks at once: each must chain to exactly one predecessor.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let action = if i % 2 == 0 {
                AuditAction::SignInFailed
            } else {
                AuditAction::SignInSucceeded
            };
            store.append_audit(&entry(action, i % 3, 1_000 + i)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("append");
    }
    assert_eq!(verify_all(&store).await, Ok(40));

    // Filters: by action, by account (actor or subject), by time, and paging by sequence.
    let failed = AuditFilter {
        action: Some(AuditAction::SignInFailed),
        ..Default::default()
    };
    let rows = store.audit_entries(&failed, 100).await.unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.action == "sign_in.failed"));
    assert!(rows.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let of_user = AuditFilter {
        user: Some(UserId::new(1)),
        ..Default::default()
    };
    let rows = store.audit_entries(&of_user, 100).await.unwrap();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.subject == Some(1)));
    let page = store
        .audit_entries(
            &AuditFilter {
                before_seq: Some(11),
                since: Some(1_000),
                until: Some(1_040),
                ..Default::default()
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 10);
    assert_eq!(page[0].seq, 10);

    // The schema refuses changes and removals however they are attempted.
    for sql in [
        "UPDATE audit_log SET subject_id = 99 WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 40",
    ] {
        let err = db.execute(sql).await.expect_err(sql).to_string();
        assert!(err.contains("audit_log_append_only"), "{sql}: {err}");
    }
    if db.url_str().starts_with("postgres") {
        let err = db.execute("TRUNCATE audit_log").await.unwrap_err();
        assert!(err.to_string().contains("audit_log_append_only"), "{err}");
    }
    assert_eq!(verify_all(&store).await, Ok(40));
}

async fn a_row_changed_behind_the_schemas_back_is_found(db: TestDb) {
    let store = db.store().await;
    for i in 0..5 {
        store
            .append_audit(&entry(AuditAction::SignInSucceeded, i, 2_000 + i))
            .await
            .unwrap();
    }
    assert_eq!(verify_all(&store).await, Ok(5));
    // Someone with the database owner's rights removes the guard and rewrites an entry.
    let unguard = if db.url_str().starts_with("postgres") {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
    } else {
        "DROP TRIGGER audit_log_no_update"
    };
    db.execute(unguard).await.unwrap();
    db.execute("UPDATE audit_log SET subject_id = 42 WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        verify_all(&store).await,
        Err(ChainBreak::Altered { seq: 3 })
    );
}

storage::on_both_databases!(
    parallel_appends_form_one_chain_that_nothing_in_the_app_can_change,
    a_row_changed_behind_the_schemas_back_is_found,
);
