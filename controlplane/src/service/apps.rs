//! Apps: create, update, read, delete. Code is validated before anything is
//! stored; a stored revision is handed to the deploy machinery.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use tokio::sync::Semaphore;

use gofast_validate::{
    Diagnostic, Limits, Policy, SourceFile, is_deployable, validate_with_policy,
};
use time::OffsetDateTime;

use super::{Caller, Platform};
use crate::{
    error::{Error, Result},
    ids,
    model::{App, AppFile, DeployEvent, Stage, files_sha256},
};

/// An app as callers see it: the stored app and its public URL.
#[derive(Debug, Clone)]
pub struct AppView {
    pub app: App,
    pub url: String,
}

/// Limits how often gateway traffic writes `last_activity_at` to the store.
#[derive(Default)]
pub(super) struct ActivityThrottle(Mutex<HashMap<String, Instant>>);

const ACTIVITY_WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

const MAX_NAME_LEN: usize = 40;

/// App names become part of commands and listings: keep them simple.
pub fn check_app_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{name:?} is not a valid app name: use 1 to {MAX_NAME_LEN} lowercase letters, digits \
             and dashes, starting with a letter (for example \"hello-api\")"
        )))
    }
}

/// What the validator says of these files, under the operator's policy.
fn diagnose(policy: &Policy, files: &[AppFile]) -> Vec<Diagnostic> {
    let sources: Vec<SourceFile<'_>> = files
        .iter()
        .map(|f| SourceFile {
            name: &f.name,
            content: f.content.as_bytes(),
        })
        .collect();
    validate_with_policy(&sources, &Limits::DEFAULT, policy)
}

/// Refuses code with errors; otherwise returns the message of the deploy's
/// VALIDATING event, which names what advisory mode let through.
fn verdict(diagnostics: Vec<Diagnostic>) -> Result<String> {
    if !is_deployable(&diagnostics) {
        return Err(Error::InvalidCode(diagnostics));
    }
    Ok(validating_message(&diagnostics))
}

/// Bounds the code checks running at once. A check is CPU work (up to about
/// a second for the largest allowed app), so it runs on a blocking thread,
/// never on the async workers that serve /healthz and the gateway; and a
/// flood of checks queues here instead of taking every core.
pub(super) struct CheckSlots {
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Checks waiting for a slot beyond which new ones are turned away.
const MAX_WAITING_CHECKS: usize = 256;

impl Default for CheckSlots {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            running: Arc::new(Semaphore::new(cpus)),
            waiting: AtomicUsize::new(0),
        }
    }
}

/// Decrements the waiting count however the wait ends (a dropped request too).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Most findings named in a VALIDATING event; the rest are counted.
const NAMED_FINDINGS: usize = 5;

fn validating_message(diagnostics: &[Diagnostic]) -> String {
    if diagnostics.is_empty() {
        return "code checked".into();
    }
    let named: Vec<String> = diagnostics
        .iter()
        .take(NAMED_FINDINGS)
        .map(|d| {
            let place = match (d.file.as_str(), d.line) {
                ("", _) => "app".to_string(),
                (file, 0) => file.to_string(),
                (file, line) => format!("{file}:{line}:{}", d.column),
            };
            format!("{place} {} {}", d.code, d.message)
        })
        .collect();
    let more = diagnostics.len().saturating_sub(NAMED_FINDINGS);
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!(
        "code checked with {} warning(s): {}{more}",
        diagnostics.len(),
        named.join("; ")
    )
}

