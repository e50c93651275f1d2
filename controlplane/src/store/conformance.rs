//! One conformance suite for every `Store`: each case is a function over a
//! [`Backend`] (something that opens the same store again and again), and
//! `suite!` runs every case against SQLite and MongoDB alike.
//!
//! The MongoDB cases need `GOFAST_TEST_MONGODB_URI` (scripts/test.sh starts
//! FerretDB and sets it). Without it they are skipped on a developer's machine
//! and fail under CI, so CI can never pass without running them.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{DeployClaim, MongoStore, SessionRecord, SqliteStore, Store, StoreError, StoredEvent};
use crate::model::{ApiToken, App, AppFile, DeployEvent, Stage, User};

/// Opens the store under test; every call opens the same data afresh.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn open(&self) -> Arc<dyn Store>;
}

pub struct SqliteBackend {
    dir: tempfile::TempDir,
}

impl SqliteBackend {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.dir.path().join("gofast.db")).expect("open sqlite"))
    }
}

pub const MONGODB_URI_ENV: &str = "GOFAST_TEST_MONGODB_URI";

/// A fresh database on the test MongoDB (FerretDB in CI).
pub struct MongoBackend {
    pub uri: String,
}

impl MongoBackend {
    /// `None` (skip) when no test MongoDB is configured, except under CI,
    /// where that is a failure.
    pub fn new() -> Option<Self> {
        let base = match std::env::var(MONGODB_URI_ENV) {
            Ok(uri) if !uri.is_empty() => uri,
            _ => {
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
                assert!(
                    !ci,
                    "{MONGODB_URI_ENV} is not set under CI: run the tests through scripts/test.sh, \
                     which starts FerretDB and sets it"
                );
                eprintln!("skipped: set {MONGODB_URI_ENV} (scripts/test.sh does) to run");
                return None;
            }
        };
        let db = format!("gft_{}_{:016x}", std::process::id(), rand::random::<u64>());
        Some(Self {
            uri: with_database(&base, &db),
        })
    }

    pub async fn mongo(&self) -> MongoStore {
        MongoStore::connect(&self.uri).await.expect("open mongodb")
    }

    pub async fn drop_database(&self) {
        let _ = self.mongo().await.database().drop().await;
    }
}

#[async_trait]
impl Backend for MongoBackend {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.mongo().await)
    }
}

/// `mongodb://h:p/?opts` with its database replaced by `db`.
pub fn with_database(uri: &str, db: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let (scheme, rest) = base.split_once("://").expect("a mongodb:// URI");
    let hosts = rest.split('/').next().unwrap_or(rest);
    match query {
        Some(q) => format!("{scheme}://{hosts}/{db}?{q}"),
        None => format!("{scheme}://{hosts}/{db}"),
    }
}

// ---------------------------------------------------------------------------
// Fixtures. Times are whole milliseconds: what both stores keep.

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap()
}

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_000_000_000 + ms as i128 * 1_000_000)
        .unwrap()
}

fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        password_hash: format!("hash-of-{id}"),
        created_at: now(),
    }
}

fn app(id: &str, user_id: &str, name: &str, created: OffsetDateTime) -> App {
    App {
        id: id.into(),
        user_id: user_id.into(),
        name: name.into(),
        revision: 0,
        live_revision: 0,
        status: Stage::Stored,
        status_message: String::new(),
        created_at: created,
        updated_at: created,
        last_activity_at: created,
        sleeping: false,
    }
}

fn files(text: &str) -> Vec<AppFile> {
    vec![
        AppFile {
            name: "main.py".into(),
            content: format!("from fastapi import FastAPI\napp = FastAPI()\n# {text}\n"),
        },
        AppFile {
            name: "util.py".into(),
            content: "X = 1\n".into(),
        },
    ]
}

fn token(id: &str, user_id: &str, name: &str, created: OffsetDateTime) -> ApiToken {
    ApiToken {
        id: id.into(),
        user_id: user_id.into(),
        name: name.into(),
        created_at: created,
        last_used_at: None,
    }
}

fn session(id: &str, user_id: &str, expires: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        id: id.into(),
        user_id: user_id.into(),
        created_at: at(0),
        expires_at: expires,
    }
}

