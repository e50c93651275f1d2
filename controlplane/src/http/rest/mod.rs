//! The REST face of the service layer under `/api`: thin JSON handlers over
//! `Platform`, beside the gRPC ones and with the same auth. Documented by the
//! OpenAPI document generated from this module (`GET /api/openapi.json`).

mod apps;
mod auth;
mod extract;
mod openapi;
mod revisions;
pub mod types;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::any,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use extract::{ApiError, MAX_BODY_BYTES, too_large_message};
use types::ErrorCode;

use super::HttpState;

/// The endpoints, each once: the router and the OpenAPI document are both
/// made from this list (a handler's `#[utoipa::path]` names its method and path).
fn endpoints() -> OpenApiRouter<HttpState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::me))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app, apps::update_app, apps::delete_app))
        .routes(routes!(apps::app_status))
        .routes(routes!(apps::record_activity))
        .routes(routes!(revisions::list_revisions))
        .routes(routes!(revisions::get_revision))
        .routes(routes!(openapi::document))
}

/// The OpenAPI document of the endpoints.
pub fn document() -> utoipa::openapi::OpenApi {
    endpoints().into_openapi()
}

pub fn router() -> Router<HttpState> {
    let (api, _document) = endpoints().split_for_parts();
    api.route("/api", any(no_such_endpoint))
        .route("/api/{*rest}", any(no_such_endpoint))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(json_errors))
}

async fn no_such_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: ErrorCode::NotFound,
        message: format!(
            "there is no endpoint {method} {}: see GET /api/openapi.json",
            uri.path()
        ),
    }
}

/// Turns the errors axum answers by itself (a method the path does not take,
/// a body over the limit) into the JSON error shape.
async fn json_errors(method: Method, uri: Uri, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (code, message) = match status {
        // axum adds the `Allow` header with the methods the path takes.
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            format!(
                "{} does not take {method}: see GET /api/openapi.json",
                uri.path()
            ),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::InvalidArgument, too_large_message()),
        StatusCode::NOT_FOUND => (
            ErrorCode::NotFound,
            format!("there is no endpoint {method} {}", uri.path()),
        ),
        s if s.is_client_error() => (
            ErrorCode::InvalidArgument,
            format!(
                "the request was rejected: {}",
                s.canonical_reason().unwrap_or("bad request")
            ),
        ),
        s => (
            ErrorCode::Internal,
            format!(
                "internal error: {}",
                s.canonical_reason().unwrap_or("server error")
            ),
        ),
    };
    ApiError::Request {
        status,
        code,
        message,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::types::{Diagnostic, ErrorBody};
    use crate::{error::Error, http::error_response};

    async fn body_of(e: Error) -> ErrorBody {
        let resp = error_response(&e);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The documented error shape is the one `error_response` writes,
    /// diagnostics included.
    #[tokio::test]
    async fn error_bodies_match_their_schema() {
        let diagnostics = gofast_validate::validate(&[]);
        assert!(!diagnostics.is_empty());
        let body = body_of(Error::InvalidCode(diagnostics.clone())).await;
        let got: Vec<Diagnostic> = body.details.expect("details").diagnostics;
        assert_eq!(got.len(), diagnostics.len());
        assert_eq!(got[0].code, diagnostics[0].code);
        assert!(body_of(Error::NotFound("x".into())).await.details.is_none());
    }

    /// Every operation of the document is routed: with no token or body,
    /// each answers its own refusal, never "no such endpoint".
    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        use axum::{body::Body, http::Request};
        use tower::ServiceExt;

        let doc = serde_json::to_value(super::document()).unwrap();
        let state = crate::http::HttpState {
            platform: crate::service::scenarios::test_platform(),
            gateway: crate::http::gateway::Gateway::new(),
        };
        let router = super::router().with_state(state);
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let uri = path.replace("{app_id}", "nosuchapp");
                let req = Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap();
                let resp = router.clone().oneshot(req).await.unwrap();
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    status != axum::http::StatusCode::METHOD_NOT_ALLOWED
                        && !text.contains("there is no endpoint"),
                    "{method} {path} is documented but not routed: {status} {text}"
                );
                operations += 1;
            }
        }
        assert!(operations >= 12, "only {operations} operations: {doc}");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Error"].is_object());
        assert!(doc["components"]["schemas"]["Stage"].is_object());
    }
}
