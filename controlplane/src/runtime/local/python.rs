//! The Python side of the local runtime: the runner script and a virtualenv
//! with its pinned requirements, made once in the data dir.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::runtime::RuntimeError;

/// The runner, embedded so that the binary is all `gofast up` needs.
pub const RUNNER_PY: &str = include_str!("../../../../runner/gofast_runner.py");
/// The fork server (warm starts), written beside the runner, which it imports.
pub const FORKSERVER_PY: &str = include_str!("../../../../runner/gofast_forkserver.py");
pub const REQUIREMENTS: &str = include_str!("../../../../runner/requirements.txt");

/// A ready Python environment for apps.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    pub python: PathBuf,
    pub runner: PathBuf,
}

/// Where to find or make the environment.
pub struct PythonSetup<'a> {
    pub data_dir: &'a Path,
    /// A virtualenv made elsewhere with runner/requirements.txt; used as is.
    pub venv: Option<&'a Path>,
    /// The interpreter that makes the virtualenv.
    pub python: &'a str,
}

impl PythonSetup<'_> {
    /// Writes the runner and makes the virtualenv if it is missing or its
    /// requirements changed. `say` tells the person at the terminal.
    pub async fn prepare(&self, say: &(dyn Fn(&str) + Sync)) -> Result<PythonEnv, RuntimeError> {
        let runner_dir = self.data_dir.join("runner");
        tokio::fs::create_dir_all(&runner_dir)
            .await
            .map_err(io("create the runner dir"))?;
        let runner = runner_dir.join("gofast_runner.py");
        tokio::fs::write(&runner, RUNNER_PY)
            .await
            .map_err(io("write the runner"))?;
        let forkserver = runner_dir.join("gofast_forkserver.py");
        tokio::fs::write(&forkserver, FORKSERVER_PY)
            .await
            .map_err(io("write the fork server"))?;
        // Apps with a uid of their own read it through the sandbox.
        for (path, mode) in [(&runner_dir, 0o755), (&runner, 0o644), (&forkserver, 0o644)] {
            use std::os::unix::fs::PermissionsExt;
            tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(io("make the runner readable"))?;
        }

        let venv = match self.venv {
            Some(v) => v.to_path_buf(),
            None => self.ensure_venv(say).await?,
        };
        let python = venv.join("bin").join("python");
        if !python.exists() {
            return Err(RuntimeError::Unavailable(format!(
                "{} has no bin/python; make it with `python3 -m venv` and install runner/requirements.txt",
                venv.display()
            )));
        }
        Ok(PythonEnv { python, runner })
    }

    async fn ensure_venv(&self, say: &(dyn Fn(&str) + Sync)) -> Result<PathBuf, RuntimeError> {
        let venv = self.data_dir.join("venv");
        let marker = venv.join(".gofast-requirements");
        let wanted = hex::encode(Sha256::digest(REQUIREMENTS.as_bytes()));
        if tokio::fs::read_to_string(&marker)
            .await
            .is_ok_and(|m| m.trim() == wanted)
        {
            return Ok(venv);
        }
        say("Setting up the Python environment for apps (first run only; this takes a minute)…");
        let _ = tokio::fs::remove_dir_all(&venv).await;
        run(
            Command::new(self.python).arg("-m").arg("venv").arg(&venv),
            self.python,
            "create a virtualenv",
        )
        .await?;
        let requirements = self.data_dir.join("runner").join("requirements.txt");
        tokio::fs::write(&requirements, REQUIREMENTS)
            .await
            .map_err(io("write requirements.txt"))?;
        let pip = venv.join("bin").join("pip");
        run(
            Command::new(&pip)
                .args([
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                    "-r",
                ])
                .arg(&requirements),
            "pip",
            "install the runner's requirements",
        )
        .await?;
        tokio::fs::write(&marker, wanted)
            .await
            .map_err(io("mark the virtualenv"))?;
        say("Python environment ready.");
        Ok(venv)
    }
}

async fn run(cmd: &mut Command, program: &str, what: &str) -> Result<(), RuntimeError> {
    let out = cmd.output().await.map_err(|e| {
        RuntimeError::Unavailable(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "Python 3 was not found (tried `{program}`): install python3 with its venv module, \
                 or point GOFAST_PYTHON at an interpreter"
            )
        } else {
            format!("could not {what}: {e}")
        })
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(RuntimeError::Unavailable(format!(
        "could not {what}:\n{}",
        tail.join("\n")
    )))
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> RuntimeError {
    move |e| RuntimeError::Unavailable(format!("could not {what}: {e}"))
}
