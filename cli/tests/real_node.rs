//! `gofast up --runtime kubernetes` against the test control plane with a
//! real node: pods run in containerd on `gofast-node-0` and Traefik routes to
//! them (`scripts/kube-node.sh start` + `traefik`; `scripts/test.sh` runs this
//! suite in its real-node stage). Every request here goes through Traefik.
//!
//! Runs when `GOFAST_TEST_REAL_NODE=1` (then a missing piece is a failure),
//! or locally when the node is up; skipped with `GOFAST_TEST_REAL_NODE=0`
//! (the workspace stage of scripts/test.sh, which runs it in a stage of its
//! own). Under CI a skip without that `0` is a failure.

mod common;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use futures::{SinkExt, StreamExt};
use gofast_controlplane::runtime::kubernetes::builders;
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    core::v1::{ConfigMap, Pod, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, GroupVersionKind, ListParams},
};
use tokio_tungstenite::tungstenite::Message;

/// The node the kubelet of kube-node.sh registers, and the taint that keeps
/// other tests' pods off it.
const NODE: &str = "gofast-node-0";
const NODE_TAINT: &str = "gofast.dev/real-node:NoSchedule";
const APPS_HOST: &str = "apps.gofast.test";
/// What Traefik answers for a path no route matches.
const TRAEFIK_404: &str = "404 page not found";

struct RealNode {
    /// Traefik's `web` entry point on this machine's loopback.
    traefik: SocketAddr,
    /// Traefik's Prometheus metrics.
    metrics_url: String,
    /// Traefik's API.
    api_url: String,
    runner_image: String,
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// `KEY=VALUE` lines of the state file kube-node.sh writes.
fn node_state(key: &str) -> Option<String> {
    let path = repo().join(".cache/kube/node-state");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .next_back()
}

/// Where the node and Traefik are, or `None` to skip (see the module doc).
fn real_node() -> Option<RealNode> {
    let wanted = std::env::var("GOFAST_TEST_REAL_NODE").ok();
    if wanted.as_deref() == Some("0") {
        eprintln!(
            "skipped: GOFAST_TEST_REAL_NODE=0 (scripts/test.sh runs this in its real-node stage)"
        );
        return None;
    }
    let required = wanted.as_deref() == Some("1") || ci();
    let missing = |what: &str| {
        assert!(
            !required,
            "the real node is not ready: {what}. Start it with scripts/kube-testenv.sh start, \
             scripts/kube-node.sh start and scripts/kube-node.sh traefik (scripts/test.sh does)"
        );
        eprintln!("skipped: {what} (start scripts/kube-node.sh start + traefik to run)");
    };
    if std::env::var_os("KUBECONFIG").is_none() {
        missing("KUBECONFIG is not set");
        return None;
    }
    if node_state("READY").as_deref() != Some("1") {
        missing("no node in .cache/kube/node-state");
        return None;
    }
    let traefik = match std::env::var("GOFAST_TEST_TRAEFIK_ADDR")
        .ok()
        .or_else(|| node_state("TRAEFIK_WEB_PORT").map(|p| format!("127.0.0.1:{p}")))
    {
        Some(addr) => addr.parse().expect("GOFAST_TEST_TRAEFIK_ADDR is HOST:PORT"),
        None => {
            missing("Traefik is not started (no TRAEFIK_WEB_PORT in .cache/kube/node-state)");
            return None;
        }
    };
    let metrics_url = match std::env::var("GOFAST_TEST_TRAEFIK_METRICS_URL")
        .ok()
        .or_else(|| node_state("TRAEFIK_API_PORT").map(|p| format!("http://127.0.0.1:{p}/metrics")))
    {
        Some(url) => url,
        None => {
            missing("no TRAEFIK_API_PORT in .cache/kube/node-state");
            return None;
        }
    };
    let runner_image = std::env::var("GOFAST_TEST_RUNNER_IMAGE")
        .unwrap_or_else(|_| "gofast.dev/runner:testenv".into());
    let api_url = metrics_url.trim_end_matches("/metrics").to_string();
    Some(RealNode {
        traefik,
        metrics_url,
        api_url,
        runner_image,
    })
}

/// `gofast up --runtime kubernetes` in a namespace of its own, apps on the
/// real node, their URLs on Traefik's port under [`APPS_HOST`].
struct Cluster {
    platform: Option<Platform>,
    namespace: String,
    client: Client,
    /// Talks to Traefik whatever host a URL names.
    http: reqwest::Client,
    traefik: SocketAddr,
    _tmp: tempfile::TempDir,
}

impl Cluster {
    async fn start(node: &RealNode, extra: &[&str]) -> Self {
        Self::start_at(node, "127.0.0.1:0", extra).await
    }

