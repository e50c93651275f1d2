//! Revisions, rollbacks, logs, API tokens, and deploys that go wrong in the
//! ways learners' code does.

mod common;

use std::time::Duration;

use common::*;
use gofast_proto::v1 as pb;
use tokio_stream::StreamExt;

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_code_makes_no_revision_and_rollback_brings_back_the_old_one() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let v1 = write_app(tmp.path(), "v1", &hello_main("one"));
    let v2 = write_app(tmp.path(), "v2", &hello_main("two"));
    let url = ada.deploy(&[&v1], "rolly");
    ada.deploy(&[&v1], "rolly");
    let status = |u: &User| -> serde_json::Value {
        serde_json::from_slice(&u.run(&["status", "rolly", "-o", "json"]).stdout).unwrap()
    };
    assert_eq!(status(&ada)["revision"], 1, "same code made a new revision");
    ada.deploy(&[&v2], "rolly");
    assert_eq!(status(&ada)["revision"], 2);
    assert_eq!(get_json(&url).await["message"], "two");

    // Without a terminal, `open` prints the URL and opens nothing.
    let out = ada.run(&["open", "rolly"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), url);
    assert_eq!(ada.run(&["open", "nosuchapp"]).status.code(), Some(1));

    let out = ada.run(&["rollback", "rolly"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), url);
    assert_eq!(get_json(&url).await["message"], "one");
    assert_eq!(status(&ada)["revision"], 1);

    let out = ada.run(&["rollback", "rolly", "--to", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get_json(&url).await["message"], "two");

    let out = ada.run(&["rollback", "rolly", "--to", "9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no revision 9"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_show_the_apps_output_and_follow_new_lines() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let app = write_app(
        tmp.path(),
        "chatty",
        "from fastapi import FastAPI\n\napp = FastAPI()\nprint('booting chatty')\n\n\n@app.get('/')\ndef root():\n    print('handled root')\n    return {}\n",
    );
    let url = ada.deploy(&[&app], "chatty");
    let out = ada.run(&["logs", "chatty"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("booting chatty"),
        "{}",
        text(&out.stdout)
    );

    let mut follower = ada
        .command(&["logs", "chatty", "--follow", "--tail", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // The tail comes once the follower is subscribed to new lines: only then
    // is there something new to show.
    let tail = printed.recv_timeout(Duration::from_secs(10));
    assert!(tail.is_ok(), "--follow printed no tail");
    get(&url).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = std::iter::from_fn(|| {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        printed.recv_timeout(left).ok()
    })
    .any(|l| l.contains("handled root"));
    let _ = follower.kill();
    let _ = follower.wait();
    let _ = reader.join();
    assert!(found, "--follow did not show the new line");
}

#[tokio::test(flavor = "multi_thread")]
async fn api_tokens_work_like_a_login_until_revoked() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let out = ada.run(&["token", "create", "ci", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();

    let ci = User {
        server: platform.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: Some(secret.clone()),
    };
    let url = ci.deploy(&[&repo().join("examples/hello/main.py")], "from-ci");
    assert_eq!(get(&url).await.status(), 200);

    let list: serde_json::Value =
        serde_json::from_slice(&ada.run(&["token", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(list[0]["name"], "ci");
    assert!(
        list[0]["last_used_at"].is_string(),
        "last use not recorded: {list}"
    );
    assert!(!list.to_string().contains(&secret), "the secret is listed");
    // Only a hash is stored.
    let db = std::fs::read(platform.data_dir.join("gofast.db")).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(&secret[3..]),
        "the token secret is in the database"
    );

    assert!(ada.run(&["token", "revoke", &id]).status.success());
    let out = ci.run(&["apps"]);
    assert_eq!(out.status.code(), Some(3), "a revoked token still works");
    assert!(
        text(&out.stderr).contains("revoked"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ada.run(&["token", "revoke", &id]).status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_that_never_listen_or_exit_at_once_fail_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    // Long enough for a healthy start on a loaded machine, short for a test.
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--start-timeout", "10"],
    );
    let ada = platform.user("ada@example.com");
    // Never answers: the import blocks forever.
    let slow = write_app(
        tmp.path(),
        "slow",
        "import time\nfrom fastapi import FastAPI\n\napp = FastAPI()\nwhile True:\n    time.sleep(1)\n",
    );
    let out = ada.run(&["deploy", slow.to_str().unwrap(), "--name", "slow"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("did not answer /health within 10s"),
        "{}",
        text(&out.stderr)
    );

    // Exits right after start: the app object is not an app.
    let exits = write_app(
        tmp.path(),
        "exits",
        "from fastapi import FastAPI\n\napp = FastAPI()\napp = 42\n",
    );
    let out = ada.run(&[
        "deploy",
        exits.to_str().unwrap(),
        "--name",
        "exits",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let last: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "FAILED");
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = events.iter().find(|e| e["stage"] == "FAILED").unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"),
        "{failed}"
    );
    assert!(
        failed["output_tail"].as_str().unwrap().contains("app"),
        "{failed}"
    );
    // The crashed start's output is in the logs too.
    let logs = ada.run(&["logs", "exits"]);
    assert!(!text(&logs.stdout).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_deploy_supersedes_one_still_under_way() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--start-timeout", "20"],
    );
    let ada = platform.user("ada@example.com");
    let token = ada.saved_token();
    let mut apps = platform.apps_client().await;
    let slow = "import time\nfrom fastapi import FastAPI\n\ntime.sleep(5)\napp = FastAPI()\n\n\n@app.get('/')\ndef root():\n    return {'message': 'slow'}\n";
    let files = |c: &str| {
        vec![pb::File {
            name: "main.py".into(),
            content: c.into(),
        }]
    };
    let first = apps
        .create_app(authed(
            pb::CreateAppRequest {
                name: "race".into(),
                files: files(slow),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let app_id = first.app.unwrap().app_id;
    // A client that watches and goes away mid-stream changes nothing.
    let watch = apps
        .watch_deployment(authed(
            pb::WatchDeploymentRequest {
                app: app_id.clone(),
                revision: 1,
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    // The second deploy comes while the first is starting (its import sleeps).
    let mut events = watch.map(|e| e.unwrap());
    let starting = events.any(|e| e.stage == pb::DeployStage::Starting as i32);
    let starting = tokio::time::timeout(Duration::from_secs(30), starting).await;
    assert!(
        matches!(starting, Ok(true)),
        "revision 1 did not reach STARTING"
    );
    drop(events);
    let second = apps
        .update_app(authed(
            pb::UpdateAppRequest {
                app: app_id.clone(),
                files: files(&hello_main("fast")),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.revision, 2);

    let collect = |rev: u32| {
        let mut apps = apps.clone();
        let token = token.clone();
        let app_id = app_id.clone();
        async move {
            let s = apps
                .watch_deployment(authed(
                    pb::WatchDeploymentRequest {
                        app: app_id,
                        revision: rev,
                    },
                    &token,
                ))
                .await
                .unwrap();
            tokio::time::timeout(
                Duration::from_secs(30),
                s.into_inner().map(|e| e.unwrap()).collect::<Vec<_>>(),
            )
            .await
            .unwrap()
        }
    };
    let (one, two) = tokio::join!(collect(1), collect(2));
    let last1 = one.last().unwrap();
    assert_eq!(last1.stage, pb::DeployStage::Failed as i32);
    assert_eq!(last1.message, "superseded by revision 2");
    assert_eq!(two.last().unwrap().stage, pb::DeployStage::Ready as i32);
    let url = two.last().unwrap().url.clone();
    assert_eq!(get_json(&url).await["message"], "fast");
    // Nothing of the superseded start is left running.
    let running = get(&format!("{}/healthz", platform.url))
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(running["running_apps"], 1);
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(GOFAST)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        let script = text(&out.stdout);
        assert!(
            script.contains("deploy") && script.contains("rollback"),
            "{shell}: {script}"
        );
    }
    let out = std::process::Command::new(GOFAST)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_apps_are_removed_after_their_lifetime() {
    let tmp = tempfile::tempdir().unwrap();
    // A lifetime of zero hours: every app is idle at the next reconcile pass.
    let platform = Platform::start_in(&tmp.path().join("d"), "127.0.0.1:0", &["--idle-hours", "0"]);
    let ada = platform.user("ada@example.com");
    let app = write_app(tmp.path(), "brief", &hello_main("brief"));
    let _ = ada.run(&[
        "deploy",
        app.to_str().unwrap(),
        "--name",
        "brief",
        "--detach",
    ]);
    let mut gone = false;
    for _ in 0..100 {
        let out = ada.run(&["apps", "-o", "json"]);
        if text(&out.stdout).trim() == "[]" {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "an idle app was not removed");
    let health: serde_json::Value = get(&format!("{}/healthz", platform.url))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(health["running_apps"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_code_is_shown_on_the_users_line_before_anything_is_sent() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let bad = write_app(
        tmp.path(),
        "bad",
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.get('/')\ndef root()\n    return {}\n",
    );
    let out = ada.run(&["deploy", bad.to_str().unwrap(), "--name", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("main.py:6"), "no file:line in\n{err}");
    assert!(
        err.contains("def root()"),
        "the source line is not shown:\n{err}"
    );
    assert_eq!(text(&ada.run(&["apps", "-o", "json"]).stdout).trim(), "[]");
    let out = ada.run(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let good = write_app(tmp.path(), "good", &hello_main("ok"));
    let out = ada.run(&["check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
