//! The cluster store: MongoDB, through the official async driver.
//!
//! No multi-document transactions (they need a replica set): every write is
//! one atomic operation on one document, and uniqueness comes from unique
//! indexes, so racing requests cannot make duplicates:
//!
//! - `create_app` inserts revision 1 first and the app second. Until the app
//!   exists nothing can see the revision; if the app cannot be inserted (its
//!   name is taken, or the connection broke) the revision is removed again,
//!   and what a broken connection leaves behind is swept later.
//! - `add_revision` inserts the revision numbered one past the highest stored
//!   one; the unique (app, number) index lets one of racing writers win each
//!   number and the others try the next, so numbers are consecutive and none
//!   is lost. It then moves the app's desired revision forward, never
//!   backward, so racing deploys end on the newest. (A counter on the app
//!   bumped with `findAndModify` + `$inc` would be atomic on MongoDB but is
//!   not on FerretDB v1, which updates by read-then-write.)
//! - `delete_app` deletes the app first and its revisions second: an
//!   interruption leaves revisions that nothing can reach, and
//!   [`MongoStore::sweep_orphans`] (run in the background on start) removes
//!   them.
//!
//! Each document carries `schema_version`, the version of its shape, so that
//! a later gofast can migrate old documents as it reads them.
//!
//! Errors: a duplicate key (E11000) is `AlreadyExists`; a server that cannot
//! be selected within a short timeout, or a connection that breaks, is
//! `Unavailable`, so requests fail fast while MongoDB is down and succeed
//! again once it is back, without a restart.

