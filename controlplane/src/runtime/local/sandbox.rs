//! Filesystem and process isolation with bubblewrap (Debian's `bubblewrap`).
//!
//! Each app gets new mount, PID, IPC, UTS, cgroup and network namespaces, and
//! a root that holds only read-only system directories, the Python it runs
//! on, the runner, its own files at `/app`, a private `/tmp`, a `/proc` of its
//! own PID namespace and a minimal `/dev`. Its network namespace has only a
//! loopback interface: no route out, and nothing of the host's listens in it.
//! The gateway reaches the app through a Unix socket in a directory of its
//! own, the one writable host directory in the sandbox (at `/run/gofast`).
//! A seccomp filter (see `seccomp`) takes away the system calls that would
//! undo the rest, such as making a user namespace.
//!
//! As root, bwrap sets the sandbox up with root's access (the venv and the
//! base Python may sit below root-only directories such as /root) and then
//! `setpriv` drops the app to a uid of its own with no capabilities: a real
//! unprivileged user, also to the host's files. A user namespace would not
//! do: its uid 0 or 65534 is still root outside. Not root, bwrap makes a
//! user namespace and the app keeps the platform's uid.

use std::{
    ffi::OsString,
    os::fd::{AsRawFd, OwnedFd, RawFd},
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{fcntl::OFlag, sys::stat::Mode};
use tokio::process::Command;

use super::{PythonEnv, seccomp::Filters};

/// Where the app's files appear inside the sandbox.
pub const APP_DIR: &str = "/app";
/// Where the runner's directory appears inside the sandbox.
const RUNNER_DIR: &str = "/runner";
/// Where the app's socket directory appears inside the sandbox.
pub const RUN_DIR: &str = "/run/gofast";
/// Names bwrap's binary, for machines where it is not on PATH, and for
/// tests that play a machine without it.
pub const BWRAP_ENV: &str = "GOFAST_BWRAP";

/// The bits of /etc a Python web app needs: the loader's cache, name
/// resolution, time zones, TLS roots and MIME types. Nothing with secrets.
const ETC: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "resolv.conf",
    "hosts",
    "host.conf",
    "nsswitch.conf",
    "gai.conf",
    "services",
    "protocols",
    "mime.types",
    "ssl",
    "ca-certificates",
    "pki",
    "crypto-policies",
    "alternatives",
];

/// App uids: a deterministic uid per app id in a range no distribution
/// hands out, so the same app keeps its uid across restarts and two
/// platforms on one machine agree.
const APP_UID_BASE: u32 = 1_000_000_000;
const APP_UID_SPAN: u32 = 1 << 24;

pub fn app_uid(app_id: &str) -> u32 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let h = app_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    APP_UID_BASE + h % APP_UID_SPAN
}

/// Where the fork server's sandbox has the data dir's apps directory.
pub const FORK_APPS_DIR: &str = "/.gofast-apps";
/// What the fork server keeps, for its children's setup only: namespaces
/// and mounts, the uid drop, emptying the bounding set, bringing `lo` up,
/// and signalling its children (which run as other uids).
const FORK_SERVER_CAPS: &[&str] = &[
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_NET_ADMIN",
    "CAP_KILL",
];

/// What runs inside the sandbox.
#[derive(Clone, Copy)]
enum Inner<'a> {
    App {
        app_fd: &'a OwnedFd,
        run_fd: Option<&'a OwnedFd>,
        filters: &'a [OwnedFd],
    },
    ForkServer {
        apps_fd: &'a OwnedFd,
    },
}

/// Drops root to the app's uid inside the sandbox; part of util-linux.
const SETPRIV: &str = "/usr/bin/setpriv";

#[derive(Debug)]
pub struct Sandbox {
    bwrap: PathBuf,
    /// The venv's interpreter, at the same path inside as outside.
    python: PathBuf,
    /// Read-only directories handed over as fds (race-free): (fd, path inside).
    binds: Vec<(OwnedFd, PathBuf)>,
    /// True when each app runs as a uid of its own (the platform is root).
    pub per_app_uid: bool,
    seccomp: Filters,
}

/// What a sandboxed start needs besides the command.
pub struct Prepared {
    pub cmd: Command,
    /// fds the child must keep across exec (bwrap reads them).
    pub keep_fds: Vec<RawFd>,
    /// Held until the child has exec'd: the app's directories and filters.
    pub _fds: Vec<OwnedFd>,
}

