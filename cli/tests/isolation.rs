//! Isolation and limits of the embedded runtime, end to end: attack apps try
//! to read the platform's secrets and other apps' code; bad apps (a memory
//! hog, an import-time loop, a crash) fail with the right reason while a
//! neighbour keeps answering; a crash-looping app is retried with backoff.
//!
//! The validator refuses the attack code, as it should; but it is a guide,
//! not the boundary. To prove the runtime contains what a validator might
//! let through (a gap, or code stored under an older, laxer version), the
//! tests deploy a harmless revision, then rewrite its stored files while the
//! platform is down and let the real platform bring it back.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;

/// Marks a revision whose stored code the test replaces.
const SMUGGLE: &str = "# replaced by the test while the platform is down";

fn placeholder() -> String {
    format!("{}\n{SMUGGLE}\n", hello_main("placeholder"))
}

/// Replaces, in the stored revisions, every file containing SMUGGLE by `code`
/// (the platform is stopped). Uses the venv's Python: no SQLite tool needed.
fn smuggle(data_dir: &Path, code: &str) {
    let script = r#"
import json, sqlite3, sys
db, marker, code = sys.argv[1:4]
c = sqlite3.connect(db)
n = 0
for app_id, number, files in c.execute("SELECT app_id, number, files FROM revisions").fetchall():
    fs = json.loads(files)
    hit = [f for f in fs if marker in f["content"]]
    for f in hit:
        f["content"] = code
    if hit:
        c.execute("UPDATE revisions SET files = ? WHERE app_id = ? AND number = ?", (json.dumps(fs), app_id, number))
        n += 1
c.commit()
print(n)
"#;
    let out = std::process::Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(data_dir.join("gofast.db"))
        .args([SMUGGLE, code])
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "1",
        "one stored revision rewritten"
    );
}

