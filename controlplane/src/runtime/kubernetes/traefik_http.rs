//! Plain-HTTP requests to Traefik inside the cluster (its entry point, API
//! and metrics), each bounded in time and, for bodies, in size: a slow or
//! wrong address must not hold a deploy or the activity feed.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

pub type PlainHttp = Client<HttpConnector, Empty<bytes::Bytes>>;

pub fn client() -> PlainHttp {
    Client::builder(TokioExecutor::new()).build_http()
}

/// The body of a `GET url` that answered 2xx within `limit`, as text of at
/// most `max_bytes`.
pub async fn get_text(
    http: &PlainHttp,
    url: &str,
    limit: Duration,
    max_bytes: usize,
) -> Result<String, String> {
    let get = async {
        let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let resp = http.get(uri).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| "the answer is not UTF-8".to_string())
    };
    tokio::time::timeout(limit, get)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", limit.as_secs())))
}
