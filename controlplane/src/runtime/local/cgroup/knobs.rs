//! What a group's files get for each controller and cgroup version.

use std::{fs, io, path::Path};

use super::{Controller, Version};
use crate::runtime::local::limits::{Limits, MAX_TASKS};

pub fn write_limits(v: Version, dir: &Path, c: Controller, limits: &Limits) -> io::Result<()> {
    let set = |file: &str, value: String| {
        let path = dir.join(file);
        // A real cgroup has the file as soon as the group exists; a plain
        // directory does not, and must not pass for a cgroup.
        if !path.exists() {
            return Err(io::Error::other(format!("{file} is missing")));
        }
        fs::write(path, value)
    };
    // Best effort: swap accounting may be off, and then there is no swap to limit.
    let try_set = |file: &str, value: &str| {
        let _ = fs::write(dir.join(file), value);
    };
    // An app gets its share under contention and at most one CPU (or its
    // share, if larger), so a busy loop never takes every core.
    let cap_millis = limits.cpu_millis.max(1000);
    match (v, c) {
        (Version::V1, Controller::Memory) => {
            set("memory.limit_in_bytes", limits.memory.to_string())?;
            try_set("memory.memsw.limit_in_bytes", &limits.memory.to_string());
        }
        (Version::V2, Controller::Memory) => {
            set("memory.max", limits.memory.to_string())?;
            try_set("memory.swap.max", "0");
            try_set("memory.oom.group", "1");
        }
        (_, Controller::Pids) => set("pids.max", MAX_TASKS.to_string())?,
        (Version::V1, Controller::Cpu) => {
            set("cpu.shares", cpu_shares(limits.cpu_millis).to_string())?;
            set("cpu.cfs_period_us", "100000".into())?;
            set("cpu.cfs_quota_us", (cap_millis * 100).to_string())?;
        }
        (Version::V2, Controller::Cpu) => {
            set("cpu.weight", cpu_weight(limits.cpu_millis).to_string())?;
            set("cpu.max", format!("{} 100000", cap_millis * 100))?;
        }
    }
    Ok(())
}

/// Kubernetes' conversion: 1000m is 1024 shares.
pub fn cpu_shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(2)
}

/// Shares mapped onto cgroup v2's 1..10000 weight, as Kubernetes does.
pub fn cpu_weight(millis: u64) -> u64 {
    (1 + (cpu_shares(millis).min(262_144) - 2) * 9999 / 262_142).clamp(1, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_share_converts_like_kubernetes() {
        assert_eq!(cpu_shares(250), 256);
        assert_eq!(cpu_shares(1), 2);
        assert_eq!(cpu_weight(1000), 39);
        assert_eq!(cpu_weight(250), 10);
    }
}
