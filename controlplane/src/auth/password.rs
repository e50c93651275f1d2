//! Password hashing (argon2id) with bounded time and memory.
//!
//! argon2 is memory-hard on purpose: each hash takes 19 MiB. Hashing on the
//! blocking pool, one fresh buffer per request, let 64 concurrent logins grow
//! the control plane by a gigabyte that malloc never gave back (each blocking
//! thread kept its own arena). So at most `concurrency` hashes run at once,
//! each in a buffer that is allocated once and then reused, and a request that
//! cannot get a turn within `wait` is told to come back rather than queued.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
};
use tokio::sync::Semaphore;

/// Stored hashes asking for more memory than this are refused rather than
/// computed (ours use 19 MiB).
const MAX_BLOCKS: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed taken for the whole wait.
    #[error("the server is busy checking other passwords")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Runs argon2 with at most `concurrency` hashes at once.
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// Reused argon2 memory: at most one buffer per permit ever exists.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    wait: Duration,
}

impl PasswordHasher {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            buffers: Arc::new(Mutex::new(Vec::new())),
            wait,
        }
    }

    /// How long a request waits for a turn before it gets [`HashError::Busy`].
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// An argon2id PHC string (algorithm, parameters and salt included).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| hash_with(password.as_bytes(), memory))
            .await?
            .map_err(HashError::Internal)
    }

    /// False for a wrong password and for a hash that cannot be read.
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, HashError> {
        self.run(move |memory| verify_with(password.as_bytes(), &phc, memory))
            .await
    }

    async fn run<T, F>(&self, f: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|e| HashError::Internal(e.to_string()))?;
        let buffers = self.buffers.clone();
        // The permit moves into the task: should the request be dropped
        // meanwhile, the slot stays taken until the hash is done.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut memory = buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            let out = f(&mut memory);
            buffers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(memory);
            out
        })
        .await
        .map_err(|e| HashError::Internal(e.to_string()))
    }
}

/// Grows `memory` to what `params` need (it stays that size for the next use).
fn blocks_for<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let n = params.block_count();
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

fn hash_with(password: &[u8], memory: &mut Vec<Block>) -> Result<String, String> {
    let argon = Argon2::default();
    let params = argon.params().clone();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| e.to_string())?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt_bytes, out, blocks_for(memory, &params))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

fn verify_with(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    if params.m_cost() > MAX_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let computed = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(password, salt_bytes, out, blocks_for(memory, &params))
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    // `Output` compares in constant time.
    computed.is_ok_and(|c| c == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(2, Duration::from_secs(30))
    }

    #[tokio::test]
    async fn right_password_verifies_and_wrong_does_not() {
        let h = hasher();
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!h.verify("correct horsE".into(), phc).await.unwrap());
        assert!(
            !h.verify("correct horse".into(), "not a hash".into())
                .await
                .unwrap()
        );
    }

    /// Hashes made here and by the argon2 crate's own API read each other.
    #[tokio::test]
    async fn hashes_match_the_reference_implementation() {
        use argon2::PasswordHasher as _;
        let h = hasher();
        let ours = h.hash("pw-one-two".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"pw-one-two", &parsed)
                .is_ok()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"pw-three", &salt)
            .unwrap()
            .to_string();
        assert!(h.verify("pw-three".into(), theirs.clone()).await.unwrap());
        assert!(!h.verify("pw-four".into(), theirs).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_asking_for_too_much_memory_is_refused() {
        let phc = "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0c2+XoTeVQpTUZ1AcBSrz9wz9ZNQcESWmrIh8OWOp6g";
        assert!(!hasher().verify("x".into(), phc.into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_request_that_gets_no_turn_in_time_is_busy() {
        let h = PasswordHasher::new(1, Duration::from_millis(50));
        let held = h.permits.clone().acquire_owned().await.unwrap();
        let err = h.hash("password".into()).await.unwrap_err();
        assert!(matches!(err, HashError::Busy), "{err:?}");
        drop(held);
        assert!(h.hash("password".into()).await.is_ok());
    }

    /// However many requests come, no more buffers than slots are made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_is_reused() {
        let h = Arc::new(PasswordHasher::new(2, Duration::from_secs(60)));
        let phc = h.hash("pw".into()).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (h, phc) = (h.clone(), phc.clone());
                tokio::spawn(async move { h.verify("nope".into(), phc).await })
            })
            .collect();
        for t in tasks {
            assert!(!t.await.unwrap().unwrap());
        }
        assert!(h.buffers.lock().unwrap().len() <= 2);
    }
}
