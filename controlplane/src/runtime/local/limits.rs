//! What each app may use, and the rlimits every app process starts with.
//! Memory and CPU come from the same settings as the Kubernetes runtime's
//! resources; the rest are fixed, generous for a FastAPI app and small
//! enough that one app cannot exhaust the machine.

use nix::sys::resource::{Resource, setrlimit};

/// Tasks (processes and threads) per app: uvicorn's loop, anyio's thread
/// pool for sync endpoints (40) and the sandbox's own two processes fit.
pub const MAX_TASKS: u64 = 256;
pub const MAX_OPEN_FILES: u64 = 1024;
pub const MAX_FILE_SIZE: u64 = 64 << 20;
/// rlimits cap address space, not resident memory: the interpreter, its
/// libraries and thread stacks reserve this much before the app uses any.
pub const RLIMIT_HEADROOM: u64 = 128 << 20;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of memory per app process tree.
    pub memory: u64,
    /// As configured (`128Mi`), for reports.
    pub memory_text: String,
    /// As people read it (`128 MiB`), for the failure reason.
    pub memory_human: String,
    /// Thousandths of a CPU, the app's share under contention.
    pub cpu_millis: u64,
    pub cpu_text: String,
}

impl Limits {
    pub fn from_config(
        memory: &crate::config::MemoryQuantity,
        cpu: &crate::config::CpuQuantity,
    ) -> Self {
        Self {
            memory: memory.bytes,
            memory_text: memory.text.clone(),
            memory_human: memory.human(),
            cpu_millis: cpu.millis,
            cpu_text: cpu.text.clone(),
        }
    }

    /// The deploy failure of an app stopped for using too much memory.
    pub fn memory_failure(&self) -> String {
        format!("exceeded memory limit ({})", self.memory_human)
    }

    /// The rlimits for an app process. Memory only when no cgroup limits it;
    /// processes only when the app has a uid of its own, since RLIMIT_NPROC
    /// counts every process of the uid, the platform's included.
    pub fn rlimits(&self, memory: bool, own_uid: bool) -> Vec<(Resource, u64)> {
        let mut r = vec![
            (Resource::RLIMIT_NOFILE, MAX_OPEN_FILES),
            (Resource::RLIMIT_FSIZE, MAX_FILE_SIZE),
            (Resource::RLIMIT_CORE, 0),
        ];
        if memory {
            r.push((Resource::RLIMIT_DATA, self.memory + RLIMIT_HEADROOM));
        }
        if own_uid {
            r.push((Resource::RLIMIT_NPROC, MAX_TASKS));
        }
        r
    }
}

/// Sets `limits` as both soft and hard limits. Runs in the forked child
/// before exec, so it makes system calls only.
pub fn apply(limits: &[(Resource, u64)]) -> std::io::Result<()> {
    for &(resource, value) in limits {
        setrlimit(resource, value, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from_config(&"128Mi".parse().unwrap(), &"250m".parse().unwrap())
    }

    #[test]
    fn the_failure_names_the_limit_as_people_read_it() {
        assert_eq!(limits().memory_failure(), "exceeded memory limit (128 MiB)");
    }

    #[test]
    fn memory_and_processes_are_rlimits_only_when_nothing_better_holds_them() {
        let has = |r: &[(Resource, u64)], k| r.iter().any(|(res, _)| *res == k);
        let both = limits().rlimits(true, true);
        assert!(has(&both, Resource::RLIMIT_DATA) && has(&both, Resource::RLIMIT_NPROC));
        let neither = limits().rlimits(false, false);
        assert!(!has(&neither, Resource::RLIMIT_DATA) && !has(&neither, Resource::RLIMIT_NPROC));
        assert!(has(&neither, Resource::RLIMIT_NOFILE) && has(&neither, Resource::RLIMIT_FSIZE));
    }
}
