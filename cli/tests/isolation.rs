//! Isolation and limits of the embedded runtime, end to end: attack apps try
//! to read the platform's secrets and other apps' code; bad apps (a memory
//! hog, an import-time loop, a crash) fail with the right reason while a
//! neighbour keeps answering; a crash-looping app is retried with backoff;
//! a hostile app finds no network, no way to make namespaces and no file
//! descriptor of the platform's; a flood of output stays bounded; without
//! bubblewrap `gofast up` refuses to start unless told `--sandbox none`.
//!
//! The validator refuses the attack code, as it should; but it is a guide,
//! not the boundary. To prove the runtime contains what a validator might
//! let through, attack apps are deployed with `--validation advisory` (the
//! validator reports and deploys anyway). The crash-loop test still rewrites
//! a stored revision while the platform is down: a revision that crashes at
//! every start cannot be deployed as a healthy one.

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
    // Advisory: the validator reports the attack and deploys it anyway, as
    // it would code that slipped through a gap in it.
    let mut platform = Platform::start_in(&data, "127.0.0.1:0", &["--validation", "advisory"]);
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
    let main = write_app(tmp.path(), "attack", ATTACK);
    let notes = dir.join("notes.py");
    std::fs::write(&notes, "NOTES = \"notes-of-the-app-itself\"\n").unwrap();

    // The validator is the first filter: it refuses this code outright.
    let out = mallory.run(&["check", main.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the validator let the attack through"
    );
    let url = mallory.deploy(&[&main, &notes], "attack");
    assert_eq!(get(&victim).await.status(), 200, "the victim answers");

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
            "GOFAST_ROOT_PATH",
            "GOFAST_UDS",
            "LANG",
            "PATH",
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
        // The app's own /proc/self/status, as it read it.
        let status = <procfs::process::Status as procfs::FromRead>::from_read(status.as_bytes())
            .expect("the app's /proc/self/status");
        let uids = [status.ruid, status.euid, status.suid, status.fuid];
        assert!(!uids.contains(&0), "the app runs as root: uids {uids:?}");
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
    start_report_with(data_dir, flags, &[])
}

fn start_report_with(data_dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> String {
    use std::io::BufRead;
    let mut child = std::process::Command::new(GOFAST)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(flags)
        .envs(env.iter().copied())
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
        said.contains("no filesystem, process or network isolation"),
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
    // Wait for the third crash, then look at how long three took: with a
    // backoff of 1 s then 2 s between attempts, at least 3 s; a tight loop
    // would have crashed three times in well under one.
    let started = Instant::now();
    let crashes = || {
        let out = ada.run(&["logs", "flappy", "--tail", "2000"]);
        text(&out.stdout).matches("ZeroDivisionError").count()
    };
    let mut seen = crashes();
    while seen < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {seen} crashes in a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = crashes();
    }
    let took = started.elapsed();
    eprintln!("{seen} crashes in {took:?}");
    assert!(
        took >= Duration::from_millis(2500),
        "{seen} crashes in {took:?}: no backoff between attempts"
    );
    assert!(seen <= 4, "{seen} crashes by the time the third was seen");
    assert_ne!(get(&url).await.status(), 200, "it never came up");
}

// --- the box around each app: network, seccomp, fds, output ---------------

/// `gofast up` started by hand, for what `Platform` does not offer: a file
/// descriptor inherited from a careless parent, environment, and its pid.
struct Up {
    child: std::process::Child,
    url: String,
    _lines: std::sync::mpsc::Receiver<String>,
}

