//! The embedded shape's router to apps: `/user/{user_id}/app/{app_id}/...`
//! is forwarded, prefix stripped, to the app's Unix socket. Bodies stream
//! both ways; nothing is buffered. WebSocket upgrades become tunnels
//! (`tunnel.rs`). In the cluster shape the same path serves as the
//! activator: Traefik sends it the requests of sleeping apps, and once the
//! app is awake they go back through Traefik, whole.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use hyperlocal::UnixConnector;

use http_body_util::BodyExt;

use super::{HttpState, app_headers, error_response, error_with_status, tunnel};
use crate::{
    error::{Error, ErrorCode},
    runtime::{ACTIVATOR_LOOP_HEADER, Upstream},
    service::RouteError,
};

#[derive(Clone)]
pub struct Gateway {
    /// To the apps' Unix sockets, pooled per socket.
    client: Client<UnixConnector, Body>,
    /// To Traefik, for the requests the activator took (the cluster shape).
    traefik: Client<HttpConnector, Body>,
    /// Open WebSocket tunnels: they outlive their HTTP connection's slot.
    tunnels: Arc<tokio::sync::Semaphore>,
}

/// WebSocket tunnels open at once through the gateway.
const MAX_TUNNELS: usize = 1024;

impl Gateway {
    pub fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build(UnixConnector),
            traefik: Client::builder(TokioExecutor::new()).build_http(),
            tunnels: Arc::new(tokio::sync::Semaphore::new(MAX_TUNNELS)),
        }
    }
}

