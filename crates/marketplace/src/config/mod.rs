//! Layered, typed configuration: built-in defaults, `config/base.toml`, `config/{ENV}.toml`, then `TM_*` variables.

mod encryption;
mod retention;
mod traces;

pub use encryption::EncryptionSettings;
use figment::Figment;
use figment::providers::{Format, Toml};
pub use retention::RetentionSettings;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use traces::TracingSettings;

/// Values used when no file or variable sets them; chosen so `cargo run` works out of the box.
const DEFAULTS: &str = include_str!("defaults.toml");

/// Shortest session secret accepted outside development: 64 bytes is what the cookie signing key needs.
pub const MIN_SECRET_LEN: usize = 64;

/// Sections a `TM_SECTION_KEY` variable may address; anything else under `TM_` is not ours.
const SECTIONS: [&str; 14] = [
    "server",
    "database",
    "session",
    "auth",
    "log",
    "demo",
    "media",
    "cache",
    "mail",
    "jobs",
    "payments",
    "encryption",
    "retention",
    "tracing",
];

/// The deployment environment, as in the spec's Environment Configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// Staging and production refuse insecure settings.
    pub fn is_strict(self) -> bool {
        self != Environment::Development
    }

    fn parse(raw: &str) -> Result<Self, ConfigError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "staging" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            other => Err(ConfigError::Invalid(format!(
                "TM_ENV={other:?} is not an environment: use development, staging or production"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub env: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub demo: DemoSettings,
    pub media: MediaSettings,
    pub cache: CacheSettings,
    pub mail: MailSettings,
    pub jobs: JobSettings,
    pub payments: PaymentSettings,
    pub encryption: EncryptionSettings,
    pub retention: RetentionSettings,
    pub tracing: TracingSettings,
}

/// Online deposits through Stripe. Without a secret key, deposits are recorded by hand only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// `sk_…` or a restricted `rk_…` key.
    pub stripe_secret_key: Option<SecretString>,
    /// `pk_…`, given to Stripe.js in the payer's browser.
    pub stripe_publishable_key: Option<String>,
    /// `whsec_…`: webhook payloads are accepted only with a signature made with it.
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe's API; tests point it at localstripe.
    pub stripe_api_url: String,
    /// Where Stripe.js is loaded from (card details go from the browser to Stripe, never to us).
    pub stripe_js_url: String,
}

impl PaymentSettings {
    /// Whether card deposits are on: every key is set.
    pub fn stripe_enabled(&self) -> bool {
        self.stripe_secret_key.is_some()
            && self.stripe_publishable_key.is_some()
            && self.stripe_webhook_secret.is_some()
    }
}

/// How notification emails leave the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// `folder` writes each email as a file under `folder` (development); `smtp` sends via `smtp_url`.
    pub transport: MailTransport,
    pub folder: PathBuf,
    /// `smtp://host:port` (plain, local relays and tests), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://…` (implicit TLS). Holds credentials, so it is a secret.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// Where links in emails point.
    pub public_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    Folder,
    Smtp,
}

/// The background jobs every instance runs: the deadline sweep and the outbox worker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    pub enabled: bool,
    pub interval_ms: u64,
    /// Days after a completed session when the client is asked for a healed photo.
    pub healed_prompt_days: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// How stale the home page's artist listing may be; 0 reads the database on every view.
    pub listing_ttl_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Time between SIGTERM and closing the listener, so load balancers deregister us first.
    pub pre_stop_delay_ms: u64,
    /// Longest wait for in-flight requests after the listener closes.
    pub drain_deadline_ms: u64,
    pub body_limit_bytes: usize,
    /// Bearer token for `/metrics` and the full `/version`. Unset in development, both are open;
    /// unset elsewhere, `/metrics` is not served and `/version` shows only the version.
    pub operator_token: Option<SecretString>,
    /// Comma-separated addresses and CIDR networks of the proxies in front of the service; only
    /// their `X-Forwarded-For` is believed. Loopback for `marketctl proxy`; on AWS the VPC (the
    /// ALB) and CloudFront's origin-facing ranges.
    pub trusted_proxies: String,
}