    async fn start_at(node: &RealNode, addr: &str, extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let namespace = format!("real-{}", gofast_controlplane::ids::new_id(6));
        let apps_url = format!("http://{APPS_HOST}:{}", node.traefik.port());
        let selector = format!("kubernetes.io/hostname={NODE}");
        let route_probe = format!("http://{}", node.traefik);
        let mut args = vec![
            "--runtime",
            "kubernetes",
            "--kube-namespace",
            &namespace,
            "--public-url",
            "http://gofast.test",
            "--apps-url",
            &apps_url,
            "--runner-image",
            &node.runner_image,
            "--image-pull-policy",
            "never",
            "--kube-node-selector",
            &selector,
            "--kube-toleration",
            NODE_TAINT,
            "--traefik-metrics-url",
            &node.metrics_url,
            "--kube-route-probe-url",
            &route_probe,
            "--traefik-api-url",
            &node.api_url,
        ];
        args.extend(extra);
        let platform = Platform::start_in(&tmp.path().join("d"), addr, &args);
        let http = reqwest::Client::builder()
            .resolve(APPS_HOST, node.traefik)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Self {
            platform: Some(platform),
            namespace,
            client: Client::try_default().await.expect("the test cluster"),
            http,
            traefik: node.traefik,
            _tmp: tmp,
        }
    }

    fn platform(&self) -> &Platform {
        self.platform.as_ref().expect("running")
    }

    /// The app's pods, by revision annotation.
    async fn pods(&self, app_id: &str) -> Vec<Pod> {
        Api::<Pod>::namespaced(self.client.clone(), &self.namespace)
            .list(&ListParams::default().labels(&format!("gofast.dev/app-id={app_id}")))
            .await
            .expect("list pods")
            .items
    }

    /// GETs `url` until the app answers rather than Traefik's "no route" 404
    /// (its configuration follows the cluster within its throttle, 2 s):
    /// the status and the body.
    async fn routed(&self, url: &str) -> (reqwest::StatusCode, String) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let answer = match self.http.get(url).send().await {
                Ok(r) => Ok((r.status(), r.text().await.unwrap_or_default())),
                Err(e) => Err(e),
            };
            match answer {
                Ok((status, body)) if !(status == 404 && body.trim() == TRAEFIK_404) => {
                    return (status, body);
                }
                _ if Instant::now() > deadline => panic!("{url} is not routed: {answer:?}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Opens the WebSocket at `{app_url}ws` through Traefik (101 or panic).
    async fn websocket(&self, app_url: &str) -> WebSocket {
        let ws_url = format!("{}ws", app_url.replacen("http://", "ws://", 1));
        let tcp = tokio::net::TcpStream::connect(self.traefik).await.unwrap();
        let (ws, resp) = tokio_tungstenite::client_async(ws_url.as_str(), tcp)
            .await
            .expect("the WebSocket handshake through Traefik");
        assert_eq!(resp.status(), 101);
        ws
    }

    /// Stops the platform and removes the namespace (see `Drop`).
    async fn finish(self) {
        drop(self);
    }
}

/// Also when a test fails: its pods must not stay on the node for the next ones.
impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.platform.take());
        drop(DeleteNamespace(self.namespace.clone()));
    }
}