impl Platform {
    /// What the validator says of these files, on a blocking thread and at
    /// most one check per core at a time. The files are handed back.
    async fn diagnose(&self, files: Vec<AppFile>) -> Result<(Vec<AppFile>, Vec<Diagnostic>)> {
        let slots = &self.checks;
        let waiting = Waiting(&slots.waiting);
        if slots.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING_CHECKS {
            return Err(Error::TooManyRequests {
                message: "the code checker is busy; try again in a moment".into(),
                retry_after: std::time::Duration::from_secs(1),
            });
        }
        let permit = slots
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("the platform is shutting down".into()))?;
        drop(waiting);
        let policy = self.settings.validation.clone();
        // The permit moves into the task: if the caller goes away, the check
        // still holds its slot until it is done.
        tokio::task::spawn_blocking(move || {
            let diagnostics = diagnose(&policy, &files);
            drop(permit);
            (files, diagnostics)
        })
        .await
        .map_err(|e| Error::Internal(format!("the code check did not finish: {e}")))
    }

    /// Checks files before they are stored: refused code is an error;
    /// otherwise the files come back with the VALIDATING event's message.
    async fn check_files(&self, files: Vec<AppFile>) -> Result<(Vec<AppFile>, String)> {
        let (files, diagnostics) = self.diagnose(files).await?;
        Ok((files, verdict(diagnostics)?))
    }

    fn view(&self, mut app: App) -> AppView {
        let url = self.app_url(&app.user_id, &app.id);
        // Every edge shows SLEEPING where the store says READY and asleep.
        app.status = app.shown_status();
        AppView { app, url }
    }

    /// The caller's app by id or name; another user's app is "not found" too.
    pub(super) async fn find_app(&self, caller: &Caller, app: &str) -> Result<App> {
        self.store
            .find_app(&caller.user_id, app.trim())
            .await?
            .ok_or_else(|| Error::NoSuchApp(app.trim().to_string()))
    }

    pub async fn create_app(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        name: &str,
        files: Vec<AppFile>,
    ) -> Result<(AppView, u32)> {
        let validating = OffsetDateTime::now_utc();
        check_app_name(name)?;
        let (files, checked) = self.check_files(files).await?;
        self.check_app_quota(&caller.user_id).await?;
        let now = OffsetDateTime::now_utc();
        let app = App {
            id: ids::app_id(),
            user_id: caller.user_id.clone(),
            name: name.to_string(),
            revision: 1,
            live_revision: 0,
            status: Stage::Stored,
            status_message: String::new(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            sleeping: false,
        };
        let rev = self
            .store
            .create_app(&app, &files, &files_sha256(&files))
            .await
            .map_err(|e| match Error::from(e) {
                Error::AlreadyExists(_) => Error::AlreadyExists(format!(
                    "you already have an app named {name:?}; deploy to it to update it"
                )),
                other => other,
            })?;
        self.enforce_app_quota(&caller.user_id, &app.id).await?;
        self.begin_deploy(&app, rev.number, validating, &checked)
            .await;
        Ok((self.view(app), rev.number))
    }

    /// Stores a new revision unless the code is unchanged, and deploys it.
    pub async fn update_app(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        app_ref: &str,
        files: Vec<AppFile>,
    ) -> Result<(AppView, u32)> {
        let validating = OffsetDateTime::now_utc();
        let mut app = self.find_app(caller, app_ref).await?;
        let (files, checked) = self.check_files(files).await?;
        let sha = files_sha256(&files);
        let current = self.store.revision(&app.id, app.revision).await?;
        if current.is_some_and(|r| r.sha256 == sha) && app.status != Stage::Failed {
            return Ok((self.view(app.clone()), app.revision));
        }
        let rev = self
            .store
            .add_revision(&app.id, &files, &sha, &caller.user_id)
            .await?;
        self.prune_revisions(&app, rev.number).await;
        self.store
            .set_status(&app.id, Stage::Stored, "", None)
            .await?;
        self.store
            .touch_activity(&app.id, OffsetDateTime::now_utc())
            .await?;
        app.revision = rev.number;
        app.status = Stage::Stored;
        app.status_message.clear();
        self.begin_deploy(&app, rev.number, validating, &checked)
            .await;
        Ok((self.view(app), rev.number))
    }

    pub async fn get_app(&self, caller: &Caller, app_ref: &str) -> Result<AppView> {
        Ok(self.view(self.find_app(caller, app_ref).await?))
    }

    pub async fn list_apps(&self, caller: &Caller) -> Result<Vec<AppView>> {
        let apps = self.store.list_apps(&caller.user_id).await?;
        Ok(apps.into_iter().map(|a| self.view(a)).collect())
    }

    /// Deletes the app; its URL answers 404 afterwards.
    pub async fn delete_app(&self, caller: &Caller, app_ref: &str) -> Result<()> {
        let app = self.find_app(caller, app_ref).await?;
        self.delete_app_by_id(&app.id).await
    }

    pub(super) async fn delete_app_by_id(&self, app_id: &str) -> Result<()> {
        self.store.delete_app(app_id).await?;
        self.locks.forget(app_id);
        self.events.forget(app_id);
        self.sleepers.forget(app_id);
        self.runtime
            .remove(app_id)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    /// The app and the events of its latest deploy.
    pub async fn app_status(
        &self,
        caller: &Caller,
        app_ref: &str,
    ) -> Result<(AppView, Vec<DeployEvent>)> {
        let app = self.find_app(caller, app_ref).await?;
        // The store first: it has the events whichever replica ran the deploy.
        let stored = match self.store.events(&app.id, app.revision).await {
            Ok(events) => events.into_iter().map(|e| e.event).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the stored deploy events");
                Vec::new()
            }
        };
        let events = if stored.is_empty() {
            self.events
                .history(&app.id, app.revision)
                .unwrap_or_else(|| vec![self.stored_event(&app)])
        } else {
            stored
        };
        Ok((self.view(app), events))
    }

    /// The last known state of an app's deploy, when no events are in memory
    /// (after a restart of the control plane).
    pub(super) fn stored_event(&self, app: &App) -> DeployEvent {
        DeployEvent {
            app_id: app.id.clone(),
            revision: app.revision,
            stage: app.status,
            message: app.status_message.clone(),
            time: app.updated_at,
            output_tail: String::new(),
            url: if app.status == Stage::Ready {
                self.app_url(&app.user_id, &app.id)
            } else {
                String::new()
            },
        }
    }

    /// Makes an earlier revision the desired one and deploys it; without
    /// `to`, the revision before the current one.
    pub async fn rollback_app(
        self: &std::sync::Arc<Self>,
        caller: &Caller,
        app_ref: &str,
        to: Option<u32>,
    ) -> Result<(AppView, u32)> {
        let mut app = self.find_app(caller, app_ref).await?;
        let to = match to {
            Some(n) => n,
            None if app.revision > 1 => app.revision - 1,
            None => {
                return Err(Error::FailedPrecondition(format!(
                    "{:?} has only one revision; there is nothing to roll back to",
                    app.name
                )));
            }
        };
        if self.store.revision(&app.id, to).await?.is_none() {
            return Err(Error::NotFound(format!(
                "{:?} has no revision {to}: it is at revision {}, and only the last {} are kept",
                app.name, app.revision, self.settings.accounts.keep_revisions
            )));
        }
        self.store.set_desired_revision(&app.id, to).await?;
        self.store
            .set_status(&app.id, Stage::Stored, "", None)
            .await?;
        app.revision = to;
        app.status = Stage::Stored;
        app.status_message.clear();
        self.begin_deploy(&app, to, OffsetDateTime::now_utc(), "code checked")
            .await;
        Ok((self.view(app), to))
    }

    /// The app's output; see `Runtime::logs`.
    pub async fn stream_logs(
        &self,
        caller: &Caller,
        app_ref: &str,
        tail: usize,
        follow: bool,
    ) -> Result<crate::runtime::LogStream> {
        let app = self.find_app(caller, app_ref).await?;
        Ok(self.runtime.logs(&app.id, tail, follow).await)
    }

    /// Checks code without storing it, for editors. Only for signed-in
    /// callers: each check costs CPU time.
    pub async fn validate_code(
        &self,
        _caller: &Caller,
        files: Vec<AppFile>,
    ) -> Result<Vec<Diagnostic>> {
        Ok(self.diagnose(files).await?.1)
    }

    /// Notes traffic to an app, so that it is not cleaned up as idle.
    pub async fn record_activity(&self, app_id: &str) -> Result<()> {
        {
            let mut last = self.activity.0.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if last
                .get(app_id)
                .is_some_and(|t| now.duration_since(*t) < ACTIVITY_WRITE_EVERY)
            {
                return Ok(());
            }
            last.insert(app_id.to_string(), now);
        }
        Ok(self
            .store
            .touch_activity(app_id, OffsetDateTime::now_utc())
            .await?)
    }

    /// Records activity on the caller's app (the REST endpoint).
    pub async fn touch_app(&self, caller: &Caller, app_ref: &str) -> Result<()> {
        let app = self.find_app(caller, app_ref).await?;
        Ok(self
            .store
            .touch_activity(&app.id, OffsetDateTime::now_utc())
            .await?)
    }
}

