//! One app process: the Python runner serving one revision on a Unix socket
//! in a directory of its own, in its own session (so stopping the group stops
//! its children too), its own cgroups, with rlimits, in a sandbox unless the
//! operator turned it off, and with no file descriptor of the platform's.

use std::{
    io,
    os::fd::{BorrowedFd, RawFd},
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use nix::{
    fcntl::{FcntlArg, FdFlag, OFlag, fcntl},
    sys::{
        resource::Resource,
        signal::{SigHandler, Signal, signal},
    },
    unistd::{Pid, setsid},
};
use tokio::{process::Command, sync::watch};

use super::{
    cgroup,
    forkserver::{self, ForkServer},
    isolation::Isolation,
    limits,
    output::{self, OutputLog},
    sandbox,
};

/// The socket's name in the process's run directory.
const SOCKET: &str = "app.sock";
/// The longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A started process: how to signal it, its exit, its output pumps, and
/// the output mark at its start.
type Started = (
    Handle,
    std::pin::Pin<Box<dyn std::future::Future<Output = Option<ExitStatus>> + Send>>,
    Vec<tokio::task::JoinHandle<()>>,
    u64,
);

/// What the process needs to start.
pub struct Launch<'a> {
    pub app_id: &'a str,
    pub python: &'a Path,
    pub runner: &'a Path,
    pub app_dir: &'a Path,
    /// A fresh directory for the process's socket, writable by the app only.
    pub run_dir: &'a Path,
    pub root_path: &'a str,
}

/// How a process ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: Option<ExitStatus>,
    /// Killed by the kernel at its memory limit, or out of memory under rlimits.
    pub out_of_memory: bool,
}

pub struct AppProcess {
    pub revision: u32,
    /// Where the app serves HTTP, as the platform sees it.
    pub socket: PathBuf,
    handle: Handle,
    /// `Some` once the process has exited.
    exited: watch::Receiver<Option<Exit>>,
    /// The output mark at start, so a failure shows only this process's lines.
    pub output_mark: u64,
    pub dir: PathBuf,
    run_dir: PathBuf,
    /// Set once `stop` has run; otherwise dropping the process kills it, so
    /// an abandoned start (a superseded deploy) leaves nothing behind.
    stopped: bool,
}

/// How the process was started, and so how to signal it.
enum Handle {
    /// A child of the control plane (bwrap, or the runner): its process group.
    Exec(Pid),
    /// Forked by the fork server, which signals it in its PID namespace.
    Forked(forkserver::Forked),
}

