//! The REST face of the service layer under `/api`: thin JSON handlers over
//! `Platform`, beside the gRPC ones and with the same auth. Documented by the
//! OpenAPI document generated from this module (`GET /api/openapi.json`).

mod apps;
mod auth;
mod extract;
mod openapi;
pub mod types;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};

use extract::{ApiError, MAX_BODY_BYTES, too_large_message};
use types::ErrorCode;

use super::HttpState;

pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/password", post(auth::change_password))
        .route("/api/auth/me", get(auth::me))
        .route("/api/apps", get(apps::list_apps).post(apps::create_app))
        .route(
            "/api/apps/{app_id}",
            get(apps::get_app)
                .put(apps::update_app)
                .delete(apps::delete_app),
        )
        .route("/api/apps/{app_id}/status", get(apps::app_status))
        .route("/api/apps/{app_id}/activity", post(apps::record_activity))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api", any(no_such_endpoint))
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

    #[test]
    fn the_document_lists_every_endpoint() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(super::openapi::ApiDoc::openapi()).unwrap();
        for (path, method) in [
            ("/api/auth/signup", "post"),
            ("/api/auth/login", "post"),
            ("/api/auth/logout", "post"),
            ("/api/auth/password", "post"),
            ("/api/auth/me", "get"),
            ("/api/apps", "get"),
            ("/api/apps", "post"),
            ("/api/apps/{app_id}", "get"),
            ("/api/apps/{app_id}", "put"),
            ("/api/apps/{app_id}", "delete"),
            ("/api/apps/{app_id}/status", "get"),
            ("/api/apps/{app_id}/activity", "post"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is missing"
            );
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Error"].is_object());
    }
}
