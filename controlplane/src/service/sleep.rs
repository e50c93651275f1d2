//! Sleep and wake, where the runtime can (`Runtime::sleeps`): an app without
//! a request for `sleep_after` stops, and the store marks it sleeping. The
//! gateway asks `Platform::route` for every request; for a sleeping app that
//! holds the request while the app starts again — once, however many
//! requests wait — and then lets it through. A wake that fails is answered at
//! once for a few seconds, so a broken app cannot be made to start over and
//! over by its visitors.
//!
//! Which apps sleep is per replica: each one counts the requests it forwards.
//! In the cluster shape requests go through Traefik, not the control plane:
//! its counts arrive through `note_traffic`, and the control plane sees only
//! the requests to sleeping apps, whose routes point at it (the activator;
//! see `runtime::kubernetes::activator`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{FutureExt, future::Shared};
use tokio::time::Instant;
use tracing::{info, warn};

use super::{Platform, reconcile::serving_revision};
use crate::{
    model::{App, AppId, Stage, UserId},
    runtime::{Progress, Target, Upstream},
};

/// How long a failed wake is the answer before the next request tries again.
const RETRY_WAKE_AFTER: Duration = Duration::from_secs(5);
/// Requests that may wait for one app's wake; the next get
/// `RouteError::Waking` at once, so one app's visitors cannot hold every
/// connection the control plane has (in the cluster, all of them come from
/// Traefik).
const MAX_WAITING: usize = 64;
/// The longest a request waits for a wake; the wake goes on without it.
const MAX_WAIT: Duration = Duration::from_secs(90);

/// Why a request found no app to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No app of this user serves at this address.
    NotDeployed,
    /// The app sleeps and did not start again.
    WakeFailed { app: String, reason: String },
    /// The app is waking, and this request cannot wait for it: too many
    /// wait already, or the wake took longer than a request may wait.
    Waking,
}

/// Where to forward a request, and the mark that it is in flight (the app
/// does not sleep until it is dropped).
pub struct Routed {
    pub upstream: Upstream,
    pub in_flight: InFlight,
}

type Wake = Shared<futures::future::BoxFuture<'static, ()>>;

struct Entry {
    user_id: UserId,
    last_seen: Instant,
    in_flight: usize,
    /// Requests waiting for the wake (at most `MAX_WAITING`).
    waiting: usize,
    asleep: bool,
    /// The wake under way; requests that come meanwhile wait for it.
    waking: Option<Wake>,
    /// The last failed wake, answered until `RETRY_WAKE_AFTER` has passed.
    failed: Option<(Instant, RouteError)>,
}

impl Entry {
    fn new(user_id: &str) -> Self {
        Self {
            user_id: user_id.to_string(),
            last_seen: Instant::now(),
            in_flight: 0,
            waiting: 0,
            asleep: false,
            waking: None,
            failed: None,
        }
    }
}

#[derive(Default)]
pub(super) struct Sleepers {
    /// Each app's traffic on this replica, and whether it sleeps.
    apps: Arc<Mutex<HashMap<AppId, Entry>>>,
    /// The traffic that bypasses this replica (through Traefik) cannot be
    /// counted right now: no app is idle for sure, and none sleeps.
    uncounted: AtomicBool,
}

impl Sleepers {
    fn apps(&self) -> MutexGuard<'_, HashMap<AppId, Entry>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the app awake and just used (a deploy made it serve).
    pub(super) fn awake(&self, app_id: &str, user_id: &str) {
        let mut apps = self.apps();
        let e = apps
            .entry(app_id.to_string())
            .or_insert_with(|| Entry::new(user_id));
        e.asleep = false;
        e.failed = None;
        e.last_seen = Instant::now();
    }

    /// Marks an app that is not running here as asleep (after a restart, or
    /// when another replica put it to sleep).
    pub(super) fn asleep(&self, app_id: &str, user_id: &str) {
        self.apps()
            .entry(app_id.to_string())
            .or_insert_with(|| Entry::new(user_id))
            .asleep = true;
    }

    /// Lands a wake's outcome in the app's entry; false when the entry is
    /// gone (the app was deleted meanwhile).
    fn woke(&self, app_id: &str, outcome: Result<(), RouteError>, started: Instant) -> bool {
        let mut apps = self.apps();
        let Some(e) = apps.get_mut(app_id) else {
            return false;
        };
        e.waking = None;
        match outcome {
            Ok(()) => {
                info!(%app_id, ms = started.elapsed().as_millis() as u64, "woke");
                e.asleep = false;
                e.failed = None;
                e.last_seen = Instant::now();
            }
            Err(why) => {
                warn!(%app_id, ?why, "could not wake");
                e.failed = Some((Instant::now(), why));
            }
        }
        true
    }

