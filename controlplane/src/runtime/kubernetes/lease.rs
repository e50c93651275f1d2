//! One reconciler at a time across control-plane replicas: whoever holds the
//! `coordination.k8s.io` Lease reconciles; the others wait for it to expire.

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::{SignedDuration, Timestamp},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};

pub const LEASE_NAME: &str = "gofast-reconciler";
const LEASE_SECONDS: i32 = 15;

pub struct LeaseLock {
    api: Api<Lease>,
    identity: String,
}

impl LeaseLock {
    pub fn new(client: Client, namespace: &str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            identity,
        }
    }

    /// Takes or renews the lease; true while we hold it. Conflicting writes
    /// fail on resourceVersion, so two replicas never both win.
    pub async fn try_acquire(&self) -> bool {
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