impl Up {
    /// Starts `gofast up` through `sh`, which first opens `fd7` (if given)
    /// as fd 7 without close-on-exec, as a careless parent process would.
    fn start(data_dir: &Path, flags: &[&str], fd7: Option<&Path>) -> Self {
        use std::io::BufRead;
        let script = match fd7 {
            Some(_) => r#"exec 7<"$GOFAST_TEST_FD7"; exec "$@""#,
            None => r#"exec "$@""#,
        };
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", script, "sh", GOFAST, "up", "--addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--reconcile-seconds", "1", "--validation", "advisory"])
            .args(flags)
            .env("GOFAST_VENV", venv())
            .env("GOFAST_LOG", "gofast_controlplane=debug,warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(f) = fd7 {
            cmd.env("GOFAST_TEST_FD7", f);
        }
        let mut child = cmd.spawn().expect("start gofast up");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("[gofast up] {line}");
                let _ = tx.send(line);
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("gofast up did not start");
            if let Some(rest) = line.strip_prefix("gofast is listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        Self {
            child,
            url,
            _lines: rx,
        }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn user(&self, email: &str) -> User {
        let user = User {
            server: self.url.clone(),
            config: tempfile::tempdir().unwrap(),
            token: None,
        };
        let out = user.run_stdin(
            &["signup", "--email", email, "--password-stdin"],
            "password123\n",
        );
        assert!(out.status.success(), "signup: {}", text(&out.stderr));
        user
    }

    /// The control plane's peak resident memory so far, in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status = procfs::process::Process::new(self.child.id() as i32)
            .and_then(|p| p.status())
            .expect("the control plane's /proc/PID/status");
        status.vmhwm.expect("VmHWM")
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// Everything an app might try to get out of its box.
const BOX_ATTACK: &str = r#"
import ctypes
import os
import platform
import socket
import stat
import subprocess
import threading

from fastapi import FastAPI, Request

app = FastAPI()
held = []


@app.get("/tcp")
def tcp():
    rows = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            rows += f.read().splitlines()[1:]
    return rows


@app.get("/connect")
def connect(host: str, port: int):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "connected"
    except OSError as e:
        return f"{type(e).__name__}: {e}"


@app.get("/unix")
def unix(path: str):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.sendall(b"GET /health HTTP/1.0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
        return "connected: " + s.recv(200).decode("latin-1")
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    finally:
        s.close()


@app.get("/listen")
def listen():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen()
    held.append(s)
    return s.getsockname()[1]


@app.get("/who")
def who(request: Request):
    return {"client": request.client.host if request.client else None}


@app.get("/fds")
def fds():
    found = {}
    for fd in range(3, 1024):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        what = [os.readlink(f"/proc/self/fd/{fd}")]
        try:
            if stat.S_ISREG(st.st_mode):
                what.append(os.pread(fd, 4096, 0).decode("latin-1"))
            elif stat.S_ISDIR(st.st_mode):
                what.append(",".join(os.listdir(f"/proc/self/fd/{fd}")))
        except OSError as e:
            what.append(type(e).__name__)
        found[fd] = what
    return found


KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine(), -1)


@app.get("/syscalls")
def syscalls():
    libc = ctypes.CDLL(None, use_errno=True)

    def call(f, *args):
        ctypes.set_errno(0)
        return [f(*args), ctypes.get_errno()]

    out = {
        "unshare -Ur": subprocess.run(["unshare", "-Ur", "true"], capture_output=True, text=True).returncode,
        "unshare(CLONE_NEWUSER)": call(libc.unshare, 0x10000000),
        "unshare(CLONE_NEWNET)": call(libc.unshare, 0x40000000),
        "clone3": call(libc.syscall, 435, None, 0),
        "mount": call(libc.mount, b"none", b"/tmp", b"tmpfs", 0, None),
        "ptrace": call(libc.ptrace, 0, 0, None, None),
        "keyctl": call(libc.syscall, KEYCTL, 0, 0, 0, 0, 0),
    }
    # What an ordinary app does still works: threads, a child process.
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    out["subprocess"] = subprocess.run(["true"]).returncode
    return out
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_app_has_no_network_no_namespaces_and_no_fd_of_the_platform() {
    let tmp = tempfile::tempdir().unwrap();
    // A root-only file the process that starts the platform has open, as fd 7.
    let secret_file = tmp.path().join("root-only");
    let secret = format!("inherited-secret-{}", std::process::id());
    std::fs::write(&secret_file, &secret).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let data = tmp.path().join("data");
    let up = Up::start(&data, &[], Some(&secret_file));
    let health = get_json(&format!("{}/healthz", up.url)).await;
    let iso = &health["isolation"];
    assert!(
        iso["namespaces"]
            .as_array()
            .unwrap()
            .contains(&"net".into()),
        "{iso}"
    );
    assert!(
        iso["seccomp"]["denied"].to_string().contains("unshare"),
        "{iso}"
    );

    let ada = up.user("ada@example.com");
    let victim = ada.deploy(
        &[&write_app(tmp.path(), "victim", &hello_main("victim"))],
        "victim",
    );
    let mallory = up.user("mallory@example.com");
    let url = mallory.deploy(&[&write_app(tmp.path(), "box", BOX_ATTACK)], "box");

    // No host listener is visible: not the platform's port, nothing at all.
    let tcp = get_json(&format!("{url}tcp")).await;
    assert_eq!(
        tcp,
        serde_json::json!([]),
        "the app sees sockets of the host"
    );

    // No connection out: not to the platform, not off the machine.
    let port = up.port();
    for (host, port) in [("127.0.0.1", port), ("192.0.2.1", 80)] {
        let said = get_json(&format!("{url}connect?host={host}&port={port}")).await;
        let said = said.as_str().unwrap();
        assert!(
            said.starts_with("ConnectionRefusedError") || said.contains("unreachable"),
            "{host}:{port}: {said}"
        );
    }
    // Not to another app: its socket is not in this app's world.
    let victim_id = victim.trim_end_matches('/').rsplit('/').next().unwrap();
    let victim_socket = std::fs::read_dir(data.join("apps/.run"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(victim_id)
        })
        .expect("the victim's run dir")
        .join("app.sock");
    assert!(victim_socket.exists());
    let said = get_json(&format!("{url}unix?path={}", victim_socket.display())).await;
    assert!(
        said.as_str().unwrap().starts_with("FileNotFoundError"),
        "{said}"
    );
    // What it listens on is not reachable from the host.
    let listening = get_json(&format!("{url}listen")).await.as_u64().unwrap() as u16;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", listening)).is_err(),
        "the app's port {listening} is reachable from the host"
    );
    // A client's forged X-Forwarded-For does not reach the app.
    let who: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}who"))
        .header("X-Forwarded-For", "6.6.6.6")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["client"], "127.0.0.1", "{who}");

    // No namespaces, no mounts, no tracing, no keyrings; threads still work.
    let calls = get_json(&format!("{url}syscalls")).await;
    let (eperm, enosys) = (1, 38);
    assert_ne!(calls["unshare -Ur"], 0, "{calls}");
    for name in [
        "unshare(CLONE_NEWUSER)",
        "unshare(CLONE_NEWNET)",
        "mount",
        "ptrace",
        "keyctl",
    ] {
        assert_eq!(
            calls[name],
            serde_json::json!([-1, eperm]),
            "{name}: {calls}"
        );
    }
    assert_eq!(calls["clone3"], serde_json::json!([-1, enosys]), "{calls}");
    assert_eq!(calls["subprocess"], 0, "{calls}");

    // No file descriptor of the platform's: not the inherited fd 7, not the
    // directories and filters bwrap was handed.
    let fds = get_json(&format!("{url}fds")).await;
    for (fd, what) in fds.as_object().unwrap() {
        let link = what[0].as_str().unwrap();
        assert!(
            !link.starts_with('/') || link == "/dev/null",
            "fd {fd} is open on {what}"
        );
        assert!(!what.to_string().contains(&secret), "fd {fd}: {what}");
    }
}