/// Stops the platform, rewrites the marked revision, starts it again on the
/// same address and waits until `url` answers `path`.
async fn restart_with(platform: &mut Platform, code: &str, url: &str, path: &str) -> Platform {
    let data = platform.data_dir.clone();
    let addr = platform.addr();
    assert!(platform.stop().success());
    smuggle(&data, code);
    let again = Platform::start_in(&data, &addr, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{url}{path}")).await
            && r.status() == 200
        {
            return again;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the smuggled app never answered {url}{path}");
}

const ATTACK: &str = r#"
import glob
import os

from fastapi import FastAPI
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.config import Config, environ
from starlette.staticfiles import StaticFiles

app = FastAPI()
app.mount("/fs", StaticFiles(directory="/", check_dir=False), name="fs")


@app.get("/file")
def file(path: str):
    return FileResponse(path)


@app.get("/read", response_class=PlainTextResponse)
def read(path: str):
    try:
        with open(path, "rb") as f:
            return f.read().decode("latin-1")
    except Exception as e:
        return PlainTextResponse(type(e).__name__, status_code=404)


@app.get("/config")
def config(path: str):
    try:
        return {"file": dict(Config(path).file_values), "environ": dict(environ)}
    except Exception as e:
        return {"error": type(e).__name__}


@app.get("/env")
def env():
    return dict(os.environ)


@app.get("/glob")
def find(pattern: str):
    return sorted(glob.glob(pattern, recursive=True))[:500]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn attack_apps_get_nothing_of_the_platform_or_other_apps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut platform = Platform::start_in(&data, "127.0.0.1:0", &[]);
    let health: serde_json::Value = get_json(&format!("{}/healthz", platform.url)).await;
    assert_eq!(
        health["isolation"]["sandbox"], "bwrap",
        "these tests need bubblewrap (scripts/deps.sh installs it): {health}"
    );

    let ada = platform.user("ada@example.com");
    let marker = format!("victim-{}", std::process::id());
    let victim_main = format!("{}\nSECRET = \"{marker}\"\n", hello_main("victim"));
    let victim = ada.deploy(&[&write_app(tmp.path(), "victim", &victim_main)], "victim");

    let mallory = platform.user("mallory@example.com");
    let dir = tmp.path().join("attack");
    let main = write_app(tmp.path(), "attack", &placeholder());
    let notes = dir.join("notes.py");
    std::fs::write(&notes, "NOTES = \"notes-of-the-app-itself\"\n").unwrap();
    let url = mallory.deploy(&[&main, &notes], "attack");

    // The validator is the first filter: it refuses this code outright.
    let real = write_app(tmp.path(), "real-attack", ATTACK);
    let out = mallory.run(&["check", real.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the validator let the attack through"
    );

    let mut platform = restart_with(&mut platform, ATTACK, &url, "env").await;
    // Apps come back one by one after a restart: give the victim its turn.
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&victim).await.status() != 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&victim).await.status(), 200, "the victim came back");

    let secret = std::fs::read(data.join("jwt-secret")).expect("jwt secret");
    let secret = String::from_utf8_lossy(&secret).trim().to_string();
    assert!(secret.len() >= 16);
    let victim_dir = only_dir(&data.join("apps"), &victim);
    let victim_file = victim_dir.join("main.py");
    assert!(
        std::fs::read_to_string(&victim_file)
            .unwrap()
            .contains(&marker)
    );
    let d = data.display();
    let targets = [
        format!("{d}/gofast.db"),
        format!("{d}/jwt-secret"),
        victim_file.display().to_string(),
        "/proc/1/environ".into(),
        "/proc/1/cmdline".into(),
        "/proc/self/environ".into(),
        "/etc/shadow".into(),
    ];
    let mut urls = vec![
        format!("{url}env"),
        format!("{url}config?path=/proc/1/environ"),
    ];
    for t in &targets {
        urls.push(format!("{url}file?path={t}"));
        urls.push(format!("{url}read?path={t}"));
        urls.push(format!("{url}config?path={t}"));
        urls.push(format!("{url}fs{t}"));
    }
    for pattern in [
        format!("{d}/**"),
        format!("{d}/apps/*/*/main.py"),
        "/proc/*/environ".into(),
        "/proc/*/cmdline".into(),
    ] {
        let found: Vec<String> = get_json(&format!("{url}glob?pattern={pattern}"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        // (glob answers "X/" for "X/**" even when X does not exist.)
        assert!(
            !found
                .iter()
                .any(|f| f.starts_with(&d.to_string()) && *f != format!("{d}/")),
            "the app sees the data dir: {found:?}"
        );
        urls.extend(found.iter().map(|f| format!("{url}read?path={f}")));
    }

    let forbidden = [
        secret.as_str(),
        "SQLite format 3",
        "ada@example.com",
        marker.as_str(),
        // Only in the platform's own environment (common::Platform sets them).
        "GOFAST_LOG",
        "GOFAST_VENV",
        "root:",
    ];
    for u in &urls {
        let resp = get(u).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        for f in forbidden {
            assert!(!body.contains(f), "{u} ({status}) leaked {f:?}:\n{body}");
        }
    }
    // The app's own environment is just what the runner needs.
    let env = get_json(&format!("{url}env")).await;
    let mut keys: Vec<&str> = env
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "GOFAST_APP_DIR",
            "GOFAST_HOST",
            "GOFAST_ROOT_PATH",
            "LANG",
            "PATH",
            "PORT",
            // bwrap's --chdir sets it.
            "PWD",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONUNBUFFERED"
        ]
    );

    // Its own files it can read; a root-only file, even its own, it cannot:
    // it runs as a real unprivileged uid, not as root in a user namespace.
    let own = get(&format!("{url}read?path=/app/notes.py")).await;
    assert!(
        own.text()
            .await
            .unwrap()
            .contains("notes-of-the-app-itself")
    );
    if nix::unistd::geteuid().is_root() {
        let status = get(&format!("{url}read?path=/proc/self/status"))
            .await
            .text()
            .await
            .unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert!(
            !uid_line.contains("\t0\t"),
            "the app runs as root: {uid_line}"
        );
        let attack_dir = only_dir(&data.join("apps"), &url);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            attack_dir.join("notes.py"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let resp = get(&format!("{url}read?path=/app/notes.py")).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.text().await.unwrap(), "PermissionError");
    }
    assert!(platform.stop().success());
}

/// The one revision directory of the app at `url` (its id is the URL's last segment).
fn only_dir(apps: &Path, url: &str) -> PathBuf {
    let id = url.trim_end_matches('/').rsplit('/').next().unwrap();
    let dirs: Vec<PathBuf> = std::fs::read_dir(apps.join(id))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Polls `url` until stopped; returns (requests, failures, slowest).
fn poll(
    url: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(u32, Vec<String>, Duration)> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let (mut n, mut failures, mut slowest) = (0, vec![], Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => n += 1,
                Ok(r) => failures.push(format!("status {}", r.status())),
                Err(e) => failures.push(e.to_string()),
            }
            slowest = slowest.max(start.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (n, failures, slowest)
    })
}

