use gofast_proto::v1::ValidateCodeResponse;
use prost::Message;
use tonic::{Code, Status};

use super::convert::diagnostic_to_proto;
use crate::error::Error;

/// The type of the detail that carries diagnostics on INVALID_ARGUMENT.
pub const INVALID_CODE_TYPE_URL: &str = "type.googleapis.com/gofast.v1.ValidateCodeResponse";

pub fn to_status(e: Error) -> Status {
    let code = match &e {
        Error::InvalidArgument(_) | Error::InvalidCode(_) => Code::InvalidArgument,
        Error::Unauthenticated(_) => Code::Unauthenticated,
        Error::NotFound(_) => Code::NotFound,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Unavailable(_) => Code::Unavailable,
        Error::PermissionDenied(_) => Code::PermissionDenied,
        Error::QuotaExceeded(_) | Error::TooManyRequests { .. } => Code::ResourceExhausted,
        Error::Internal(_) => Code::Internal,
    };
    if let Error::Internal(why) = &e {
        tracing::error!(error = %why, "internal error");
    }
    let message = e.to_string();
    let retry_secs = e.retry_after_secs();
    match e {
        // Diagnostics travel as a google.rpc.Status detail, so the CLI and
        // the editor (Connect-ES) can place them on the user's lines.
        Error::InvalidCode(diagnostics) => {
            let detail = ValidateCodeResponse {
                ok: false,
                diagnostics: diagnostics.iter().map(diagnostic_to_proto).collect(),
            };
            let rpc_status = tonic_types::Status {
                code: code as i32,
                message: message.clone(),
                details: vec![prost_types::Any {
                    type_url: INVALID_CODE_TYPE_URL.into(),
                    value: detail.encode_to_vec(),
                }],
            };
            Status::with_details(code, message, rpc_status.encode_to_vec().into())
        }
        // A retry hint twice: google.rpc.RetryInfo for clients that read
        // details, and `retry-after` (seconds) as plain metadata.
        Error::TooManyRequests { .. } => {
            use tonic_types::{ErrorDetails, StatusExt};
            let secs = retry_secs.unwrap_or(1);
            let mut status = Status::with_error_details(
                code,
                message,
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(secs))),
            );
            status.metadata_mut().insert("retry-after", secs.into());
            status
        }
        _ => Status::new(code, message),
    }
}
