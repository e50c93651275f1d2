//! Warm starts: one fork server (`runner/gofast_forkserver.py`) per Python
//! environment has the server stack imported and its heap frozen, and forks
//! a child per app, which enters the app's box (namespaces, mounts, cgroups,
//! rlimits, uid, capabilities, seccomp) before it runs any of the app's code.
//!
//! The server runs in a bubblewrap sandbox of its own, built like an app's
//! but keeping the capabilities its children's setup needs. It talks to the
//! control plane over a `SOCK_SEQPACKET` socket pair: one JSON message per
//! packet, file descriptors as `SCM_RIGHTS`. If it dies, its children die
//! with it (parent-death signal, PID namespace teardown), their exits fire
//! here, and the next spawn starts a new server.

mod wire;

use std::{
    collections::HashMap,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd, RawFd},
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use nix::{
    fcntl::{FcntlArg, OFlag, fcntl},
    sys::{
        resource::Resource,
        signal::Signal,
        socket::{AddressFamily, SockFlag, SockType, socketpair},
    },
};
use tokio::{io::unix::AsyncFd, sync::oneshot};
use tokio_util::sync::CancellationToken;

use super::{process::ChildSetup, sandbox::Sandbox};
use wire::{Reply, Request};

/// Importing FastAPI and uvicorn takes about half a second here; a loaded
/// machine gets much longer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SPAWN_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("the fork server did not start: {0}")]
    Start(String),
    #[error("the fork server stopped")]
    Gone,
    #[error("the fork server could not start the app: {0}")]
    Spawn(String),
    #[error("the fork server's socket failed: {0}")]
    Io(#[from] io::Error),
}

impl From<ForkError> for io::Error {
    fn from(e: ForkError) -> Self {
        io::Error::other(e)
    }
}

/// The fork server of the platform's Python environment, started again when
/// it has died.
pub struct ForkServer {
    apps_dir: PathBuf,
    /// The seccomp programs, hex-encoded for the server's first message.
    seccomp: Vec<String>,
    current: tokio::sync::Mutex<Option<Arc<Server>>>,
}

/// One app start, as the fork server needs it.
pub struct Spawn<'a> {
    pub uid: u32,
    /// Below the apps directory (the server sees only that).
    pub app_dir: &'a Path,
    pub run_dir: &'a Path,
    pub env: Vec<(&'static str, String)>,
    pub rlimits: Vec<(Resource, u64)>,
    /// The size of the app's `/tmp` (memory, charged to its cgroup).
    pub tmp_size: u64,
    /// Write ends of the app's stdout and stderr pipes.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// `cgroup.procs` of the app's groups (the caller keeps them open).
    pub procs: Vec<RawFd>,
    /// Run the server's self-check in the box instead of the runner.
    pub probe: bool,
}

/// A forked app, for stopping it.
pub struct Forked {
    id: String,
    server: Arc<Server>,
}

impl Forked {
    /// Signals the app's process group (through the server, which sees its
    /// PID namespace). Best effort, and never blocks: a server that is gone
    /// took the app with it.
    pub fn signal(&self, signal: Signal) {
        let _ = self.server.send_now(&Request::Kill {
            id: &self.id,
            signal: signal as i32,
        });
    }
}

impl ForkServer {
    /// Starts the fork server and checks, from a child in the box, that
    /// apps get what the exec start gives them. `Err` says why not.
    pub async fn start(sandbox: &Sandbox, apps_dir: &Path) -> Result<Self, String> {
        if let Some(why) = sandbox.fork_unavailable() {
            return Err(why);
        }
        std::fs::create_dir_all(apps_dir.join(".run"))
            .map_err(|e| format!("cannot make {}: {e}", apps_dir.display()))?;
        let this = Self {
            apps_dir: apps_dir.to_path_buf(),
            seccomp: sandbox
                .seccomp()
                .programs()
                .iter()
                .map(hex::encode)
                .collect(),
            current: Default::default(),
        };
        if let Err(why) = this.self_check(sandbox).await {
            // Not used, then: stop it rather than leave it idle beside exec starts.
            if let Some(server) = this.current.lock().await.take() {
                server.gone.cancel();
            }
            return Err(why);
        }
        if let Some(server) = this.current.lock().await.as_ref() {
            let _ = server.checked.set(Ok(()));
        }
        Ok(this)
    }

