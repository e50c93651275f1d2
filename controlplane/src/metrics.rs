//! Prometheus metrics: requests by method and code, deploys by outcome, and
//! the number of running apps (read from the runtime at scrape time).

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeployLabels {
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    deploys: Family<DeployLabels, Counter>,
    running_apps: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gofast");
        let requests = Family::<RequestLabels, Counter>::default();
        let deploys = Family::<DeployLabels, Counter>::default();
        let running_apps = Gauge::default();
        registry.register(
            "requests",
            "Requests served, by gRPC method or HTTP route and by status code",
            requests.clone(),
        );
        registry.register("deploys", "Finished deploys, by outcome", deploys.clone());
        registry.register(
            "running_apps",
            "Apps serving right now",
            running_apps.clone(),
        );
        Self {
            registry,
            requests,
            deploys,
            running_apps,
        }
    }
}

impl Metrics {
    pub fn request(&self, method: &str, code: &str) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                code: code.into(),
            })
            .inc();
    }

    pub fn deploy_finished(&self, ready: bool) {
        let outcome = if ready { "ready" } else { "failed" };
        self.deploys
            .get_or_create(&DeployLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self, running_apps: usize) -> String {
        self.running_apps.set(running_apps as i64);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.request("/gofast.v1.AppService/ListApps", "OK");
        m.deploy_finished(true);
        m.deploy_finished(false);
        m.deploy_finished(false);
        let text = m.render(3);
        assert!(
            text.contains(
                r#"gofast_requests_total{method="/gofast.v1.AppService/ListApps",code="OK"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"gofast_deploys_total{outcome="failed"} 2"#),
            "{text}"
        );
        assert!(text.contains("gofast_running_apps 3"), "{text}");
    }
}
