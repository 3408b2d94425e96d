//! Where releases run. The strategies speak only this trait, so the single-host agent (`local`)
//! and AWS ECS share one engine.

pub mod local;

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One running instance as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    pub version: String,
    pub status: String,
    pub consecutive_failures: u32,
}

impl Instance {
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
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

    pub fn of_version<'a>(&'a self, version: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.iter().filter(move |i| i.version == version)
    }
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
    /// Waits until every instance is ready; fails on timeout or on a crash or health failure.
    async fn wait_ready(&self, ids: &[String], timeout: Duration) -> Result<(), PlatformError>;
    /// Replaces all routes at once.
    async fn route(&self, routes: &[Route]) -> Result<(), PlatformError>;
    /// Drains and stops an instance that no longer receives traffic.
    async fn stop(&self, id: &str) -> Result<(), PlatformError>;
    async fn window(&self, version: &str, seconds: u64) -> Result<Window, PlatformError>;
    /// GET `path` directly on one instance (smoke tests before it receives traffic).
    async fn probe(&self, id: &str, path: &str) -> Result<u16, PlatformError>;
    /// GET `path` through the public entry point.
    async fn public_get(&self, path: &str) -> Result<u16, PlatformError>;
}
