//! The three traffic strategies. Each one keeps the old release able to take all traffic back
//! until the new one has passed analysis, compares the new release with the old on the same
//! window, keeps the old one warm through a post-promotion watch, and rolls back by itself on
//! any trigger.

use super::analysis::{Breaches, Verdict, judge};
use super::{Engine, Stop};
use crate::config::InconclusivePolicy;
use crate::platform::{Platform, PlatformError, Route};
use crate::state::Phase;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(super) struct Deploy {
    pub new_version: String,
    pub new_release: PathBuf,
    pub old_version: Option<String>,
    pub old_release: Option<PathBuf>,
    pub old_ids: Vec<String>,
}

fn route(version: &str, weight: u32, ids: &[String]) -> Route {
    Route {
        version: version.to_owned(),
        weight,
        instances: ids.to_vec(),
    }
}

impl<P: Platform> Engine<'_, P> {
    /// Starts `n` instances of the new release and waits for all; stops them again on failure.
    async fn start_fleet(&mut self, d: &Deploy, n: u32) -> Result<Vec<String>, Stop> {
        let mut ids = Vec::new();
        for _ in 0..n {
            match self.platform.start(&d.new_version, &d.new_release).await {
                Ok(id) => ids.push(id),
                Err(e) => {
                    self.stop_all(&ids).await;
                    return Err(e.into());
                }
            }
        }
        if let Err(e) = self
            .platform
            .wait_ready(&ids, self.config.strategy.readiness())
            .await
        {
            self.stop_all(&ids).await;
            return Err(match e {
                PlatformError::NotReady { .. } => Stop::TimedOut(e.to_string()),
                other => Stop::Failed(other.to_string()),
            });
        }
        Ok(ids)
    }

    async fn stop_all(&self, ids: &[String]) {
        for id in ids {
            if let Err(e) = self.platform.stop(id).await {
                self.note(&format!("could not stop {id}: {e}"));
            }
        }
    }

    /// Smoke tests straight against instances that take no traffic yet.
    async fn smoke_direct(&mut self, ids: &[String]) -> Result<(), String> {
        for id in ids {
            for path in &self.config.smoke.paths {
                let status = self
                    .platform
                    .probe(id, path)
                    .await
                    .map_err(|e| e.to_string())?;
                if !(200..400).contains(&status) {
                    return Err(format!("smoke test GET {path} on {id} answered {status}"));
                }
            }
        }
        Ok(())
    }

    async fn smoke_public(&mut self) -> Result<(), String> {
        for path in &self.config.smoke.paths {
            let status = self
                .platform
                .public_get(path)
                .await
                .map_err(|e| e.to_string())?;
            if !(200..400).contains(&status) {
                return Err(format!(
                    "smoke test GET {path} through the public entry answered {status}"
                ));
            }
        }
        Ok(())
    }

    /// Analysis for `duration`: returns the trigger's reason if it fires. A streak of breaches
    /// under way when the time is up is followed to its end, so a breach on the last tick
    /// counts. A `Gate` that could judge nothing waits for traffic a while, then follows
    /// `on_inconclusive`; a `Guard` (the post-promotion watch) only looks for breaches.
    async fn watch(
        &mut self,
        version: &str,
        baseline: Option<&str>,
        duration: Duration,
        kind: Watch,
    ) -> Result<(), String> {
        let platform = self.platform;
        let probes = &self.config.probes;
        let probing = async {
            if probes.paths.is_empty() {
                return std::future::pending().await;
            }
            let pause = Duration::from_secs_f64(1.0 / probes.per_second);
            for path in probes.paths.iter().cycle() {
                // What a probe finds is in the proxy's window for the version, like any request.
                let _ = platform.probe_public(path, version).await;
                tokio::time::sleep(pause).await;
            }
        };
        tokio::select! {
            verdict = self.analyse(version, baseline, duration, kind) => verdict,
            () = probing => Ok(()),
        }
    }

    async fn analyse(
        &mut self,
        version: &str,
        baseline: Option<&str>,
        duration: Duration,
        kind: Watch,
    ) -> Result<(), String> {
        let config = self.config;
        let settings = &config.analysis;
        let deadline = Instant::now() + duration;
        let give_up = deadline + Duration::from_secs(settings.inconclusive_wait_seconds);
        let mut breaches = Breaches::default();
        loop {
            tokio::time::sleep(settings.interval().min(duration)).await;
            let fleet = self.platform.fleet().await.map_err(|e| e.to_string())?;
            let canary = self
                .platform
                .window(version, settings.window_seconds)
                .await
                .map_err(|e| e.to_string())?;
            let base = match baseline {
                Some(b) => Some(
                    self.platform
                        .window(b, settings.window_seconds)
                        .await
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let verdict = judge(settings, &fleet, version, &canary, base.as_ref());
            match &verdict {
                Verdict::Breach(v) => self.note(&format!("breach: {v}")),
                Verdict::Inconclusive(v) => self.note(&format!("inconclusive: {v}")),
                Verdict::Healthy => self.judged += 1,
            }
            if let Some(reason) = breaches.observe(&verdict, settings.consecutive_breaches) {
                return Err(reason);
            }
            let now = Instant::now();
            if now < deadline || breaches.pending() {
                continue;
            }
            if breaches.judged > 0 || kind == Watch::Guard {
                return Ok(());
            }
            if now >= give_up {
                let why = format!(
                    "the analysis of {version} was inconclusive: too few requests to judge in {:.0} s",
                    (duration + Duration::from_secs(settings.inconclusive_wait_seconds))
                        .as_secs_f64()
                );
                return match settings.on_inconclusive {
                    InconclusivePolicy::Fail => Err(why),
                    InconclusivePolicy::Proceed => {
                        self.warn(&format!("{why}; proceeding as configured"));
                        Ok(())
                    }
                };
            }
        }
    }

    /// Aborts: all traffic back on the old release's ready instances at once (the moment
    /// reported as the rollback), its fleet topped up where rolling had stopped some, and the
    /// new instances left to drain in the background so no request on the old release waits.
    async fn abort(
        &mut self,
        d: &Deploy,
        new_ids: &[String],
        old_ids: Vec<String>,
        reason: String,
    ) -> Stop {
        self.begin_step("rollback");
        self.enter(Phase::RollingBack);
        let Some(old_version) = d.old_version.clone() else {
            self.route_or_note(&[]).await;
            self.traffic_off();
            for id in new_ids {
                if let Err(e) = self.platform.retire(id).await {
                    self.note(&format!("could not retire {id}: {e}"));
                }
            }
            self.end_step("rollback", "no previous release: new instances retired");
            return Stop::RolledBack(format!(
                "{reason}; there was no previous release to return to"
            ));
        };
        let fleet = self.platform.fleet().await.ok();
        let ready_old = |id: &String| {
            fleet
                .as_ref()
                .is_none_or(|f| f.instances.iter().any(|i| &i.id == id && i.is_ready()))
        };
        let (ready, sick): (Vec<String>, Vec<String>) = old_ids.into_iter().partition(ready_old);
        let leaving: Vec<String> = new_ids.iter().cloned().chain(sick).collect();
        let release = d
            .old_release
            .clone()
            .unwrap_or_else(|| crate::state::release_path(&self.state_dir, &old_version));
        match self
            .restore(&old_version, &release, ready, &leaving, false)
            .await
        {
            Ok(serving) => self.end_step(
                "rollback",
                format!(
                    "all traffic back on {old_version} ({} instances) at {:.1} s; {} new instances draining",
                    serving.len(),
                    self.traffic_off_at.unwrap_or_default(),
                    new_ids.len()
                ),
            ),
            Err(e) => {
                self.end_step("rollback", format!("incomplete: {e}"));
                return Stop::Failed(format!("{reason}; and the rollback failed: {e}"));
            }
        }
        Stop::RolledBack(reason)
    }

    async fn route_or_note(&self, routes: &[Route]) {
        if let Err(e) = self.platform.route(routes).await {
            self.note(&format!("routing failed: {e}"));
        }
    }

    pub(super) async fn rolling(&mut self, d: &Deploy) -> Result<(), Stop> {
        self.begin_step("rolling");
        let n = self.config.instances as usize;
        let mut new_ids: Vec<String> = Vec::new();
        let mut remaining_old = d.old_ids.clone();
        // The last old instance keeps serving through the bake as the baseline slice.
        let keep =
            usize::from(d.old_version.is_some() && self.config.strategy.baseline_percent > 0);
        let settings_step =
            self.config.analysis.interval() * self.config.analysis.consecutive_breaches;
        for i in 0..n {
            self.enter(Phase::Rolling { index: i });
            // Surge first: the new instance is ready before an old one leaves.
            match self.start_fleet(d, 1).await {
                Ok(mut id) => new_ids.append(&mut id),
                Err(stop) if new_ids.is_empty() => return Err(stop),
                Err(
                    Stop::Failed(r) | Stop::TimedOut(r) | Stop::RolledBack(r) | Stop::Unchanged(r),
                ) => {
                    return Err(self.abort(d, &new_ids, remaining_old, r).await);
                }
            }
            let leaving = (remaining_old.len() > keep).then(|| remaining_old.remove(0));
            let mut routes = vec![route(&d.new_version, new_ids.len() as u32, &new_ids)];
            if let Some(old) = &d.old_version
                && !remaining_old.is_empty()
            {
                routes.push(route(old, remaining_old.len() as u32, &remaining_old));
            }
            self.platform.route(&routes).await?;
            self.traffic_on();
            if let Some(old) = leaving {
                self.platform.stop(&old).await?;
            }
            self.note(&format!(
                "step {}/{n}: {} new, {} old",
                i + 1,
                new_ids.len(),
                remaining_old.len()
            ));
            // While old instances still serve, they are the baseline on the same window.
            let baseline = d
                .old_version
                .as_deref()
                .filter(|_| !remaining_old.is_empty());
            if let Err(reason) = self
                .watch(&d.new_version, baseline, settings_step, Watch::Gate)
                .await
            {
                return Err(self.abort(d, &new_ids, remaining_old, reason).await);
            }
        }
        self.end_step("rolling", format!("{n} instances replaced one at a time"));
        self.bake_and_smoke(d, &new_ids, remaining_old).await
    }

    pub(super) async fn blue_green(&mut self, d: &Deploy) -> Result<(), Stop> {
        self.begin_step("green fleet");
        let green = self.start_fleet(d, self.config.instances).await?;
        if let Err(reason) = self.smoke_direct(&green).await {
            self.stop_all(&green).await;
            return Err(Stop::Failed(reason));
        }
        self.end_step(
            "green fleet",
            format!("{} instances ready, smoke tests passed", green.len()),
        );
        self.begin_step("switch");
        let routes = self.baked_routes(d, &green, &d.old_ids);
        self.platform.route(&routes).await?;
        self.traffic_on();
        self.end_step(
            "switch",
            match routes.get(1) {
                Some(old) if old.weight > 0 => format!(
                    "{}% on green, {}% on blue as the baseline",
                    routes[0].weight, old.weight
                ),
                _ => "100% on green".to_owned(),
            },
        );
        self.bake_and_smoke(d, &green, d.old_ids.clone()).await
    }

    pub(super) async fn canary(&mut self, d: &Deploy) -> Result<(), Stop> {
        self.begin_step("canary fleet");
        let canary = self.start_fleet(d, self.config.instances).await?;
        if let Err(reason) = self.smoke_direct(&canary).await {
            self.stop_all(&canary).await;
            return Err(Stop::Failed(reason));
        }
        self.end_step("canary fleet", format!("{} instances ready", canary.len()));
        let steps = self.config.strategy.canary_steps.clone();
        for (index, weight) in steps.into_iter().enumerate() {
            self.enter(Phase::Canary { index, weight });
            self.begin_step(&format!("canary {weight}%"));
            let mut routes = vec![route(&d.new_version, weight, &canary)];
            if let Some(old) = &d.old_version {
                routes.push(route(old, 100 - weight, &d.old_ids));
            }
            self.platform.route(&routes).await?;
            self.traffic_on();
            let baseline = d.old_version.as_deref().filter(|_| weight < 100);
            let step = self.config.strategy.canary_step();
            if let Err(reason) = self
                .watch(&d.new_version, baseline, step, Watch::Gate)
                .await
            {
                return Err(self
                    .abort(
                        d,
                        &canary,
                        d.old_ids.clone(),
                        format!("at {weight}%: {reason}"),
                    )
                    .await);
            }
            self.end_step(&format!("canary {weight}%"), "analysis passed");
        }
        self.post_promotion(d, &canary, d.old_ids.clone()).await
    }

    /// The routes of a bake: the new release with all traffic but the baseline slice, which
    /// the old release keeps (when there is one and the slice is configured).
    fn baked_routes(&self, d: &Deploy, new_ids: &[String], old_ids: &[String]) -> Vec<Route> {
        let slice = self.config.strategy.baseline_percent;
        match &d.old_version {
            Some(old) if slice > 0 && !old_ids.is_empty() => vec![
                route(&d.new_version, 100 - slice, new_ids),
                route(old, slice, old_ids),
            ],
            Some(old) => vec![route(&d.new_version, 100, new_ids), route(old, 0, old_ids)],
            None => vec![route(&d.new_version, 100, new_ids)],
        }
    }

    /// Public smoke tests and the bake under analysis, the old release keeping its baseline
    /// slice (when it still runs); then the post-promotion watch.
    async fn bake_and_smoke(
        &mut self,
        d: &Deploy,
        new_ids: &[String],
        warm_old: Vec<String>,
    ) -> Result<(), Stop> {
        self.enter(Phase::Bake);
        let routes = self.baked_routes(d, new_ids, &warm_old);
        let baseline = routes
            .get(1)
            .filter(|r| r.weight > 0)
            .map(|r| r.version.clone());
        self.platform.route(&routes).await?;
        self.begin_step("smoke tests");
        if let Err(reason) = self.smoke_public().await {
            return Err(self.abort(d, new_ids, warm_old, reason).await);
        }
        self.end_step(
            "smoke tests",
            format!("{} paths answered", self.config.smoke.paths.len()),
        );
        self.begin_step("bake");
        let bake = self.config.strategy.bake();
        if let Err(reason) = self
            .watch(&d.new_version, baseline.as_deref(), bake, Watch::Gate)
            .await
        {
            return Err(self
                .abort(d, new_ids, warm_old, format!("during the bake: {reason}"))
                .await);
        }
        self.end_step(
            "bake",
            format!(
                "{:.0} s under analysis{}, no trigger",
                bake.as_secs_f64(),
                baseline
                    .map(|b| format!(" against {b}"))
                    .unwrap_or_default()
            ),
        );
        self.post_promotion(d, new_ids, warm_old).await
    }

    /// All traffic on the new release, the old one kept warm for the scale-down delay while
    /// analysis goes on: a breach now still switches back at once. Then the old one retires.
    async fn post_promotion(
        &mut self,
        d: &Deploy,
        new_ids: &[String],
        warm_old: Vec<String>,
    ) -> Result<(), Stop> {
        let Some(old) = d.old_version.as_deref().filter(|_| !warm_old.is_empty()) else {
            return Ok(());
        };
        self.enter(Phase::PostPromotion);
        self.begin_step("scale-down delay");
        self.platform
            .route(&[
                route(&d.new_version, 100, new_ids),
                route(old, 0, &warm_old),
            ])
            .await?;
        let delay = self.config.strategy.scale_down_delay();
        if let Err(reason) = self.watch(&d.new_version, None, delay, Watch::Guard).await {
            return Err(self
                .abort(d, new_ids, warm_old, format!("after promotion: {reason}"))
                .await);
        }
        self.end_step(
            "scale-down delay",
            format!("{:.0} s with {old} warm, no trigger", delay.as_secs_f64()),
        );
        self.enter(Phase::Retiring);
        self.begin_step("retire old release");
        self.platform
            .route(&[route(&d.new_version, 100, new_ids)])
            .await?;
        for id in &warm_old {
            self.platform.stop(id).await?;
        }
        self.end_step(
            "retire old release",
            format!("{} instances drained and stopped", warm_old.len()),
        );
        Ok(())
    }
}

/// What a watch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// The release must pass it: too little traffic is inconclusive, never a pass.
    Gate,
    /// Once promoted: only a breach matters.
    Guard,
}
