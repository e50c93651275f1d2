//! The plain-HTTP face of the one port: health, metrics, the gateway to apps
//! and the browser editor. gRPC and grpc-web are merged in by `server`.

pub(crate) mod app_headers;
mod editor;
mod gateway;
pub mod listen;
mod observe;
mod origins;
pub mod rest;
mod tunnel;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use serde_json::json;

use crate::{
    error::{Error, ErrorCode},
    service::Platform,
};

pub use observe::record_requests;
pub use origins::{OriginError, Origins, route_by_origin};

#[derive(Clone)]
pub struct HttpState {
    pub platform: Arc<Platform>,
    pub gateway: gateway::Gateway,
}

pub fn router(platform: Arc<Platform>) -> Router {
    // Any app's URL names the apps origin, the one the editor may frame.
    let apps_url = platform.app_url("u", "a");
    let state = HttpState {
        platform,
        gateway: gateway::Gateway::new(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(editor::routes(&apps_url))
        .route("/user/{user_id}/app/{app_id}", any(gateway::proxy))
        .route("/user/{user_id}/app/{app_id}/", any(gateway::proxy))
        .route("/user/{user_id}/app/{app_id}/{*rest}", any(gateway::proxy))
        .merge(rest::router())
        .with_state(state)
}

async fn healthz(State(s): State<HttpState>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "running_apps": s.platform.running_apps().await,
        "isolation": s.platform.isolation(),
    }))
}

async fn metrics(State(s): State<HttpState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.platform.render_metrics().await,
    )
        .into_response()
}

/// `{code, message, details?}` with the HTTP status of the error's code
/// (`ErrorCode::edges`), and `Retry-After` when waiting helps.
pub fn error_response(e: &Error) -> Response {
    let code = e.code();
    let details = match e {
        Error::InvalidCode(diagnostics) => Some(rest::types::ErrorDetails {
            diagnostics: diagnostics.iter().map(Into::into).collect(),
        }),
        _ => None,
    };
    let body = rest::types::ErrorBody {
        code,
        message: e.to_string(),
        details,
    };
    let mut resp = (code.http(), Json(body)).into_response();
    if let Some(secs) = e.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
    }
    resp
}

/// The same shape with a status of the caller's choosing, for what is not a
/// service error (a request axum could not take apart, an app that does not
/// answer the gateway).
pub fn error_with_status(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response {
    let body = rest::types::ErrorBody {
        code,
        message: message.into(),
        details: None,
    };
    (status, Json(body)).into_response()
}