/// Deploys `code` as `name` and expects FAILED with `reason`.
fn deploy_fails(user: &User, dir: &Path, name: &str, code: &str, reason: &str) {
    let main = write_app(dir, name, code);
    let out = user.run(&["deploy", main.to_str().unwrap(), "--name", name]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(stderr.contains("FAILED"), "{name}: {stderr}");
    assert!(
        stderr.contains(reason),
        "{name}: no {reason:?} in\n{stderr}"
    );
    let status = user.run(&["status", name, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["status"], "FAILED", "{name}");
}

const HOG: &str =
    "from fastapi import FastAPI\n\napp = FastAPI()\nblob = \"x\" * (512 * 1024 * 1024)\n";
const LOOP: &str = "from fastapi import FastAPI\n\napp = FastAPI()\nwhile True:\n    pass\n";
const CRASH: &str = "from fastapi import FastAPI\n\napp = FastAPI()\nratio = 1 / 0\n";

#[tokio::test(flavor = "multi_thread")]
async fn bad_apps_fail_with_their_reason_while_a_neighbour_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Platform::start_in(
        &tmp.path().join("data"),
        "127.0.0.1:0",
        &["--start-timeout", "3"],
    );
    let ada = platform.user("ada@example.com");
    let neighbour = ada.deploy(
        &[&write_app(
            tmp.path(),
            "neighbour",
            &hello_main("still here"),
        )],
        "neighbour",
    );
    let bob = platform.user("bob@example.com");
    let stop = Arc::new(AtomicBool::new(false));
    let poller = poll(neighbour.clone(), stop.clone());

    let dir = tmp.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        deploy_fails(&bob, &dir, "hog", HOG, "exceeded memory limit (128 MiB)");
        deploy_fails(&bob, &dir, "loop", LOOP, "did not answer /health within 3s");
        deploy_fails(&bob, &dir, "crash", CRASH, "exited with code 1");
    })
    .await
    .unwrap();

    stop.store(true, Ordering::Relaxed);
    let (n, failures, slowest) = poller.await.unwrap();
    assert!(failures.is_empty(), "the neighbour failed: {failures:?}");
    assert!(n > 20, "only {n} requests reached the neighbour");
    assert!(
        slowest < Duration::from_secs(1),
        "the neighbour took {slowest:?}"
    );
    assert_eq!(get_json(&neighbour).await["message"], "still here");
}

/// What `gofast up` says before it listens, with these flags.
fn start_report(data_dir: &Path, flags: &[&str]) -> String {
    use std::io::BufRead;
    let mut child = std::process::Command::new(GOFAST)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(flags)
        .env("GOFAST_VENV", venv())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start gofast up");
    let mut said = vec![];
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.starts_with("gofast is listening on ") {
            break;
        }
        said.push(line);
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    lines.for_each(drop);
    assert!(child.wait().unwrap().success());
    said.join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn without_sandbox_or_cgroups_it_says_so_and_rlimits_still_stop_a_hog() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let flags = ["--sandbox", "none", "--cgroups", "none"];
    // Said once at start, loudly.
    let said = start_report(&data, &flags);
    assert!(
        said.contains("WARNING: apps are not fully isolated"),
        "{said}"
    );
    assert!(
        said.contains("no filesystem or process isolation"),
        "{said}"
    );
    assert!(said.contains("no memory cgroup"), "{said}");
    let platform = Platform::start_in(&data, "127.0.0.1:0", &flags);
    let health = get_json(&format!("{}/healthz", platform.url)).await;
    assert_eq!(health["isolation"]["sandbox"], "none");
    assert_eq!(
        health["isolation"]["memory"]["enforced_by"],
        "rlimit (address space, approximate)"
    );
    let ada = platform.user("ada@example.com");
    let dir = tmp.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        deploy_fails(&ada, &dir, "hog", HOG, "exceeded memory limit (128 MiB)");
        // An ordinary app still fits under the rlimits.
        ada.deploy(&[&write_app(&dir, "fine", &hello_main("fine"))], "fine");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_start_report_names_the_protections_in_force() {
    let tmp = tempfile::tempdir().unwrap();
    let said = start_report(&tmp.path().join("data"), &[]);
    assert!(said.contains("Apps run in bubblewrap"), "{said}");
    assert!(said.contains("memory 128Mi by "), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_app_is_restarted_with_backoff() {
    let tmp = tempfile::tempdir().unwrap();
    let mut platform = Platform::start_in(&tmp.path().join("data"), "127.0.0.1:0", &[]);
    let ada = platform.user("ada@example.com");
    let url = ada.deploy(
        &[&write_app(tmp.path(), "flappy", &placeholder())],
        "flappy",
    );
    let data = platform.data_dir.clone();
    let addr = platform.addr();
    assert!(platform.stop().success());
    // Crashes at every start from now on.
    smuggle(&data, CRASH);
    let _platform = Platform::start_in(&data, &addr, &[]);
    let watched = Duration::from_secs(9);
    tokio::time::sleep(watched).await;
    let out = ada.run(&["logs", "flappy", "--tail", "2000"]);
    let starts = text(&out.stdout).matches("ZeroDivisionError").count();
    eprintln!("{starts} starts in {watched:?}");
    // Backoff 1s, 2s, 4s… from the first attempt: about four in nine seconds.
    // A tight loop would have made dozens.
    assert!(
        (2..=6).contains(&starts),
        "{starts} starts in {watched:?}:\n{}",
        text(&out.stdout)
    );
    assert_ne!(get(&url).await.status(), 200, "it never came up");
}
