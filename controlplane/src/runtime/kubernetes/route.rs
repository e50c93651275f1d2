//! READY means the app's URL answers. The kubelet's probe proves the pod
//! serves, but Traefik applies a new route a moment later (its provider
//! throttle, 2 s by default): a learner who opens the URL at once would get
//! Traefik's 404. With `--kube-route-probe-url` (Traefik's entry point as the
//! control plane reaches it) a deploy waits until the app's `/health` answers
//! through Traefik, with the apps' host, before it says READY. It asks with
//! HEAD, which `activity` does not count: a deploy's probe is not a visit.

use std::time::Duration;

use http_body_util::Empty;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// How long a route may take to appear once the pod is ready.
pub const ROUTE_WAIT: Duration = Duration::from_secs(30);
const EVERY: Duration = Duration::from_millis(100);
const ONE_TRY: Duration = Duration::from_secs(3);

pub struct RouteProbe {
    http: Client<HttpConnector, Empty<bytes::Bytes>>,
    /// e.g. `http://traefik.traefik:80`, no trailing slash.
    base: String,
}

impl RouteProbe {
    pub fn new(base: &str) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new()).build_http(),
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
