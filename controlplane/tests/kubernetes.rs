//! The Kubernetes runtime against a real kube-apiserver (etcd, controller
//! manager, scheduler and a kwok node: `scripts/kube-testenv.sh`). Skipped
//! when no cluster is configured, except under CI, where that is a failure.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use gofast_controlplane::{
    model::{AppFile, Stage},
    runtime::{
        Progress, Runtime, Target,
        kubernetes::{
            KubeRuntime, KubeSettings,
            builders::{self, ObjectKind},
        },
    },
};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Pod, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};

/// A cluster client, or None (skip) outside CI when no cluster is set up.
async fn cluster() -> Option<Client> {
    if std::env::var_os("KUBECONFIG").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "KUBECONFIG is not set: scripts/test.sh starts the Kubernetes test environment"
        );
        eprintln!("skipping: no KUBECONFIG (run scripts/kube-testenv.sh start)");
        return None;
    }
    Some(
        Client::try_default()
            .await
            .expect("connect to the test cluster"),
    )
}

/// A fresh namespace per test, so tests do not see each other's objects.
async fn namespace(client: &Client) -> TestNamespace {
    let name = format!("t-{}", gofast_controlplane::ids::new_id(8));
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    TestNamespace(name)
}

/// Deleted when the test ends, passed or not: kwok's node holds 110 pods,
/// and a long-lived test control plane would fill it run after run.
struct TestNamespace(String);

impl std::ops::Deref for TestNamespace {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.0.clone();
        // A runtime and a client of their own: this runs inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(client) = Client::try_default().await {
                    let _ = Api::<Namespace>::all(client)
                        .delete(&name, &DeleteParams::background())
                        .await;
                }
            });
        })
        .join();
    }
}

fn settings(namespace: &str) -> KubeSettings {
    KubeSettings {
        namespace: namespace.into(),
        runner_image: "registry.invalid/gofast-runner:test".into(),
        ingress_host: Some("gofast.test".into()),
        traefik_namespace: "traefik".into(),
        entry_point: "web".into(),
        cpu: "250m".into(),
        memory: "128Mi".into(),
        runtime_class: None,
        start_timeout_seconds: 30,
        placement: Default::default(),
        route_probe_url: None,
        traefik_api_url: None,
        activator: None,
    }
}

fn target(app_id: &str, revision: u32, files: &[(&str, &str)]) -> Target {
    Target {
        app_id: app_id.into(),
        user_id: "u0000test0".into(),
        revision,
        files: files
            .iter()
            .map(|(n, c)| AppFile {
                name: n.to_string(),
                content: c.to_string(),
            })
            .collect(),
        root_path: format!("/user/u0000test0/app/{app_id}"),
    }
}

/// How many objects of one kind match `lp`.
async fn count<K>(api: Api<K>, lp: &ListParams) -> usize
where
    K: Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    api.list(lp).await.expect("list").items.len()
}

fn dynamic(client: &Client, ns: &str, resource: &kube::api::ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, resource)
}

#[derive(Default)]
struct Stages(Mutex<Vec<Stage>>);

impl Progress for Stages {
    fn stage(&self, stage: Stage, _message: &str) {
        self.0.lock().unwrap().push(stage);
    }
}

const MAIN: &str = "from fastapi import FastAPI\napp = FastAPI()\n";

