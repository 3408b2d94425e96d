//! The deploy history and lock of an ECS environment, on S3, shared by everyone who deploys it
//! (two CI runners, or a person and CI). Both use S3's conditional writes: the lock is created
//! with If-None-Match and kept alive with If-Match heartbeats; the history is rewritten with
//! If-Match on the version read, so two writers never lose each other's lines.

use crate::config::EcsSettings;
use crate::state::{Record, latest_records, now};
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct SharedState {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    history: Path,
    lock: Path,
    stale_after: f64,
}

/// Who holds the lock, kept fresh by the holder's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockBody {
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub record: String,
    pub since: f64,
    pub heartbeat: f64,
}

impl LockBody {
    /// Gone: its process has ended on this host, or its heartbeat stopped elsewhere.
    fn is_lost(&self, stale_after: f64) -> bool {
        (self.host == host() && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists())
            || now() - self.heartbeat > stale_after
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} (pid {}), since {} UTC, last heartbeat {:.0} s ago",
            self.holder,
            self.host,
            self.pid,
            crate::state::utc(self.since),
            (now() - self.heartbeat).max(0.0)
        )
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// A held lock; its heartbeat runs until `release`.
pub struct HeldLock {
    heartbeat: tokio::task::JoinHandle<()>,
    state: SharedState,
    etag: Arc<tokio::sync::Mutex<Option<String>>>,
}

impl HeldLock {
    pub async fn release(self) {
        self.heartbeat.abort();
        let ours = self.etag.lock().await.clone();
        if let Ok(current) = self.state.store.head(&self.state.lock).await
            && current.e_tag == ours
        {
            let _ = self.state.store.delete(&self.state.lock).await;
        }
    }
}

fn s3_error(what: &str, bucket: &str, e: object_store::Error) -> String {
    format!("{what} in s3://{bucket}: {e}")
}

impl SharedState {
    pub fn open(
        settings: &EcsSettings,
        environment: &str,
        endpoint: Option<&str>,
    ) -> Result<Self, String> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.state_bucket)
            .with_region(&settings.region)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| format!("the deploy state bucket {}: {e}", settings.state_bucket))?;
        let base = format!("{}{environment}", settings.state_prefix);
        Ok(Self {
            store: Arc::new(store),
            bucket: settings.state_bucket.clone(),
            history: Path::from(format!("{base}/history.jsonl")),
            lock: Path::from(format!("{base}/deploy.lock")),
            stale_after: settings.lock_stale_seconds,
        })
    }

    async fn read(&self, path: &Path) -> Result<Option<(String, Option<String>)>, String> {
        match self.store.get(path).await {
            Ok(got) => {
                let etag = got.meta.e_tag.clone();
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| s3_error("reading", &self.bucket, e))?;
                Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), etag)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_error(&format!("reading {path}"), &self.bucket, e)),
        }
    }

    pub async fn records(&self) -> Result<Vec<Record>, String> {
        Ok(self
            .read(&self.history)
            .await?
            .map(|(text, _)| latest_records(&text))
            .unwrap_or_default())
    }

    /// Adds a line, retrying when another writer got in between.
    pub async fn append(&self, record: &Record) -> Result<(), String> {
        let line = serde_json::to_string(record).map_err(|e| e.to_string())?;
        for _ in 0..20 {
            let (mut text, mode) = match self.read(&self.history).await? {
                Some((text, etag)) => (
                    text,
                    PutMode::Update(UpdateVersion {
                        e_tag: etag,
                        version: None,
                    }),
                ),
                None => (String::new(), PutMode::Create),
            };
            text.push_str(&line);
            text.push('\n');
            match self
                .store
                .put_opts(&self.history, PutPayload::from(text), mode.into())
                .await
            {
                Ok(_) => return Ok(()),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. },
                ) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => return Err(s3_error("writing the history", &self.bucket, e)),
            }
        }
        Err(format!(
            "writing the history in s3://{}: too many concurrent writers",
            self.bucket
        ))
    }

    pub async fn holder(&self) -> Result<Option<LockBody>, String> {
        Ok(self
            .read(&self.lock)
            .await?
            .and_then(|(text, _)| serde_json::from_str::<LockBody>(&text).ok()))
    }

    /// Takes the lock for `record`; replaces a lost holder's, and says whose it was.
    pub async fn lock(&self, record: &str) -> Result<(HeldLock, Option<LockBody>), String> {
        let mut body = LockBody {
            holder: crate::state::who(),
            host: host(),
            pid: std::process::id(),
            record: record.to_owned(),
            since: now(),
            heartbeat: now(),
        };
        let mut replaced = None;
        let mut mode = PutMode::Create;
        for _ in 0..3 {
            let payload = PutPayload::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
            match self
                .store
                .put_opts(&self.lock, payload, mode.clone().into())
                .await
            {
                Ok(put) => {
                    let etag = Arc::new(tokio::sync::Mutex::new(put.e_tag));
                    let heartbeat = tokio::spawn(heartbeat(self.clone(), body, etag.clone()));
                    return Ok((
                        HeldLock {
                            heartbeat,
                            state: self.clone(),
                            etag,
                        },
                        replaced,
                    ));
                }
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => {
                    let Some((text, etag)) = self.read(&self.lock).await? else {
                        mode = PutMode::Create;
                        continue;
                    };
                    let held: Option<LockBody> = serde_json::from_str(&text).ok();
                    match held {
                        Some(h) if !h.is_lost(self.stale_after) => {
                            return Err(format!(
                                "another deploy holds the lock: {}; wait for it, or stop it",
                                h.describe()
                            ));
                        }
                        other => {
                            replaced = other;
                            body.since = now();
                            mode = PutMode::Update(UpdateVersion {
                                e_tag: etag,
                                version: None,
                            });
                        }
                    }
                }
                Err(e) => return Err(s3_error("taking the deploy lock", &self.bucket, e)),
            }
        }
        Err("another deploy took the lock at the same moment; try again".into())
    }
}

async fn heartbeat(
    state: SharedState,
    mut body: LockBody,
    etag: Arc<tokio::sync::Mutex<Option<String>>>,
) {
    let every = Duration::from_secs_f64((state.stale_after / 4.0).clamp(1.0, 30.0));
    loop {
        tokio::time::sleep(every).await;
        body.heartbeat = now();
        let Ok(bytes) = serde_json::to_vec(&body) else {
            return;
        };
        let mut current = etag.lock().await;
        let mode = PutMode::Update(UpdateVersion {
            e_tag: current.clone(),
            version: None,
        });
        match state
            .store
            .put_opts(&state.lock, PutPayload::from(bytes), mode.into())
            .await
        {
            Ok(put) => *current = put.e_tag,
            Err(e) => {
                tracing::warn!(error = %e, "the deploy lock's heartbeat failed; someone may have taken it over");
                return;
            }
        }
    }
}
