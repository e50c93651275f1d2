//! Where apps run. A runtime converges one app on one revision at a time and
//! reports progress; it never calls back into the service layer.

pub mod kubernetes;
pub mod local;

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Serialize;

use crate::model::{AppFile, AppId, Stage, UserId};

/// Lines of an app's output.
pub type LogStream = std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>;

/// What should run: one revision of one app.
#[derive(Debug, Clone)]
pub struct Target {
    pub app_id: AppId,
    pub user_id: UserId,
    pub revision: u32,
    pub files: Vec<AppFile>,
    /// The public path prefix, `/user/{user_id}/app/{app_id}`, without a trailing slash.
    pub root_path: String,
}

/// Why a revision did not become healthy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct DeployFailure {
    pub reason: String,
    /// The last lines the app printed (a traceback, typically).
    pub output_tail: String,
}

impl DeployFailure {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            output_tail: String::new(),
        }
    }
}

/// Receives the runtime's stages (APPLYING, STARTING, HEALTH_CHECK) as they happen.
pub trait Progress: Send + Sync {
    fn stage(&self, stage: Stage, message: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Makes `target` serve. Returns once the new revision answers its health
    /// check and takes the traffic, or fails leaving the previous one serving.
    async fn deploy(&self, target: &Target, progress: &dyn Progress) -> Result<(), DeployFailure>;

    /// True when `target`'s revision is already running and serving.
    async fn is_running(&self, app_id: &str, revision: u32) -> bool;

    /// Stops the app and forgets it; its URL answers 404 afterwards.
    async fn remove(&self, app_id: &str) -> Result<(), RuntimeError>;

    /// True when apps here can sleep: stop when idle and start again, through
    /// `deploy`, on their next request (the embedded shape).
    fn sleeps(&self) -> bool {
        false
    }

    /// Stops the app's process but keeps its output for `logs`: the app
    /// sleeps. Only where `sleeps` is true.
    async fn stop(&self, _app_id: &str) -> Result<(), RuntimeError> {
        Err(RuntimeError::Unavailable(
            "apps do not sleep in this runtime".into(),
        ))
    }

    /// The app's output: the last `tail` lines, then with `follow` new ones
    /// until the app is removed or the receiver goes away.
    async fn logs(&self, app_id: &str, tail: usize, follow: bool) -> LogStream;

    /// How many apps serve right now.
    async fn running_apps(&self) -> usize;

    /// For the built-in gateway: where the app of this user answers now, or
    /// `None` when it does not (not deployed, another user's, or asleep).
    fn upstream(&self, _user_id: &str, _app_id: &str) -> Option<Upstream> {
        None
    }

    /// False while another control plane reconciles this runtime.
    async fn may_reconcile(&self) -> bool {
        true
    }

    /// Removes what runs for apps that are no longer in the store.
    async fn prune(&self, _keep: &std::collections::HashSet<String>) {}

    /// How apps are isolated and limited here, for `/healthz`; `None` where
    /// the runtime does not report it (a cluster's protections are in its
    /// objects: see docs/isolation.md).
    fn isolation(&self) -> Option<IsolationReport> {
        None
    }

    /// Stops everything this runtime started.
    async fn shutdown(&self);
}

/// Where the gateway forwards a request for an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// The Unix socket a local app serves HTTP on (see `local::app_uri`),
    /// with the app's prefix stripped.
    Socket(PathBuf),
    /// Traefik's entry point (e.g. `http://traefik.traefik:80`), full path
    /// kept: the control plane took a request for a sleeping cluster app as
    /// its activator, and passes it on now that the app's route is back.
    Cluster(String),
}

/// Set on every request the control plane sends through Traefik (a woken
/// app's first requests, READY's route probe). A request that arrives at
/// the gateway with it went round in a circle: Traefik still routes the app
/// to the activator. It is answered 503 at once, never woken or forwarded
/// again. A client that sends it only refuses its own wake.
pub const ACTIVATOR_LOOP_HEADER: &str = "gofast-activator";

/// The protections apps get from a runtime on this machine, as `/healthz`
/// reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IsolationReport {
    /// `bwrap`, or `none` when the operator turned the sandbox off.
    pub sandbox: &'static str,
    /// How apps start: `fork` (from a warm fork server) or `exec`.
    pub start: &'static str,
    /// The namespaces each app gets of its own.
    pub namespaces: Vec<&'static str>,
    pub network: &'static str,
    /// The syscall filter; `None` without a sandbox.
    pub seccomp: Option<SeccompReport>,
    pub inherited_fds: &'static str,
    pub output: OutputCaps,
    /// Whose uid apps run as: `per app`, or `the platform's`.
    pub app_user: &'static str,
    pub memory: Enforced<String>,
    pub cpu: CpuShare,
    pub tasks: Enforced<u64>,
    pub open_files: u64,
    pub file_size_bytes: u64,
    /// What is not protected here, one sentence each.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompReport {
    pub mode: &'static str,
    /// The denied syscalls, by name.
    pub denied: Vec<String>,
}

/// How much of an app's output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutputCaps {
    pub line_bytes: usize,
    pub kept_bytes: usize,
}

/// A limit and what enforces it (a cgroup controller, an rlimit, or `none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforced<T> {
    pub limit: T,
    pub enforced_by: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuShare {
    pub share: String,
    pub enforced_by: &'static str,
}
