//! Who is calling: passwords (argon2id, bounded), access tokens (JWT, HS256,
//! each naming a session in the store), API tokens for CI (random secrets of
//! which only a hash is stored), and how often one may try (throttle).

mod jwt;
mod password;
mod secret;
pub mod throttle;

pub use jwt::JwtKeys;
pub use password::{HashError, PasswordHasher};
pub use secret::{MIN_SECRET_BYTES, SecretError, check_flag_secret, load_or_create_secret};

use sha2::{Digest, Sha256};

/// API tokens start with this, so `authenticate` can tell them from JWTs and
/// so secret scanners can spot a leaked one.
pub const API_TOKEN_PREFIX: &str = "gf_";

/// A new API token secret.
pub fn new_api_token_secret() -> String {
    format!("{API_TOKEN_PREFIX}{}", crate::ids::secret_hex())
}

/// What the store keeps of an API token secret.
pub fn api_token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Normalises an email address and rejects what cannot be one.
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.split_once('@') else {
        return Err("an email address needs an @, like ada@example.com");
    };
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err("that is not a valid email address; use one like ada@example.com")
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").as_deref(),
            Ok("ada@example.com")
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "ada@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn token_hash_is_stable_and_not_the_secret() {
        let s = new_api_token_secret();
        assert!(s.starts_with(API_TOKEN_PREFIX));
        assert_eq!(api_token_hash(&s), api_token_hash(&s));
        assert!(!api_token_hash(&s).contains(&s[3..]));
    }
}