impl Sandbox {
    /// Finds bwrap and checks that a sandboxed interpreter really starts
    /// here; `Err` says why not.
    pub async fn detect(env: &PythonEnv) -> Result<Self, String> {
        let bwrap = find_bwrap()?;
        let seccomp = Filters::compile().map_err(|e| e.to_string())?;
        let venv = env
            .python
            .parent()
            .and_then(Path::parent)
            .ok_or("the venv's python is not in <venv>/bin")?
            .canonicalize()
            .map_err(|e| format!("cannot resolve the venv: {e}"))?;
        let python = venv.join("bin").join("python");
        let mut dirs = vec![];
        for base in base_prefixes(&python).await? {
            if !base.starts_with("/usr") && !dirs.iter().any(|d: &PathBuf| base.starts_with(d)) {
                dirs.push(base);
            }
        }
        dirs.push(venv);
        let runner_dir = env.runner.parent().ok_or("the runner has no directory")?;
        let mut binds = vec![];
        for d in &dirs {
            binds.push((open_dir(d)?, d.clone()));
        }
        binds.push((open_dir(runner_dir)?, PathBuf::from(RUNNER_DIR)));
        let sandbox = Self {
            bwrap,
            python,
            binds,
            per_app_uid: nix::unistd::geteuid().is_root() && Path::new(SETPRIV).is_file(),
            seccomp,
        };
        sandbox.probe(runner_dir).await?;
        Ok(sandbox)
    }

    /// The runner of app `app_id`, sandboxed, with `app_dir` at `/app` and
    /// `run_dir` (where it makes its socket) at `RUN_DIR`.
    pub fn runner_command(
        &self,
        app_id: &str,
        app_dir: &Path,
        run_dir: &Path,
    ) -> std::io::Result<Prepared> {
        let runner = Path::new(RUNNER_DIR).join("gofast_runner.py");
        self.command(
            app_id,
            app_dir,
            Some(run_dir),
            &["-I".as_ref(), runner.as_os_str()],
        )
    }

    /// The fork server, sandboxed like an app but keeping the capabilities
    /// its children's setup needs, with `apps_dir` at `FORK_APPS_DIR` and
    /// `control` (a socket) as an inherited fd.
    pub fn fork_server_command(
        &self,
        apps_dir: &Path,
        control: RawFd,
    ) -> std::io::Result<Prepared> {
        let apps_fd = open_dir(apps_dir).map_err(std::io::Error::other)?;
        let mut cmd = Command::new(&self.bwrap);
        cmd.args(self.args(Inner::ForkServer { apps_fd: &apps_fd }))
            .arg(&self.python)
            .arg("-I")
            .arg(Path::new(RUNNER_DIR).join("gofast_forkserver.py"))
            .arg(control.to_string());
        let mut keep_fds: Vec<RawFd> = self.binds.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        keep_fds.extend([apps_fd.as_raw_fd(), control]);
        Ok(Prepared {
            cmd,
            keep_fds,
            _fds: vec![apps_fd],
        })
    }

    /// Why a fork server cannot give apps the same box here, if it cannot.
    pub fn fork_unavailable(&self) -> Option<String> {
        if !self.per_app_uid {
            return Some("apps have no uid of their own (the platform is not root)".into());
        }
        None
    }

    /// The directories the sandbox binds below /tmp (a venv in a temp dir):
    /// each forked child binds them again over its fresh /tmp, read-only,
    /// as bwrap does for an exec'd app.
    pub fn binds_below_tmp(&self) -> Vec<String> {
        self.binds
            .iter()
            .filter(|(_, inside)| inside.starts_with("/tmp"))
            .map(|(_, inside)| inside.to_string_lossy().into_owned())
            .collect()
    }

    /// The compiled seccomp programs, for the fork server to load in each child.
    pub fn seccomp(&self) -> &Filters {
        &self.seccomp
    }

    /// The uid the app runs as, when it has one of its own.
    pub fn uid_of(&self, app_id: &str) -> Option<u32> {
        self.per_app_uid.then(|| app_uid(app_id))
    }

