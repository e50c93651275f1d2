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
            Error::Internal(_) => "internal",
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
