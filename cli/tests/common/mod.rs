//! Drives the real binaries: `gofast up` on an ephemeral port with a temp
//! data dir, and the `gofast` CLI with a per-user config dir.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use gofast_proto::v1::{
    app_service_client::AppServiceClient, auth_service_client::AuthServiceClient,
};
use tonic::transport::Channel;

pub const GOFAST: &str = env!("CARGO_BIN_EXE_gofast");

/// The repository root (the workspace).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The virtualenv with runner/requirements.txt that the test script makes.
pub fn venv() -> PathBuf {
    let venv = std::env::var_os("GOFAST_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    assert!(
        venv.join("bin/python").exists(),
        "no virtualenv at {}: run scripts/test.sh (or make it from runner/requirements-dev.txt)",
        venv.display()
    );
    venv
}

pub struct Platform {
    /// The platform's origin: API, gRPC, `/healthz`.
    pub url: String,
    /// The apps' origin, where the gateway serves `/user/...`.
    pub apps: String,
    pub data_dir: PathBuf,
    child: Option<Child>,
    pub stderr: mpsc::Receiver<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Platform {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `gofast up` on a fresh data dir with extra flags.
    pub fn start_with(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut p = Self::start_in(&data, "127.0.0.1:0", extra);
        p._tmp = Some(tmp);
        p
    }

    /// Starts `gofast up` with this data dir and address, plus extra flags.
    pub fn start_in(data_dir: &Path, addr: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(GOFAST)
            .args(["up", "--addr", addr, "--data-dir"])
            .arg(data_dir)
            .args(["--reconcile-seconds", "1"])
            .args(extra)
            .env("GOFAST_VENV", venv())
            .env("GOFAST_LOG", "gofast_controlplane=debug,warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gofast up");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[gofast up] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (url, apps) = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("gofast up did not start");
            if let Some(rest) = line.strip_prefix("gofast is listening on ") {
                // "URL (... apps at APPS_URL)": the first word is where to connect.
                let url = rest.split_whitespace().next().unwrap_or_default();
                let apps = rest
                    .split("apps at ")
                    .nth(1)
                    .unwrap_or_default()
                    .trim_end_matches(')');
                break (url.to_string(), apps.to_string());
            }
        };
        Self {
            url,
            apps,
            data_dir: data_dir.to_path_buf(),
            child: Some(child),
            stderr: rx,
            _tmp: None,
        }
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// SIGTERM, as Ctrl-C would; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        child.wait().expect("wait")
    }

    /// SIGKILL: the process dies on the spot, as a crashed replica would.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn user(&self, email: &str) -> User {
        let cfg = tempfile::tempdir().expect("tempdir");
        let user = User {
            server: self.url.clone(),
            config: cfg,
            token: None,
        };
        let out = user.run_stdin(
            &["signup", "--email", email, "--password-stdin"],
            "password123\n",
        );
        assert!(out.status.success(), "signup failed: {}", text(&out.stderr));
        user
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn apps_client(&self) -> AppServiceClient<Channel> {
        AppServiceClient::new(self.channel().await)
    }

    pub async fn auth_client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel().await)
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// A CLI user: their own config dir (and so their own login).
pub struct User {
    pub server: String,
    pub config: tempfile::TempDir,
    /// Set to use GOFAST_TOKEN instead of the saved login.
    pub token: Option<String>,
}

impl User {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(GOFAST);
        cmd.args(args)
            .env("GOFAST_SERVER", &self.server)
            .env("GOFAST_CONFIG_DIR", self.config.path())
            .env("NO_COLOR", "1")
            .env_remove("GOFAST_TOKEN");
        if let Some(t) = &self.token {
            cmd.env("GOFAST_TOKEN", t);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, "")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gofast");
        if let Some(mut s) = child.stdin.take() {
            let _ = s.write_all(stdin.as_bytes());
        }
        child.wait_with_output().expect("gofast output")
    }

    /// The access token `gofast login` saved.
    pub fn saved_token(&self) -> String {
        let json = std::fs::read_to_string(self.config.path().join("credentials.json"))
            .expect("credentials");
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        v["servers"][&self.server]["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Deploys and returns the URL printed on stdout; panics on failure.
    pub fn deploy(&self, files: &[&Path], name: &str) -> String {
        let mut args = vec!["deploy".to_string()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args.extend(["--name".into(), name.into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "deploy failed:\n{}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_string()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes an app's main.py in a fresh directory and returns its path.
pub fn write_app(dir: &Path, folder: &str, main_py: &str) -> PathBuf {
    let d = dir.join(folder);
    std::fs::create_dir_all(&d).expect("mkdir");
    let p = d.join("main.py");
    std::fs::write(&p, main_py).expect("write main.py");
    p
}

/// The app's status as `gofast status APP -o json` shows it.
pub fn status(user: &User, app: &str) -> String {
    let out = user.run(&["status", app, "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v["status"].as_str().unwrap_or_default().to_string()
}

/// Waits (at most 30 s) until the app shows `want`.
pub fn until_status(user: &User, app: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = status(user, app);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app} is still {now}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn hello_main(message: &str) -> String {
    format!(
        "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {{\"message\": \"{message}\"}}\n"
    )
}

pub async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let resp = get(url).await;
    assert_eq!(resp.status(), 200, "GET {url}");
    resp.json().await.expect("json body")
}

/// The variable's value; `None` (skip) when unset, a failure under CI,
/// where scripts/test.sh starts what the variable names.
pub fn required_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "{name} is not set under CI: run the tests through scripts/test.sh, which starts \
                 FerretDB and the Kubernetes test control plane"
            );
            eprintln!("skipped: set {name} (scripts/test.sh does) to run");
            None
        }
    }
}

/// A database of its own, named after `label`, on the server at `base`
/// (`mongodb://host:port/`).
pub fn fresh_database_uri(base: &str, label: &str) -> String {
    let hosts = base
        .strip_prefix("mongodb://")
        .expect("a mongodb:// URI")
        .split(['/', '?'])
        .next()
        .unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "mongodb://{hosts}/gft_{label}_{}_{nanos}",
        std::process::id()
    )
}

/// A chat-style app: a WebSocket at `/ws` answers text with "echo: ...",
/// bytes reversed, and "bye" with a close (code 4000); `/` says where it is.
pub const WS_ECHO: &str = r#"from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.get("/")
def home():
    return {"chat": "ws at /ws"}


@app.websocket("/ws")
async def echo(ws: WebSocket):
    await ws.accept()
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            if msg.get("text") is not None:
                if msg["text"] == "bye":
                    await ws.close(code=4000, reason="bye")
                    return
                await ws.send_text("echo: " + msg["text"])
            elif msg.get("bytes") is not None:
                await ws.send_bytes(msg["bytes"][::-1])
    except WebSocketDisconnect:
        return
"#;

/// Deletes a Kubernetes namespace when dropped, whether the test passed or
/// not (declare it before the platform, so it is dropped after it: nothing
/// re-applies into the namespace).
pub struct DeleteNamespace(pub String);

impl Drop for DeleteNamespace {
    fn drop(&mut self) {
        let name = self.0.clone();
        // A runtime and a client of their own: this runs inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                if let Ok(client) = kube::Client::try_default().await {
                    let _ = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
                        .delete(&name, &kube::api::DeleteParams::background())
                        .await;
                }
            });
        })
        .join();
    }
}
