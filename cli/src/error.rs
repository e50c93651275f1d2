//! What can go wrong, as the person at the terminal should hear it: one
//! sentence, what to do next, and an exit code that scripts can rely on.

use std::fmt;

/// Exit codes of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The code or request was rejected, or the deploy failed.
    Rejected = 1,
    Usage = 2,
    /// The server cannot be reached or does not accept our credentials.
    Connection = 3,
}

#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
        }
    }

    pub fn rejected(message: impl Into<String>) -> Self {
        Self::new(Exit::Rejected, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Maps a gRPC status from `server` to an error with advice.
    pub fn from_status(status: tonic::Status, server: &str) -> Self {
        use tonic::Code;
        let message = status.message().to_string();
        match status.code() {
            Code::Unauthenticated => Self::new(Exit::Connection, message)
                .hint("log in with `gofast login --email you@example.com`, or set GOFAST_TOKEN"),
            Code::Unavailable | Code::Unknown
                if message.contains("transport") || message.is_empty() =>
            {
                unreachable_server(server)
            }
            Code::Unavailable => Self::new(Exit::Connection, message),
            Code::Internal => Self::rejected(format!("the server failed: {message}")),
            Code::NotFound if names_a_missing_app(&status) => {
                Self::rejected(message).hint("see your apps with `gofast apps`")
            }
            _ => Self::rejected(message),
        }
    }
}

/// The server's reason for a missing app (the advice is the CLI's to give).
fn names_a_missing_app(status: &tonic::Status) -> bool {
    use tonic_types::StatusExt;
    status.get_details_error_info().is_some_and(|i| {
        i.reason == gofast_controlplane::grpc::NO_SUCH_APP
            && i.domain == gofast_controlplane::grpc::ERROR_DOMAIN
    })
}

pub fn unreachable_server(server: &str) -> CliError {
    CliError::new(
        Exit::Connection,
        format!("cannot reach the gofast server at {server}"),
    )
    .hint("start it with `gofast up`, or point --server / GOFAST_SERVER at it")
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T = ()> = Result<T, CliError>;