    /// Forks a child for an app; the receiver gets its exit status (`None`
    /// when the server died, taking the app with it). A server started
    /// again after a crash is checked first, once.
    pub async fn spawn(
        &self,
        sandbox: &Sandbox,
        s: Spawn<'_>,
    ) -> Result<(Forked, oneshot::Receiver<Option<ExitStatus>>), ForkError> {
        let server = self.server(sandbox).await?;
        let verdict = server
            .checked
            .get_or_init(|| self.self_check(sandbox))
            .await;
        if let Err(why) = verdict {
            // Fail closed; the next start tries a new server, and checks it.
            server.gone.cancel();
            return Err(ForkError::Start(format!("after a restart, {why}")));
        }
        self.fork(server, s).await
    }

    /// Forks a child from `server`, unchecked (the self-check's probe, or
    /// after the check).
    async fn fork(
        &self,
        server: Arc<Server>,
        s: Spawn<'_>,
    ) -> Result<(Forked, oneshot::Receiver<Option<ExitStatus>>), ForkError> {
        let below = |p: &Path| {
            p.strip_prefix(&self.apps_dir)
                .map(|r| r.to_string_lossy().into_owned())
                .map_err(|_| ForkError::Spawn(format!("{} is outside the apps dir", p.display())))
        };
        let (app, run) = (below(s.app_dir)?, below(s.run_dir)?);
        let app_fd = open_dir(s.app_dir)?;
        let run_fd = open_dir(s.run_dir)?;
        let id = server.next_id();
        let (reply_tx, reply_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        server.expect(&id, reply_tx, exit_tx);
        let mut fds = vec![
            s.stdout.as_raw_fd(),
            s.stderr.as_raw_fd(),
            app_fd.as_raw_fd(),
            run_fd.as_raw_fd(),
        ];
        fds.extend(&s.procs);
        let rlimits: Vec<(i32, u64)> = s.rlimits.iter().map(|&(r, v)| (r as i32, v)).collect();
        let req = Request::Spawn {
            id: &id,
            uid: s.uid,
            app: &app,
            run: &run,
            env: s.env.iter().map(|(k, v)| (*k, v.as_str())).collect(),
            rlimits,
            tmp_size: s.tmp_size,
            probe: s.probe,
        };
        server.send(&req, &fds).await?;
        // Ours are copies: the app holds the only write ends from here on.
        drop((s.stdout, s.stderr, app_fd, run_fd));
        match tokio::time::timeout(SPAWN_TIMEOUT, reply_rx).await {
            Ok(Ok(Ok(()))) => Ok((Forked { id, server }, exit_rx)),
            Ok(Ok(Err(why))) => Err(ForkError::Spawn(why)),
            Ok(Err(_)) => Err(ForkError::Gone),
            Err(_) => {
                // A server that does not answer is of no use: start over.
                server.gone.cancel();
                Err(ForkError::Spawn("no answer in time".into()))
            }
        }
    }

    /// The running server, started (again) if there is none.
    async fn server(&self, sandbox: &Sandbox) -> Result<Arc<Server>, ForkError> {
        let mut current = self.current.lock().await;
        if let Some(s) = current.as_ref().filter(|s| !s.gone.is_cancelled()) {
            return Ok(s.clone());
        }
        let s = Server::start(sandbox, &self.apps_dir, &self.seccomp).await?;
        *current = Some(s.clone());
        Ok(s)
    }

    /// Forks one child that enters the box and checks it from inside.
    async fn self_check(&self, sandbox: &Sandbox) -> Result<(), String> {
        let dir = self
            .apps_dir
            .join(".run")
            .join(format!("forkserver-check-{}", crate::ids::new_id(6)));
        let result = self.check_in(sandbox, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn check_in(&self, sandbox: &Sandbox, dir: &Path) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let uid = super::sandbox::app_uid("gofast-probe");
        let (app, run) = (dir.join("app"), dir.join("run"));
        let made = (|| {
            std::fs::create_dir_all(&app)?;
            std::fs::create_dir_all(&run)?;
            std::fs::write(app.join("probe"), "")?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
            std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755))?;
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700))?;
            std::os::unix::fs::chown(&run, Some(uid), Some(uid))
        })();
        made.map_err(|e| format!("cannot make the self-check's directory: {e}"))?;
        let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
        let (_, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
        let mut err_r = tokio::net::unix::pipe::Receiver::from_owned_fd(err_r)
            .map_err(|e| format!("cannot read the self-check's output: {e}"))?;
        let spawn = Spawn {
            uid,
            app_dir: &app,
            run_dir: &run,
            env: vec![("PATH", "/usr/bin:/bin".into())],
            rlimits: vec![],
            tmp_size: 1 << 20,
            stdout: out_w,
            stderr: err_w,
            procs: vec![],
            probe: true,
        };
        let server = self.server(sandbox).await.map_err(|e| e.to_string())?;
        let (_child, exit) = self.fork(server, spawn).await.map_err(|e| e.to_string())?;
        let mut said = String::new();
        let run = async {
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut err_r, &mut said).await;
            exit.await.ok().flatten()
        };
        let status = tokio::time::timeout(SPAWN_TIMEOUT, run)
            .await
            .map_err(|_| "the self-check did not finish in time".to_string())?;
        if status.is_some_and(|s| s.success()) {
            tracing::info!("the fork server's self-check passed: apps forked from it get the box");
            return Ok(());
        }
        let last = said.lines().last().unwrap_or("it exited without a reason");
        Err(format!("its self-check failed: {}", last.trim()))
    }
}

