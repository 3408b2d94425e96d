//! The single-host platform: releases run under `marketctl proxy run`, driven through its admin API.

use super::{Fleet, Instance, Platform, PlatformError, Readiness, Route, Status, Window};
use crate::config::{DeployConfig, LocalSettings};
use crate::proxy::routes::{Backend, RouteSpec, VersionRoute};
use crate::proxy::supervisor::InstanceSpec;
use crate::wire::AgentState;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct LocalPlatform {
    settings: LocalSettings,
    token: String,
    env: BTreeMap<String, String>,
    health_path: String,
    http: reqwest::Client,
}

impl LocalPlatform {
    /// The proxy's upstream timeouts, from `[local]`.
    fn timeouts(&self) -> crate::proxy::routes::Timeouts {
        let ms = |seconds: f64| (seconds * 1000.0).round().max(0.0) as u64;
        crate::proxy::routes::Timeouts {
            default_ms: ms(self.settings.upstream_timeout_seconds),
            by_prefix: self
                .settings
                .upstream_timeouts
                .iter()
                .map(|(prefix, seconds)| crate::proxy::routes::PrefixTimeout {
                    prefix: prefix.clone(),
                    ms: ms(*seconds),
                })
                .collect(),
        }
    }

    /// `env` is the full environment instances get (config plus required variables).
    pub fn new(
        config: &DeployConfig,
        token: String,
        env: BTreeMap<String, String>,
    ) -> Result<Self, PlatformError> {
        let settings = config.local.clone().ok_or_else(|| {
            PlatformError::Refused("the environment file has no [local] section".into())
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| PlatformError::Unreachable(e.to_string()))?;
        Ok(Self {
            settings,
            token,
            env,
            health_path: config.health_path.clone(),
            http,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.admin_url.trim_end_matches('/'))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<reqwest::Response, PlatformError> {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PlatformError::Unreachable(format!("{}: {e}", self.settings.admin_url)))?;
        match response.status().as_u16() {
            401 => Err(PlatformError::Unauthorized),
            s if s >= 400 => {
                let text = response.text().await.unwrap_or_default();
                let detail = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["detail"].as_str().map(str::to_owned))
                    .unwrap_or(text);
                Err(PlatformError::Refused(detail))
            }
            _ => Ok(response),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, PlatformError> {
        let response = self.call(reqwest::Method::GET, path, None).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| PlatformError::Unreachable(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            PlatformError::Refused(format!(
                "the agent's answer to {path} did not parse (is it the same marketctl version?): {e}"
            ))
        })
    }

    async fn state(&self) -> Result<AgentState, PlatformError> {
        self.json("/v1/state").await
    }

    fn ports(state: &AgentState) -> HashMap<String, u16> {
        state
            .instances
            .iter()
            .map(|i| (i.id.clone(), i.port))
            .collect()
    }
}

fn body(value: &impl serde::Serialize) -> Result<Value, PlatformError> {
    serde_json::to_value(value).map_err(|e| PlatformError::Refused(e.to_string()))
}

fn instance_id(version: &str, port: u16) -> String {
    let safe: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{safe}-{port}")
}

impl Platform for LocalPlatform {
    async fn check(&self) -> Result<(), PlatformError> {
        self.state().await.map(|_| ())
    }

    async fn fleet(&self) -> Result<Fleet, PlatformError> {
        let state = self.state().await?;
        let instances = state
            .instances
            .iter()
            .map(|i| Instance {
                id: i.id.clone(),
                version: i.version.clone(),
                status: i.status,
                consecutive_failures: i.consecutive_failures,
                log: Some(i.log.display().to_string()),
            })
            .collect();
        let routes = state
            .routes
            .versions
            .iter()
            .map(|r| Route {
                version: r.version.clone(),
                weight: r.weight,
                instances: r.backends.iter().map(|b| b.id.clone()).collect(),
            })
            .collect();
        Ok(Fleet { instances, routes })
    }

    async fn start(&self, version: &str, release: &Path) -> Result<String, PlatformError> {
        let state = self.state().await?;
        let used: Vec<u16> = Self::ports(&state).into_values().collect();
        let s = &self.settings;
        let port = (s.base_port..s.base_port.saturating_add(s.port_span))
            .find(|p| !used.contains(p) && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .ok_or_else(|| {
                PlatformError::Refused(format!("no free port in {}..+{}", s.base_port, s.port_span))
            })?;
        let id = instance_id(version, port);
        let spec = InstanceSpec {
            id: id.clone(),
            version: version.to_owned(),
            binary: release.to_owned(),
            args: vec!["serve".into()],
            port,
            health_path: self.health_path.clone(),
            env: self.env.clone(),
        };
        self.call(reqwest::Method::POST, "/v1/instances", Some(body(&spec)?))
            .await?;
        Ok(id)
    }

    async fn wait_ready(&self, ids: &[String], wait: Readiness) -> Result<(), PlatformError> {
        let started = Instant::now();
        let timeout = wait.timeout;
        loop {
            let fleet = self.fleet().await?;
            let mut all_ready = true;
            for id in ids {
                let Some(i) = fleet.instances.iter().find(|i| &i.id == id) else {
                    return Err(PlatformError::StartFailed {
                        id: id.clone(),
                        status: "gone".into(),
                    });
                };
                match i.status {
                    Status::Ready => {}
                    Status::Crashed if started.elapsed() < wait.grace => {
                        // The supervisor restarts it with backoff; judge it when the grace ends.
                        all_ready = false;
                    }
                    Status::Crashed | Status::Stopped | Status::Stopping => {
                        return Err(PlatformError::StartFailed {
                            id: id.clone(),
                            status: match &i.log {
                                Some(log) => format!("{} (its output: {log})", i.status),
                                None => i.status.to_string(),
                            },
                        });
                    }
                    status => {
                        if started.elapsed() >= timeout {
                            return Err(PlatformError::NotReady {
                                id: id.clone(),
                                seconds: timeout.as_secs_f64(),
                                status: status.to_string(),
                            });
                        }
                        all_ready = false;
                    }
                }
            }
            if all_ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn route(&self, routes: &[Route]) -> Result<(), PlatformError> {
        let state = self.state().await?;
        let ports = Self::ports(&state);
        let spec = RouteSpec {
            versions: routes
                .iter()
                .map(|r| VersionRoute {
                    version: r.version.clone(),
                    weight: r.weight,
                    backends: r
                        .instances
                        .iter()
                        .filter_map(|id| {
                            ports.get(id).map(|p| Backend {
                                id: id.clone(),
                                addr: std::net::SocketAddr::from(([127, 0, 0, 1], *p)),
                            })
                        })
                        .collect(),
                })
                .collect(),
            sticky_cookie: self.settings.sticky_cookie.clone(),
            timeouts: self.timeouts(),
        };
        self.call(reqwest::Method::PUT, "/v1/routes", Some(body(&spec)?))
            .await
            .map(|_| ())
    }

    async fn stop(&self, id: &str) -> Result<(), PlatformError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/v1/instances/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }

    async fn retire(&self, id: &str) -> Result<(), PlatformError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/v1/instances/{id}?wait=false"),
            None,
        )
        .await
        .map(|_| ())
    }

    async fn window(&self, version: &str, seconds: u64) -> Result<Window, PlatformError> {
        self.json(&format!("/v1/window/{version}?seconds={seconds}"))
            .await
    }

    async fn probe(&self, id: &str, path: &str) -> Result<u16, PlatformError> {
        let state = self.state().await?;
        let port = Self::ports(&state)
            .get(id)
            .copied()
            .ok_or_else(|| PlatformError::Refused(format!("no instance {id}")))?;
        get_status(&self.http, &format!("http://127.0.0.1:{port}{path}")).await
    }

    async fn public_get(&self, path: &str) -> Result<u16, PlatformError> {
        get_status(
            &self.http,
            &format!("{}{path}", self.settings.public_url.trim_end_matches('/')),
        )
        .await
    }

    async fn mark(
        &self,
        marker: &crate::proxy::markers::DeployMarker,
    ) -> Result<(), PlatformError> {
        self.call(reqwest::Method::POST, "/v1/markers", Some(body(marker)?))
            .await
            .map(|_| ())
    }

    async fn probe_public(&self, path: &str, version: &str) -> Result<u16, PlatformError> {
        get_status_pinned(
            &self.http,
            &format!("{}{path}", self.settings.public_url.trim_end_matches('/')),
            Some(version),
        )
        .await
    }
}

async fn get_status(http: &reqwest::Client, url: &str) -> Result<u16, PlatformError> {
    get_status_pinned(http, url, None).await
}

async fn get_status_pinned(
    http: &reqwest::Client,
    url: &str,
    version: Option<&str>,
) -> Result<u16, PlatformError> {
    let mut request = http.get(url);
    if let Some(version) = version {
        request = request.header(crate::proxy::forward::PROBE_PIN, version);
    }
    request
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| PlatformError::Unreachable(format!("{url}: {e}")))
}