/// `gofast deploy DIR/main.py --name NAME -o json`: the events and the exit status.
fn deploy(user: &User, main: &std::path::Path, name: &str) -> (Vec<serde_json::Value>, bool) {
    let out = user.run(&[
        "deploy",
        main.to_str().unwrap(),
        "--name",
        name,
        "-o",
        "json",
    ]);
    let events = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON event"))
        .collect();
    (events, out.status.success())
}

fn stages(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["stage"].as_str().map(String::from))
        .collect()
}

const LIFE: &str = r#"import errno, os
from fastapi import FastAPI, Response

print("hello from the pod", flush=True)
app = FastAPI()


@app.get("/")
def root():
    return {"message": "VERSION"}


def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]


@app.get("/origin-wide")
def origin_wide():
    # A hostile app's bid for the whole apps origin (service workers, wipes).
    return Response("mine", headers={
        "Service-Worker-Allowed": "/",
        "Clear-Site-Data": '"*"',
        "X-Own-Header": "kept",
    })


@app.get("/inside")
def inside():
    return {
        "cap_eff": status("CapEff"),
        "seccomp": status("Seccomp"),
        "no_new_privs": status("NoNewPrivs"),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "secrets": os.path.exists("/var/run/secrets"),
        "root": try_write("/probe"),
        "app": try_write("/app/probe"),
        "tmp": try_write("/tmp/probe"),
    }
"#;

