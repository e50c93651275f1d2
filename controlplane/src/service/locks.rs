//! One deploy per app at a time, and the later deploy wins: a per-app lock
//! that deploys queue on, and a ticket per user deploy that a newer one
//! cancels.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio_util::sync::CancellationToken;

use crate::model::AppId;

#[derive(Default)]
pub(super) struct AppLocks {
    locks: Mutex<HashMap<AppId, Arc<tokio::sync::Mutex<()>>>>,
    /// The newest user deploy of each app, by ticket; a newer one cancels it.
    newest: Mutex<HashMap<AppId, (u64, CancellationToken)>>,
    tickets: AtomicU64,
}

/// A user deploy's claim to be the app's newest.
pub(super) struct Ticket {
    number: u64,
    pub(super) cancelled: CancellationToken,
}

impl Ticket {
    /// For deploys that nothing supersedes (the reconciler's).
    pub(super) fn unsupersedable() -> Self {
        Self {
            number: 0,
            cancelled: CancellationToken::new(),
        }
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppLocks {
    /// The lock that deploys of this app take in turn.
    pub(super) fn lock_for(&self, app_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        locked(&self.locks)
            .entry(app_id.to_string())
            .or_default()
            .clone()
    }

    /// Registers a deploy as the app's newest, cancelling an older one still
    /// waiting or running: the later deploy wins.
    pub(super) fn supersede(&self, app_id: &str) -> Ticket {
        let number = self.tickets.fetch_add(1, Ordering::Relaxed) + 1;
        let cancelled = CancellationToken::new();
        let older = locked(&self.newest).insert(app_id.to_string(), (number, cancelled.clone()));
        if let Some((_, older)) = older {
            older.cancel();
        }
        Ticket { number, cancelled }
    }

    /// Forgets a finished user deploy, unless a newer one replaced it.
    pub(super) fn finished(&self, app_id: &str, ticket: &Ticket) {
        let mut newest = locked(&self.newest);
        if newest.get(app_id).is_some_and(|(n, _)| *n == ticket.number) {
            newest.remove(app_id);
        }
    }

    /// True while a deploy of the app is waiting or running.
    pub(super) fn busy(&self, app_id: &str) -> bool {
        locked(&self.newest).contains_key(app_id) || self.lock_for(app_id).try_lock().is_err()
    }

    /// Cancels the app's deploy under way, if any, and forgets the app.
    pub(super) fn forget(&self, app_id: &str) {
        if let Some((_, deploy)) = locked(&self.newest).remove(app_id) {
            deploy.cancel();
        }
        locked(&self.locks).remove(app_id);
    }
}
