//! Where this process sits in each cgroup hierarchy, from
//! `/proc/self/mountinfo` and `/proc/self/cgroup`.

use std::path::{Path, PathBuf};

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

/// Reads `/proc/self/mountinfo` and `/proc/self/cgroup` into the places this
/// process could make groups, v2 first.
pub fn own_groups(mountinfo: &str, self_cgroup: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(names), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v2 = names.is_empty();
        let wanted: Vec<Controller> = if v2 {
            Controller::ALL.to_vec()
        } else {
            let names: Vec<&str> = names.split(',').collect();
            Controller::ALL
                .into_iter()
                .filter(|c| names.contains(&c.name()))
                .collect()
        };
        if wanted.is_empty() {
            continue;
        }
        let Some((root, point)) = mountinfo.lines().find_map(|m| cgroup_mount(m, v2, names)) else {
            continue;
        };
        // Inside a cgroup namespace the mount's root is a prefix of our path.
        let Some(rel) = path.strip_prefix(root.trim_end_matches('/')) else {
            continue;
        };
        let rel = rel.trim_start_matches('/');
        out.push(Mount {
            version: if v2 { Version::V2 } else { Version::V1 },
            controllers: wanted,
            own_group: Path::new(point).join(rel),
            at_root: rel.is_empty(),
        });
    }
    out.sort_by_key(|m| m.version == Version::V1);
    out
}

/// `(root, mount point)` if this mountinfo line mounts the hierarchy.
fn cgroup_mount<'a>(line: &'a str, v2: bool, names: &str) -> Option<(&'a str, &'a str)> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    let fstype = right.next()?;
    let options = right.nth(1).unwrap_or("");
    let matches = if v2 {
        fstype == "cgroup2"
    } else {
        fstype == "cgroup" && names.split(',').all(|n| options.split(',').any(|o| o == n))
    };
    (matches && fields.len() > 4).then(|| (fields[3], fields[4]))
}

#[cfg(test)]
mod tests {
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
        let m = own_groups(HYBRID_MOUNTS, HYBRID_SELF);
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
        let m = own_groups(mounts, "0::/kubepods/pod1/app\n");
        assert_eq!(m[0].own_group, Path::new("/sys/fs/cgroup/app"));
        let cpu_and_acct = "33 30 0:29 / /c rw - cgroup cgroup rw,cpu,cpuacct\n";
        let m = own_groups(cpu_and_acct, "2:cpu,cpuacct:/x\n");
        assert_eq!(m[0].controllers, [Controller::Cpu]);
        assert_eq!(m[0].own_group, Path::new("/c/x"));
    }

    #[test]
    fn without_cgroup_mounts_there_is_nothing_to_offer() {
        assert!(own_groups("", HYBRID_SELF).is_empty());
        assert!(own_groups(HYBRID_MOUNTS, "").is_empty());
    }
}