fn life(version: &str) -> String {
    LIFE.replace("VERSION", version)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_lives_its_whole_life_on_the_real_node_behind_traefik() {
    let Some(node) = real_node() else {
        return;
    };
    // Advisory, like the isolation tests: the checker would refuse the
    // probe's `os` and `open`, as code that slipped past it would not be.
    let cluster = Cluster::start(&node, &["--validation", "advisory"]).await;
    let ada = Arc::new(cluster.platform().user("ada@example.com"));
    let tmp = tempfile::tempdir().unwrap();

    // READY only once the pod answers /health (it is then Ready in the
    // cluster) and Traefik routes to it: the first request gets the app.
    let v1 = write_app(tmp.path(), "v1", &life("v1"));
    let (events, ok) = deploy(&ada, &v1, "life");
    assert!(ok, "{events:?}");
    let seen = stages(&events);
    let health = seen.iter().position(|s| s == "HEALTH_CHECK");
    let ready = seen.iter().position(|s| s == "READY");
    assert!(
        matches!((health, ready), (Some(h), Some(r)) if h < r),
        "{seen:?}"
    );
    let summary = events.last().unwrap();
    let app_id = summary["app_id"].as_str().unwrap().to_string();
    let url = summary["url"].as_str().unwrap().to_string();
    let prefix = format!("/user/{}/app/{app_id}", user_id_of(&url));
    assert_eq!(
        url,
        format!("http://{APPS_HOST}:{}{prefix}/", cluster.traefik.port())
    );
    let pods = cluster.pods(&app_id).await;
    assert_eq!(pods.len(), 1, "one pod serves the app");
    assert_eq!(
        pods[0].spec.as_ref().unwrap().node_name.as_deref(),
        Some(NODE)
    );
    let pod_ready = pods[0]
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    assert!(pod_ready, "READY was reported before the pod was Ready");
    let first = cluster.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200, "not routed at READY");
    assert_eq!(
        first.json::<serde_json::Value>().await.unwrap()["message"],
        "v1"
    );

    // /docs and /openapi.json under the prefix.
    let docs = cluster.http.get(format!("{url}docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let docs = docs.text().await.unwrap();
    assert!(
        docs.contains(&format!("{prefix}/openapi.json")),
        "/docs does not load the prefixed schema:\n{docs}"
    );
    let openapi = cluster
        .http
        .get(format!("{url}openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200);
    let openapi: serde_json::Value = openapi.json().await.unwrap();
    assert_eq!(openapi["servers"][0]["url"], prefix.as_str(), "{openapi}");

    // Apps share the apps origin: Traefik drops the response headers that
    // act on all of it, as the gateway does in the embedded shape.
    let bid = cluster
        .http
        .get(format!("{url}origin-wide"))
        .send()
        .await
        .unwrap();
    assert_eq!(bid.status(), 200);
    assert_eq!(bid.headers()["x-own-header"], "kept");
    assert!(
        !bid.headers().contains_key("service-worker-allowed")
            && !bid.headers().contains_key("clear-site-data"),
        "an app reached the whole origin: {:?}",
        bid.headers()
    );

    // The hardened pod really runs the app: not root, nothing writable but
    // /tmp, no service-account token, no capabilities, a seccomp filter.
    let inside: serde_json::Value = cluster
        .http
        .get(format!("{url}inside"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inside["uid"], 10001, "{inside}");
    assert_eq!(inside["gid"], 10001, "{inside}");
    assert_eq!(inside["secrets"], false, "a token is mounted: {inside}");
    assert_eq!(inside["root"], "EROFS", "{inside}");
    assert_eq!(inside["app"], "EROFS", "{inside}");
    assert_eq!(inside["tmp"], "written", "{inside}");
    // No capability, the runtime's seccomp filter (mode 2), no privilege gain.
    assert_eq!(inside["cap_eff"], "0000000000000000", "{inside}");
    assert_eq!(inside["seccomp"], "2", "{inside}");
    assert_eq!(inside["no_new_privs"], "1", "{inside}");

    // The app's output, through the apiserver and the kubelet.
    let logs = ada.run(&["logs", "life"]);
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    assert!(
        text(&logs.stdout).contains("hello from the pod"),
        "{}",
        text(&logs.stdout)
    );

    // An update: a client hits the route all along and no request fails.
    let stop = Arc::new(AtomicBool::new(false));
    let client = tokio::spawn(hammer(cluster.http.clone(), url.clone(), stop.clone()));
    let v2 = write_app(tmp.path(), "v2", &life("v2"));
    let a = ada.clone();
    let (events, ok) = tokio::task::spawn_blocking(move || deploy(&a, &v2, "life"))
        .await
        .unwrap();
    let ready_at = Instant::now();
    assert!(ok, "{events:?}");
    // Until the old pod is gone, and a little after.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.pods(&app_id).await.len() > 1 {
        assert!(
            Instant::now() < deadline,
            "the old pod outlived the rollout"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let answers = client.await.unwrap();
    let failures: Vec<&(Instant, String)> = answers
        .iter()
        .filter(|(_, a)| !a.starts_with('v'))
        .collect();
    let last_old = answers
        .iter()
        .filter(|(_, a)| a == "v1")
        .map(|(at, _)| at.saturating_duration_since(ready_at).as_secs_f64())
        .fold(f64::MIN, f64::max);
    eprintln!(
        "rollout: {} requests, {} failed, the old code answered until {last_old:.1}s after READY",
        answers.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "requests failed during the rollout: {failures:?}"
    );
    assert!(answers.len() > 20, "too few requests to tell: {answers:?}");
    assert_eq!(answers.first().map(|(_, a)| a.as_str()), Some("v1"));
    // READY waits for Traefik to send new requests to the new pod only
    // (--traefik-api-url): from then on, only the new code answers (a
    // moment's margin: Traefik's API shows a configuration as its routers
    // take it up).
    let settled = ready_at + Duration::from_millis(200);
    let late_old: Vec<_> = answers
        .iter()
        .filter(|(at, a)| *at > settled && a != "v2")
        .collect();
    assert!(
        late_old.is_empty(),
        "{} answers from the old code after READY",
        late_old.len()
    );

    // Delete: Traefik answers 404 and nothing is left in the namespace.
    let out = ada.run(&["delete", "life", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = cluster.http.get(&url).send().await
            && r.status() == 404
            && r.text().await.unwrap_or_default().trim() == TRAEFIK_404
        {
            break;
        }
        assert!(Instant::now() < deadline, "still routed after delete");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = leftovers(&cluster.client, &cluster.namespace).await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left in the namespace: {left:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.finish().await;
}

/// The app id at the end of an app's URL.
fn app_id_of(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("an app URL")
        .to_string()
}

/// The user id in an app URL `http://host/user/{user}/app/{app}/`.
fn user_id_of(url: &str) -> String {
    url.split("/user/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("a /user/ URL")
        .to_string()
}

/// GETs `url` every 50 ms until `stop`; each answer's message, or what went
/// wrong, with when it was asked.
async fn hammer(
    http: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
) -> Vec<(Instant, String)> {
    let mut answers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let asked = Instant::now();
        let answer = match http.get(&url).send().await {
            Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                Ok(v) => v["message"].as_str().unwrap_or("no message").to_string(),
                Err(e) => format!("bad body: {e}"),
            },
            Ok(r) => format!("status {}", r.status()),
            Err(e) => format!("error: {e}"),
        };
        answers.push((asked, answer));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answers
}

/// Everything an app could leave behind in the namespace.
async fn leftovers(client: &Client, ns: &str) -> Vec<String> {
    async fn names<K>(api: Api<K>, kind: &str) -> Vec<String>
    where
        K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    {
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .iter()
            .map(|o| format!("{kind}/{}", o.meta().name.clone().unwrap_or_default()))
            .collect()
    }
    let c = || client.clone();
    let traefik =
        |kind| ApiResource::from_gvk(&GroupVersionKind::gvk("traefik.io", "v1alpha1", kind));
    let mut left = Vec::new();
    left.extend(
        names(Api::<ConfigMap>::namespaced(c(), ns), "ConfigMap")
            .await
            .into_iter()
            .filter(|n| n != "ConfigMap/kube-root-ca.crt"),
    );
    left.extend(names(Api::<Deployment>::namespaced(c(), ns), "Deployment").await);
    left.extend(names(Api::<ReplicaSet>::namespaced(c(), ns), "ReplicaSet").await);
    left.extend(names(Api::<Pod>::namespaced(c(), ns), "Pod").await);
    left.extend(names(Api::<Service>::namespaced(c(), ns), "Service").await);
    left.extend(names(Api::<EndpointSlice>::namespaced(c(), ns), "EndpointSlice").await);
    left.extend(names(Api::<NetworkPolicy>::namespaced(c(), ns), "NetworkPolicy").await);
    for kind in ["Middleware", "IngressRoute"] {
        let api = Api::<DynamicObject>::namespaced_with(c(), ns, &traefik(kind));
        left.extend(
            api.list(&ListParams::default())
                .await
                .expect("list")
                .items
                .iter()
                .map(|o| format!("{kind}/{}", o.metadata.name.clone().unwrap_or_default())),
        );
    }
    // The namespace's one response-header Middleware is every app's, not this one's.
    let shared = format!("Middleware/{}", builders::APP_HEADERS);
    left.retain(|n| *n != shared);
    left
}

/// Deploys `code` as `name` and expects FAILED; returns the FAILED event.
fn fails(user: &User, dir: &std::path::Path, name: &str, code: &str) -> serde_json::Value {
    let main = write_app(dir, name, code);
    let (events, ok) = deploy(user, &main, name);
    assert!(!ok, "{name} deployed: {events:?}");
    assert!(
        !stages(&events).iter().any(|s| s == "READY"),
        "{name}: {events:?}"
    );
    events
        .iter()
        .find(|e| e["stage"] == "FAILED")
        .cloned()
        .unwrap_or_else(|| panic!("{name}: no FAILED event in {events:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_hog_a_crash_and_a_loop_at_import_end_failed_with_their_reason() {
    let Some(node) = real_node() else {
        return;
    };
    let cluster = Cluster::start(&node, &["--start-timeout", "5"]).await;
    let ada = Arc::new(cluster.platform().user("ada@example.com"));
    let tmp = Arc::new(tempfile::tempdir().unwrap());
    let (a, t) = (ada.clone(), tmp.clone());
    let hog = tokio::task::spawn_blocking(move || {
        fails(
            &a,
            t.path(),
            "hog",
            "from fastapi import FastAPI\n\napp = FastAPI()\nblob = \"x\" * (512 * 1024 * 1024)\n",
        )
    });
    let (a, t) = (ada.clone(), tmp.clone());
    let crash = tokio::task::spawn_blocking(move || {
        fails(
            &a,
            t.path(),
            "crash",
            "from fastapi import FastAPI\n\napp = FastAPI()\nratio = 1 / 0\n",
        )
    });
    let (a, t) = (ada.clone(), tmp.clone());
    let spin = tokio::task::spawn_blocking(move || {
        fails(
            &a,
            t.path(),
            "spin",
            "from fastapi import FastAPI\n\napp = FastAPI()\nwhile True:\n    pass\n",
        )
    });
    let hog = hog.await.unwrap();
    let message = hog["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("exceeded memory limit (128 MiB)"),
        "the hog failed for another reason: {hog}"
    );
    let crash = crash.await.unwrap();
    let tail = crash["output_tail"].as_str().unwrap_or_default();
    assert!(tail.contains("ZeroDivisionError"), "{crash}");
    assert!(
        tail.contains("main.py\", line 4"),
        "the traceback does not name the user's line: {crash}"
    );
    // The kubelet's startup probe gave up on it: not a crash, and said so.
    let spin = spin.await.unwrap();
    assert!(
        spin["message"]
            .as_str()
            .unwrap_or_default()
            .contains("did not answer /health within 5s"),
        "{spin}"
    );
    for name in ["hog", "crash", "spin"] {
        assert_eq!(status(&ada, name), "FAILED", "{name}");
    }
    cluster.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_websocket_app_answers_through_traefik() {
    let Some(node) = real_node() else {
        return;
    };
    let cluster = Cluster::start(&node, &[]).await;
    let ada = cluster.platform().user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let main = write_app(tmp.path(), "echo", WS_ECHO);
    let url = ada.deploy(&[&main], "echo");
    // The route exists once an HTTP request gets the app's own 404.
    let (status, body) = cluster.routed(&format!("{url}nothing-here")).await;
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (404, r#"{"detail":"Not Found"}"#)
    );
    let mut ws = cluster.websocket(&url).await;
    assert_eq!(
        exchange(&mut ws, Message::text("hello")).await,
        Message::text("echo: hello")
    );
    assert_eq!(
        exchange(&mut ws, Message::binary(vec![1u8, 2, 3])).await,
        Message::binary(vec![3u8, 2, 1])
    );
    ws.close(None).await.unwrap();
    cluster.finish().await;
}

type WebSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Sends one message and returns the answer (within 10 s).
async fn exchange(ws: &mut WebSocket, message: Message) -> Message {
    ws.send(message).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer")
        .unwrap()
        .unwrap()
}

/// `last_activity_at` (ms) of every app, read from the platform's SQLite
/// store: the API does not show it, and it is what idle removal goes by.
fn last_activity(platform: &Platform) -> std::collections::HashMap<String, i64> {
    let script = "import json, sqlite3, sys\n\
                  db = sqlite3.connect(sys.argv[1])\n\
                  print(json.dumps(dict(db.execute('SELECT id, last_activity_at FROM apps'))))";
    let out = std::process::Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(platform.data_dir.join("gofast.db"))
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON map")
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_through_traefik_count_as_the_apps_activity() {
    let Some(node) = real_node() else {
        return;
    };
    let cluster = Cluster::start(&node, &[]).await;
    let ada = cluster.platform().user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let used = ada.deploy(
        &[&write_app(tmp.path(), "used", &hello_main("used"))],
        "used",
    );
    let unused = ada.deploy(
        &[&write_app(tmp.path(), "unused", &hello_main("unused"))],
        "unused",
    );
    let (used_id, unused_id) = (app_id_of(&used), app_id_of(&unused));
    let before = last_activity(cluster.platform());
    // Never through the control plane: Traefik's counters are all it sees.
    for _ in 0..5 {
        let (status, _) = cluster.routed(&used).await;
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let now = last_activity(cluster.platform());
        if now[&used_id] > before[&used_id] {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "requests through Traefik did not count as activity: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        after[&unused_id], before[&unused_id],
        "an app nobody used became active"
    );
    cluster.finish().await;
}

/// The pods' gateway: where kube-node.sh's `expose` makes a port of this
/// machine's loopback reachable from the node's namespace (and Traefik).
const POD_GATEWAY: &str = "10.88.0.1";

/// A port of 127.0.0.1 that is free now, reachable from the node.
fn exposed_port() -> u16 {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = std::process::Command::new(repo().join("scripts/kube-node.sh"))
        .args(["expose", &port.to_string()])
        .output()
        .expect("run kube-node.sh expose");
    assert!(out.status.success(), "expose: {}", text(&out.stderr));
    port
}

const SLEEPY: &str = r#"from fastapi import FastAPI, Request

app = FastAPI()


@app.get("/")
def root():
    return {"message": "sleepy"}


@app.post("/echo")
async def echo(request: Request):
    return {"got": (await request.body()).decode()}
"#;

/// Sleep in the cluster shape: an idle app's Deployment goes to zero and its
/// route to the control plane (the activator); its next request through
/// Traefik, a POST with a body, is held, the app scales up, and the request
/// is answered by it. An app in use through Traefik never sleeps, and a
/// request that would loop back to the activator does not wake anything.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_app_sleeps_without_pods_and_its_next_request_wakes_it() {
    let Some(node) = real_node() else {
        return;
    };
    let port = exposed_port();
    let addr = format!("127.0.0.1:{port}");
    let activator = format!("{POD_GATEWAY}:{port}");
    let cluster = Cluster::start_at(
        &node,
        &addr,
        &[
            "--sleep-after",
            "6s",
            "--kube-activator-address",
            &activator,
        ],
    )
    .await;
    let ada = cluster.platform().user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let sleepy = ada.deploy(&[&write_app(tmp.path(), "sleepy", SLEEPY)], "sleepy");
    let chat = ada.deploy(&[&write_app(tmp.path(), "chat", WS_ECHO)], "chat");
    let busy = ada.deploy(
        &[&write_app(tmp.path(), "busy", &hello_main("busy"))],
        "busy",
    );
    let (sleepy_id, busy_id) = (app_id_of(&sleepy), app_id_of(&busy));
    let busy_pods: Vec<String> = cluster
        .pods(&busy_id)
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(busy_pods.len(), 1, "one pod: {busy_pods:?}");

    // `busy` is used through Traefik all along; `sleepy` is left alone.
    let in_use = Arc::new(AtomicBool::new(true));
    let keep_busy = {
        let (http, url, in_use) = (cluster.http.clone(), busy.clone(), in_use.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while in_use.load(Ordering::Relaxed) {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {}
                    other => failures.push(format!("{other:?}")),
                }
                tokio::time::sleep(Duration::from_millis(1000)).await;
            }
            failures
        })
    };

    until_status(&ada, "sleepy", "SLEEPING");
    let deployments = Api::<Deployment>::namespaced(cluster.client.clone(), &cluster.namespace);
    let name = format!("app-{sleepy_id}");
    assert_eq!(
        deployments.get(&name).await.unwrap().spec.unwrap().replicas,
        Some(0)
    );
    let gvk = GroupVersionKind::gvk("traefik.io", "v1alpha1", "IngressRoute");
    let routes: Api<DynamicObject> = Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &ApiResource::from_gvk(&gvk),
    );
    let route = routes.get(&name).await.unwrap();
    assert_eq!(
        route.data["spec"]["routes"][0]["services"][0]["name"],
        "gofast-activator"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster.pods(&sleepy_id).await.is_empty() {
        assert!(Instant::now() < deadline, "the sleeping app's pod stayed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A request marked as the control plane's own, come back round: the
    // activator answers 503 with gofast's error shape at once, and nothing
    // wakes. (Until Traefik's throttle lets it see the new route, Traefik
    // answers itself, in plain text.)
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let looped = cluster
            .http
            .get(&sleepy)
            .header("gofast-activator", "1")
            .send()
            .await
            .unwrap();
        let status_code = looped.status();
        let body = looped.text().await.unwrap_or_default();
        let from_gofast =
            serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["code"].is_string());
        if from_gofast {
            assert_eq!(status_code, 503, "{body}");
            assert!(body.contains("does not lead to it yet"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the route never led to the activator: {status_code} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        deployments.get(&name).await.unwrap().spec.unwrap().replicas,
        Some(0),
        "a looped request woke the app"
    );
    assert_eq!(status(&ada, "sleepy"), "SLEEPING");

    // The next request, with a body: held, the app wakes, the app answers.
    let started = Instant::now();
    let woke = cluster
        .http
        .post(format!("{sleepy}echo"))
        .timeout(Duration::from_secs(90))
        .body("wake me")
        .send()
        .await
        .expect("the request that wakes the app");
    let took = started.elapsed();
    assert_eq!(woke.status(), 200);
    assert_eq!(
        woke.json::<serde_json::Value>().await.unwrap()["got"],
        "wake me"
    );
    eprintln!("woke through the activator in {} ms", took.as_millis());
    assert_eq!(status(&ada, "sleepy"), "READY");
    assert_eq!(
        deployments.get(&name).await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
    let (status_code, body) = cluster.routed(&sleepy).await;
    assert_eq!((status_code.as_u16(), body.contains("sleepy")), (200, true));
    let route = routes.get(&name).await.unwrap();
    assert_eq!(
        route.data["spec"]["routes"][0]["services"][0]["name"],
        name.as_str()
    );

    // A WebSocket handshake wakes a sleeping app too, and the tunnel runs
    // through the activator and Traefik to the pod.
    until_status(&ada, "chat", "SLEEPING");
    let chat_id = app_id_of(&chat);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster.pods(&chat_id).await.is_empty() {
        assert!(Instant::now() < deadline, "the sleeping app's pod stayed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Traefik's throttle: the route has moved to the activator by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The handshake itself wakes the app.
    let mut ws = cluster.websocket(&chat).await;
    assert_eq!(
        exchange(&mut ws, Message::text("hello")).await,
        Message::text("echo: hello")
    );
    ws.close(None).await.unwrap();
    assert_eq!(status(&ada, "chat"), "READY");

    // The activator passes a request on only for the app's owner: asked
    // directly, another user's path to the same app is not forwarded.
    let direct = |user: &str| {
        reqwest::Client::new()
            .get(format!("http://{addr}/user/{user}/app/{busy_id}/"))
            .header("host", format!("{APPS_HOST}:{}", cluster.traefik.port()))
            .send()
    };
    let owner = user_id_of(&busy);
    let mine = direct(&owner).await.unwrap();
    assert_eq!(mine.status(), 200, "the owner's request is passed on");
    assert!(mine.text().await.unwrap().contains("busy"));
    let stranger = direct("u000000000").await.unwrap();
    assert_eq!(stranger.status(), 404, "another user's path was passed on");

    // All the while, the app in use kept its one pod and never slept.
    in_use.store(false, Ordering::Relaxed);
    let failures = keep_busy.await.unwrap();
    assert!(
        failures.is_empty(),
        "requests to the busy app failed: {failures:?}"
    );
    assert_eq!(status(&ada, "busy"), "READY");
    let now: Vec<String> = cluster
        .pods(&busy_id)
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(now, busy_pods, "the app in use was put to sleep");
    cluster.finish().await;
}
