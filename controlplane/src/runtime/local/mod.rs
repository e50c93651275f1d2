//! The embedded runtime: each app is one runner process serving on a Unix
//! socket, reached through the control plane's gateway. A new revision starts beside
//! the old one and takes the route only once it is healthy, so an update
//! never drops a request and a broken revision never replaces a working one.

mod cgroup;
mod forkserver;
mod health;
mod isolation;
mod limits;
mod output;
mod process;
mod python;
mod sandbox;
mod seccomp;

pub use isolation::Isolation;
pub use limits::Limits;
pub use python::{PythonEnv, PythonSetup};
pub use sandbox::BWRAP_ENV;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use hyperlocal::UnixConnector;

use self::{
    output::OutputLog,
    process::{AppProcess, Launch, describe_exit},
};
use futures::StreamExt;

use super::{DeployFailure, LogStream, Progress, Runtime, RuntimeError, Target, Upstream};
use crate::model::{AppId, Stage, UserId};

/// How many lines of output a failed deploy shows.
const FAILURE_TAIL_LINES: usize = 30;

#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Each app's files live below `apps_dir/{app_id}/`.
    pub apps_dir: PathBuf,
    /// How long a new revision has to answer `/health`.
    pub start_timeout: Duration,
    /// How long a stopping app has between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
}

struct Route {
    user_id: UserId,
    socket: PathBuf,
}

/// The URI of `path_and_query` on the app serving at `socket`, for a hyper
/// client with `hyperlocal`'s `UnixConnector` (the socket's path, hex-encoded,
/// is the authority, so each app has a connection pool of its own).
pub fn app_uri(socket: &Path, path_and_query: &str) -> Result<hyper::Uri, hyper::http::Error> {
    use std::os::unix::ffi::OsStrExt;
    hyper::Uri::builder()
        .scheme("unix")
        .authority(format!("{}:0", hex::encode(socket.as_os_str().as_bytes())))
        .path_and_query(path_and_query)
        .build()
}

pub struct LocalRuntime {
    env: PythonEnv,
    settings: LocalSettings,
    isolation: Isolation,
    serving: tokio::sync::Mutex<HashMap<AppId, AppProcess>>,
    /// Read by the gateway on every request, so a plain lock, held briefly.
    routes: RwLock<HashMap<AppId, Route>>,
    logs: Mutex<HashMap<AppId, Arc<OutputLog>>>,
    http: Client<UnixConnector, Empty<Bytes>>,
    /// Cancelled when the platform stops: starts in flight give up.
    closing: tokio_util::sync::CancellationToken,
    /// Held (shared) by every start in flight; `shutdown` takes it whole to
    /// wait for them, so no app process outlives the platform.
    starts: tokio::sync::RwLock<()>,
}

impl LocalRuntime {
    pub fn new(env: PythonEnv, settings: LocalSettings, isolation: Isolation) -> Self {
        Self {
            env,
            settings,
            isolation,
            serving: Default::default(),
            routes: Default::default(),
            logs: Default::default(),
            http: Client::builder(TokioExecutor::new()).build(UnixConnector),
            closing: Default::default(),
            starts: Default::default(),
        }
    }

    fn log_of(&self, app_id: &str) -> Arc<OutputLog> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry(app_id.to_string()).or_default().clone()
    }

    async fn write_files(&self, target: &Target) -> Result<PathBuf, DeployFailure> {
        let dir = self.settings.apps_dir.join(&target.app_id).join(format!(
            "r{}-{}",
            target.revision,
            crate::ids::new_id(6)
        ));
        let fail =
            |e: std::io::Error| DeployFailure::new(format!("could not write the app's files: {e}"));
        tokio::fs::create_dir_all(&dir).await.map_err(fail)?;
        for f in &target.files {
            // Names were validated as plain file names; refuse anything else here too.
            if f.name.contains('/') || f.name.starts_with('.') {
                return Err(DeployFailure::new(format!(
                    "refusing file name {:?}",
                    f.name
                )));
            }
            tokio::fs::write(dir.join(&f.name), &f.content)
                .await
                .map_err(fail)?;
            readable(&dir.join(&f.name), 0o644).await.map_err(fail)?;
        }
        // The app may run as a uid of its own: it must read its files
        // whatever the umask. The 0700 data dir keeps everyone else out.
        readable(&dir, 0o755).await.map_err(fail)?;
        Ok(dir)
    }

    /// Waits until `/health` answers 200, the process exits, or time runs out;
    /// a redirect or a 4xx fails at once, with what the app answered.
    async fn health_check(&self, proc: &AppProcess, log: &OutputLog) -> Result<(), DeployFailure> {
        let uri = app_uri(&proc.socket, "/health")
            .map_err(|_| DeployFailure::new("bad health-check address"))?;
        let tail = || {
            log.tail_since(proc.output_mark, FAILURE_TAIL_LINES)
                .join("\n")
        };
        tokio::select! {
            answer = health::wait_healthy(&self.http, &uri) => answer.map_err(|reason| DeployFailure {
                reason,
                output_tail: tail(),
            }),
            _ = self.closing.cancelled() => Err(DeployFailure::new("the platform is stopping")),
            exit = proc.exited() => Err(DeployFailure {
                reason: if exit.out_of_memory {
                    self.isolation.limits.memory_failure()
                } else {
                    let sandboxed = self.isolation.sandbox.is_some();
                    format!("the app {} while starting", describe_exit(exit.status, sandboxed))
                },
                output_tail: tail(),
            }),
            _ = tokio::time::sleep(self.settings.start_timeout) => Err(DeployFailure {
                reason: format!(
                    "the app did not answer /health within {}s",
                    self.settings.start_timeout.as_secs()
                ),
                output_tail: tail(),
            }),
        }
    }
}