impl Handle {
    fn signal(&self, signal: Signal) {
        match self {
            Handle::Exec(pid) => {
                let _ = nix::sys::signal::killpg(*pid, signal);
            }
            Handle::Forked(f) => f.signal(signal),
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if !self.stopped {
            if !self.has_exited() {
                self.handle.signal(Signal::SIGKILL);
            }
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

/// The environment an app gets, whichever way it starts: nothing of the
/// platform's leaks in.
fn app_env(uds: &Path, root_path: &str, app_dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG", "C.UTF-8".into()),
        ("GOFAST_UDS", uds.to_string_lossy().into_owned()),
        ("GOFAST_ROOT_PATH", root_path.into()),
        ("GOFAST_APP_DIR", app_dir.to_string_lossy().into_owned()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ]
}

impl AppProcess {
    pub async fn spawn(
        launch: Launch<'_>,
        revision: u32,
        log: Arc<OutputLog>,
        iso: &Isolation,
    ) -> io::Result<Self> {
        let dir_name = launch
            .app_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let socket = launch.run_dir.join(SOCKET);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(io::Error::other(format!(
                "the app's socket path {} is longer than a Unix socket allows ({MAX_SOCKET_PATH} \
                 bytes); use a shorter --data-dir",
                socket.display()
            )));
        }
        make_run_dir(
            launch.run_dir,
            iso.sandbox.as_ref().and_then(|s| s.uid_of(launch.app_id)),
        )?;
        let group = iso
            .cgroups
            .create(&format!("{}-{dir_name}", launch.app_id), &iso.limits)?;
        let started = match (&iso.fork, &iso.sandbox) {
            (Some(fork), Some(sb)) => Self::fork(fork, sb, &launch, &log, iso, &group).await,
            _ => Self::exec(&launch, &socket, &log, iso, &group),
        };
        let (handle, wait, pumps, output_mark) = match started {
            Ok(s) => s,
            Err(e) => {
                tokio::spawn(group.remove());
                let _ = std::fs::remove_dir_all(launch.run_dir);
                return Err(e);
            }
        };
        let memory_by_rlimit = iso.memory_by_rlimit();
        let failure = iso.limits.memory_failure();
        let (tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = wait.await;
            // Let the output drain, so a failure shows the app's last words.
            let drained = async {
                for p in pumps {
                    let _ = p.await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), drained).await;
            let out_of_memory = group.oom_killed()
                || (memory_by_rlimit
                    && log
                        .tail_since(output_mark, 40)
                        .iter()
                        .any(|l| l.starts_with("MemoryError")));
            if out_of_memory {
                log.push(format!("gofast: the app was stopped: it {failure}"));
            }
            group.remove().await;
            let _ = tx.send(Some(Exit {
                status,
                out_of_memory,
            }));
        });
        Ok(Self {
            revision,
            socket,
            handle,
            exited,
            output_mark,
            dir: launch.app_dir.to_path_buf(),
            run_dir: launch.run_dir.to_path_buf(),
            stopped: false,
        })
    }

    /// A fresh process: bwrap running the runner, or the runner itself.
    fn exec(
        launch: &Launch<'_>,
        socket: &Path,
        log: &Arc<OutputLog>,
        iso: &Isolation,
        group: &cgroup::AppGroup,
    ) -> io::Result<Started> {
        let (mut cmd, keep_fds, held_fds, app_dir, uds) = match &iso.sandbox {
            Some(sb) => {
                let p = sb.runner_command(launch.app_id, launch.app_dir, launch.run_dir)?;
                (
                    p.cmd,
                    p.keep_fds,
                    p._fds,
                    Path::new(sandbox::APP_DIR),
                    Path::new(sandbox::RUN_DIR).join(SOCKET),
                )
            }
            None => {
                let mut cmd = Command::new(launch.python);
                cmd.arg("-I").arg(launch.runner).current_dir(launch.app_dir);
                (cmd, vec![], vec![], launch.app_dir, socket.to_path_buf())
            }
        };
        cmd.env_clear()
            .envs(app_env(&uds, launch.root_path, app_dir))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let setup = ChildSetup {
            procs: group.procs_fds(),
            rlimits: iso.rlimits(),
            keep_fds,
            new_session: true,
            // bwrap would die of SIGTERM and take the app down with SIGKILL;
            // ignored, the runner (which handles it) stops gracefully instead.
            ignore_term: iso.sandbox.is_some(),
        };
        // SAFETY: `run` makes system calls only, as required after fork.
        unsafe {
            cmd.pre_exec(move || setup.run());
        }
        let output_mark = log.mark();
        let mut child = cmd.spawn()?;
        drop(held_fds);
        let pid = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
        let pumps = [
            child
                .stdout
                .take()
                .map(|s| tokio::spawn(pump(s, log.clone()))),
            child
                .stderr
                .take()
                .map(|s| tokio::spawn(pump(s, log.clone()))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let wait = Box::pin(async move { child.wait().await.ok() });
        Ok((Handle::Exec(pid), wait, pumps, output_mark))
    }

    /// A child of the warm fork server, which enters the same box the
    /// sandbox gives before it runs the app's code.
    async fn fork(
        fork: &ForkServer,
        sb: &sandbox::Sandbox,
        launch: &Launch<'_>,
        log: &Arc<OutputLog>,
        iso: &Isolation,
        group: &cgroup::AppGroup,
    ) -> io::Result<Started> {
        let uid = sb
            .uid_of(launch.app_id)
            .ok_or_else(|| io::Error::other("a forked app needs a uid of its own"))?;
        let mut pumps = vec![];
        let mut ends = vec![];
        for _ in 0..2 {
            let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
            let r = tokio::net::unix::pipe::Receiver::from_owned_fd(r)?;
            pumps.push(r);
            ends.push(w);
        }
        let (Some(stderr), Some(stdout)) = (ends.pop(), ends.pop()) else {
            return Err(io::Error::other("no pipes for the app's output"));
        };
        let uds = Path::new(sandbox::RUN_DIR).join(SOCKET);
        let mut env = app_env(&uds, launch.root_path, Path::new(sandbox::APP_DIR));
        // As bwrap's --chdir sets it.
        env.push(("PWD", sandbox::APP_DIR.into()));
        let output_mark = log.mark();
        let spawn = forkserver::Spawn {
            uid,
            app_dir: launch.app_dir,
            run_dir: launch.run_dir,
            env,
            rlimits: iso.rlimits(),
            tmp_size: iso.limits.memory,
            stdout,
            stderr,
            procs: group.procs_fds(),
            probe: false,
        };
        let (forked, exit) = fork.spawn(sb, spawn).await?;
        let pumps = pumps
            .into_iter()
            .map(|r| tokio::spawn(pump(r, log.clone())))
            .collect();
        let wait = Box::pin(async move { exit.await.ok().flatten() });
        Ok((Handle::Forked(forked), wait, pumps, output_mark))
    }

    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Waits until the process exits.
    pub async fn exited(&self) -> Exit {
        let mut rx = self.exited.clone();
        let exit = rx.wait_for(|s| s.is_some()).await.ok().and_then(|s| *s);
        exit.unwrap_or(Exit {
            status: None,
            out_of_memory: false,
        })
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; removes its files.
    pub async fn stop(mut self, grace: Duration) {
        self.stopped = true;
        if !self.has_exited() {
            self.handle.signal(Signal::SIGTERM);
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                self.handle.signal(Signal::SIGKILL);
                let _ = self.exited().await;
            }
        }
        // Children that outlived the runner (the group may still have members).
        self.handle.signal(Signal::SIGKILL);
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
        let _ = tokio::fs::remove_dir_all(&self.run_dir).await;
    }
}

/// Makes the process's run directory: private to the app (its uid when it
/// has one), so no other app could plant or take its socket.
fn make_run_dir(dir: &Path, uid: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if let Some(uid) = uid {
        std::os::unix::fs::chown(dir, Some(uid), Some(uid))?;
    }
    Ok(())
}

/// What the child does between fork and exec.
#[derive(Debug, Default)]
pub struct ChildSetup {
    /// `cgroup.procs` fds of the app's groups.
    pub procs: Vec<RawFd>,
    pub rlimits: Vec<(Resource, u64)>,
    /// fds to keep open across exec.
    pub keep_fds: Vec<RawFd>,
    pub new_session: bool,
    pub ignore_term: bool,
}

impl ChildSetup {
    /// Runs in the forked child: system calls only, no allocation.
    pub fn run(&self) -> io::Result<()> {
        if self.new_session {
            // A session, not just a group: no controlling terminal to inject into.
            setsid()?;
        }
        cgroup::join(&self.procs)?;
        limits::apply(&self.rlimits)?;
        // Whatever the process that started the platform left open without
        // CLOEXEC (a root-only file, a socket) must not reach the app: every
        // fd above stderr closes at exec, except those bwrap reads.
        cloexec_from(3)?;
        for &fd in &self.keep_fds {
            // SAFETY: the parent keeps these fds open until the child has exec'd.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
        }
        if self.ignore_term {
            // SAFETY: SIG_IGN installs no handler code.
            unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }?;
        }
        // The kernel kills the app if the control plane dies without stopping it.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        Ok(())
    }
}

async fn pump(stream: impl tokio::io::AsyncRead + Unpin, log: Arc<OutputLog>) {
    output::pump(stream, &log).await;
}

/// Sets CLOEXEC on every fd from `first` up: `close_range` (Linux 5.11), or
/// one `fcntl` per possible fd where the kernel is older.
fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: a plain system call on integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL)) {
        return Err(err);
    }
    let (soft, hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_NOFILE)?;
    let last = soft.max(hard).min(1 << 20) as RawFd;
    for fd in first as RawFd..last {
        // SAFETY: F_GETFD/F_SETFD on an fd that may not exist (EBADF is fine).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Describes an exit status the way a person would. bwrap reports an app
/// killed by signal N as exit code 128 + N.
pub fn describe_exit(status: Option<ExitStatus>, sandboxed: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    let killed = |n: i32| match Signal::try_from(n) {
        Ok(sig) => format!("was killed by {sig}"),
        Err(_) => "exited".to_string(),
    };
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) if sandboxed && (129..=159).contains(&c) => killed(c - 128),
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(n)) => killed(n),
            (None, None) => "exited".to_string(),
        },
        None => "exited".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exits_read_like_what_happened_to_the_app() {
        let code = |c: i32| Some(ExitStatus::from_raw(c << 8));
        assert_eq!(describe_exit(code(1), true), "exited with code 1");
        assert_eq!(describe_exit(code(137), true), "was killed by SIGKILL");
        assert_eq!(describe_exit(code(137), false), "exited with code 137");
        assert_eq!(
            describe_exit(Some(ExitStatus::from_raw(9)), false),
            "was killed by SIGKILL"
        );
    }
}
