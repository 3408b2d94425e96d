//! Loading, layering and refusing settings, as the binary sees them.

use super::*;

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn development_is_the_default_with_readable_debug_logs_and_simplified_sign_in() {
    let s = Settings::load_from(&repo_config(), vars(&[])).unwrap();
    assert_eq!(s.env, Environment::Development);
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert!(s.log.level.starts_with("debug"));
    assert!(s.auth.simplified_sign_in);
    assert!(!s.session.secure_cookie);
    assert_eq!(s.bind_address(), "127.0.0.1:8080");
    assert_eq!(
        s.database.url.expose_secret(),
        "sqlite://data/marketplace.db"
    );
}

#[test]
fn staging_and_production_log_json_and_are_strict() {
    for env in ["staging", "production"] {
        let s = Settings::load_from(
            &repo_config(),
            vars(&[
                ("TM_ENV", env),
                ("TM_SESSION_SECRET", SECRET),
                ("TM_ENCRYPTION_KMS_KEY_ID", "alias/tm-fields"),
                ("TM_DATABASE_URL", "postgres://app:pw@db/tm"),
                ("TM_MAIL_SMTP_URL", "smtp://relay.internal:25"),
            ]),
        )
        .unwrap();
        assert_eq!(s.log.format, LogFormat::Json, "{env}");
        assert_eq!(s.mail.transport, MailTransport::Smtp, "{env}");
        assert!(
            s.session.secure_cookie && !s.auth.simplified_sign_in,
            "{env}"
        );
        assert!(
            !s.database.migrate_on_start && !s.demo.seed_when_empty,
            "{env}"
        );
        assert_eq!(s.server.drain_deadline(), Duration::from_secs(25));
        assert_eq!(s.server.pre_stop_delay(), Duration::from_secs(5));
    }
}

#[test]
fn variables_override_files_and_unrelated_tm_variables_are_ignored() {
    let s = Settings::load_from(
        &repo_config(),
        vars(&[
            ("TM_SERVER_PORT", "9090"),
            ("TM_DATABASE_URL", "postgres://app:pw@db/tm"),
            ("TM_AUTH_SIMPLIFIED_SIGN_IN", "false"),
            ("TM_SESSION_SECRET", "12345"),
            ("TM_TEST_POSTGRES_URL", "postgres://elsewhere"),
            ("TM_CONFIG_DIR", "/tmp"),
        ]),
    )
    .unwrap();
    assert_eq!(s.server.port, 9090);
    assert!(!s.auth.simplified_sign_in);
    assert_eq!(s.database.url.expose_secret(), "postgres://app:pw@db/tm");
    assert_eq!(
        s.session.secret.as_ref().unwrap().expose_secret(),
        "12345",
        "numeric-looking secrets stay text"
    );
}

