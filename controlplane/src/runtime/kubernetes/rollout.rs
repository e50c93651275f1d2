//! Reads a rollout the way `kubectl rollout status` does, plus what learners
//! need: a crash, a missing image or an OOM kill of the *new* revision is a
//! failure with a reason, not an endless wait. Pure: objects in, verdict out.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};

use super::builders::REVISION_ANNOTATION;
use crate::model::Stage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still on its way: the stage reached and what it waits for.
    Progressing(Stage, String),
    Ready,
    /// `pod` crashed: its previous container's logs explain why.
    Failed {
        reason: String,
        pod: Option<String>,
    },
}

/// Waiting reasons that mean the image will not start without a change.
const IMAGE_ERRORS: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

pub(super) fn pod_revision(pod: &Pod) -> Option<u32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

fn pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// How a container the kubelet stopped because its startup probe failed
/// ends: 0 when the runner handled the SIGTERM, 143 when Python did not,
/// 137 when the grace period ran out (an OOM kill has 137 too, but its own
/// reason). An app's own crash at start exits 1.
const STOPPED: [i32; 3] = [0, 128 + 15, 128 + 9];

/// What the new revision was given: the reasons name these limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    pub memory: &'a str,
    pub start_timeout_seconds: i32,
}

/// Why a pod of the new revision cannot become ready, if it cannot.
fn pod_failure(pod: &Pod, limits: Limits) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    for c in statuses {
        let waiting = c.state.as_ref().and_then(|s| s.waiting.as_ref());
        let terminated = c
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| c.last_state.as_ref().and_then(|s| s.terminated.as_ref()));
        if terminated.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
            return Some(format!(
                "exceeded memory limit ({})",
                human_memory(limits.memory)
            ));
        }
        // Stopped, not crashed: the startup probe gave up on /health.
        if let Some(t) = terminated
            && STOPPED.contains(&t.exit_code)
            && c.restart_count >= 1
        {
            return Some(format!(
                "the app did not answer /health within {}s",
                limits.start_timeout_seconds
            ));
        }
        match waiting.and_then(|w| w.reason.as_deref()) {
            Some(r) if IMAGE_ERRORS.contains(&r) => {
                return Some(format!("cannot pull the runner image {} ({r})", c.image));
            }
            Some("CrashLoopBackOff") => {
                return Some("the app crashed while starting (CrashLoopBackOff)".into());
            }
            _ => {}
        }
        if let Some(t) = terminated
            && t.exit_code != 0
            && c.restart_count >= 1
        {
            return Some(format!(
                "the app exited with code {} while starting",
                t.exit_code
            ));
        }
    }
    None
}

/// LIMITS as people (and the local runtime) say it: "128 MiB".
fn human_memory(quantity: &str) -> String {
    for (suffix, unit) in [("Ki", "KiB"), ("Mi", "MiB"), ("Gi", "GiB")] {
        if let Some(n) = quantity.strip_suffix(suffix) {
            return format!("{n} {unit}");
        }
    }
    quantity.to_string()
}

