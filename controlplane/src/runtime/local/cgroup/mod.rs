//! cgroup limits for app processes: memory, tasks and CPU weight, each taken
//! from whichever hierarchy lets this process make child groups. Hosts mix
//! them: on a hybrid layout memory may be a writable v1 controller while the
//! v2 mount has none, so every controller is chosen on its own, v2 first.
//!
//! Layout: `<own group>/gofast-<pid>/<app>-<revision dir>`, one group per app
//! process, so an old and a new revision never share a limit and an OOM kill
//! is attributed to the right start.

use std::{
    fs,
    io::{self, Write},
    os::fd::{AsRawFd, OwnedFd, RawFd},
    path::{Path, PathBuf},
    time::Duration,
};

mod knobs;
mod mounts;

pub use mounts::{Controller, Mount, Version, own_groups};

use super::limits::Limits;
use knobs::write_limits;

/// The controllers in use and where this platform's groups live.
#[derive(Debug, Default)]
pub struct Cgroups {
    hierarchies: Vec<Hierarchy>,
}

#[derive(Debug)]
struct Hierarchy {
    version: Version,
    /// `<own group>/gofast-<pid>`.
    dir: PathBuf,
    controllers: Vec<Controller>,
}

impl Cgroups {
    /// Finds, for each controller, a hierarchy where a group can be made and
    /// limited. Returns why the others did not work, for the start report.
    pub fn setup(mounts: &[Mount], limits: &Limits) -> (Self, Vec<String>) {
        let mut this = Self::default();
        let mut notes = Vec::new();
        let name = format!("gofast-{}", std::process::id());
        for c in Controller::ALL {
            let mut why = format!("no cgroup hierarchy has the {} controller", c.name());
            for m in mounts.iter().filter(|m| m.controllers.contains(&c)) {
                let dir = m.own_group.join(&name);
                match probe(m, &dir, c, limits) {
                    Ok(()) => {
                        match this.hierarchies.iter_mut().find(|h| h.dir == dir) {
                            Some(h) => h.controllers.push(c),
                            None => this.hierarchies.push(Hierarchy {
                                version: m.version,
                                dir,
                                controllers: vec![c],
                            }),
                        }
                        why.clear();
                        break;
                    }
                    Err(e) => {
                        why = format!("{} {}: {e}", m.version.label(), c.name());
                    }
                }
            }
            if !why.is_empty() {
                notes.push(why);
            }
        }
        (this, notes)
    }

    /// Which cgroup version enforces `c`, if any.
    pub fn enforcing(&self, c: Controller) -> Option<Version> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.contains(&c))
            .map(|h| h.version)
    }

    /// Makes and limits the group of one app process.
    pub fn create(&self, name: &str, limits: &Limits) -> io::Result<AppGroup> {
        let mut group = AppGroup::default();
        for h in &self.hierarchies {
            let dir = h.dir.join(name);
            fs::create_dir(&dir)?;
            // Pushed first, so a failure below still removes the directory.
            group
                .dirs
                .push((h.version, dir.clone(), h.controllers.clone()));
            for &c in &h.controllers {
                write_limits(h.version, &dir, c, limits)?;
            }
            group.procs.push(
                fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(join_file(h.version)))?
                    .into(),
            );
        }
        Ok(group)
    }

    /// Removes this platform's groups; apps are stopped by then.
    pub fn remove(&self) {
        for h in &self.hierarchies {
            let _ = fs::remove_dir(&h.dir);
        }
    }
}

/// The file a new app process writes `0` to, to join a group. On v1,
/// `tasks` (this thread) rather than `cgroup.procs` (its whole thread
/// group): the process is single-threaded when it joins, so it is the same
/// move, and moving one's own thread skips the kernel's global threadgroup
/// lock, whose RCU grace period made the join the slowest step of a warm
/// start (10-25 ms under load). v2 has no such file outside threaded trees.
fn join_file(v: Version) -> &'static str {
    match v {
        Version::V1 => "tasks",
        Version::V2 => "cgroup.procs",
    }
}

/// Makes the platform's group in `m` and checks that a child of it takes
/// the limit for `c`.
fn probe(m: &Mount, dir: &Path, c: Controller, limits: &Limits) -> io::Result<()> {
    if m.version == Version::V2 {
        let available = fs::read_to_string(m.own_group.join("cgroup.controllers"))?;
        if !available.split_whitespace().any(|n| n == c.name()) {
            return Err(io::Error::other("controller not available to this group"));
        }
    }
    remove_stale(&m.own_group);
    let made = !dir.exists();
    if made {
        fs::create_dir(dir)?;
    }
    let result = (|| {
        if m.version == Version::V2 {
            enable_v2(m, dir, c)?;
        }
        let child = dir.join("probe");
        let _ = fs::remove_dir(&child);
        fs::create_dir(&child)?;
        let result = write_limits(m.version, &child, c, limits);
        let _ = fs::remove_dir(&child);
        result
    })();
    if result.is_err() && made {
        let _ = fs::remove_dir(dir);
    }
    result
}