/// A stored revision as its app's owner sees it: the code, and what the app
/// does with it now.
#[derive(Debug, Clone)]
pub struct RevisionView {
    pub revision: crate::model::Revision,
    /// The app's desired revision (what the latest deploy or rollback asked for).
    pub current: bool,
    /// The revision that last became READY: what serves while a newer one fails.
    pub live: bool,
}

impl RevisionView {
    fn of(app: &App, revision: crate::model::Revision) -> Self {
        RevisionView {
            current: revision.number == app.revision,
            live: revision.number == app.live_revision,
            revision,
        }
    }
}

impl Platform {
    /// The app's stored revisions, newest first, files included (the edges
    /// keep what they show).
    pub async fn list_revisions(
        &self,
        caller: &Caller,
        app_ref: &str,
    ) -> Result<Vec<RevisionView>> {
        let app = self.find_app(caller, app_ref).await?;
        let revisions = self.store.revisions(&app.id).await?;
        Ok(revisions
            .into_iter()
            .map(|r| RevisionView::of(&app, r))
            .collect())
    }

    /// One revision of the app with its files; without `number`, the
    /// current one. A pruned revision is "not found", saying which are kept.
    pub async fn get_revision(
        &self,
        caller: &Caller,
        app_ref: &str,
        number: Option<u32>,
    ) -> Result<RevisionView> {
        let app = self.find_app(caller, app_ref).await?;
        let number = number.unwrap_or(app.revision);
        let found = match number {
            0 => None,
            n => self.store.revision(&app.id, n).await?,
        };
        let revision = found.ok_or_else(|| {
            Error::NotFound(format!(
                "{:?} has no revision {number}: it is at revision {}, and only the last {} are \
                 kept (list them with `gofast revisions {}`)",
                app.name, app.revision, self.settings.accounts.keep_revisions, app.name
            ))
        })?;
        Ok(RevisionView::of(&app, revision))
    }
}

#[cfg(test)]
mod tests {
    use super::check_app_name;

    #[test]
    fn app_names() {
        for ok in ["hello", "a", "hello-api-2"] {
            assert!(check_app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Hello",
            "2fast",
            "hello_api",
            "hello-",
            "a b",
            &"a".repeat(41),
        ] {
            assert!(check_app_name(bad).is_err(), "{bad}");
        }
    }
}