    /// A count taken in the app's entry, which `release` gives back.
    fn counted(&self, app_id: &str, release: fn(&mut Entry)) -> Counted {
        Counted {
            apps: self.apps.clone(),
            app_id: app_id.to_string(),
            release,
        }
    }

    pub(super) fn forget(&self, app_id: &str) {
        self.apps().remove(app_id);
    }

    /// Requests reached the app without passing here (through Traefik).
    fn seen(&self, app_id: &str) {
        if let Some(e) = self.apps().get_mut(app_id) {
            e.last_seen = Instant::now();
        }
    }

    /// True, with the app now marked asleep, when nothing is in flight and
    /// nothing came for `after`. An app seen for the first time starts its
    /// idle time now.
    fn begin_sleep(&self, app: &App, after: Duration) -> bool {
        let mut apps = self.apps();
        let e = apps
            .entry(app.id.clone())
            .or_insert_with(|| Entry::new(&app.user_id));
        if e.asleep || e.in_flight > 0 || e.last_seen.elapsed() < after {
            return false;
        }
        if self.uncounted.load(Ordering::Relaxed) {
            // Uncounted traffic may be going on: this is no time to sleep.
            e.last_seen = Instant::now();
            return false;
        }
        e.asleep = true;
        true
    }
}

/// A request counted in its app's entry (in flight, or waiting for a wake);
/// dropping it gives the count back.
pub struct Counted {
    apps: Arc<Mutex<HashMap<AppId, Entry>>>,
    app_id: AppId,
    release: fn(&mut Entry),
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut apps = self.apps.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = apps.get_mut(&self.app_id) {
            (self.release)(e);
        }
    }
}

/// Held while a request is with the app: the app stays awake, and its idle
/// time starts again when the request ends.
pub type InFlight = Counted;

/// A wake reports no stages: it is not a deploy.
struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: Stage, _: &str) {}
}

enum Step {
    Serve(Routed),
    /// The wake to wait for, and this request's place among its waiters.
    Wait(Wake, Counted),
    Refuse(RouteError),
}

impl Platform {
    /// Where to forward a request for this user's app, waking the app first
    /// if it sleeps.
    pub async fn route(
        self: &Arc<Self>,
        user_id: &str,
        app_id: &str,
    ) -> Result<Routed, RouteError> {
        // A wake ends with the app awake or failed, so the second look serves
        // or refuses; the third is only for a wake that raced a sleep.
        let mut asked_store = false;
        for _ in 0..3 {
            match self.route_step(user_id, app_id) {
                Step::Serve(routed) => return Ok(routed),
                Step::Refuse(RouteError::NotDeployed) if !asked_store && self.runtime.sleeps() => {
                    // Asleep before this replica knew of it (a restart, or
                    // another replica put it to sleep): the store says.
                    asked_store = true;
                    if !self.sleeps_in_store(user_id, app_id).await {
                        return Err(RouteError::NotDeployed);
                    }
                    self.sleepers.asleep(app_id, user_id);
                }
                Step::Refuse(e) => return Err(e),
                Step::Wait(wake, _waiting) => {
                    if tokio::time::timeout(MAX_WAIT, wake).await.is_err() {
                        return Err(RouteError::Waking);
                    }
                }
            }
        }
        Err(RouteError::NotDeployed)
    }

    async fn sleeps_in_store(&self, user_id: &str, app_id: &str) -> bool {
        match self.store.app_by_id(app_id).await {
            Ok(Some(app)) => app.user_id == user_id && app.sleeping,
            _ => false,
        }
    }

    /// Whether the requests that reach apps without passing here (Traefik's
    /// counts) can be read now. While they cannot, no app sleeps, and an
    /// app's idle time starts again once they can.
    pub fn traffic_counted(&self, counted: bool) {
        self.sleepers.uncounted.store(!counted, Ordering::Relaxed);
    }

    /// Requests reached the app through Traefik (the cluster shape): it is
    /// in use, neither idle nor sleepy.
    pub async fn note_traffic(&self, app_id: &str) {
        self.sleepers.seen(app_id);
        if let Err(e) = self.record_activity(app_id).await {
            warn!(%app_id, error = %e, "could not note an app's activity");
        }
    }

