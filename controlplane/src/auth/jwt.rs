use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session in the store that this token belongs to; tokens without
    /// one (made before sessions existed) are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks access tokens with one HS256 secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` and other algorithms fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }
    }

    /// How long a token (and its session) lasts.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A token for `user_id`'s session `session_id`, valid until `expires`.
    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        issued: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> Result<String, String> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: Some(session_id.to_string()),
            iat: issued.unix_timestamp(),
            exp: expires.unix_timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())
    }

    /// The claims of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "your session has expired; log in again".to_string()
                }
                _ => "the access token is not valid; log in again".to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn keys() -> JwtKeys {
        JwtKeys::new(b"test-secret-test-secret-test-sec", Duration::hours(1))
    }

    fn issue(k: &JwtKeys, user: &str) -> String {
        let now = OffsetDateTime::now_utc();
        k.issue(user, "s1", now, now + k.lifetime()).unwrap()
    }

    #[test]
    fn issued_tokens_verify() {
        let c = keys().verify(&issue(&keys(), "u1")).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_deref()), ("u1", Some("s1")));
        assert!(c.exp > OffsetDateTime::now_utc().unix_timestamp());
    }

    #[test]
    fn wrong_key_is_rejected() {
        let t = issue(&keys(), "u1");
        let other = JwtKeys::new(b"another-secret-another-secret-00", Duration::hours(1));
        assert!(other.verify(&t).is_err());
    }

    #[test]
    fn expired_token_is_rejected_with_a_clear_reason() {
        let k = JwtKeys::new(b"test-secret-test-secret-test-sec", Duration::seconds(-60));
        let t = issue(&k, "u1");
        assert_eq!(
            keys().verify(&t).unwrap_err(),
            "your session has expired; log in again"
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let claims = encode(format!(r#"{{"sub":"u1","iat":0,"exp":{exp}}}"#).as_bytes());
        assert!(keys().verify(&format!("{header}.{claims}.")).is_err());
        assert!(keys().verify(&format!("{header}.{claims}")).is_err());
    }

    #[test]
    fn tampered_claims_are_rejected() {
        let t = issue(&keys(), "u1");
        let parts: Vec<&str> = t.split('.').collect();
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let forged = encode(format!(r#"{{"sub":"u2","iat":0,"exp":{exp}}}"#).as_bytes());
        assert!(
            keys()
                .verify(&format!("{}.{}.{}", parts[0], forged, parts[2]))
                .is_err()
        );
    }
}
