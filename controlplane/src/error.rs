//! The one error type of the service layer. Each variant maps to one gRPC code
//! (in `grpc::status`) and one HTTP status (in `http::error`), so the edges
//! never guess.

use gofast_validate::Diagnostic;

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

impl Error {
    /// A short, stable name of the kind of error, used in JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) | Error::InvalidCode(_) => "invalid_argument",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::NotFound(_) => "not_found",
            Error::AlreadyExists(_) => "already_exists",
            Error::FailedPrecondition(_) => "failed_precondition",
            Error::Unavailable(_) => "unavailable",
            Error::PermissionDenied(_) => "permission_denied",
            Error::QuotaExceeded(_) => "quota_exceeded",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Internal(_) => "internal",
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
