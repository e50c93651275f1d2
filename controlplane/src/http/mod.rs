//! The plain-HTTP face of the one port: health, metrics, the gateway to apps
//! and the landing page. gRPC and grpc-web are merged in by `server`.

mod app_headers;
mod gateway;
pub mod listen;
mod observe;
mod origins;
mod rest;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{any, get},
};
use serde_json::json;

use crate::{error::Error, service::Platform};

pub use observe::record_requests;
pub use origins::{OriginError, Origins, route_by_origin};

#[derive(Clone)]
pub struct HttpState {
    pub platform: Arc<Platform>,
    pub gateway: gateway::Gateway,
}

pub fn router(platform: Arc<Platform>) -> Router {
    let state = HttpState {
        platform,
        gateway: gateway::Gateway::new(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/", get(index))
        .route("/user/{user_id}/app/{app_id}", any(gateway::proxy))
        .route("/user/{user_id}/app/{app_id}/", any(gateway::proxy))
        .route("/user/{user_id}/app/{app_id}/{*rest}", any(gateway::proxy))
        .merge(rest::router())
        .with_state(state)
}

async fn healthz(State(s): State<HttpState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "running_apps": s.platform.runtime().running_apps().await,
        "isolation": s.platform.runtime().isolation(),
    }))
}

async fn metrics(State(s): State<HttpState>) -> Response {
    let running = s.platform.runtime().running_apps().await;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.platform.metrics.render(running),
    )
        .into_response()
}

async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}

/// `{code, message}` with the HTTP status that matches the gRPC code.
pub fn error_response(e: &Error) -> Response {
    let status = match e {
        Error::InvalidArgument(_) | Error::InvalidCode(_) => StatusCode::BAD_REQUEST,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::AlreadyExists(_) => StatusCode::CONFLICT,
        Error::FailedPrecondition(_) => StatusCode::PRECONDITION_FAILED,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
        // A quota that waiting does not refill: refused, not "too many".
        Error::QuotaExceeded(_) => StatusCode::FORBIDDEN,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({ "code": e.code(), "message": e.to_string() });
    if let Error::InvalidCode(diagnostics) = e {
        body["details"] = json!({ "diagnostics": diagnostics });
    }
    let mut resp = (status, Json(body)).into_response();
    if let Some(secs) = e.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}
