//! What the runtime knows of its objects, kept current by watches
//! (`kube::runtime` reflectors) instead of GETs: the apps' Deployments and
//! pods in full (rollouts are read from them), the other kinds by metadata
//! only (their presence is what counts; a ConfigMap holds a whole app).
//!
//! A cache may lag the cluster by a watch event: callers that act on a
//! "missing" answer confirm it with the API first (see `KubeRuntime::is_running`).

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use kube::{
    Api, Client,
    api::DynamicObject,
    core::PartialObjectMeta,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store, store::Writer},
        watcher,
    },
};
use tokio::{sync::watch, task::AbortHandle};
use tracing::debug;

use super::builders::{APP_LABEL, MANAGED_BY, ObjectKind};

pub(super) struct Cache {
    namespace: String,
    deployments: Store<Deployment>,
    pods: Store<Pod>,
    /// Every kind but the Deployment, by metadata.
    others: Vec<(ObjectKind, Store<PartialObjectMeta<DynamicObject>>)>,
    /// Counts the changes seen by any watch, so a waiter wakes on each.
    changes: watch::Receiver<u64>,
    tasks: Vec<AbortHandle>,
}

impl Cache {
    /// Starts one watch per kind in `namespace` (so it needs a Tokio runtime).
    pub fn start(client: &Client, namespace: &str) -> Self {
        let (tx, changes) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let managed =
            watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1));
        let mut tasks = Vec::new();

        let (deployments, writer) = reflector::store();
        let api = Api::<Deployment>::namespaced(client.clone(), namespace);
        tasks.push(spawn(writer, watcher::watcher(api, managed.clone()), &tx));

        // Pods carry only the app label (the Deployment's selector).
        let (pods, writer) = reflector::store();
        let api = Api::<Pod>::namespaced(client.clone(), namespace);
        let labelled = watcher::Config::default().labels(APP_LABEL);
        tasks.push(spawn(writer, watcher::watcher(api, labelled), &tx));

        let mut others = Vec::new();
        for &kind in ObjectKind::ALL {
            if kind == ObjectKind::Deployment {
                continue;
            }
            let resource = kind.resource();
            let writer = Writer::new(resource.clone());
            others.push((kind, writer.as_reader()));
            // Metadata-only list and watch requests.
            let api = Api::<PartialObjectMeta<DynamicObject>>::namespaced_with(
                client.clone(),
                namespace,
                &resource,
            );
            tasks.push(spawn(writer, watcher::watcher(api, managed.clone()), &tx));
        }
        Self {
            namespace: namespace.to_string(),
            deployments,
            pods,
            others,
            changes,
            tasks,
        }
    }

    /// Waits up to `limit` for every watch's first list; false if one is missing.
    pub async fn ready(&self, limit: Duration) -> bool {
        let all = async {
            self.deployments.wait_until_ready().await.is_ok()
                && self.pods.wait_until_ready().await.is_ok()
                && futures::future::join_all(self.others.iter().map(|(_, s)| s.wait_until_ready()))
                    .await
                    .iter()
                    .all(Result::is_ok)
        };
        tokio::time::timeout(limit, all).await.unwrap_or(false)
    }

    /// A receiver that changes whenever any watch sees a change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }

    pub fn deployment(&self, name: &str) -> Option<Arc<Deployment>> {
        self.deployments
            .get(&ObjectRef::new(name).within(&self.namespace))
    }

    pub fn deployments(&self) -> Vec<Arc<Deployment>> {
        self.deployments.state()
    }

    /// The app's pods.
    pub fn pods(&self, app_id: &str) -> Vec<Pod> {
        self.pods
            .state_filter(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(APP_LABEL))
                    .is_some_and(|a| a == app_id)
            })
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect()
    }

    /// The kinds (other than the Deployment) with no object of this name.
    pub fn missing(&self, name: &str) -> Vec<ObjectKind> {
        self.others
            .iter()
            .filter(|(_, store)| {
                store
                    .find(|o| o.metadata.name.as_deref() == Some(name))
                    .is_none()
            })
            .map(|(kind, _)| *kind)
            .collect()
    }

    /// The app ids of the ConfigMaps (each app's root object).
    pub fn app_ids(&self) -> Vec<String> {
        self.others
            .iter()
            .filter(|(kind, _)| *kind == ObjectKind::ROOT)
            .flat_map(|(_, store)| store.state())
            .filter_map(|o| o.metadata.labels.as_ref()?.get(APP_LABEL).cloned())
            .collect()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Feeds `writer` from `stream` until aborted, restarting the watch with a
/// backoff when it fails, and counts each change on `tx`.
fn spawn<K>(
    writer: Writer<K>,
    stream: impl Stream<Item = watcher::Result<watcher::Event<K>>> + Send + 'static,
    tx: &Arc<watch::Sender<u64>>,
) -> AbortHandle
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    let tx = tx.clone();
    tokio::spawn(async move {
        let mut events = std::pin::pin!(stream.default_backoff().reflect(writer));
        while let Some(event) = events.next().await {
            match event {
                Ok(_) => tx.send_modify(|n| *n = n.wrapping_add(1)),
                Err(e) => debug!(error = %e, "a watch of the apps' objects failed; retrying"),
            }
        }
    })
    .abort_handle()
}