fn ids(apps: &[App]) -> Vec<&str> {
    apps.iter().map(|a| a.id.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Cases.

pub async fn users(b: &dyn Backend) {
    let s = b.open().await;
    let ada = user("u-ada", "ada@example.com");
    s.create_user(&ada).await.unwrap();
    assert_eq!(s.user_by_id("u-ada").await.unwrap(), Some(ada.clone()));
    assert_eq!(
        s.user_by_email("ada@example.com").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(s.user_by_id("u-nobody").await.unwrap(), None);
    assert_eq!(s.user_by_email("nobody@example.com").await.unwrap(), None);

    // The email is unique, whatever the id.
    let err = s
        .create_user(&user("u-other", "ada@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.user_by_id("u-other").await.unwrap(), None);
    // And so is the id.
    let err = s
        .create_user(&user("u-ada", "ada2@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.user_by_email("ada2@example.com").await.unwrap(), None);
}

pub async fn racing_signups_make_one_account(b: &dyn Backend) {
    let s = b.open().await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.create_user(&user(&format!("u-{i}"), "same@example.com"))
                    .await
                    .map(|()| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let found = s.user_by_email("same@example.com").await.unwrap().unwrap();
    assert_eq!(found.id, format!("u-{}", winners[0]));
}

pub async fn create_app_stores_revision_one(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    let a = app("app1", "u1", "hello", at(0));
    let fs = files("v1");
    let rev = s.create_app(&a, &fs, "sha-1").await.unwrap();
    assert_eq!(rev.app_id, "app1");
    assert_eq!(rev.number, 1);
    assert_eq!(rev.files, fs);
    assert_eq!(rev.sha256, "sha-1");
    assert_eq!(rev.author, "u1");
    assert_eq!(rev.created_at, a.created_at);
    assert_eq!(s.revision("app1", 1).await.unwrap(), Some(rev));
    assert_eq!(s.revision("app1", 2).await.unwrap(), None);
    assert_eq!(s.revision("nope", 1).await.unwrap(), None);

    let stored = s.app_by_id("app1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        App {
            revision: 1,
            live_revision: 0,
            ..a.clone()
        }
    );
    assert_eq!(s.app_by_id("nope").await.unwrap(), None);

    // The name is unique per user; a loser leaves nothing behind.
    let err = s
        .create_app(&app("app2", "u1", "hello", at(1)), &fs, "sha-x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.app_by_id("app2").await.unwrap(), None);
    assert_eq!(s.revision("app2", 1).await.unwrap(), None);
    // Another user may use the same name.
    s.create_user(&user("u2", "b@example.com")).await.unwrap();
    s.create_app(&app("app3", "u2", "hello", at(2)), &fs, "sha-1")
        .await
        .unwrap();
    // The id is unique too.
    let err = s
        .create_app(&app("app1", "u2", "other", at(3)), &fs, "sha-1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.app_by_id("app1").await.unwrap(), Some(stored));
    assert_eq!(s.find_app("u2", "other").await.unwrap(), None);
}

pub async fn racing_creates_make_one_app(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let a = app(&format!("app{i}"), "u1", "same", at(i));
                s.create_app(&a, &files(&i.to_string()), "sha")
                    .await
                    .map(|_| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(i) => winners.push(i),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let apps = s.list_apps("u1").await.unwrap();
    assert_eq!(ids(&apps), vec![format!("app{}", winners[0])]);
    for i in 0..16 {
        let id = format!("app{i}");
        let has_rev = s.revision(&id, 1).await.unwrap().is_some();
        assert_eq!(has_rev, i == winners[0], "revision 1 of {id}");
    }
}

pub async fn add_revision_numbers_and_points_at_it(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    let created = at(0);
    s.create_app(&app("app1", "u1", "hello", created), &files("v1"), "sha-1")
        .await
        .unwrap();
    let before = now();
    let r2 = s
        .add_revision("app1", &files("v2"), "sha-2", "u-editor")
        .await
        .unwrap();
    assert_eq!(
        (r2.app_id.as_str(), r2.number, r2.sha256.as_str()),
        ("app1", 2, "sha-2")
    );
    assert_eq!(r2.author, "u-editor");
    assert_eq!(r2.files, files("v2"));
    assert!(r2.created_at >= before, "{} < {before}", r2.created_at);
    assert_eq!(s.revision("app1", 2).await.unwrap(), Some(r2.clone()));
    let a = s.app_by_id("app1").await.unwrap().unwrap();
    assert_eq!(a.revision, 2);
    assert!(a.updated_at >= before);
    assert_eq!(a.created_at, created);

    let r3 = s
        .add_revision("app1", &files("v3"), "sha-3", "u1")
        .await
        .unwrap();
    assert_eq!(r3.number, 3);
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 3);
    // Older revisions are immutable.
    assert_eq!(s.revision("app1", 2).await.unwrap(), Some(r2));
    assert_eq!(
        s.revision("app1", 1).await.unwrap().unwrap().sha256,
        "sha-1"
    );

    let err = s
        .add_revision("nope", &files("x"), "sha", "u1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub async fn racing_revisions_are_consecutive(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "sha-1")
        .await
        .unwrap();
    const N: u32 = 20;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.add_revision("app1", &files(&format!("t{i}")), &format!("sha-t{i}"), "u1")
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        let rev = t.await.unwrap();
        assert!(numbers.insert(rev.number), "number {} twice", rev.number);
        // What was returned is what is stored under that number.
        let stored = s.revision("app1", rev.number).await.unwrap().unwrap();
        assert_eq!(stored.sha256, rev.sha256);
    }
    assert_eq!(numbers, (2..=N + 1).collect::<BTreeSet<_>>());
    // Every task's files are there, none overwritten.
    let mut shas = BTreeSet::new();
    for n in 2..=N + 1 {
        shas.insert(s.revision("app1", n).await.unwrap().unwrap().sha256);
    }
    assert_eq!(shas.len(), N as usize);
    // The newest is desired, whatever order they finished in.
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, N + 1);
    let next = s
        .add_revision("app1", &files("after"), "sha", "u1")
        .await
        .unwrap();
    assert_eq!(next.number, N + 2);
}

pub async fn set_desired_revision_rolls_back_and_forward(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "sha-1")
        .await
        .unwrap();
    s.add_revision("app1", &files("v2"), "sha-2", "u1")
        .await
        .unwrap();
    s.set_desired_revision("app1", 1).await.unwrap();
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 1);
    s.set_desired_revision("app1", 2).await.unwrap();
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 2);
    for (app_id, n) in [("app1", 3), ("app1", 0), ("nope", 1)] {
        let err = s.set_desired_revision(app_id, n).await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound(_)),
            "{app_id} {n}: {err:?}"
        );
    }
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 2);
    // After a rollback, the next revision still gets a new number.
    s.set_desired_revision("app1", 1).await.unwrap();
    let r = s
        .add_revision("app1", &files("v3"), "sha-3", "u1")
        .await
        .unwrap();
    assert_eq!(r.number, 3);
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 3);
}

pub async fn find_app_by_id_or_name_for_its_user(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    let fs = files("v1");
    s.create_app(&app("id1", "u1", "hello", at(0)), &fs, "s")
        .await
        .unwrap();
    // u1's second app is named like the first one's id.
    s.create_app(&app("id2", "u1", "id1", at(1)), &fs, "s")
        .await
        .unwrap();
    s.create_app(&app("id3", "u2", "hello", at(2)), &fs, "s")
        .await
        .unwrap();

    let found = |user: &'static str, key: &'static str| {
        let s = s.clone();
        async move { s.find_app(user, key).await.unwrap().map(|a| a.id) }
    };
    assert_eq!(found("u1", "id1").await.as_deref(), Some("id1")); // the id wins
    assert_eq!(found("u1", "hello").await.as_deref(), Some("id1"));
    assert_eq!(found("u1", "id2").await.as_deref(), Some("id2"));
    assert_eq!(found("u2", "hello").await.as_deref(), Some("id3"));
    // Another user's app, by id or by name, is missing.
    assert_eq!(found("u2", "id1").await, None);
    assert_eq!(found("u1", "id3").await, None);
    assert_eq!(found("u3", "hello").await, None);
    assert_eq!(found("u1", "missing").await, None);
}

pub async fn lists_are_ordered(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    let fs = files("v1");
    // Created out of order; two share a creation time (then by id).
    for (id, user_id, name, t) in [
        ("b", "u1", "second", 20),
        ("a", "u1", "first", 10),
        ("d", "u1", "third-d", 30),
        ("c", "u1", "third-c", 30),
        ("e", "u2", "other", 15),
    ] {
        s.create_app(&app(id, user_id, name, at(t)), &fs, "s")
            .await
            .unwrap();
    }
    // Newest first.
    assert_eq!(ids(&s.list_apps("u1").await.unwrap()), ["c", "d", "b", "a"]);
    assert_eq!(ids(&s.list_apps("u2").await.unwrap()), ["e"]);
    assert!(s.list_apps("u3").await.unwrap().is_empty());
    // Every user's apps, oldest first, for the reconciler.
    assert_eq!(ids(&s.all_apps().await.unwrap()), ["a", "e", "b", "c", "d"]);

    // Tokens by creation.
    for (id, name, t) in [("t2", "ci", 2), ("t1", "laptop", 1), ("t3", "phone", 3)] {
        s.create_token(&token(id, "u1", name, at(t)), &format!("hash-{id}"))
            .await
            .unwrap();
    }
    s.create_token(&token("t4", "u2", "x", at(0)), "hash-t4")
        .await
        .unwrap();
    let listed: Vec<String> = s
        .list_tokens("u1")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["t1", "t2", "t3"]);
    assert!(s.list_tokens("u3").await.unwrap().is_empty());
}