    fn route_step(self: &Arc<Self>, user_id: &str, app_id: &str) -> Step {
        let mut apps = self.sleepers.apps();
        if let Some(e) = apps.get_mut(app_id).filter(|e| e.asleep) {
            if e.user_id != user_id {
                return Step::Refuse(RouteError::NotDeployed);
            }
            if let Some((at, why)) = &e.failed
                && at.elapsed() < RETRY_WAKE_AFTER
            {
                return Step::Refuse(why.clone());
            }
            if e.waiting >= MAX_WAITING {
                return Step::Refuse(RouteError::Waking);
            }
            e.waiting += 1;
            let wake = e
                .waking
                .get_or_insert_with(|| self.spawn_wake(app_id))
                .clone();
            let waiting = self.sleepers.counted(app_id, |e| {
                e.waiting = e.waiting.saturating_sub(1);
            });
            return Step::Wait(wake, waiting);
        }
        // Under the lock, so that a sweep sees this request in flight.
        let Some(upstream) = self.runtime.upstream(user_id, app_id) else {
            return Step::Refuse(RouteError::NotDeployed);
        };
        let e = apps
            .entry(app_id.to_string())
            .or_insert_with(|| Entry::new(user_id));
        e.in_flight += 1;
        e.last_seen = Instant::now();
        Step::Serve(Routed {
            upstream,
            in_flight: self.sleepers.counted(app_id, |e| {
                e.in_flight = e.in_flight.saturating_sub(1);
                e.last_seen = Instant::now();
            }),
        })
    }

    /// Starts the app in a task of its own, so that it finishes even if
    /// every waiting request goes away; the result lands in its entry.
    fn spawn_wake(self: &Arc<Self>, app_id: &str) -> Wake {
        let (this, app_id) = (self.clone(), app_id.to_string());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let outcome = this.wake(&app_id).await;
            if !this.sleepers.woke(&app_id, outcome, started) {
                // Deleted meanwhile: the delete found nothing running yet,
                // so what the wake started would outlive the app.
                if let Err(e) = this.runtime.remove(&app_id).await {
                    warn!(%app_id, error = %e, "could not remove a deleted app's wake");
                }
            }
        });
        task.map(|_| ()).boxed().shared()
    }

    /// Starts the revision that should serve, unless a deploy did already.
    /// While the store says asleep it always starts it: a sleep that failed
    /// halfway may leave it running but unreachable (in the cluster, its
    /// route at the activator), and a deploy puts every piece back.
    async fn wake(&self, app_id: &str) -> Result<(), RouteError> {
        let lock = self.locks.lock_for(app_id);
        let _one_at_a_time = lock.lock().await;
        let failed = |app: &str, reason: String| RouteError::WakeFailed {
            app: app.to_string(),
            reason,
        };
        let app = match self.store.app_by_id(app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return Err(RouteError::NotDeployed),
            Err(e) => return Err(failed(app_id, format!("the store did not answer: {e}"))),
        };
        let revision = serving_revision(&app);
        if revision == 0 {
            return Err(RouteError::NotDeployed);
        }
        if app.sleeping || !self.runtime.is_running(app_id, revision).await {
            let files = match self.store.revision(app_id, revision).await {
                Ok(Some(r)) => r.files,
                Ok(None) => return Err(failed(&app.name, format!("revision {revision} is gone"))),
                Err(e) => return Err(failed(&app.name, format!("the store did not answer: {e}"))),
            };
            let target = Target {
                app_id: app_id.to_string(),
                user_id: app.user_id.clone(),
                revision,
                files,
                root_path: Self::root_path(&app.user_id, app_id),
            };
            self.runtime
                .deploy(&target, &Quiet)
                .await
                .map_err(|f| failed(&app.name, f.reason))?;
        }
        if app.sleeping
            && let Err(e) = self.store.set_sleeping(app_id, false).await
        {
            warn!(%app_id, error = %e, "could not record the wake");
        }
        Ok(())
    }

    /// Puts the app to sleep if it may and has been idle long enough. Holds
    /// the app's deploy lock while it stops, so a wake or a deploy waits for
    /// the process to be gone.
    pub(super) async fn sleep_if_idle(&self, app: &App) {
        let Some(after) = self.settings.sleep_after else {
            return;
        };
        if !self.runtime.sleeps() {
            return;
        }
        let lock = self.locks.lock_for(&app.id);
        let Ok(_no_deploy) = lock.try_lock() else {
            return;
        };
        // The pass's snapshot may be old: another replica may have begun a
        // deploy since (the lock above covers only this one's).
        match self.store.app_by_id(&app.id).await {
            Ok(Some(now))
                if now.revision == app.revision && now.status.is_terminal() && !now.sleeping => {}
            _ => return,
        }
        if !self.sleepers.begin_sleep(app, after) {
            return;
        }
        info!(app_id = %app.id, idle_seconds = after.as_secs(), "putting an idle app to sleep");
        if let Err(e) = self.store.set_sleeping(&app.id, true).await {
            warn!(app_id = %app.id, error = %e, "could not record the sleep");
        }
        if let Err(e) = self.runtime.stop(&app.id).await {
            warn!(app_id = %app.id, error = %e, "could not stop the app");
        }
    }
}