async fn readable(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await
}

#[async_trait]
impl Runtime for LocalRuntime {
    async fn deploy(&self, target: &Target, progress: &dyn Progress) -> Result<(), DeployFailure> {
        let _start = self.starts.read().await;
        if self.closing.is_cancelled() {
            return Err(DeployFailure::new("the platform is stopping"));
        }
        progress.stage(
            Stage::Applying,
            &format!("writing {} file(s)", target.files.len()),
        );
        let dir = self.write_files(target).await?;
        // Beside the apps' files, not in them: the code stays read-only.
        let run_dir = self.settings.apps_dir.join(".run").join(format!(
            "{}-{}",
            target.app_id,
            crate::ids::new_id(6)
        ));
        let log = self.log_of(&target.app_id);
        progress.stage(
            Stage::Starting,
            &format!("starting revision {}", target.revision),
        );
        let launch = Launch {
            app_id: &target.app_id,
            python: &self.env.python,
            runner: &self.env.runner,
            app_dir: &dir,
            run_dir: &run_dir,
            root_path: &target.root_path,
        };
        let proc = AppProcess::spawn(launch, target.revision, log.clone(), &self.isolation)
            .await
            .map_err(|e| {
                DeployFailure::new(format!(
                    "could not start {}: {e}",
                    self.env.python.display()
                ))
            })?;
        progress.stage(Stage::HealthCheck, "waiting for /health to answer");
        if let Err(failure) = self.health_check(&proc, &log).await {
            proc.stop(self.settings.stop_grace).await;
            return Err(failure);
        }
        // Switch the route, then retire the old process. No await between
        // the two, so a cancelled deploy cannot leave a route to nothing.
        let mut serving = self.serving.lock().await;
        if self.closing.is_cancelled() {
            drop(serving);
            proc.stop(self.settings.stop_grace).await;
            return Err(DeployFailure::new("the platform is stopping"));
        }
        if let Ok(mut routes) = self.routes.write() {
            routes.insert(
                target.app_id.clone(),
                Route {
                    user_id: target.user_id.clone(),
                    socket: proc.socket.clone(),
                },
            );
        }
        let old = serving.insert(target.app_id.clone(), proc);
        drop(serving);
        if let Some(old) = old {
            tokio::spawn(old.stop(self.settings.stop_grace));
        }
        Ok(())
    }

    async fn is_running(&self, app_id: &str, revision: u32) -> bool {
        self.serving
            .lock()
            .await
            .get(app_id)
            .is_some_and(|p| p.revision == revision && !p.has_exited())
    }

    async fn remove(&self, app_id: &str) -> Result<(), RuntimeError> {
        if let Ok(mut routes) = self.routes.write() {
            routes.remove(app_id);
        }
        let proc = self.serving.lock().await.remove(app_id);
        if let Some(proc) = proc {
            proc.stop(self.settings.stop_grace).await;
        }
        if let Ok(mut logs) = self.logs.lock() {
            logs.remove(app_id);
        }
        let _ = tokio::fs::remove_dir_all(self.settings.apps_dir.join(app_id)).await;
        Ok(())
    }

    fn sleeps(&self) -> bool {
        true
    }

    async fn stop(&self, app_id: &str) -> Result<(), RuntimeError> {
        // The route first: no new request reaches a process that is stopping.
        if let Ok(mut routes) = self.routes.write() {
            routes.remove(app_id);
        }
        let proc = self.serving.lock().await.remove(app_id);
        if let Some(proc) = proc {
            proc.stop(self.settings.stop_grace).await;
        }
        Ok(())
    }

    async fn logs(&self, app_id: &str, tail: usize, follow: bool) -> LogStream {
        let log = self.log_of(app_id);
        if !follow {
            return Box::pin(futures::stream::iter(log.tail(tail)));
        }
        let (past, live) = log.tail_and_follow(tail);
        let live = tokio_stream::wrappers::BroadcastStream::new(live).filter_map(|l| async move {
            // A reader too slow for the app's output skips lines rather than stalling it.
            l.ok()
        });
        Box::pin(futures::stream::iter(past).chain(live))
    }

    async fn running_apps(&self) -> usize {
        self.serving
            .lock()
            .await
            .values()
            .filter(|p| !p.has_exited())
            .count()
    }

    fn upstream(&self, user_id: &str, app_id: &str) -> Option<Upstream> {
        let routes = self.routes.read().ok()?;
        routes
            .get(app_id)
            .filter(|r| r.user_id == user_id)
            .map(|r| Upstream::Socket(r.socket.clone()))
    }

    async fn shutdown(&self) {
        self.closing.cancel();
        // Starts in flight see `closing`, stop what they started and return.
        let _no_starts = self.starts.write().await;
        if let Ok(mut routes) = self.routes.write() {
            routes.clear();
        }
        let procs: Vec<AppProcess> = self.serving.lock().await.drain().map(|(_, p)| p).collect();
        let grace = self.settings.stop_grace;
        futures::future::join_all(procs.into_iter().map(|p| p.stop(grace))).await;
        self.isolation.cgroups.remove();
    }

    fn isolation(&self) -> Option<super::IsolationReport> {
        Some(self.isolation.details())
    }
}
