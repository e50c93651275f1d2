//! Activity in the cluster shape: requests reach apps through Traefik, never
//! through the control plane, so the control plane reads Traefik's
//! Prometheus counters (`traefik_service_requests_total`, one series per
//! service, code, method and protocol) and notes each app whose count grew
//! since the last read. Without this an app used every day would still be
//! removed as idle.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::traefik_http::{self, PlainHttp};

const METRIC: &str = "traefik_service_requests_total";
/// Traefik's provider suffix of services made from IngressRoutes.
const PROVIDER: &str = "@kubernetescrd";
/// Traefik's metrics grow with its services; far more than this is not Traefik.
const MAX_METRICS_BYTES: usize = 64 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error("cannot read Traefik's metrics at {url}: {reason}")]
    Fetch { url: String, reason: String },
}

/// Request counts per app, read from Traefik's metrics.
pub struct TraefikActivity {
    http: PlainHttp,
    url: String,
    namespace: String,
    /// The counts of the last read; `None` before the first.
    last: Option<HashMap<String, f64>>,
}

impl TraefikActivity {
    pub fn new(url: &str, namespace: &str) -> Self {
        Self {
            // Plain HTTP: Traefik's metrics entry point inside the cluster.
            http: traefik_http::client(),
            url: url.to_string(),
            namespace: namespace.to_string(),
            last: None,
        }
    }

    /// The apps that served requests since the last call. The first call
    /// only takes the counts (what they count happened before this control
    /// plane was watching).
    pub async fn active_apps(&mut self) -> Result<Vec<String>, ActivityError> {
        let text = traefik_http::get_text(&self.http, &self.url, FETCH_TIMEOUT, MAX_METRICS_BYTES)
            .await
            .map_err(|reason| ActivityError::Fetch {
                url: self.url.clone(),
                reason,
            })?;
        if !is_traefiks(&text) {
            // A wrong URL that answers 200 would read as "no traffic" and
            // put apps in use to sleep: unknown counts are an error.
            return Err(ActivityError::Fetch {
                url: self.url.clone(),
                reason: "the answer holds no traefik_ metrics: is it Traefik's metrics endpoint?"
                    .into(),
            });
        }
        let now = requests_per_app(&text, &self.namespace);
        let active = match &self.last {
            None => Vec::new(),
            Some(last) => changed(last, &now),
        };
        self.last = Some(now);
        Ok(active)
    }
}

/// Traefik's exporter always has series of its own (open connections,
/// config reloads), even before its first request.
fn is_traefiks(metrics: &str) -> bool {
    metrics.lines().any(|l| l.starts_with("traefik_"))
}

/// The apps whose count is not what it was: more requests, or a new series.
/// A count below the last one means Traefik restarted (its counters start
/// from zero again) and served the app since.
fn changed(last: &HashMap<String, f64>, now: &HashMap<String, f64>) -> Vec<String> {
    let mut apps: Vec<String> = now
        .iter()
        .filter(|(app, n)| last.get(*app).is_none_or(|before| *n != before))
        .map(|(app, _)| app.clone())
        .collect();
    apps.sort();
    apps
}

/// Counts requests through Traefik as the platform's apps' activity, every
/// `every`, when `--traefik-metrics-url` says where; says what is lost
/// without it.
pub fn follow_traefik(
    kube: &crate::config_kube::KubeConfig,
    platform: Arc<crate::service::Platform>,
    every: Duration,
    shutdown: CancellationToken,
    say: &(dyn Fn(&str) + Sync),
) {
    let Some(url) = &kube.traefik_metrics_url else {
        say(
            "warning: requests through Traefik are not counted as activity (no \
             --traefik-metrics-url): apps in use are removed after --idle-hours",
        );
        return;
    };
    let feed = TraefikActivity::new(url, &kube.kube_namespace);
    let counted = {
        let platform = platform.clone();
        move |ok| platform.traffic_counted(ok)
    };
    spawn(feed, every, shutdown, counted, move |app| {
        let platform = platform.clone();
        async move { platform.note_traffic(&app).await }
    });
}

/// Reads Traefik's metrics every `every` until `shutdown`, calling `record`
/// with each app that served requests in between, and `counted` with
/// whether the read worked.
pub fn spawn<C, F, Fut>(
    mut feed: TraefikActivity,
    every: Duration,
    shutdown: CancellationToken,
    counted: C,
    record: F,
) where
    C: Fn(bool) + Send + 'static,
    F: Fn(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            match feed.active_apps().await {
                Ok(apps) => {
                    failing = false;
                    counted(true);
                    for app in apps {
                        debug!(app_id = %app, "requests through Traefik");
                        record(app).await;
                    }
                }
                // Once per outage, not every few seconds.
                Err(e) if !failing => {
                    failing = true;
                    counted(false);
                    warn!(error = %e, "apps' activity is not counted, and no app sleeps, while Traefik's metrics cannot be read");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    });
}

