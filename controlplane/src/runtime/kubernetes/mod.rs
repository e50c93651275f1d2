//! The cluster runtime: each app is a ConfigMap, Deployment, Service,
//! NetworkPolicy and Traefik Middleware + IngressRoute, built by pure
//! functions (`builders`), applied with server-side apply, and followed
//! until the new revision is ready or clearly failed (`rollout`), as the
//! watches of `cache` see it. Idle apps sleep without pods (`activator`).

pub mod activator;
pub mod activity;
pub mod builders;
mod cache;
mod lease;
pub mod rollout;
mod route;
mod traefik_http;

use std::{
    collections::HashSet,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Pod},
};
use kube::{
    Api, Client, Resource,
    api::{
        DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PropagationPolicy,
    },
};
use tracing::warn;

pub use self::builders::{KubeSettings, NodeToleration, PodPlacement};
use self::{
    builders::{AppObjects, MANAGED_BY, ObjectKind, object_name},
    cache::Cache,
    lease::LeaseLock,
    rollout::{Limits, Verdict, assess},
    route::{ROUTE_WAIT, RouteProbe, TraefikServers},
};
use super::{DeployFailure, LogStream, Progress, Runtime, RuntimeError, Target, Upstream};
use crate::model::Stage;

const FIELD_MANAGER: &str = "gofast";
/// How long a rollout waits for the watches' first lists.
const CACHE_WAIT: Duration = Duration::from_secs(30);
/// A rollout wakes on each watch event; this only guards against a watch
/// that went quiet without an error.
const RECHECK: Duration = Duration::from_secs(5);
/// Lines of a crashed container's previous run shown with a failure.
const CRASH_LOG_LINES: i64 = 30;

pub struct KubeRuntime {
    client: Client,
    settings: KubeSettings,
    lease: LeaseLock,
    cache: Cache,
    route: Option<RouteProbe>,
    servers: Option<TraefikServers>,
    /// True while the activator's endpoint is this replica: it points the
    /// Service at itself each time it takes the Lease.
    activator_is_me: AtomicBool,
}

fn unavailable(e: kube::Error) -> RuntimeError {
    RuntimeError::Unavailable(format!("the Kubernetes API failed: {e}"))
}

impl KubeRuntime {
    /// Connects with KUBECONFIG or the in-cluster service account.
    pub async fn connect(settings: KubeSettings) -> Result<Self, RuntimeError> {
        let client = Client::try_default().await.map_err(unavailable)?;
        ensure_namespace(&client, &settings.namespace)
            .await
            .map_err(unavailable)?;
        let runtime = Self::new(client, settings);
        runtime.apply_app_headers().await?;
        // Refused rights show at start, not at the first sleep.
        runtime.claim_activator(true).await?;
        Ok(runtime)
    }

    /// Starts the watches of the apps' objects, so it needs a Tokio runtime.
    pub fn new(client: Client, settings: KubeSettings) -> Self {
        let identity = format!("{}-{}", hostname(), crate::ids::new_id(6));
        let lease = LeaseLock::new(client.clone(), &settings.namespace, identity);
        let cache = Cache::start(&client, &settings.namespace);
        let route = settings.route_probe_url.as_deref().map(RouteProbe::new);
        let servers = settings.traefik_api_url.as_deref().map(TraefikServers::new);
        Self {
            client,
            settings,
            lease,
            cache,
            route,
            servers,
            activator_is_me: AtomicBool::new(false),
        }
    }