/// A running fork server.
struct Server {
    sock: AsyncFd<OwnedFd>,
    state: Mutex<State>,
    /// Cancelled once the server has stopped (or stopped answering).
    gone: CancellationToken,
    /// The self-check's verdict on this server: a server started again
    /// after a crash is checked before it forks its first app.
    checked: tokio::sync::OnceCell<Result<(), String>>,
}

#[derive(Default)]
struct State {
    next: u64,
    replies: HashMap<String, oneshot::Sender<Result<(), String>>>,
    exits: HashMap<String, oneshot::Sender<Option<ExitStatus>>>,
    ready: Option<oneshot::Sender<()>>,
}

impl Server {
    async fn start(
        sandbox: &Sandbox,
        apps_dir: &Path,
        seccomp: &[String],
    ) -> Result<Arc<Self>, ForkError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        fcntl(&ours, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
        let mut p = sandbox.fork_server_command(apps_dir, theirs.as_raw_fd())?;
        p.cmd
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let setup = ChildSetup {
            keep_fds: p.keep_fds.clone(),
            // Its own session: a Ctrl-C at the terminal stops the platform,
            // which stops the apps, not the server under them.
            new_session: true,
            ignore_term: true,
            ..Default::default()
        };
        // SAFETY: `run` makes system calls only, as required after fork.
        unsafe {
            p.cmd.pre_exec(move || setup.run());
        }
        let mut child = p
            .cmd
            .spawn()
            .map_err(|e| ForkError::Start(format!("cannot run bwrap: {e}")))?;
        drop((theirs, p._fds));
        let (ready_tx, ready_rx) = oneshot::channel();
        // SAFETY: an OwnedFd, owned by the AsyncFd from here on, always
        // returns the same open fd.
        let sock = unsafe { AsyncFd::register(ours) }.map_err(|e| e.into_parts().1)?;
        let server = Arc::new(Self {
            sock,
            state: Mutex::new(State {
                ready: Some(ready_tx),
                ..Default::default()
            }),
            gone: CancellationToken::new(),
            checked: tokio::sync::OnceCell::new(),
        });
        let s = server.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = s.read_replies() => {}
                _ = child.wait() => {}
                _ = s.gone.cancelled() => {}
            }
            s.gone.cancel();
            let _ = child.start_kill();
            // Dropping the senders tells every waiter the server is gone.
            *s.state.lock().unwrap_or_else(|p| p.into_inner()) = State::default();
        });
        let keep_in_tmp = sandbox.binds_below_tmp();
        let init = Request::Init {
            seccomp,
            keep_in_tmp: &keep_in_tmp,
        };
        if let Err(e) = server.send(&init, &[]).await {
            server.gone.cancel();
            return Err(e);
        }
        match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
            Ok(Ok(())) => Ok(server),
            Ok(Err(_)) => Err(ForkError::Start(
                "it exited while importing (its error is in the platform's output)".into(),
            )),
            Err(_) => {
                server.gone.cancel();
                Err(ForkError::Start(format!(
                    "not ready within {}s",
                    READY_TIMEOUT.as_secs()
                )))
            }
        }
    }

    fn next_id(&self) -> String {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.next += 1;
        format!("s{}", st.next)
    }

    fn expect(
        &self,
        id: &str,
        reply: oneshot::Sender<Result<(), String>>,
        exit: oneshot::Sender<Option<ExitStatus>>,
    ) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.replies.insert(id.to_string(), reply);
        st.exits.insert(id.to_string(), exit);
    }

    async fn send(&self, req: &Request<'_>, fds: &[RawFd]) -> Result<(), ForkError> {
        let bytes = serde_json::to_vec(req).map_err(io::Error::other)?;
        loop {
            let mut guard = tokio::select! {
                g = self.sock.writable() => g?,
                _ = self.gone.cancelled() => return Err(ForkError::Gone),
            };
            match guard.try_io(|s| wire::send(s.get_ref().as_fd(), &bytes, fds)) {
                Ok(r) => return r.map_err(ForkError::Io),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends without waiting (from `Drop`); the socket's buffer is large
    /// and kill requests are small.
    fn send_now(&self, req: &Request<'_>) -> io::Result<()> {
        let bytes = serde_json::to_vec(req).map_err(io::Error::other)?;
        wire::send(self.sock.get_ref().as_fd(), &bytes, &[])
    }

    async fn read_replies(&self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Ok(mut guard) = self.sock.readable().await else {
                return;
            };
            let n = match guard.try_io(|s| wire::recv(s.get_ref().as_fd(), &mut buf)) {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => n,
                Err(_would_block) => continue,
            };
            let Ok(reply) = serde_json::from_slice::<Reply>(&buf[..n]) else {
                tracing::warn!("the fork server sent an unreadable message");
                continue;
            };
            self.handle(reply);
        }
    }

    fn handle(&self, reply: Reply) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match reply {
            Reply::Ready { .. } => {
                if let Some(tx) = st.ready.take() {
                    let _ = tx.send(());
                }
            }
            Reply::Spawned { spawned, .. } => {
                if let Some(tx) = st.replies.remove(&spawned) {
                    let _ = tx.send(Ok(()));
                }
            }
            Reply::Failed { failed, error } => {
                st.exits.remove(&failed);
                if let Some(tx) = st.replies.remove(&failed) {
                    let _ = tx.send(Err(error));
                }
            }
            Reply::Exit { exit, code, signal } => {
                if let Some(tx) = st.exits.remove(&exit) {
                    let _ = tx.send(wire::status(code, signal));
                }
            }
        }
    }
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    Ok(nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?)
}