const FLOOD: &str = r#"
from fastapi import FastAPI

app = FastAPI()


@app.get("/flood")
def flood(mib: int):
    chunk = "x" * (1 << 20)
    for _ in range(mib):
        print(chunk, end="")
    print()
    print("flood done", flush=True)
    return "ok"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_output_costs_the_platform_little_and_is_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let up = Up::start(&tmp.path().join("data"), &[], None);
    let ada = up.user("ada@example.com");
    let url = ada.deploy(&[&write_app(tmp.path(), "flood", FLOOD)], "flood");
    let before = up.peak_rss_kib();
    let mib = 128;
    let resp = reqwest::Client::new()
        .get(format!("{url}flood?mib={mib}"))
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The app has written everything; wait until the platform has read it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = loop {
        let out = ada.run(&["logs", "flood"]);
        let logs = text(&out.stdout);
        if logs.contains("flood done") || Instant::now() > deadline {
            break logs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let after = up.peak_rss_kib();
    let growth_mib = (after.saturating_sub(before)) as f64 / 1024.0;
    eprintln!(
        "control plane peak RSS: {before} KiB before, {after} KiB after {mib} MiB of output: +{growth_mib:.1} MiB"
    );
    let dropped = (mib << 20) - 8 * 1024;
    assert!(
        logs.contains(&format!("[line cut: {dropped} bytes dropped]")),
        "no cut marker in the logs"
    );
    assert!(logs.contains("flood done"));
    assert!(
        growth_mib < 48.0,
        "the control plane grew by {growth_mib:.1} MiB for {mib} MiB of output"
    );
}

#[test]
fn without_bubblewrap_up_refuses_to_start_and_says_how_to_fix_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A machine without bwrap, and one where bwrap does not work.
    for bwrap in [tmp.path().join("no-bwrap"), PathBuf::from("/bin/false")] {
        let out = std::process::Command::new(GOFAST)
            .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path().join("data"))
            .env("GOFAST_VENV", venv())
            .env("GOFAST_BWRAP", &bwrap)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run gofast up");
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", bwrap.display());
        assert!(!stderr.contains("gofast is listening"), "{stderr}");
        for fix in [
            "apt-get install bubblewrap",
            "scripts/deps.sh",
            "--sandbox none",
        ] {
            assert!(stderr.contains(fix), "no {fix:?} in: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_sandbox_none_it_starts_without_bubblewrap_and_warns() {
    let tmp = tempfile::tempdir().unwrap();
    let no_bwrap = tmp.path().join("no-bwrap");
    let said = start_report_with(
        &tmp.path().join("data"),
        &["--sandbox", "none"],
        &[("GOFAST_BWRAP", no_bwrap.to_str().unwrap())],
    );
    assert!(said.contains("Apps run in plain processes"), "{said}");
    assert!(
        said.contains("WARNING:   - no filesystem, process or network isolation"),
        "{said}"
    );
}
