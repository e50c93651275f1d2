//! One app process: the Python runner serving one revision on one loopback
//! port, in its own process group so that stopping it stops its children too.

use std::{
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::Command,
    sync::watch,
};

use super::output::OutputLog;

/// What the process needs to start.
pub struct Launch<'a> {
    pub python: &'a Path,
    pub runner: &'a Path,
    pub app_dir: &'a Path,
    pub port: u16,
    pub root_path: &'a str,
}

pub struct AppProcess {
    pub revision: u32,
    pub addr: SocketAddr,
    pid: Pid,
    /// `Some(status)` once the process has exited.
    exited: watch::Receiver<Option<ExitStatus>>,
    /// The output mark at start, so a failure shows only this process's lines.
    pub output_mark: u64,
    pub dir: std::path::PathBuf,
    /// Set once `stop` has run; otherwise dropping the process kills it, so
    /// an abandoned start (a superseded deploy) leaves nothing behind.
    stopped: bool,
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        if !self.stopped {
            if self.exit_status().is_none() {
                let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl AppProcess {
    pub fn spawn(launch: Launch<'_>, revision: u32, log: Arc<OutputLog>) -> std::io::Result<Self> {
        let mut cmd = Command::new(launch.python);
        cmd.arg("-I")
            .arg(launch.runner)
            .current_dir(launch.app_dir)
            // A scrubbed environment: nothing of the platform's leaks in.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("PORT", launch.port.to_string())
            .env("GOFAST_HOST", "127.0.0.1")
            .env("GOFAST_ROOT_PATH", launch.root_path)
            .env("GOFAST_APP_DIR", launch.app_dir)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
        // the app if the control plane dies without stopping it.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let output_mark = log.mark();
        let mut child = cmd.spawn()?;
        let pid = Pid::from_raw(child.id().map(|id| id as i32).unwrap_or(0));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, log));
        }
        let (tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            let _ = tx.send(status);
        });
        Ok(Self {
            revision,
            addr: SocketAddr::from(([127, 0, 0, 1], launch.port)),
            pid,
            exited,
            output_mark,
            dir: launch.app_dir.to_path_buf(),
            stopped: false,
        })
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.exited.borrow()
    }

    /// Waits until the process exits.
    pub async fn exited(&self) -> Option<ExitStatus> {
        let mut rx = self.exited.clone();
        rx.wait_for(|s| s.is_some()).await.ok().and_then(|s| *s)
    }

    /// SIGTERM to the group, then SIGKILL after `grace`; removes its files.
    pub async fn stop(mut self, grace: Duration) {
        self.stopped = true;
        if self.exit_status().is_none() {
            let _ = nix::sys::signal::killpg(self.pid, Signal::SIGTERM);
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
                let _ = self.exited().await;
            }
        }
        // Children that outlived the runner (the group may still have members).
        let _ = nix::sys::signal::killpg(self.pid, Signal::SIGKILL);
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }
}

async fn pump(stream: impl AsyncRead + Unpin, log: Arc<OutputLog>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        log.push(line);
    }
}

/// Describes an exit status the way a person would.
pub fn describe_exit(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.code().is_some() => format!("exited with code {}", s.code().unwrap_or(-1)),
        Some(s) => match s.signal().and_then(|n| Signal::try_from(n).ok()) {
            Some(sig) => format!("was killed by {sig}"),
            None => "exited".to_string(),
        },
        None => "exited".to_string(),
    }
}
