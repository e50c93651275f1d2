//! Where desired state lives. The service layer only sees the `Store` trait;
//! each backend hides its connections and its locking.

#[cfg(test)]
mod conformance;
mod mongo;
mod sqlite;

pub use mongo::{MongoStore, is_mongodb_uri};
pub use sqlite::SqliteStore;

use std::{ops::Range, path::Path, sync::Arc};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::model::{ApiToken, App, AppFile, DeployEvent, Revision, Stage, User, UserId};

/// A login: the access token of a `login` names it, and it is good only while
/// the store keeps it. Logout ends it; a password change ends the user's others.
/// Kept in the store, not in memory, so that every control-plane replica on
/// one store agrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A deploy event as the store keeps it, so that every replica can tell what
/// a deploy reported, whichever replica ran it. `seq` orders the events of a
/// revision and names each one (the writer makes it strictly increasing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: DeployEvent,
}

/// Who runs an app's deploy, and until when it promises a sign of life (it
/// renews the deadline while it works). Past the deadline the deploy counts as
/// abandoned, and the reconciler finishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployClaim {
    pub app_id: String,
    pub revision: u32,
    /// The replica that runs it.
    pub owner: String,
    pub deadline: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store that `--store` names: a `mongodb://` (or `mongodb+srv://`)
/// URI selects MongoDB; anything else is a SQLite file, relative to `data_dir`.
pub async fn open(store: &str, data_dir: &Path) -> StoreResult<Arc<dyn Store>> {
    if is_mongodb_uri(store) {
        let mongo = MongoStore::connect(store).await?;
        mongo.spawn_sweeper();
        Ok(Arc::new(mongo))
    } else {
        Ok(Arc::new(SqliteStore::open(&data_dir.join(store))?))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Fails with `AlreadyExists` when the email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// Replaces the user's password hash and ends every session of the user
    /// except `keep_session`; returns how many sessions ended. `NotFound`
    /// when there is no such user.
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> StoreResult<u64>;

    /// Records a new session (`AlreadyExists` for a taken id), and forgets the
    /// user's expired ones so that they do not pile up.
    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()>;
    /// The session with this id, unless it was ended (expired ones may still
    /// be returned: callers compare `expires_at`).
    async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// Ends the user's session of this id; false when there was none.
    async fn end_session(&self, user_id: &str, id: &str) -> StoreResult<bool>;

    /// Creates the app and its first revision in one step; `AlreadyExists`
    /// when the user already has an app of that name.
    async fn create_app(&self, app: &App, files: &[AppFile], sha256: &str)
    -> StoreResult<Revision>;
    /// Stores the next revision and makes it the desired one.
    async fn add_revision(
        &self,
        app_id: &str,
        files: &[AppFile],
        sha256: &str,
        author: &str,
    ) -> StoreResult<Revision>;
    /// Deletes the app's revisions numbered at or below its highest minus
    /// `keep`, except those in `protect` (the desired and the live one);
    /// returns how many went.
    async fn prune_revisions(&self, app_id: &str, keep: u32, protect: &[u32]) -> StoreResult<u64>;
    /// Makes an existing revision the desired one again.
    async fn set_desired_revision(&self, app_id: &str, number: u32) -> StoreResult<()>;
    /// The user's app with this id or, failing that, this name.
    async fn find_app(&self, user_id: &str, id_or_name: &str) -> StoreResult<Option<App>>;
    async fn app_by_id(&self, app_id: &str) -> StoreResult<Option<App>>;
    /// The user's apps, newest first.
    async fn list_apps(&self, user_id: &str) -> StoreResult<Vec<App>>;
    /// How many apps the user has (for the quota).
    async fn count_apps(&self, user_id: &str) -> StoreResult<u64>;
    /// Every app with a revision, for reconciling runtimes.
    async fn all_apps(&self) -> StoreResult<Vec<App>>;
    async fn revision(&self, app_id: &str, number: u32) -> StoreResult<Option<Revision>>;
    /// The app's stored revisions (pruned ones are gone), newest first.
    async fn revisions(&self, app_id: &str) -> StoreResult<Vec<Revision>>;
    /// Records how the latest deploy went; `live_revision` is set when a
    /// revision became READY.
    async fn set_status(
        &self,
        app_id: &str,
        stage: Stage,
        message: &str,
        live_revision: Option<u32>,
    ) -> StoreResult<()>;
    /// Marks the app asleep (stopped until a request wakes it) or awake.
    async fn set_sleeping(&self, app_id: &str, sleeping: bool) -> StoreResult<()>;
    async fn touch_activity(&self, app_id: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// Deletes the app with its revisions, events and deploy claim.
    async fn delete_app(&self, app_id: &str) -> StoreResult<()>;

    async fn create_token(&self, token: &ApiToken, secret_hash: &str) -> StoreResult<()>;
    /// The token with this hash, if not revoked; marks it used.
    async fn use_token(
        &self,
        secret_hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<Option<ApiToken>>;
    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>>;
    /// Fails with `NotFound` unless the user has a token of that id.
    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<()>;

    /// Appends an event to its revision's record; an event of an app that does
    /// not exist is dropped.
    async fn append_event(&self, event: &StoredEvent) -> StoreResult<()>;
    /// The events of one revision's deploys, by `seq`.
    async fn events(&self, app_id: &str, revision: u32) -> StoreResult<Vec<StoredEvent>>;
    /// Forgets the app's events of these revisions; returns how many went.
    async fn delete_events(&self, app_id: &str, revisions: Range<u32>) -> StoreResult<u64>;
    /// Records (or replaces) the claim on the app's deploy.
    async fn claim_deploy(&self, claim: &DeployClaim) -> StoreResult<()>;
    async fn deploy_claim(&self, app_id: &str) -> StoreResult<Option<DeployClaim>>;
}