pub async fn status_and_activity(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "s")
        .await
        .unwrap();
    s.set_status("app1", Stage::Ready, "up", Some(1))
        .await
        .unwrap();
    let a = s.app_by_id("app1").await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.status_message.as_str(), a.live_revision),
        (Stage::Ready, "up", 1)
    );
    // A failed deploy keeps the live revision.
    s.set_status("app1", Stage::Failed, "crashed: line 3", None)
        .await
        .unwrap();
    let a = s.app_by_id("app1").await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.status_message.as_str(), a.live_revision),
        (Stage::Failed, "crashed: line 3", 1)
    );
    for &stage in Stage::ALL {
        s.set_status("app1", stage, stage.as_str(), None)
            .await
            .unwrap();
        assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().status, stage);
    }
    // A missing app is not an error.
    s.set_status("nope", Stage::Ready, "", Some(1))
        .await
        .unwrap();

    // Activity only moves forward.
    s.touch_activity("app1", at(5000)).await.unwrap();
    assert_eq!(
        s.app_by_id("app1").await.unwrap().unwrap().last_activity_at,
        at(5000)
    );
    s.touch_activity("app1", at(100)).await.unwrap();
    assert_eq!(
        s.app_by_id("app1").await.unwrap().unwrap().last_activity_at,
        at(5000)
    );
    s.touch_activity("nope", at(100)).await.unwrap();

    // Sleeping is apart from the status, and shown in its place.
    s.set_status("app1", Stage::Ready, "", Some(1))
        .await
        .unwrap();
    assert!(!s.app_by_id("app1").await.unwrap().unwrap().sleeping);
    s.set_sleeping("app1", true).await.unwrap();
    let a = s.app_by_id("app1").await.unwrap().unwrap();
    assert_eq!((a.status, a.sleeping), (Stage::Ready, true));
    assert_eq!(a.shown_status(), Stage::Sleeping);
    assert!(s.all_apps().await.unwrap().iter().any(|a| a.sleeping));
    s.set_sleeping("app1", false).await.unwrap();
    assert!(!s.app_by_id("app1").await.unwrap().unwrap().sleeping);
    s.set_sleeping("nope", true).await.unwrap();
}

