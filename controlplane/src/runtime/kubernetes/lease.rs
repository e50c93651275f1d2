//! One reconciler at a time across control-plane replicas: whoever holds the
//! `coordination.k8s.io` Lease reconciles; the others wait for it to expire.

use std::{sync::Mutex, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::time::Instant;

pub const LEASE_NAME: &str = "gofast-reconciler";
const LEASE_SECONDS: i32 = 15;
/// How long after a renewal its holder may act without renewing again; the
/// rest of `LEASE_SECONDS` is margin for the API's delay and the clocks.
const ACT_WITHIN: Duration = Duration::from_secs(10);

pub struct LeaseLock {
    api: Api<Lease>,
    identity: String,
    renewed: Renewal,
}

/// When we last renewed the lease, if we hold it.
#[derive(Default)]
struct Renewal(Mutex<Option<Instant>>);

impl Renewal {
    fn record(&self, held_since: Option<Instant>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = held_since;
    }

    fn fresh(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at.elapsed() < ACT_WITHIN)
    }
}

impl LeaseLock {
    pub fn new(client: Client, namespace: &str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            identity,
            renewed: Renewal::default(),
        }
    }

    /// Takes or renews the lease; true while we hold it.
    pub async fn try_acquire(&self) -> bool {
        // Timed from before the request: the lease may be that old when it lands.
        let asked = Instant::now();
        let held = self.acquire().await;
        self.renewed.record(held.then_some(asked));
        held
    }

    /// True when we hold the lease for sure right now: renewed lately, or
    /// renewed now. A reconcile pass can outlast the lease; whatever another
    /// replica would also do (sleep an app) asks this first.
    pub async fn still_held(&self) -> bool {
        self.renewed.fresh() || self.try_acquire().await
    }

    /// Conflicting writes fail on resourceVersion, so two replicas never both win.
    async fn acquire(&self) -> bool {
        let now = Timestamp::now();
        let mine = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: acquired.or(Some(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        };
        match self.api.get_opt(LEASE_NAME).await {
            Ok(None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(LEASE_NAME.into()),
                        ..Default::default()
                    },
                    spec: Some(mine(0, None)),
                };
                self.api
                    .create(&PostParams::default(), &lease)
                    .await
                    .is_ok()
            }
            Ok(Some(mut lease)) => {
                let spec = lease.spec.clone().unwrap_or_default();
                let held_by_me = spec.holder_identity.as_deref() == Some(&self.identity);
                let ttl = SignedDuration::from_secs(
                    spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS).into(),
                );
                let expired = spec
                    .renew_time
                    .as_ref()
                    .is_none_or(|t| t.0.checked_add(ttl).is_ok_and(|end| end < now));
                if !held_by_me && !expired {
                    return false;
                }
                let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!held_by_me);
                let acquired = if held_by_me { spec.acquire_time } else { None };
                lease.spec = Some(mine(transitions, acquired));
                self.api
                    .replace(LEASE_NAME, &PostParams::default(), &lease)
                    .await
                    .is_ok()
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_renewal_is_acted_on_only_while_it_is_recent() {
        let renewal = Renewal::default();
        assert!(!renewal.fresh(), "never held");
        renewal.record(Some(Instant::now()));
        assert!(renewal.fresh());
        tokio::time::advance(ACT_WITHIN).await;
        assert!(
            !renewal.fresh(),
            "a pass this long must renew before it acts"
        );
        renewal.record(Some(Instant::now()));
        renewal.record(None);
        assert!(!renewal.fresh(), "lost");
    }
}