#[tokio::test]
async fn deploy_creates_accepted_objects_and_reaches_ready_through_kwok() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    let rt = KubeRuntime::new(client.clone(), settings(&ns));
    let stages = Stages::default();
    let t = target(
        "aaaaaaaaa1",
        1,
        &[("main.py", MAIN), ("extra.py", "x = 1\n")],
    );
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t, &stages))
        .await
        .expect("rollout timed out")
        .expect("rollout failed");
    assert_eq!(stages.0.lock().unwrap().first(), Some(&Stage::Applying));
    assert!(rt.is_running("aaaaaaaaa1", 1).await);

    let name = builders::object_name("aaaaaaaaa1");
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    assert_eq!(cm.data.as_ref().unwrap().len(), 2);
    Api::<Service>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    Api::<NetworkPolicy>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    // The Traefik objects were validated by Traefik's own CRD schemas.
    let route = dynamic(&client, &ns, &ObjectKind::IngressRoute.resource())
        .get(&name)
        .await
        .unwrap();
    assert_eq!(route.data["spec"]["routes"][0]["services"][0]["port"], 80);
    dynamic(&client, &ns, &ObjectKind::Middleware.resource())
        .get(&name)
        .await
        .unwrap();
    let d = Api::<Deployment>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    let owner = &d.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("ConfigMap", cm.metadata.uid.as_deref().unwrap())
    );

    // An update with a file removed: server-side apply drops it from the ConfigMap.
    let t2 = target("aaaaaaaaa1", 2, &[("main.py", MAIN)]);
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t2, &Stages::default()))
        .await
        .expect("second rollout timed out")
        .expect("second rollout failed");
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert!(
        data.contains_key("main.py") && !data.contains_key("extra.py"),
        "{data:?}"
    );
    assert!(rt.is_running("aaaaaaaaa1", 2).await);
    assert!(!rt.is_running("aaaaaaaaa1", 1).await);

    // Deleted behind our back: no longer "running" once the watch has seen
    // it (the next reconcile pass, at the latest), so the reconciler re-applies it.
    Api::<Service>::namespaced(client.clone(), &ns)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let mut noticed = false;
    for _ in 0..50 {
        if !rt.is_running("aaaaaaaaa1", 2).await {
            noticed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(noticed, "a deleted Service went unnoticed");
    rt.deploy(&t2, &Stages::default()).await.expect("re-apply");
    Api::<Service>::namespaced(client.clone(), &ns)
        .get(&name)
        .await
        .expect("service recreated");

    // Delete leaves nothing with the app's labels.
    rt.remove("aaaaaaaaa1").await.unwrap();
    let lp = ListParams::default().labels(&builders::app_selector("aaaaaaaaa1"));
    for _ in 0..60 {
        let mut left = 0;
        for kind in ObjectKind::ALL {
            left += count(dynamic(&client, &ns, &kind.resource()), &lp).await;
        }
        let pods = Api::<Pod>::namespaced(client.clone(), &ns)
            .list(&ListParams::default().labels(&format!("{}=aaaaaaaaa1", builders::APP_LABEL)))
            .await
            .unwrap()
            .items
            .len();
        if left == 0 && pods == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("objects of a deleted app are left");
}

/// Sleep in the cluster shape, as objects: no pods, the route to the
/// activator (whose Service leads to the control plane), and a deploy of the
/// same revision (a wake) takes both back.
#[tokio::test]
async fn a_sleeping_app_has_no_pods_and_its_route_leads_to_the_activator() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    let activator: std::net::SocketAddr = "10.123.0.7:18080".parse().unwrap();
    let rt = KubeRuntime::new(
        client.clone(),
        KubeSettings {
            activator: Some(activator),
            ..settings(&ns)
        },
    );
    // Taking the Lease makes this replica the activator's endpoint.
    assert!(rt.may_reconcile().await);
    let slice = Api::<EndpointSlice>::namespaced(client.clone(), &ns)
        .get("gofast-activator")
        .await
        .expect("the activator's EndpointSlice");
    assert_eq!(slice.endpoints.unwrap()[0].addresses, ["10.123.0.7"]);
    let svc = Api::<Service>::namespaced(client.clone(), &ns)
        .get("gofast-activator")
        .await
        .expect("the activator's Service");
    assert_eq!(svc.spec.unwrap().selector, None);
    // A second replica, without the Lease, leaves the endpoint alone.
    let other = KubeRuntime::new(
        client.clone(),
        KubeSettings {
            activator: Some("10.123.0.8:18080".parse().unwrap()),
            ..settings(&ns)
        },
    );
    assert!(!other.may_reconcile().await);
    let slice = Api::<EndpointSlice>::namespaced(client.clone(), &ns)
        .get("gofast-activator")
        .await
        .unwrap();
    assert_eq!(slice.endpoints.unwrap()[0].addresses, ["10.123.0.7"]);

    let app = "sleepy0001";
    let t = target(app, 1, &[("main.py", MAIN)]);
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t, &Stages::default()))
        .await
        .expect("rollout timed out")
        .expect("rollout failed");
    let name = builders::object_name(app);
    let routes = dynamic(&client, &ns, &ObjectKind::IngressRoute.resource());
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);

    // A replica whose pass outlived its Lease (here: one that never held it)
    // puts no app to sleep; the holder does.
    assert!(other.stop(app).await.is_err(), "not the Lease holder");
    let r = routes.get(&name).await.unwrap().data["spec"]["routes"][0].clone();
    assert_eq!(r["services"][0]["name"], name.as_str(), "{r}");
    rt.stop(app).await.expect("sleep");
    let route = routes.get(&name).await.unwrap();
    let r = &route.data["spec"]["routes"][0];
    assert_eq!(r["services"][0]["name"], "gofast-activator", "{r}");
    assert_eq!(
        r["middlewares"],
        serde_json::json!([]),
        "the prefix is kept"
    );
    let d = deployments.get(&name).await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(0));
    let mut gone = false;
    for _ in 0..120 {
        if !rt.is_running(app, 1).await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(gone, "a sleeping app still counts as running");

    // The wake: the same revision deployed again.
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t, &Stages::default()))
        .await
        .expect("wake timed out")
        .expect("wake failed");
    let route = routes.get(&name).await.unwrap();
    let r = &route.data["spec"]["routes"][0];
    assert_eq!(r["services"][0]["name"], name.as_str(), "{r}");
    let middlewares: Vec<&str> = r["middlewares"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(middlewares, [builders::APP_HEADERS, name.as_str()], "{r}");
    assert_eq!(
        deployments.get(&name).await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
    assert!(rt.is_running(app, 1).await);
}

#[tokio::test]
async fn a_crash_looping_revision_fails_with_its_reason() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    // kwok keeps this image's pods running but never ready, so the crash
    // below is the only verdict the runtime can see (the watches would see
    // a Ready pod before the crash otherwise).
    let mut unready = settings(&ns);
    unready.runner_image = "registry.invalid/gofast-runner:unready".into();
    let rt = KubeRuntime::new(client.clone(), unready);
    let t = target("bbbbbbbbb1", 1, &[("main.py", MAIN)]);
    let stages = Stages::default();
    let deploy = rt.deploy(&t, &stages);
    // kwok cannot crash a container: play the kubelet's part for the new pod.
    let crash = async {
        let pods = Api::<Pod>::namespaced(client.clone(), &ns);
        loop {
            let selector = format!("{}=bbbbbbbbb1", builders::APP_LABEL);
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            if let Some(name) = list.items.first().and_then(|p| p.metadata.name.clone()) {
                let status = serde_json::json!({"status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "app", "image": "registry.invalid/gofast-runner:unready", "imageID": "",
                        "ready": false, "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]
                }});
                let _ = pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let result = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(120), deploy) => r.expect("no verdict in time"),
        _ = crash => unreachable!(),
    };
    let failure = result.expect_err("a crash loop was reported as ready");
    assert!(
        failure.reason.contains("CrashLoopBackOff"),
        "{}",
        failure.reason
    );
}