pub async fn delete_app_cascades_to_revisions(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    let fs = files("v1");
    s.create_app(&app("app1", "u1", "hello", at(0)), &fs, "s1")
        .await
        .unwrap();
    s.add_revision("app1", &files("v2"), "s2", "u1")
        .await
        .unwrap();
    s.create_app(&app("app2", "u1", "keep", at(1)), &fs, "s1")
        .await
        .unwrap();

    s.delete_app("app1").await.unwrap();
    assert_eq!(s.app_by_id("app1").await.unwrap(), None);
    assert_eq!(s.find_app("u1", "hello").await.unwrap(), None);
    assert_eq!(s.revision("app1", 1).await.unwrap(), None);
    assert_eq!(s.revision("app1", 2).await.unwrap(), None);
    assert_eq!(ids(&s.list_apps("u1").await.unwrap()), ["app2"]);
    assert_eq!(ids(&s.all_apps().await.unwrap()), ["app2"]);
    assert!(s.revision("app2", 1).await.unwrap().is_some());

    let err = s.delete_app("app1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = s.add_revision("app1", &fs, "s3", "u1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // The name is free again, and the new app starts at revision 1.
    let rev = s
        .create_app(&app("app3", "u1", "hello", at(2)), &fs, "s1")
        .await
        .unwrap();
    assert_eq!(rev.number, 1);
    assert_eq!(s.find_app("u1", "hello").await.unwrap().unwrap().id, "app3");
}

pub async fn tokens_are_used_and_revoked(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    let t1 = token("t1", "u1", "laptop", at(0));
    s.create_token(&t1, "hash-1").await.unwrap();
    // A secret hash is unique, and so is an id.
    let err = s
        .create_token(&token("t2", "u1", "dup", at(1)), "hash-1")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    let err = s
        .create_token(&token("t1", "u1", "dup", at(1)), "hash-other")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.list_tokens("u1").await.unwrap(), vec![t1.clone()]);

    assert_eq!(s.use_token("hash-unknown", at(5)).await.unwrap(), None);
    let used = s.use_token("hash-1", at(10)).await.unwrap().unwrap();
    assert_eq!(
        used,
        ApiToken {
            last_used_at: Some(at(10)),
            ..t1.clone()
        }
    );
    let used = s.use_token("hash-1", at(20)).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at(20)));
    assert_eq!(
        s.list_tokens("u1").await.unwrap()[0].last_used_at,
        Some(at(20))
    );

    // Only its user can revoke it.
    let err = s.revoke_token("u2", "t1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(s.use_token("hash-1", at(30)).await.unwrap().is_some());
    s.revoke_token("u1", "t1").await.unwrap();
    assert_eq!(s.use_token("hash-1", at(40)).await.unwrap(), None);
    assert!(s.list_tokens("u1").await.unwrap().is_empty());
    let err = s.revoke_token("u1", "t1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = s.revoke_token("u1", "missing").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub async fn reopening_loses_nothing(b: &dyn Backend) {
    let (ada, a1, r2, t1) = {
        let s = b.open().await;
        let ada = user("u1", "ada@example.com");
        s.create_user(&ada).await.unwrap();
        s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "sha-1")
            .await
            .unwrap();
        let r2 = s
            .add_revision("app1", &files("v2"), "sha-2", "u1")
            .await
            .unwrap();
        s.set_status("app1", Stage::Ready, "up", Some(2))
            .await
            .unwrap();
        s.touch_activity("app1", at(99)).await.unwrap();
        let t1 = token("t1", "u1", "laptop", at(3));
        s.create_token(&t1, "hash-1").await.unwrap();
        let t1 = s.use_token("hash-1", at(4)).await.unwrap().unwrap();
        let a1 = s.app_by_id("app1").await.unwrap().unwrap();
        (ada, a1, r2, t1)
    };
    // A new handle on the same file or database, as after a restart.
    let s = b.open().await;
    assert_eq!(s.user_by_email("ada@example.com").await.unwrap(), Some(ada));
    assert_eq!(s.app_by_id("app1").await.unwrap(), Some(a1.clone()));
    assert_eq!(s.list_apps("u1").await.unwrap(), vec![a1.clone()]);
    assert_eq!(s.all_apps().await.unwrap(), vec![a1]);
    assert_eq!(s.revision("app1", 2).await.unwrap(), Some(r2));
    assert!(s.revision("app1", 1).await.unwrap().is_some());
    assert_eq!(s.list_tokens("u1").await.unwrap(), vec![t1]);
    // Counters and unique rules carry on.
    let r3 = s
        .add_revision("app1", &files("v3"), "sha-3", "u1")
        .await
        .unwrap();
    assert_eq!(r3.number, 3);
    let err = s
        .create_user(&user("u9", "ada@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    let err = s
        .create_app(&app("app9", "u1", "hello", at(5)), &files("x"), "s")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    // And a third open (indexes made again on start) still works.
    let s = b.open().await;
    assert_eq!(s.app_by_id("app1").await.unwrap().unwrap().revision, 3);
}

pub async fn sessions_end_on_logout_and_password_change(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    let later = now() + time::Duration::hours(1);
    let (s1, s2, s3) = (
        session("s1", "u1", later),
        session("s2", "u1", later),
        session("s3", "u1", later),
    );
    let other = session("o1", "u2", later);
    for x in [&s1, &s2, &s3, &other] {
        s.create_session(x).await.unwrap();
    }
    let err = s
        .create_session(&session("s1", "u2", later))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(s.session("s1").await.unwrap(), Some(s1.clone()));
    assert_eq!(s.session("missing").await.unwrap(), None);

    // Logout ends one session, only its user's.
    assert!(!s.end_session("u2", "s1").await.unwrap());
    assert!(s.end_session("u1", "s1").await.unwrap());
    assert!(!s.end_session("u1", "s1").await.unwrap());
    assert_eq!(s.session("s1").await.unwrap(), None);
    assert_eq!(s.session("s2").await.unwrap(), Some(s2.clone()));

    // A password change keeps the caller's session and ends the others,
    // and leaves other users alone.
    assert_eq!(
        s.set_password("u1", "new-hash", Some("s2")).await.unwrap(),
        1
    );
    assert_eq!(
        s.user_by_id("u1").await.unwrap().unwrap().password_hash,
        "new-hash"
    );
    assert_eq!(s.session("s2").await.unwrap(), Some(s2));
    assert_eq!(s.session("s3").await.unwrap(), None);
    assert_eq!(s.session("o1").await.unwrap(), Some(other));
    // Without a session to keep (an API token changed it), all end.
    assert_eq!(s.set_password("u1", "newer-hash", None).await.unwrap(), 1);
    assert_eq!(s.session("s2").await.unwrap(), None);
    let err = s.set_password("nobody", "h", None).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // Expired sessions of a user go when the user logs in again.
    s.create_session(&session("old", "u1", at(0)))
        .await
        .unwrap();
    assert!(s.session("old").await.unwrap().is_some());
    s.create_session(&session("s4", "u1", later)).await.unwrap();
    assert_eq!(s.session("old").await.unwrap(), None);

    // Sessions outlive a restart (another replica sees them too).
    let s = b.open().await;
    assert!(s.session("s4").await.unwrap().is_some());
}

pub async fn revisions_are_pruned_but_desired_and_live_are_kept(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "sha-1")
        .await
        .unwrap();
    s.create_app(&app("app2", "u1", "other", at(1)), &files("v1"), "sha-1")
        .await
        .unwrap();
    for v in 2..=8 {
        s.add_revision("app1", &files(&format!("v{v}")), "sha", "u1")
            .await
            .unwrap();
    }
    // Nothing to prune yet.
    assert_eq!(s.prune_revisions("app1", 10, &[8]).await.unwrap(), 0);
    // Keep the newest 3 (6, 7, 8), and 2 (live) whatever its age.
    assert_eq!(s.prune_revisions("app1", 3, &[8, 2]).await.unwrap(), 4);
    let mut left = Vec::new();
    for n in 1..=8 {
        if s.revision("app1", n).await.unwrap().is_some() {
            left.push(n);
        }
    }
    assert_eq!(left, vec![2, 6, 7, 8]);
    // Numbering carries on past pruned revisions.
    let r9 = s
        .add_revision("app1", &files("v9"), "sha", "u1")
        .await
        .unwrap();
    assert_eq!(r9.number, 9);
    // Other apps keep theirs.
    assert!(s.revision("app2", 1).await.unwrap().is_some());
    assert_eq!(s.prune_revisions("app2", 1, &[]).await.unwrap(), 0);
}

pub async fn revisions_are_listed_newest_first_with_their_files(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    s.create_app(&app("app1", "u1", "hello", at(0)), &files("v1"), "sha-1")
        .await
        .unwrap();
    s.create_app(&app("app2", "u2", "hello", at(1)), &files("other"), "sha-o")
        .await
        .unwrap();
    let r2 = s
        .add_revision("app1", &files("v2"), "sha-2", "u1")
        .await
        .unwrap();
    let r3 = s
        .add_revision("app1", &files("v3"), "sha-3", "u1")
        .await
        .unwrap();
    let listed = s.revisions("app1").await.unwrap();
    let numbers: Vec<u32> = listed.iter().map(|r| r.number).collect();
    assert_eq!(numbers, vec![3, 2, 1]);
    // Each one is the stored revision, files and all.
    assert_eq!(listed[0], r3);
    assert_eq!(listed[1], r2);
    assert_eq!(listed[2], s.revision("app1", 1).await.unwrap().unwrap());
    assert_eq!(listed[2].files, files("v1"));
    // Only this app's.
    let other = s.revisions("app2").await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].files, files("other"));
    assert!(s.revisions("nope").await.unwrap().is_empty());
    // Pruned revisions are no longer listed.
    s.prune_revisions("app1", 1, &[1]).await.unwrap();
    let numbers: Vec<u32> = s
        .revisions("app1")
        .await
        .unwrap()
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers, vec![3, 1]);
    s.delete_app("app1").await.unwrap();
    assert!(s.revisions("app1").await.unwrap().is_empty());
}

