//! The deploy rules of the service layer, as scenarios run in-process: the
//! real `Platform` over an in-memory SQLite store and a fake runtime
//! (`fake.rs`), on tokio's paused clock so that timeouts and backoff pass in
//! no real time. What only real processes can show is tested end to end in
//! cli/tests.

mod fake;
mod sleeping;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use time::OffsetDateTime;

use self::fake::FakeRuntime;
use super::{AccountSettings, Caller, Platform, PlatformSettings};
use crate::{
    auth::JwtKeys,
    error::Error,
    model::{App, AppFile, DeployEvent, Stage, User},
    store::{SqliteStore, Store},
};

const START_TIMEOUT: Duration = Duration::from_secs(20);
const IDLE_LIFETIME: Duration = Duration::from_secs(24 * 3600);
const SLEEP_AFTER: Duration = Duration::from_secs(15 * 60);

/// One control plane: the platform, its store and what its runtime runs.
struct World {
    platform: Arc<Platform>,
    store: Arc<SqliteStore>,
    fake: Arc<FakeRuntime>,
    ada: Caller,
}

impl World {
    async fn new() -> Self {
        let store = Arc::new(SqliteStore::in_memory().expect("an in-memory store"));
        let ada = User {
            id: "u1ada".into(),
            email: "ada@example.com".into(),
            password_hash: String::new(),
            created_at: OffsetDateTime::now_utc(),
        };
        store.create_user(&ada).await.expect("a user");
        Self::on(store)
    }

    /// A control plane on `store` whose runtime runs nothing yet: what a
    /// restart looks like.
    fn on(store: Arc<SqliteStore>) -> Self {
        let fake = Arc::new(FakeRuntime::new(START_TIMEOUT));
        let platform = Platform::new(
            store.clone(),
            fake.clone(),
            JwtKeys::new(
                b"scenario secret of enough length!",
                time::Duration::hours(1),
            ),
            PlatformSettings {
                apps_base: "http://apps.test".into(),
                reconcile_every: Duration::from_secs(5),
                idle_lifetime: IDLE_LIFETIME,
                sleep_after: Some(SLEEP_AFTER),
                accounts: AccountSettings::default(),
                validation: Default::default(),
            },
        );
        Self {
            platform,
            store,
            fake,
            ada: Caller {
                user_id: "u1ada".into(),
                session_id: None,
            },
        }
    }

    fn restarted(&self) -> Self {
        Self::on(self.store.clone())
    }

    /// Creates the app, or stores new code for it; returns its id and the revision.
    async fn deploy(&self, name: &str, code: &str) -> (String, u32) {
        let files = vec![AppFile {
            name: "main.py".into(),
            content: code.into(),
        }];
        let (view, revision) = match self.platform.get_app(&self.ada, name).await {
            Ok(_) => self.platform.update_app(&self.ada, name, files).await,
            Err(_) => self.platform.create_app(&self.ada, name, files).await,
        }
        .expect("the code is stored");
        (view.app.id, revision)
    }

    /// The events of a deploy until the stream ends.
    async fn events(&self, app: &str, revision: u32) -> Vec<DeployEvent> {
        let watch = self
            .platform
            .watch_deployment(&self.ada, app, revision)
            .await
            .expect("the deploy is known");
        tokio::time::timeout(Duration::from_secs(600), watch.collect::<Vec<_>>())
            .await
            .expect("the event stream ends")
    }

    /// Waits for the first event of a deploy at `stage`.
    async fn until_stage(&self, app: &str, revision: u32, stage: Stage) {
        let mut watch = self
            .platform
            .watch_deployment(&self.ada, app, revision)
            .await
            .expect("the deploy is known");
        while let Some(e) = watch.next().await {
            if e.stage == stage {
                return;
            }
        }
        panic!("revision {revision} ended without reaching {stage:?}");
    }

    /// One pass of the reconciler, and the deploys it started.
    async fn reconcile(&self) {
        for deploy in self.platform.reconcile_once().await {
            deploy.await.expect("the deploy task ends");
        }
    }

