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

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Starting => "starting",
            Status::Ready => "ready",
            Status::Unhealthy => "unhealthy",
            Status::Crashed => "crashed",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
        })
    }
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
    unfit: Arc<Unfit>,
}

/// What happens to an instance; `transition` is the one place its status changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Spawned(Option<u32>),
    SpawnFailed,
    HealthCheck { healthy: bool },
    Exited,
    StopRequested,
    Stopped,
}

/// Failed health checks in a row that make a starting instance unhealthy (a ready one is
/// unhealthy from its first failure, so the proxy stops sending it requests at once).
const UNHEALTHY_AFTER: u32 = 3;

/// The status machine: pure, so every path through it is tested without processes.
pub fn transition(view: &mut InstanceView, event: Event) {
    match event {
        Event::Spawned(pid) => {
            view.pid = pid;
            view.status = Status::Starting;
            view.consecutive_failures = 0;
        }
        Event::SpawnFailed => view.status = Status::Crashed,
        Event::HealthCheck { healthy: true } => {
            view.status = Status::Ready;
            view.consecutive_failures = 0;
        }
        Event::HealthCheck { healthy: false } => {
            view.consecutive_failures += 1;
            if view.status == Status::Ready || view.consecutive_failures >= UNHEALTHY_AFTER {
                view.status = Status::Unhealthy;
            }
        }
        Event::Exited => {
            view.status = Status::Crashed;
            view.pid = None;
            view.restarts += 1;
        }
        Event::StopRequested => view.status = Status::Stopping,
        Event::Stopped => {
            view.status = Status::Stopped;
            view.pid = None;
        }
    }
}

/// The ids of instances that are not ready: the proxy sends them no request while a ready
/// instance of the same version exists (kamal-proxy's healthy targets). Read on every request,
/// so it is a lock-free snapshot, replaced only when an instance's readiness changes.
#[derive(Default)]
pub struct Unfit(arc_swap::ArcSwap<std::collections::HashSet<String>>);

impl Unfit {
    pub fn load(&self) -> arc_swap::Guard<Arc<std::collections::HashSet<String>>> {
        self.0.load()
    }

    fn mark(&self, id: &str, ready: bool) {
        if self.0.load().contains(id) != ready {
            return;
        }
        self.0.rcu(|set| {
            let mut set = (**set).clone();
            if ready {
                set.remove(id);
            } else {
                set.insert(id.to_owned());
            }
            set
        });
    }

    fn forget(&self, id: &str) {
        self.mark(id, true);
    }
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
    unfit: Arc<Unfit>,
}

impl Supervisor {
    pub fn new(logs: PathBuf) -> Self {
        Self {
            logs,
            instances: Mutex::new(BTreeMap::new()),
            unfit: Arc::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Instance>>> {
        self.instances.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The instances the proxy should avoid.
    pub fn unfit(&self) -> &Unfit {
        &self.unfit
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
        self.unfit.mark(&spec.id, false);
        let instance = Arc::new(Instance {
            spec: spec.clone(),
            view: Mutex::new(view.clone()),
            stop,
            done,
            unfit: self.unfit.clone(),
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
        self.unfit.forget(id);
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
        for instance in &all {
            self.unfit.forget(&instance.spec.id);
        }
    }
}

/// Applies an event and publishes the instance's readiness to the proxy.
fn apply(instance: &Instance, event: Event) {
    let ready = {
        let mut view = instance.view();
        transition(&mut view, event);
        view.status == Status::Ready
    };
    instance.unfit.mark(&instance.spec.id, ready);
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
                apply(&instance, Event::SpawnFailed);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => { backoff = (backoff * 2).min(MAX_BACKOFF); continue; }
                    _ = stopped(&mut stop) => { apply(&instance, Event::Stopped); return; }
                }
            }
        };
        let pid = child.id();
        apply(&instance, Event::Spawned(pid));
        tracing::info!(id = %spec.id, version = %spec.version, port = spec.port, ?pid, "instance started");
        let mut ticker = tokio::time::interval(HEALTH_INTERVAL);
        let exited = loop {
            tokio::select! {
                status = child.wait() => break status,
                _ = ticker.tick() => {
                    let healthy = http.get(&url).send().await.is_ok_and(|r| r.status().is_success());
                    apply(&instance, Event::HealthCheck { healthy });
                    if healthy {
                        backoff = Duration::from_secs(1);
                    }
                }
                _ = stopped(&mut stop) => {
                    apply(&instance, Event::StopRequested);
                    terminate(&mut child, pid).await;
                    apply(&instance, Event::Stopped);
                    tracing::info!(id = %spec.id, "instance stopped");
                    return;
                }
            }
        };
        tracing::warn!(id = %spec.id, status = ?exited.ok(), ?backoff, "instance exited; restarting");
        apply(&instance, Event::Exited);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => { apply(&instance, Event::Stopped); return; }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> InstanceView {
        InstanceView {
            id: "a".into(),
            version: "v1".into(),
            port: 1,
            pid: None,
            status: Status::Starting,
            consecutive_failures: 0,
            restarts: 0,
            log: PathBuf::from("a.log"),
        }
    }

    #[test]
    fn a_ready_instance_is_unhealthy_from_its_first_failed_check_a_starting_one_after_three() {
        let mut v = view();
        transition(&mut v, Event::Spawned(Some(7)));
        transition(&mut v, Event::HealthCheck { healthy: false });
        transition(&mut v, Event::HealthCheck { healthy: false });
        assert_eq!(
            v.status,
            Status::Starting,
            "still starting after two misses"
        );
        transition(&mut v, Event::HealthCheck { healthy: false });
        assert_eq!(v.status, Status::Unhealthy);
        transition(&mut v, Event::HealthCheck { healthy: true });
        assert_eq!((v.status, v.consecutive_failures), (Status::Ready, 0));
        transition(&mut v, Event::HealthCheck { healthy: false });
        assert_eq!(
            v.status,
            Status::Unhealthy,
            "a ready instance leaves at once"
        );
    }

    #[test]
    fn a_crash_counts_a_restart_and_a_stop_clears_the_pid() {
        let mut v = view();
        transition(&mut v, Event::Spawned(Some(7)));
        transition(&mut v, Event::Exited);
        assert_eq!((v.status, v.pid, v.restarts), (Status::Crashed, None, 1));
        transition(&mut v, Event::Spawned(Some(8)));
        assert_eq!((v.status, v.pid), (Status::Starting, Some(8)));
        transition(&mut v, Event::StopRequested);
        assert_eq!(v.status, Status::Stopping);
        transition(&mut v, Event::Stopped);
        assert_eq!((v.status, v.pid), (Status::Stopped, None));
    }

    #[test]
    fn the_unfit_set_follows_readiness_and_forgets_stopped_instances() {
        let unfit = Unfit::default();
        unfit.mark("a", false);
        assert!(unfit.load().contains("a"));
        unfit.mark("a", true);
        assert!(!unfit.load().contains("a"));
        unfit.mark("b", false);
        unfit.forget("b");
        assert!(unfit.load().is_empty());
    }
}
