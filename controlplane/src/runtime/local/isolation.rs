//! Which protections apps get on this machine: detected once at start,
//! reported by `gofast up` and in `/healthz`.

use nix::sys::resource::Resource;

use super::{
    PythonEnv,
    cgroup::{self, Cgroups, Controller},
    forkserver::ForkServer,
    limits::{Limits, MAX_FILE_SIZE, MAX_OPEN_FILES, MAX_TASKS},
    output::{MAX_KEPT, MAX_LINE},
    sandbox::Sandbox,
    seccomp::Filters,
};
use crate::{
    config::{CgroupMode, SandboxMode, StartMode},
    runtime::{CpuShare, Enforced, IsolationReport, OutputCaps, RuntimeError, SeccompReport},
};

pub struct Isolation {
    pub sandbox: Option<Sandbox>,
    /// The warm fork server apps start from, when they start forked.
    pub fork: Option<ForkServer>,
    /// Why apps start as fresh processes, when they do.
    pub exec_reason: Option<String>,
    /// Why there is no sandbox, when there is none.
    pub no_sandbox: Option<String>,
    pub cgroups: Cgroups,
    /// Why controllers are missing, when some are.
    pub cgroup_notes: Vec<String>,
    pub limits: Limits,
    pub root: bool,
}

impl Isolation {
    pub async fn detect(
        sandbox: SandboxMode,
        cgroups: CgroupMode,
        limits: Limits,
        env: &PythonEnv,
        start: StartMode,
        apps_dir: &std::path::Path,
    ) -> Result<Self, RuntimeError> {
        // Fail closed: apps run unsandboxed only when the operator says so.
        let (sandbox, no_sandbox) = match sandbox {
            SandboxMode::None => (None, Some("turned off (--sandbox none)".to_string())),
            SandboxMode::Auto | SandboxMode::Bwrap => match Sandbox::detect(env).await {
                Ok(s) => (Some(s), None),
                Err(why) => return Err(RuntimeError::Unavailable(no_sandbox_message(&why))),
            },
        };
        let (cgroups, cgroup_notes) = match cgroups {
            CgroupMode::None => (
                Cgroups::default(),
                vec!["turned off (--cgroups none)".into()],
            ),
            CgroupMode::Auto => Cgroups::setup(&cgroup::own_groups(), &limits),
        };
        let (fork, exec_reason) = match (start, &sandbox) {
            (StartMode::Exec, _) => (None, Some("--start exec".to_string())),
            (StartMode::Fork, None) => {
                return Err(RuntimeError::Unavailable(
                    "--start fork needs the sandbox (a forked app enters the same box); \
                     use --start exec with --sandbox none"
                        .into(),
                ));
            }
            (StartMode::Auto, None) => (None, Some("no sandbox (--sandbox none)".to_string())),
            (_, Some(sb)) => match ForkServer::start(sb, apps_dir).await {
                Ok(f) => (Some(f), None),
                Err(why) if start == StartMode::Auto => {
                    (None, Some(format!("no fork server: {why}")))
                }
                Err(why) => {
                    return Err(RuntimeError::Unavailable(format!(
                        "apps cannot start forked here ({why}); use --start exec or --start auto"
                    )));
                }
            },
        };
        Ok(Self {
            sandbox,
            fork,
            exec_reason,
            no_sandbox,
            cgroups,
            cgroup_notes,
            limits,
            root: nix::unistd::geteuid().is_root(),
        })
    }