    async fn app(&self, app: &str) -> crate::model::App {
        self.platform.get_app(&self.ada, app).await.unwrap().app
    }
}

/// A platform on an empty in-memory store and a fake runtime, for the edges'
/// tests.
pub(crate) fn test_platform() -> Arc<Platform> {
    World::on(Arc::new(
        SqliteStore::in_memory().expect("an in-memory store"),
    ))
    .platform
}

/// A valid app whose start does what `plan` says (see `fake.rs`).
fn code(message: &str, plan: &str) -> String {
    format!(
        "from fastapi import FastAPI\n\napp = FastAPI()\n# fake: {plan}\n\n\n@app.get('/')\ndef root():\n    return {{'message': '{message}'}}\n"
    )
}

fn stages(events: &[DeployEvent]) -> Vec<Stage> {
    events.iter().map(|e| e.stage).collect()
}

#[tokio::test(start_paused = true)]
async fn watching_a_deploy_shows_every_stage_and_ends_at_ready() {
    let w = World::new().await;
    let (app, rev) = w.deploy("hello", &code("hi", "starts")).await;
    let events = w.events(&app, rev).await;
    assert_eq!(
        stages(&events),
        [
            Stage::Validating,
            Stage::Stored,
            Stage::Applying,
            Stage::Starting,
            Stage::HealthCheck,
            Stage::Ready,
        ]
    );
    let ready = events.last().unwrap();
    assert_eq!(ready.url, format!("http://apps.test/user/u1ada/app/{app}/"));
    assert_eq!(w.app(&app).await.status, Stage::Ready);
    // A watcher who comes late gets the history, and the stream still ends.
    assert_eq!(w.events(&app, rev).await, events);
}

#[tokio::test(start_paused = true)]
async fn watching_a_deploy_that_crashes_ends_at_failed_with_the_traceback() {
    let w = World::new().await;
    let (app, rev) = w.deploy("broken", &code("hi", "exits")).await;
    let events = w.events(&app, rev).await;
    let failed = events.last().unwrap();
    assert_eq!(failed.stage, Stage::Failed);
    assert!(failed.message.contains("exited with code 1"), "{failed:?}");
    assert!(failed.output_tail.contains("Traceback"), "{failed:?}");
    assert_eq!(events.iter().filter(|e| e.stage.is_terminal()).count(), 1);
    let stored = w.app(&app).await;
    assert_eq!(
        (stored.status, stored.status_message.as_str()),
        (Stage::Failed, failed.message.as_str())
    );
    assert_eq!(w.fake.serving(&app), None);
}

#[tokio::test(start_paused = true)]
async fn a_later_deploy_wins_and_the_earlier_is_reported_superseded() {
    let w = World::new().await;
    let (app, first) = w.deploy("race", &code("slow", "waits")).await;
    w.until_stage(&app, first, Stage::Starting).await;
    let (_, second) = w.deploy("race", &code("fast", "starts")).await;
    assert_eq!(second, first + 1);

    let (one, two) = tokio::join!(w.events(&app, first), w.events(&app, second));
    let last = one.last().unwrap();
    assert_eq!(
        (last.stage, last.message.as_str()),
        (Stage::Failed, "superseded by revision 2")
    );
    assert_eq!(two.last().unwrap().stage, Stage::Ready);
    // Nothing of the superseded start is left, and it never served.
    let running = w.fake.running();
    assert!(running.starting.is_empty(), "{running:?}");
    assert_eq!(running.serving.get(&app), Some(&second));
    assert_eq!(w.fake.starts_of(&app, first), 1);
    let stored = w.app(&app).await;
    assert_eq!((stored.status, stored.revision), (Stage::Ready, second));
}

