//! An in-memory platform for the engine's tests: instances start at once, traffic figures are
//! scripted per version, and every call is logged, so each phase, verdict and rule is tested in
//! milliseconds. The real-process tests in `tests/engine.rs` stay the proof that it all works.

use super::{Fleet, Instance, Platform, PlatformError, Readiness, Route, Status, Window};
use crate::wire::{GroupWindow, Totals};
use std::path::Path;
use std::sync::Mutex;

/// What one version's traffic looks like while it has weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Traffic {
    /// Enough requests, all fine.
    Healthy,
    /// No requests at all.
    Silent,
    /// Every `POST /sign-in` fails; the rest is fine (a few percent of all requests).
    FailingWrites,
    /// One route's requests never answer: they pile up in flight.
    Hanging,
    /// Every answer slower: p95 of 5 s where the old release answers in 50 ms. Under the spec's
    /// 10 s, so only the baseline comparison sees it.
    Slower,
    /// Healthy while it shares traffic, failing writes once it has all of it (a fault that
    /// shows only at full load, after promotion).
    FailsAtFullTraffic,
}

/// One call the engine made, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Start(String),
    Route(Vec<(String, u32)>),
    Stop(String),
    Retire(String),
}

#[derive(Default)]
struct State {
    instances: Vec<Instance>,
    routes: Vec<Route>,
    calls: Vec<Call>,
    next: u32,
    probes: Vec<(String, String)>,
    markers: Vec<crate::proxy::markers::DeployMarker>,
}

pub struct FakePlatform {
    state: Mutex<State>,
    /// The traffic of a version, by its name.
    traffic: Box<dyn Fn(&str) -> Traffic + Send + Sync>,
}

impl FakePlatform {
    pub fn new(traffic: impl Fn(&str) -> Traffic + Send + Sync + 'static) -> Self {
        Self {
            state: Mutex::default(),
            traffic: Box::new(traffic),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Stops an instance as the agent does: refused while it still receives traffic.
    fn remove(&self, id: &str, call: Call) -> Result<(), PlatformError> {
        let mut s = self.lock();
        let routed = s
            .routes
            .iter()
            .any(|r| r.weight > 0 && r.instances.iter().any(|i| i == id));
        if routed {
            return Err(PlatformError::Refused(format!(
                "{id} still receives traffic"
            )));
        }
        s.instances.retain(|i| i.id != id);
        s.calls.push(call);
        Ok(())
    }

    /// The deploy markers recorded, in order.
    pub fn markers(&self) -> Vec<crate::proxy::markers::DeployMarker> {
        self.lock().markers.clone()
    }

    /// The synthetic probes sent, as (version, path).
    pub fn probes(&self) -> Vec<(String, String)> {
        self.lock().probes.clone()
    }

    pub fn routes(&self) -> Vec<(String, u32)> {
        self.lock()
            .routes
            .iter()
            .map(|r| (r.version.clone(), r.weight))
            .collect()
    }

    pub fn versions_running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .instances
            .iter()
            .map(|i| i.version.clone())
            .collect();
        v.sort();
        v
    }
}

fn totals(requests: u64, errors: u64) -> Totals {
    Totals {
        p50_seconds: Some(0.01),
        p95_seconds: Some(0.05),
        p99_seconds: Some(0.1),
        ..Totals::of(requests, errors)
    }
}

fn group(method: &str, route: &str, t: Totals) -> GroupWindow {
    GroupWindow {
        method: method.into(),
        route: route.into(),
        totals: t,
    }
}

impl Platform for FakePlatform {
    async fn check(&self) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn fleet(&self) -> Result<Fleet, PlatformError> {
        let s = self.lock();
        Ok(Fleet {
            instances: s.instances.clone(),
            routes: s.routes.clone(),
        })
    }

    async fn start(&self, version: &str, _release: &Path) -> Result<String, PlatformError> {
        let mut s = self.lock();
        s.next += 1;
        let id = format!("{version}-{}", s.next);
        s.instances.push(Instance {
            id: id.clone(),
            version: version.to_owned(),
            status: Status::Ready,
            consecutive_failures: 0,
            log: None,
        });
        s.calls.push(Call::Start(id.clone()));
        Ok(id)
    }

    async fn wait_ready(&self, _ids: &[String], _wait: Readiness) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn route(&self, routes: &[Route]) -> Result<(), PlatformError> {
        let mut s = self.lock();
        s.routes = routes.to_vec();
        s.calls.push(Call::Route(
            routes
                .iter()
                .map(|r| (r.version.clone(), r.weight))
                .collect(),
        ));
        Ok(())
    }

    async fn stop(&self, id: &str) -> Result<(), PlatformError> {
        self.remove(id, Call::Stop(id.to_owned()))
    }

    async fn retire(&self, id: &str) -> Result<(), PlatformError> {
        self.remove(id, Call::Retire(id.to_owned()))
    }

    async fn window(&self, version: &str, seconds: u64) -> Result<Window, PlatformError> {
        let s = self.lock();
        let weight_of = |v: Option<&str>| -> u32 {
            s.routes
                .iter()
                .filter(|r| v.is_none_or(|v| r.version == v))
                .map(|r| r.weight)
                .sum()
        };
        let (weight, all) = (weight_of(Some(version)), weight_of(None));
        if weight == 0 {
            return Ok(Window {
                seconds,
                ..Window::default()
            });
        }
        let traffic = match (self.traffic)(version) {
            Traffic::FailsAtFullTraffic if weight == all => Traffic::FailingWrites,
            Traffic::FailsAtFullTraffic => Traffic::Healthy,
            other => other,
        };
        let pages = totals(300, 0);
        Ok(match traffic {
            Traffic::Silent => Window {
                seconds,
                ..Window::default()
            },
            Traffic::Healthy | Traffic::FailsAtFullTraffic => Window {
                seconds,
                totals: totals(310, 0),
                groups: vec![
                    group("GET", "/", pages),
                    group("POST", "/sign-in", totals(10, 0)),
                ],
                ..Window::default()
            },
            Traffic::FailingWrites => Window {
                seconds,
                totals: totals(310, 10),
                groups: vec![
                    group("GET", "/", pages),
                    group("POST", "/sign-in", totals(10, 10)),
                ],
                ..Window::default()
            },
            Traffic::Slower => {
                let slow = Totals {
                    p50_seconds: Some(2.5),
                    p95_seconds: Some(5.0),
                    p99_seconds: Some(5.0),
                    ..Totals::of(300, 0)
                };
                Window {
                    seconds,
                    totals: slow,
                    groups: vec![group("GET", "/", slow)],
                    ..Window::default()
                }
            }
            Traffic::Hanging => Window {
                seconds,
                totals: totals(300, 0),
                in_flight: 12,
                oldest_in_flight_seconds: 25.0,
                groups: vec![group("GET", "/", pages)],
            },
        })
    }

    async fn probe(&self, _id: &str, _path: &str) -> Result<u16, PlatformError> {
        Ok(200)
    }

    async fn public_get(&self, _path: &str) -> Result<u16, PlatformError> {
        Ok(200)
    }

    async fn probe_public(&self, path: &str, version: &str) -> Result<u16, PlatformError> {
        self.lock()
            .probes
            .push((version.to_owned(), path.to_owned()));
        Ok(200)
    }

    async fn mark(
        &self,
        marker: &crate::proxy::markers::DeployMarker,
    ) -> Result<(), PlatformError> {
        if let Some(why) = marker.problem() {
            return Err(PlatformError::Refused(why));
        }
        self.lock().markers.push(marker.clone());
        Ok(())
    }
}
