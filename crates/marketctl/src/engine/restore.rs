//! The one way traffic goes back to a release: a deploy's abort, `marketctl rollback`, and the
//! reconciling of an interrupted deploy all put traffic on the target's ready instances first,
//! then top its fleet up, then let everything else drain in the background.

use super::{Engine, Outcome, Report};
use crate::platform::{Platform, Route};
use crate::state::{Action, Ended, History, Lock, Phase, Record, now, release_path};
use std::path::Path;

/// Why a rollback was refused before it wrote or changed anything.
#[derive(Debug, thiserror::Error)]
pub enum RollbackRefused {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

impl RollbackRefused {
    /// A mistake in the command line (an unknown version): the usage exit code.
    pub fn is_usage(&self) -> bool {
        matches!(self, RollbackRefused::Usage(_))
    }
}

impl<P: Platform> Engine<'_, P> {
    /// Puts all traffic on `version`: at once on its `ready` instances (the moment the rollback
    /// counts as done), then on a full fleet once replacements are ready; every instance in
    /// `leaving` is then retired, draining in the background (`drain_now` waits for them, for
    /// instances that take no traffic and have nothing to drain).
    pub(super) async fn restore(
        &mut self,
        version: &str,
        release: &Path,
        ready: Vec<String>,
        leaving: &[String],
        drain_now: bool,
    ) -> Result<Vec<String>, String> {
        let mut serving = ready;
        let route_all = |ids: &[String]| {
            vec![Route {
                version: version.to_owned(),
                weight: 100,
                instances: ids.to_vec(),
            }]
        };
        if !serving.is_empty() {
            self.platform
                .route(&route_all(&serving))
                .await
                .map_err(|e| e.to_string())?;
            self.traffic_off();
        }
        let missing = (self.config.instances as usize).saturating_sub(serving.len());
        if missing > 0 {
            if !release.exists() {
                let why = format!("release {version} is not stored at {}", release.display());
                if serving.is_empty() {
                    return Err(why);
                }
                self.note(&format!("cannot top {version} up: {why}"));
            } else {
                let mut started = Vec::new();
                for _ in 0..missing {
                    match self.platform.start(version, release).await {
                        Ok(id) => started.push(id),
                        Err(e) => self.note(&format!("could not start a {version}: {e}")),
                    }
                }
                match self
                    .platform
                    .wait_ready(&started, self.config.strategy.readiness())
                    .await
                {
                    Ok(()) => {
                        serving.extend(started);
                        self.platform
                            .route(&route_all(&serving))
                            .await
                            .map_err(|e| e.to_string())?;
                        self.traffic_off();
                    }
                    Err(e) => {
                        for id in &started {
                            let _ = self.platform.retire(id).await;
                        }
                        if serving.is_empty() {
                            return Err(format!("no {version} instance became ready: {e}"));
                        }
                        self.note(&format!(
                            "{version} serves on {} instances: replacements failed ({e})",
                            serving.len()
                        ));
                    }
                }
            }
        }
        for id in leaving {
            let result = if drain_now {
                self.platform.stop(id).await
            } else {
                self.platform.retire(id).await
            };
            if let Err(e) = result {
                self.note(&format!("could not retire {id}: {e}"));
            }
        }
        Ok(serving)
    }

    /// `marketctl rollback`: to `to`, or to the last known-good release. Everything that can
    /// be refused is refused before the lock is taken or the history written.
    pub async fn rollback(mut self, to: Option<String>) -> Result<Report, RollbackRefused> {
        let other = |e: &dyn std::fmt::Display| RollbackRefused::Other(e.to_string());
        let history = History::open(&self.state_dir).map_err(|e| other(&e))?;
        let fleet = self.platform.fleet().await.map_err(|e| other(&e))?;
        let live = fleet.live_version().map(str::to_owned);
        let known = history.versions().map_err(|e| other(&e))?;
        let target = match to {
            Some(version) => {
                if !known.contains(&version) {
                    return Err(RollbackRefused::Usage(format!(
                        "{version:?} was never deployed to {}; its releases are: {}",
                        self.environment,
                        if known.is_empty() {
                            "none yet".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
                if !release_path(&self.state_dir, &version).exists() {
                    return Err(RollbackRefused::Other(format!(
                        "the release of {version} is no longer stored in {}",
                        self.state_dir.display()
                    )));
                }
                version
            }
            None => history
                .last_known_good(live.as_deref())
                .map_err(|e| other(&e))?
                .ok_or_else(|| {
                    RollbackRefused::Other(
                        "no known-good release to return to: a release becomes known-good by \
                         passing analysis with enough traffic, or by serving without a breach; \
                         name one with --to VERSION (see `marketctl history`)"
                            .into(),
                    )
                })?,
        };
        if live.as_deref() == Some(target.as_str()) {
            return Ok(self.report(
                None,
                live.clone(),
                Some(target.clone()),
                Outcome::Unchanged(format!("{target} is already live")),
            ));
        }
        let lock = match Lock::acquire(&self.state_dir) {
            Ok((lock, _)) => lock,
            Err(e) => return Err(other(&e)),
        };
        self.history = Some(history);
        self.record = Some(Record {
            from_version: live.clone(),
            ..Record::new(&self.environment, Action::Rollback, &target)
        });
        self.enter(Phase::RollingBack);
        self.begin_step("rollback");
        let (ready, leaving) = fleet.split(&target);
        let release = release_path(&self.state_dir, &target);
        let outcome = match self
            .restore(&target, &release, ready, &leaving, false)
            .await
        {
            Ok(serving) => {
                self.end_step(
                    "rollback",
                    format!(
                        "all traffic on {target} ({} instances); {} others draining",
                        serving.len(),
                        leaving.len()
                    ),
                );
                Outcome::Deployed
            }
            Err(e) => {
                self.end_step("rollback", format!("failed: {e}"));
                Outcome::Failed(e)
            }
        };
        self.finish(&outcome, None);
        self.mark(crate::state::Action::Rollback, &outcome, Some(&target))
            .await;
        if outcome == Outcome::Deployed {
            self.settle_interrupted(&target);
        }
        drop(lock);
        Ok(self.report(None, live, Some(target), outcome))
    }

    /// After a rollback left one version live and nothing else, any deploy still marked as
    /// running was interrupted and is now settled.
    fn settle_interrupted(&self, target: &str) {
        let Some(history) = &self.history else { return };
        let Ok(records) = history.records() else {
            return;
        };
        for mut r in records.into_iter().filter(|r| r.outcome.is_none()) {
            r.finished_at = Some(now());
            r.outcome = Some(Ended::Failed);
            r.phase = Some(Phase::Done);
            r.reason = Some(format!(
                "interrupted: marketctl stopped mid-deploy; reconciled by rollback to {target}"
            ));
            if let Err(e) = history.append(&r) {
                self.note(&format!("could not settle {}: {e}", r.id));
            }
        }
    }
}
