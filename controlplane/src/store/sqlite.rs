//! The embedded store: one SQLite file. rusqlite is synchronous, so every call
//! runs on the blocking pool behind one connection; SQLite serialises writes
//! anyway, and the unique indexes make races between requests harmless.

use std::{ops::Range, path::Path, sync::Arc};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use rusqlite_migration::{M, Migrations};
use std::sync::Mutex;
use time::OffsetDateTime;

use super::{DeployClaim, SessionRecord, Store, StoreError, StoreResult, StoredEvent};
use crate::model::{ApiToken, App, AppFile, DeployEvent, Revision, Stage, User};

/// Each entry upgrades the schema by one version, recorded in `PRAGMA
/// user_version` (as before this list was handed to rusqlite_migration, so
/// existing databases open as they are). Append; never edit a shipped entry.
const MIGRATIONS: &[M<'static>] = &[
    M::up(
        r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    live_revision INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    UNIQUE (user_id, name)
);
CREATE TABLE revisions (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    files TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (app_id, number)
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
"#,
    ),
    M::up(
        r#"
ALTER TABLE revisions ADD COLUMN author TEXT NOT NULL DEFAULT '';
"#,
    ),
    M::up(
        r#"
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
"#,
    ),
    M::up(
        r#"
CREATE TABLE deploy_events (
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    stage TEXT NOT NULL,
    message TEXT NOT NULL,
    time INTEGER NOT NULL,
    output_tail TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (app_id, revision, seq)
);
CREATE TABLE deploy_claims (
    app_id TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    owner TEXT NOT NULL,
    deadline INTEGER NOT NULL
);
"#,
    ),
    M::up("ALTER TABLE apps ADD COLUMN sleeping INTEGER NOT NULL DEFAULT 0;"),
];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(internal)?;
        Self::init(conn)
    }

    /// A private in-memory database, for unit tests.
    pub fn in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory().map_err(internal)?)
    }

    fn init(mut conn: Connection) -> StoreResult<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(internal)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(internal)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Internal("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    Migrations::from_slice(MIGRATIONS)
        .to_latest(conn)
        .map_err(|e| StoreError::Internal(format!("cannot upgrade the database schema: {e}")))
}

fn internal(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Maps a unique-constraint failure to `AlreadyExists(what)`.
fn unique(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::AlreadyExists(what.into()),
        _ => internal(e),
    }
}

fn millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

const APP_COLUMNS: &str = "id, user_id, name, revision, live_revision, status, status_message, created_at, updated_at, last_activity_at, sleeping";

fn app_from_row(r: &Row<'_>) -> rusqlite::Result<App> {
    let status: String = r.get(5)?;
    Ok(App {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        revision: r.get(3)?,
        live_revision: r.get(4)?,
        status: Stage::parse(&status).unwrap_or(Stage::Failed),
        status_message: r.get(6)?,
        created_at: from_millis(r.get(7)?),
        updated_at: from_millis(r.get(8)?),
        last_activity_at: from_millis(r.get(9)?),
        sleeping: r.get(10)?,
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: from_millis(r.get(3)?),
    })
}

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        created_at: from_millis(r.get(3)?),
        last_used_at: r.get::<_, Option<i64>>(4)?.map(from_millis),
    })
}

fn session_from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        created_at: from_millis(r.get(2)?),
        expires_at: from_millis(r.get(3)?),
    })
}

