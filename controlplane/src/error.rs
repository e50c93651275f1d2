//! The one error type of the service layer, and the one table of how each
//! kind of error shows at the edges ([`ErrorCode::edges`]): its name in JSON
//! bodies, its gRPC code and its HTTP status. The edges never guess.

use gofast_validate::Diagnostic;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tonic::Code;
use utoipa::ToSchema;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    /// The submitted code was rejected; nothing was stored.
    #[error("{}", invalid_code_summary(.0))]
    InvalidCode(Vec<Diagnostic>),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    NotFound(String),
    /// The caller has no app of this id or name; another user's app answers
    /// the same. The edges may add where to look (the CLI: `gofast apps`).
    #[error("no app {0:?}")]
    NoSuchApp(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
    /// The operator does not allow this (closed signups).
    #[error("{0}")]
    PermissionDenied(String),
    /// A quota of the account is used up: waiting does not help.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Too many attempts: try again after `retry_after`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: std::time::Duration,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn invalid_code_summary(diagnostics: &[Diagnostic]) -> String {
    match diagnostics.first() {
        Some(d) if diagnostics.len() == 1 => {
            format!(
                "the code was rejected: {}:{}: {}",
                d.file, d.line, d.message
            )
        }
        Some(d) => format!(
            "the code was rejected with {} problems; first: {}:{}: {}",
            diagnostics.len(),
            d.file,
            d.line,
            d.message
        ),
        None => "the code was rejected".to_string(),
    }
}

/// The kind of an error; stable, for programs to branch on. Serialized as
/// its snake_case name, the `code` of JSON error bodies.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// 400 (or 413, 415): the request or the submitted code was rejected.
    InvalidArgument,
    /// 401: no token, or a token that is not (or no longer) valid.
    Unauthenticated,
    /// 404: no such thing, or not yours.
    NotFound,
    /// 405: the path exists, but not with this method.
    MethodNotAllowed,
    /// 409: it exists already.
    AlreadyExists,
    /// 412.
    FailedPrecondition,
    /// 403: the operator does not allow this (closed signups).
    PermissionDenied,
    /// 403: a quota of the account (apps per user) is used up.
    QuotaExceeded,
    /// 429: too many attempts; the `Retry-After` header says when to try again.
    TooManyRequests,
    /// 503 (502 from the gateway when the app does not answer): try again later.
    Unavailable,
    /// 500.
    Internal,
}

impl ErrorCode {
    /// The table: the gRPC code and the HTTP status of each kind of error.
    pub fn edges(self) -> (Code, StatusCode) {
        match self {
            ErrorCode::InvalidArgument => (Code::InvalidArgument, StatusCode::BAD_REQUEST),
            ErrorCode::Unauthenticated => (Code::Unauthenticated, StatusCode::UNAUTHORIZED),
            ErrorCode::NotFound => (Code::NotFound, StatusCode::NOT_FOUND),
            // Only REST has methods; gRPC answers an unknown method this way.
            ErrorCode::MethodNotAllowed => (Code::Unimplemented, StatusCode::METHOD_NOT_ALLOWED),
            ErrorCode::AlreadyExists => (Code::AlreadyExists, StatusCode::CONFLICT),
            ErrorCode::FailedPrecondition => {
                (Code::FailedPrecondition, StatusCode::PRECONDITION_FAILED)
            }
            ErrorCode::PermissionDenied => (Code::PermissionDenied, StatusCode::FORBIDDEN),
            // A quota that waiting does not refill: refused, not "too many".
            ErrorCode::QuotaExceeded => (Code::ResourceExhausted, StatusCode::FORBIDDEN),
            ErrorCode::TooManyRequests => (Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS),
            ErrorCode::Unavailable => (Code::Unavailable, StatusCode::SERVICE_UNAVAILABLE),
            ErrorCode::Internal => (Code::Internal, StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    pub fn grpc(self) -> Code {
        self.edges().0
    }

    pub fn http(self) -> StatusCode {
        self.edges().1
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Error {
    /// The kind of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) | Error::InvalidCode(_) => ErrorCode::InvalidArgument,
            Error::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Error::NotFound(_) | Error::NoSuchApp(_) => ErrorCode::NotFound,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Error::Unavailable(_) => ErrorCode::Unavailable,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            Error::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl Error {
    /// Whole seconds to wait, at least one, for `Retry-After` and messages.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::TooManyRequests { retry_after, .. } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
                    .map(|s| s.max(1))
            }
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists(what) => Error::AlreadyExists(what),
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::Unavailable(why) => {
                Error::Unavailable(format!("the database is unavailable: {why}"))
            }
            StoreError::Internal(why) => Error::Internal(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn codes_serialize_as_their_names() {
        for code in ErrorCode::VARIANTS {
            assert_eq!(serde_json::json!(code), code.as_str());
        }
        assert_eq!(ErrorCode::QuotaExceeded.as_str(), "quota_exceeded");
    }

    /// The statuses users and clients rely on.
    #[test]
    fn errors_keep_their_grpc_codes_and_http_statuses() {
        let quota = Error::QuotaExceeded(String::new()).code();
        assert_eq!(
            (quota.grpc(), quota.http()),
            (Code::ResourceExhausted, StatusCode::FORBIDDEN)
        );
        let busy = Error::TooManyRequests {
            message: String::new(),
            retry_after: std::time::Duration::from_secs(1),
        }
        .code();
        assert_eq!(
            (busy.grpc(), busy.http()),
            (Code::ResourceExhausted, StatusCode::TOO_MANY_REQUESTS)
        );
        let bad = Error::InvalidCode(vec![]).code();
        assert_eq!(
            (bad.as_str(), bad.grpc(), bad.http()),
            (
                "invalid_argument",
                Code::InvalidArgument,
                StatusCode::BAD_REQUEST
            )
        );
        let closed = Error::FailedPrecondition(String::new()).code();
        assert_eq!(closed.http(), StatusCode::PRECONDITION_FAILED);
    }
}
