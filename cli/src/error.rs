//! What can go wrong, as the person at the terminal should hear it: one
//! sentence, what to do next, and an exit code that scripts can rely on;
//! with `-o json`, the same as one JSON object with a stable `code`.

use std::fmt;

use gofast_controlplane::http::rest::types::ErrorCode;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};
use strum::VariantArray;

use crate::diagnostics::Problem;

/// Exit codes of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The code or request was rejected, or the deploy failed.
    Rejected = 1,
    Usage = 2,
    /// The server cannot be reached or does not accept our credentials.
    Connection = 3,
}

/// Kinds of error that only the CLI has. What the server refused keeps the
/// server's [`ErrorCode`], so scripts branch on one vocabulary with REST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum LocalCode {
    /// Wrong arguments, or files named on the command line that cannot be read.
    Usage,
    /// No gofast server answers at the address.
    Unreachable,
    /// The revision was stored but did not start (it crashed or never answered).
    DeployFailed,
    /// Asked to confirm, the person said no.
    Cancelled,
    /// The CLI's own files (the saved login) or the system failed it.
    Local,
    /// `gofast up` could not run the platform.
    UpFailed,
}

/// The `code` of a JSON error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Local(LocalCode),
    Server(ErrorCode),
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Local(c) => c.into(),
            Code::Server(c) => c.as_str(),
        }
    }

    /// The server's kind of error for a gRPC status code. The table is the
    /// server's own, read backwards; RESOURCE_EXHAUSTED is a quota unless the
    /// server says when to try again.
    fn of_status(status: &tonic::Status) -> Self {
        if status.code() == tonic::Code::ResourceExhausted {
            return Code::Server(if status.metadata().contains_key("retry-after") {
                ErrorCode::TooManyRequests
            } else {
                ErrorCode::QuotaExceeded
            });
        }
        let code = ErrorCode::VARIANTS
            .iter()
            .find(|c| c.grpc() == status.code())
            .copied()
            .unwrap_or(ErrorCode::Internal);
        Code::Server(code)
    }
}

impl From<LocalCode> for Code {
    fn from(c: LocalCode) -> Self {
        Code::Local(c)
    }
}

impl From<ErrorCode> for Code {
    fn from(c: ErrorCode) -> Self {
        Code::Server(c)
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub code: Code,
    pub message: String,
    pub hint: Option<String>,
    /// Where rejected code is wrong; shown on the user's lines in text mode
    /// (by the command), carried as `details.diagnostics` in JSON.
    pub diagnostics: Vec<Problem>,
    /// The command's own JSON result, which the error joins with `-o json`
    /// (deploy's summary, check's report), so stdout still has one object.
    pub result: Option<Box<Value>>,
}

impl CliError {
    pub fn new(exit: Exit, code: impl Into<Code>, message: impl Into<String>) -> Self {
        Self {
            exit,
            code: code.into(),
            message: message.into(),
            hint: None,
            diagnostics: Vec::new(),
            result: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, LocalCode::Usage, message)
    }

    /// Refused code or input: what the server would answer too.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::Rejected, ErrorCode::InvalidArgument, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_diagnostics(mut self, diagnostics: Vec<Problem>) -> Self {
        self.diagnostics = diagnostics;
        self
    }

    pub fn with_result(mut self, result: Value) -> Self {
        self.result = Some(Box::new(result));
        self
    }

    /// Maps a gRPC status from `server` to an error with advice.
    pub fn from_status(status: tonic::Status, server: &str) -> Self {
        use tonic::Code as Grpc;
        let code = Code::of_status(&status);
        let message = status.message().to_string();
        match status.code() {
            Grpc::Unauthenticated => Self::new(Exit::Connection, code, message)
                .hint("log in with `gofast login --email you@example.com`, or set GOFAST_TOKEN"),
            Grpc::Unavailable | Grpc::Unknown
                if message.contains("transport") || message.is_empty() =>
            {
                unreachable_server(server)
            }
            Grpc::Unavailable => Self::new(Exit::Connection, code, message),
            Grpc::Internal => Self::new(
                Exit::Rejected,
                code,
                format!("the server failed: {message}"),
            ),
            Grpc::NotFound if names_a_missing_app(&status) => {
                Self::new(Exit::Rejected, code, message).hint("see your apps with `gofast apps`")
            }
            _ => Self::new(Exit::Rejected, code, message),
        }
    }

    /// The error as one JSON object: the command's result (if any) with an
    /// `error` key of `{code, message, hint}` (and `details.diagnostics` for
    /// rejected code, as REST's error bodies have).
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        });
        if !self.diagnostics.is_empty() {
            error["details"] = json!({ "diagnostics": self.diagnostics });
        }
        let mut object = match self.result.as_deref() {
            Some(Value::Object(result)) => result.clone(),
            _ => Map::new(),
        };
        object.insert("error".into(), error);
        Value::Object(object)
    }
}

/// The server names a missing app by reason; the advice is the CLI's to give.
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
        LocalCode::Unreachable,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_codes_do_not_shadow_the_servers() {
        for local in LocalCode::VARIANTS {
            let name: &str = local.into();
            assert!(
                ErrorCode::VARIANTS.iter().all(|c| c.as_str() != name),
                "{name} is a server code too"
            );
        }
    }

    #[test]
    fn grpc_statuses_take_the_servers_codes() {
        let code = |s: tonic::Status| CliError::from_status(s, "http://x").code.as_str();
        assert_eq!(code(tonic::Status::not_found("no app")), "not_found");
        assert_eq!(
            code(tonic::Status::unauthenticated("expired")),
            "unauthenticated"
        );
        assert_eq!(
            code(tonic::Status::resource_exhausted("10 apps")),
            "quota_exceeded"
        );
        let mut slow = tonic::Status::resource_exhausted("slow down");
        slow.metadata_mut().insert("retry-after", 3.into());
        assert_eq!(code(slow), "too_many_requests");
        assert_eq!(code(tonic::Status::unavailable("")), "unreachable");
    }

    #[test]
    fn json_errors_join_the_commands_result() {
        let e = CliError::new(Exit::Rejected, LocalCode::DeployFailed, "it crashed")
            .hint("see its logs")
            .with_result(json!({ "status": "FAILED" }));
        let v = e.to_json();
        assert_eq!(v["status"], "FAILED");
        assert_eq!(
            v["error"],
            json!({ "code": "deploy_failed", "message": "it crashed", "hint": "see its logs" })
        );
        let bare = CliError::usage("no such file").to_json();
        assert_eq!(
            bare,
            json!({ "error": { "code": "usage", "message": "no such file", "hint": null } })
        );
    }
}