    /// The Middleware every app's route names (see `builders::APP_HEADERS`).
    async fn apply_app_headers(&self) -> Result<(), RuntimeError> {
        let object = builders::app_headers_middleware(&self.settings.namespace);
        let api = self.dynamic(&ObjectKind::Middleware.resource());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&object);
        retried(|| api.patch(builders::APP_HEADERS, &params, &patch))
            .await
            .map(|_| ())
            .map_err(|e| {
                RuntimeError::Unavailable(format!(
                    "cannot apply the apps' response-header Middleware ({}): {e}",
                    builders::APP_HEADERS
                ))
            })
    }

    /// Points the activator's Service at this replica, if apps sleep.
    async fn claim_activator(&self, dry_run: bool) -> Result<(), RuntimeError> {
        let Some(address) = self.settings.activator else {
            return Ok(());
        };
        activator::ensure(&self.client, &self.settings.namespace, address, dry_run)
            .await
            .map_err(|e| {
                RuntimeError::Unavailable(format!(
                    "cannot point the activator's Service at {address}: {e}"
                ))
            })
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.settings.namespace)
    }

    fn dynamic(&self, resource: &kube::api::ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.settings.namespace, resource)
    }

    /// Server-side applies every object in the order of `ObjectKind::ALL`,
    /// the root first so the others can name it as their owner. Fields we no
    /// longer set disappear. Returns the Deployment's generation.
    async fn apply_all(&self, mut objects: AppObjects) -> Result<i64, kube::Error> {
        let mut generation = 0;
        for &kind in ObjectKind::ALL {
            let object = objects.dynamic(kind).map_err(kube::Error::SerdeError)?;
            let name = object.metadata.name.clone().unwrap_or_default();
            let api = self.dynamic(&kind.resource());
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let patch = Patch::Apply(&object);
            let applied = retried(|| api.patch(&name, &params, &patch)).await?;
            if kind == ObjectKind::ROOT {
                let uid = applied.metadata.uid.unwrap_or_default();
                builders::set_owner(&mut objects, &uid);
            }
            if kind == ObjectKind::Deployment {
                generation = applied.metadata.generation.unwrap_or(0);
            }
        }
        Ok(generation)
    }

    async fn app_pods(&self, app_id: &str) -> Result<Vec<Pod>, kube::Error> {
        let pods = self
            .api::<Pod>()
            .list(&ListParams::default().labels(&app_selector_pods(app_id)))
            .await?;
        Ok(pods.items)
    }

    /// The last lines of a crashed container's previous run.
    async fn crash_logs(&self, pod: &str) -> String {
        let params = LogParams {
            previous: true,
            tail_lines: Some(CRASH_LOG_LINES),
            ..Default::default()
        };
        match self.api::<Pod>().logs(pod, &params).await {
            Ok(text) => text,
            Err(_) => {
                let params = LogParams {
                    tail_lines: Some(CRASH_LOG_LINES),
                    ..Default::default()
                };
                self.api::<Pod>()
                    .logs(pod, &params)
                    .await
                    .unwrap_or_default()
            }
        }
    }

    /// Reads the rollout from the watches' cache each time it changes.
    /// `generation`: the Deployment's after our apply; the cache may still
    /// hold an older one (with an older rollout's verdict) for a moment.
    async fn follow_rollout(
        &self,
        target: &Target,
        progress: &dyn Progress,
        generation: i64,
    ) -> Result<(), DeployFailure> {
        let name = object_name(&target.app_id);
        let mut changes = self.cache.changes();
        if !self.cache.ready(CACHE_WAIT).await {
            return Err(DeployFailure::new(
                "the Kubernetes API did not let the control plane watch the app's objects",
            ));
        }
        let mut last_stage = Stage::Applying;
        loop {
            changes.borrow_and_update();
            let verdict = match self.cache.deployment(&name) {
                Some(d) if d.metadata.generation.unwrap_or(0) >= generation => assess(
                    &d,
                    &self.cache.pods(&target.app_id),
                    target.revision,
                    Limits {
                        memory: &self.settings.memory,
                        start_timeout_seconds: self.settings.start_timeout_seconds,
                    },
                ),
                _ => Verdict::Progressing(
                    Stage::Applying,
                    "waiting for the Deployment controller".into(),
                ),
            };
            match verdict {
                Verdict::Ready => return Ok(()),
                Verdict::Failed { reason, pod } => {
                    let output_tail = match pod {
                        Some(pod) => self.crash_logs(&pod).await,
                        None => String::new(),
                    };
                    return Err(DeployFailure {
                        reason,
                        output_tail,
                    });
                }
                Verdict::Progressing(stage, message) => {
                    if stage != last_stage {
                        // Report skipped stages too, so the stream stays in order.
                        for s in [Stage::Starting, Stage::HealthCheck] {
                            if s > last_stage && s <= stage {
                                progress.stage(s, if s == stage { &message } else { "" });
                            }
                        }
                        last_stage = stage;
                    }
                }
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        // The watches are gone (shutting down): no busy loop.
                        tokio::time::sleep(RECHECK).await;
                    }
                }
                _ = tokio::time::sleep(RECHECK) => {}
            }
        }
    }

    /// `is_running` as the API says, for when the cache says no: the
    /// reconciler re-deploys on a "no", so it must not come from a cache
    /// that has not seen the latest event yet.
    async fn is_running_per_api(&self, app_id: &str, revision: u32) -> bool {
        let name = object_name(app_id);
        let Ok(Some(d)) = self.api::<Deployment>().get_opt(&name).await else {
            return false;
        };
        if !serves(&d, revision) {
            return false;
        }
        let others = ObjectKind::ALL
            .iter()
            .filter(|k| **k != ObjectKind::Deployment)
            .map(|k| async {
                let found = self.dynamic(&k.resource()).get_opt(&name).await;
                matches!(found, Ok(Some(_)))
            });
        futures::future::join_all(others)
            .await
            .into_iter()
            .all(|exists| exists)
    }

    /// Where Traefik reaches the pods of this revision, as its API lists them.
    fn pod_urls(&self, app_id: &str, revision: u32) -> HashSet<String> {
        self.cache
            .pods(app_id)
            .iter()
            .filter(|p| rollout::pod_revision(p) == Some(revision))
            .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
            .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
            .map(|ip| {
                let at = std::net::SocketAddr::new(ip, builders::RUNNER_PORT as u16);
                format!("http://{at}")
            })
            .collect()
    }

    async fn delete_everything(&self, app_id: &str) -> Result<(), kube::Error> {
        let name = object_name(app_id);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        // The root first (its dependents follow through garbage collection),
        // then each object, so nothing depends on the collector alone.
        for &kind in ObjectKind::ALL {
            match self.dynamic(&kind.resource()).delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// True when the Deployment runs `revision` with a pod available.
fn serves(d: &Deployment, revision: u32) -> bool {
    let rev = d
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(builders::REVISION_ANNOTATION));
    rev.map(String::as_str) == Some(revision.to_string().as_str()) && available(d)
}

fn available(d: &Deployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        > 0
}

/// Calls the API server again while it fails for a passing reason (busy,
/// restarting, a dropped connection), a few times with growing waits: a
/// deploy should not fail because one request did.
async fn retried<T, F, Fut>(call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(3))
        .with_max_times(5);
    call.retry(backoff).when(transient).await
}

fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Creates the apps' namespace unless it exists (the Helm chart makes it;
/// `gofast up --runtime kubernetes` against a bare cluster does not).
async fn ensure_namespace(client: &Client, name: &str) -> Result<(), kube::Error> {
    use k8s_openapi::api::core::v1::Namespace;
    let api = Api::<Namespace>::all(client.clone());
    if api.get_opt(name).await?.is_some() {
        return Ok(());
    }
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&kube::api::PostParams::default(), &ns).await {
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Pods carry only the app label (the Deployment's selector).
fn app_selector_pods(app_id: &str) -> String {
    format!("{}={app_id}", builders::APP_LABEL)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "gofast".into())
}

#[async_trait]
impl Runtime for KubeRuntime {
    async fn deploy(&self, target: &Target, progress: &dyn Progress) -> Result<(), DeployFailure> {
        progress.stage(
            Stage::Applying,
            &format!("applying the objects of revision {}", target.revision),
        );
        let objects = builders::build(target, &self.settings);
        let generation = self.apply_all(objects).await.map_err(|e| {
            DeployFailure::new(format!("the cluster refused the app's objects: {e}"))
        })?;
        let limit = Duration::from_secs(self.settings.start_timeout_seconds.max(1) as u64 + 60);
        let rollout = self.follow_rollout(target, progress, generation);
        match tokio::time::timeout(limit, rollout).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(DeployFailure::new(format!(
                    "the app did not become ready within {}s",
                    limit.as_secs()
                )));
            }
        }
        let late = |what: &'static str| {
            move |e: String| {
                DeployFailure::new(format!(
                    "the app runs, but Traefik did not {what} within {}s: {e}",
                    ROUTE_WAIT.as_secs()
                ))
            }
        };
        // Ready in the cluster; READY once the URL answers too.
        if let Some(route) = &self.route {
            let host = self.settings.ingress_host.as_deref();
            route
                .wait(host, &target.root_path, ROUTE_WAIT)
                .await
                .map_err(late("route to it"))?;
        }
        // And only the new revision takes new requests, while an older one
        // still runs (not on a first deploy or a wake: nothing to wait out).
        let older_runs = || {
            let pods = self.cache.pods(&target.app_id);
            pods.iter()
                .any(|p| rollout::pod_revision(p) != Some(target.revision))
        };
        if let Some(servers) = self.servers.as_ref().filter(|_| older_runs()) {
            let wanted = self.pod_urls(&target.app_id, target.revision);
            let namespace = &self.settings.namespace;
            servers
                .wait(namespace, &target.app_id, &wanted, ROUTE_WAIT)
                .await
                .map_err(late("move to its new pods"))?;
        }
        Ok(())
    }

    async fn is_running(&self, app_id: &str, revision: u32) -> bool {
        // From the watches, without a request; objects deleted behind our
        // back make the app "not running", so the reconciler applies them
        // again (after the API confirms it).
        let name = object_name(app_id);
        if self.cache.ready(Duration::ZERO).await
            && let Some(d) = self.cache.deployment(&name)
            && serves(&d, revision)
            && self.cache.missing(&name).is_empty()
        {
            return true;
        }
        self.is_running_per_api(app_id, revision).await
    }

    async fn remove(&self, app_id: &str) -> Result<(), RuntimeError> {
        self.delete_everything(app_id).await.map_err(unavailable)
    }

    async fn logs(&self, app_id: &str, tail: usize, follow: bool) -> LogStream {
        let pods = self.app_pods(app_id).await.unwrap_or_default();
        // The newest pod speaks for the app.
        let Some(pod) = pods
            .iter()
            .max_by_key(|p| p.metadata.creation_timestamp.clone())
            .and_then(|p| p.metadata.name.clone())
        else {
            return Box::pin(futures::stream::empty());
        };
        let params = LogParams {
            follow,
            tail_lines: Some(tail as i64),
            ..Default::default()
        };
        match self.api::<Pod>().log_stream(&pod, &params).await {
            Ok(reader) => Box::pin(
                reader
                    .lines()
                    .into_stream()
                    .filter_map(|l| async move { l.ok() }),
            ),
            Err(e) => Box::pin(futures::stream::iter([format!("(logs unavailable: {e})")])),
        }
    }

    async fn running_apps(&self) -> usize {
        if self.cache.ready(Duration::ZERO).await {
            return self
                .cache
                .deployments()
                .iter()
                .filter(|d| available(d))
                .count();
        }
        let lp = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        match self.api::<Deployment>().list(&lp).await {
            Ok(list) => list.items.iter().filter(|d| available(d)).count(),
            Err(_) => 0,
        }
    }

    async fn may_reconcile(&self) -> bool {
        let holder = self.lease.try_acquire().await;
        if !holder {
            // Another replica reconciles, and serves as the activator.
            self.activator_is_me.store(false, Ordering::Relaxed);
        } else if !self.activator_is_me.load(Ordering::Relaxed) {
            match self.claim_activator(false).await {
                Ok(()) => self.activator_is_me.store(true, Ordering::Relaxed),
                Err(e) => warn!(error = %e, "sleeping apps cannot wake through this replica"),
            }
        }
        holder
    }

    fn sleeps(&self) -> bool {
        self.settings.activator.is_some() && self.route.is_some()
    }

    async fn stop(&self, app_id: &str) -> Result<(), RuntimeError> {
        if self.settings.activator.is_none() {
            return Err(RuntimeError::Unavailable(
                "apps sleep in the cluster only with --kube-activator-address".into(),
            ));
        }
        if !self.lease.still_held().await {
            return Err(RuntimeError::Unavailable(
                "this replica no longer holds the reconciler Lease; the holder decides which apps sleep"
                    .into(),
            ));
        }
        // The route first: no request finds the app without pods.
        let name = object_name(app_id);
        let params = PatchParams::apply(activator::SLEEP_MANAGER);
        let to_activator = activator::route_to_activator()
            .map_err(|e| RuntimeError::Unavailable(format!("the sleep patch is malformed: {e}")))?;
        let to_activator = Patch::Json::<()>(to_activator);
        let routes = self.dynamic(&ObjectKind::IngressRoute.resource());
        retried(|| routes.patch(&name, &params, &to_activator))
            .await
            .map_err(unavailable)?;
        let none = activator::no_replicas();
        let none = Patch::Merge(&none);
        let deployments = self.api::<Deployment>();
        retried(|| deployments.patch(&name, &params, &none))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn upstream(&self, user_id: &str, app_id: &str) -> Option<Upstream> {
        // Only the activator forwards, and only to an app of this user with pods.
        let route = self.route.as_ref().filter(|_| self.sleeps())?;
        let d = self.cache.deployment(&object_name(app_id))?;
        let owner = d.metadata.labels.as_ref()?.get(builders::USER_LABEL)?;
        (owner == user_id && available(&d)).then(|| Upstream::Cluster(route.base().to_string()))
    }

    async fn prune(&self, keep: &HashSet<String>) {
        // Each app's root object names it; a stale cache only delays this.
        let apps = if self.cache.ready(Duration::ZERO).await {
            self.cache.app_ids()
        } else {
            let lp = ListParams::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
            let Ok(maps) = self.api::<ConfigMap>().list(&lp).await else {
                return;
            };
            maps.items
                .into_iter()
                .filter_map(|cm| cm.metadata.labels?.get(builders::APP_LABEL).cloned())
                .collect()
        };
        for app in apps {
            if !keep.contains(&app)
                && let Err(e) = self.delete_everything(&app).await
            {
                warn!(app_id = %app, error = %e, "could not remove the objects of a deleted app");
            }
        }
    }

    async fn shutdown(&self) {
        // Apps keep running in the cluster; the next control plane adopts them.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_api_server_is_asked_again_and_a_refusal_is_not() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let answer = retried(|| async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                0 => Err(api_error(503)),
                1 => Err(api_error(429)),
                _ => Ok("ready"),
            }
        })
        .await;
        assert_eq!(answer.unwrap(), "ready");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);

        calls.store(0, std::sync::atomic::Ordering::Relaxed);
        let refused: Result<(), _> = retried(|| async {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(api_error(403))
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
