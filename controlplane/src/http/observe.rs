//! Counts every request on the port by method and status code: gRPC calls by
//! their full method name and grpc-status, HTTP by route.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use crate::service::Platform;

pub async fn record_requests(
    State(platform): State<Arc<Platform>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let grpc = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    let label = if grpc {
        path
    } else if path.starts_with("/user/") {
        "gateway".to_string()
    } else {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string());
        format!(
            "{} {}",
            req.method(),
            route.unwrap_or_else(|| "unmatched".into())
        )
    };
    let resp = next.run(req).await;
    let code = if grpc {
        // Errors come back trailers-only, with grpc-status in the headers;
        // a success carries it in trailers we do not wait for.
        let n = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        format!("{:?}", tonic::Code::from_i32(n))
    } else {
        resp.status().as_u16().to_string()
    };
    platform.metrics.request(&label, &code);
    resp
}
