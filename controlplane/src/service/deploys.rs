//! Deploy orchestration and its event stream. Each app deploys one revision
//! at a time; events of recent revisions are kept in memory so that a late
//! watcher first gets what happened so far, then the live events.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{Stream, StreamExt, stream};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use super::{Caller, Platform};
use crate::{
    error::{Error, Result},
    model::{App, AppId, DeployEvent, Stage},
    runtime::{Progress, Target},
};

/// How many revisions' events are kept per app.
const KEPT_REVISIONS: u32 = 5;

#[derive(Default)]
pub(super) struct Deploys {
    tracks: Mutex<HashMap<(AppId, u32), Track>>,
    locks: Mutex<HashMap<AppId, Arc<tokio::sync::Mutex<()>>>>,
    /// The newest user deploy of each app, by ticket; a newer one cancels it.
    newest: Mutex<HashMap<AppId, (u64, CancellationToken)>>,
    tickets: std::sync::atomic::AtomicU64,
}

struct Track {
    events: Vec<DeployEvent>,
    live: broadcast::Sender<DeployEvent>,
}

/// The events of one deploy: those so far, then live ones until READY or FAILED.
pub type DeployWatch = std::pin::Pin<Box<dyn Stream<Item = DeployEvent> + Send>>;

impl Deploys {
    fn tracks(&self) -> std::sync::MutexGuard<'_, HashMap<(AppId, u32), Track>> {
        self.tracks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a fresh record for a revision's deploy.
    fn begin(&self, app_id: &str, revision: u32) {
        let mut tracks = self.tracks();
        tracks.retain(|(a, r), _| a != app_id || r + KEPT_REVISIONS > revision);
        tracks.insert(
            (app_id.to_string(), revision),
            Track {
                events: Vec::new(),
                live: broadcast::channel(64).0,
            },
        );
    }

    fn publish(&self, event: DeployEvent) {
        let mut tracks = self.tracks();
        let track = tracks
            .entry((event.app_id.clone(), event.revision))
            .or_insert_with(|| Track {
                events: Vec::new(),
                live: broadcast::channel(64).0,
            });
        track.events.push(event.clone());
        let _ = track.live.send(event);
    }

    pub(super) fn history(&self, app_id: &str, revision: u32) -> Option<Vec<DeployEvent>> {
        self.tracks()
            .get(&(app_id.to_string(), revision))
            .map(|t| t.events.clone())
    }

    /// History and a live receiver, taken under one lock so no event falls between.
    fn subscribe(
        &self,
        app_id: &str,
        revision: u32,
    ) -> Option<(Vec<DeployEvent>, broadcast::Receiver<DeployEvent>)> {
        self.tracks()
            .get(&(app_id.to_string(), revision))
            .map(|t| (t.events.clone(), t.live.subscribe()))
    }

    /// Registers a deploy as the app's newest, cancelling an older one still
    /// under way: the later deploy wins.
    fn supersede(&self, app_id: &str) -> (u64, CancellationToken) {
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let token = CancellationToken::new();
        let mut newest = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, older)) = newest.insert(app_id.to_string(), (ticket, token.clone())) {
            older.cancel();
        }
        (ticket, token)
    }

    pub(super) fn forget(&self, app_id: &str) {
        if let Some((_, t)) = self
            .newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app_id)
        {
            t.cancel();
        }
        self.tracks().retain(|(a, _), _| a != app_id);
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(app_id);
    }

    fn lock_for(&self, app_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(app_id.to_string()).or_default().clone()
    }

    /// Forgets a finished user deploy, unless a newer one replaced it.
    fn finished(&self, app_id: &str, ticket: u64) {
        let mut newest = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        if newest.get(app_id).is_some_and(|(t, _)| *t == ticket) {
            newest.remove(app_id);
        }
    }

    /// True while a deploy of the app is waiting or running.
    pub(super) fn busy(&self, app_id: &str) -> bool {
        let pending = self
            .newest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(app_id);
        pending || self.lock_for(app_id).try_lock().is_err()
    }
}

/// Forwards the runtime's stages to the event stream.
struct EventSink<'a> {
    platform: &'a Platform,
    app_id: &'a str,
    revision: u32,
}

impl Progress for EventSink<'_> {
    fn stage(&self, stage: Stage, message: &str) {
        self.platform.publish(
            self.app_id,
            self.revision,
            stage,
            message,
            String::new(),
            String::new(),
        );
    }
}

/// Why a deploy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// A user stored a new revision (or asked again for a failed one).
    NewRevision,
    /// The reconciler brings back an app that should be running.
    Converge,
}

impl Platform {
    fn publish(
        &self,
        app_id: &str,
        revision: u32,
        stage: Stage,
        message: &str,
        output_tail: String,
        url: String,
    ) {
        self.deploys.publish(DeployEvent {
            app_id: app_id.to_string(),
            revision,
            stage,
            message: message.to_string(),
            time: OffsetDateTime::now_utc(),
            output_tail,
            url,
        });
    }

    /// Records the first two stages of a just-stored revision and starts its rollout.
    pub(super) fn begin_deploy(
        self: &Arc<Self>,
        app: &App,
        revision: u32,
        validated_at: OffsetDateTime,
        validation: &str,
    ) {
        self.deploys.begin(&app.id, revision);
        self.deploys.publish(DeployEvent {
            app_id: app.id.clone(),
            revision,
            stage: Stage::Validating,
            message: validation.into(),
            time: validated_at,
            output_tail: String::new(),
            url: String::new(),
        });
        self.publish(
            &app.id,
            revision,
            Stage::Stored,
            &format!("stored revision {revision}"),
            String::new(),
            String::new(),
        );
        self.spawn_deploy(app.id.clone(), revision, Reason::NewRevision);
    }