pub async fn apps_are_counted_per_user(b: &dyn Backend) {
    let s = b.open().await;
    for (id, email) in [("u1", "a@example.com"), ("u2", "b@example.com")] {
        s.create_user(&user(id, email)).await.unwrap();
    }
    assert_eq!(s.count_apps("u1").await.unwrap(), 0);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        s.create_app(
            &app(&format!("app{i}"), "u1", name, at(i as i64)),
            &files("v"),
            "s",
        )
        .await
        .unwrap();
    }
    s.create_app(&app("x", "u2", "a", at(9)), &files("v"), "s")
        .await
        .unwrap();
    assert_eq!(s.count_apps("u1").await.unwrap(), 3);
    assert_eq!(s.count_apps("u2").await.unwrap(), 1);
    s.delete_app("app1").await.unwrap();
    assert_eq!(s.count_apps("u1").await.unwrap(), 2);
}

fn stored(app_id: &str, revision: u32, seq: i64, stage: Stage) -> StoredEvent {
    StoredEvent {
        seq,
        event: DeployEvent {
            app_id: app_id.into(),
            revision,
            stage,
            message: format!("{} of {revision}", stage.as_str()),
            time: at(seq),
            output_tail: if stage == Stage::Failed {
                "Traceback (most recent call last):\n  boom".into()
            } else {
                String::new()
            },
            url: String::new(),
        },
    }
}