impl ServerSettings {
    pub fn pre_stop_delay(&self) -> Duration {
        Duration::from_millis(self.pre_stop_delay_ms)
    }
    pub fn drain_deadline(&self) -> Duration {
        Duration::from_millis(self.drain_deadline_ms)
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    /// Development applies migrations at start; elsewhere `marketplace migrate` does, before traffic moves.
    pub migrate_on_start: bool,
    /// PostgreSQL on RDS: sign in with IAM tokens from the task role instead of a password in
    /// the URL, so there is no database password to store or rotate.
    #[serde(default)]
    pub iam_auth: bool,
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &storage::redact_url(self.url.expose_secret()))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_ms", &self.acquire_timeout_ms)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("iam_auth", &self.iam_auth)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Signs the session cookie; at least 64 characters outside development.
    pub secret: Option<SecretString>,
    pub secure_cookie: bool,
    pub idle_timeout_minutes: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Development only: sign in as a demo account with one click, no password.
    pub simplified_sign_in: bool,
    /// Password hashes computed at once, each holding 19 MiB; 0 means one per CPU core.
    pub password_hash_workers: usize,
    /// Sign-ins that may wait for a hash worker; beyond this they are refused with 429.
    pub password_hash_queue: usize,
    /// The longest a sign-in waits for a hash worker before it is refused.
    pub password_hash_max_wait_ms: u64,
    /// Sign-in, registration and password-reset posts allowed per client IP and minute (also
    /// the burst); past it the answer is 429 with `Retry-After`.
    pub attempts_per_minute: u32,
    /// JSON API writes allowed per client IP and minute (also the burst).
    pub api_writes_per_minute: u32,
    /// OpenID Connect providers people may sign in with, by id (lower-case letters and digits,
    /// used in the callback URL `/sign-in/oidc/{id}/callback` under `mail.public_url`).
    /// Variables: `TM_AUTH_OIDC_{ID}_ISSUER`, `…_NAME`, `…_CLIENT_ID`, `…_CLIENT_SECRET`.
    #[serde(default)]
    pub oidc: std::collections::BTreeMap<String, OidcProviderSettings>,
}

/// One OpenID Connect provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderSettings {
    /// What the button says: "Continue with {name}".
    pub name: String,
    /// The issuer URL; its `/.well-known/openid-configuration` describes the rest.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// An `EnvFilter` directive such as `info` or `marketplace=debug,info`.
    pub level: String,
    pub format: LogFormat,
    /// When set (ECS), each KPI event is also written as a CloudWatch Embedded Metric Format
    /// line in this namespace.
    #[serde(default)]
    pub emf_namespace: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSettings {
    /// Fill an empty database with demo artists, studios, clients and bookings at start.
    pub seed_when_empty: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    /// Where uploaded and generated images live when no bucket is configured.
    pub dir: PathBuf,
    /// Store images in this S3 bucket instead (credentials and region from the AWS environment);
    /// the CDN then serves `/media/*` from the bucket.
    pub s3_bucket: Option<String>,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: usize,
    /// Largest image accepted, in pixels (width × height), so a small file cannot decode into
    /// gigabytes.
    pub max_pixels: u64,
    /// Images decoded at once. A 40-megapixel image needs up to 160 MB while it is processed,
    /// so this bounds upload memory whatever the number of parallel uploads.
    pub max_parallel_decodes: usize,
}

/// Why the configuration could not be used. The message names the offending setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Invalid(String),
    #[error("insecure configuration refused in {env}:\n  - {}", problems.join("\n  - "))]
    Insecure {
        env: &'static str,
        problems: Vec<String>,
    },
}

impl Settings {
    /// Loads settings from `config_dir` and the process environment.
    pub fn load(config_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_from(config_dir, std::env::vars())
    }