    pub(super) fn spawn_deploy(
        self: &Arc<Self>,
        app_id: AppId,
        revision: u32,
        reason: Reason,
    ) -> tokio::task::JoinHandle<()> {
        // Only user deploys supersede; the reconciler never cancels one.
        let (ticket, cancel) = match reason {
            Reason::NewRevision => self.deploys.supersede(&app_id),
            Reason::Converge => (0, CancellationToken::new()),
        };
        let this = self.clone();
        let span = info_span!("deploy", app_id = %app_id, revision);
        tokio::spawn(
            async move {
                tokio::select! {
                    _ = this.run_deploy(&app_id, revision, reason) => {
                        this.deploys.finished(&app_id, ticket);
                    }
                    // Dropping the deploy stops whatever it had started.
                    _ = cancel.cancelled() => this.superseded(&app_id, revision).await,
                }
            }
            .instrument(span),
        )
    }

    async fn superseded(&self, app_id: &str, revision: u32) {
        let why = match self.store.app_by_id(app_id).await {
            Ok(Some(app)) if app.revision != revision => {
                format!("superseded by revision {}", app.revision)
            }
            Ok(None) => "the app was deleted".to_string(),
            _ => "superseded by a newer deploy".to_string(),
        };
        info!(%why, "deploy cancelled");
        self.publish(
            app_id,
            revision,
            Stage::Failed,
            &why,
            String::new(),
            String::new(),
        );
    }

    async fn run_deploy(&self, app_id: &str, revision: u32, reason: Reason) {
        let lock = self.deploys.lock_for(app_id);
        let _one_at_a_time = lock.lock().await;
        let app = match self.store.app_by_id(app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return, // deleted meanwhile
            Err(e) => {
                self.fail(
                    app_id,
                    revision,
                    &format!("could not read the app: {e}"),
                    String::new(),
                    true,
                )
                .await;
                return;
            }
        };
        if reason == Reason::NewRevision && app.revision != revision {
            let msg = format!("superseded by revision {}", app.revision);
            self.publish(
                app_id,
                revision,
                Stage::Failed,
                &msg,
                String::new(),
                String::new(),
            );
            return;
        }
        let is_desired = app.revision == revision;
        let files = match self.store.revision(app_id, revision).await {
            Ok(Some(rev)) => rev.files,
            Ok(None) => return,
            Err(e) => {
                self.fail(
                    app_id,
                    revision,
                    &format!("could not read the revision: {e}"),
                    String::new(),
                    is_desired,
                )
                .await;
                return;
            }
        };
        if reason == Reason::Converge {
            self.deploys.begin(app_id, revision);
        }
        let target = Target {
            app_id: app_id.to_string(),
            user_id: app.user_id.clone(),
            revision,
            files,
            root_path: Self::root_path(&app.user_id, app_id),
        };
        let sink = EventSink {
            platform: self,
            app_id,
            revision,
        };
        match self.runtime.deploy(&target, &sink).await {
            Ok(()) => {
                let url = self.app_url(&app.user_id, app_id);
                info!(%url, "ready");
                let status = if is_desired {
                    self.store
                        .set_status(app_id, Stage::Ready, "", Some(revision))
                        .await
                } else {
                    Ok(())
                };
                if let Err(e) = status {
                    warn!(error = %e, "could not record READY");
                }
                self.publish(
                    app_id,
                    revision,
                    Stage::Ready,
                    &format!("serving revision {revision}"),
                    String::new(),
                    url,
                );
                self.metrics.deploy_finished(true);
            }
            Err(failure) => {
                warn!(reason = %failure.reason, "deploy failed");
                self.fail(
                    app_id,
                    revision,
                    &failure.reason,
                    failure.output_tail,
                    is_desired,
                )
                .await;
            }
        }
    }

    async fn fail(&self, app_id: &str, revision: u32, reason: &str, tail: String, record: bool) {
        if record
            && let Err(e) = self
                .store
                .set_status(app_id, Stage::Failed, reason, None)
                .await
        {
            warn!(error = %e, "could not record FAILED");
        }
        self.publish(app_id, revision, Stage::Failed, reason, tail, String::new());
        self.metrics.deploy_finished(false);
    }

    /// The events of a deploy of the caller's app (revision 0: the current one).
    pub async fn watch_deployment(
        &self,
        caller: &Caller,
        app_ref: &str,
        revision: u32,
    ) -> Result<DeployWatch> {
        let app = self.find_app(caller, app_ref).await?;
        let revision = if revision == 0 {
            app.revision
        } else {
            revision
        };
        let Some((history, live)) = self.deploys.subscribe(&app.id, revision) else {
            if revision == app.revision {
                let event = self.stored_event(&app);
                return Ok(Box::pin(stream::iter([event])));
            }
            return Err(Error::NotFound(format!(
                "no deploy of revision {revision} of {:?} is known",
                app.name
            )));
        };
        let done = history.iter().any(|e| e.stage.is_terminal());
        let history = stream::iter(history);
        if done {
            return Ok(Box::pin(history));
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
        Ok(Box::pin(events))
    }
}
