//! The service layer: every rule of the platform lives here, once. gRPC
//! handlers and REST routes are thin adapters over `Platform`.

mod apps;
mod auth;
mod deploys;
mod events;
mod locks;
mod quota;
mod reconcile;
#[cfg(test)]
mod scenarios;

pub use apps::AppView;
pub use auth::AccountSettings;
pub use events::DeployWatch;

use std::{sync::Arc, time::Duration};

use crate::{auth::JwtKeys, metrics::Metrics, model::UserId, runtime::Runtime, store::Store};

/// Settings of the service layer, derived from `Config`.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// Where the outside world reaches apps (their own origin), without a trailing slash.
    pub apps_base: String,
    /// How often the reconciler compares runtimes with the store.
    pub reconcile_every: Duration,
    /// Apps without traffic for this long are deleted.
    pub idle_lifetime: Duration,
    /// Signups, login throttling and quotas.
    pub accounts: AccountSettings,
    /// The operator's policy for the code checker (`--validation`, `--allow-module`).
    pub validation: gofast_validate::Policy,
}

pub struct Platform {
    store: Arc<dyn Store>,
    runtime: Arc<dyn Runtime>,
    jwt: JwtKeys,
    accounts: auth::Accounts,
    events: events::EventLog,
    locks: locks::AppLocks,
    activity: apps::ActivityThrottle,
    checks: apps::CheckSlots,
    backoff: reconcile::Backoff,
    settings: PlatformSettings,
    pub metrics: Metrics,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    /// The login session of the token; `None` for an API token.
    pub session_id: Option<String>,
}

impl Platform {
    pub fn new(
        store: Arc<dyn Store>,
        runtime: Arc<dyn Runtime>,
        jwt: JwtKeys,
        settings: PlatformSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            runtime,
            jwt,
            accounts: auth::Accounts::new(&settings.accounts),
            events: Default::default(),
            locks: Default::default(),
            activity: Default::default(),
            checks: Default::default(),
            backoff: Default::default(),
            settings,
            metrics: Metrics::default(),
        })
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// `/user/{user_id}/app/{app_id}`: the prefix the gateway strips.
    pub fn root_path(user_id: &str, app_id: &str) -> String {
        format!("/user/{user_id}/app/{app_id}")
    }

    pub fn app_url(&self, user_id: &str, app_id: &str) -> String {
        format!(
            "{}{}/",
            self.settings.apps_base,
            Self::root_path(user_id, app_id)
        )
    }

    /// Stops every app; the store keeps them for the next start.
    pub async fn shutdown(&self) {
        self.runtime.shutdown().await;
    }
}
