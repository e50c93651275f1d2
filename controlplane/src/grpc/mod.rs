//! The gRPC (and grpc-web) face of the service layer: thin handlers that
//! authenticate, convert, and call `Platform`.

mod apps;
mod auth;
pub mod convert;
mod status;

pub use apps::AppApi;
pub use auth::AuthApi;
pub use status::to_status;

use tonic::Request;

use crate::{
    error::Result,
    service::{Caller, Platform},
};

/// The bearer token of a request, if any.
fn bearer<T>(req: &Request<T>) -> Option<&str> {
    let value = req.metadata().get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
}

async fn caller<T>(platform: &Platform, req: &Request<T>) -> Result<Caller> {
    platform.authenticate(bearer(req)).await
}
