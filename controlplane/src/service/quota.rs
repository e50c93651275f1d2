//! Quotas of an account: apps per user, revisions kept per app. (Bytes per
//! upload are the code checker's limits; bytes per app are at most that times
//! the revisions kept.)

use super::Platform;
use crate::{
    error::{Error, Result},
    model::App,
};

impl Platform {
    fn app_quota_error(&self) -> Error {
        let max = self.settings.accounts.max_apps_per_user;
        Error::QuotaExceeded(format!(
            "you have {max} apps, the most this server allows per account; delete one with \
             `gofast delete APP` (or deploy to an existing app by its name) first"
        ))
    }

    /// Refuses a new app when the user has as many as allowed.
    pub(super) async fn check_app_quota(&self, user_id: &str) -> Result<()> {
        let max = u64::from(self.settings.accounts.max_apps_per_user);
        if self.store.count_apps(user_id).await? >= max {
            return Err(self.app_quota_error());
        }
        Ok(())
    }

    /// After a create: racing creates may have passed the check together;
    /// whoever finds the user over the quota takes their app back.
    pub(super) async fn enforce_app_quota(&self, user_id: &str, app_id: &str) -> Result<()> {
        let max = u64::from(self.settings.accounts.max_apps_per_user);
        if self.store.count_apps(user_id).await? > max {
            self.store.delete_app(app_id).await?;
            return Err(self.app_quota_error());
        }
        Ok(())
    }

    /// Deletes revisions past `--keep-revisions`; never the new desired one,
    /// the one it replaces (its deploy may still be running) or the one serving.
    /// A failure only delays pruning to the next deploy.
    pub(super) async fn prune_revisions(&self, app: &App, new_desired: u32) {
        let keep = self.settings.accounts.keep_revisions.max(1);
        let protect = [new_desired, app.revision, app.live_revision];
        match self.store.prune_revisions(&app.id, keep, &protect).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(app = %app.id, pruned = n, "pruned old revisions"),
            Err(e) => tracing::warn!(app = %app.id, error = %e, "could not prune old revisions"),
        }
    }
}