#[tokio::test(start_paused = true)]
async fn a_start_that_times_out_keeps_the_old_revision_serving() {
    let w = World::new().await;
    let (app, good) = w.deploy("steady", &code("one", "starts")).await;
    assert_eq!(
        w.events(&app, good).await.last().unwrap().stage,
        Stage::Ready
    );

    let started = tokio::time::Instant::now();
    let (_, bad) = w.deploy("steady", &code("two", "hangs")).await;
    let failed = w.events(&app, bad).await.pop().unwrap();
    assert_eq!(failed.stage, Stage::Failed);
    assert_eq!(
        failed.message,
        format!(
            "the app did not answer /health within {}s",
            START_TIMEOUT.as_secs()
        )
    );
    assert!(
        started.elapsed() >= START_TIMEOUT,
        "failed before the timeout"
    );
    assert_eq!(w.fake.serving(&app), Some(good), "the old revision stopped");

    let stored = w.app(&app).await;
    assert_eq!(
        (stored.status, stored.revision, stored.live_revision),
        (Stage::Failed, bad, good)
    );
    // The reconciler leaves the serving revision alone and does not retry the
    // failed one by itself...
    w.reconcile().await;
    assert_eq!(w.fake.starts_of(&app, bad), 1);
    assert_eq!(w.fake.starts_of(&app, good), 1);
    // ...and if the old revision dies, it is the one brought back.
    w.fake.crash(&app);
    w.reconcile().await;
    w.fake
        .until("the old revision serves again", |r| {
            r.serving.get(&app) == Some(&good)
        })
        .await;
    assert_eq!(w.fake.starts_of(&app, bad), 1);
}

