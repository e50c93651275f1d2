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
    fcntl::{FcntlArg, FdFlag, fcntl},
    sys::{
        resource::Resource,
        signal::{SigHandler, Signal, signal},
    },
    unistd::{Pid, setsid},
};
use tokio::{process::Command, sync::watch};

use super::{
    cgroup,
    isolation::Isolation,
    limits,
    output::{self, OutputLog},
    sandbox,
};

/// The socket's name in the process's run directory.
const SOCKET: &str = "app.sock";
/// The longest path a Unix socket address holds (`sun_path` less its NUL).
const MAX_SOCKET_PATH: usize = 107;

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
    pid: Pid,
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

impl Drop for AppProcess {
    fn drop(&mut self) {
        if !self.stopped {
            if !self.has_exited() {
                let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
            }
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = std::fs::remove_dir_all(&self.run_dir);
        }
    }
}

impl AppProcess {
    pub fn spawn(
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
                (cmd, vec![], vec![], launch.app_dir, socket.clone())
            }
        };
        // A scrubbed environment: nothing of the platform's leaks in.
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("GOFAST_UDS", uds)
            .env("GOFAST_ROOT_PATH", launch.root_path)
            .env("GOFAST_APP_DIR", app_dir)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
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
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tokio::spawn(group.remove());
                let _ = std::fs::remove_dir_all(launch.run_dir);
                return Err(e);
            }
        };
        drop(held_fds);
        let pid = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
        let pumps = (
            child
                .stdout
                .take()
                .map(|s| tokio::spawn(pump(s, log.clone()))),
            child
                .stderr
                .take()
                .map(|s| tokio::spawn(pump(s, log.clone()))),
        );
        let memory_by_rlimit = iso.memory_by_rlimit();
        let failure = iso.limits.memory_failure();
        let (tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            // Let the output drain, so a failure shows the app's last words.
            let drained = async {
                for p in [pumps.0, pumps.1].into_iter().flatten() {
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
            pid,
            exited,
            output_mark,
            dir: launch.app_dir.to_path_buf(),
            run_dir: launch.run_dir.to_path_buf(),
            stopped: false,
        })
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
            let _ = nix::sys::signal::killpg(self.pid, Signal::SIGTERM);
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
                let _ = self.exited().await;
            }
        }
        // Children that outlived the runner (the group may still have members).
        let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
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
