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
pub(crate) mod scenarios;
mod sleep;

pub use apps::AppView;
pub use apps::RevisionView;
pub use auth::{AccountSettings, NOT_LOGGED_IN};
pub use events::DeployWatch;
pub use sleep::{InFlight, RouteError, Routed};

use std::{sync::Arc, time::Duration};

use crate::{
    auth::JwtKeys,
    metrics::Metrics,
    model::UserId,
    runtime::{IsolationReport, Runtime},
    store::Store,
};

/// Settings of the service layer, derived from `Config`.
#[derive(Debug, Clone)]
pub struct PlatformSettings {
    /// Where the outside world reaches apps (their own origin), without a trailing slash.
    pub apps_base: String,
    /// How often the reconciler compares runtimes with the store.
    pub reconcile_every: Duration,
    /// Apps without traffic for this long are deleted.
    pub idle_lifetime: Duration,
    /// Apps without a request for this long sleep, where the runtime lets
    /// them; `None`: they never do.
    pub sleep_after: Option<Duration>,
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
    sleepers: sleep::Sleepers,
    /// Names this replica in the claims of the deploys it runs.
    replica: String,
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
            sleepers: Default::default(),
            replica: format!("cp-{}", crate::ids::new_id(10)),
            settings,
            metrics: Metrics::default(),
        })
    }

    /// How many apps serve right now.
    pub async fn running_apps(&self) -> usize {
        self.runtime.running_apps().await
    }

    /// How apps are isolated here, for `/healthz`.
    pub fn isolation(&self) -> Option<IsolationReport> {
        self.runtime.isolation()
    }

    /// The metrics in the OpenMetrics text format.
    pub async fn render_metrics(&self) -> String {
        self.metrics.render(self.running_apps().await)
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
