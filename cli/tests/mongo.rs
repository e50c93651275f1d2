//! The control plane on the MongoDB store (FerretDB here), end to end: a
//! deploy through the CLI survives a restart of the control plane, and while
//! the database is down requests fail with UNAVAILABLE and a clear message,
//! then succeed again once it is back, without a restart.
//!
//! `scripts/test.sh` starts FerretDB and sets `GOFAST_TEST_MONGODB_URI` and
//! `GOFAST_TEST_FERRETDB_BIN`. Without them these tests are skipped, except
//! under CI, where that is a failure.

mod common;

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use gofast_proto::v1 as pb;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A FerretDB of this test's own, so that it can be stopped and started.
struct Ferret {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Ferret {
    fn start(bin: &str) -> Self {
        let mut f = Ferret {
            bin: PathBuf::from(bin),
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            child: None,
        };
        f.resume();
        f
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/gofast_outage", self.port)
    }

    /// Starts the server again on the same port and data.
    fn resume(&mut self) {
        let dir: &Path = self.dir.path();
        let child = Command::new(&self.bin)
            .arg("--handler=sqlite")
            .arg(format!("--sqlite-url=file:{}/", dir.display()))
            .arg(format!("--listen-addr=127.0.0.1:{}", self.port))
            .arg(format!("--state-dir={}", dir.display()))
            .args(["--debug-addr=-", "--telemetry=disable", "--log-level=error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ferretdb");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "FerretDB did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Ferret {
    fn drop(&mut self) {
        self.kill();
    }
}

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn app_names(out: &std::process::Output) -> Vec<String> {
    let apps: serde_json::Value = serde_json::from_slice(&out.stdout).expect("apps -o json");
    apps.as_array()
        .expect("a list")
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

/// Fails on a panic in what `gofast up` printed so far.
fn assert_no_panic(platform: &Platform) {
    while let Ok(line) = platform.stderr.try_recv() {
        assert!(!line.contains("panicked"), "gofast up panicked: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_survives_a_control_plane_restart_on_mongodb() {
    let Some(base) = required_env("GOFAST_TEST_MONGODB_URI") else {
        return;
    };
    let store = fresh_database_uri(&base, "e2e");
    let flags = [
        "--store",
        store.as_str(),
        "--jwt-secret",
        // At least 32 bytes: gofast up refuses weaker secrets.
        "mongo-e2e-secret-that-is-long-enough",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let first_data = tmp.path().join("first");
    let mut platform = Platform::start_in(&first_data, "127.0.0.1:0", &flags);
    let ada = platform.user("ada@example.com");
    let app = write_app(tmp.path(), "kept", &hello_main("kept in mongodb"));
    let url = ada.deploy(&[&app], "kept");
    assert_eq!(get_json(&url).await["message"], "kept in mongodb");
    // Nothing went to a SQLite file.
    assert!(!first_data.join("gofast.db").exists());

    let addr = platform.addr();
    assert!(platform.stop().success(), "gofast up did not stop cleanly");

    // Another data dir: what survives is only what MongoDB holds (the same
    // JWT secret keeps ada's login valid).
    let platform = Platform::start_in(&tmp.path().join("second"), &addr, &flags);
    let out = ada.run(&["apps", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(app_names(&out), ["kept"]);
    let mut answered = false;
    for _ in 0..150 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            assert_eq!(
                r.json::<serde_json::Value>().await.unwrap()["message"],
                "kept in mongodb"
            );
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(answered, "the app did not come back after the restart");

    // Revisions carry on from the stored ones.
    std::fs::write(&app, hello_main("second revision")).unwrap();
    let out = ada.run(&[
        "deploy",
        app.to_str().unwrap(),
        "--name",
        "kept",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["revision"], 2, "{last}");
    assert_eq!(get_json(&url).await["message"], "second revision");
    assert_no_panic(&platform);
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_outage_fails_fast_then_recovers_without_a_restart() {
    let Some(bin) = required_env("GOFAST_TEST_FERRETDB_BIN") else {
        return;
    };
    let mut ferret = Ferret::start(&bin);
    let store = ferret.uri();
    let tmp = tempfile::tempdir().unwrap();
    let platform = Platform::start_in(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--store", &store],
    );
    let ada = platform.user("ada@example.com");
    let app = write_app(tmp.path(), "steady", &hello_main("still serving"));
    let url = ada.deploy(&[&app], "steady");
    let token = ada.saved_token();

    ferret.kill();

    // The CLI: exit 3 with one clear sentence, quickly.
    let started = Instant::now();
    let out = ada.run(&["apps"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("database is unavailable") && stderr.contains("MongoDB"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Error {"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );

    // gRPC: UNAVAILABLE, for reads and for writes.
    let mut apps = platform.apps_client().await;
    let status = apps
        .list_apps(authed(pb::ListAppsRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("MongoDB"), "{status:?}");
    let out = ada.run(&["delete", "steady", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // REST: 503 with the JSON error body.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/apps", platform.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unavailable", "{body}");

    // The control plane itself, and the apps it runs, carry on.
    assert_eq!(
        get(&format!("{}/healthz", platform.url)).await.status(),
        200
    );
    assert_eq!(get_json(&url).await["message"], "still serving");

    ferret.resume();

    // Back without restarting the control plane.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ada.run(&["apps", "-o", "json"]);
        if out.status.success() {
            assert_eq!(app_names(&out), ["steady"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still failing after FerretDB came back: {}",
            text(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let resp = apps
        .list_apps(authed(pb::ListAppsRequest {}, &token))
        .await
        .expect("gRPC after recovery");
    assert_eq!(resp.into_inner().apps.len(), 1);
    // Writes too: a new revision deploys.
    std::fs::write(&app, hello_main("after the outage")).unwrap();
    ada.deploy(&[&app], "steady");
    assert_eq!(get_json(&url).await["message"], "after the outage");
    assert_no_panic(&platform);
}
