//! A runtime for the service layer's scenario tests. It runs no process, but
//! keeps the promises of the `Runtime` trait that the service layer relies on:
//! a start reports its stages, becomes the serving revision only when healthy,
//! leaves the previous revision serving when it fails, and stops whatever it
//! had started when its future is dropped. The real runtime is tested against
//! the same rules end to end (cli/tests).
//!
//! How a revision behaves is written in its code, as with real apps: a line
//! `# fake: waits`, `# fake: exits` or `# fake: hangs` (see [`Plan`]).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::watch;

use crate::{
    model::{AppId, Stage},
    runtime::{DeployFailure, LogStream, Progress, Runtime, RuntimeError, Target},
};

/// What a start of a revision does, from the `# fake: ...` line of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Healthy at once (no marker).
    Starts,
    /// Stays in STARTING until the start is dropped (superseded, deleted).
    Waits,
    /// Exits during import, with a traceback.
    Exits,
    /// Never answers its health check: fails after the start timeout.
    Hangs,
}

fn plan_of(target: &Target) -> Plan {
    let code: String = target.files.iter().map(|f| f.content.as_str()).collect();
    match code.lines().find_map(|l| l.trim().strip_prefix("# fake: ")) {
        Some("waits") => Plan::Waits,
        Some("exits") => Plan::Exits,
        Some("hangs") => Plan::Hangs,
        _ => Plan::Starts,
    }
}

/// What the fake runs, as tests see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Running {
    /// The revision each app serves.
    pub serving: HashMap<AppId, u32>,
    /// Starts under way (not yet healthy, failed or dropped).
    pub starting: HashSet<(AppId, u32)>,
    /// Every start ever begun, in order.
    pub starts: Vec<(AppId, u32)>,
    /// Whose each app is, for `upstream`.
    pub owners: HashMap<AppId, String>,
}

pub struct FakeRuntime {
    state: watch::Sender<Running>,
    start_timeout: Duration,
    /// Whatever the code says, starts take this long, then fail if `broken`:
    /// a machine where starting apps has become slow or impossible.
    start_delay: std::sync::Mutex<Duration>,
    broken: std::sync::atomic::AtomicBool,
    /// Stops fail halfway: the app keeps running (as when the cluster took
    /// the route patch but not the one to zero replicas).
    stops_fail: std::sync::atomic::AtomicBool,
}

/// Forgets a start when its future ends, however it ends (dropped too).
struct StartGuard<'a> {
    fake: &'a FakeRuntime,
    key: (AppId, u32),
}

impl Drop for StartGuard<'_> {
    fn drop(&mut self) {
        self.fake.state.send_modify(|s| {
            s.starting.remove(&self.key);
        });
    }
}

impl FakeRuntime {
    pub fn new(start_timeout: Duration) -> Self {
        Self {
            state: watch::channel(Running::default()).0,
            start_timeout,
            start_delay: Default::default(),
            broken: Default::default(),
            stops_fail: Default::default(),
        }
    }

    /// Every start from now on takes `delay` more.
    pub fn delay_starts(&self, delay: Duration) {
        *self.start_delay.lock().unwrap() = delay;
    }

