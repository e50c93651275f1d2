//! Two control planes on one store, as the chart runs them: whichever replica
//! a request lands on gives the same answer. A deploy made through one is
//! watched to the end through the other (on the Kubernetes runtime against
//! the kwok test cluster, and on the local runtime, where an app can really
//! crash at import: kwok runs no Python); a replica killed mid-deploy leaves
//! a deploy that the other finishes, and the watch on it still ends; logout on
//! one replica ends the session on the other.
//!
//! Needs `GOFAST_TEST_MONGODB_URI` (FerretDB: `scripts/ferretdb.sh start`)
//! and, for the Kubernetes case, `KUBECONFIG` (`scripts/kube-testenv.sh
//! start`). Without them the tests are skipped, except under CI, where that
//! is a failure.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use gofast_proto::v1 as pb;
use pb::DeployStage as S;

/// Shared by both replicas, so a login on one is good on the other.
const JWT_SECRET: &str = "replicas-e2e-secret-that-is-long-enough";

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// Two `gofast up` on one store with these extra flags, and a user logged in
/// through the first.
fn two_replicas(store: &str, extra: &[&str]) -> (tempfile::TempDir, Platform, Platform) {
    let tmp = tempfile::tempdir().unwrap();
    let mut flags = vec!["--store", store, "--jwt-secret", JWT_SECRET];
    flags.extend_from_slice(extra);
    let one = Platform::start_in(&tmp.path().join("one"), "127.0.0.1:0", &flags);
    let other = Platform::start_in(&tmp.path().join("other"), "127.0.0.1:0", &flags);
    (tmp, one, other)
}

async fn create_app(p: &Platform, token: &str, name: &str, main_py: &str) -> (String, u32) {
    let created = p
        .apps_client()
        .await
        .create_app(authed(
            pb::CreateAppRequest {
                name: name.into(),
                files: vec![pb::File {
                    name: "main.py".into(),
                    content: main_py.into(),
                }],
            },
            token,
        ))
        .await
        .expect("the app is created")
        .into_inner();
    (created.app.expect("an app").app_id, created.revision)
}

/// Opens a watch of the deploy on `p`.
async fn watch(
    p: &Platform,
    token: &str,
    app: &str,
    revision: u32,
) -> tonic::Streaming<pb::DeployEvent> {
    p.apps_client()
        .await
        .watch_deployment(authed(
            pb::WatchDeploymentRequest {
                app: app.into(),
                revision,
            },
            token,
        ))
        .await
        .expect("the deploy is known on this replica")
        .into_inner()
}

/// Every event until the stream ends (within `limit`).
async fn collect(
    mut events: tonic::Streaming<pb::DeployEvent>,
    limit: Duration,
) -> Vec<pb::DeployEvent> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(e))) => all.push(e),
            Ok(Some(Err(status))) => panic!("the watch failed: {status}"),
            Ok(None) => return all,
            Err(_) => panic!("the watch did not end within {limit:?}; so far: {all:?}"),
        }
    }
}

fn stages(events: &[pb::DeployEvent]) -> Vec<S> {
    events.iter().map(|e| e.stage()).collect()
}

/// Each stage once, in the order of a deploy.
fn assert_in_order(events: &[pb::DeployEvent], last: S) {
    let got = stages(events);
    let expected: Vec<S> = [
        S::Validating,
        S::Stored,
        S::Applying,
        S::Starting,
        S::HealthCheck,
        last,
    ]
    .into_iter()
    .filter(|s| got.contains(s) || *s == last)
    .collect();
    assert_eq!(got, expected, "{events:?}");
    assert_eq!(got.first(), Some(&S::Validating), "{events:?}");
}

