//! The fork server's messages: one JSON object per `SOCK_SEQPACKET` packet,
//! file descriptors beside it as `SCM_RIGHTS`.

use std::{
    collections::BTreeMap,
    io::{self, IoSlice},
    os::fd::{AsRawFd, BorrowedFd, RawFd},
    process::ExitStatus,
};

use nix::sys::socket::{ControlMessage, MsgFlags, recv as recv_raw, sendmsg};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request<'a> {
    /// First, once: the seccomp programs every child loads last.
    Init {
        seccomp: &'a [String],
        /// Directories below /tmp that each child keeps (read-only).
        keep_in_tmp: &'a [String],
    },
    /// With fds: stdout, stderr, app dir, run dir, then `cgroup.procs` files.
    Spawn {
        id: &'a str,
        uid: u32,
        /// Paths below the apps directory.
        app: &'a str,
        run: &'a str,
        env: BTreeMap<&'a str, &'a str>,
        /// (RLIMIT_* number, value).
        rlimits: Vec<(i32, u64)>,
        tmp_size: u64,
        probe: bool,
    },
    Kill {
        id: &'a str,
        signal: i32,
    },
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Reply {
    Ready {
        ready: i64,
    },
    Spawned {
        spawned: String,
        pid: i64,
    },
    Failed {
        failed: String,
        error: String,
    },
    Exit {
        exit: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// An exit as the server reported it.
pub fn status(code: Option<i32>, signal: Option<i32>) -> Option<ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    match (code, signal) {
        (_, Some(sig)) => Some(ExitStatus::from_raw(sig & 0x7f)),
        (Some(code), None) => Some(ExitStatus::from_raw((code & 0xff) << 8)),
        (None, None) => None,
    }
}

pub fn send(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        sock.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

pub fn recv(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    Ok(recv_raw(sock.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_the_server_writes_them() {
        let r = |s: &str| serde_json::from_str::<Reply>(s).unwrap();
        assert_eq!(r(r#"{"ready": 2}"#), Reply::Ready { ready: 2 });
        assert!(matches!(
            r(r#"{"spawned": "s1", "pid": 4}"#),
            Reply::Spawned { .. }
        ));
        assert!(matches!(
            r(r#"{"failed": "s1", "error": "mount /app: EPERM"}"#),
            Reply::Failed { .. }
        ));
        let Reply::Exit { code, signal, .. } = r(r#"{"exit": "s1", "signal": 9}"#) else {
            panic!("not an exit");
        };
        let s = status(code, signal).unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&s), Some(9));
        let s = status(Some(3), None).unwrap();
        assert_eq!(s.code(), Some(3));
    }

    #[test]
    fn requests_are_tagged_by_op() {
        let v = serde_json::to_value(Request::Kill {
            id: "s1",
            signal: 15,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"op": "kill", "id": "s1", "signal": 15})
        );
    }
}