/// Sums `traefik_service_requests_total` per app of `namespace`, from
/// Prometheus' text format. Traefik names an IngressRoute's service
/// `{namespace}-{route name}-{hash}@kubernetescrd`, and each app's route is
/// `app-{app id}` (see `builders::object_name`).
pub fn requests_per_app(metrics: &str, namespace: &str) -> HashMap<String, f64> {
    let prefix = format!("{namespace}-app-");
    let mut counts = HashMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(METRIC) else {
            continue;
        };
        // `{labels} value`; comments and other metrics never start so.
        let Some((labels, value)) = rest.strip_prefix('{').and_then(|r| r.rsplit_once("} ")) else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let Some(service) = label(labels, "service") else {
            continue;
        };
        // The control plane's own route probe (see `route`); HEAD is no visit.
        if label(labels, "method") == Some("HEAD") {
            continue;
        }
        let app = service
            .strip_suffix(PROVIDER)
            .and_then(|s| s.strip_prefix(&prefix))
            .and_then(|s| s.rsplit_once('-'))
            .map(|(app, _hash)| app)
            .filter(|app| !app.is_empty() && app.chars().all(|c| c.is_ascii_alphanumeric()));
        if let Some(app) = app {
            *counts.entry(app.to_string()).or_insert(0.0) += value;
        }
    }
    counts
}

/// The value of `name` in `a="x",b="y"`. Service names need no unescaping
/// (Kubernetes names have no quotes or backslashes); a value that has any
/// is not one of ours.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let value = &labels[start..];
    let value = &value[..value.find('"')?];
    (!value.contains('\\')).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# HELP traefik_service_requests_total How many HTTP requests processed on a service, partitioned by status code, protocol, and method.
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",method="GET",protocol="http",service="apps-app-a1b2c3d4e5-3e808cddf13970c4fe2f@kubernetescrd"} 241
traefik_service_requests_total{code="404",method="GET",protocol="http",service="apps-app-a1b2c3d4e5-3e808cddf13970c4fe2f@kubernetescrd"} 9
traefik_service_requests_total{code="200",method="HEAD",protocol="http",service="apps-app-a1b2c3d4e5-3e808cddf13970c4fe2f@kubernetescrd"} 4
traefik_service_requests_total{code="200",method="HEAD",protocol="http",service="apps-app-headonly01-3e808cddf13970c4fe2f@kubernetescrd"} 2
traefik_service_requests_total{code="0",method="GET",protocol="websocket",service="apps-app-zzzzzzzzz1-ea3140a176632a2559a9@kubernetescrd"} 1
traefik_service_requests_total{code="200",method="GET",protocol="http",service="other-app-a1b2c3d4e5-3e808cddf13970c4fe2f@kubernetescrd"} 5
traefik_service_requests_total{code="200",method="GET",protocol="http",service="apps-dashboard-1234@kubernetescrd"} 7
traefik_service_requests_total{code="200",method="GET",protocol="http",service="apps-app-a1b2c3d4e5-3e80@file"} 3
traefik_service_requests_bytes_total{code="200",method="GET",protocol="http",service="apps-app-a1b2c3d4e5-3e808cddf13970c4fe2f@kubernetescrd"} 99999
traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 300
"#;

    #[test]
    fn requests_are_summed_per_app_of_our_namespace_only() {
        let counts = requests_per_app(METRICS, "apps");
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(counts["a1b2c3d4e5"], 250.0);
        assert_eq!(counts["zzzzzzzzz1"], 1.0);
        assert!(requests_per_app(METRICS, "nobody").is_empty());
        assert!(requests_per_app("garbage {\n} 1\n", "apps").is_empty());
    }

    /// Serves `body` at `/metrics` on a loopback port; returns its URL.
    async fn serving(body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let app =
            axum::Router::new().route("/metrics", axum::routing::get(move || async move { body }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn an_answer_that_is_not_traefiks_is_an_error_not_an_idle_cluster() {
        let mut wrong = TraefikActivity::new(&serving("ok\n").await, "apps");
        let err = wrong.active_apps().await.unwrap_err().to_string();
        assert!(err.contains("no traefik_ metrics"), "{err}");

        let mut traefik = TraefikActivity::new(&serving(METRICS).await, "apps");
        assert_eq!(traefik.active_apps().await.unwrap(), Vec::<String>::new());
    }

    #[test]
    fn only_traefiks_metrics_are_taken_for_counts() {
        assert!(is_traefiks(METRICS));
        assert!(is_traefiks(
            "# TYPE traefik_config_reloads_total counter\ntraefik_config_reloads_total 3\n"
        ));
        assert!(!is_traefiks("ok\n"));
        assert!(!is_traefiks("# HELP go_goroutines x\ngo_goroutines 12\n"));
    }

    #[test]
    fn an_app_is_active_when_its_count_moved() {
        let counts = |pairs: &[(&str, f64)]| -> HashMap<String, f64> {
            pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
        };
        let last = counts(&[("quiet", 5.0), ("busy", 5.0), ("restarted", 90.0)]);
        let now = counts(&[
            ("quiet", 5.0),
            ("busy", 6.0),
            ("restarted", 2.0),
            ("new", 1.0),
        ]);
        assert_eq!(changed(&last, &now), ["busy", "new", "restarted"]);
        assert!(changed(&now, &now).is_empty());
    }
}