pub fn assess(deployment: &Deployment, pods: &[Pod], revision: u32, limits: Limits) -> Verdict {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = deployment.status.as_ref() else {
        return Verdict::Progressing(
            Stage::Applying,
            "waiting for the Deployment controller".into(),
        );
    };
    if status.observed_generation.unwrap_or(0) < generation {
        return Verdict::Progressing(
            Stage::Applying,
            "waiting for the Deployment controller".into(),
        );
    }
    let new_pods: Vec<&Pod> = pods
        .iter()
        .filter(|p| pod_revision(p) == Some(revision))
        .collect();
    for pod in &new_pods {
        if let Some(reason) = pod_failure(pod, limits) {
            return Verdict::Failed {
                reason,
                pod: pod.metadata.name.clone(),
            };
        }
    }
    let deadline_passed = status.conditions.as_ref().is_some_and(|cs| {
        cs.iter().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
    });
    if deadline_passed {
        return Verdict::Failed {
            reason: "the app did not become ready in time".into(),
            pod: None,
        };
    }
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated >= wanted
        && available >= wanted
        && total <= updated
        && new_pods.iter().any(|p| pod_ready(p))
    {
        return Verdict::Ready;
    }
    let running = new_pods.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
            })
    });
    if running {
        Verdict::Progressing(Stage::HealthCheck, "waiting for /health to answer".into())
    } else {
        Verdict::Progressing(Stage::Starting, "waiting for a pod to start".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        memory: "128Mi",
        start_timeout_seconds: 30,
    };

    fn deployment(
        generation: i64,
        observed: i64,
        updated: i32,
        available: i32,
        total: i32,
    ) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "app-x", "generation": generation},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "availableReplicas": available, "replicas": total}
        }))
        .unwrap()
    }

    fn pod(revision: u32, status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("app-x-{revision}"), "annotations": {"gofast.dev/revision": revision.to_string()}},
            "status": status
        }))
        .unwrap()
    }

    fn ready_status() -> serde_json::Value {
        json!({"conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [{"name": "app", "image": "r", "imageID": "", "ready": true, "restartCount": 0,
                                      "state": {"running": {}}}]})
    }

    #[test]
    fn waits_for_the_controller_to_observe_the_new_generation() {
        let v = assess(
            &deployment(2, 1, 1, 1, 1),
            &[pod(1, ready_status())],
            2,
            LIMITS,
        );
        assert!(
            matches!(v, Verdict::Progressing(Stage::Applying, _)),
            "{v:?}"
        );
    }

    #[test]
    fn the_old_revision_being_ready_is_not_ready() {
        let v = assess(
            &deployment(2, 2, 1, 1, 2),
            &[pod(1, ready_status()), pod(2, json!({}))],
            2,
            LIMITS,
        );
        assert!(
            matches!(v, Verdict::Progressing(Stage::Starting, _)),
            "{v:?}"
        );
    }

    #[test]
    fn ready_when_the_new_pod_is_ready_and_old_ones_are_gone() {
        assert_eq!(
            assess(
                &deployment(2, 2, 1, 1, 1),
                &[pod(2, ready_status())],
                2,
                LIMITS
            ),
            Verdict::Ready
        );
    }

    #[test]
    fn running_but_not_ready_is_health_check() {
        let status = json!({"containerStatuses": [{"name": "app", "image": "r", "imageID": "", "ready": false,
                                                   "restartCount": 0, "state": {"running": {}}}]});
        let v = assess(&deployment(2, 2, 1, 0, 2), &[pod(2, status)], 2, LIMITS);
        assert!(
            matches!(v, Verdict::Progressing(Stage::HealthCheck, _)),
            "{v:?}"
        );
    }

    #[test]
    fn crash_loops_oom_kills_and_bad_images_fail_with_a_reason() {
        let cases = [
            (
                json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                json!({}),
                "crashed while starting",
            ),
            (
                json!({"waiting": {"reason": "ImagePullBackOff"}}),
                json!({}),
                "cannot pull the runner image",
            ),
            (
                json!({"running": {}}),
                json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
                "exceeded memory limit (128 MiB)",
            ),
            (
                json!({"running": {}}),
                json!({"terminated": {"exitCode": 137, "reason": "Error"}}),
                "did not answer /health within 30s",
            ),
            (
                json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                json!({"terminated": {"exitCode": 0, "reason": "Completed"}}),
                "did not answer /health within 30s",
            ),
            (
                json!({"waiting": {"reason": "CrashLoopBackOff"}}),
                json!({"terminated": {"exitCode": 1, "reason": "Error"}}),
                "crashed while starting",
            ),
        ];
        for (state, last, want) in cases {
            let status = json!({"containerStatuses": [{"name": "app", "image": "r", "imageID": "", "ready": false,
                                                       "restartCount": 1, "state": state, "lastState": last}]});
            match assess(&deployment(2, 2, 1, 0, 2), &[pod(2, status)], 2, LIMITS) {
                Verdict::Failed { reason, pod } => {
                    assert!(reason.contains(want), "{reason}");
                    assert_eq!(pod.as_deref(), Some("app-x-2"));
                }
                other => panic!("{want}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_passed_progress_deadline_fails() {
        let mut d = deployment(2, 2, 1, 0, 2);
        d.status.as_mut().unwrap().conditions = Some(vec![
            serde_json::from_value(json!(
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            ))
            .unwrap(),
        ]);
        assert!(matches!(assess(&d, &[], 2, LIMITS), Verdict::Failed { .. }));
    }
}