pub async fn deploy_events_are_kept_in_order_and_trimmed(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    for id in ["app1", "app2"] {
        s.create_app(&app(id, "u1", id, now()), &files("v1"), "s")
            .await
            .unwrap();
    }
    assert_eq!(s.events("app1", 1).await.unwrap(), vec![]);
    // Written out of order, read back by seq.
    let written = [
        stored("app1", 1, 30, Stage::Failed),
        stored("app1", 1, 10, Stage::Validating),
        stored("app1", 1, 20, Stage::Stored),
    ];
    for e in &written {
        s.append_event(e).await.unwrap();
    }
    // Writing one again keeps one.
    s.append_event(&written[0]).await.unwrap();
    for r in 2..=4 {
        s.append_event(&stored("app1", r, 1, Stage::Stored))
            .await
            .unwrap();
    }
    s.append_event(&stored("app2", 1, 5, Stage::Ready))
        .await
        .unwrap();
    let got = s.events("app1", 1).await.unwrap();
    assert_eq!(
        got,
        vec![written[1].clone(), written[2].clone(), written[0].clone()]
    );
    // Another store on the same data sees the same (another replica).
    assert_eq!(b.open().await.events("app1", 1).await.unwrap(), got);

    assert_eq!(s.delete_events("app1", 0..3).await.unwrap(), 4);
    assert_eq!(s.events("app1", 1).await.unwrap(), vec![]);
    assert_eq!(s.events("app1", 3).await.unwrap().len(), 1);
    assert_eq!(s.events("app2", 1).await.unwrap().len(), 1);

    // A deleted app takes its events along, and gets no new ones.
    s.delete_app("app1").await.unwrap();
    assert_eq!(s.events("app1", 3).await.unwrap(), vec![]);
    s.append_event(&stored("app1", 5, 1, Stage::Stored))
        .await
        .unwrap();
    assert_eq!(s.events("app1", 5).await.unwrap(), vec![]);
}

