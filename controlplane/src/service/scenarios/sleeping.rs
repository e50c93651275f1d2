//! Sleep and wake: an idle app stops, its next request starts it again once,
//! and whatever users do to a sleeping app works as on an awake one.

use std::time::Duration;

use super::{SLEEP_AFTER, World, code};
use crate::store::Store;
use crate::{
    model::Stage,
    service::{Caller, RouteError},
};

impl World {
    /// Deploys `name` and waits for READY; returns its id.
    async fn running(&self, name: &str) -> String {
        let (app, rev) = self.deploy(name, &code("hi", "starts")).await;
        self.until_stage(&app, rev, Stage::Ready).await;
        app
    }

    /// Lets `idle` pass, then runs a pass of the reconciler (the sweep).
    async fn idle_for(&self, idle: Duration) {
        tokio::time::advance(idle).await;
        self.reconcile().await;
    }

    /// Puts the app to sleep the way an idle app goes to sleep.
    async fn asleep(&self, app: &str) {
        self.reconcile().await; // the sweep starts counting
        self.idle_for(SLEEP_AFTER + Duration::from_secs(1)).await;
        assert_eq!(self.fake.serving(app), None, "{app} sleeps");
    }

    async fn request(&self, app: &str) -> Result<std::path::PathBuf, RouteError> {
        let routed = self.platform.route(&self.ada.user_id, app).await?;
        match routed.upstream {
            crate::runtime::Upstream::Socket(path) => Ok(path),
            other => panic!("the fake runtime's apps are local: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_app_sleeps_and_its_next_request_wakes_it() {
    let w = World::new().await;
    let app = w.running("hello").await;
    w.reconcile().await;
    w.idle_for(SLEEP_AFTER - Duration::from_secs(1)).await;
    assert_eq!(w.fake.serving(&app), Some(1), "not idle long enough yet");

    w.idle_for(Duration::from_secs(2)).await;
    assert_eq!(w.fake.serving(&app), None, "idle: stopped");
    let view = w.platform.get_app(&w.ada, "hello").await.unwrap();
    assert_eq!(view.app.status, Stage::Sleeping, "every edge shows it");
    assert!(w.store.app_by_id(&app).await.unwrap().unwrap().sleeping);
    // Asleep, it is not restarted as if it had crashed.
    w.idle_for(Duration::from_secs(120)).await;
    assert_eq!(w.fake.starts_of(&app, 1), 1);

    let socket = w.request(&app).await.expect("the request wakes it");
    assert_eq!(socket, std::path::Path::new(&format!("/fake/{app}/1")));
    assert_eq!(w.fake.starts_of(&app, 1), 2);
    assert_eq!(w.app("hello").await.status, Stage::Ready);
    assert!(!w.store.app_by_id(&app).await.unwrap().unwrap().sleeping);
}

/// In the cluster shape requests bypass the control plane and reach it as
/// Traefik's counts; while those cannot be read, an app that looks idle may
/// be in use, so none sleeps, and its idle time starts over once they can.
#[tokio::test(start_paused = true)]
async fn no_app_sleeps_while_the_traffic_through_traefik_is_not_counted() {
    let w = World::new().await;
    let app = w.running("hello").await;
    w.reconcile().await;
    w.platform.traffic_counted(false);
    w.idle_for(SLEEP_AFTER * 3).await;
    assert_eq!(w.fake.serving(&app), Some(1), "it slept on unknown traffic");

    w.platform.traffic_counted(true);
    w.idle_for(SLEEP_AFTER - Duration::from_secs(1)).await;
    assert_eq!(w.fake.serving(&app), Some(1), "its idle time started over");
    w.idle_for(Duration::from_secs(2)).await;
    assert_eq!(w.fake.serving(&app), None, "counted and idle: asleep");

    // Counted traffic keeps it awake without passing the gateway.
    let woken = w.request(&app).await.expect("wakes");
    assert_eq!(woken, std::path::Path::new(&format!("/fake/{app}/1")));
    for _ in 0..3 {
        w.idle_for(SLEEP_AFTER - Duration::from_secs(1)).await;
        w.platform.note_traffic(&app).await;
    }
    w.reconcile().await;
    assert_eq!(
        w.fake.serving(&app),
        Some(1),
        "in use through Traefik, it slept"
    );
}

#[tokio::test(start_paused = true)]
async fn requests_keep_an_app_awake_and_one_in_flight_holds_it() {
    let w = World::new().await;
    let app = w.running("busy").await;
    w.reconcile().await;
    for _ in 0..4 {
        w.idle_for(SLEEP_AFTER / 2).await;
        w.request(&app).await.unwrap();
    }
    assert_eq!(w.fake.serving(&app), Some(1), "used every 7.5 minutes");

    // A long request (a WebSocket, say) keeps it awake however long it lasts.
    let held = w.platform.route(&w.ada.user_id, &app).await.unwrap();
    w.idle_for(SLEEP_AFTER * 3).await;
    assert_eq!(w.fake.serving(&app), Some(1));
    drop(held);
    w.idle_for(SLEEP_AFTER - Duration::from_secs(1)).await;
    assert_eq!(w.fake.serving(&app), Some(1), "idle time starts at its end");
    w.idle_for(Duration::from_secs(2)).await;
    assert_eq!(w.fake.serving(&app), None);
}

#[tokio::test(start_paused = true)]
async fn many_requests_at_once_wake_a_sleeping_app_once() {
    let w = World::new().await;
    let app = w.running("popular").await;
    w.asleep(&app).await;
    w.fake.delay_starts(Duration::from_secs(2));
    let requests = (0..50).map(|_| w.request(&app));
    let answers = futures::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
    assert_eq!(w.fake.starts_of(&app, 1), 2, "one deploy, one wake");
}

/// In the cluster a sleep is two patches; when the second fails the pod
/// still runs but the route leads to the activator. The wake must put the
/// route back (a deploy), not take the running pod for an awake app.
#[tokio::test(start_paused = true)]
async fn a_sleep_that_failed_halfway_is_undone_by_the_wake() {
    let w = World::new().await;
    let app = w.running("stuck").await;
    w.fake.break_stops();
    w.reconcile().await;
    w.idle_for(SLEEP_AFTER + Duration::from_secs(1)).await;
    assert_eq!(w.app("stuck").await.status, Stage::Sleeping);
    assert_eq!(w.fake.serving(&app), Some(1), "the stop failed halfway");

    assert!(w.request(&app).await.is_ok());
    assert_eq!(w.fake.starts_of(&app, 1), 2, "the wake deployed again");
    assert!(!w.store.app_by_id(&app).await.unwrap().unwrap().sleeping);
}

/// A delete that lands while a wake is starting the app finds nothing to
/// stop yet; what the wake started must not outlive the app.
#[tokio::test(start_paused = true)]
async fn an_app_deleted_while_it_wakes_does_not_run_on() {
    let w = World::new().await;
    let app = w.running("gone").await;
    w.asleep(&app).await;
    w.fake.delay_starts(Duration::from_secs(5));
    let request = {
        let (platform, user, app) = (w.platform.clone(), w.ada.user_id.clone(), app.clone());
        tokio::spawn(async move { platform.route(&user, &app).await.map(|_| ()) })
    };
    w.fake
        .until("the wake starts", |r| !r.starting.is_empty())
        .await;
    w.platform.delete_app(&w.ada, "gone").await.unwrap();
    let answer = request.await.unwrap();
    assert_eq!(answer, Err(RouteError::NotDeployed));
    // The wake task removes what it started once it sees the app gone.
    w.fake
        .until("nothing serves the deleted app", |r| {
            !r.serving.contains_key(&app)
        })
        .await;
    assert_eq!(w.fake.starts_of(&app, 1), 2, "the wake did start it");
}

/// Held requests are bounded per app, in number and in time: a flood on one
/// sleeping app cannot hold every connection the control plane has.
#[tokio::test(start_paused = true)]
async fn a_wake_holds_a_bounded_number_of_requests_for_a_bounded_time() {
    let w = World::new().await;
    let app = w.running("flooded").await;
    w.asleep(&app).await;
    w.fake.delay_starts(Duration::from_secs(30));
    let requests = (0..100).map(|_| w.request(&app));
    let answers = futures::future::join_all(requests).await;
    let served = answers.iter().filter(|a| a.is_ok()).count();
    let turned_away = answers
        .iter()
        .filter(|a| **a == Err(RouteError::Waking))
        .count();
    assert_eq!((served, turned_away), (64, 36), "{answers:?}");
    assert_eq!(w.fake.starts_of(&app, 1), 2, "still one wake");
    // Awake, nobody waits: every request is served.
    assert!(w.request(&app).await.is_ok());

    // A wake slower than a request may wait: the request gets `Waking`,
    // the wake goes on, and a later request finds the app running.
    w.asleep(&app).await;
    w.fake.delay_starts(Duration::from_secs(120));
    let started = tokio::time::Instant::now();
    assert_eq!(w.request(&app).await, Err(RouteError::Waking));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(100), "{waited:?}");
    w.fake
        .until("the wake went on", |r| r.serving.contains_key(&app))
        .await;
    assert!(w.request(&app).await.is_ok());
    assert_eq!(w.fake.starts_of(&app, 1), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_wake_names_the_app_and_is_not_retried_at_once() {
    let w = World::new().await;
    let app = w.running("fragile").await;
    w.asleep(&app).await;
    w.fake.break_starts(true);
    let Err(RouteError::WakeFailed { app: name, reason }) = w.request(&app).await else {
        panic!("the wake fails");
    };
    assert_eq!(name, "fragile");
    assert!(reason.contains("could not start"), "{reason}");
    // The next visitors get the same answer without another start.
    for _ in 0..10 {
        assert!(matches!(
            w.request(&app).await,
            Err(RouteError::WakeFailed { .. })
        ));
    }
    assert_eq!(w.fake.starts_of(&app, 1), 2);
    assert_eq!(w.app("fragile").await.status, Stage::Sleeping);
    // A while later, a request tries again.
    w.fake.break_starts(false);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert!(w.request(&app).await.is_ok());
    assert_eq!(w.fake.starts_of(&app, 1), 3);
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_app_can_be_deployed_rolled_back_and_deleted() {
    let w = World::new().await;
    let app = w.running("sleepy").await;
    w.asleep(&app).await;

    let (_, two) = w.deploy("sleepy", &code("two", "starts")).await;
    w.until_stage(&app, two, Stage::Ready).await;
    assert_eq!(w.app("sleepy").await.status, Stage::Ready);
    assert_eq!(w.fake.serving(&app), Some(2));
    let starts = w.fake.running().starts.len();
    assert!(w.request(&app).await.is_ok());
    assert_eq!(w.fake.running().starts.len(), starts, "no wake: it runs");

    w.asleep(&app).await;
    let (_, back) = w
        .platform
        .rollback_app(&w.ada, "sleepy", Some(1))
        .await
        .unwrap();
    w.until_stage(&app, back, Stage::Ready).await;
    assert_eq!(w.fake.serving(&app), Some(1));
    assert_eq!(w.app("sleepy").await.status, Stage::Ready);

    w.asleep(&app).await;
    w.platform.delete_app(&w.ada, "sleepy").await.unwrap();
    assert_eq!(w.request(&app).await, Err(RouteError::NotDeployed));
    assert!(w.store.app_by_id(&app).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn another_users_request_never_wakes_an_app() {
    let w = World::new().await;
    let app = w.running("mine").await;
    w.asleep(&app).await;
    let mallory = Caller {
        user_id: "u2mallory".into(),
        session_id: None,
    };
    let answer = w.platform.route(&mallory.user_id, &app).await;
    assert!(matches!(answer, Err(RouteError::NotDeployed)));
    assert_eq!(w.fake.starts_of(&app, 1), 1);
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_app_stays_asleep_across_a_restart_and_wakes_after_it() {
    let w = World::new().await;
    let app = w.running("napper").await;
    w.asleep(&app).await;
    let after = w.restarted();
    after.reconcile().await;
    assert_eq!(after.fake.running().starts, vec![], "nothing started");
    assert_eq!(after.app("napper").await.status, Stage::Sleeping);
    assert!(after.request(&app).await.is_ok());
    assert_eq!(after.fake.serving(&app), Some(1));
}

#[tokio::test(start_paused = true)]
async fn when_every_process_dies_at_once_the_apps_come_back() {
    let w = World::new().await;
    let one = w.running("one").await;
    let two = w.running("two").await;
    w.fake.crash_all(); // the fork server crashed and took its children
    w.reconcile().await;
    assert_eq!(
        (w.fake.serving(&one), w.fake.serving(&two)),
        (Some(1), Some(1))
    );
    assert_eq!(w.app("one").await.status, Stage::Ready);
    // A sleeping app is not among them: it waits for its next request.
    w.asleep(&one).await; // both sleep; a request wakes `two`
    w.request(&two).await.unwrap();
    w.fake.crash_all();
    w.reconcile().await;
    assert_eq!(
        (w.fake.serving(&one), w.fake.serving(&two)),
        (None, Some(1))
    );
}

/// The reconciler decides from the pass's snapshot of the store; a deploy
/// another replica began after it must stop the sleep (it would scale the
/// new rollout to zero).
#[tokio::test(start_paused = true)]
async fn an_app_does_not_sleep_when_another_replica_began_a_deploy_since_the_snapshot() {
    let w = World::new().await;
    let app = w.running("shared").await;
    w.reconcile().await;
    tokio::time::advance(SLEEP_AFTER * 2).await;
    let snapshot = w.store.app_by_id(&app).await.unwrap().unwrap();
    // The other replica's deploy, as the store shows it.
    w.store
        .set_status(&app, Stage::Starting, "starting the app", None)
        .await
        .unwrap();
    w.platform.sleep_if_idle(&snapshot).await;
    assert_eq!(w.fake.serving(&app), Some(1), "not stopped mid-deploy");
    assert!(!w.store.app_by_id(&app).await.unwrap().unwrap().sleeping);

    // With the deploy over, the same idle app sleeps.
    w.store
        .set_status(&app, Stage::Ready, "ready", Some(1))
        .await
        .unwrap();
    let snapshot = w.store.app_by_id(&app).await.unwrap().unwrap();
    w.platform.sleep_if_idle(&snapshot).await;
    assert_eq!(w.fake.serving(&app), None);
}

#[tokio::test(start_paused = true)]
async fn an_app_does_not_sleep_while_a_deploy_of_it_runs() {
    let w = World::new().await;
    let app = w.running("changing").await;
    w.reconcile().await;
    let (_, two) = w.deploy("changing", &code("two", "waits")).await;
    w.until_stage(&app, two, Stage::Starting).await;
    w.idle_for(SLEEP_AFTER * 2).await;
    assert_eq!(w.fake.serving(&app), Some(1), "the old revision serves on");
    assert!(!w.store.app_by_id(&app).await.unwrap().unwrap().sleeping);
    assert_ne!(w.app("changing").await.status, Stage::Sleeping);
}
