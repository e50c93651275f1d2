//! End to end through the real binaries: deploy, the gateway, updates without
//! downtime, restarts, failures.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn deployed_hello_answers_at_its_url_with_docs_through_the_prefix() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let out = ada.run(&[
        "deploy",
        repo().join("examples/hello/main.py").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).trim().to_string();
    // stdout is the URL and nothing else, so URL=$(gofast deploy main.py) works.
    assert!(
        url.starts_with(&format!("{}/user/", platform.apps)) && url.ends_with('/'),
        "{url}"
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
    let stderr = text(&out.stderr);
    let stages: Vec<&str> = [
        "VALIDATING",
        "STORED",
        "APPLYING",
        "STARTING",
        "HEALTH_CHECK",
        "READY",
    ]
    .to_vec();
    let positions: Vec<usize> = stages
        .iter()
        .map(|s| {
            stderr
                .find(s)
                .unwrap_or_else(|| panic!("no {s} in {stderr}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "stages out of order:\n{stderr}"
    );

    let root = get_json(&url).await;
    assert_eq!(root["message"], "Hello from gofast!");
    assert_eq!(get_json(&format!("{url}health")).await["status"], "ok");
    let prefix = url.trim_start_matches(&platform.apps).trim_end_matches('/');
    let docs = get(&format!("{url}docs")).await.text().await.unwrap();
    assert!(
        docs.contains(&format!("{prefix}/openapi.json")),
        "docs do not point through the prefix:\n{docs}"
    );
    let openapi = get_json(&format!("{url}openapi.json")).await;
    assert_eq!(openapi["info"]["title"], "hello");
    // Without the trailing slash: a redirect to the app's root.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(url.trim_end_matches('/')).send().await.unwrap();
    assert_eq!(resp.status(), 308);
    assert_eq!(resp.headers()["location"], format!("{prefix}/"));

    // The default name is the folder's; `apps -o json` has the contract's fields.
    let out = ada.run(&["apps", "-o", "json"]);
    let apps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(apps[0]["name"], "hello");
    assert_eq!(apps[0]["url"], url);
    assert_eq!(apps[0]["status"], "READY");
    assert_eq!(apps[0]["revision"], 1);
    assert!(apps[0]["app_id"].is_string() && apps[0]["updated_at"].is_string());

    let metrics = get(&format!("{}/metrics", platform.url))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gofast_deploys_total{outcome=\"ready\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("gofast_running_apps 1"), "{metrics}");
    assert!(
        metrics.contains("method=\"/gofast.v1.AppService/CreateApp\",code=\"Ok\""),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_switches_without_dropping_a_request() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let v1 = write_app(tmp.path(), "v1", &hello_main("one"));
    let v2 = write_app(tmp.path(), "v2", &hello_main("two"));
    let url = ada.deploy(&[&v1], "flip");

    // The poller reports (answers so far, whether "two" was seen) as it goes.
    let (seen, mut progress) = tokio::sync::watch::channel((0usize, false));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (url, stop) = (url.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut seen_two, mut failures) = (0, false, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {
                        ok += 1;
                        let body: serde_json::Value = r.json().await.unwrap();
                        seen_two |= body["message"] == "two";
                        seen.send_replace((ok, seen_two));
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(e.to_string()),
                }
            }
            (ok, seen_two, failures)
        })
    };
    let polling = progress.wait_for(|(ok, _)| *ok > 0);
    let polling = tokio::time::timeout(Duration::from_secs(10), polling)
        .await
        .map(|answered| answered.is_ok());
    assert_eq!(polling, Ok(true), "the poller got no answer");
    let url2 = tokio::task::spawn_blocking(move || ada.deploy(&[&v2], "flip"))
        .await
        .unwrap();
    assert_eq!(url, url2, "an update keeps the URL");
    // Requests go on until the new revision has answered one.
    let switched = progress.wait_for(|(_, two)| *two);
    let _ = tokio::time::timeout(Duration::from_secs(10), switched)
        .await
        .map(|seen| seen.is_ok());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, seen_two, failures) = poller.await.unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the update: {failures:?}"
    );
    assert!(ok > 10, "only {ok} requests were made");
    assert!(seen_two, "the new revision never answered");
    assert_eq!(get_json(&url).await["message"], "two");
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_brings_every_app_back_at_the_same_url() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut platform = Platform::start_in(&data, "127.0.0.1:0", &[]);
    let ada = platform.user("ada@example.com");
    let app = write_app(tmp.path(), "keep", &hello_main("still here"));
    let url = ada.deploy(&[&app], "keep");
    assert_eq!(get_json(&url).await["message"], "still here");

    // The app serves on a socket made by its own uid; its processes are that uid's.
    let socket = app_socket(&data.join("apps")).expect("the app's socket");
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&socket).unwrap());
    let own_uid = uid != nix::unistd::getuid().as_raw();
    if own_uid {
        assert!(
            processes_of(uid) > 0,
            "no process runs as the app's uid {uid}"
        );
    }

    let addr = platform.addr();
    assert!(
        platform.stop().success(),
        "gofast up did not stop cleanly on SIGTERM"
    );
    // Every app process stopped with it.
    assert!(
        std::os::unix::net::UnixStream::connect(&socket).is_err(),
        "the app still answers on its socket"
    );
    if own_uid {
        assert_eq!(processes_of(uid), 0, "the app outlived gofast up");
    }

    let _again = Platform::start_in(&data, &addr, &[]);
    let mut answered = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await
            && r.status() == 200
        {
            assert_eq!(
                r.json::<serde_json::Value>().await.unwrap()["message"],
                "still here"
            );
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "the app did not come back after a restart");
    // The saved login still works: the JWT secret was kept in the data dir.
    let out = ada.run(&["apps"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("keep"));
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_stops_the_app_and_its_url_answers_404() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let url = ada.deploy(
        &[&write_app(tmp.path(), "gone", &hello_main("bye"))],
        "gone",
    );
    assert_eq!(get(&url).await.status(), 200);
    let out = ada.run(&["delete", "gone"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "delete without --yes and without a terminal is a usage error"
    );
    assert_eq!(get(&url).await.status(), 200, "nothing was deleted");
    let out = ada.run(&["delete", "gone", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get(&url).await.status(), 404);
    let out = ada.run(&["status", "gone"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no app \"gone\""), "{stderr}");
    // The advice is the CLI's, not in the server's message (REST callers get it too).
    assert!(
        stderr.contains("next: see your apps with `gofast apps`"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_import_fails_with_the_users_traceback_and_keeps_the_old_revision() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let good = write_app(tmp.path(), "good", &hello_main("good"));
    let url = ada.deploy(&[&good], "crashy");
    let bad = write_app(
        tmp.path(),
        "bad",
        "from fastapi import FastAPI\n\napp = FastAPI()\nratio = 1 / 0\n",
    );
    let out = ada.run(&["deploy", bad.to_str().unwrap(), "--name", "crashy"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("FAILED"), "{stderr}");
    assert!(
        stderr.contains("main.py\", line 4"),
        "the traceback does not name the user's line:\n{stderr}"
    );
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
    assert!(
        stderr.contains("gofast logs crashy"),
        "no next step:\n{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
    // The previous revision keeps serving.
    assert_eq!(get_json(&url).await["message"], "good");
    let status = ada.run(&["status", "crashy", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["revision"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_one_event_per_line_then_a_summary() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let out = ada.run(&[
        "deploy",
        repo().join("examples/hello/main.py").to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    let stages: Vec<&str> = lines[..lines.len() - 1]
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "VALIDATING",
            "STORED",
            "APPLYING",
            "STARTING",
            "HEALTH_CHECK",
            "READY"
        ]
    );
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "READY");
    assert_eq!(last["revision"], 1);
    assert!(last["app_id"].is_string());
    assert_eq!(get(last["url"].as_str().unwrap()).await.status(), 200);
}

/// The first Unix socket below `dir`.
fn app_socket(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let t = entry.file_type().ok()?;
        if t.is_socket() {
            return Some(entry.path());
        }
        if t.is_dir()
            && let Some(found) = app_socket(&entry.path())
        {
            return Some(found);
        }
    }
    None
}

/// How many processes run as `uid` (real uid).
fn processes_of(uid: u32) -> usize {
    procfs::process::all_processes()
        .map(|all| {
            all.flatten()
                .filter(|p| p.status().is_ok_and(|s| s.ruid == uid))
                .count()
        })
        .unwrap_or(0)
}
