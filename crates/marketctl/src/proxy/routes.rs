//! The routing table: versions with weights, each with its backends. Replaced whole and
//! atomically, so a request sees either the old table or the new one, never a mix.

use arc_swap::ArcSwap;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

/// One backend instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    pub id: String,
    pub addr: SocketAddr,
}

/// A version's share of traffic and the instances that serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRoute {
    pub version: String,
    pub weight: u32,
    pub backends: Vec<Backend>,
}

/// What the admin API accepts and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    pub versions: Vec<VersionRoute>,
    /// When set, a canary visitor keeps the version it first got, through this cookie.
    #[serde(default)]
    pub sticky_cookie: Option<String>,
    #[serde(default)]
    pub timeouts: Timeouts,
}

/// How long an instance may take to its response headers before the proxy answers 504 in its
/// place (and counts it against the instance's version): a default, and overrides by path
/// prefix, the longest matching prefix winning. Without it a hung route is invisible until it
/// ends, and holds its clients' connections as long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    pub default_ms: u64,
    #[serde(default)]
    pub by_prefix: Vec<PrefixTimeout>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixTimeout {
    pub prefix: String,
    pub ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            default_ms: 30_000,
            by_prefix: Vec::new(),
        }
    }
}

impl Timeouts {
    /// Shortest and longest timeouts accepted.
    const RANGE_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;

    pub fn for_path(&self, path: &str) -> std::time::Duration {
        let ms = self
            .by_prefix
            .iter()
            .filter(|p| path.starts_with(&p.prefix))
            .max_by_key(|p| p.prefix.len())
            .map_or(self.default_ms, |p| p.ms);
        std::time::Duration::from_millis(ms)
    }

    fn validate(&self) -> Result<(), RouteError> {
        if !Self::RANGE_MS.contains(&self.default_ms) {
            return Err(RouteError::BadTimeout("default".into(), self.default_ms));
        }
        for p in &self.by_prefix {
            if !p.prefix.starts_with('/') || !Self::RANGE_MS.contains(&p.ms) {
                return Err(RouteError::BadTimeout(p.prefix.clone(), p.ms));
            }
        }
        Ok(())
    }
}

/// Why a route spec was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("version {0:?} has weight but no backends")]
    NoBackends(String),
    #[error("version {0:?} appears twice")]
    Duplicate(String),
    #[error("the weights add up to zero while versions are listed")]
    ZeroWeight,
    #[error("the sticky cookie name {0:?} is not a valid cookie name")]
    BadCookie(String),
    #[error(
        "the upstream timeout for {0:?} ({1} ms) must be 100 ms to 1 hour, for a path prefix starting with /"
    )]
    BadTimeout(String, u64),
}

impl RouteSpec {
    pub fn validate(&self) -> Result<(), RouteError> {
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.versions {
            if !seen.insert(v.version.as_str()) {
                return Err(RouteError::Duplicate(v.version.clone()));
            }
            if v.weight > 0 && v.backends.is_empty() {
                return Err(RouteError::NoBackends(v.version.clone()));
            }
        }
        if !self.versions.is_empty() && self.versions.iter().all(|v| v.weight == 0) {
            return Err(RouteError::ZeroWeight);
        }
        self.timeouts.validate()?;
        if let Some(name) = &self.sticky_cookie {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(RouteError::BadCookie(name.clone()));
            }
        }
        Ok(())
    }

    /// Every backend any version lists, for checks like "is this instance still routed?".
    pub fn routes_to(&self, instance_id: &str) -> bool {
        self.versions
            .iter()
            .any(|v| v.weight > 0 && v.backends.iter().any(|b| b.id == instance_id))
    }
}

/// A backend chosen for one request.
#[derive(Debug, Clone)]
pub struct Pick {
    pub version: Arc<str>,
    pub backend: Backend,
    /// True when the version came from the sticky cookie rather than the weights.
    pub from_cookie: bool,
}

#[derive(Default)]
pub struct RouteTable {
    current: ArcSwap<RouteSpec>,
}

impl RouteTable {
    pub fn replace(&self, spec: RouteSpec) -> Result<(), RouteError> {
        spec.validate()?;
        self.current.store(Arc::new(spec));
        Ok(())
    }

    pub fn snapshot(&self) -> Arc<RouteSpec> {
        self.current.load_full()
    }
}

