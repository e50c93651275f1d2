//! The system calls an app may not make, as seccomp filters compiled to BPF
//! with `seccompiler` and handed to bubblewrap (`--add-seccomp-fd`), which
//! loads them right before it executes the app's first program.
//!
//! A deny list in the spirit of Docker's default profile: what a web app
//! never needs and an escape usually does — new namespaces (user namespaces
//! above all: inside one, an app holds every capability again), mounts,
//! tracing other processes, the kernel's keyrings, BPF, module loading,
//! io_uring (which bypasses seccomp for the calls it makes). Denied calls
//! fail with EPERM, so a library that probes for them falls back cleanly;
//! `clone3` fails with ENOSYS instead, which makes libc retry with `clone`,
//! whose flags (unlike clone3's, behind a pointer) a filter can read.

use std::{
    collections::BTreeMap,
    io::{Seek, Write},
    os::fd::OwnedFd,
};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Denied outright, with EPERM. (seccompiler, and so this module, is for
/// 64-bit targets only, where `c_long` is `i64`.)
const DENIED: &[(&str, i64)] = &[
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("kcmp", libc::SYS_kcmp),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("syslog", libc::SYS_syslog),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("quotactl_fd", libc::SYS_quotactl_fd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("vhangup", libc::SYS_vhangup),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
];

/// `clone` is denied (EPERM) when its flags ask for any of these.
const NAMESPACE_FLAGS: &[(&str, libc::c_int)] = &[
    ("CLONE_NEWNS", libc::CLONE_NEWNS),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWPID", libc::CLONE_NEWPID),
    ("CLONE_NEWNET", libc::CLONE_NEWNET),
];

/// On x86_64 the x32 ABI reaches the same kernel entry points under other
/// numbers (`nr | X32_BIT`, or 512 and up for calls with compat structs)
/// with the same audit architecture, which the filter's architecture check
/// would let through. Kernels mostly disable x32, but the filter must not
/// depend on it.
#[cfg(target_arch = "x86_64")]
const X32_BIT: i64 = 0x4000_0000;
/// x32-only numbers of denied calls (arch/x86/entry/syscalls/syscall_64.tbl).
#[cfg(target_arch = "x86_64")]
const X32_SPECIAL: &[(&str, i64)] = &[
    ("ptrace", 521),
    ("kexec_load", 528),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
];

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("no seccomp filter for this architecture: {0}")]
    Arch(seccompiler::BackendError),
    #[error("cannot compile the seccomp filter: {0}")]
    Compile(seccompiler::BackendError),
    #[error("cannot hand the seccomp filter to bwrap: {0}")]
    Io(#[from] std::io::Error),
}

/// The compiled filters, ready to be written for each app start.
#[derive(Debug, Clone)]
pub struct Filters {
    /// One BPF program per filter, as the kernel's `struct sock_filter` array.
    programs: Vec<Vec<u8>>,
}

impl Filters {
    pub fn compile() -> Result<Self, SeccompError> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(SeccompError::Arch)?;
        let mut deny: BTreeMap<i64, Vec<SeccompRule>> =
            DENIED.iter().map(|&(_, nr)| (nr, vec![])).collect();
        let mut clone_rules = vec![];
        for &(_, flag) in NAMESPACE_FLAGS {
            let flag = u64::from(flag as u32);
            // (flags & FLAG) == FLAG: any one namespace flag denies the call.
            let has_flag = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .map_err(SeccompError::Compile)?;
            clone_rules.push(SeccompRule::new(vec![has_flag]).map_err(SeccompError::Compile)?);
        }
        deny.insert(libc::SYS_clone, clone_rules);
        #[cfg(target_arch = "x86_64")]
        {
            let x32: Vec<(i64, Vec<SeccompRule>)> = deny
                .iter()
                .map(|(nr, r)| (nr | X32_BIT, r.clone()))
                .collect();
            deny.extend(x32);
            for &(_, nr) in X32_SPECIAL {
                deny.insert(nr | X32_BIT, vec![]);
            }
        }
        let no_clone3: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, vec![])].into();
        let programs = [(deny, libc::EPERM), (no_clone3, libc::ENOSYS)]
            .into_iter()
            .map(|(rules, errno)| {
                let filter = SeccompFilter::new(
                    rules,
                    SeccompAction::Allow,
                    SeccompAction::Errno(errno as u32),
                    arch,
                )
                .map_err(SeccompError::Compile)?;
                let bpf: BpfProgram = filter.try_into().map_err(SeccompError::Compile)?;
                Ok(bpf
                    .iter()
                    .flat_map(|i| {
                        let mut b = Vec::with_capacity(8);
                        b.extend(i.code.to_ne_bytes());
                        b.push(i.jt);
                        b.push(i.jf);
                        b.extend(i.k.to_ne_bytes());
                        b
                    })
                    .collect())
            })
            .collect::<Result<_, SeccompError>>()?;
        Ok(Self { programs })
    }

    /// The BPF programs, for the fork server, which loads them itself
    /// (`prctl(PR_SET_SECCOMP)`) as the last step of each child's setup.
    pub fn programs(&self) -> &[Vec<u8>] {
        &self.programs
    }

    /// One fresh fd per filter, positioned at its start: bwrap reads each to
    /// the end, so fds cannot be shared between starts.
    pub fn fds(&self) -> Result<Vec<OwnedFd>, SeccompError> {
        self.programs
            .iter()
            .map(|p| {
                let fd = nix::sys::memfd::memfd_create(
                    c"gofast-seccomp",
                    nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
                )
                .map_err(std::io::Error::from)?;
                let mut file = std::fs::File::from(fd);
                file.write_all(p)?;
                file.rewind()?;
                Ok(file.into())
            })
            .collect()
    }

    /// What the filters deny, for the start report and `/healthz`.
    pub fn denied() -> Vec<String> {
        let mut names: Vec<String> = DENIED.iter().map(|(n, _)| n.to_string()).collect();
        let flags: Vec<&str> = NAMESPACE_FLAGS.iter().map(|(n, _)| *n).collect();
        names.push(format!("clone with {}", flags.join("|")));
        names.push("clone3 (ENOSYS: libc falls back to clone)".into());
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_for_this_machine() {
        let f = Filters::compile().unwrap();
        assert_eq!(f.programs.len(), 2);
        // Whole `struct sock_filter`s, within the kernel's 4096-instruction cap.
        for p in &f.programs {
            assert_eq!(p.len() % 8, 0);
            assert!(p.len() / 8 < 4096, "{} instructions", p.len() / 8);
        }
        let fds = f.fds().unwrap();
        let mut read = vec![];
        std::io::Read::read_to_end(
            &mut std::fs::File::from(fds[0].try_clone().unwrap()),
            &mut read,
        )
        .unwrap();
        assert_eq!(read, f.programs[0]);
        let denied = Filters::denied().join(", ");
        assert!(
            denied.contains("unshare") && denied.contains("CLONE_NEWUSER"),
            "{denied}"
        );
    }
}
