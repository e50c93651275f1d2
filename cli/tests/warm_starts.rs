//! Warm starts, end to end: apps forked from the fork server get the same
//! box as a bwrap start (the rest of the isolation suite runs on the fork
//! path too, as it is the default), a crash at import reads as before, the
//! apps come back when the fork server is killed, and `--start exec` still
//! deploys.

mod common;

use std::{path::Path, time::Duration};

use common::*;

/// Reports the box from inside. Deployed with `--validation advisory`: the
/// checker refuses `open` and the like, as it should.
const BOX_REPORT: &str = r#"
import os
import socket

from fastapi import FastAPI

app = FastAPI()


def status():
    with open("/proc/self/status") as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


@app.get("/box")
def box():
    s = {k: v.strip() for k, v in status().items()}
    fds = {}
    for fd in range(3, 1024):
        try:
            os.fstat(fd)
        except OSError:
            continue
        what = os.readlink(f"/proc/self/fd/{fd}")
        if what.startswith("socket:"):
            sock = socket.socket(fileno=fd)
            what += " " + sock.type.name
            sock.detach()
        fds[fd] = what
    return {
        "uid": os.getuid(),
        "status": {k: s[k] for k in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp")},
        "interfaces": [n for _, n in socket.if_nameindex()],
        "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "pid": os.getpid(),
        "fds": fds,
        "apps_dir": os.listdir("/.gofast-apps") if os.path.isdir("/.gofast-apps") else None,
        "cwd": os.getcwd(),
    }


@app.get("/read")
def read(path: str):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return type(e).__name__
"#;

fn start(data: &Path, flags: &[&str]) -> Platform {
    Platform::start_in(data, "127.0.0.1:0", flags)
}

/// The processes below `root` (by parent pid) whose command line has `needle`.
fn descendants_running(root: i32, needle: &str) -> Vec<i32> {
    let all: Vec<(i32, i32, String)> = procfs::process::all_processes()
        .expect("/proc")
        .filter_map(|p| p.ok())
        .filter_map(|p| {
            let stat = p.stat().ok()?;
            let cmd = p.cmdline().ok()?.join(" ");
            Some((stat.pid, stat.ppid, cmd))
        })
        .collect();
    let mut below = vec![root];
    let mut found = vec![];
    while let Some(parent) = below.pop() {
        for (pid, ppid, cmd) in &all {
            if *ppid == parent {
                below.push(*pid);
                if cmd.contains(needle) {
                    found.push(*pid);
                }
            }
        }
    }
    found
}

/// Unique memory (Private_Clean + Private_Dirty) of a process, in KiB.
fn uss_kib(pid: i32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .filter(|l| l.starts_with("Private_Clean:") || l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The pid of the `gofast up` serving `data`.
fn platform_pid(data: &Path) -> i32 {
    let needle = data.display().to_string();
    procfs::process::all_processes()
        .expect("/proc")
        .filter_map(|p| p.ok())
        .find(|p| {
            p.cmdline()
                .is_ok_and(|c| c.iter().any(|a| a == "up") && c.contains(&needle))
        })
        .map(|p| p.pid)
        .expect("the gofast up of this data dir")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_app_is_in_a_box_of_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let platform = start(&data, &["--validation", "advisory"]);
    let health = get_json(&format!("{}/healthz", platform.url)).await;
    assert_eq!(health["isolation"]["start"], "fork", "{health}");

    let ada = platform.user("ada@example.com");
    let marker = format!("victim-{}", std::process::id());
    let victim = ada.deploy(
        &[&write_app(tmp.path(), "victim", &hello_main(&marker))],
        "victim",
    );
    assert_eq!(get(&victim).await.status(), 200);
    let mallory = platform.user("mallory@example.com");
    let url = mallory.deploy(&[&write_app(tmp.path(), "box", BOX_REPORT)], "box");
    let b = get_json(&format!("{url}box")).await;

    // Its own uid, no capability, no way to gain one, the filter in force.
    let uid = b["uid"].as_u64().unwrap();
    assert!(
        (1_000_000_000..1_000_000_000 + (1 << 24)).contains(&uid),
        "{b}"
    );
    for cap in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"] {
        assert_eq!(b["status"][cap], "0000000000000000", "{cap}: {b}");
    }
    assert_eq!(b["status"]["NoNewPrivs"], "1", "{b}");
    assert_eq!(b["status"]["Seccomp"], "2", "{b}");
    // Loopback only; pid 1 of a PID namespace where it is alone.
    assert_eq!(b["interfaces"], serde_json::json!(["lo"]), "{b}");
    assert_eq!(b["pid"], 1, "{b}");
    assert_eq!(b["pids"], serde_json::json!(["1"]), "{b}");
    assert_eq!(b["cwd"], "/app", "{b}");
    // None of the fork server's: no control socket (a SOCK_SEQPACKET),
    // and the apps directory it binds from is gone from this namespace.
    let fds = b["fds"].to_string();
    assert!(!fds.contains("SOCK_SEQPACKET"), "{fds}");
    assert!(
        !fds.contains("/.gofast-apps") && !fds.contains("/app"),
        "{fds}"
    );
    assert!(
        b["apps_dir"].is_null() || b["apps_dir"] == serde_json::json!([]),
        "{b}"
    );

    // The victim's files are in no path this app can name.
    let victim_id = victim.trim_end_matches('/').rsplit('/').next().unwrap();
    let revision = std::fs::read_dir(data.join("apps").join(victim_id))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let host_path = data
        .join("apps")
        .join(victim_id)
        .join(&revision)
        .join("main.py");
    assert!(
        std::fs::read_to_string(&host_path)
            .unwrap()
            .contains(&marker)
    );
    let inside = Path::new("/.gofast-apps")
        .join(victim_id)
        .join(&revision)
        .join("main.py");
    // Idle, each forked app holds little memory of its own: the server
    // stack's pages stay shared with the fork server (BENCHMARKS.md: ~10 MiB).
    let server = descendants_running(platform_pid(&data), "gofast_forkserver.py")
        .into_iter()
        .find(|&p| {
            procfs::process::Process::new(p)
                .and_then(|p| p.exe())
                .is_ok_and(|e| !e.ends_with("bwrap"))
        })
        .expect("the fork server");
    let apps = descendants_running(server, "gofast_forkserver.py");
    assert_eq!(apps.len(), 2, "{apps:?}");
    for app in apps {
        let kib = uss_kib(app);
        assert!(kib < 16 * 1024, "app {app} holds {kib} KiB of its own");
    }

    for path in [host_path, inside] {
        let said = get(&format!("{url}read?path={}", path.display()))
            .await
            .text()
            .await
            .unwrap();
        assert!(!said.contains(&marker), "{}: {said}", path.display());
        assert!(
            said.contains("FileNotFoundError"),
            "{}: {said}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_at_import_under_fork_reports_the_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = start(&tmp.path().join("data"), &[]);
    let ada = platform.user("ada@example.com");
    let main = write_app(
        tmp.path(),
        "crash",
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\ndef boom():\n    return 1 / 0\n\n\nboom()\n",
    );
    let out = ada.run(&["deploy", &main.display().to_string(), "--name", "crash"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exited with code 1 while starting"), "{err}");
    assert!(err.contains("ZeroDivisionError"), "{err}");
    assert!(err.contains("main.py\", line 10"), "{err}");
    // The runner's and the fork server's frames are not the user's business.
    assert!(!err.contains("gofast_forkserver"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_fork_server_is_killed_the_apps_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let platform = start(&data, &[]);
    let ada = platform.user("ada@example.com");
    let url = ada.deploy(
        &[&write_app(tmp.path(), "a", &hello_main("still here"))],
        "a",
    );
    assert_eq!(get(&url).await.status(), 200);

    let gofast = platform_pid(&data);
    let servers = descendants_running(gofast, "gofast_forkserver.py");
    let _before: Vec<String> = platform.stderr.try_iter().collect();
    // bwrap's two processes and the server itself carry its command line.
    let python = *servers
        .iter()
        .find(|&&p| {
            procfs::process::Process::new(p)
                .and_then(|p| p.exe())
                .is_ok_and(|e| !e.ends_with("bwrap"))
        })
        .expect("the fork server");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(python),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    // The app died with it, then the reconciler starts it again, from a
    // new fork server.
    let started = std::time::Instant::now();
    let mut went_down = false;
    loop {
        let up = reqwest::get(&url).await.is_ok_and(|r| r.status() == 200);
        went_down |= !up;
        if up && went_down {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the app did not come back (went down: {went_down})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = get(&url).await.text().await.unwrap();
    assert!(body.contains("still here"), "{body}");
    let again = descendants_running(gofast, "gofast_forkserver.py");
    assert!(!again.contains(&python), "{again:?}");
    assert!(!again.is_empty(), "no new fork server");
    // The new server was checked from inside a child before it forked the app.
    let said: Vec<String> = platform.stderr.try_iter().collect();
    assert_eq!(
        said.iter()
            .filter(|l| l.contains("fork server's self-check passed"))
            .count(),
        1,
        "{said:#?}"
    );
}

/// A Python environment below /tmp (a clean clone there) stays visible
/// through each child's fresh /tmp, so the warm start works there too.
#[tokio::test(flavor = "multi_thread")]
async fn a_venv_below_tmp_still_forks() {
    let tmp = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
    let venv_copy = tmp.path().join("venv");
    let copied = std::process::Command::new("cp")
        .args(["-a"])
        .arg(venv())
        .arg(&venv_copy)
        .status()
        .unwrap();
    assert!(copied.success());
    let data = tmp.path().join("data");
    let venv_arg = venv_copy.display().to_string();
    let platform = start(&data, &["--start", "fork", "--venv", &venv_arg]);
    let health = get_json(&format!("{}/healthz", platform.url)).await;
    assert_eq!(health["isolation"]["start"], "fork", "{health}");
    let ada = platform.user("ada@example.com");
    let url = ada.deploy(
        &[&write_app(tmp.path(), "a", &hello_main("warm in tmp"))],
        "a",
    );
    let body = get(&url).await.text().await.unwrap();
    assert!(body.contains("warm in tmp"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_start_exec_apps_still_deploy_cold() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let platform = start(&data, &["--start", "exec"]);
    let health = get_json(&format!("{}/healthz", platform.url)).await;
    assert_eq!(health["isolation"]["start"], "exec", "{health}");
    let ada = platform.user("ada@example.com");
    let url = ada.deploy(&[&write_app(tmp.path(), "a", &hello_main("cold"))], "a");
    let body = get(&url).await.text().await.unwrap();
    assert!(body.contains("cold"), "{body}");
    let gofast = platform_pid(&data);
    assert!(descendants_running(gofast, "gofast_forkserver.py").is_empty());
}

#[test]
fn start_fork_without_the_sandbox_is_refused_with_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(GOFAST)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--sandbox", "none", "--start", "fork"])
        .env("GOFAST_VENV", venv())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--start fork needs the sandbox"), "{err}");
    assert!(err.contains("--start exec"), "{err}");
}
