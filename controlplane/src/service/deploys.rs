//! Deploy orchestration: a stored revision is handed to the runtime, its
//! progress goes to the event log (`events`, in memory and in the store), one
//! deploy per app runs at a time and the later one wins (`locks`), and how it
//! ended is stored.
//!
//! Across replicas: the replica that runs a deploy claims it in the store and
//! renews the claim while it works ([`CLAIM_FOR`], every [`HEARTBEAT_EVERY`]).
//! A deploy whose claim lapsed without READY or FAILED lost its replica; the
//! reconciler (the Lease holder) finishes it (`Reason::Finish`).

use std::{sync::Arc, time::Duration};

use futures::stream;
use time::OffsetDateTime;
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{Instrument, info, info_span, warn};

use super::{
    Caller, Platform,
    events::{self, DeployWatch, KEPT_REVISIONS},
    locks::Ticket,
};
use crate::{
    error::{Error, Result},
    model::{App, AppId, DeployEvent, Stage},
    runtime::{Progress, Target},
    store::{DeployClaim, StoredEvent},
};

/// How often the replica running a deploy renews its claim.
pub(super) const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);
/// How far ahead each renewal sets the claim's deadline: a few missed
/// heartbeats (a slow store) do not make a live deploy look abandoned.
pub(super) const CLAIM_FOR: Duration = Duration::from_secs(10);

/// Forwards the runtime's stages to the event log: at once to this replica's
/// watchers, and through `to_store` (written in order by the deploy's task)
/// to the others.
struct EventSink<'a> {
    platform: &'a Platform,
    app_id: &'a str,
    revision: u32,
    /// `None` for a restart by the reconciler (see `Platform::publish_as`).
    to_store: Option<mpsc::UnboundedSender<StoredEvent>>,
}

impl Progress for EventSink<'_> {
    fn stage(&self, stage: Stage, message: &str) {
        let event = event(self.app_id, self.revision, stage, message);
        let stored = StoredEvent {
            seq: self.platform.events.next_seq(),
            event: event.clone(),
        };
        self.platform.events.publish(event);
        if let Some(to_store) = &self.to_store {
            let _ = to_store.send(stored);
        }
    }
}

/// Why a deploy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// A user stored a new revision (or asked again for a failed one).
    NewRevision,
    /// The reconciler brings back an app that should be running.
    Converge,
    /// The reconciler finishes a deploy whose replica stopped mid-way; its
    /// events so far are kept.
    Finish,
}

/// An event of now, without output or URL.
fn event(app_id: &str, revision: u32, stage: Stage, message: &str) -> DeployEvent {
    DeployEvent {
        app_id: app_id.to_string(),
        revision,
        stage,
        message: message.to_string(),
        time: OffsetDateTime::now_utc(),
        output_tail: String::new(),
        url: String::new(),
    }
}

impl Platform {
    /// Publishes an event to the store first, then to this replica's
    /// watchers: whoever sees it here finds it on every replica.
    async fn publish(&self, event: DeployEvent) {
        self.publish_as(event, true).await;
    }

    /// `shared: false` for the events of a restart by the reconciler: they
    /// stay on this replica (as its runtime's state may: the local runtime
    /// runs apps per replica), so that they never replace the stored history
    /// of the user's deploy under a watcher.
    async fn publish_as(&self, event: DeployEvent, shared: bool) {
        if !shared {
            self.events.publish(event);
            return;
        }
        self.store_event(StoredEvent {
            seq: self.events.next_seq(),
            event: event.clone(),
        })
        .await;
        self.events.publish(event);
    }

    async fn store_event(&self, event: StoredEvent) {
        if let Err(e) = self.store.append_event(&event).await {
            warn!(error = %e, stage = ?event.event.stage, "could not store a deploy event");
        }
    }

