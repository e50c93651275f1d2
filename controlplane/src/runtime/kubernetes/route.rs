//! READY means the app's URL answers. The kubelet's probe proves the pod
//! serves, but Traefik applies a new route a moment later (its provider
//! throttle, 2 s by default): a learner who opens the URL at once would get
//! Traefik's 404. With `--kube-route-probe-url` (Traefik's entry point as the
//! control plane reaches it) a deploy waits until the app's `/health` answers
//! through Traefik, with the apps' host, before it says READY. It asks with
//! HEAD, which `activity` does not count: a deploy's probe is not a visit.

use std::time::Duration;

use http_body_util::Empty;

use super::traefik_http::{self, PlainHttp};

/// How long a route may take to appear once the pod is ready.
pub const ROUTE_WAIT: Duration = Duration::from_secs(30);
const EVERY: Duration = Duration::from_millis(100);
const ONE_TRY: Duration = Duration::from_secs(3);

pub struct RouteProbe {
    http: PlainHttp,
    /// e.g. `http://traefik.traefik:80`, no trailing slash.
    base: String,
}

impl RouteProbe {
    pub fn new(base: &str) -> Self {
        Self {
            http: traefik_http::client(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Traefik's entry point, e.g. `http://traefik.traefik:80`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Waits until `HEAD {base}{root_path}/health` with `Host: host` answers
    /// 200, for at most `limit`; the last answer when it never did.
    pub async fn wait(
        &self,
        host: Option<&str>,
        root_path: &str,
        limit: Duration,
    ) -> Result<(), String> {
        let url = format!("{}{root_path}/health", self.base);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match self.get(&url, host).await {
                Ok(200) => return Ok(()),
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e,
            };
            if tokio::time::Instant::now() + EVERY > deadline {
                let host = host.unwrap_or("the URL's");
                return Err(format!("{url} (Host: {host}) last answered: {last}"));
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    async fn get(&self, url: &str, host: Option<&str>) -> Result<u16, String> {
        // Marked: should the route still lead to the activator, it answers
        // 503 at once instead of waiting for this very wake.
        let mut req = http::Request::head(url).header(crate::runtime::ACTIVATOR_LOOP_HEADER, "1");
        if let Some(host) = host {
            req = req.header(http::header::HOST, host);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| format!("not a URL: {e}"))?;
        match tokio::time::timeout(ONE_TRY, self.http.request(req)).await {
            Ok(Ok(resp)) => Ok(resp.status().as_u16()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}s", ONE_TRY.as_secs())),
        }
    }
}

/// Traefik's own view, with `--traefik-api-url`: a `/health` that answers
/// through Traefik may still come from the replaced pod, which keeps serving
/// while it drains. READY waits until Traefik's load balancer for the app
/// sends new requests only to pods of the new revision. (A draining pod stays
/// listed, `fenced`: it gets no new requests.)
pub struct TraefikServers {
    http: PlainHttp,
    /// e.g. `http://traefik.traefik:9000`, no trailing slash.
    base: String,
}

/// Traefik's services list grows with its routes; far more than this is not Traefik.
const MAX_SERVICES_BYTES: usize = 16 << 20;

impl TraefikServers {
    pub fn new(base: &str) -> Self {
        Self {
            http: traefik_http::client(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// Waits until the unfenced servers of the app's Traefik services are
    /// some of `wanted` (URLs like `http://10.88.0.7:8000`), for at most
    /// `limit`; what Traefik listed last when they never were.
    pub async fn wait(
        &self,
        namespace: &str,
        app_id: &str,
        wanted: &std::collections::HashSet<String>,
        limit: Duration,
    ) -> Result<(), String> {
        let prefix = format!("{namespace}-{}-", super::builders::object_name(app_id));
        let url = format!(
            "{}/api/http/services?search={prefix}&per_page=100",
            self.base
        );
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let last = match self.get(&url).await {
                Ok(text) => {
                    let live = live_servers(&text, &prefix);
                    if !live.is_empty() && live.iter().all(|s| wanted.contains(s)) {
                        return Ok(());
                    }
                    format!("Traefik sends requests to {live:?}; the new pods are {wanted:?}")
                }
                Err(e) => e,
            };
            if tokio::time::Instant::now() + EVERY > deadline {
                return Err(last);
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    async fn get(&self, url: &str) -> Result<String, String> {
        traefik_http::get_text(&self.http, url, ONE_TRY, MAX_SERVICES_BYTES)
            .await
            .map_err(|e| format!("{url}: {e}"))
    }
}

/// The unfenced server URLs of the services named `{prefix}{hash}@kubernetescrd`
/// in Traefik's `/api/http/services` answer.
fn live_servers(services: &str, prefix: &str) -> Vec<String> {
    let Ok(serde_json::Value::Array(services)) = serde_json::from_str(services) else {
        return Vec::new();
    };
    let mut live: Vec<String> = services
        .iter()
        .filter(|s| {
            s["name"].as_str().is_some_and(|n| {
                n.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_suffix("@kubernetescrd"))
                    .is_some_and(|hash| !hash.contains('-'))
            })
        })
        .flat_map(|s| {
            s["loadBalancer"]["servers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|server| !server["fenced"].as_bool().unwrap_or(false))
        .filter_map(|server| server["url"].as_str().map(String::from))
        .collect();
    live.sort();
    live.dedup();
    live
}

#[cfg(test)]
mod tests {
    use super::live_servers;

    #[test]
    fn only_the_apps_unfenced_servers_count() {
        let services = r#"[
          {"name": "apps-app-a1-3e80@kubernetescrd", "loadBalancer": {"servers": [
            {"url": "http://10.88.0.7:8000"}, {"url": "http://10.88.0.6:8000", "fenced": true}]}},
          {"name": "apps-app-a1-3e80-extra@kubernetescrd", "loadBalancer": {"servers": [
            {"url": "http://10.88.0.9:8000"}]}},
          {"name": "apps-app-a2-3e80@kubernetescrd", "loadBalancer": {"servers": [
            {"url": "http://10.88.0.8:8000"}]}},
          {"name": "apps-app-a1-3e80@file", "loadBalancer": {"servers": [
            {"url": "http://10.88.0.5:8000"}]}}
        ]"#;
        assert_eq!(
            live_servers(services, "apps-app-a1-"),
            ["http://10.88.0.7:8000"]
        );
        assert!(live_servers("not json", "apps-app-a1-").is_empty());
        assert!(live_servers("[]", "apps-app-a1-").is_empty());
    }
}
