//! Where `gofast login` keeps access tokens: one JSON file, mode 0600, under
//! GOFAST_CONFIG_DIR (default: the XDG config dir), keyed by server URL.

use std::{collections::BTreeMap, fs, io::Write, os::unix::fs::OpenOptionsExt, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult, Exit, LocalCode};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub email: String,
    pub access_token: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    servers: BTreeMap<String, Saved>,
}

/// GOFAST_CONFIG_DIR, else `gofast` in the XDG config dir: $XDG_CONFIG_HOME,
/// else ~/.config (on macOS too, where earlier versions kept logins there).
pub fn config_dir() -> PathBuf {
    use etcetera::BaseStrategy;
    if let Some(dir) = std::env::var_os("GOFAST_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match etcetera::choose_base_strategy() {
        Ok(xdg) => xdg.config_dir().join("gofast"),
        // No home directory (a bare container): beside the working dir.
        Err(_) => PathBuf::from(".gofast-config"),
    }
}

fn path() -> PathBuf {
    config_dir().join("credentials.json")
}

fn read() -> CliResult<File> {
    match fs::read_to_string(path()) {
        Ok(s) => serde_json::from_str(&s).map_err(|e| {
            CliError::new(
                Exit::Connection,
                LocalCode::Local,
                format!("{} is damaged: {e}", path().display()),
            )
            .hint("remove it and run `gofast login` again")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(CliError::new(
            Exit::Connection,
            LocalCode::Local,
            format!("cannot read {}: {e}", path().display()),
        )),
    }
}

fn write(file: &File) -> CliResult {
    let dir = config_dir();
    let fail = |e: std::io::Error| {
        CliError::new(
            Exit::Rejected,
            LocalCode::Local,
            format!("cannot write {}: {e}", path().display()),
        )
    };
    fs::create_dir_all(&dir).map_err(fail)?;
    let tmp = dir.join(".credentials.json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let json = serde_json::to_vec_pretty(file)
        .map_err(|e| CliError::new(Exit::Rejected, LocalCode::Local, e.to_string()))?;
    f.write_all(&json).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    fs::rename(&tmp, path()).map_err(fail)
}

pub fn load(server: &str) -> CliResult<Option<Saved>> {
    Ok(read()?.servers.get(server).cloned())
}

pub fn save(server: &str, saved: Saved) -> CliResult {
    let mut file = read().unwrap_or_default();
    file.servers.insert(server.to_string(), saved);
    write(&file)
}

/// Forgets the server's token; true if there was one.
pub fn forget(server: &str) -> CliResult<bool> {
    let mut file = read().unwrap_or_default();
    let had = file.servers.remove(server).is_some();
    write(&file)?;
    Ok(had)
}