    /// How apps start here: `fork` or `exec`.
    pub fn start(&self) -> &'static str {
        if self.fork.is_some() { "fork" } else { "exec" }
    }

    pub fn per_app_uid(&self) -> bool {
        self.sandbox.as_ref().is_some_and(|s| s.per_app_uid)
    }

    pub fn memory_by_rlimit(&self) -> bool {
        self.cgroups.enforcing(Controller::Memory).is_none()
    }

    pub fn rlimits(&self) -> Vec<(Resource, u64)> {
        self.limits
            .rlimits(self.memory_by_rlimit(), self.per_app_uid())
    }

    fn enforcer(&self, c: Controller) -> &'static str {
        match self.cgroups.enforcing(c) {
            Some(v) => v.label(),
            None if c == Controller::Memory => "rlimit (address space, approximate)",
            None if c == Controller::Pids && self.per_app_uid() => "rlimit (per-app uid)",
            None => "none",
        }
    }

    /// What is not protected here, one sentence each.
    pub fn missing(&self) -> Vec<String> {
        let mut m = vec![];
        if let Some(why) = &self.no_sandbox {
            m.push(format!(
                "no filesystem, process or network isolation and no seccomp filter ({why}): \
                 apps can read whatever this user can, including the data dir and other apps' \
                 files, and open any connection"
            ));
        } else if !self.per_app_uid() && self.root {
            m.push("apps run as root inside their sandbox".into());
        }
        if self.cgroups.enforcing(Controller::Memory).is_none() {
            m.push(format!(
                "no memory cgroup: memory is capped by rlimit on address space, roughly ({})",
                self.cgroup_notes.join("; ")
            ));
        }
        if self.cgroups.enforcing(Controller::Cpu).is_none() {
            m.push("no CPU cgroup: a busy app competes with the platform as an equal".into());
        }
        if self.cgroups.enforcing(Controller::Pids).is_none() && !self.per_app_uid() {
            m.push("no limit on an app's processes".into());
        }
        m
    }

    /// Lines for the person who started the platform; loud when something is missing.
    pub fn report(&self) -> Vec<String> {
        let l = &self.limits;
        let confinement: &str = match &self.sandbox {
            Some(s) if s.per_app_uid => {
                "bubblewrap (own mount, PID, IPC, UTS and network namespaces: loopback only; \
                 seccomp filter) as a uid per app"
            }
            Some(_) => {
                "bubblewrap (own mount, PID, IPC, UTS, network and user namespaces: loopback \
                 only; seccomp filter)"
            }
            None => "plain processes",
        };
        let mut lines = vec![format!(
            "Apps run in {confinement}; memory {} by {}, CPU {} by {}, {MAX_TASKS} tasks by {}.",
            l.memory_text,
            self.enforcer(Controller::Memory),
            l.cpu_text,
            self.enforcer(Controller::Cpu),
            self.enforcer(Controller::Pids),
        )];
        lines.push(match &self.exec_reason {
            None => "Apps start warm (--start fork): forked from a fork server that has FastAPI \
                     imported, each child entering the box above before it runs the app's code."
                .into(),
            Some(why) => format!("Apps start cold (exec, a fresh interpreter each): {why}."),
        });
        let missing = self.missing();
        if !missing.is_empty() {
            lines.push("WARNING: apps are not fully isolated on this machine:".into());
            lines.extend(missing.iter().map(|m| format!("WARNING:   - {m}")));
        }
        lines
    }

    /// The `/healthz` details.
    pub fn details(&self) -> IsolationReport {
        IsolationReport {
            sandbox: if self.sandbox.is_some() {
                "bwrap"
            } else {
                "none"
            },
            start: self.start(),
            namespaces: match &self.sandbox {
                Some(s) if s.per_app_uid => vec!["mount", "pid", "ipc", "uts", "cgroup", "net"],
                Some(_) => vec!["mount", "pid", "ipc", "uts", "cgroup", "net", "user"],
                None => vec![],
            },
            network: if self.sandbox.is_some() {
                "own namespace, loopback only (no route out); served on a Unix socket"
            } else {
                "host (served on a Unix socket; outbound connections are allowed)"
            },
            seccomp: self.sandbox.as_ref().map(|_| SeccompReport {
                mode: "deny list (EPERM)",
                denied: Filters::denied(),
            }),
            inherited_fds: "closed above stderr",
            output: OutputCaps {
                line_bytes: MAX_LINE,
                kept_bytes: MAX_KEPT,
            },
            app_user: if self.per_app_uid() {
                "per app"
            } else {
                "the platform's"
            },
            memory: Enforced {
                limit: self.limits.memory_text.clone(),
                enforced_by: self.enforcer(Controller::Memory),
            },
            cpu: CpuShare {
                share: self.limits.cpu_text.clone(),
                enforced_by: self.enforcer(Controller::Cpu),
            },
            tasks: Enforced {
                limit: MAX_TASKS,
                enforced_by: self.enforcer(Controller::Pids),
            },
            open_files: MAX_OPEN_FILES,
            file_size_bytes: MAX_FILE_SIZE,
            missing: self.missing(),
        }
    }
}

/// Why `gofast up` refuses to start, and what to do about it.
fn no_sandbox_message(why: &str) -> String {
    format!(
        "apps cannot be sandboxed on this machine ({why}); install bubblewrap \
         (apt-get install bubblewrap, or scripts/deps.sh), or run apps unsandboxed with \
         --sandbox none"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare() -> Isolation {
        Isolation {
            sandbox: None,
            fork: None,
            exec_reason: Some("no sandbox (--sandbox none)".into()),
            no_sandbox: Some("bwrap is not installed".into()),
            cgroups: Cgroups::default(),
            cgroup_notes: vec!["no cgroup hierarchy has the memory controller".into()],
            limits: Limits::from_config(&"128Mi".parse().unwrap(), &"250m".parse().unwrap()),
            root: false,
        }
    }

    #[test]
    fn with_nothing_available_it_falls_back_to_rlimits_and_says_so() {
        let iso = bare();
        assert!(iso.memory_by_rlimit() && !iso.per_app_uid());
        assert!(
            iso.rlimits()
                .iter()
                .any(|(r, _)| *r == Resource::RLIMIT_DATA)
        );
        let report = iso.report().join("\n");
        assert!(
            report.contains("WARNING: apps are not fully isolated"),
            "{report}"
        );
        assert!(report.contains("bwrap is not installed"), "{report}");
        assert!(report.contains("no seccomp filter"), "{report}");
        assert!(report.contains("no memory cgroup"), "{report}");
        let d = iso.details();
        assert_eq!(d.sandbox, "none");
        assert_eq!(d.memory.enforced_by, "rlimit (address space, approximate)");
        assert_eq!(d.missing.len(), 4);
        assert_eq!(d.seccomp, None);
        // What /healthz shows: no filter is `null`.
        assert_eq!(serde_json::json!(d)["seccomp"], serde_json::Value::Null);
    }

    #[test]
    fn the_refusal_says_how_to_fix_it() {
        let m = no_sandbox_message("bwrap (bubblewrap) is not installed");
        assert!(m.contains("apt-get install bubblewrap"), "{m}");
        assert!(
            m.contains("scripts/deps.sh") && m.contains("--sandbox none"),
            "{m}"
        );
    }
}