/// Splits `/user/{u}/app/{a}/rest` into (u, a, "/rest").
fn split_path(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/user/")?;
    let (user_id, rest) = rest.split_once('/')?;
    let rest = rest.strip_prefix("app/")?;
    let (app_id, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some((user_id, app_id, tail))
}

pub async fn proxy(
    State(state): State<HttpState>,
    ConnectInfo(client_addr): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let uri = req.uri().clone();
    let Some((user_id, app_id, tail)) = split_path(uri.path()) else {
        return not_deployed();
    };
    if tail.is_empty() {
        // The app's root is `prefix/`; relative links in its pages need the slash.
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        return Redirect::permanent(&format!("{}/{query}", uri.path())).into_response();
    }
    if req.headers().contains_key(ACTIVATOR_LOOP_HEADER) {
        // Sent through Traefik by a control plane, and routed back here.
        return retry_after(
            1,
            "the app's route does not lead to it yet; try again in a moment",
        );
    }
    // A sleeping app is woken here; the request waits for it.
    let routed = match state.platform.route(user_id, app_id).await {
        Ok(routed) => routed,
        Err(RouteError::NotDeployed) => return not_deployed(),
        Err(RouteError::WakeFailed { app, reason }) => {
            return wake_failed(req.headers(), &app, &reason);
        }
        Err(RouteError::Waking) => {
            return retry_after(
                2,
                "the app is waking up and cannot hold more requests; try again in a moment",
            );
        }
    };
    let (upstream, in_flight) = (routed.upstream, routed.in_flight);
    let prefix = &uri.path()[..uri.path().len() - tail.len()];
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let target = match &upstream {
        Upstream::Socket(socket) => {
            crate::runtime::local::app_uri(socket, &format!("{tail}{query}")).ok()
        }
        Upstream::Cluster(traefik) => format!("{traefik}{}{query}", uri.path()).parse().ok(),
    };
    let Some(target) = target else {
        return error_response(&Error::InvalidArgument("malformed request path".into()));
    };
    *req.uri_mut() = target;
    let tunnel = match tunnel::is_websocket(req.headers()) {
        false => None,
        true => match state.gateway.tunnels.clone().try_acquire_owned() {
            Ok(permit) => Some((hyper::upgrade::on(&mut req), permit)),
            Err(_) => {
                return unavailable(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many WebSockets are open right now; try again soon",
                );
            }
        },
    };
    let forwarding = app_headers::Forwarding {
        client: client_addr.ip(),
        host: req.headers().get(header::HOST).cloned(),
        prefix,
    };
    match upstream {
        Upstream::Socket(_) => app_headers::to_app(req.headers_mut(), &forwarding),
        Upstream::Cluster(_) => app_headers::to_traefik(req.headers_mut()),
    }
    if tunnel.is_some() {
        tunnel::keep_upgrade(req.headers_mut());
    }
    let prefix = prefix.to_string();

    let platform = state.platform.clone();
    let app = app_id.to_string();
    tokio::spawn(async move {
        let _ = platform.record_activity(&app).await;
    });

    let answer = match upstream {
        Upstream::Socket(_) => state.gateway.client.request(req).await,
        Upstream::Cluster(_) => state.gateway.traefik.request(req).await,
    };
    match answer {
        Ok(mut resp) => {
            let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
            let on_app = switched.then(|| hyper::upgrade::on(&mut resp));
            let (mut parts, body) = resp.into_parts();
            app_headers::from_app(&mut parts.headers, &prefix);
            if let (Some((on_client, permit)), Some(on_app)) = (tunnel, on_app) {
                tunnel::keep_upgrade(&mut parts.headers);
                let platform = state.platform.clone();
                let app = app_id.to_string();
                let on_traffic = move || {
                    let (platform, app) = (platform.clone(), app.clone());
                    tokio::spawn(async move {
                        let _ = platform.record_activity(&app).await;
                    });
                };
                tokio::spawn(async move {
                    tunnel::splice(on_client, on_app, tunnel::IDLE_TIMEOUT, on_traffic, permit)
                        .await;
                    // An open WebSocket keeps its app awake.
                    drop(in_flight);
                });
                return Response::from_parts(parts, Body::empty());
            }
            // The request is in flight until its answer's body is sent.
            let body = body.map_frame(move |frame| {
                let _ = &in_flight;
                frame
            });
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => {
            tracing::warn!(app_id = %app_id, error = %e, "gateway: app did not answer");
            unavailable(
                StatusCode::BAD_GATEWAY,
                "the app is not answering right now; `gofast logs` shows its output",
            )
        }
    }
}

/// The JSON error shape of every answer, with the gateway's own status (502
/// when the app does not answer, where the service's `unavailable` is 503).
fn unavailable(status: StatusCode, message: &str) -> Response {
    error_with_status(status, ErrorCode::Unavailable, message)
}

/// 503 with `Retry-After`: the app will answer soon, not now.
fn retry_after(seconds: u32, message: &str) -> Response {
    (
        [(header::RETRY_AFTER, seconds.to_string())],
        unavailable(StatusCode::SERVICE_UNAVAILABLE, message),
    )
        .into_response()
}

/// 503 for an app that sleeps and did not start: a short page for a
/// browser, the JSON error shape for everyone else. Both name the app and
/// where its output is.
fn wake_failed(headers: &header::HeaderMap, app: &str, reason: &str) -> Response {
    let message = format!(
        "the app {app:?} was asleep and could not start again: {reason}. \
         `gofast logs {app}` (or the editor's Logs panel) shows its output"
    );
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return unavailable(StatusCode::SERVICE_UNAVAILABLE, &message);
    }
    let (app, reason) = (escape(app), escape(reason));
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{app} is not answering</title></head><body>\
         <h1>{app} could not start</h1><p>It was asleep for want of visitors, and starting it \
         again failed: {reason}.</p><p>Its output says why: run <code>gofast logs {app}</code>, \
         or open the Logs panel of the editor.</p></body></html>\n"
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

/// Text for an HTML page: the reason may quote the app's own output.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn not_deployed() -> Response {
    error_response(&Error::NotFound(
        "no app is deployed at this address".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::split_path;

    /// An app that does not answer gets the one error shape, with 502.
    #[tokio::test]
    async fn the_bad_gateway_answer_has_the_error_shape() {
        use axum::http::StatusCode;
        let resp = super::unavailable(StatusCode::BAD_GATEWAY, "the app is not answering");
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: crate::http::rest::types::ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.code, crate::error::ErrorCode::Unavailable);
        assert_eq!(body.message, "the app is not answering");
    }

    #[test]
    fn splits_prefix_from_the_app_path() {
        assert_eq!(
            split_path("/user/u1/app/a1/docs"),
            Some(("u1", "a1", "/docs"))
        );
        assert_eq!(split_path("/user/u1/app/a1/"), Some(("u1", "a1", "/")));
        assert_eq!(split_path("/user/u1/app/a1"), Some(("u1", "a1", "")));
        assert_eq!(
            split_path("/user/u1/app/a1/x/y"),
            Some(("u1", "a1", "/x/y"))
        );
        assert_eq!(split_path("/user/u1/apps/a1/"), None);
        assert_eq!(split_path("/api/apps"), None);
    }
}
