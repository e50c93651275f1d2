//! The event log of deploys: what each recent deploy reported, so that a late
//! watcher first gets what happened so far, then the live events until READY
//! or FAILED.
//!
//! Two layers: every event goes to the store, where every control-plane
//! replica sees it; the replica that runs a deploy also keeps its events in
//! memory with a broadcast, so that its own watchers get them at once. A
//! watcher on another replica tails the store instead ([`tail`]): it polls
//! every [`TAIL_EVERY`], and while nothing new comes it checks that the
//! deploy's claim is alive (its owner renews it), so that it never waits
//! forever on a deploy that no one runs any more.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use futures::{Stream, StreamExt, stream};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::{
    model::{AppId, DeployEvent, Stage},
    store::{Store, StoredEvent},
};

/// How many revisions' events are kept per app.
pub(super) const KEPT_REVISIONS: u32 = 5;

/// How often a watcher on another replica reads the store for new events.
pub(super) const TAIL_EVERY: Duration = Duration::from_millis(200);

/// How often, while nothing new comes, that watcher checks the deploy's claim.
const CLAIM_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long that watcher waits without a sign of life (an event or a claim
/// whose deadline is ahead) before it gives up with a FAILED of its own: long
/// enough for a new Lease holder to be chosen and to finish the deploy.
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// Live events a slow watcher may fall behind by before it skips some.
const LIVE_BUFFER: usize = 64;

/// The events of one deploy: those so far, then live ones until READY or FAILED.
pub type DeployWatch = std::pin::Pin<Box<dyn Stream<Item = DeployEvent> + Send>>;

#[derive(Default)]
pub(super) struct EventLog {
    tracks: Mutex<HashMap<(AppId, u32), Track>>,
    /// The last `seq` given out.
    last_seq: AtomicI64,
}

struct Track {
    events: Vec<DeployEvent>,
    live: broadcast::Sender<DeployEvent>,
}

impl Default for Track {
    fn default() -> Self {
        Self {
            events: Vec::new(),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }
}

impl EventLog {
    fn tracks(&self) -> std::sync::MutexGuard<'_, HashMap<(AppId, u32), Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `seq` of a stored event: the time in nanoseconds, made
    /// strictly increasing here, so that events sort in the order this
    /// replica published them, and after those of a replica that ran the
    /// same deploy before (it stopped at least a claim's lifetime earlier).
    pub(super) fn next_seq(&self) -> i64 {
        let now = (OffsetDateTime::now_utc().unix_timestamp_nanos()) as i64;
        let mut last = self.last_seq.load(Ordering::Relaxed);
        loop {
            let seq = now.max(last + 1);
            match self
                .last_seq
                .compare_exchange(last, seq, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return seq,
                Err(actual) => last = actual,
            }
        }
    }

    /// Starts a fresh record for a revision's deploy (with the events it
    /// already had, when another replica began it), forgetting the app's
    /// oldest ones.
    pub(super) fn begin(&self, app_id: &str, revision: u32, so_far: Vec<DeployEvent>) {
        let mut tracks = self.tracks();
        tracks.retain(|(a, r), _| a != app_id || r + KEPT_REVISIONS > revision);
        let track = Track {
            events: so_far,
            ..Track::default()
        };
        tracks.insert((app_id.to_string(), revision), track);
    }

    pub(super) fn publish(&self, mut event: DeployEvent) {
        // Whole milliseconds, as the stores keep them: the same history here
        // as on the other replicas.
        let t = event.time;
        event.time = t
            .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
            .unwrap_or(t);
        let mut tracks = self.tracks();
        let track = tracks
            .entry((event.app_id.clone(), event.revision))
            .or_default();
        track.events.push(event.clone());
        let _ = track.live.send(event);
    }

    /// The events of a revision's deploy so far, if it is remembered.
    pub(super) fn history(&self, app_id: &str, revision: u32) -> Option<Vec<DeployEvent>> {
        self.tracks()
            .get(&(app_id.to_string(), revision))
            .map(|t| t.events.clone())
    }

    /// The events so far, then the live ones until the first READY or FAILED;
    /// `None` when the deploy is not remembered.
    pub(super) fn watch(&self, app_id: &str, revision: u32) -> Option<DeployWatch> {
        // History and receiver are taken under one lock, so no event falls between.
        let (history, live) = self
            .tracks()
            .get(&(app_id.to_string(), revision))
            .map(|t| (t.events.clone(), t.live.subscribe()))?;
        let done = history.iter().any(|e| e.stage.is_terminal());
        let history = stream::iter(history);
        if done {
            return Some(Box::pin(history));
        }
        let live = BroadcastStream::new(live).filter_map(|e| async move { e.ok() });
        // End right after the first terminal event, without waiting for another.
        let events = stream::unfold(
            (Box::pin(history.chain(live)), false),
            |(mut s, done)| async move {
                if done {
                    return None;
                }
                let event = s.next().await?;
                let done = event.stage.is_terminal();
                Some((event, (s, done)))
            },
        );
        Some(Box::pin(events))
    }

    pub(super) fn forget(&self, app_id: &str) {
        self.tracks().retain(|(a, _), _| a != app_id);
    }
}

/// Where a watcher on a replica that does not run the deploy is.
struct Tail {
    store: Arc<dyn Store>,
    app_id: AppId,
    revision: u32,
    sent: HashSet<i64>,
    pending: VecDeque<DeployEvent>,
    done: bool,
    /// The last sign that someone runs the deploy.
    alive_at: Instant,
    claim_checked_at: Instant,
}

impl Tail {
    /// Queues the events not sent yet, in the store's order.
    fn take(&mut self, events: Vec<StoredEvent>) {
        for e in events {
            if self.sent.insert(e.seq) {
                self.pending.push_back(e.event);
                self.alive_at = Instant::now();
            }
        }
    }

    /// True while the app exists and its deploy of this revision (or a
    /// newer one, which will end this one) is claimed by a live replica.
    async fn claimed(&self) -> bool {
        match self.store.deploy_claim(&self.app_id).await {
            Ok(Some(claim)) => {
                claim.revision >= self.revision && claim.deadline > OffsetDateTime::now_utc()
            }
            Ok(None) => false,
            // The store is down: that says nothing about the deploy.
            Err(_) => true,
        }
    }

    fn abandoned(&self) -> DeployEvent {
        DeployEvent {
            app_id: self.app_id.clone(),
            revision: self.revision,
            stage: Stage::Failed,
            message: format!(
                "no control plane has finished this deploy for {}s; run `gofast status` to see                  where it stands",
                GIVE_UP_AFTER.as_secs()
            ),
            time: OffsetDateTime::now_utc(),
            output_tail: String::new(),
            url: String::new(),
        }
    }

    async fn next(&mut self) -> Option<DeployEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.done = event.stage.is_terminal();
                return Some(event);
            }
            if self.done {
                return None;
            }
            tokio::time::sleep(TAIL_EVERY).await;
            if let Ok(events) = self.store.events(&self.app_id, self.revision).await {
                self.take(events);
            }
            if !self.pending.is_empty() || self.claim_checked_at.elapsed() < CLAIM_CHECK_EVERY {
                continue;
            }
            self.claim_checked_at = Instant::now();
            if self.claimed().await {
                self.alive_at = Instant::now();
            } else if matches!(self.store.app_by_id(&self.app_id).await, Ok(None)) {
                return None; // deleted meanwhile
            } else if self.alive_at.elapsed() > GIVE_UP_AFTER {
                self.pending.push_back(self.abandoned());
            }
        }
    }
}

/// The events of a deploy that another replica runs (or ran): `so_far`, then
/// whatever the store gets, until READY or FAILED.
pub(super) fn tail(
    store: Arc<dyn Store>,
    app_id: &str,
    revision: u32,
    so_far: Vec<StoredEvent>,
) -> DeployWatch {
    let mut tail = Tail {
        store,
        app_id: app_id.to_string(),
        revision,
        sent: HashSet::new(),
        pending: VecDeque::new(),
        done: false,
        alive_at: Instant::now(),
        claim_checked_at: Instant::now(),
    };
    tail.take(so_far);
    Box::pin(stream::unfold(tail, |mut t| async move {
        let event = t.next().await?;
        Some((event, t))
    }))
}