pub async fn deploy_claims_are_replaced_and_deleted_with_the_app(b: &dyn Backend) {
    let s = b.open().await;
    s.create_user(&user("u1", "a@example.com")).await.unwrap();
    s.create_app(&app("app1", "u1", "app1", now()), &files("v1"), "s")
        .await
        .unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), None);
    let claim = DeployClaim {
        app_id: "app1".into(),
        revision: 1,
        owner: "replica-a".into(),
        deadline: at(1000),
    };
    s.claim_deploy(&claim).await.unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), Some(claim.clone()));
    // The reconciler on another replica takes it over.
    let taken = DeployClaim {
        owner: "replica-b".into(),
        deadline: at(5000),
        ..claim
    };
    b.open().await.claim_deploy(&taken).await.unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), Some(taken.clone()));
    // A newer revision's claim is never replaced by an older one's renewal.
    let newer = DeployClaim {
        revision: 2,
        owner: "replica-b".into(),
        deadline: at(6000),
        ..taken.clone()
    };
    s.claim_deploy(&newer).await.unwrap();
    let stale = DeployClaim {
        owner: "replica-a".into(),
        deadline: at(9000),
        ..taken.clone()
    };
    s.claim_deploy(&stale).await.unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), Some(newer.clone()));
    let taken = newer;
    s.delete_app("app1").await.unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), None);
    // No claim for an app that is gone.
    s.claim_deploy(&taken).await.unwrap();
    assert_eq!(s.deploy_claim("app1").await.unwrap(), None);
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let backend = super::SqliteBackend::new();
                    super::$case(&backend).await;
                }
            )*
        }

        mod mongo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(backend) = super::MongoBackend::new() else { return };
                    tokio::time::timeout(
                        std::time::Duration::from_secs(60),
                        super::$case(&backend),
                    )
                    .await
                    .expect("the case took over a minute");
                    backend.drop_database().await;
                }
            )*
        }
    };
}

