//! Accounts, sessions and API tokens.

use time::OffsetDateTime;

use super::{Caller, Platform};
use crate::{
    auth::{
        self, API_TOKEN_PREFIX, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, api_token_hash, hash_password,
        new_api_token_secret, verify_password,
    },
    error::{Error, Result},
    ids,
    model::{ApiToken, User},
};

/// A successful login.
pub struct Session {
    pub access_token: String,
    pub expires_at: OffsetDateTime,
    pub user: User,
}

const WRONG_LOGIN: &str = "wrong email or password";

impl Platform {
    pub async fn signup(&self, email: &str, password: &str) -> Result<User> {
        let email = auth::normalize_email(email).map_err(|m| Error::InvalidArgument(m.into()))?;
        if password.chars().count() < MIN_PASSWORD_LEN {
            return Err(Error::InvalidArgument(format!(
                "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::InvalidArgument("the password is too long".into()));
        }
        let password_hash = hash_blocking(password.to_string()).await?;
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

    pub async fn login(&self, email: &str, password: &str) -> Result<Session> {
        let Ok(email) = auth::normalize_email(email) else {
            return Err(Error::Unauthenticated(WRONG_LOGIN.into()));
        };
        let user = self.store.user_by_email(&email).await?;
        // Verify against a dummy hash for unknown emails so timing does not
        // tell which emails have accounts.
        let (hash, user) = match user {
            Some(u) => (u.password_hash.clone(), Some(u)),
            None => (DUMMY_HASH.to_string(), None),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => return Err(Error::Unauthenticated(WRONG_LOGIN.into())),
        };
        let (access_token, expires_at) = self.jwt.issue(&user.id).map_err(Error::Internal)?;
        Ok(Session {
            access_token,
            expires_at,
            user,
        })
    }

    /// Checks a bearer token: a JWT from login or an API token.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller> {
        let Some(token) = bearer.map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(Error::Unauthenticated(
                "not logged in: run `gofast login` or set GOFAST_TOKEN".into(),
            ));
        };
        let user_id = if token.starts_with(API_TOKEN_PREFIX) {
            self.store
                .use_token(&api_token_hash(token), OffsetDateTime::now_utc())
                .await?
                .map(|t| t.user_id)
                .ok_or_else(|| {
                    Error::Unauthenticated("the API token is not valid or was revoked".into())
                })?
        } else {
            self.jwt.verify(token).map_err(Error::Unauthenticated)?
        };
        // A token of a deleted account is no longer good.
        if self.store.user_by_id(&user_id).await?.is_none() {
            return Err(Error::Unauthenticated(
                "the account no longer exists".into(),
            ));
        }
        Ok(Caller { user_id })
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

async fn hash_blocking(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(Error::Internal)
}

/// An argon2id hash of a random password, verified against when the email is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0c2+XoTeVQpTUZ1AcBSrz9wz9ZNQcESWmrIh8OWOp6g";
