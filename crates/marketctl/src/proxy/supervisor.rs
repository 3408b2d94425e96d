//! Runs marketplace instances as child processes on loopback ports: starts them with their
//! environment, writes their logs to files, health-checks them every second, restarts crashes
//! with backoff, and stops them with SIGTERM, waiting for their drain.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// How long an instance may take to drain after SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(35);
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What to run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstanceSpec {
    pub id: String,
    pub version: String,
    pub binary: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    pub port: u16,
    #[serde(default = "default_health_path")]
    pub health_path: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_health_path() -> String {
    "/health/ready".into()
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Starting,
    Ready,
    Unhealthy,
    Crashed,
    Stopping,
    Stopped,
}

/// What the admin API reports per instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InstanceView {
    pub id: String,
    pub version: String,
    pub port: u16,
    pub pid: Option<u32>,
    pub status: Status,
    /// Failed health checks in a row; the engine's trigger is 3.
    pub consecutive_failures: u32,
    pub restarts: u32,
    pub log: PathBuf,
}

struct Instance {
    spec: InstanceSpec,
    view: Mutex<InstanceView>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

impl Instance {
    /// The instance's current view; a panicked holder cannot leave it unreadable.
    fn view(&self) -> std::sync::MutexGuard<'_, InstanceView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("an instance with id {0:?} already exists")]
    Exists(String),
    #[error("no instance with id {0:?}")]
    Unknown(String),
    #[error("port {0} is already used by instance {1:?}")]
    PortTaken(u16, String),
    #[error("{0} is not an executable file")]
    NotExecutable(PathBuf),
    #[error("bad instance id {0:?}: use letters, digits, '-', '_' and '.'")]
    BadId(String),
}

pub struct Supervisor {
    logs: PathBuf,
    instances: Mutex<BTreeMap<String, Arc<Instance>>>,
    http: reqwest::Client,
}

impl Supervisor {
    pub fn new(logs: PathBuf) -> Self {
        Self {
            logs,
            instances: Mutex::new(BTreeMap::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Instance>>> {
        self.instances.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<InstanceView> {
        self.lock().values().map(|i| i.view().clone()).collect()
    }

    /// What is being supervised, for the agent's saved state.
    pub fn specs(&self) -> Vec<InstanceSpec> {
        self.lock().values().map(|i| i.spec.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<InstanceView> {
        self.lock().get(id).map(|i| i.view().clone())
    }

    /// Starts supervising a new instance; returns at once (readiness comes from `get`).
    pub fn start(&self, spec: InstanceSpec) -> Result<InstanceView, SupervisorError> {
        let id_ok = !spec.id.is_empty()
            && spec.id.len() <= 64
            && spec
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(SupervisorError::BadId(spec.id));
        }
        let executable = std::fs::metadata(&spec.binary)
            .map(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
            .unwrap_or(false);
        if !executable {
            return Err(SupervisorError::NotExecutable(spec.binary));
        }
        let mut instances = self.lock();
        if instances.contains_key(&spec.id) {
            return Err(SupervisorError::Exists(spec.id));
        }
        if let Some(other) = instances
            .values()
            .find(|i| i.spec.port == spec.port && i.view().status != Status::Stopped)
        {
            return Err(SupervisorError::PortTaken(spec.port, other.spec.id.clone()));
        }
        let view = InstanceView {
            id: spec.id.clone(),
            version: spec.version.clone(),
            port: spec.port,
            pid: None,
            status: Status::Starting,
            consecutive_failures: 0,
            restarts: 0,
            log: self.logs.join(format!("{}.log", spec.id)),
        };
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let instance = Arc::new(Instance {
            spec: spec.clone(),
            view: Mutex::new(view.clone()),
            stop,
            done,
        });
        instances.insert(spec.id.clone(), instance.clone());
        let http = self.http.clone();
        tokio::spawn(async move {
            run(instance, stop_rx, http).await;
            let _ = done_tx.send(true);
        });
        Ok(view)
    }

    /// Sends SIGTERM and waits until the instance has drained and exited (or was killed after
    /// the grace period); the instance is then forgotten.
    pub async fn stop(&self, id: &str) -> Result<(), SupervisorError> {
        let instance = self
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| SupervisorError::Unknown(id.to_owned()))?;
        let _ = instance.stop.send(true);
        let mut done = instance.done.clone();
        let _ = done.wait_for(|d| *d).await;
        self.lock().remove(id);
        Ok(())
    }

    /// Stops every instance concurrently: all get SIGTERM at once, then each is awaited.
    pub async fn stop_all(&self) {
        let all: Vec<Arc<Instance>> = self.lock().values().cloned().collect();
        for instance in &all {
            let _ = instance.stop.send(true);
        }
        for instance in &all {
            let mut done = instance.done.clone();
            let _ = done.wait_for(|d| *d).await;
        }
        self.lock().clear();
    }
}

fn set(instance: &Instance, f: impl FnOnce(&mut InstanceView)) {
    f(&mut instance.view());
}

fn spawn_child(spec: &InstanceSpec, log: &PathBuf) -> std::io::Result<Child> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = file.try_clone()?;
    Command::new(&spec.binary)
        .args(&spec.args)
        .envs(&spec.env)
        .env("TM_SERVER_HOST", "127.0.0.1")
        .env("TM_SERVER_PORT", spec.port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .kill_on_drop(true)
        .spawn()
}

async fn run(instance: Arc<Instance>, mut stop: watch::Receiver<bool>, http: reqwest::Client) {
    let spec = &instance.spec;
    let log = instance
        .view
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .log
        .clone();
    let url = format!("http://127.0.0.1:{}{}", spec.port, spec.health_path);
    let mut backoff = Duration::from_secs(1);
    loop {
        let mut child = match spawn_child(spec, &log) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(id = %spec.id, error = %e, "cannot start instance");
                set(&instance, |v| v.status = Status::Crashed);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => { backoff = (backoff * 2).min(MAX_BACKOFF); continue; }
                    _ = stopped(&mut stop) => { set(&instance, |v| v.status = Status::Stopped); return; }
                }
            }
        };
        let pid = child.id();
        set(&instance, |v| {
            v.pid = pid;
            v.status = Status::Starting;
            v.consecutive_failures = 0;
        });
        tracing::info!(id = %spec.id, version = %spec.version, port = spec.port, ?pid, "instance started");
        let mut ticker = tokio::time::interval(HEALTH_INTERVAL);
        let exited = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = ticker.tick() => {
                    let healthy = http.get(&url).send().await.is_ok_and(|r| r.status().is_success());
                    set(&instance, |v| {
                        if healthy {
                            v.status = Status::Ready;
                            v.consecutive_failures = 0;
                        } else {
                            v.consecutive_failures += 1;
                            if v.status == Status::Ready || v.consecutive_failures >= 3 {
                                v.status = Status::Unhealthy;
                            }
                        }
                    });
                    if healthy {
                        backoff = Duration::from_secs(1);
                    }
                }
                _ = stopped(&mut stop) => {
                    set(&instance, |v| v.status = Status::Stopping);
                    terminate(&mut child, pid).await;
                    set(&instance, |v| { v.status = Status::Stopped; v.pid = None; });
                    tracing::info!(id = %spec.id, "instance stopped");
                    return;
                }
            }
        };
        tracing::warn!(id = %spec.id, status = ?exited.ok(), ?backoff, "instance exited; restarting");
        set(&instance, |v| {
            v.status = Status::Crashed;
            v.pid = None;
            v.restarts += 1;
        });
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => { set(&instance, |v| v.status = Status::Stopped); return; }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Resolves once a stop was requested. Wrapped so `select!` never holds the watch's read guard.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// SIGTERM, then wait out the instance's own drain; SIGKILL only past the grace period.
async fn terminate(child: &mut Child, pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            ?pid,
            "instance ignored SIGTERM for the grace period; killing it"
        );
        let _ = child.kill().await;
    }
}
