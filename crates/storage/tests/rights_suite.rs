//! Data-rights requests on SQLite and PostgreSQL: one export and one erasure open at a time, a
//! cancelled erasure that no worker carries out, an erasure that leaves the account a tombstone
//! and is never repeated, and an export finished after its account was erased, which says so.

use domain::{DisplayName, Email, Role};
use storage::testing::TestDb;
use storage::{EraseOutcome, NewUser};

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse("Rights Person").unwrap(),
        role: Role::Client,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
    }
}

async fn requests_are_one_at_a_time_and_erasure_is_done_once(db: TestDb) {
    let store = db.store().await;
    let user = store
        .create_user(new_user("rights@example.com"))
        .await
        .unwrap();

    let (first, new) = store.request_export(user.id, 100, 200).await.unwrap();
    assert!(new);
    let (again, new) = store.request_export(user.id, 101, 201).await.unwrap();
    assert!(!new, "one export at a time");
    assert_eq!(again.id, first.id);
    let claimed = store.claim_export(102, 0).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert!(
        store.claim_export(103, 0).await.unwrap().is_none(),
        "leased"
    );

    let (erasure, new) = store.request_erasure(user.id, 100, 150, 300).await.unwrap();
    assert!(new);
    assert_eq!(erasure.status, "scheduled");
    assert!(
        !store
            .request_erasure(user.id, 101, 151, 301)
            .await
            .unwrap()
            .1
    );
    // Not due before its grace period ends.
    assert!(store.claim_erasure(149, 1_000).await.unwrap().is_none());
    let cancelled = store.cancel_erasure(user.id, 120).await.unwrap().unwrap();
    assert_eq!(cancelled.id, erasure.id);
    assert!(store.cancel_erasure(user.id, 121).await.unwrap().is_none());
    assert!(store.claim_erasure(10_000, 20_000).await.unwrap().is_none());
    assert_eq!(
        store.erase_account(erasure.id, 10_000).await.unwrap(),
        EraseOutcome::NotDue,
        "a cancelled request is never carried out"
    );

    let (second, new) = store.request_erasure(user.id, 200, 250, 400).await.unwrap();
    assert!(new, "a new request after a cancelled one");
    let claimed = store.claim_erasure(260, 1_160).await.unwrap().unwrap();
    assert_eq!(claimed.id, second.id);
    assert!(
        store.claim_erasure(261, 1_161).await.unwrap().is_none(),
        "leased"
    );
    assert_eq!(
        store.erase_account(second.id, 260).await.unwrap(),
        EraseOutcome::Erased { objects: 0 }
    );
    assert_eq!(
        store.erase_account(second.id, 261).await.unwrap(),
        EraseOutcome::NotDue
    );
    let tombstone = store.user(user.id).await.unwrap().unwrap();
    assert_eq!(tombstone.display_name.as_str(), "Deleted user");
    assert!(
        store
            .credentials_by_email(&Email::parse("rights@example.com").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // The export being built meanwhile is gone with the account, and finishing it says so.
    assert!(
        !store
            .finish_export(first.id, 1, 10, 999, 262)
            .await
            .unwrap()
    );
    store.finish_erasure(second.id, 263).await.unwrap();
    assert_eq!(
        store.erasure_of(user.id).await.unwrap().unwrap().status,
        "done"
    );
}

storage::on_both_databases!(requests_are_one_at_a_time_and_erasure_is_done_once);
