//! Sign-in through an OpenID provider, against a real one (panva's oidc-provider on Node.js,
//! started here): success, a wrong state, a replayed code, an expired token, a token from
//! another issuer, an unverified address, and linking to an existing account only after its
//! owner confirms. Also the sessions page.

use crate::helpers::{TestApp, TestAppClient, csrf_in, spawn_app_with};
use reqwest::{Client, StatusCode};
use std::path::PathBuf;
use std::process::Stdio;
use storage::testing::TestDb;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A provider process; it stops when this is dropped (its stdin closes and it is killed).
struct Provider {
    _child: tokio::process::Child,
    issuer: String,
    mixup: Option<String>,
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// Installs the provider's npm packages once per test run, from its lock file.
fn install_provider() {
    static INSTALL: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if *done || provider_dir().join("node_modules/oidc-provider").exists() {
        *done = true;
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(provider_dir())
        .status()
        .expect("npm runs (Node.js is needed for the OpenID provider)");
    assert!(status.success(), "npm ci in tests/oidc-provider failed");
    *done = true;
}

impl Provider {
    /// Starts the provider. A start that prints nothing in time is retried once with a fresh
    /// process: CI once saw Node sit silent for a minute on a loaded machine (it starts in under
    /// a second here), and the provider is the fixture, not the code under test.
    async fn start(app_url: &str, extra: &[&str]) -> Self {
        install_provider();
        let mut failures = Vec::new();
        for _ in 0..2 {
            match Self::try_start(app_url, extra).await {
                Ok(provider) => return provider,
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "the OpenID provider did not start: {}",
            failures.join("; then: ")
        );
    }

    async fn try_start(app_url: &str, extra: &[&str]) -> Result<Self, String> {
        let redirects = ["test", "evil"]
            .map(|id| format!("{app_url}/sign-in/oidc/{id}/callback"))
            .join(",");
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .arg(format!("--redirect-uri={redirects}"))
            .args(extra)
            .current_dir(provider_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts (Node.js is needed for the OpenID provider)");
        // Its warnings are kept, so a start that fails says why.
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = tokio::spawn(async move {
            let mut kept = String::new();
            while let Ok(Some(line)) = errors.next_line().await {
                if kept.len() < 4096 {
                    kept.push_str(&line);
                    kept.push('\n');
                }
            }
            kept
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let wants_mixup = extra.contains(&"--mixup");
        let announced = async {
            let (mut issuer, mut mixup) = (None, None);
            while issuer.is_none() || (wants_mixup && mixup.is_none()) {
                match lines.next_line().await {
                    Ok(Some(line)) => {
                        if let Some(url) = line.strip_prefix("ISSUER ") {
                            issuer = Some(url.to_owned());
                        } else if let Some(url) = line.strip_prefix("MIXUP ") {
                            mixup = Some(url.to_owned());
                        }
                    }
                    Ok(None) => return Err("it exited before printing its issuer"),
                    Err(_) => return Err("its output could not be read"),
                }
            }
            Ok((issuer.unwrap(), mixup))
        };
        // Generous: Node's start-up on a loaded two-core CI machine, not a measurement.
        let (issuer, mixup) =
            match tokio::time::timeout(std::time::Duration::from_secs(45), announced).await {
                Ok(Ok(found)) => found,
                failed => {
                    let why = match failed {
                        Ok(Err(why)) => why,
                        _ => "nothing printed within 45 s",
                    };
                    let _ = child.kill().await;
                    let said = tokio::time::timeout(std::time::Duration::from_secs(5), stderr)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    return Err(format!("{why}; stderr: {said:?}"));
                }
            };
        // Whatever it prints later is read and dropped, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            _child: child,
            issuer,
            mixup,
        })
    }
}

/// A port for the app, chosen before it starts, so the provider can be told its callback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The app and a provider it trusts as "test" (and, with `--mixup`, the mix-up issuer as "evil").
async fn app_with_provider(db: TestDb, extra: &[&str]) -> (TestApp, Provider) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let provider = Provider::start(&url, extra).await;
    let port_text = port.to_string();
    let mut vars = vec![
        ("TM_SERVER_PORT", port_text.as_str()),
        ("TM_MAIL_PUBLIC_URL", url.as_str()),
        ("TM_AUTH_OIDC_TEST_NAME", "TestID"),
        ("TM_AUTH_OIDC_TEST_ISSUER", provider.issuer.as_str()),
        ("TM_AUTH_OIDC_TEST_CLIENT_ID", "marketplace"),
        ("TM_AUTH_OIDC_TEST_CLIENT_SECRET", "test-client-secret"),
    ];
    if let Some(mixup) = &provider.mixup {
        vars.extend([
            ("TM_AUTH_OIDC_EVIL_NAME", "Evil"),
            ("TM_AUTH_OIDC_EVIL_ISSUER", mixup.as_str()),
            ("TM_AUTH_OIDC_EVIL_CLIENT_ID", "marketplace"),
            ("TM_AUTH_OIDC_EVIL_CLIENT_SECRET", "test-client-secret"),
        ]);
    }
    let app = spawn_app_with(db, &vars).await;
    (app, provider)
}

/// Someone at the provider: "subject|email|verified|name", chosen through `login_hint`.
fn person(subject: &str, email: &str, verified: bool) -> String {
    format!("{subject}|{email}|{verified}|Ada Lovelace")
}

/// Starts a sign-in with `provider` in `client` and lets the provider sign `who` in; returns
/// the callback URL the provider sends the browser back to (not yet visited).
async fn callback_url(app: &TestApp, client: &Client, provider: &str, who: &str) -> String {
    let start = client
        .get(app.url(&format!("/sign-in/oidc/{provider}?next=/dashboard")))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let mut url = start.headers()["location"].to_str().unwrap().to_owned();
    url.push_str("&login_hint=");
    url.push_str(
        &percent_encoding::utf8_percent_encode(who, percent_encoding::NON_ALPHANUMERIC).to_string(),
    );
    for _ in 0..10 {
        if url.starts_with(&app.address) {
            return url;
        }
        let r = client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        if !r.status().is_redirection() {
            panic!(
                "the provider answered {} at {url}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        let next = r.headers()["location"].to_str().unwrap().to_owned();
        url = if next.starts_with('/') {
            let base = reqwest::Url::parse(&url).unwrap();
            base.join(&next).unwrap().to_string()
        } else {
            next
        };
    }
    panic!("the provider never sent the browser back");
}

/// Who `client` is signed in as, judged by the account page.
async fn signed_in_email(app: &TestApp, client: &Client) -> Option<String> {
    let r = client.get(app.url("/account")).send().await.unwrap();
    if r.status() != StatusCode::OK {
        return None;
    }
    let html = r.text().await.unwrap();
    let start = html.find("<dt>Email</dt><dd>")? + "<dt>Email</dt><dd>".len();
    Some(html[start..].split(['<', ' ']).next()?.to_owned())
}

async fn a_verified_identity_creates_an_account_and_signs_in_again_to_it(db: TestDb) {
    let (app, provider) = app_with_provider(db, &[]).await;
    let ada = person("ada-1", "ada@example.com", true);
    let browser = crate::helpers::client();
    let page = browser
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Continue with TestID"), "{page}");

    let callback = callback_url(&app, &browser, "test", &ada).await;
    let r = browser.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/dashboard");
    assert_eq!(
        signed_in_email(&app, &browser).await.as_deref(),
        Some("ada@example.com")
    );
    let account = app
        .store
        .credentials_by_email(&domain::Email::parse("ada@example.com").unwrap())
        .await
        .unwrap()
        .expect("an account was created");
    assert!(account.user.email_verified, "the provider verified it");
    assert_eq!(account.user.display_name.as_str(), "Ada Lovelace");

    // The provider rotates its signing key; the app reads the new key when it meets it.
    let rotated = Client::new()
        .post(format!("{}/__rotate", provider.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    // Another browser, the same person: the same account, found by the provider's subject.
    let other = crate::helpers::client();
    let callback = callback_url(&app, &other, "test", &ada).await;
    assert_eq!(
        other.get(&callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        signed_in_email(&app, &other).await.as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(app.store.count_users().await.unwrap(), 1);
}

async fn a_wrong_state_or_a_replayed_code_signs_nobody_in(db: TestDb) {
    let (app, _provider) = app_with_provider(db, &[]).await;
    let who = person("mallory-1", "mallory@example.com", true);

    // The answer to another browser's sign-in (its state) is refused in this one.
    let victim = crate::helpers::client();
    let callback = callback_url(&app, &victim, "test", &who).await;
    let attacker = crate::helpers::client();
    let _ = callback_url(&app, &attacker, "test", &who).await;
    let r = attacker.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("does not belong"));
    assert_eq!(signed_in_email(&app, &attacker).await, None);

    // A tampered state, in the browser that started the flow.
    let tampered = callback.replace("state=", "state=x");
    assert_eq!(
        victim.get(&tampered).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(signed_in_email(&app, &victim).await, None);

    // A code works once: replaying the callback finds the flow used up...
    let fresh = crate::helpers::client();
    let callback = callback_url(&app, &fresh, "test", &who).await;
    assert_eq!(
        fresh.get(&callback).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    let replay = fresh.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already been used"));
    // ...and the provider refuses the used code even under a new flow's valid state.
    let thief = crate::helpers::client();
    let own = callback_url(&app, &thief, "test", &who).await;
    let used_code = reqwest::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut swapped = reqwest::Url::parse(&own).unwrap();
    let pairs: Vec<(String, String)> = swapped
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                used_code.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);
    let r = thief.get(swapped.as_str()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(signed_in_email(&app, &thief).await, None);
}

async fn expired_tokens_are_refused(db: TestDb) {
    // The provider's clock runs two hours behind: its ID tokens expired an hour ago.
    let (app, _provider) = app_with_provider(db, &["--clock-offset=-7200"]).await;
    let browser = crate::helpers::client();
    let who = person("old-1", "old@example.com", true);
    let callback = callback_url(&app, &browser, "test", &who).await;
    let r = browser.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("could not be verified"));
    assert_eq!(signed_in_email(&app, &browser).await, None);
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

async fn tokens_from_another_issuer_are_refused(db: TestDb) {
    // "evil" claims an issuer of its own but hands out the real provider's tokens.
    let (app, _provider) = app_with_provider(db, &["--mixup"]).await;
    let browser = crate::helpers::client();
    let who = person("mix-1", "mix@example.com", true);
    let callback = callback_url(&app, &browser, "evil", &who).await;
    let r = browser.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("could not be verified"));
    assert_eq!(signed_in_email(&app, &browser).await, None);
    assert_eq!(app.store.count_users().await.unwrap(), 0);
}

async fn an_unverified_address_neither_takes_over_nor_creates_an_account(db: TestDb) {
    let (app, _provider) = app_with_provider(db, &[]).await;
    app.sign_up("owner@example.com", "client").await;
    for email in ["owner@example.com", "new@example.com"] {
        let browser = crate::helpers::client();
        let callback = callback_url(&app, &browser, "test", &person(email, email, false)).await;
        let r = browser.get(&callback).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email}");
        assert!(r.text().await.unwrap().contains("not verified"));
        assert_eq!(signed_in_email(&app, &browser).await, None);
    }
    assert_eq!(app.store.count_users().await.unwrap(), 1);
}

async fn an_existing_account_is_linked_only_after_its_owner_signs_in_and_confirms(db: TestDb) {
    let (app, _provider) = app_with_provider(db, &[]).await;
    app.sign_up("bob@example.com", "client").await;
    let bob = person("bob-at-provider", "bob@example.com", true);

    // The provider's verified address matches, but that alone signs nobody in.
    let browser = TestAppClient::new(&app);
    let callback = callback_url(&app, &browser.client, "test", &bob).await;
    let r = browser.client.get(&callback).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/account/link");
    let page = browser.get("/account/link").await.text().await.unwrap();
    assert!(page.contains("sign in with its password once"), "{page}");
    assert_eq!(signed_in_email(&app, &browser.client).await, None);

    // The owner signs in with the password and confirms.
    browser.sign_in("bob@example.com").await;
    let page = browser.get("/account/link").await.text().await.unwrap();
    let token = csrf_in(&page).expect("a confirmation form");
    let r = browser
        .client
        .post(app.url("/account/link"))
        .form(&[("csrf_token", token.as_str()), ("action", "link")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/account?linked=1");
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(
        account.contains("TestID: linked (bob@example.com)"),
        "{account}"
    );

    // From now on the provider signs Bob in directly, to his account.
    let elsewhere = crate::helpers::client();
    let callback = callback_url(&app, &elsewhere, "test", &bob).await;
    let r = elsewhere.get(&callback).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/dashboard");
    assert_eq!(
        signed_in_email(&app, &elsewhere).await.as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(app.store.count_users().await.unwrap(), 1);
}

async fn the_sessions_page_lists_browsers_and_signs_one_out(db: TestDb) {
    let (app, _provider) = app_with_provider(db, &[]).await;
    app.sign_up("many@example.com", "client").await;
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    let laptop = TestAppClient::new(&app);
    laptop.sign_in("many@example.com").await;
    let phone = TestAppClient::new(&app);
    phone.sign_in("many@example.com").await;
    assert_eq!(phone.get("/account").await.status(), StatusCode::OK);

    let page = laptop.get("/account/sessions").await.text().await.unwrap();
    assert_eq!(
        page.matches("/end\"").count(),
        2,
        "the two other browsers: {page}"
    );
    assert!(page.contains("(this browser)"));
    let devices = app
        .store
        .devices(
            app.store
                .credentials_by_email(&domain::Email::parse("many@example.com").unwrap())
                .await
                .unwrap()
                .unwrap()
                .user
                .id,
        )
        .await
        .unwrap();
    assert_eq!(
        devices.len(),
        3,
        "the sign-up's own session, the laptop and the phone"
    );

    // The laptop signs out every other browser, one at a time; the phone is then signed out.
    let token = csrf_in(&page).unwrap();
    for d in devices
        .iter()
        .filter(|d| page.contains(&format!("/account/sessions/{}/end", d.id)))
    {
        let r = laptop
            .client
            .post(app.url(&format!("/account/sessions/{}/end", d.id)))
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], "/account/sessions?ended=1");
    }
    assert_eq!(phone.get("/account").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(laptop.get("/account").await.status(), StatusCode::OK);
    // Someone else's session id is not found.
    let r = laptop
        .client
        .post(app.url("/account/sessions/not-a-device/end"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

storage::on_both_databases!(
    a_verified_identity_creates_an_account_and_signs_in_again_to_it,
    a_wrong_state_or_a_replayed_code_signs_nobody_in,
    expired_tokens_are_refused,
    tokens_from_another_issuer_are_refused,
    an_unverified_address_neither_takes_over_nor_creates_an_account,
    an_existing_account_is_linked_only_after_its_owner_signs_in_and_confirms,
    the_sessions_page_lists_browsers_and_signs_one_out,
);