impl RouteSpec {
    /// Chooses a version by weight (or by the sticky cookie's value) and a backend within it,
    /// among the backends not `unfit` (not ready, by the supervisor's health checks) while any
    /// fit one exists, and avoiding `exclude` (a backend that just refused a connection) when
    /// another exists. With no fit backend anywhere, every backend is tried as before.
    pub fn pick(
        &self,
        cookie_version: Option<&str>,
        exclude: Option<&SocketAddr>,
        unfit: &HashSet<String>,
    ) -> Option<Pick> {
        let fit = |b: &Backend| unfit.is_empty() || !unfit.contains(&b.id);
        let any_fit = unfit.is_empty()
            || self
                .versions
                .iter()
                .any(|v| v.weight > 0 && v.backends.iter().any(fit));
        let eligible = |v: &&VersionRoute| {
            v.weight > 0 && !v.backends.is_empty() && (!any_fit || v.backends.iter().any(fit))
        };
        let mut rng = rand::thread_rng();
        let sticky = cookie_version.and_then(|wanted| {
            self.versions
                .iter()
                .filter(eligible)
                .find(|v| v.version == wanted)
        });
        let (route, from_cookie) = match sticky {
            Some(v) => (v, true),
            None => {
                let total: u64 = self
                    .versions
                    .iter()
                    .filter(eligible)
                    .map(|v| u64::from(v.weight))
                    .sum();
                if total == 0 {
                    return None;
                }
                let mut point = rng.gen_range(0..total);
                let chosen = self.versions.iter().filter(eligible).find(|v| {
                    if point < u64::from(v.weight) {
                        true
                    } else {
                        point -= u64::from(v.weight);
                        false
                    }
                })?;
                (chosen, false)
            }
        };
        let usable = |b: &&Backend| !any_fit || fit(b);
        let candidates: Vec<&Backend> = route
            .backends
            .iter()
            .filter(usable)
            .filter(|b| Some(&b.addr) != exclude)
            .collect();
        let pool: Vec<&Backend> = if candidates.is_empty() {
            route.backends.iter().filter(usable).collect()
        } else {
            candidates
        };
        let backend = (*pool.get(rng.gen_range(0..pool.len().max(1)))?).clone();
        Some(Pick {
            version: Arc::from(route.version.as_str()),
            backend,
            from_cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: &str, port: u16) -> Backend {
        Backend {
            id: id.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn spec(a: u32, b: u32) -> RouteSpec {
        RouteSpec {
            versions: vec![
                VersionRoute {
                    version: "v1".into(),
                    weight: a,
                    backends: vec![backend("a", 1)],
                },
                VersionRoute {
                    version: "v2".into(),
                    weight: b,
                    backends: vec![backend("b", 2)],
                },
            ],
            sticky_cookie: None,
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn weights_split_traffic_in_proportion() {
        let s = spec(95, 5);
        let canary = (0..20_000)
            .filter(|_| &*s.pick(None, None, &HashSet::new()).unwrap().version == "v2")
            .count();
        assert!(
            (600..1400).contains(&canary),
            "{canary} of 20000 went to the 5% canary"
        );
        assert!((0..100).all(|_| {
            &*spec(100, 0)
                .pick(None, None, &HashSet::new())
                .unwrap()
                .version
                == "v1"
        }));
    }

    #[test]
    fn a_sticky_cookie_keeps_its_version_while_that_version_has_weight() {
        let s = spec(99, 1);
        assert!(
            (0..100).all(|_| &*s.pick(Some("v2"), None, &HashSet::new()).unwrap().version == "v2")
        );
        let gone = spec(100, 0);
        assert_eq!(
            &*gone
                .pick(Some("v2"), None, &HashSet::new())
                .unwrap()
                .version,
            "v1"
        );
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut s = spec(0, 0);
        assert_eq!(s.validate(), Err(RouteError::ZeroWeight));
        s.versions[0].weight = 1;
        s.versions[0].backends.clear();
        assert_eq!(s.validate(), Err(RouteError::NoBackends("v1".into())));
        let mut dup = spec(1, 1);
        dup.versions[1].version = "v1".into();
        assert_eq!(dup.validate(), Err(RouteError::Duplicate("v1".into())));
        let mut cookie = spec(1, 1);
        cookie.sticky_cookie = Some("bad cookie;".into());
        assert!(cookie.validate().is_err());
        assert!(
            RouteSpec::default().validate().is_ok(),
            "an empty table is valid (503 for all)"
        );
    }

    #[test]
    fn backends_that_are_not_ready_get_no_requests_while_a_ready_one_exists() {
        let mut s = spec(50, 50);
        s.versions[0].backends.push(backend("a2", 3));
        let unfit: HashSet<String> = ["a".to_owned()].into();
        for _ in 0..200 {
            let pick = s.pick(None, None, &unfit).unwrap();
            assert_ne!(pick.backend.id, "a", "an unhealthy backend was picked");
        }
        // A version with no ready backend gives its share to one that has them.
        let none_ready: HashSet<String> = ["b".to_owned()].into();
        let one = spec(50, 50);
        assert!((0..200).all(|_| &*one.pick(None, None, &none_ready).unwrap().version == "v1"));
        // Nothing ready anywhere: every backend is still tried rather than answering 503.
        let all: HashSet<String> = ["a".to_owned(), "b".to_owned()].into();
        assert!(one.pick(None, None, &all).is_some());
        assert!(
            one.pick(Some("v2"), None, &none_ready)
                .unwrap()
                .version
                .as_ref()
                == "v1"
        );
    }

    #[test]
    fn a_refusing_backend_is_avoided_when_another_exists() {
        let mut s = spec(100, 0);
        s.versions[0].backends.push(backend("a2", 3));
        let bad = SocketAddr::from(([127, 0, 0, 1], 1));
        assert!((0..100).all(|_| {
            s.pick(None, Some(&bad), &HashSet::new())
                .unwrap()
                .backend
                .addr
                != bad
        }));
    }
}