    /// The venv's interpreter, sandboxed, with `app_dir` at `/app`.
    fn command(
        &self,
        app_id: &str,
        app_dir: &Path,
        run_dir: Option<&Path>,
        python_args: &[&std::ffi::OsStr],
    ) -> std::io::Result<Prepared> {
        let app_fd = open_dir(app_dir).map_err(std::io::Error::other)?;
        let run_fd = run_dir
            .map(open_dir)
            .transpose()
            .map_err(std::io::Error::other)?;
        let filters = self.seccomp.fds().map_err(std::io::Error::other)?;
        let mut cmd = Command::new(&self.bwrap);
        cmd.args(self.args(Inner::App {
            app_fd: &app_fd,
            run_fd: run_fd.as_ref(),
            filters: &filters,
        }));
        if self.per_app_uid {
            let id = app_uid(app_id).to_string();
            cmd.arg(SETPRIV)
                .args(["--reuid", &id, "--regid", &id, "--clear-groups"])
                .args(["--bounding-set", "-all", "--inh-caps", "-all"])
                .args(["--no-new-privs", "--pdeathsig", "KILL", "--"]);
        }
        cmd.arg(&self.python).args(python_args);
        let mut fds = vec![app_fd];
        fds.extend(run_fd);
        fds.extend(filters);
        let mut keep_fds: Vec<RawFd> = self.binds.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        keep_fds.extend(fds.iter().map(AsRawFd::as_raw_fd));
        Ok(Prepared {
            cmd,
            keep_fds,
            _fds: fds,
        })
    }

    fn args(&self, inner: Inner<'_>) -> Vec<OsString> {
        let (app_fd, run_fd, filters) = match inner {
            Inner::App {
                app_fd,
                run_fd,
                filters,
            } => (Some(app_fd), run_fd, filters),
            Inner::ForkServer { .. } => (None, None, &[][..]),
        };
        let mut a: Vec<OsString> = [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            // Only a loopback interface: no route out, no host listener in.
            "--unshare-net",
            "--die-with-parent",
        ]
        .iter()
        .map(Into::into)
        .collect();
        if app_fd.is_some() {
            // Not for the fork server: its children join the apps' groups,
            // which must lie below its cgroup root (on v2); each child
            // makes a cgroup namespace of its own once it has joined.
            a.push("--unshare-cgroup-try".into());
        }
        if !self.per_app_uid {
            // setpriv takes the capabilities away otherwise.
            for s in ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"] {
                a.push(s.into());
            }
        }
        a.extend(["--ro-bind".into(), "/usr".into(), "/usr".into()]);
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let host = Path::new("/").join(top);
            match std::fs::read_link(&host) {
                Ok(target) => a.extend(["--symlink".into(), target.into(), host.into()]),
                Err(_) if host.is_dir() => {
                    a.extend(["--ro-bind".into(), host.clone().into(), host.into()])
                }
                Err(_) => {}
            }
        }
        for e in ETC {
            let p = Path::new("/etc").join(e);
            a.extend(["--ro-bind-try".into(), p.clone().into(), p.into()]);
        }
        for s in [
            "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp",
        ] {
            a.push(s.into());
        }
        // bwrap makes missing parents 0700, which the app's uid could not
        // pass through; make them traversable first.
        let mut parents: Vec<&Path> = vec![];
        for (_, inside) in &self.binds {
            for p in made_parents(inside) {
                if !parents.contains(&p) {
                    parents.push(p);
                }
            }
        }
        if run_fd.is_some() || app_fd.is_none() {
            parents.push(Path::new(RUN_DIR).parent().unwrap_or(Path::new("/")));
        }
        for p in parents {
            a.extend(["--perms".into(), "0755".into(), "--dir".into(), p.into()]);
        }
        for (fd, inside) in &self.binds {
            a.extend([
                "--ro-bind-fd".into(),
                fd.as_raw_fd().to_string().into(),
                inside.into(),
            ]);
        }
        if let Some(fd) = run_fd {
            a.extend([
                "--bind-fd".into(),
                fd.as_raw_fd().to_string().into(),
                RUN_DIR.into(),
            ]);
        }
        for f in filters {
            a.extend(["--add-seccomp-fd".into(), f.as_raw_fd().to_string().into()]);
        }
        match (app_fd, inner) {
            (Some(fd), _) => a.extend([
                "--ro-bind-fd".into(),
                fd.as_raw_fd().to_string().into(),
                APP_DIR.into(),
            ]),
            (None, Inner::ForkServer { apps_fd }) => {
                // Empty mountpoints for each child's own binds, the apps
                // directory they bind from (each child detaches it), and the
                // capabilities that setup needs. No seccomp filter and no uid
                // drop here: each child gets both (see gofast_forkserver.py).
                for d in [APP_DIR, RUN_DIR] {
                    a.extend(["--perms".into(), "0755".into(), "--dir".into(), d.into()]);
                }
                a.extend([
                    "--bind-fd".into(),
                    apps_fd.as_raw_fd().to_string().into(),
                    FORK_APPS_DIR.into(),
                ]);
                for cap in FORK_SERVER_CAPS {
                    a.extend(["--cap-add".into(), (*cap).into()]);
                }
            }
            (None, Inner::App { .. }) => {}
        }
        a.extend([
            "--remount-ro".into(),
            "/".into(),
            "--chdir".into(),
            if app_fd.is_some() { APP_DIR } else { "/" }.into(),
            "--".into(),
        ]);
        a
    }

    /// Starts the sandboxed interpreter once, as an app would start, and
    /// checks from inside that the network and the filter are in place.
    async fn probe(&self, some_dir: &Path) -> Result<(), String> {
        let args = ["-I".as_ref(), "-c".as_ref(), PROBE.as_ref()];
        let mut p = self
            .command("gofast-probe", some_dir, None, &args)
            .map_err(|e| e.to_string())?;
        p.cmd
            .env_clear()
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        let setup = super::process::ChildSetup {
            keep_fds: p.keep_fds.clone(),
            ..Default::default()
        };
        // SAFETY: only system calls between fork and exec.
        unsafe {
            p.cmd.pre_exec(move || setup.run());
        }
        let out = tokio::time::timeout(Duration::from_secs(20), p.cmd.output())
            .await
            .map_err(|_| "a sandboxed start did not finish in 20s".to_string())?
            .map_err(|e| format!("cannot run bwrap: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "bwrap does not work here: {}",
            err.lines().last().unwrap_or("no output").trim()
        ))
    }
}

