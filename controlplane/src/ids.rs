//! Short ids that are safe in URLs, DNS labels and Kubernetes object names:
//! lowercase letters and digits, starting with a letter.

use rand::Rng;

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new random id of `len` characters (about 5 bits each).
pub fn new_id(len: usize) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(len);
    id.push(LETTERS[rng.random_range(0..LETTERS.len())] as char);
    for _ in 1..len {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

pub fn user_id() -> String {
    new_id(10)
}

pub fn app_id() -> String {
    new_id(10)
}

/// A random secret with 256 bits of entropy, hex-encoded.
pub fn secret_hex() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True for strings that `new_id` could have made (any length).
    fn looks_like_id(s: &str) -> bool {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    }

    #[test]
    fn ids_are_dns_labels() {
        for _ in 0..200 {
            let id = app_id();
            assert_eq!(id.len(), 10);
            assert!(looks_like_id(&id), "{id}");
        }
    }

    #[test]
    fn ids_differ() {
        assert_ne!(user_id(), user_id());
    }
}