use std::{ops::Range, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::{
    Client, Collection, Database, IndexModel,
    bson::{self, Bson, DateTime, doc},
    error::{Error as MongoError, ErrorKind, WriteFailure},
    options::{ClientOptions, IndexOptions, ReturnDocument},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::{debug, info, warn};

use super::{DeployClaim, SessionRecord, Store, StoreError, StoreResult, StoredEvent};
use crate::model::{ApiToken, App, AppFile, DeployEvent, Revision, Stage, User};

/// The shape of the documents this version writes.
pub const SCHEMA_VERSION: i32 = 1;

/// How long an operation waits for a reachable server before it fails with
/// `Unavailable` (unless the URI sets `serverSelectionTimeoutMS`).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a connection may take (unless the URI sets `connectTimeoutMS`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The database used when the URI names none.
const DEFAULT_DATABASE: &str = "gofast";
/// Revisions without an app are swept only when older than this, so that a
/// `create_app` in progress (revision stored, app not yet) is never touched.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// How often `add_revision` tries again when racing writers took its number.
const MAX_NUMBER_ATTEMPTS: u32 = 100;

const USERS: &str = "users";
const APPS: &str = "apps";
const REVISIONS: &str = "revisions";
const TOKENS: &str = "api_tokens";
const SESSIONS: &str = "sessions";
const EVENTS: &str = "deploy_events";
const CLAIMS: &str = "deploy_claims";

/// Whether `store` (the `--store` setting) names a MongoDB deployment.
pub fn is_mongodb_uri(store: &str) -> bool {
    store.starts_with("mongodb://") || store.starts_with("mongodb+srv://")
}

#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    apps: Collection<AppDoc>,
    revisions: Collection<RevisionDoc>,
    tokens: Collection<TokenDoc>,
    sessions: Collection<SessionDoc>,
    events: Collection<EventDoc>,
    claims: Collection<ClaimDoc>,
    /// Where it connects, for messages ("127.0.0.1:27017").
    target: Arc<str>,
    selection_timeout: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    email: String,
    password_hash: String,
    created_at: DateTime,
    #[serde(default)]
    schema_version: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct AppDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    name: String,
    /// The desired revision.
    revision: i64,
    live_revision: i64,
    status: String,
    status_message: String,
    created_at: DateTime,
    updated_at: DateTime,
    last_activity_at: DateTime,
    /// Absent in documents written before apps could sleep.
    #[serde(default)]
    sleeping: bool,
    #[serde(default)]
    schema_version: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct RevisionDoc {
    app_id: String,
    number: i64,
    files: Vec<AppFile>,
    sha256: String,
    #[serde(default)]
    author: String,
    created_at: DateTime,
    #[serde(default)]
    schema_version: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct TokenDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    name: String,
    secret_hash: String,
    created_at: DateTime,
    #[serde(default)]
    last_used_at: Option<DateTime>,
    #[serde(default)]
    schema_version: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    created_at: DateTime,
    expires_at: DateTime,
    #[serde(default)]
    schema_version: i32,
}

#[derive(Debug, Serialize, Deserialize)]
struct EventDoc {
    /// `{app_id}:{revision}:{seq}`, so that writing an event twice keeps one.
    #[serde(rename = "_id")]
    id: String,
    app_id: String,
    revision: i64,
    seq: i64,
    stage: String,
    message: String,
    time: DateTime,
    output_tail: String,
    url: String,
    #[serde(default)]
    schema_version: i32,
}

impl From<EventDoc> for StoredEvent {
    fn from(d: EventDoc) -> Self {
        StoredEvent {
            seq: d.seq,
            event: DeployEvent {
                app_id: d.app_id,
                revision: number(d.revision),
                stage: Stage::parse(&d.stage).unwrap_or(Stage::Failed),
                message: d.message,
                time: from_dt(d.time),
                output_tail: d.output_tail,
                url: d.url,
            },
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ClaimDoc {
    /// The app's id: one claim per app.
    #[serde(rename = "_id")]
    app_id: String,
    revision: i64,
    owner: String,
    deadline: DateTime,
    #[serde(default)]
    schema_version: i32,
}

impl From<SessionDoc> for SessionRecord {
    fn from(d: SessionDoc) -> Self {
        SessionRecord {
            id: d.id,
            user_id: d.user_id,
            created_at: from_dt(d.created_at),
            expires_at: from_dt(d.expires_at),
        }
    }
}

fn dt(t: OffsetDateTime) -> DateTime {
    DateTime::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn from_dt(d: DateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(d.timestamp_millis() as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn number(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

impl From<UserDoc> for User {
    fn from(d: UserDoc) -> Self {
        User {
            id: d.id,
            email: d.email,
            password_hash: d.password_hash,
            created_at: from_dt(d.created_at),
        }
    }
}

impl From<AppDoc> for App {
    fn from(d: AppDoc) -> Self {
        App {
            id: d.id,
            user_id: d.user_id,
            name: d.name,
            revision: number(d.revision),
            live_revision: number(d.live_revision),
            status: Stage::parse(&d.status).unwrap_or(Stage::Failed),
            status_message: d.status_message,
            created_at: from_dt(d.created_at),
            updated_at: from_dt(d.updated_at),
            last_activity_at: from_dt(d.last_activity_at),
            sleeping: d.sleeping,
        }
    }
}

impl From<RevisionDoc> for Revision {
    fn from(d: RevisionDoc) -> Self {
        Revision {
            app_id: d.app_id,
            number: number(d.number),
            files: d.files,
            sha256: d.sha256,
            author: d.author,
            created_at: from_dt(d.created_at),
        }
    }
}

impl From<TokenDoc> for ApiToken {
    fn from(d: TokenDoc) -> Self {
        ApiToken {
            id: d.id,
            user_id: d.user_id,
            name: d.name,
            created_at: from_dt(d.created_at),
            last_used_at: d.last_used_at.map(from_dt),
        }
    }
}

impl MongoStore {
    /// Connects to the deployment at `uri` (its path names the database,
    /// `gofast` by default) and makes the collections and indexes. Fails with
    /// `Unavailable` when no server answers.
    pub async fn connect(uri: &str) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Internal(format!("invalid MongoDB URI: {}", e.kind)))?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options
            .app_name
            .get_or_insert_with(|| "gofast-controlplane".to_string());
        let target: Arc<str> = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
            .into();
        let selection_timeout = options
            .server_selection_timeout
            .unwrap_or(SERVER_SELECTION_TIMEOUT);
        let db_name = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let client = Client::with_options(options)
            .map_err(|e| StoreError::Internal(format!("MongoDB client: {}", e.kind)))?;
        let db = client.database(&db_name);
        let store = Self {
            users: db.collection(USERS),
            apps: db.collection(APPS),
            revisions: db.collection(REVISIONS),
            tokens: db.collection(TOKENS),
            sessions: db.collection(SESSIONS),
            events: db.collection(EVENTS),
            claims: db.collection(CLAIMS),
            db,
            target,
            selection_timeout,
        };
        store.create_indexes().await?;
        info!(target = %store.target, database = %db_name, "MongoDB store ready");
        Ok(store)
    }

    /// The database this store keeps its collections in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn create_indexes(&self) -> StoreResult<()> {
        let indexes: [(&str, bson::Document, &str, bool); 8] = [
            (USERS, doc! { "email": 1 }, "email_unique", true),
            (
                APPS,
                doc! { "user_id": 1, "name": 1 },
                "user_name_unique",
                true,
            ),
            (
                APPS,
                doc! { "user_id": 1, "created_at": -1 },
                "user_newest",
                false,
            ),
            (
                REVISIONS,
                doc! { "app_id": 1, "number": 1 },
                "app_number_unique",
                true,
            ),
            (
                TOKENS,
                doc! { "secret_hash": 1 },
                "secret_hash_unique",
                true,
            ),
            (
                TOKENS,
                doc! { "user_id": 1, "created_at": 1 },
                "user_created",
                false,
            ),
            (SESSIONS, doc! { "user_id": 1 }, "user", false),
            (
                EVENTS,
                doc! { "app_id": 1, "revision": 1, "seq": 1 },
                "app_revision_seq",
                false,
            ),
        ];
        // One index per command: FerretDB v1 fails a createIndexes that
        // carries several compound indexes.
        for (collection, keys, name, unique) in indexes {
            let mut options = IndexOptions::builder().name(name.to_string()).build();
            if unique {
                options.unique = Some(true);
            }
            self.db
                .collection::<bson::Document>(collection)
                .create_index(IndexModel::builder().keys(keys).options(options).build())
                .await
                .map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Starts [`Self::sweep_orphans`] in the background (it reads every
    /// revision's app id once, so it never delays the start).
    pub fn spawn_sweeper(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            match this.sweep_orphans(ORPHAN_AGE).await {
                Ok(0) => {}
                Ok(n) => info!(revisions = n, "removed revisions of deleted apps"),
                Err(e) => warn!(error = %e, "could not sweep revisions of deleted apps"),
            }
        });
    }

    /// Deletes revisions older than `older_than` whose app no longer exists
    /// (left by an interrupted `delete_app` or `create_app`); returns how many.
    pub async fn sweep_orphans(&self, older_than: Duration) -> StoreResult<u64> {
        let cutoff = DateTime::from_millis(
            DateTime::now().timestamp_millis() - older_than.as_millis() as i64,
        );
        let mut cursor = self
            .revisions
            .clone_with_type::<bson::Document>()
            .find(doc! { "created_at": { "$lt": cutoff } })
            .projection(doc! { "_id": 0, "app_id": 1 })
            .sort(doc! { "app_id": 1 })
            .await
            .map_err(|e| self.error(e))?;
        let mut removed = 0;
        let mut batch: Vec<String> = Vec::new();
        loop {
            let next = cursor.try_next().await.map_err(|e| self.error(e))?;
            let done = next.is_none();
            if let Some(id) = next.as_ref().and_then(|d| d.get_str("app_id").ok())
                && batch.last().map(String::as_str) != Some(id)
            {
                batch.push(id.to_string());
            }
            if batch.len() >= 100 || (done && !batch.is_empty()) {
                removed += self
                    .remove_orphans(std::mem::take(&mut batch), cutoff)
                    .await?;
            }
            if done {
                return Ok(removed);
            }
        }
    }

    async fn remove_orphans(&self, app_ids: Vec<String>, cutoff: DateTime) -> StoreResult<u64> {
        let live: Vec<String> = self
            .apps
            .clone_with_type::<bson::Document>()
            .find(doc! { "_id": { "$in": &app_ids } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| self.error(e))?
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect();
        let orphans: Vec<String> = app_ids
            .into_iter()
            .filter(|id| !live.contains(id))
            .collect();
        if orphans.is_empty() {
            return Ok(0);
        }
        let deleted = self
            .revisions
            .delete_many(doc! { "app_id": { "$in": orphans }, "created_at": { "$lt": cutoff } })
            .await
            .map_err(|e| self.error(e))?;
        Ok(deleted.deleted_count)
    }

    async fn app_exists(&self, app_id: &str) -> StoreResult<bool> {
        Ok(self
            .apps
            .clone_with_type::<bson::Document>()
            .find_one(doc! { "_id": app_id })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .is_some())
    }

    /// The highest revision number stored for the app (0 for none).
    async fn highest_revision(&self, app_id: &str) -> StoreResult<i64> {
        let top = self
            .revisions
            .clone_with_type::<bson::Document>()
            .find_one(doc! { "app_id": app_id })
            .sort(doc! { "number": -1 })
            .projection(doc! { "_id": 0, "number": 1 })
            .await
            .map_err(|e| self.error(e))?;
        Ok(top
            .and_then(|d| match d.get("number") {
                Some(Bson::Int64(n)) => Some(*n),
                Some(Bson::Int32(n)) => Some(i64::from(*n)),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Moves the app's desired revision forward to its highest stored one,
    /// never backward, so that of racing deploys the newest stays desired.
    ///
    /// On MongoDB the conditional update alone is enough. FerretDB v1 applies
    /// an update as read-then-write of the whole document, so a racing writer
    /// can put an older number back; reading it again and repeating until the
    /// app is at (or past) the highest revision makes both end the same way:
    /// whoever writes last checks afterwards.
    async fn point_at_newest(&self, app_id: &str, now: DateTime) -> StoreResult<()> {
        for _ in 0..MAX_NUMBER_ATTEMPTS {
            let newest = self.highest_revision(app_id).await?;
            self.apps
                .update_one(
                    doc! { "_id": app_id, "revision": { "$lt": newest } },
                    doc! { "$set": { "revision": newest, "updated_at": now } },
                )
                .await
                .map_err(|e| self.error(e))?;
            let current = self
                .apps
                .clone_with_type::<bson::Document>()
                .find_one(doc! { "_id": app_id })
                .projection(doc! { "_id": 0, "revision": 1 })
                .await
                .map_err(|e| self.error(e))?;
            let at = match current.as_ref().and_then(|d| d.get("revision")) {
                Some(Bson::Int64(n)) => *n,
                Some(Bson::Int32(n)) => i64::from(*n),
                // Deleted meanwhile: nothing to point.
                _ => return Ok(()),
            };
            if at >= newest {
                return Ok(());
            }
        }
        Err(StoreError::Internal(
            "could not make the newest revision the desired one".into(),
        ))
    }

    /// Maps a driver error: duplicate keys and unreachable servers get their
    /// own kinds; the rest is internal.
    fn error(&self, e: MongoError) -> StoreError {
        self.error_as(e, "document")
    }

    fn error_as(&self, e: MongoError, what: &str) -> StoreError {
        if is_duplicate_key(&e) {
            return StoreError::AlreadyExists(what.to_string());
        }
        match unavailable_reason(&e) {
            Some(Reason::NoServer) => {
                debug!(error = %e, "MongoDB server selection failed");
                StoreError::Unavailable(format!(
                    "cannot reach MongoDB at {} (no answer within {}s); check that it is running and reachable",
                    self.target,
                    self.selection_timeout.as_secs_f32()
                ))
            }
            Some(Reason::Connection(why)) => {
                debug!(error = %e, "MongoDB connection failed");
                StoreError::Unavailable(format!(
                    "lost the connection to MongoDB at {} ({why}); check that it is running and reachable",
                    self.target
                ))
            }
            None => StoreError::Internal(format!("MongoDB: {}", e.kind)),
        }
    }
}

enum Reason {
    NoServer,
    Connection(String),
}

/// Walks the error and its sources (the driver wraps some errors).
fn kinds(e: &MongoError) -> impl Iterator<Item = &ErrorKind> {
    let mut next: Option<&MongoError> = Some(e);
    std::iter::from_fn(move || {
        let current = next?;
        next = std::error::Error::source(current).and_then(|s| s.downcast_ref::<MongoError>());
        Some(current.kind.as_ref())
    })
}

const DUPLICATE_KEY: i32 = 11000;

fn is_duplicate_key(e: &MongoError) -> bool {
    kinds(e).any(|k| match k {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| w.code == DUPLICATE_KEY)),
        _ => false,
    })
}

fn unavailable_reason(e: &MongoError) -> Option<Reason> {
    kinds(e).find_map(|k| match k {
        ErrorKind::ServerSelection { .. } => Some(Reason::NoServer),
        ErrorKind::Io(io) => Some(Reason::Connection(io.to_string())),
        ErrorKind::ConnectionPoolCleared { .. } => {
            Some(Reason::Connection("the connection was reset".into()))
        }
        ErrorKind::DnsResolve { message, .. } => Some(Reason::Connection(message.clone())),
        ErrorKind::Shutdown => Some(Reason::Connection("the client was shut down".into())),
        // Codes the server sends while it cannot serve: shutting down,
        // stepping down, not primary, host unreachable.
        ErrorKind::Command(c)
            if matches!(
                c.code,
                6 | 7 | 89 | 91 | 189 | 10107 | 11600 | 11602 | 13435 | 13436
            ) =>
        {
            Some(Reason::Connection(c.message.clone()))
        }
        _ => None,
    })
}

#[async_trait]
impl Store for MongoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let d = UserDoc {
            id: user.id.clone(),
            email: user.email.clone(),
            password_hash: user.password_hash.clone(),
            created_at: dt(user.created_at),
            schema_version: SCHEMA_VERSION,
        };
        self.users
            .insert_one(d)
            .await
            .map_err(|e| self.error_as(e, "an account with this email"))?;
        Ok(())
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "email": email })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(User::from))
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(User::from))
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> StoreResult<u64> {
        // The password first, then the sessions: a login that slips in
        // between needs the new password, and a session made before it is
        // ended by the second step. Should that step fail, the call fails and
        // can be repeated.
        let updated = self
            .users
            .update_one(
                doc! { "_id": user_id },
                doc! { "$set": { "password_hash": password_hash } },
            )
            .await
            .map_err(|e| self.error(e))?;
        if updated.matched_count == 0 {
            return Err(StoreError::NotFound("user".into()));
        }
        let keep = keep_session.unwrap_or_default();
        let ended = self
            .sessions
            .delete_many(doc! { "user_id": user_id, "_id": { "$ne": keep } })
            .await
            .map_err(|e| self.error(e))?;
        Ok(ended.deleted_count)
    }

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        self.sessions
            .delete_many(
                doc! { "user_id": &session.user_id, "expires_at": { "$lte": DateTime::now() } },
            )
            .await
            .map_err(|e| self.error(e))?;
        let d = SessionDoc {
            id: session.id.clone(),
            user_id: session.user_id.clone(),
            created_at: dt(session.created_at),
            expires_at: dt(session.expires_at),
            schema_version: SCHEMA_VERSION,
        };
        self.sessions
            .insert_one(d)
            .await
            .map_err(|e| self.error_as(e, "session"))?;
        Ok(())
    }

    async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let found = self
            .sessions
            .find_one(doc! { "_id": id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(SessionRecord::from))
    }

    async fn end_session(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let deleted = self
            .sessions
            .delete_one(doc! { "_id": id, "user_id": user_id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(deleted.deleted_count > 0)
    }

    async fn create_app(
        &self,
        app: &App,
        files: &[AppFile],
        sha256: &str,
    ) -> StoreResult<Revision> {
        let rev = RevisionDoc {
            app_id: app.id.clone(),
            number: 1,
            files: files.to_vec(),
            sha256: sha256.to_string(),
            author: app.user_id.clone(),
            created_at: dt(app.created_at),
            schema_version: SCHEMA_VERSION,
        };
        // The revision first: invisible until the app exists.
        self.revisions
            .insert_one(&rev)
            .await
            .map_err(|e| self.error_as(e, "revision"))?;
        let d = AppDoc {
            id: app.id.clone(),
            user_id: app.user_id.clone(),
            name: app.name.clone(),
            revision: 1,
            live_revision: 0,
            status: app.status.as_str().to_string(),
            status_message: app.status_message.clone(),
            created_at: dt(app.created_at),
            updated_at: dt(app.updated_at),
            last_activity_at: dt(app.last_activity_at),
            sleeping: false,
            schema_version: SCHEMA_VERSION,
        };
        if let Err(e) = self.apps.insert_one(d).await {
            // Best effort: what stays behind (the connection broke) is swept.
            let _ = self
                .revisions
                .delete_one(doc! { "app_id": &app.id, "number": 1_i64 })
                .await;
            return Err(self.error_as(e, "an app with this name"));
        }
        Ok(rev.into())
    }

    async fn add_revision(
        &self,
        app_id: &str,
        files: &[AppFile],
        sha256: &str,
        author: &str,
    ) -> StoreResult<Revision> {
        if !self.app_exists(app_id).await? {
            return Err(StoreError::NotFound("app".into()));
        }
        // The unique (app, number) index hands out the numbers: take the
        // highest stored one plus one, and try again when another writer got
        // that number first. Numbers stay consecutive, and none is lost.
        let mut attempt = 0;
        let rev = loop {
            let rev = RevisionDoc {
                app_id: app_id.to_string(),
                number: self.highest_revision(app_id).await? + 1,
                files: files.to_vec(),
                sha256: sha256.to_string(),
                author: author.to_string(),
                created_at: DateTime::now(),
                schema_version: SCHEMA_VERSION,
            };
            match self.revisions.insert_one(&rev).await {
                Ok(_) => break rev,
                Err(e) if is_duplicate_key(&e) && attempt < MAX_NUMBER_ATTEMPTS => {
                    attempt += 1;
                    let jitter = rand::random::<u64>() % (1 + attempt.min(10) as u64 * 2);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Err(e) => return Err(self.error_as(e, "revision")),
            }
        };
        self.point_at_newest(app_id, rev.created_at).await?;
        Ok(rev.into())
    }

    async fn prune_revisions(&self, app_id: &str, keep: u32, protect: &[u32]) -> StoreResult<u64> {
        let cutoff = self.highest_revision(app_id).await? - i64::from(keep);
        if cutoff < 1 {
            return Ok(0);
        }
        let protect: Vec<i64> = protect.iter().map(|&n| i64::from(n)).collect();
        let deleted = self
            .revisions
            .delete_many(doc! {
                "app_id": app_id,
                "number": { "$lte": cutoff, "$nin": protect },
            })
            .await
            .map_err(|e| self.error(e))?;
        Ok(deleted.deleted_count)
    }

    async fn set_desired_revision(&self, app_id: &str, number: u32) -> StoreResult<()> {
        let n = i64::from(number);
        // Revisions are immutable and leave only with their app, so checking
        // first and then pointing at it is safe without a transaction.
        let exists = self
            .revisions
            .clone_with_type::<bson::Document>()
            .find_one(doc! { "app_id": app_id, "number": n })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("revision".into()));
        }
        let updated = self
            .apps
            .update_one(
                doc! { "_id": app_id },
                doc! { "$set": { "revision": n, "updated_at": DateTime::now() } },
            )
            .await
            .map_err(|e| self.error(e))?;
        if updated.matched_count == 0 {
            return Err(StoreError::NotFound("revision".into()));
        }
        Ok(())
    }

    async fn find_app(&self, user_id: &str, id_or_name: &str) -> StoreResult<Option<App>> {
        // An id match wins over a name match.
        for key in ["_id", "name"] {
            let found = self
                .apps
                .find_one(doc! { "user_id": user_id, key: id_or_name })
                .await
                .map_err(|e| self.error(e))?;
            if let Some(d) = found {
                return Ok(Some(d.into()));
            }
        }
        Ok(None)
    }

    async fn app_by_id(&self, app_id: &str) -> StoreResult<Option<App>> {
        let found = self
            .apps
            .find_one(doc! { "_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(App::from))
    }

    async fn list_apps(&self, user_id: &str) -> StoreResult<Vec<App>> {
        let docs: Vec<AppDoc> = self
            .apps
            .find(doc! { "user_id": user_id })
            .sort(doc! { "created_at": -1, "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        Ok(docs.into_iter().map(App::from).collect())
    }

    async fn count_apps(&self, user_id: &str) -> StoreResult<u64> {
        self.apps
            .count_documents(doc! { "user_id": user_id })
            .await
            .map_err(|e| self.error(e))
    }

    async fn all_apps(&self) -> StoreResult<Vec<App>> {
        let docs: Vec<AppDoc> = self
            .apps
            .find(doc! { "revision": { "$gt": 0_i64 } })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        Ok(docs.into_iter().map(App::from).collect())
    }

    async fn revision(&self, app_id: &str, number: u32) -> StoreResult<Option<Revision>> {
        let found = self
            .revisions
            .find_one(doc! { "app_id": app_id, "number": i64::from(number) })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(Revision::from))
    }

    async fn revisions(&self, app_id: &str) -> StoreResult<Vec<Revision>> {
        let docs: Vec<RevisionDoc> = self
            .revisions
            .find(doc! { "app_id": app_id })
            .sort(doc! { "number": -1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        Ok(docs.into_iter().map(Revision::from).collect())
    }

    async fn set_status(
        &self,
        app_id: &str,
        stage: Stage,
        message: &str,
        live_revision: Option<u32>,
    ) -> StoreResult<()> {
        let mut set = doc! { "status": stage.as_str(), "status_message": message };
        if let Some(live) = live_revision {
            set.insert("live_revision", Bson::Int64(live.into()));
        }
        self.apps
            .update_one(doc! { "_id": app_id }, doc! { "$set": set })
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn set_sleeping(&self, app_id: &str, sleeping: bool) -> StoreResult<()> {
        self.apps
            .update_one(
                doc! { "_id": app_id },
                doc! { "$set": { "sleeping": sleeping } },
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn touch_activity(&self, app_id: &str, at: OffsetDateTime) -> StoreResult<()> {
        let at = dt(at);
        self.apps
            .update_one(
                doc! { "_id": app_id, "last_activity_at": { "$lt": at } },
                doc! { "$set": { "last_activity_at": at } },
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn delete_app(&self, app_id: &str) -> StoreResult<()> {
        // The app first: once it is gone its revisions are unreachable, and
        // if the second step is interrupted the sweeper finishes it.
        let deleted = self
            .apps
            .delete_one(doc! { "_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        if deleted.deleted_count == 0 {
            return Err(StoreError::NotFound("app".into()));
        }
        self.revisions
            .delete_many(doc! { "app_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        self.events
            .delete_many(doc! { "app_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        self.claims
            .delete_one(doc! { "_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn create_token(&self, token: &ApiToken, secret_hash: &str) -> StoreResult<()> {
        let d = TokenDoc {
            id: token.id.clone(),
            user_id: token.user_id.clone(),
            name: token.name.clone(),
            secret_hash: secret_hash.to_string(),
            created_at: dt(token.created_at),
            last_used_at: None,
            schema_version: SCHEMA_VERSION,
        };
        self.tokens
            .insert_one(d)
            .await
            .map_err(|e| self.error_as(e, "token"))?;
        Ok(())
    }

    async fn use_token(
        &self,
        secret_hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<Option<ApiToken>> {
        let found = self
            .tokens
            .find_one_and_update(
                doc! { "secret_hash": secret_hash },
                doc! { "$set": { "last_used_at": dt(at) } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(ApiToken::from))
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
        let docs: Vec<TokenDoc> = self
            .tokens
            .find(doc! { "user_id": user_id })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        Ok(docs.into_iter().map(ApiToken::from).collect())
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<()> {
        let deleted = self
            .tokens
            .delete_one(doc! { "_id": token_id, "user_id": user_id })
            .await
            .map_err(|e| self.error(e))?;
        if deleted.deleted_count == 0 {
            return Err(StoreError::NotFound("token".into()));
        }
        Ok(())
    }

    async fn append_event(&self, e: &StoredEvent) -> StoreResult<()> {
        let ev = &e.event;
        if !self.app_exists(&ev.app_id).await? {
            return Ok(());
        }
        let d = EventDoc {
            id: format!("{}:{}:{}", ev.app_id, ev.revision, e.seq),
            app_id: ev.app_id.clone(),
            revision: ev.revision.into(),
            seq: e.seq,
            stage: ev.stage.as_str().to_string(),
            message: ev.message.clone(),
            time: dt(ev.time),
            output_tail: ev.output_tail.clone(),
            url: ev.url.clone(),
            schema_version: SCHEMA_VERSION,
        };
        self.events
            .replace_one(doc! { "_id": &d.id }, &d)
            .upsert(true)
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn events(&self, app_id: &str, revision: u32) -> StoreResult<Vec<StoredEvent>> {
        let docs: Vec<EventDoc> = self
            .events
            .find(doc! { "app_id": app_id, "revision": i64::from(revision) })
            .sort(doc! { "seq": 1 })
            .await
            .map_err(|e| self.error(e))?
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        Ok(docs.into_iter().map(StoredEvent::from).collect())
    }

    async fn delete_events(&self, app_id: &str, revisions: Range<u32>) -> StoreResult<u64> {
        let deleted = self
            .events
            .delete_many(doc! {
                "app_id": app_id,
                "revision": {
                    "$gte": i64::from(revisions.start),
                    "$lt": i64::from(revisions.end),
                },
            })
            .await
            .map_err(|e| self.error(e))?;
        Ok(deleted.deleted_count)
    }

    async fn claim_deploy(&self, claim: &DeployClaim) -> StoreResult<()> {
        if !self.app_exists(&claim.app_id).await? {
            return Ok(());
        }
        let d = ClaimDoc {
            app_id: claim.app_id.clone(),
            revision: claim.revision.into(),
            owner: claim.owner.clone(),
            deadline: dt(claim.deadline),
            schema_version: SCHEMA_VERSION,
        };
        // Never over a newer revision's claim: a replica still renewing an
        // older deploy must not hand the newer one to the reconciler.
        let replaced = self
            .claims
            .replace_one(
                doc! { "_id": &d.app_id, "revision": { "$lte": d.revision } },
                &d,
            )
            .await
            .map_err(|e| self.error(e))?;
        if replaced.matched_count == 0 {
            match self.claims.insert_one(&d).await {
                Ok(_) => {}
                // A newer revision's claim holds the app.
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(())
    }

    async fn deploy_claim(&self, app_id: &str) -> StoreResult<Option<DeployClaim>> {
        let found = self
            .claims
            .find_one(doc! { "_id": app_id })
            .await
            .map_err(|e| self.error(e))?;
        Ok(found.map(|d| DeployClaim {
            app_id: d.app_id,
            revision: number(d.revision),
            owner: d.owner,
            deadline: from_dt(d.deadline),
        }))
    }
}