    /// Every start from now on fails (or works again).
    pub fn break_starts(&self, broken: bool) {
        self.broken
            .store(broken, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every stop from now on fails halfway (see `stops_fail`).
    pub fn break_stops(&self) {
        self.stops_fail
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every app's process dies at once, as when the fork server they came
    /// from crashes.
    pub fn crash_all(&self) {
        self.state.send_modify(|s| s.serving.clear());
    }

    pub fn running(&self) -> Running {
        self.state.borrow().clone()
    }

    pub fn serving(&self, app_id: &str) -> Option<u32> {
        self.state.borrow().serving.get(app_id).copied()
    }

    /// How many starts of this revision of the app have begun.
    pub fn starts_of(&self, app_id: &str, revision: u32) -> usize {
        let key = (app_id.to_string(), revision);
        self.state
            .borrow()
            .starts
            .iter()
            .filter(|s| **s == key)
            .count()
    }

    /// An app left serving by an earlier control plane, as the cluster shape
    /// keeps apps running across restarts of the control plane.
    pub fn adopt(&self, app_id: &str, revision: u32) {
        self.state.send_modify(|s| {
            s.serving.insert(app_id.to_string(), revision);
        });
    }

    /// The app's process dies: it no longer serves.
    pub fn crash(&self, app_id: &str) {
        self.state.send_modify(|s| {
            s.serving.remove(app_id);
        });
    }

    /// Waits until `ready` holds of what runs. Under a paused clock the
    /// caller's timeout passes in no real time, so a rule that is broken fails
    /// the test at once instead of hanging it.
    pub async fn until(&self, what: &str, ready: impl Fn(&Running) -> bool) {
        let mut rx = self.state.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(600), rx.wait_for(|s| ready(s)));
        if waited.await.is_err() {
            panic!("never happened: {what}; running: {:?}", self.running());
        }
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn deploy(&self, target: &Target, progress: &dyn Progress) -> Result<(), DeployFailure> {
        let key = (target.app_id.clone(), target.revision);
        progress.stage(Stage::Applying, "writing 1 file(s)");
        self.state.send_modify(|s| {
            s.starting.insert(key.clone());
            s.starts.push(key.clone());
            s.owners
                .insert(target.app_id.clone(), target.user_id.clone());
        });
        let _guard = StartGuard { fake: self, key };
        progress.stage(Stage::Starting, "starting the app");
        let delay = *self.start_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(DeployFailure::new("the app's process could not start"));
        }
        match plan_of(target) {
            Plan::Starts => {}
            Plan::Waits => std::future::pending().await,
            Plan::Exits => {
                return Err(DeployFailure {
                    reason: "the app exited with code 1 while starting".into(),
                    output_tail:
                        "Traceback (most recent call last):\nNameError: name 'x' is not defined"
                            .into(),
                });
            }
            Plan::Hangs => {
                progress.stage(Stage::HealthCheck, "waiting for /health");
                tokio::time::sleep(self.start_timeout).await;
                return Err(DeployFailure::new(format!(
                    "the app did not answer /health within {}s",
                    self.start_timeout.as_secs()
                )));
            }
        }
        progress.stage(Stage::HealthCheck, "waiting for /health");
        // The switch: the new revision serves, the old one is stopped.
        self.state.send_modify(|s| {
            s.serving.insert(target.app_id.clone(), target.revision);
        });
        Ok(())
    }

    async fn is_running(&self, app_id: &str, revision: u32) -> bool {
        self.serving(app_id) == Some(revision)
    }

    async fn remove(&self, app_id: &str) -> Result<(), RuntimeError> {
        self.crash(app_id);
        Ok(())
    }

    fn sleeps(&self) -> bool {
        true
    }

    async fn stop(&self, app_id: &str) -> Result<(), RuntimeError> {
        if self.stops_fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(RuntimeError::Unavailable("the stop failed halfway".into()));
        }
        self.crash(app_id);
        Ok(())
    }

    /// A made-up socket naming the app and the revision it serves.
    fn upstream(&self, user_id: &str, app_id: &str) -> Option<crate::runtime::Upstream> {
        let s = self.state.borrow();
        let revision = s.serving.get(app_id)?;
        (s.owners.get(app_id)? == user_id)
            .then(|| crate::runtime::Upstream::Socket(format!("/fake/{app_id}/{revision}").into()))
    }

    async fn logs(&self, _app_id: &str, _tail: usize, _follow: bool) -> LogStream {
        Box::pin(futures::stream::empty())
    }

    async fn running_apps(&self) -> usize {
        self.state.borrow().serving.len()
    }

    async fn shutdown(&self) {
        self.state.send_modify(|s| s.serving.clear());
    }
}
