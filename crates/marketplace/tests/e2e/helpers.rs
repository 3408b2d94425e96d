//! `spawn_app()`: the real server on port 0 over a fresh database, and a cookie-keeping client.

use marketplace::config::Settings;
use marketplace::startup::Application;
use reqwest::redirect::Policy;
use reqwest::{Client, Response};
use std::sync::Arc;
use storage::Store;
use storage::testing::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "koi carp sleeve 1998";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub store: Arc<dyn Store>,
    pub db: TestDb,
    pub media: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    pub server: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Settings from the built-in defaults plus `vars`, as the binary would see them.
pub fn settings(db: &TestDb, media: &std::path::Path, vars: &[(&str, &str)]) -> Settings {
    let mut all: Vec<(String, String)> = vec![
        ("TM_DATABASE_URL".into(), db.url_str().to_owned()),
        ("TM_SERVER_PORT".into(), "0".into()),
        ("TM_SERVER_PRE_STOP_DELAY_MS".into(), "0".into()),
        ("TM_MEDIA_DIR".into(), media.display().to_string()),
        // Tests change data between page views and expect to see it at once.
        ("TM_CACHE_LISTING_TTL_MS".into(), "0".into()),
        (
            "TM_MAIL_FOLDER".into(),
            media.join("mail").display().to_string(),
        ),
        ("TM_JOBS_INTERVAL_MS".into(), "200".into()),
        (
            "TM_ENCRYPTION_LOCAL_KEY_FILE".into(),
            media.join("field-encryption.key").display().to_string(),
        ),
        // Every test client comes from 127.0.0.1; only the rate-limit tests want the real limits.
        ("TM_AUTH_ATTEMPTS_PER_MINUTE".into(), "100000".into()),
        ("TM_AUTH_API_WRITES_PER_MINUTE".into(), "100000".into()),
    ];
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::load_from(std::path::Path::new("/nonexistent-config-dir"), all)
        .expect("test settings")
}

pub async fn spawn_app(db: TestDb) -> TestApp {
    spawn_app_with(db, &[]).await
}