    /// Claims (or keeps claiming) the app's deploy for this replica.
    async fn claim(&self, app_id: &str, revision: u32) {
        let claim = DeployClaim {
            app_id: app_id.to_string(),
            revision,
            owner: self.replica.clone(),
            deadline: OffsetDateTime::now_utc() + CLAIM_FOR,
        };
        if let Err(e) = self.store.claim_deploy(&claim).await {
            warn!(error = %e, "could not renew the claim on a deploy");
        }
    }

    /// Records the first two stages of a just-stored revision and starts its rollout.
    pub(super) async fn begin_deploy(
        self: &Arc<Self>,
        app: &App,
        revision: u32,
        validated_at: OffsetDateTime,
        validation: &str,
    ) {
        self.events.begin(&app.id, revision, Vec::new());
        // The store keeps the last few revisions' events, and none of an
        // earlier deploy of this one (a rollback deploys it again).
        let oldest_kept = (revision + 1).saturating_sub(KEPT_REVISIONS);
        for range in [0..oldest_kept, revision..revision + 1] {
            if let Err(e) = self.store.delete_events(&app.id, range).await {
                warn!(error = %e, "could not trim the stored deploy events");
            }
        }
        self.claim(&app.id, revision).await;
        self.publish(DeployEvent {
            time: validated_at,
            ..event(&app.id, revision, Stage::Validating, validation)
        })
        .await;
        let stored = format!("stored revision {revision}");
        self.publish(event(&app.id, revision, Stage::Stored, &stored))
            .await;
        self.spawn_deploy(app.id.clone(), revision, Reason::NewRevision);
    }