    /// Loads settings from `config_dir` and the given variables (testable without touching the
    /// process environment).
    pub fn load_from(
        config_dir: &Path,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("TM_"))
            .collect();
        let env = vars
            .iter()
            .find(|(k, _)| k == "TM_ENV")
            .map(|(_, v)| Environment::parse(v))
            .transpose()?
            .unwrap_or(Environment::Development);
        let mut figment = Figment::from(Toml::string(DEFAULTS))
            .merge(Toml::file(config_dir.join("base.toml")))
            .merge(Toml::file(
                config_dir.join(format!("{}.toml", env.as_str())),
            ));
        for (key, value) in &vars {
            if let Some(path) = env_key(key) {
                figment = figment.merge((path, value.as_str()));
            }
        }
        let mut settings: Settings = figment
            .merge(("env", env.as_str()))
            // Lossy, so that "8080" and "true" from variables fill numeric and boolean fields.
            .extract_lossy()
            .map_err(|e| ConfigError::Invalid(describe(e)))?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    /// Stripe's keys come as a set, each of its kind, and Stripe is reached over TLS outside
    /// development.
    fn validate_payments(&self) -> Result<(), ConfigError> {
        let p = &self.payments;
        let set = [
            p.stripe_secret_key.is_some(),
            p.stripe_publishable_key.is_some(),
            p.stripe_webhook_secret.is_some(),
        ];
        if set.contains(&true) && set.contains(&false) {
            return Err(ConfigError::Invalid(
                "payments: set all of stripe_secret_key, stripe_publishable_key and stripe_webhook_secret (TM_PAYMENTS_STRIPE_*) or none".into(),
            ));
        }
        let kinds = [
            (
                p.stripe_secret_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned()),
                &["sk_", "rk_"][..],
                "stripe_secret_key",
            ),
            (
                p.stripe_publishable_key.clone(),
                &["pk_"][..],
                "stripe_publishable_key",
            ),
            (
                p.stripe_webhook_secret
                    .as_ref()
                    .map(|k| k.expose_secret().to_owned()),
                &["whsec_"][..],
                "stripe_webhook_secret",
            ),
        ];
        for (value, prefixes, name) in kinds {
            if let Some(v) = value
                && !prefixes
                    .iter()
                    .any(|pre| v.starts_with(pre) && v.len() > pre.len())
            {
                return Err(ConfigError::Invalid(format!(
                    "payments.{name} does not look like one: it starts with {}",
                    prefixes.join(" or ")
                )));
            }
        }
        for (url, name) in [
            (&p.stripe_api_url, "stripe_api_url"),
            (&p.stripe_js_url, "stripe_js_url"),
        ] {
            let https = url.starts_with("https://");
            if !(https || (!self.env.is_strict() && url.starts_with("http://"))) {
                return Err(ConfigError::Invalid(format!(
                    "payments.{name} must be an https:// URL"
                )));
            }
        }
        Ok(())
    }

    /// Refuses settings that are unsafe in staging and production, naming each one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.server.body_limit_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.body_limit_bytes must be at least 1024".into(),
            ));
        }
        if self.session.idle_timeout_minutes <= 0 {
            return Err(ConfigError::Invalid(
                "session.idle_timeout_minutes must be positive".into(),
            ));
        }
        if let Err(e) = crate::client_ip::TrustedProxies::parse(&self.server.trusted_proxies) {
            return Err(ConfigError::Invalid(format!(
                "server.trusted_proxies (TM_SERVER_TRUSTED_PROXIES): {e}"
            )));
        }
        if self.database.iam_auth {
            let url = self.database.url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid(
                    "database.iam_auth (TM_DATABASE_IAM_AUTH) needs a postgres:// URL: IAM authentication is an RDS PostgreSQL feature".into(),
                ));
            }
            let credentials = url
                .split_once("://")
                .and_then(|(_, rest)| rest.rsplit_once('@'))
                .map(|(creds, _)| creds);
            match credentials {
                None => {
                    return Err(ConfigError::Invalid(
                        "database.url must name the database user (postgres://USER@HOST/DB) when database.iam_auth is on".into(),
                    ));
                }
                Some(creds) if creds.contains(':') => {
                    return Err(ConfigError::Invalid(
                        "database.url must not carry a password when database.iam_auth is on: the IAM token is the password".into(),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.auth.attempts_per_minute == 0 || self.auth.api_writes_per_minute == 0 {
            return Err(ConfigError::Invalid(
                "auth.attempts_per_minute and auth.api_writes_per_minute must be at least 1".into(),
            ));
        }
        for (id, p) in &self.auth.oidc {
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            {
                return Err(ConfigError::Invalid(format!(
                    "auth.oidc.{id}: a provider's id is lower-case letters and digits"
                )));
            }
            let https = p.issuer.starts_with("https://");
            if !(https || (!self.env.is_strict() && p.issuer.starts_with("http://"))) {
                return Err(ConfigError::Invalid(format!(
                    "auth.oidc.{id}.issuer (TM_AUTH_OIDC_{}_ISSUER) must be an https:// URL",
                    id.to_ascii_uppercase()
                )));
            }
        }
        self.validate_payments()?;
        if self.media.max_parallel_decodes == 0 {
            return Err(ConfigError::Invalid(
                "media.max_parallel_decodes must be at least 1".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1".into(),
            ));
        }
        let retention: Vec<String> = (self.retention.problems().into_iter())
            .chain(self.tracing.problems())
            .collect();
        if !retention.is_empty() {
            return Err(ConfigError::Invalid(retention.join("; ")));
        }
        let mut problems = self.encryption.problems(self.env.is_strict());
        if !self.env.is_strict() {
            return match problems.is_empty() {
                true => Ok(()),
                false => Err(ConfigError::Invalid(problems.join("; "))),
            };
        }
        match &self.session.secret {
            None => problems.push(
                "session.secret (TM_SESSION_SECRET) is missing: set a random value of at least 64 characters".to_owned(),
            ),
            Some(s) if s.expose_secret().len() < MIN_SECRET_LEN => problems.push(format!(
                "session.secret (TM_SESSION_SECRET) is too short: it has {} characters, at least {MIN_SECRET_LEN} are required",
                s.expose_secret().len()
            )),
            Some(_) => {}
        }
        if self.auth.simplified_sign_in {
            problems.push(
                "auth.simplified_sign_in (TM_AUTH_SIMPLIFIED_SIGN_IN) must be false: it signs anyone in without a password".into(),
            );
        }
        if !self.session.secure_cookie {
            problems.push(
                "session.secure_cookie (TM_SESSION_SECURE_COOKIE) must be true: session cookies must never travel over plain HTTP".into(),
            );
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp_url.is_none() {
            problems.push(
                "mail.smtp_url (TM_MAIL_SMTP_URL) is missing while mail.transport is smtp".into(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Insecure {
                env: self.env.as_str(),
                problems,
            })
        }
    }

    pub fn bind_address(&self) -> String {
        format!("{}:{}", self.server.host, self.server.port)
    }
}

/// Maps `TM_DATABASE_URL` to `database.url`, `TM_SERVER_PRE_STOP_DELAY_MS` to
/// `server.pre_stop_delay_ms`, and so on; `None` for variables that are not settings.
fn env_key(var: &str) -> Option<String> {
    let lower = var.strip_prefix("TM_")?.to_ascii_lowercase();
    // Providers are a map: `TM_AUTH_OIDC_GOOGLE_CLIENT_ID` is `auth.oidc.google.client_id`.
    if let Some(rest) = lower.strip_prefix("auth_oidc_") {
        let (id, field) = rest.split_once('_')?;
        return Some(format!("auth.oidc.{id}.{field}"));
    }
    SECTIONS.iter().find_map(|section| {
        lower
            .strip_prefix(section)
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|rest| !rest.is_empty())
            .map(|rest| format!("{section}.{rest}"))
    })
}

fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("{key}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