suite!(
    users,
    racing_signups_make_one_account,
    create_app_stores_revision_one,
    racing_creates_make_one_app,
    add_revision_numbers_and_points_at_it,
    racing_revisions_are_consecutive,
    set_desired_revision_rolls_back_and_forward,
    find_app_by_id_or_name_for_its_user,
    lists_are_ordered,
    status_and_activity,
    delete_app_cascades_to_revisions,
    tokens_are_used_and_revoked,
    reopening_loses_nothing,
    sessions_end_on_logout_and_password_change,
    revisions_are_pruned_but_desired_and_live_are_kept,
    revisions_are_listed_newest_first_with_their_files,
    apps_are_counted_per_user,
    deploy_events_are_kept_in_order_and_trimmed,
    deploy_claims_are_replaced_and_deleted_with_the_app,
);

// ---------------------------------------------------------------------------
// MongoDB only: what an interruption between two writes leaves behind.

mod mongo_only {
    use mongodb::bson::doc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sweeper_removes_revisions_of_a_half_deleted_app() {
        let Some(b) = MongoBackend::new() else { return };
        let s = b.mongo().await;
        s.create_user(&user("u1", "a@example.com")).await.unwrap();
        s.create_app(&app("gone", "u1", "gone", now()), &files("v1"), "s")
            .await
            .unwrap();
        s.add_revision("gone", &files("v2"), "s2", "u1")
            .await
            .unwrap();
        s.create_app(&app("kept", "u1", "kept", now()), &files("v1"), "s")
            .await
            .unwrap();
        // delete_app interrupted after its first write: the app is gone, its
        // revisions are not.
        s.database()
            .collection::<mongodb::bson::Document>("apps")
            .delete_one(doc! { "_id": "gone" })
            .await
            .unwrap();
        // Recent ones are left alone (a create_app may be in progress).
        assert_eq!(s.sweep_orphans(Duration::from_secs(3600)).await.unwrap(), 0);
        assert!(s.revision("gone", 1).await.unwrap().is_some());
        // Older ones go; other apps keep theirs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(s.sweep_orphans(Duration::from_millis(1)).await.unwrap(), 2);
        assert_eq!(s.revision("gone", 1).await.unwrap(), None);
        assert_eq!(s.revision("gone", 2).await.unwrap(), None);
        assert!(s.revision("kept", 1).await.unwrap().is_some());
        b.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_server_is_unavailable_quickly() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        let err = match MongoStore::connect(&format!("mongodb://127.0.0.1:{port}/x")).await {
            Ok(_) => panic!("connected to nothing"),
            Err(e) => e,
        };
        assert!(started.elapsed() < Duration::from_secs(10));
        match err {
            StoreError::Unavailable(msg) => {
                assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
                assert!(msg.contains("MongoDB"), "{msg}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }

    #[test]
    fn uris_select_mongodb_and_name_databases() {
        assert!(crate::store::is_mongodb_uri("mongodb://h:1/db"));
        assert!(crate::store::is_mongodb_uri("mongodb+srv://cluster/db"));
        assert!(!crate::store::is_mongodb_uri("gofast.db"));
        assert!(!crate::store::is_mongodb_uri("/var/lib/gofast/mongodb.db"));
        assert_eq!(with_database("mongodb://h:1/", "d"), "mongodb://h:1/d");
        assert_eq!(with_database("mongodb://h:1", "d"), "mongodb://h:1/d");
        assert_eq!(
            with_database("mongodb://a:1,b:2/old?w=1", "d"),
            "mongodb://a:1,b:2/d?w=1"
        );
    }
}