async fn status_events(p: &Platform, token: &str, app: &str) -> Vec<pb::DeployEvent> {
    p.apps_client()
        .await
        .get_app_status(authed(pb::GetAppStatusRequest { app: app.into() }, token))
        .await
        .expect("status")
        .into_inner()
        .events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_through_one_replica_is_watched_to_ready_through_the_other_on_kubernetes() {
    let Some(base) = required_env("GOFAST_TEST_MONGODB_URI") else {
        return;
    };
    if required_env("KUBECONFIG").is_none() {
        return;
    }
    let store = fresh_database_uri(&base, "replicas");
    let namespace = format!("e2e-{}", gofast_controlplane::ids::new_id(6));
    let (_tmp, one, other) = two_replicas(
        &store,
        &[
            "--runtime",
            "kubernetes",
            "--kube-namespace",
            &namespace,
            "--public-url",
            "http://gofast.test",
            "--apps-url",
            "http://apps.gofast.test",
        ],
    );
    let ada = one.user("ada@example.com");
    let token = ada.saved_token();
    let (app, rev) = create_app(&one, &token, "hello", &hello_main("two replicas")).await;
    // Watched at once through the replica that does not run it.
    let events = collect(
        watch(&other, &token, &app, rev).await,
        Duration::from_secs(120),
    )
    .await;
    assert_in_order(&events, S::Ready);
    let ready = events.last().unwrap();
    assert!(
        ready.url.starts_with("http://apps.gofast.test/user/"),
        "{ready:?}"
    );
    // The same history from either replica, and from the one that ran it.
    let from_one = collect(
        watch(&one, &token, &app, rev).await,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(stages(&from_one), stages(&events));
    assert_eq!(status_events(&other, &token, &app).await, events);
    assert_eq!(status_events(&one, &token, &app).await, events);
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_on_one_store_agree_on_deploys_crashes_killed_replicas_and_logouts() {
    let Some(base) = required_env("GOFAST_TEST_MONGODB_URI") else {
        return;
    };
    let store = fresh_database_uri(&base, "replicas");
    let (tmp, mut one, other) = two_replicas(&store, &[]);
    let ada = one.user("ada@example.com");
    let token = ada.saved_token();

    // Deploy through one, watch through the other: every stage, in order.
    let (app, rev) = create_app(&one, &token, "hello", &hello_main("hi")).await;
    let mut watching = watch(&other, &token, &app, rev).await;
    let mut events = Vec::new();
    let mut lags = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(120), watching.next())
        .await
        .expect("the watch ends")
    {
        let e = e.expect("an event");
        // How late a live event arrives here after the other replica made it
        // (one machine, one clock): what tailing the store costs.
        if matches!(e.stage(), S::Starting | S::HealthCheck | S::Ready) {
            let made = e
                .time
                .as_ref()
                .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            lags.push(now - made);
        }
        events.push(e);
    }
    assert_in_order(&events, S::Ready);
    eprintln!("REPLICA_LAG_MS (live events on the other replica, ms): {lags:?}");

    // A crash at import: FAILED with the traceback, on the other replica too.
    let crash =
        "from fastapi import FastAPI\n\napp = FastAPI()\nraise RuntimeError('broken at import')\n";
    let (broken, bad) = create_app(&one, &token, "broken", crash).await;
    let events = collect(
        watch(&other, &token, &broken, bad).await,
        Duration::from_secs(120),
    )
    .await;
    assert_in_order(&events, S::Failed);
    let failed = events.last().unwrap();
    assert!(failed.output_tail.contains("Traceback"), "{failed:?}");
    assert!(
        failed.output_tail.contains("broken at import"),
        "{failed:?}"
    );

    // Logout on one replica ends the session on the other.
    let session = one.user("grace@example.com");
    let grace = session.saved_token();
    let me = |p: &Platform, t: String| {
        let url = p.url.clone();
        async move {
            let mut auth = pb::auth_service_client::AuthServiceClient::connect(url)
                .await
                .unwrap();
            auth.me(authed(pb::MeRequest {}, &t)).await
        }
    };
    me(&other, grace.clone())
        .await
        .expect("the login is good on both");
    let out = session.run(&["logout"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let refused = me(&other, grace).await.expect_err("the session ended");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused}");

    // The replica running a deploy dies mid-way: the other finishes it, and
    // the watch on it ends.
    let slow = "import time\n\nfrom fastapi import FastAPI\n\ntime.sleep(4)\napp = FastAPI()\n\n\n@app.get('/')\ndef root():\n    return {'message': 'slow'}\n";
    let (slow_app, slow_rev) = create_app(&one, &token, "slow", slow).await;
    let mut watching = watch(&other, &token, &slow_app, slow_rev).await;
    let mut seen = Vec::new();
    while let Some(e) = tokio::time::timeout(Duration::from_secs(60), watching.next())
        .await
        .expect("the deploy starts")
    {
        let e = e.expect("an event");
        let starting = e.stage() == S::Starting;
        seen.push(e);
        if starting {
            break;
        }
    }
    let killed = Instant::now();
    one.kill();
    let rest = collect(watching, Duration::from_secs(120)).await;
    let last = rest.last().expect("the watch ends with an outcome");
    assert!(matches!(last.stage(), S::Ready | S::Failed), "{rest:?}");
    assert_eq!(
        last.stage(),
        S::Ready,
        "the other replica finished it: {rest:?}"
    );
    assert!(
        rest.iter().any(|e| e.message.contains("stopped")),
        "the takeover is told: {rest:?}"
    );
    eprintln!(
        "the deploy ended {:?} after its replica was killed",
        killed.elapsed()
    );
    drop(tmp);
}
