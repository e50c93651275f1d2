//! Deploy orchestration: a stored revision is handed to the runtime, its
//! progress goes to the event log (`events`), one deploy per app runs at a
//! time and the later one wins (`locks`), and how it ended is stored.

use std::sync::Arc;

use futures::stream;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, info_span, warn};

use super::{Caller, Platform, events::DeployWatch, locks::Ticket};
use crate::{
    error::{Error, Result},
    model::{App, AppId, DeployEvent, Stage},
    runtime::{Progress, Target},
};

/// Forwards the runtime's stages to the event log.
struct EventSink<'a> {
    platform: &'a Platform,
    app_id: &'a str,
    revision: u32,
}

impl Progress for EventSink<'_> {
    fn stage(&self, stage: Stage, message: &str) {
        self.platform
            .publish(self.app_id, self.revision, stage, message);
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
    fn publish(&self, app_id: &str, revision: u32, stage: Stage, message: &str) {
        self.events.publish(event(app_id, revision, stage, message));
    }

    /// Records the first two stages of a just-stored revision and starts its rollout.
    pub(super) fn begin_deploy(
        self: &Arc<Self>,
        app: &App,
        revision: u32,
        validated_at: OffsetDateTime,
        validation: &str,
    ) {
        self.events.begin(&app.id, revision);
        self.events.publish(DeployEvent {
            time: validated_at,
            ..event(&app.id, revision, Stage::Validating, validation)
        });
        let stored = format!("stored revision {revision}");
        self.publish(&app.id, revision, Stage::Stored, &stored);
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
            Reason::Converge => Ticket::unsupersedable(),
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
        self.publish(app_id, revision, Stage::Failed, &why);
    }

    async fn run_deploy(&self, app_id: &str, revision: u32, reason: Reason) {
        let lock = self.locks.lock_for(app_id);
        let _one_at_a_time = lock.lock().await;
        let app = match self.store.app_by_id(app_id).await {
            Ok(Some(app)) => app,
            Ok(None) => return, // deleted meanwhile
            Err(e) => {
                let why = format!("could not read the app: {e}");
                self.fail(app_id, revision, &why, String::new(), true).await;
                return;
            }
        };
        if reason == Reason::NewRevision && app.revision != revision {
            let why = format!("superseded by revision {}", app.revision);
            self.publish(app_id, revision, Stage::Failed, &why);
            return;
        }
        let is_desired = app.revision == revision;
        let files = match self.store.revision(app_id, revision).await {
            Ok(Some(rev)) => rev.files,
            Ok(None) => return,
            Err(e) => {
                let why = format!("could not read the revision: {e}");
                self.fail(app_id, revision, &why, String::new(), is_desired)
                    .await;
                return;
            }
        };
        if reason == Reason::Converge {
            self.events.begin(app_id, revision);
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
            Ok(()) => self.ready(&app, revision, is_desired).await,
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

    async fn ready(&self, app: &App, revision: u32, record: bool) {
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
        let serving = format!("serving revision {revision}");
        self.events.publish(DeployEvent {
            url,
            ..event(&app.id, revision, Stage::Ready, &serving)
        });
        self.metrics.deploy_finished(true);
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
        self.events.publish(DeployEvent {
            output_tail: tail,
            ..event(app_id, revision, Stage::Failed, reason)
        });
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
        if let Some(watch) = self.events.watch(&app.id, revision) {
            return Ok(watch);
        }
        if revision == app.revision {
            // Not in memory (the control plane restarted): what the store says.
            return Ok(Box::pin(stream::iter([self.stored_event(&app)])));
        }
        Err(Error::NotFound(format!(
            "no deploy of revision {revision} of {:?} is known",
            app.name
        )))
    }
}