    pub(super) fn spawn_deploy(
        self: &Arc<Self>,
        app_id: AppId,
        revision: u32,
        reason: Reason,
    ) -> JoinHandle<()> {
        // Only user deploys supersede; the reconciler never cancels one.
        let ticket = match reason {
            Reason::NewRevision => self.locks.supersede(&app_id),
            Reason::Converge | Reason::Finish => Ticket::unsupersedable(),
        };
        let this = self.clone();
        let span = info_span!("deploy", app_id = %app_id, revision);
        tokio::spawn(
            async move {
                tokio::select! {
                    _ = this.run_deploy(&app_id, revision, reason) => {
                        this.locks.finished(&app_id, &ticket);
                    }
                    // Dropping the deploy stops whatever it had started.
                    _ = ticket.cancelled.cancelled() => this.superseded(&app_id, revision).await,
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
        self.publish(event(app_id, revision, Stage::Failed, &why))
            .await;
    }

    async fn run_deploy(&self, app_id: &str, revision: u32, reason: Reason) {
        let lock = self.locks.lock_for(app_id);
        let _one_at_a_time = lock.lock().await;
        let app = match self.store.app_by_id(app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return, // deleted meanwhile
            Err(e) => {
                let why = format!("could not read the app: {e}");
                let shared = reason != Reason::Converge;
                self.fail(app_id, revision, &why, String::new(), true, shared)
                    .await;
                return;
            }
        };
        if reason == Reason::NewRevision && app.revision != revision {
            let why = format!("superseded by revision {}", app.revision);
            self.publish(event(app_id, revision, Stage::Failed, &why))
                .await;
            return;
        }
        let is_desired = app.revision == revision;
        let files = match self.store.revision(app_id, revision).await {
            Ok(Some(rev)) => rev.files,
            Ok(None) => return,
            Err(e) => {
                let why = format!("could not read the revision: {e}");
                let shared = reason != Reason::Converge;
                self.fail(app_id, revision, &why, String::new(), is_desired, shared)
                    .await;
                return;
            }
        };
        match reason {
            Reason::NewRevision => {}
            Reason::Converge => self.events.begin(app_id, revision, Vec::new()),
            Reason::Finish => {
                let so_far = self
                    .store
                    .events(app_id, revision)
                    .await
                    .unwrap_or_default();
                let so_far = so_far.into_iter().map(|e| e.event).collect();
                self.events.begin(app_id, revision, so_far);
                let why = "the control plane that ran this deploy stopped; finishing it here";
                self.publish(event(app_id, revision, Stage::Applying, why))
                    .await;
            }
        }
        let target = Target {
            app_id: app_id.to_string(),
            user_id: app.user_id.clone(),
            revision,
            files,
            root_path: Self::root_path(&app.user_id, app_id),
        };
        let shared = reason != Reason::Converge;
        let (to_store, mut stored) = mpsc::unbounded_channel();
        let sink = EventSink {
            platform: self,
            app_id,
            revision,
            to_store: shared.then_some(to_store),
        };
        // The runtime works; meanwhile this task writes its events to the
        // store, in order, and renews the claim.
        if shared {
            self.claim(app_id, revision).await;
        }
        let deploy = self.runtime.deploy(&target, &sink);
        tokio::pin!(deploy);
        let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
        heartbeat.reset();
        let outcome = loop {
            tokio::select! {
                biased;
                outcome = &mut deploy => break outcome,
                Some(e) = stored.recv() => self.store_event(e).await,
                _ = heartbeat.tick(), if shared => self.claim(app_id, revision).await,
            }
        };
        // The runtime reports synchronously: all its events are queued by now.
        while let Ok(e) = stored.try_recv() {
            self.store_event(e).await;
        }
        match outcome {
            Ok(()) => self.ready(&app, revision, is_desired, shared).await,
            Err(failure) => {
                warn!(reason = %failure.reason, "deploy failed");
                self.fail(
                    app_id,
                    revision,
                    &failure.reason,
                    failure.output_tail,
                    is_desired,
                    shared,
                )
                .await;
            }
        }
    }

    async fn ready(&self, app: &App, revision: u32, record: bool, shared: bool) {
        let url = self.app_url(&app.user_id, &app.id);
        info!(%url, "ready");
        if record
            && let Err(e) = self
                .store
                .set_status(&app.id, Stage::Ready, "", Some(revision))
                .await
        {
            warn!(error = %e, "could not record READY");
        }
        // It serves now, whether it slept before or not.
        self.sleepers.awake(&app.id, &app.user_id);
        if app.sleeping
            && let Err(e) = self.store.set_sleeping(&app.id, false).await
        {
            warn!(error = %e, "could not record the wake");
        }
        let serving = format!("serving revision {revision}");
        self.publish_as(
            DeployEvent {
                url,
                ..event(&app.id, revision, Stage::Ready, &serving)
            },
            shared,
        )
        .await;
        self.metrics.deploy_finished(true);
    }

    async fn fail(
        &self,
        app_id: &str,
        revision: u32,
        reason: &str,
        tail: String,
        record: bool,
        shared: bool,
    ) {
        if record
            && let Err(e) = self
                .store
                .set_status(app_id, Stage::Failed, reason, None)
                .await
        {
            warn!(error = %e, "could not record FAILED");
        }
        self.publish_as(
            DeployEvent {
                output_tail: tail,
                ..event(app_id, revision, Stage::Failed, reason)
            },
            shared,
        )
        .await;
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
        // This replica runs (or ran) it: its events at once.
        if let Some(watch) = self.events.watch(&app.id, revision) {
            return Ok(watch);
        }
        // Another replica runs (or ran) it: what the store has, then more.
        let so_far = self.store.events(&app.id, revision).await?;
        let underway = revision == app.revision && !app.status.is_terminal();
        if !so_far.is_empty() || underway {
            return Ok(events::tail(self.store.clone(), &app.id, revision, so_far));
        }
        if revision == app.revision {
            // No events kept (they predate this version): what the app says.
            return Ok(Box::pin(stream::iter([self.stored_event(&app)])));
        }
        Err(Error::NotFound(format!(
            "no deploy of revision {revision} of {:?} is known",
            app.name
        )))
    }
}
