use std::{
    fs,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// HS256 wants a key at least as long as its output: 32 bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Fewer different bytes than this is a placeholder, not a secret.
const MIN_DISTINCT_BYTES: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "--jwt-secret (GOFAST_JWT_SECRET) is too weak: {0}; use at least {MIN_SECRET_BYTES} random \
         bytes (e.g. `openssl rand -hex 32`), or leave it out to have one generated in the data dir"
    )]
    WeakFlag(&'static str),
    #[error(
        "the JWT secret in {} is too weak: {why}; delete the file to have a strong one generated \
         (everyone logs in again), or put at least {MIN_SECRET_BYTES} random bytes in it",
        path.display()
    )]
    WeakFile { path: PathBuf, why: &'static str },
    #[error("cannot read or write the JWT secret {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why `secret` is too weak to sign tokens with, if it is.
pub fn weakness(secret: &[u8]) -> Option<&'static str> {
    if secret.len() < MIN_SECRET_BYTES {
        return Some("it is shorter than 32 bytes");
    }
    let mut seen = [false; 256];
    for &b in secret {
        seen[b as usize] = true;
    }
    if seen.iter().filter(|s| **s).count() < MIN_DISTINCT_BYTES {
        return Some("it repeats too few different characters");
    }
    None
}

/// The secret given with `--jwt-secret`, if strong enough.
pub fn check_flag_secret(secret: &str) -> Result<Vec<u8>, SecretError> {
    match weakness(secret.as_bytes()) {
        Some(why) => Err(SecretError::WeakFlag(why)),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// Reads the JWT secret from `path`, or makes one (32 random bytes, as 64 hex
/// digits) and keeps it there with mode 0600 so that tokens survive a restart.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    match fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => {
            let secret = s.trim().as_bytes().to_vec();
            return match weakness(&secret) {
                Some(why) => Err(SecretError::WeakFile {
                    path: path.to_path_buf(),
                    why,
                }),
                None => Ok(secret),
            };
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let secret = crate::ids::secret_hex();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(secret.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_is_created_once_with_mode_0600_and_is_strong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        let a = load_or_create_secret(&path).unwrap();
        let b = load_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(weakness(&a), None);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Another data dir gets another secret.
        let other = load_or_create_secret(&dir.path().join("other")).unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn weak_secrets_are_refused_with_a_reason() {
        for weak in ["", "secret", &"x".repeat(31), &"ab".repeat(40)] {
            let err = check_flag_secret(weak).unwrap_err().to_string();
            assert!(err.contains("--jwt-secret") && err.contains("32"), "{err}");
            assert!(
                weak.len() < 10 || !err.contains(weak),
                "the secret leaked: {err}"
            );
        }
        assert!(check_flag_secret("test-secret-that-is-long-enough-000").is_ok());
    }

    #[test]
    fn a_weak_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        fs::write(&path, "short\n").unwrap();
        let err = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(
            err.contains("jwt-secret") && err.contains("delete the file"),
            "{err}"
        );
    }
}
