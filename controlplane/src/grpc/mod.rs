//! The gRPC (and grpc-web) face of the service layer: thin handlers that
//! authenticate, convert, and call `Platform`.

mod apps;
mod auth;
pub mod convert;
mod status;

pub use apps::AppApi;
pub use auth::AuthApi;
pub use status::{ERROR_DOMAIN, NO_SUCH_APP, to_status};

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

/// Refuses a call without a bearer token before its message is decoded, so
/// an anonymous flood of large requests (ValidateCode with many files) costs
/// no decoding. Every AppService call needs a token; the handler still
/// checks that it is valid.
pub fn require_bearer(req: Request<()>) -> std::result::Result<Request<()>, tonic::Status> {
    match bearer(&req).map(str::trim) {
        Some(t) if !t.is_empty() => Ok(req),
        _ => Err(to_status(crate::error::Error::Unauthenticated(
            crate::service::NOT_LOGGED_IN.into(),
        ))),
    }
}
