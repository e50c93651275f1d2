//! Level-triggered convergence: the store says what should run; the loop
//! makes the runtime match it, at start (bringing every app back after a
//! restart) and then periodically (restarting crashed apps with backoff,
//! removing idle apps), and finishing deploys whose replica stopped mid-way.
//! Under the Kubernetes runtime only the Lease holder runs it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use time::OffsetDateTime;
use tokio::{task::JoinHandle, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{
    Platform,
    deploys::{CLAIM_FOR, Reason},
};
use crate::model::{App, Stage};

/// When each crashed app may be restarted next. Kept here rather than in a
/// retry loop (`backon::Retryable`) because the attempts are passes of the
/// reconciler, minutes apart and interleaved with other apps: the state must
/// outlive each attempt. backon still makes the sequence of waits.
#[derive(Default)]
pub(super) struct Backoff(Mutex<HashMap<String, (ExponentialBackoff, Instant)>>);

/// Waits between restarts of a crashing app: 1 s, 2 s, 4 s, ... up to a minute.
fn restart_waits() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(60))
        .without_max_times()
        .build()
}

impl Backoff {
    /// True if the app may be restarted now; counts the attempt.
    fn attempt(&self, app_id: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (waits, next) = map
            .entry(app_id.to_string())
            .or_insert_with(|| (restart_waits(), now));
        if now < *next {
            return false;
        }
        *next = now + waits.next().unwrap_or(Duration::from_secs(60));
        true
    }

    fn reset(&self, app_id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app_id);
    }
}

/// The revision that should be serving: the desired one, unless its deploy
/// failed, in which case the last one that was READY.
pub(super) fn serving_revision(app: &App) -> u32 {
    if app.status == Stage::Failed {
        app.live_revision
    } else {
        app.revision
    }
}

impl Platform {
    /// Runs the loop until `shutdown`; the first pass happens at once.
    pub fn spawn_reconciler(self: &Arc<Self>, shutdown: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                this.reconcile_once().await;
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(this.settings.reconcile_every) => {}
                }
            }
        });
    }

    /// One pass; returns the deploys it started, for callers that wait for
    /// them (tests: the loop does not, so that one slow start never holds up
    /// the next pass).
    pub async fn reconcile_once(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let mut started = Vec::new();
        if !self.runtime.may_reconcile().await {
            return started;
        }
        let apps = match self.store.all_apps().await {
            Ok(apps) => apps,
            Err(e) => {
                warn!(error = %e, "reconcile: cannot list apps");
                return started;
            }
        };
        let keep = apps.iter().map(|a| a.id.clone()).collect();
        self.runtime.prune(&keep).await;
        let now = OffsetDateTime::now_utc();
        for app in apps {
            let idle = now - app.last_activity_at;
            if idle > self.settings.idle_lifetime {
                info!(app_id = %app.id, idle_hours = idle.whole_hours(), "removing idle app");
                if let Err(e) = self.delete_app_by_id(&app.id).await {
                    warn!(app_id = %app.id, error = %e, "could not remove idle app");
                }
                continue;
            }
            if self.locks.busy(&app.id) {
                continue;
            }
            if app.revision > 0 && !app.status.is_terminal() {
                // A deploy under way here or on another replica, unless its
                // claim lapsed: then its replica stopped, and it is ours to finish.
                if self.is_abandoned(&app, now).await {
                    info!(app_id = %app.id, revision = app.revision, "finishing an abandoned deploy");
                    started.push(self.spawn_deploy(app.id.clone(), app.revision, Reason::Finish));
                }
                continue;
            }
            let revision = serving_revision(&app);
            if revision == 0 {
                continue;
            }
            let running = self.runtime.is_running(&app.id, revision).await;
            if app.sleeping {
                // It starts on its next request, not here.
                if !running {
                    self.sleepers.asleep(&app.id, &app.user_id);
                }
                continue;
            }
            if running {
                self.backoff.reset(&app.id);
                self.sleep_if_idle(&app).await;
                continue;
            }
            if self.backoff.attempt(&app.id) {
                info!(app_id = %app.id, revision, "starting app to match the store");
                started.push(self.spawn_deploy(app.id.clone(), revision, Reason::Converge));
            }
        }
        started
    }
}

impl Platform {
    /// True when no live replica claims the deploy of the app's desired
    /// revision (this one runs none: the caller checked). A revision stored
    /// moments ago may not be claimed yet: it gets a claim's lifetime. (Its
    /// own claims count here too: one is written before the deploy's lock.)
    async fn is_abandoned(&self, app: &App, now: OffsetDateTime) -> bool {
        let unclaimed_too_long = now - app.updated_at > CLAIM_FOR;
        match self.store.deploy_claim(&app.id).await {
            Ok(Some(claim)) if claim.revision == app.revision => claim.deadline <= now,
            Ok(_) => unclaimed_too_long,
            Err(e) => {
                warn!(app_id = %app.id, error = %e, "reconcile: cannot read the deploy claim");
                false
            }
        }
    }
}
