//! The audit log end to end: what a person does is recorded without personal data, admins read
//! it filtered, and `marketplace audit verify` passes an intact log and names a changed entry.

use crate::helpers::{PASSWORD, TestAppClient, spawn_app};
use reqwest::StatusCode;
use storage::testing::TestDb;

/// An administrator with two-factor sign-in, signed in.
pub(crate) async fn admin_with_code(app: &crate::helpers::TestApp) -> TestAppClient<'_> {
    let secret = admin_secret(app).await;
    let admin = TestAppClient::new(app);
    admin.sign_in_with_code("boss@example.com", &secret).await;
    admin
}

/// Creates boss@example.com, an administrator with two-factor sign-in; returns its secret.
pub(crate) async fn admin_secret(app: &crate::helpers::TestApp) -> String {
    app.create_admin("boss@example.com").await;
    let boss = app
        .store
        .credentials_by_email(&domain::Email::parse("boss@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .user;
    let secret = marketplace::auth::two_factor::new_secret();
    app.store
        .set_two_factor(boss.id, Some(&secret), &[])
        .await
        .unwrap();
    secret
}

async fn sign_ins_and_security_changes_are_recorded_and_admins_read_them_filtered(db: TestDb) {
    let app = spawn_app(db).await;
    app.sign_up("ink.fan@example.com", "client").await;
    let user = app
        .store
        .credentials_by_email(&domain::Email::parse("ink.fan@example.com").unwrap())
        .await
        .unwrap()
        .unwrap()
        .user;
    let wrong = app.sign_in("ink.fan@example.com", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.sign_in("nobody@example.com", "whatever it is").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let right = app.sign_in("ink.fan@example.com", PASSWORD).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let token = app.csrf("/account/sessions").await;
    let out = app
        .post_form("/account/sign-out-everywhere", &[("csrf_token", &token)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);

    // Only admins read it.
    let client = TestAppClient::new(&app);
    client.sign_in("ink.fan@example.com").await;
    assert_eq!(
        client.get("/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );

    let admin = admin_with_code(&app).await;
    let page = admin.get(&format!("/admin/audit?user={}", user.id)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for event in [
        "account.registered",
        "sign_in.failed",
        "sign_in.succeeded",
        "sign_out.everywhere",
    ] {
        assert!(html.contains(event), "{event} missing from the audit page");
    }
    // Filtered by event: only that event, including the failure for an address with no account.
    let failed = admin
        .get("/admin/audit?action=sign_in.failed")
        .await
        .text()
        .await
        .unwrap();
    let rows = failed.matches("<td>sign_in.failed</td>").count();
    assert_eq!(rows, 2, "{failed}");
    assert!(!failed.contains("<td>sign_in.succeeded</td>"));
    // Bad filters are explained, not a server error.
    let bad = admin.get("/admin/audit?user=someone&from=yesterday").await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("whole number"));

    // No personal data or secrets in any entry; the admin's reading is itself recorded.
    let all = app
        .store
        .audit_entries(&Default::default(), 1_000)
        .await
        .unwrap();
    assert!(all.iter().any(|e| e.action == "admin.audit_viewed"));
    let dump = format!("{all:?}");
    for secret in [
        "ink.fan",
        "nobody@",
        PASSWORD,
        "not the password",
        "Test Person",
    ] {
        assert!(!dump.contains(secret), "{secret} found in the audit log");
    }
    assert!(all.iter().all(|e| e.ip.as_deref() == Some("127.0.0.1")));
}

async fn audit_verify_passes_an_intact_log_and_names_a_changed_entry(db: TestDb) {
    let url = db.url_str().to_owned();
    let app = spawn_app(db).await;
    app.sign_up("ink.fan@example.com", "client").await;
    app.sign_in("ink.fan@example.com", "wrong password here")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        crate::binary::marketplace(&url, dir.path())
            .args(["audit", "verify"])
            .output()
            .unwrap()
    };
    let entries = app.store.audit_run(0, 1_000).await.unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.action, "sign_in.failed");
    let ok = run();
    let said = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(
        ok.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let intact = format!("audit log intact: {} entries", entries.len());
    assert!(said.contains(&intact), "{said}");

    let unguard = if url.starts_with("postgres") {
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
    } else {
        "DROP TRIGGER audit_log_no_update"
    };
    app.db.execute(unguard).await.unwrap();
    // The failed sign-in rewritten as a success.
    let forged = format!(
        "UPDATE audit_log SET action = 'sign_in.succeeded' WHERE seq = {}",
        last.seq
    );
    app.db.execute(&forged).await.unwrap();
    let bad = run();
    assert_eq!(bad.status.code(), Some(1));
    let said = String::from_utf8_lossy(&bad.stderr);
    let named = format!("entry {}:", last.seq);
    assert!(said.contains(&named) && said.contains("changed"), "{said}");
}

storage::on_both_databases!(
    sign_ins_and_security_changes_are_recorded_and_admins_read_them_filtered,
    audit_verify_passes_an_intact_log_and_names_a_changed_entry,
);
