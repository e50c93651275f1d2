//! Accounts, sessions and API tokens.
//!
//! A login makes a session in the store and a JWT that names it; every request
//! checks that the session still exists, so logout and password changes end
//! sessions on every replica at once. Attempts are throttled per client
//! address and per account before any password is hashed, and hashing itself
//! runs a few at a time in reused memory (see `auth::password`).

use std::{net::IpAddr, time::Duration};

use time::OffsetDateTime;

use super::{Caller, Platform};
use crate::{
    auth::{
        self, API_TOKEN_PREFIX, HashError, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, PasswordHasher,
        api_token_hash, new_api_token_secret,
        throttle::{AccountKeys, Throttle, address_key},
    },
    config::SignupMode,
    error::{Error, Result},
    ids,
    model::{ApiToken, User},
    store::SessionRecord,
};

/// A successful login.
pub struct Session {
    pub access_token: String,
    pub expires_at: OffsetDateTime,
    pub user: User,
}

/// Signups, login throttling and quotas: the operator's `--signup`,
/// `--max-apps-per-user`, `--keep-revisions` and rate flags.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub signup: SignupMode,
    pub max_apps_per_user: u32,
    pub keep_revisions: u32,
    /// Login attempts per minute from one client address.
    pub logins_per_minute: u32,
    /// Login attempts per minute for one account.
    pub account_logins_per_minute: u32,
    /// Signups per hour from one client address.
    pub signups_per_hour: u32,
    /// Password hashes computed at once (19 MiB each).
    pub hash_concurrency: usize,
    /// How long a login waits for a hashing slot before it is told to retry.
    pub hash_wait: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for AccountSettings {
    /// Sized for a classroom.
    fn default() -> Self {
        Self {
            signup: SignupMode::Open,
            max_apps_per_user: 20,
            keep_revisions: 20,
            logins_per_minute: 20,
            account_logins_per_minute: 6,
            signups_per_hour: 30,
            hash_concurrency: 2,
            hash_wait: Duration::from_secs(5),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Keys one limiter remembers at most (a key is a few dozen bytes).
const MAX_THROTTLE_KEYS: usize = 100_000;

/// The state behind [`AccountSettings`].
pub(super) struct Accounts {
    hasher: PasswordHasher,
    login_by_address: Throttle<IpAddr>,
    login_by_account: Throttle<u64>,
    signup_by_address: Throttle<IpAddr>,
    account_keys: AccountKeys,
}

impl Accounts {
    pub(super) fn new(s: &AccountSettings) -> Self {
        Self {
            hasher: PasswordHasher::new(s.hash_concurrency, s.hash_wait),
            login_by_address: Throttle::per_minute(s.logins_per_minute, MAX_THROTTLE_KEYS),
            login_by_account: Throttle::per_minute(s.account_logins_per_minute, MAX_THROTTLE_KEYS),
            signup_by_address: Throttle::per_hour(s.signups_per_hour, MAX_THROTTLE_KEYS),
            account_keys: AccountKeys::new(),
        }
    }
}

const WRONG_LOGIN: &str = "wrong email or password";

fn too_many(what: &str, wait: Duration) -> Error {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Error::TooManyRequests {
        message: format!("{what}; try again in {} s", secs.max(1)),
        retry_after: wait,
    }
}

fn hash_error(e: HashError, wait: Duration) -> Error {
    match e {
        HashError::Busy => too_many("the server is busy checking other passwords", wait),
        HashError::Internal(why) => Error::Internal(why),
    }
}

fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidArgument(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidArgument("the password is too long".into()));
    }
    Ok(())
}

/// What a call without a token is told, here and before its body is read.
pub const NOT_LOGGED_IN: &str = "not logged in: send `authorization: Bearer <token>` with the \
                                 access token of a login or an API token";

impl Platform {
    fn accounts_settings(&self) -> &AccountSettings {
        &self.settings.accounts
    }

    /// The client's address for throttling: the connection's peer, or what a
    /// trusted reverse proxy says it forwards for (see `throttle::client_address`).
    pub fn client_address(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let trusted = &self.accounts_settings().trusted_proxies;
        peer.map(|p| auth::throttle::client_address(p, forwarded_for, trusted))
    }

    /// Makes an account. `client` is the caller's address, for the per-address limit.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<User> {
        if self.accounts_settings().signup == SignupMode::Closed {
            return Err(Error::PermissionDenied(
                "signups are closed on this server: the operator makes accounts; ask them for one"
                    .into(),
            ));
        }
        let email = auth::normalize_email(email).map_err(|m| Error::InvalidArgument(m.into()))?;
        check_new_password(password)?;
        if let Some(ip) = client {
            self.accounts
                .signup_by_address
                .check(&address_key(ip))
                .map_err(|wait| too_many("too many signups from your address", wait))?;
        }
        let password_hash = self.hash_password(password).await?;
        let user = User {
            id: ids::user_id(),
            email,
            password_hash,
            created_at: OffsetDateTime::now_utc(),
        };
        self.store
            .create_user(&user)
            .await
            .map_err(|e| match Error::from(e) {
                Error::AlreadyExists(_) => Error::AlreadyExists(
                    "an account with this email already exists; log in instead".into(),
                ),
                other => other,
            })?;
        Ok(user)
    }

    /// Exchanges a password for a new session. Throttled per client address
    /// and per account before any hashing.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session> {
        if let Some(ip) = client {
            self.accounts
                .login_by_address
                .check(&address_key(ip))
                .map_err(|wait| too_many("too many login attempts from your address", wait))?;
        }
        let Ok(email) = auth::normalize_email(email) else {
            return Err(Error::Unauthenticated(WRONG_LOGIN.into()));
        };
        let key = self.accounts.account_keys.key(&email);
        self.accounts
            .login_by_account
            .check(&key)
            .map_err(|wait| too_many("too many login attempts for this account", wait))?;
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::Unauthenticated(WRONG_LOGIN.into()));
        }
        let user = self.store.user_by_email(&email).await?;
        // Verify against a dummy hash for unknown emails so timing does not
        // tell which emails have accounts.
        let hash = user
            .as_ref()
            .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
        let ok = self.verify_password(password, hash).await?;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => return Err(Error::Unauthenticated(WRONG_LOGIN.into())),
        };
        self.new_session(user).await
    }

    async fn new_session(&self, user: User) -> Result<Session> {
        let now = OffsetDateTime::now_utc();
        // Whole seconds, as the JWT carries them.
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let record = SessionRecord {
            id: crate::ids::secret_hex(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + self.jwt.lifetime(),
        };
        self.store.create_session(&record).await?;
        let access_token = self
            .jwt
            .issue(&user.id, &record.id, now, record.expires_at)
            .map_err(Error::Internal)?;
        Ok(Session {
            access_token,
            expires_at: record.expires_at,
            user,
        })
    }

    /// Ends the caller's session: its token stops working on every replica.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        let Some(session) = &caller.session_id else {
            return Err(Error::FailedPrecondition(
                "this is an API token, not a login session; revoke it with `gofast token revoke`"
                    .into(),
            ));
        };
        self.store.end_session(&caller.user_id, session).await?;
        Ok(())
    }

    /// Sets a new password after checking the current one, and ends every
    /// other session of the user (the caller's stays). API tokens stay valid
    /// unless `revoke_api_tokens`. Returns how many sessions and tokens ended.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        revoke_api_tokens: bool,
        client: Option<IpAddr>,
    ) -> Result<(u64, usize)> {
        check_new_password(new)?;
        let user = self.me(caller).await?;
        // Guessing the current password through this call is throttled like
        // logins.
        if let Some(ip) = client {
            self.accounts
                .login_by_address
                .check(&address_key(ip))
                .map_err(|wait| too_many("too many password attempts from your address", wait))?;
        }
        let key = self.accounts.account_keys.key(&user.email);
        self.accounts
            .login_by_account
            .check(&key)
            .map_err(|wait| too_many("too many password attempts for this account", wait))?;
        if current.len() > MAX_PASSWORD_LEN
            || !self.verify_password(current, user.password_hash).await?
        {
            return Err(Error::InvalidArgument(
                "the current password is wrong; nothing was changed".into(),
            ));
        }
        let hash = self.hash_password(new).await?;
        let ended = self
            .store
            .set_password(&caller.user_id, &hash, caller.session_id.as_deref())
            .await?;
        let mut revoked = 0;
        if revoke_api_tokens {
            for token in self.store.list_tokens(&caller.user_id).await? {
                match self.store.revoke_token(&caller.user_id, &token.id).await {
                    Ok(()) => revoked += 1,
                    // Revoked meanwhile by another request.
                    Err(crate::store::StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok((ended, revoked))
    }

    async fn hash_password(&self, password: &str) -> Result<String> {
        let hasher = &self.accounts.hasher;
        hasher
            .hash(password.to_string())
            .await
            .map_err(|e| hash_error(e, hasher.wait()))
    }

    async fn verify_password(&self, password: &str, hash: String) -> Result<bool> {
        let hasher = &self.accounts.hasher;
        hasher
            .verify(password.to_string(), hash)
            .await
            .map_err(|e| hash_error(e, hasher.wait()))
    }

    /// Checks a bearer token: a JWT of a live session, or an API token.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller> {
        let Some(token) = bearer.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Error::Unauthenticated(NOT_LOGGED_IN.into()));
        };
        let caller = if token.starts_with(API_TOKEN_PREFIX) {
            let user_id = self
                .store
                .use_token(&api_token_hash(token), OffsetDateTime::now_utc())
                .await?
                .map(|t| t.user_id)
                .ok_or_else(|| {
                    Error::Unauthenticated("the API token is not valid or was revoked".into())
                })?;
            Caller {
                user_id,
                session_id: None,
            }
        } else {
            let claims = self.jwt.verify(token).map_err(Error::Unauthenticated)?;
            let ended = || {
                Error::Unauthenticated(
                    "this session has ended (logged out, or the password changed); log in again"
                        .into(),
                )
            };
            // Tokens from before sessions existed name none: log in again.
            let sid = claims.sid.ok_or_else(ended)?;
            let session = self.store.session(&sid).await?.ok_or_else(ended)?;
            if session.user_id != claims.sub || session.expires_at <= OffsetDateTime::now_utc() {
                return Err(ended());
            }
            Caller {
                user_id: claims.sub,
                session_id: Some(sid),
            }
        };
        // A token of a deleted account is no longer good.
        if self.store.user_by_id(&caller.user_id).await?.is_none() {
            return Err(Error::Unauthenticated(
                "the account no longer exists".into(),
            ));
        }
        Ok(caller)
    }

    pub async fn me(&self, caller: &Caller) -> Result<User> {
        self.store
            .user_by_id(&caller.user_id)
            .await?
            .ok_or_else(|| Error::Unauthenticated("the account no longer exists".into()))
    }

    /// A new API token and its secret, which is never shown again.
    pub async fn create_token(&self, caller: &Caller, name: &str) -> Result<(ApiToken, String)> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::InvalidArgument(
                "a token needs a name of 1 to 100 characters, such as \"ci\"".into(),
            ));
        }
        let secret = new_api_token_secret();
        let token = ApiToken {
            id: ids::new_id(10),
            user_id: caller.user_id.clone(),
            name: name.to_string(),
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
        };
        self.store
            .create_token(&token, &api_token_hash(&secret))
            .await?;
        Ok((token, secret))
    }

    pub async fn list_tokens(&self, caller: &Caller) -> Result<Vec<ApiToken>> {
        Ok(self.store.list_tokens(&caller.user_id).await?)
    }

    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<()> {
        self.store
            .revoke_token(&caller.user_id, id)
            .await
            .map_err(|e| match Error::from(e) {
                Error::NotFound(_) => Error::NotFound(format!("no token with id {id:?}")),
                other => other,
            })
    }
}

/// An argon2id hash of a random password, verified against when the email is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0c2+XoTeVQpTUZ1AcBSrz9wz9ZNQcESWmrIh8OWOp6g";