/// The directories bwrap must make above `inside`, outermost first: those
/// not already there from the system mounts (the /tmp tmpfs is 1777).
fn made_parents(inside: &Path) -> Vec<&Path> {
    let mut v: Vec<&Path> = inside
        .ancestors()
        .skip(1)
        .filter(|p| p.parent().is_some() && *p != Path::new("/tmp"))
        .filter(|p| {
            !["/usr", "/proc", "/dev", "/etc"]
                .iter()
                .any(|m| p.starts_with(m))
        })
        .collect();
    v.reverse();
    v
}

/// Run in the sandbox at start: the standard library and site-packages
/// import as an app's uid, the network has only loopback, and the seccomp
/// filter refuses a user namespace. Any failure means apps would not get
/// what `gofast up` reports, so it refuses to start.
const PROBE: &str = "\
import ctypes, socket, sys
import encodings, typing_extensions
if [n for _, n in socket.if_nameindex()] != ['lo']:
    sys.exit('the app network namespace has interfaces besides loopback')
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != -1 or ctypes.get_errno() != 1:
    sys.exit('the seccomp filter is not in force (unshare was not refused)')
";

fn find_bwrap() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(BWRAP_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{BWRAP_ENV}={} is not a file", p.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
        .ok_or_else(|| "bwrap (bubblewrap) is not installed".to_string())
}

/// The base installation the venv's interpreter links to (for pyenv,
/// something like ~/.pyenv/versions/3.11.7): without it nothing imports.
async fn base_prefixes(python: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new(python)
        .args([
            "-I",
            "-c",
            "import sys; print(sys.base_prefix); print(sys.base_exec_prefix)",
        ])
        .env_clear()
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let mut dirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .collect();
    // The interpreter binary itself, in case it lives outside the prefix.
    if let Some(home) = python
        .canonicalize()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
    {
        dirs.push(home);
    }
    let mut canonical: Vec<PathBuf> = dirs
        .into_iter()
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    canonical.sort();
    canonical.dedup();
    if canonical.is_empty() {
        return Err(format!(
            "{} did not report its base installation",
            python.display()
        ));
    }
    Ok(canonical)
}

fn open_dir(dir: &Path) -> Result<OwnedFd, String> {
    nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("cannot open {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parents_outside_the_system_mounts_are_made() {
        let p = |s: &str| {
            made_parents(Path::new(s))
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            p("/root/.pyenv/versions/3.11.7"),
            ["/root", "/root/.pyenv", "/root/.pyenv/versions"]
        );
        assert!(p("/runner").is_empty());
        assert_eq!(p("/tmp/x/venv"), ["/tmp/x"]);
        assert!(p("/usr/local/venv").is_empty());
    }

    #[test]
    fn app_uids_are_stable_unprivileged_and_spread() {
        assert_eq!(app_uid("a1b2c3"), app_uid("a1b2c3"));
        let uids: std::collections::HashSet<u32> =
            (0..1000).map(|i| app_uid(&format!("app{i}"))).collect();
        assert!(uids.len() > 990, "{} distinct uids", uids.len());
        assert!(
            uids.iter()
                .all(|u| (APP_UID_BASE..APP_UID_BASE + APP_UID_SPAN).contains(u))
        );
    }
}
