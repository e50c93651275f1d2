//! Where this process sits in each cgroup hierarchy, from
//! `/proc/self/mountinfo` and `/proc/self/cgroup` (read and parsed by
//! `procfs`).

use std::path::PathBuf;

use procfs::{
    ProcessCGroup,
    process::{MountInfo, Process},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn label(self) -> &'static str {
        match self {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        }
    }
}

/// A hierarchy this process belongs to: the directory of its own group there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub version: Version,
    /// For v1, the controllers mounted there; for v2, all (checked later).
    pub controllers: Vec<Controller>,
    pub own_group: PathBuf,
    /// True when the own group is the root of what this process can see.
    pub at_root: bool,
}

/// The places this process could make groups, v2 first, from
/// `/proc/self/mountinfo` and `/proc/self/cgroup`. A file that cannot be read
/// gives none: the caller then says that no controller enforces the limits.
pub fn own_groups() -> Vec<Mount> {
    let read = || -> procfs::ProcResult<_> {
        let me = Process::myself()?;
        Ok((me.mountinfo()?, me.cgroups()?))
    };
    match read() {
        Ok((mounts, own)) => groups_in(&mounts.0, &own.0),
        Err(e) => {
            // procfs's errors name the file.
            tracing::warn!("cannot tell this process's cgroups: {e}");
            Vec::new()
        }
    }
}

/// Where each of this process's groups (`/proc/self/cgroup`) is mounted
/// (`/proc/self/mountinfo`), v2 first.
pub fn groups_in(mounts: &[MountInfo], own: &[ProcessCGroup]) -> Vec<Mount> {
    let mut out = Vec::new();
    for group in own {
        // v2 is the line `0::/path`: no controllers named.
        let v2 = group.controllers.is_empty();
        let wanted: Vec<Controller> = if v2 {
            Controller::ALL.to_vec()
        } else {
            Controller::ALL
                .into_iter()
                .filter(|c| group.controllers.iter().any(|n| n == c.name()))
                .collect()
        };
        if wanted.is_empty() {
            continue;
        }
        let Some(mount) = mounts.iter().find(|m| mounts_hierarchy(m, v2, group)) else {
            continue;
        };
        // Inside a cgroup namespace the mount's root is a prefix of our path.
        let Some(rel) = group
            .pathname
            .strip_prefix(mount.root.trim_end_matches('/'))
        else {
            continue;
        };
        let rel = rel.trim_start_matches('/');
        out.push(Mount {
            version: if v2 { Version::V2 } else { Version::V1 },
            controllers: wanted,
            own_group: mount.mount_point.join(rel),
            at_root: rel.is_empty(),
        });
    }
    out.sort_by_key(|m| m.version == Version::V1);
    out
}

/// Whether this mount is the group's hierarchy: the v2 one, or a v1 one
/// mounted with (at least) the group's controllers as options.
fn mounts_hierarchy(m: &MountInfo, v2: bool, group: &ProcessCGroup) -> bool {
    if v2 {
        m.fs_type == "cgroup2"
    } else {
        m.fs_type == "cgroup"
            && group
                .controllers
                .iter()
                .all(|n| m.super_options.contains_key(n))
    }
}

/// [`groups_in`] on the text of the two files (for tests).
#[cfg(test)]
pub fn groups_from_text(mountinfo: &str, self_cgroup: &str) -> Vec<Mount> {
    use procfs::{FromBufRead, ProcessCGroups, process::MountInfos};
    let mounts = MountInfos::from_buf_read(mountinfo.as_bytes()).expect("mountinfo fixture");
    let own = ProcessCGroups::from_buf_read(self_cgroup.as_bytes()).expect("cgroup fixture");
    groups_in(&mounts.0, &own.0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const HYBRID_MOUNTS: &str = "\
30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,relatime shared:5 - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:7 - cgroup cgroup rw,cpu
36 30 0:32 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup rw,memory
40 30 0:36 / /sys/fs/cgroup/pids rw,relatime shared:14 - cgroup cgroup rw,pids
";
    const HYBRID_SELF: &str = "\
8:pids:/
4:memory:/process_api/db80
1:cpu:/
0::/
";

    #[test]
    fn hybrid_layout_offers_v2_first_then_each_v1_controller() {
        let m = groups_from_text(HYBRID_MOUNTS, HYBRID_SELF);
        assert_eq!(m[0].version, Version::V2);
        assert_eq!(m[0].own_group, Path::new("/sys/fs/cgroup/unified"));
        assert!(m[0].at_root);
        let mem = m
            .iter()
            .find(|m| m.controllers == [Controller::Memory])
            .unwrap();
        assert_eq!(
            mem.own_group,
            Path::new("/sys/fs/cgroup/memory/process_api/db80")
        );
        assert!(!mem.at_root);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn a_namespaced_mount_root_is_stripped_from_our_path() {
        let mounts = "50 40 0:40 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let m = groups_from_text(mounts, "0::/kubepods/pod1/app\n");
        assert_eq!(m[0].own_group, Path::new("/sys/fs/cgroup/app"));
        let cpu_and_acct = "33 30 0:29 / /c rw - cgroup cgroup rw,cpu,cpuacct\n";
        let m = groups_from_text(cpu_and_acct, "2:cpu,cpuacct:/x\n");
        assert_eq!(m[0].controllers, [Controller::Cpu]);
        assert_eq!(m[0].own_group, Path::new("/c/x"));
    }

    #[test]
    fn the_files_of_this_process_read_as_their_text_parses() {
        let text = |p| std::fs::read_to_string(p).unwrap();
        let from_text = groups_from_text(&text("/proc/self/mountinfo"), &text("/proc/self/cgroup"));
        assert_eq!(own_groups(), from_text);
    }

    #[test]
    fn without_cgroup_mounts_there_is_nothing_to_offer() {
        assert!(groups_from_text("", HYBRID_SELF).is_empty());
        assert!(groups_from_text(HYBRID_MOUNTS, "").is_empty());
    }
}