/// cgroup v2 hands a controller down only through `cgroup.subtree_control`,
/// which a group holding processes may not set (unless it is the root).
fn enable_v2(m: &Mount, dir: &Path, c: Controller) -> io::Result<()> {
    let on = |g: &Path| {
        fs::read_to_string(g.join("cgroup.subtree_control"))
            .is_ok_and(|s| s.split_whitespace().any(|n| n == c.name()))
    };
    if !on(&m.own_group) {
        if !m.at_root && alone_in(&m.own_group) {
            // Delegated to us alone (systemd's Delegate=yes): move this
            // process to a leaf so the group may hand controllers down.
            let leaf = dir.join("server");
            let _ = fs::create_dir(&leaf);
            fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())?;
        }
        fs::write(
            m.own_group.join("cgroup.subtree_control"),
            format!("+{}", c.name()),
        )?;
    }
    if !on(dir) {
        fs::write(dir.join("cgroup.subtree_control"), format!("+{}", c.name()))?;
    }
    Ok(())
}

fn alone_in(group: &Path) -> bool {
    fs::read_to_string(group.join("cgroup.procs")).is_ok_and(|p| {
        p.split_whitespace()
            .eq([std::process::id().to_string().as_str()])
    })
}

/// Groups left by a platform that was killed: `gofast-<pid>` of a pid that
/// is gone. Removing an empty group is all it takes.
fn remove_stale(own_group: &Path) {
    let Ok(entries) = fs::read_dir(own_group) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("gofast-") else {
            continue;
        };
        if pid.parse::<u32>().is_err() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        if let Ok(children) = fs::read_dir(e.path()) {
            for c in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = fs::remove_dir(c.path());
            }
        }
        let _ = fs::remove_dir(e.path());
    }
}

/// The groups of one app process.
#[derive(Debug, Default)]
pub struct AppGroup {
    dirs: Vec<(Version, PathBuf, Vec<Controller>)>,
    /// `cgroup.procs` (v2) or `tasks` (v1) of each group, opened before
    /// fork: the child joins by writing `0`, which needs no allocation after
    /// fork, while it is still single-threaded.
    procs: Vec<OwnedFd>,
}

impl AppGroup {
    pub fn procs_fds(&self) -> Vec<RawFd> {
        self.procs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// True if the kernel killed a process of the group for lack of memory.
    pub fn oom_killed(&self) -> bool {
        self.dirs.iter().any(|(v, dir, cs)| {
            let file = match v {
                Version::V1 => "memory.oom_control",
                Version::V2 => "memory.events",
            };
            cs.contains(&Controller::Memory)
                && fs::read_to_string(dir.join(file)).is_ok_and(|s| {
                    s.lines().any(|l| {
                        l.strip_prefix("oom_kill ")
                            .and_then(|n| n.trim().parse::<u64>().ok())
                            .is_some_and(|n| n > 0)
                    })
                })
        })
    }

    /// Kills whatever is left in the groups (a process that left the process
    /// group), then removes them.
    pub async fn remove(self) {
        for _ in 0..50 {
            let mut left = false;
            for (_, dir, _) in &self.dirs {
                if !dir.exists() {
                    continue;
                }
                kill_members(dir);
                left |= fs::remove_dir(dir).is_err();
            }
            if !left {
                return;
            }
            // A fixed pause (at most 1 s in all), not a backoff (backon): a group
            // can be removed a few ms after its last member died; nothing to relieve.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn kill_members(dir: &Path) {
    use nix::{sys::signal, unistd::Pid};
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    if let Ok(pids) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in pids.split_whitespace().filter_map(|p| p.parse().ok()) {
            let _ = signal::kill(Pid::from_raw(pid), signal::Signal::SIGKILL);
        }
    }
}

/// In the forked child: join the groups. System calls only.
pub fn join(procs: &[RawFd]) -> io::Result<()> {
    for &fd in procs {
        // SAFETY: `fd` stays open in the parent until the child has exec'd;
        // ManuallyDrop keeps the child from closing it.
        let mut f = std::mem::ManuallyDrop::new(unsafe {
            <fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd)
        });
        f.write_all(b"0")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_does_not_pass_for_a_cgroup() {
        // The fallback path: a "hierarchy" that is not a cgroup filesystem
        // (files do not appear in new groups) gives no controller at all.
        let tmp = tempfile::tempdir().unwrap();
        let mounts = format!(
            "36 30 0:32 / {} rw - cgroup cgroup rw,memory\n",
            tmp.path().display()
        );
        let m = mounts::groups_from_text(&mounts, "4:memory:/\n");
        let limits = Limits::from_config(&"128Mi".parse().unwrap(), &"250m".parse().unwrap());
        let (cg, notes) = Cgroups::setup(&m, &limits);
        assert_eq!(cg.enforcing(Controller::Memory), None);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("memory.limit_in_bytes is missing")),
            "{notes:?}"
        );
        assert_eq!(notes.len(), 3, "{notes:?}");
        cg.remove();
    }

    #[test]
    fn oom_kills_are_read_from_the_memory_files() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .unwrap();
        let g = AppGroup {
            dirs: vec![(Version::V1, tmp.path().into(), vec![Controller::Memory])],
            procs: vec![],
        };
        assert!(g.oom_killed());
        fs::write(tmp.path().join("memory.oom_control"), "oom_kill 0\n").unwrap();
        assert!(!g.oom_killed());
    }
}
