//! Sleep and wake through the real binaries: an idle app stops and shows
//! SLEEPING, its next request (plain or a WebSocket handshake) starts it
//! again and gets the answer, deploys work on it asleep, and a wake that fails
//! answers 503 with a page that names the app and its logs.

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::{connect_async, tungstenite::Message};

fn start() -> Platform {
    Platform::start_with(&["--sleep-after", "2s"])
}

/// `gofast_running_apps` as `/metrics` reports it.
async fn running_apps(p: &Platform) -> String {
    let metrics = get(&format!("{}/metrics", p.url))
        .await
        .text()
        .await
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("gofast_running_apps "))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn an_idle_app_sleeps_and_a_request_or_a_handshake_wakes_it() {
    let p = start();
    let user = p.user("sleeper@example.com");
    let dir = tempfile::tempdir().unwrap();
    let main = write_app(dir.path(), "hello", &hello_main("good morning"));
    let url = user.deploy(&[&main], "hello");
    assert_eq!(get_json(&url).await["message"], "good morning");

    until_status(&user, "hello", "SLEEPING");
    assert_eq!(running_apps(&p).await, "0", "no process while asleep");
    let apps = user.run(&["apps"]);
    assert!(
        text(&apps.stdout).contains("SLEEPING"),
        "{}",
        text(&apps.stdout)
    );

    // A request marked as the control plane's own (a loop through Traefik,
    // in the cluster shape) is refused at once and starts nothing.
    let looped = reqwest::Client::new()
        .get(&url)
        .header("gofast-activator", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(looped.status(), 503);
    assert_eq!(looped.headers()["retry-after"], "1");
    assert_eq!(status(&user, "hello"), "SLEEPING");
    assert_eq!(running_apps(&p).await, "0", "a looped request woke the app");

    // The next request is held while the app starts, then answered.
    let resp = get(&url).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["message"],
        "good morning"
    );
    assert_eq!(status(&user, "hello"), "READY");
    assert_eq!(running_apps(&p).await, "1");
    // Its output spans both lives.
    let logs = text(&user.run(&["logs", "hello"]).stdout);
    assert_eq!(
        logs.matches("Application startup complete").count(),
        2,
        "{logs}"
    );

    // Asleep again, a deploy brings the new code up as usual.
    until_status(&user, "hello", "SLEEPING");
    std::fs::write(&main, hello_main("new code")).unwrap();
    user.deploy(&[&main], "hello");
    assert_eq!(status(&user, "hello"), "READY");
    assert_eq!(get_json(&url).await["message"], "new code");

    // A WebSocket handshake wakes a sleeping app too.
    let chat = write_app(dir.path(), "chat", WS_ECHO);
    let chat_url = user.deploy(&[&chat], "chat");
    until_status(&user, "chat", "SLEEPING");
    let ws_url = format!("{}ws", chat_url.replacen("http://", "ws://", 1));
    let (mut ws, resp) = connect_async(ws_url).await.expect("the handshake wakes it");
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hi")).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer")
        .expect("a frame")
        .expect("no error");
    assert_eq!(answer, Message::text("echo: hi"));
}

#[tokio::test]
async fn a_wake_that_fails_answers_503_naming_the_app_and_its_logs() {
    let p = start();
    let user = p.user("fragile@example.com");
    let dir = tempfile::tempdir().unwrap();
    // Starts now, but not once it has slept: its import fails after a deadline.
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 4;
    let code = format!(
        "import time\n\nfrom fastapi import FastAPI\n\nif time.time() > {deadline}:\n    \
         raise RuntimeError('too late to start')\n\napp = FastAPI()\n\n\n@app.get('/')\n\
         def root():\n    return {{'ok': True}}\n"
    );
    let main = write_app(dir.path(), "fragile", &code);
    let url = user.deploy(&[&main], "fragile");
    until_status(&user, "fragile", "SLEEPING");
    while std::time::SystemTime::now() < std::time::UNIX_EPOCH + Duration::from_secs(deadline + 1) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let page = reqwest::Client::new()
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = page.text().await.unwrap();
    assert!(body.contains("fragile could not start"), "{body}");
    assert!(body.contains("gofast logs fragile"), "{body}");

    // Scripts get the JSON error shape, at once (no second start).
    let resp = get(&url).await;
    assert_eq!(resp.status(), 503);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["code"], "unavailable");
    assert!(
        err["message"].as_str().unwrap().contains("\"fragile\""),
        "{err}"
    );
    // Why is in its logs: the traceback of the failed start.
    let logs = text(&user.run(&["logs", "fragile"]).stdout);
    assert!(logs.contains("RuntimeError: too late to start"), "{logs}");
    assert_eq!(status(&user, "fragile"), "SLEEPING");
}