#[test]
fn production_names_every_insecure_setting_it_refuses() {
    let err = Settings::load_from(
        &repo_config(),
        vars(&[
            ("TM_ENV", "production"),
            ("TM_SESSION_SECRET", "short"),
            ("TM_AUTH_SIMPLIFIED_SIGN_IN", "true"),
            ("TM_SESSION_SECURE_COOKIE", "false"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("session.secret (TM_SESSION_SECRET) is too short"),
        "{err}"
    );
    assert!(err.contains("auth.simplified_sign_in"), "{err}");
    assert!(err.contains("session.secure_cookie"), "{err}");
    assert!(err.contains("mail.smtp_url (TM_MAIL_SMTP_URL)"), "{err}");
    assert!(err.contains("encryption.kms_key_id"), "{err}");
    assert!(
        !err.contains("short\n") && !err.contains("\"short\""),
        "the secret is not echoed: {err}"
    );

    let missing = Settings::load_from(&repo_config(), vars(&[("TM_ENV", "production")]))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("is missing"), "{missing}");
}

#[test]
fn typos_in_files_and_variables_and_unknown_environments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.toml"), "[server]\nprot = 1\n").unwrap();
    let err = Settings::load_from(dir.path(), vars(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("prot"), "{err}");

    let err = Settings::load_from(&repo_config(), vars(&[("TM_SERVER_PORT", "eighty")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.port"), "{err}");

    let err = Settings::load_from(&repo_config(), vars(&[("TM_ENV", "qa")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TM_ENV=\"qa\""), "{err}");

    std::fs::write(dir.path().join("base.toml"), "[server\nport = 1\n").unwrap();
    assert!(
        Settings::load_from(dir.path(), vars(&[])).is_err(),
        "malformed TOML"
    );
}

#[test]
fn debug_output_never_shows_secrets_or_database_passwords() {
    let s = Settings::load_from(
        &repo_config(),
        vars(&[
            ("TM_SESSION_SECRET", SECRET),
            ("TM_DATABASE_URL", "postgres://app:hunter2@db/tm"),
        ]),
    )
    .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("postgres://app:***@db/tm"), "{debug}");
}

#[test]
fn sign_in_providers_come_from_variables_and_must_be_sound() {
    let google = [
        ("TM_AUTH_OIDC_GOOGLE_NAME", "Google"),
        ("TM_AUTH_OIDC_GOOGLE_ISSUER", "https://accounts.google.com"),
        ("TM_AUTH_OIDC_GOOGLE_CLIENT_ID", "id-1"),
        ("TM_AUTH_OIDC_GOOGLE_CLIENT_SECRET", "s3cret-value"),
    ];
    let s = Settings::load_from(&repo_config(), vars(&google)).unwrap();
    let p = &s.auth.oidc["google"];
    assert_eq!((p.name.as_str(), p.client_id.as_str()), ("Google", "id-1"));
    assert_eq!(p.client_secret.expose_secret(), "s3cret-value");
    assert!(
        !format!("{s:?}").contains("s3cret-value"),
        "the secret stays out of logs"
    );

    let mut plain = google.to_vec();
    plain[1].1 = "http://accounts.example";
    plain.extend([("TM_ENV", "production"), ("TM_SESSION_SECRET", SECRET)]);
    let err = Settings::load_from(&repo_config(), vars(&plain))
        .unwrap_err()
        .to_string();
    assert!(err.contains("TM_AUTH_OIDC_GOOGLE_ISSUER"), "{err}");

    let missing = &google[..2];
    let err = Settings::load_from(&repo_config(), vars(missing))
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth.oidc.google"), "{err}");
}

#[test]
fn iam_database_auth_takes_a_postgres_url_with_a_user_and_no_password() {
    let load = |url: &str| {
        Settings::load_from(
            &repo_config(),
            vars(&[
                ("TM_ENV", "production"),
                ("TM_SESSION_SECRET", SECRET),
                ("TM_ENCRYPTION_KMS_KEY_ID", "alias/tm-fields"),
                ("TM_DATABASE_URL", url),
                ("TM_DATABASE_IAM_AUTH", "true"),
                ("TM_MAIL_SMTP_URL", "smtp://relay.internal:25"),
            ]),
        )
    };
    let s =
        load("postgres://marketplace_app@db.internal:5432/marketplace?sslmode=require").unwrap();
    assert!(s.database.iam_auth);
    for (url, complaint) in [
        ("postgres://app:pw@db/tm", "must not carry a password"),
        ("postgres://db/tm", "must name the database user"),
        ("sqlite://data/x.db", "needs a postgres:// URL"),
    ] {
        let e = load(url).unwrap_err().to_string();
        assert!(e.contains(complaint), "{url}: {e}");
        assert!(!e.contains("pw"), "the password is never echoed: {e}");
    }
}

#[test]
fn stripe_keys_come_as_a_set_of_the_right_kinds_and_never_show_in_debug_output() {
    let keys = [
        ("TM_PAYMENTS_STRIPE_SECRET_KEY", "sk_test_abc"),
        ("TM_PAYMENTS_STRIPE_PUBLISHABLE_KEY", "pk_test_abc"),
        ("TM_PAYMENTS_STRIPE_WEBHOOK_SECRET", "whsec_abc"),
    ];
    let s = Settings::load_from(&repo_config(), vars(&keys)).unwrap();
    assert!(s.payments.stripe_enabled());
    let debug = format!("{s:?}");
    assert!(!debug.contains("sk_test_abc") && !debug.contains("whsec_abc"));
    assert!(
        !Settings::load_from(&repo_config(), vars(&[]))
            .unwrap()
            .payments
            .stripe_enabled(),
        "off without keys"
    );

    let err = Settings::load_from(&repo_config(), vars(&keys[..2]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("or none"), "{err}");
    let mut swapped = keys;
    swapped[0].1 = "pk_test_abc";
    let err = Settings::load_from(&repo_config(), vars(&swapped))
        .unwrap_err()
        .to_string();
    assert!(err.contains("stripe_secret_key"), "{err}");
    let mut plain = keys.to_vec();
    plain.extend([
        ("TM_ENV", "production"),
        ("TM_PAYMENTS_STRIPE_API_URL", "http://stripe.internal"),
    ]);
    let err = Settings::load_from(&repo_config(), vars(&plain))
        .unwrap_err()
        .to_string();
    assert!(err.contains("https://"), "{err}");
}

#[test]
fn the_erasure_grace_period_stays_inside_the_legal_deadline() {
    let s = Settings::load_from(&repo_config(), vars(&[])).unwrap();
    assert_eq!(s.retention.erasure_grace_days, 7);
    let s = Settings::load_from(
        &repo_config(),
        vars(&[("TM_RETENTION_ERASURE_GRACE_DAYS", "14")]),
    )
    .unwrap();
    assert_eq!(s.retention.erasure_grace_days, 14);
    for bad in ["0", "15", "30"] {
        let err = Settings::load_from(
            &repo_config(),
            vars(&[("TM_RETENTION_ERASURE_GRACE_DAYS", bad)]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("erasure_grace_days"), "{bad}: {err}");
    }
}
