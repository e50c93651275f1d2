//! The event log of deploys: what each recent deploy reported, kept in memory
//! so that a late watcher first gets what happened so far, then the live
//! events until READY or FAILED. The stored status outlives it (see
//! `Platform::stored_event`).

use std::{collections::HashMap, sync::Mutex};

use futures::{Stream, StreamExt, stream};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::model::{AppId, DeployEvent};

/// How many revisions' events are kept per app.
const KEPT_REVISIONS: u32 = 5;

/// Live events a slow watcher may fall behind by before it skips some.
const LIVE_BUFFER: usize = 64;

/// The events of one deploy: those so far, then live ones until READY or FAILED.
pub type DeployWatch = std::pin::Pin<Box<dyn Stream<Item = DeployEvent> + Send>>;

#[derive(Default)]
pub(super) struct EventLog {
    tracks: Mutex<HashMap<(AppId, u32), Track>>,
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

    /// Starts a fresh record for a revision's deploy, forgetting the app's
    /// oldest ones.
    pub(super) fn begin(&self, app_id: &str, revision: u32) {
        let mut tracks = self.tracks();
        tracks.retain(|(a, r), _| a != app_id || r + KEPT_REVISIONS > revision);
        tracks.insert((app_id.to_string(), revision), Track::default());
    }

    pub(super) fn publish(&self, event: DeployEvent) {
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