#[tokio::test]
async fn only_one_control_plane_reconciles_at_a_time() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    let a = KubeRuntime::new(client.clone(), settings(&ns));
    let b = KubeRuntime::new(client.clone(), settings(&ns));
    assert!(a.may_reconcile().await, "the first replica takes the lease");
    assert!(
        !b.may_reconcile().await,
        "a second replica must not reconcile"
    );
    assert!(a.may_reconcile().await, "the holder renews");
    assert!(!b.may_reconcile().await);
}

#[tokio::test]
async fn prune_removes_apps_that_are_no_longer_in_the_store() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    let rt = KubeRuntime::new(client.clone(), settings(&ns));
    for id in ["ccccccccc1", "ccccccccc2"] {
        let t = target(id, 1, &[("main.py", MAIN)]);
        tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t, &Stages::default()))
            .await
            .unwrap()
            .unwrap();
    }
    rt.prune(&HashSet::from(["ccccccccc1".to_string()])).await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(
        cms.get_opt(&builders::object_name("ccccccccc1"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        cms.get_opt(&builders::object_name("ccccccccc2"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_running_app_is_checked_from_the_watches_without_a_request() {
    let Some(client) = cluster().await else {
        return;
    };
    let ns = namespace(&client).await;
    // Counts every request but the watches' own (long-lived, `watch=1`).
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = {
        let requests = requests.clone();
        let count = move |req: http::Request<kube::client::Body>| {
            if !req.uri().query().unwrap_or_default().contains("watch=") {
                requests.fetch_add(1, Ordering::SeqCst);
            }
            req
        };
        let config = kube::Config::infer().await.unwrap();
        kube::client::ClientBuilder::try_from(config)
            .unwrap()
            .with_layer(&tower::util::MapRequestLayer::new(count))
            .build()
    };
    let rt = KubeRuntime::new(counted, settings(&ns));
    let t = target("ddddddddd1", 1, &[("main.py", MAIN)]);
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t, &Stages::default()))
        .await
        .expect("rollout timed out")
        .expect("rollout failed");
    // What a reconcile pass asks of the runtime, many times over.
    requests.store(0, Ordering::SeqCst);
    for _ in 0..20 {
        assert!(rt.is_running("ddddddddd1", 1).await);
        assert_eq!(rt.running_apps().await, 1);
        rt.prune(&HashSet::from(["ddddddddd1".to_string()])).await;
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "the runtime asked the API server instead of its watches"
    );
    // A rollout is followed from the watches too: its only requests are
    // the applies, one per object.
    let t2 = target("ddddddddd1", 2, &[("main.py", MAIN)]);
    tokio::time::timeout(Duration::from_secs(120), rt.deploy(&t2, &Stages::default()))
        .await
        .expect("rollout timed out")
        .expect("rollout failed");
    assert_eq!(requests.load(Ordering::SeqCst), ObjectKind::ALL.len());
    // A "no" is confirmed by the API, not taken from the cache alone.
    assert!(!rt.is_running("ddddddddd1", 3).await);
    assert!(requests.load(Ordering::SeqCst) > ObjectKind::ALL.len());
}