fn insert_revision(conn: &Connection, rev: &Revision) -> StoreResult<()> {
    let json =
        serde_json::to_string(&rev.files).map_err(|e| StoreError::Internal(e.to_string()))?;
    conn.execute(
        "INSERT INTO revisions (app_id, number, files, sha256, author, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            rev.app_id,
            rev.number,
            json,
            rev.sha256,
            rev.author,
            millis(rev.created_at)
        ],
    )
    .map_err(unique("revision"))?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let u = user.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![u.id, u.email, u.password_hash, millis(u.created_at)],
            )
            .map_err(unique("an account with this email"))?;
            Ok(())
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT id, email, password_hash, created_at FROM users WHERE email = ?1",
                [email],
                user_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT id, email, password_hash, created_at FROM users WHERE id = ?1",
                [id],
                user_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> StoreResult<u64> {
        let (user_id, hash) = (user_id.to_string(), password_hash.to_string());
        let keep = keep_session.unwrap_or_default().to_string();
        self.with(move |c| {
            // One transaction: no moment where the new password is set and
            // the old sessions still work, or the other way round.
            let tx = c.transaction().map_err(internal)?;
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                    params![user_id, hash],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(StoreError::NotFound("user".into()));
            }
            let ended = tx
                .execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND id != ?2",
                    params![user_id, keep],
                )
                .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(ended as u64)
        })
        .await
    }

    async fn create_session(&self, session: &SessionRecord) -> StoreResult<()> {
        let s = session.clone();
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![s.user_id, millis(OffsetDateTime::now_utc())],
            )
            .map_err(internal)?;
            tx.execute(
                "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![s.id, s.user_id, millis(s.created_at), millis(s.expires_at)],
            )
            .map_err(unique("session"))?;
            tx.commit().map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let id = id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT id, user_id, created_at, expires_at FROM sessions WHERE id = ?1",
                [id],
                session_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn end_session(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let (user_id, id) = (user_id.to_string(), id.to_string());
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
                    [id, user_id],
                )
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_app(
        &self,
        app: &App,
        files: &[AppFile],
        sha256: &str,
    ) -> StoreResult<Revision> {
        let (app, files, sha) = (app.clone(), files.to_vec(), sha256.to_string());
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            tx.execute(
                &format!(
                    "INSERT INTO apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, 1, 0, ?4, ?5, ?6, ?7, ?8, 0)"
                ),
                params![
                    app.id,
                    app.user_id,
                    app.name,
                    app.status.as_str(),
                    app.status_message,
                    millis(app.created_at),
                    millis(app.updated_at),
                    millis(app.last_activity_at)
                ],
            )
            .map_err(unique("an app with this name"))?;
            let rev = Revision {
                app_id: app.id.clone(),
                number: 1,
                files,
                sha256: sha,
                author: app.user_id.clone(),
                created_at: app.created_at,
            };
            insert_revision(&tx, &rev)?;
            tx.commit().map_err(internal)?;
            Ok(rev)
        })
        .await
    }

    async fn add_revision(
        &self,
        app_id: &str,
        files: &[AppFile],
        sha256: &str,
        author: &str,
    ) -> StoreResult<Revision> {
        let (app_id, files, sha) = (app_id.to_string(), files.to_vec(), sha256.to_string());
        let author = author.to_string();
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            let exists: i64 = tx
                .query_row("SELECT COUNT(*) FROM apps WHERE id = ?1", [&app_id], |r| {
                    r.get(0)
                })
                .map_err(internal)?;
            if exists == 0 {
                return Err(StoreError::NotFound("app".into()));
            }
            let next: u32 = tx
                .query_row(
                    "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE app_id = ?1",
                    [&app_id],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            // Whole milliseconds, as stored: what is returned is what is read later.
            let now = from_millis(millis(OffsetDateTime::now_utc()));
            let rev = Revision {
                app_id: app_id.clone(),
                number: next,
                files,
                sha256: sha,
                author,
                created_at: now,
            };
            insert_revision(&tx, &rev)?;
            tx.execute(
                "UPDATE apps SET revision = ?2, updated_at = ?3 WHERE id = ?1",
                params![app_id, next, millis(now)],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(rev)
        })
        .await
    }

    async fn prune_revisions(&self, app_id: &str, keep: u32, protect: &[u32]) -> StoreResult<u64> {
        let app_id = app_id.to_string();
        // As JSON, so that one statement takes any number of protected ones.
        let protect =
            serde_json::to_string(protect).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM revisions WHERE app_id = ?1
                     AND number <= (SELECT MAX(number) FROM revisions WHERE app_id = ?1) - ?2
                     AND number NOT IN (SELECT value FROM json_each(?3))",
                    params![app_id, keep, protect],
                )
                .map_err(internal)?;
            Ok(n as u64)
        })
        .await
    }

    async fn set_desired_revision(&self, app_id: &str, number: u32) -> StoreResult<()> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE apps SET revision = ?2, updated_at = ?3 WHERE id = ?1
                     AND EXISTS (SELECT 1 FROM revisions WHERE app_id = ?1 AND number = ?2)",
                    params![app_id, number, millis(OffsetDateTime::now_utc())],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(StoreError::NotFound("revision".into()));
            }
            Ok(())
        })
        .await
    }

    async fn find_app(&self, user_id: &str, id_or_name: &str) -> StoreResult<Option<App>> {
        let (user_id, key) = (user_id.to_string(), id_or_name.to_string());
        self.with(move |c| {
            // An id match wins over a name match.
            c.query_row(
                &format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE user_id = ?1 AND (id = ?2 OR name = ?2)
                     ORDER BY id = ?2 DESC LIMIT 1"
                ),
                params![user_id, key],
                app_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn app_by_id(&self, app_id: &str) -> StoreResult<Option<App>> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {APP_COLUMNS} FROM apps WHERE id = ?1"),
                [app_id],
                app_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn list_apps(&self, user_id: &str) -> StoreResult<Vec<App>> {
        let user_id = user_id.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE user_id = ?1 ORDER BY created_at DESC, id"
                ))
                .map_err(internal)?;
            let rows = stmt.query_map([user_id], app_from_row).map_err(internal)?;
            rows.collect::<Result<_, _>>().map_err(internal)
        })
        .await
    }

    async fn count_apps(&self, user_id: &str) -> StoreResult<u64> {
        let user_id = user_id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM apps WHERE user_id = ?1",
                [user_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(internal)
        })
        .await
    }

    async fn all_apps(&self) -> StoreResult<Vec<App>> {
        self.with(move |c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE revision > 0 ORDER BY created_at, id"
                ))
                .map_err(internal)?;
            let rows = stmt.query_map([], app_from_row).map_err(internal)?;
            rows.collect::<Result<_, _>>().map_err(internal)
        })
        .await
    }

    async fn revision(&self, app_id: &str, number: u32) -> StoreResult<Option<Revision>> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let row = c
                .query_row(
                    "SELECT files, sha256, author, created_at FROM revisions
                     WHERE app_id = ?1 AND number = ?2",
                    params![app_id, number],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(internal)?;
            row.map(|(files, sha256, author, created_at)| {
                Ok(Revision {
                    app_id: app_id.clone(),
                    number,
                    files: serde_json::from_str(&files)
                        .map_err(|e| StoreError::Internal(format!("revision files: {e}")))?,
                    sha256,
                    author,
                    created_at: from_millis(created_at),
                })
            })
            .transpose()
        })
        .await
    }

    async fn revisions(&self, app_id: &str) -> StoreResult<Vec<Revision>> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT number, files, sha256, author, created_at FROM revisions
                     WHERE app_id = ?1 ORDER BY number DESC",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![app_id], |r| {
                    Ok((
                        r.get::<_, u32>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get(4)?,
                    ))
                })
                .map_err(internal)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(internal)?;
            rows.into_iter()
                .map(|(number, files, sha256, author, created_at)| {
                    Ok(Revision {
                        app_id: app_id.clone(),
                        number,
                        files: serde_json::from_str(&files).map_err(|e| {
                            StoreError::Internal(format!("revision {number} files: {e}"))
                        })?,
                        sha256,
                        author,
                        created_at: from_millis(created_at),
                    })
                })
                .collect()
        })
        .await
    }

    async fn set_status(
        &self,
        app_id: &str,
        stage: Stage,
        message: &str,
        live_revision: Option<u32>,
    ) -> StoreResult<()> {
        let (app_id, message) = (app_id.to_string(), message.to_string());
        self.with(move |c| {
            c.execute(
                "UPDATE apps SET status = ?2, status_message = ?3,
                 live_revision = COALESCE(?4, live_revision) WHERE id = ?1",
                params![app_id, stage.as_str(), message, live_revision],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn set_sleeping(&self, app_id: &str, sleeping: bool) -> StoreResult<()> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE apps SET sleeping = ?2 WHERE id = ?1",
                params![app_id, sleeping],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn touch_activity(&self, app_id: &str, at: OffsetDateTime) -> StoreResult<()> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            c.execute(
                "UPDATE apps SET last_activity_at = MAX(last_activity_at, ?2) WHERE id = ?1",
                params![app_id, millis(at)],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn delete_app(&self, app_id: &str) -> StoreResult<()> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM apps WHERE id = ?1", [app_id])
                .map_err(internal)?;
            if n == 0 {
                return Err(StoreError::NotFound("app".into()));
            }
            Ok(())
        })
        .await
    }

    async fn create_token(&self, token: &ApiToken, secret_hash: &str) -> StoreResult<()> {
        let (t, hash) = (token.clone(), secret_hash.to_string());
        self.with(move |c| {
            c.execute(
                "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![t.id, t.user_id, t.name, hash, millis(t.created_at)],
            )
            .map_err(unique("token"))?;
            Ok(())
        })
        .await
    }

    async fn use_token(
        &self,
        secret_hash: &str,
        at: OffsetDateTime,
    ) -> StoreResult<Option<ApiToken>> {
        let hash = secret_hash.to_string();
        self.with(move |c| {
            c.query_row(
                "UPDATE api_tokens SET last_used_at = ?2 WHERE secret_hash = ?1
                 RETURNING id, user_id, name, created_at, last_used_at",
                params![hash, millis(at)],
                token_from_row,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiToken>> {
        let user_id = user_id.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, user_id, name, created_at, last_used_at FROM api_tokens
                     WHERE user_id = ?1 ORDER BY created_at, id",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map([user_id], token_from_row)
                .map_err(internal)?;
            rows.collect::<Result<_, _>>().map_err(internal)
        })
        .await
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<()> {
        let (user_id, token_id) = (user_id.to_string(), token_id.to_string());
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2",
                    [token_id, user_id],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(StoreError::NotFound("token".into()));
            }
            Ok(())
        })
        .await
    }

    async fn append_event(&self, e: &StoredEvent) -> StoreResult<()> {
        let e = e.clone();
        self.with(move |c| {
            let ev = &e.event;
            // INSERT ... SELECT: nothing is written for an app that is gone.
            c.execute(
                "INSERT OR REPLACE INTO deploy_events
                 (app_id, revision, seq, stage, message, time, output_tail, url)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?1)",
                params![
                    ev.app_id,
                    ev.revision,
                    e.seq,
                    ev.stage.as_str(),
                    ev.message,
                    millis(ev.time),
                    ev.output_tail,
                    ev.url
                ],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn events(&self, app_id: &str, revision: u32) -> StoreResult<Vec<StoredEvent>> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, stage, message, time, output_tail, url FROM deploy_events
                     WHERE app_id = ?1 AND revision = ?2 ORDER BY seq",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![app_id, revision], |r| {
                    let stage: String = r.get(1)?;
                    Ok(StoredEvent {
                        seq: r.get(0)?,
                        event: DeployEvent {
                            app_id: app_id.clone(),
                            revision,
                            stage: Stage::parse(&stage).unwrap_or(Stage::Failed),
                            message: r.get(2)?,
                            time: from_millis(r.get(3)?),
                            output_tail: r.get(4)?,
                            url: r.get(5)?,
                        },
                    })
                })
                .map_err(internal)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(internal)
        })
        .await
    }

    async fn delete_events(&self, app_id: &str, revisions: Range<u32>) -> StoreResult<u64> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM deploy_events WHERE app_id = ?1 AND revision >= ?2 AND revision < ?3",
                    params![app_id, revisions.start, revisions.end],
                )
                .map_err(internal)?;
            Ok(n as u64)
        })
        .await
    }

    async fn claim_deploy(&self, claim: &DeployClaim) -> StoreResult<()> {
        let claim = claim.clone();
        self.with(move |c| {
            c.execute(
                // Never over a newer revision's claim: a replica still
                // renewing an older deploy must not hand the newer one to the
                // reconciler.
                "INSERT INTO deploy_claims (app_id, revision, owner, deadline)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM apps WHERE id = ?1)
                 ON CONFLICT (app_id) DO UPDATE SET
                   revision = excluded.revision, owner = excluded.owner,
                   deadline = excluded.deadline
                 WHERE excluded.revision >= deploy_claims.revision",
                params![
                    claim.app_id,
                    claim.revision,
                    claim.owner,
                    millis(claim.deadline)
                ],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn deploy_claim(&self, app_id: &str) -> StoreResult<Option<DeployClaim>> {
        let app_id = app_id.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT app_id, revision, owner, deadline FROM deploy_claims WHERE app_id = ?1",
                [app_id],
                |r| {
                    Ok(DeployClaim {
                        app_id: r.get(0)?,
                        revision: r.get(1)?,
                        owner: r.get(2)?,
                        deadline: from_millis(r.get(3)?),
                    })
                },
            )
            .optional()
            .map_err(internal)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        Migrations::from_slice(MIGRATIONS).validate().unwrap();
    }

    /// A database made by the hand-rolled migrations that came before
    /// rusqlite_migration, at `version` of them, with an app in it.
    fn database_of_the_previous_code(path: &Path, version: usize) {
        const BEFORE: [&str; 3] = [
            include_str!("testdata/sqlite_v1.sql"),
            "ALTER TABLE revisions ADD COLUMN author TEXT NOT NULL DEFAULT '';",
            include_str!("testdata/sqlite_v3.sql"),
        ];
        let mut conn = Connection::open(path).unwrap();
        for (i, sql) in BEFORE.iter().enumerate().take(version) {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i + 1).unwrap();
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users VALUES ('u1', 'ada@example.com', 'hash', 0);
             INSERT INTO apps (id, user_id, name, revision, live_revision, status, created_at,
                               updated_at, last_activity_at)
                 VALUES ('a1', 'u1', 'hello', 1, 1, 'READY', 0, 0, 0);
             INSERT INTO revisions (app_id, number, files, sha256, created_at)
                 VALUES ('a1', 1, '[{\"name\":\"main.py\",\"content\":\"app = 1\"}]', 'abc', 0);",
        )
        .unwrap();
    }

    #[tokio::test]
    async fn databases_of_the_previous_code_open_with_their_data() {
        for version in [1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("gofast.db");
            database_of_the_previous_code(&path, version);

            let store = SqliteStore::open(&path).unwrap();
            let app = store.app_by_id("a1").await.unwrap().expect("the app");
            assert_eq!((app.name.as_str(), app.status), ("hello", Stage::Ready));
            let rev = store
                .revision("a1", 1)
                .await
                .unwrap()
                .expect("its revision");
            assert_eq!(rev.files[0].content, "app = 1");
            assert_eq!(rev.author, "", "version {version}");
            // Tables of later versions are there too.
            let conn = store.conn.lock().unwrap();
            let count: i64 = conn
                .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
                .unwrap();
            assert_eq!(count, 0);
            let version: usize = conn
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, MIGRATIONS.len());
        }
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gofast.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", MIGRATIONS.len() + 1)
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&path).err().expect("refused");
        assert!(err.to_string().contains("schema"), "{err}");
    }
}
