//! The agent's wire types: what its admin API sends and what `platform::local` reads, one
//! definition for both, so a renamed field fails to parse instead of silently reading as 0.

use serde::{Deserialize, Serialize};

/// Request totals over a recent window, for a version or one of its route groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub error_rate: f64,
    /// Upper bound of the latency bucket holding the 95th percentile; `None` past the last
    /// bucket (beyond 60 s) or with no requests.
    pub p95_seconds: Option<f64>,
    /// The median and the 99th percentile, the same way.
    #[serde(default)]
    pub p50_seconds: Option<f64>,
    #[serde(default)]
    pub p99_seconds: Option<f64>,
}

impl Totals {
    /// Counts with their rate, latencies unknown.
    pub fn of(requests: u64, errors: u64) -> Self {
        Self {
            requests,
            errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            ..Self::default()
        }
    }
}

/// One route group of a version: requests with the same method and path prefix
/// (`GET /search`, `POST /sign-in`, `GET /api/v1/artists`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupWindow {
    pub method: String,
    pub route: String,
    #[serde(flatten)]
    pub totals: Totals,
}

/// What `GET /v1/window/{version}` answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    pub seconds: u64,
    #[serde(flatten)]
    pub totals: Totals,
    /// Requests sent to the version and not answered yet.
    pub in_flight: u64,
    /// How long the oldest of them has been waiting: a hang shows here before it ends.
    pub oldest_in_flight_seconds: f64,
    pub groups: Vec<GroupWindow>,
}

/// What `GET /v1/state` answers: the routing table and every supervised instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub routes: crate::proxy::routes::RouteSpec,
    pub instances: Vec<crate::proxy::supervisor::InstanceView>,
}
