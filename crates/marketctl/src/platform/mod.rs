//! Where releases run. The strategies speak only this trait, so the single-host agent (`local`)
//! and AWS ECS share one engine.

#[cfg(test)]
pub mod fake;
pub mod local;

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// An instance's state, as the platform's supervisor sees it.
pub use crate::proxy::supervisor::Status;

/// One running instance as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub version: String,
    pub status: Status,
    pub consecutive_failures: u32,
    /// Where its output goes, for the message when it fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Instance {
    pub fn is_ready(&self) -> bool {
        self.status == Status::Ready
    }
}

/// A version's share of traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub version: String,
    pub weight: u32,
    pub instances: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fleet {
    pub instances: Vec<Instance>,
    pub routes: Vec<Route>,
}

impl Fleet {
    /// The version receiving the most traffic: the live release.
    pub fn live_version(&self) -> Option<&str> {
        self.routes
            .iter()
            .filter(|r| r.weight > 0)
            .max_by_key(|r| r.weight)
            .map(|r| r.version.as_str())
    }

    /// For putting all traffic on `version`: its ready instances, and every instance of any
    /// other version (which then leaves).
    pub fn split(&self, version: &str) -> (Vec<String>, Vec<String>) {
        let ready = self
            .of_version(version)
            .filter(|i| i.is_ready())
            .map(|i| i.id.clone())
            .collect();
        let others = self
            .instances
            .iter()
            .filter(|i| i.version != version)
            .map(|i| i.id.clone())
            .collect();
        (ready, others)
    }

    pub fn of_version<'a>(&'a self, version: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.iter().filter(move |i| i.version == version)
    }
}

/// How long instances may take to become ready, and for how long of that a crash is left to
/// the platform's restarts (ECS's health-check grace period), not counted as a failed start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub timeout: Duration,
    pub grace: Duration,
}

/// One version's traffic over a recent window: totals, route groups and what is in flight.
pub type Window = crate::wire::WindowReport;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("the platform is unreachable: {0}")]
    Unreachable(String),
    #[error("the platform refused the credentials")]
    Unauthorized,
    #[error("{0}")]
    Refused(String),
    #[error("instance {id} did not become ready within {seconds:.0} s (last status: {status})")]
    NotReady {
        id: String,
        seconds: f64,
        status: String,
    },
    #[error("instance {id} failed while starting: {status}")]
    StartFailed { id: String, status: String },
}

#[allow(async_fn_in_trait)]
pub trait Platform {
    /// Reachable, and the credentials work.
    async fn check(&self) -> Result<(), PlatformError>;
    async fn fleet(&self) -> Result<Fleet, PlatformError>;
    /// Starts one instance of `version` from `release`; returns its id without waiting.
    async fn start(&self, version: &str, release: &Path) -> Result<String, PlatformError>;
    /// Waits until every instance is ready; fails on timeout, or on a crash once the start-up
    /// grace is over (within it, the platform's own restarts are given their chance).
    async fn wait_ready(&self, ids: &[String], wait: Readiness) -> Result<(), PlatformError>;
    /// Replaces all routes at once.
    async fn route(&self, routes: &[Route]) -> Result<(), PlatformError>;
    /// Drains and stops an instance that no longer receives traffic.
    async fn stop(&self, id: &str) -> Result<(), PlatformError>;
    /// Like `stop`, but returns once the platform has taken the order: the instance drains in
    /// the background, up to its own deadline. For a bad release after an abort.
    async fn retire(&self, id: &str) -> Result<(), PlatformError>;
    async fn window(&self, version: &str, seconds: u64) -> Result<Window, PlatformError>;
    /// GET `path` directly on one instance (smoke tests before it receives traffic).
    async fn probe(&self, id: &str, path: &str) -> Result<u16, PlatformError>;
    /// GET `path` through the public entry point.
    async fn public_get(&self, path: &str) -> Result<u16, PlatformError>;
    /// GET `path` through the public entry point, served by `version` if it takes traffic: a
    /// synthetic probe, counted in the analysis like any request.
    async fn probe_public(&self, path: &str, version: &str) -> Result<u16, PlatformError>;
    /// Records that a deploy or rollback ended, for the dashboards' deploy markers.
    async fn mark(&self, marker: &crate::proxy::markers::DeployMarker)
    -> Result<(), PlatformError>;
}