#[tokio::test(start_paused = true)]
async fn a_crashed_app_is_restarted_with_a_growing_backoff() {
    let w = World::new().await;
    let (app, rev) = w.deploy("flaky", &code("hi", "starts")).await;
    w.events(&app, rev).await;
    let serves = |n: usize| {
        let app = app.clone();
        move |r: &fake::Running| {
            r.serving.get(&app) == Some(&rev) && r.starts.iter().filter(|s| s.0 == app).count() == n
        }
    };

    // Every crash restarts the app, each time after twice the wait: 1 s, 2 s, 4 s.
    for (restarts, wait) in [(1, 0u64), (2, 1), (3, 2), (4, 4)] {
        w.fake.crash(&app);
        if wait > 0 {
            tokio::time::advance(Duration::from_millis(wait * 1000 - 1)).await;
            w.reconcile().await;
            tokio::task::yield_now().await;
            assert_eq!(
                w.fake.serving(&app),
                None,
                "restart {restarts} came before its backoff of {wait} s"
            );
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        w.reconcile().await;
        w.fake
            .until("the app is restarted", serves(1 + restarts))
            .await;
    }
    // The wait never grows past a minute.
    for _ in 0..8 {
        w.fake.crash(&app);
        tokio::time::advance(Duration::from_secs(60)).await;
        w.reconcile().await;
        w.fake
            .until("the app is restarted", |r| r.serving.contains_key(&app))
            .await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_app_serving_again_starts_its_backoff_afresh() {
    let w = World::new().await;
    let (app, rev) = w.deploy("flaky", &code("hi", "starts")).await;
    w.events(&app, rev).await;
    for _ in 0..3 {
        w.fake.crash(&app);
        tokio::time::advance(Duration::from_secs(60)).await;
        w.reconcile().await;
        w.fake
            .until("the app is restarted", |r| r.serving.contains_key(&app))
            .await;
    }
    // A pass that finds it serving forgets the failures: the next crash is
    // restarted at once.
    w.reconcile().await;
    w.fake.crash(&app);
    w.reconcile().await;
    w.fake
        .until("the app is restarted at once", |r| {
            r.serving.contains_key(&app)
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn an_app_idle_past_its_lifetime_is_removed_and_an_active_one_kept() {
    let w = World::new().await;
    let (busy, rev) = w.deploy("busy", &code("hi", "starts")).await;
    w.events(&busy, rev).await;
    // An app stored and started by an earlier control plane, and not used since.
    let long_ago = OffsetDateTime::now_utc() - IDLE_LIFETIME - time::Duration::minutes(1);
    let idle = App {
        id: "idle1app".into(),
        user_id: w.ada.user_id.clone(),
        name: "idle".into(),
        revision: 1,
        live_revision: 1,
        status: Stage::Ready,
        status_message: String::new(),
        created_at: long_ago,
        updated_at: long_ago,
        last_activity_at: long_ago,
        sleeping: false,
    };
    let files = [AppFile {
        name: "main.py".into(),
        content: code("zzz", "starts"),
    }];
    w.store.create_app(&idle, &files, "sha").await.unwrap();
    w.fake.adopt(&idle.id, 1);

    w.reconcile().await;
    assert!(matches!(
        w.platform.get_app(&w.ada, "idle").await,
        Err(Error::NoSuchApp(_))
    ));
    assert_eq!(w.fake.serving(&idle.id), None, "the idle app still runs");
    assert_eq!(w.fake.serving(&busy), Some(rev));
    assert_eq!(w.app("busy").await.status, Stage::Ready);
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_every_app_comes_back_at_the_revision_it_served() {
    let before = World::new().await;
    let (steady, rev) = before.deploy("steady", &code("one", "starts")).await;
    before.events(&steady, rev).await;
    let (shaky, good) = before.deploy("shaky", &code("one", "starts")).await;
    before.events(&shaky, good).await;
    let (_, bad) = before.deploy("shaky", &code("two", "exits")).await;
    before.events(&shaky, bad).await;
    before.platform.shutdown().await;

    let after = before.restarted();
    assert!(after.fake.running().serving.is_empty());
    after.reconcile().await;
    after
        .fake
        .until("both apps serve", |r| {
            r.serving.get(&steady) == Some(&1) && r.serving.get(&shaky) == Some(&good)
        })
        .await;
    // The failed revision is not tried again, and what the users see is what
    // was stored: the status, and the events, which the store keeps too.
    assert_eq!(after.fake.starts_of(&shaky, bad), 0);
    let (view, events) = after
        .platform
        .app_status(&after.ada, "shaky")
        .await
        .unwrap();
    assert_eq!((view.app.status, view.app.revision), (Stage::Failed, bad));
    assert_eq!(
        stages(&events),
        [
            Stage::Validating,
            Stage::Stored,
            Stage::Applying,
            Stage::Starting,
            Stage::Failed
        ]
    );
    assert_eq!(after.app("steady").await.status, Stage::Ready);
}

#[tokio::test(start_paused = true)]
async fn deleting_an_app_mid_deploy_stops_its_start() {
    let w = World::new().await;
    let (app, rev) = w.deploy("gone", &code("hi", "waits")).await;
    w.until_stage(&app, rev, Stage::Starting).await;
    w.platform.delete_app(&w.ada, "gone").await.unwrap();
    w.fake
        .until("the start is dropped", |r| r.starting.is_empty())
        .await;
    assert_eq!(w.fake.serving(&app), None);
    w.reconcile().await;
    assert_eq!(w.fake.starts_of(&app, rev), 1);
}

#[tokio::test(start_paused = true)]
async fn a_deploy_on_one_replica_is_watched_to_the_end_on_another() {
    let one = World::new().await;
    let other = one.restarted(); // another replica on the same store
    let (app, rev) = one.deploy("hello", &code("hi", "starts")).await;
    let (broken, bad) = one.deploy("broken", &code("hi", "exits")).await;
    // The other replica ran neither: it follows the store to the end.
    let events = other.events(&app, rev).await;
    assert_eq!(events, one.events(&app, rev).await);
    assert_eq!(stages(&events).last(), Some(&Stage::Ready));
    assert_eq!(stages(&events).first(), Some(&Stage::Validating));
    let failed = other.events(&broken, bad).await;
    let last = failed.last().unwrap();
    assert_eq!(last.stage, Stage::Failed);
    assert!(last.output_tail.contains("Traceback"), "{last:?}");
    let (_, status) = other.platform.app_status(&other.ada, &app).await.unwrap();
    assert_eq!(status, events);
}
