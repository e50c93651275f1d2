//! Counts every request on the port by method and status code: gRPC calls by
//! their full method name and grpc-status, HTTP by method and route. Labels
//! come from bounded sets only (routes, known methods and codes), never from
//! what a client writes: every new label is kept forever.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};

use std::{collections::HashSet, sync::LazyLock};

use prost::Message;

use crate::service::Platform;

pub async fn record_requests(
    State(platform): State<Arc<Platform>>,
    req: Request,
    next: Next,
) -> Response {
    let grpc = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
    let label = match route {
        Some(r) if r.starts_with("/user/") => "gateway".to_string(),
        Some(_) if grpc => grpc_method_label(req.uri().path()),
        Some(r) => format!("{} {r}", method_label(req.method())),
        None => "unmatched".to_string(),
    };
    let resp = next.run(req).await;
    let (label, code) = if grpc {
        // Errors come back trailers-only, with grpc-status in the headers;
        // a success carries it in trailers we do not wait for.
        let n = resp
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(0);
        (label, format!("{:?}", tonic::Code::from_i32(n)))
    } else {
        (label, resp.status().as_u16().to_string())
    };
    platform.metrics.request(&label, &code);
    resp
}

/// The path of a gRPC method the port serves, or one label for every path
/// a client invents (they are answered UNIMPLEMENTED, or UNAUTHENTICATED
/// first when a service checks tokens before dispatch).
fn grpc_method_label(path: &str) -> String {
    static KNOWN: LazyLock<HashSet<String>> = LazyLock::new(|| {
        [
            gofast_proto::v1::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        ]
        .iter()
        .filter_map(|set| prost_types::FileDescriptorSet::decode(*set).ok())
        .flat_map(|set| set.file)
        .flat_map(|file| {
            let package = file.package().to_string();
            file.service.into_iter().flat_map(move |service| {
                let prefix = format!("/{package}.{}/", service.name());
                service
                    .method
                    .into_iter()
                    .map(move |m| format!("{prefix}{}", m.name()))
            })
        })
        .collect()
    });
    if KNOWN.contains(path) {
        path.to_string()
    } else {
        "grpc unknown method".to_string()
    }
}

/// Standard methods by name; anything else a client invents is `OTHER`.
fn method_label(m: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|k| *k == m)
        .map(|k| k.as_str())
        .unwrap_or("OTHER")
}