pub async fn spawn_app_with(db: TestDb, vars: &[(&str, &str)]) -> TestApp {
    marketplace::telemetry::init_for_tests();
    let media = tempfile::tempdir().unwrap();
    let app = Application::build(settings(&db, media.path(), vars))
        .await
        .expect("build app");
    let address = format!("http://{}", app.address());
    let store = app.store();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: client(),
        store,
        db,
        media,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Loads a page with a form and returns its CSRF token.
    pub async fn csrf(&self, page: &str) -> String {
        let html = self.get(page).await.text().await.unwrap();
        csrf_in(&html).unwrap_or_else(|| panic!("no csrf token on {page}"))
    }

    /// Signs up through the form, confirms the address as the emailed link would, and signs in:
    /// where a new user is after following the link. Returns the sign-in response.
    pub async fn sign_up(&self, email: &str, role: &str) -> Response {
        let token = self.csrf("/sign-up").await;
        let r = self
            .post_form(
                "/sign-up",
                &[
                    ("csrf_token", &token),
                    ("display_name", "Test Person"),
                    ("email", email),
                    ("password", PASSWORD),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::OK, "sign-up of {email}");
        assert!(r.text().await.unwrap().contains("Check your inbox"));
        self.confirm_email(email).await;
        self.sign_in(email, PASSWORD).await
    }

    /// Marks an account's address confirmed, as following its verification link does (that
    /// link itself is tested in `accounts`).
    pub async fn confirm_email(&self, email: &str) {
        let email = domain::Email::parse(email).unwrap();
        let user = self
            .store
            .credentials_by_email(&email)
            .await
            .unwrap()
            .expect("the account exists")
            .user;
        assert!(
            self.store
                .mark_email_verified(user.id, &email, 0)
                .await
                .unwrap()
        );
    }

    /// Registers through the API, confirms the address and signs in with a client of its own;
    /// returns that client and the user's id.
    pub async fn api_account(&self, email: &str, role: &str, name: &str) -> (Client, i64) {
        let c = client();
        let r = c
            .post(self.url("/api/v1/accounts"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD, "display_name": name, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            reqwest::StatusCode::ACCEPTED,
            "{}",
            r.text().await.unwrap()
        );
        self.confirm_email(email).await;
        let r = c
            .post(self.url("/api/v1/session"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let id = r.json::<serde_json::Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap();
        (c, id)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Response {
        let token = self.csrf("/sign-in").await;
        self.post_form(
            "/sign-in",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
            ],
        )
        .await
    }

    /// Creates an administrator directly in the store (sign-up never grants admin).
    pub async fn create_admin(&self, email: &str) {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let hash = argon2::Argon2::default()
            .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        self.store
            .create_user(storage::NewUser {
                email: domain::Email::parse(email).unwrap(),
                display_name: domain::DisplayName::parse("Admin").unwrap(),
                role: domain::Role::Admin,
                password_hash: hash,
            })
            .await
            .unwrap();
    }

    /// Starts graceful shutdown (as SIGTERM would) without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits for the server to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        self.server.take().unwrap().await.unwrap()
    }
}

/// The authenticator code for `secret` (base32) right now.
pub fn totp_now(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_at(secret, now)
}

/// The authenticator app's code for `secret` at `at` (unix seconds).
pub fn totp_at(secret: &str, at: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    )
    .unwrap()
    .generate(at)
}

/// GETs `path` with `c` and parses the answer as JSON; an answer that is not JSON fails the test.
pub async fn get_json(c: &Client, app: &TestApp, path: &str) -> serde_json::Value {
    let r = c.get(app.url(path)).send().await.unwrap();
    r.json()
        .await
        .unwrap_or_else(|e| panic!("{path} did not answer JSON: {e}"))
}

/// Whether `needle` occurs in `haystack`, for scans of raw files and archives.
pub fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `.eml` file in the mail folder to `to` that contains `needle` (quoted-printable decoded),
/// waiting for the outbox worker to deliver it.
pub async fn email_containing(folder: &std::path::Path, to: &str, needle: &str) -> String {
    for _ in 0..100 {
        let found = std::fs::read_dir(folder)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            // Soft line breaks and escaped `=` of quoted-printable bodies.
            .map(|m| {
                m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .find(|m| m.contains(&format!("<{to}>")) && m.contains(needle));
        if let Some(mail) = found {
            return mail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no email containing {needle:?} in {}", folder.display());
}

/// The body of the page at `path` as `c` sees it.
pub async fn page_text(c: &Client, app: &TestApp, path: &str) -> String {
    c.get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tm_session="))
        .map(str::to_owned)
}

/// A separate cookie-keeping client, signed up through the form as a new client account.
pub async fn signed_up_client(app: &TestApp, email: &str) -> Client {
    let c = client();
    let html = c
        .get(app.url("/sign-up"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_in(&html).unwrap();
    let r = c
        .post(app.url("/sign-up"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("display_name", "Client Person"),
            ("email", email),
            ("password", PASSWORD),
            ("role", "client"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    app.confirm_email(email).await;
    let token = csrf_in(
        &c.get(app.url("/sign-in"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let r = c
        .post(app.url("/sign-in"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    c
}

/// A second browser against the same app, with its own cookies.
pub struct TestAppClient<'a> {
    app: &'a TestApp,
    pub client: Client,
}

impl<'a> TestAppClient<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: client(),
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.app.url(path)).send().await.unwrap()
    }

    /// Posts the sign-in form with the test password.
    async fn post_password(&self, email: &str) -> Response {
        let html = self.get("/sign-in").await.text().await.unwrap();
        let token = csrf_in(&html).unwrap();
        self.client
            .post(self.app.url("/sign-in"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("email", email),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, email: &str) {
        let response = self.post_password(email).await;
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    }

    /// Signs in an account with two-factor sign-in: password, then the current code.
    pub async fn sign_in_with_code(&self, email: &str, secret: &str) {
        let response = self.post_password(email).await;
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let token = csrf_in(&response.text().await.unwrap()).unwrap();
        let code = totp_now(secret);
        let response = self
            .client
            .post(self.app.url("/sign-in/two-factor"))
            .form(&[("csrf_token", token.as_str()), ("code", code.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    }
}
