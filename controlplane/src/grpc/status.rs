use gofast_proto::v1::ValidateCodeResponse;
use prost::Message;
use tonic::Status;

use super::convert::diagnostic_to_proto;
use crate::error::Error;

/// The `ErrorInfo` reason of a NOT_FOUND that names a missing app, for
/// clients that say where to look (the CLI: `gofast apps`).
pub const NO_SUCH_APP: &str = "NO_SUCH_APP";

/// The `ErrorInfo` domain of gofast's reasons.
pub const ERROR_DOMAIN: &str = "gofast.dev";

/// The status of a service error: the code from `ErrorCode::edges`, with
/// details where a client can use them.
pub fn to_status(e: Error) -> Status {
    let code = e.code().grpc();
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
                    type_url: <ValidateCodeResponse as prost::Name>::type_url(),
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
        Error::NoSuchApp(_) => {
            use tonic_types::{ErrorDetails, StatusExt};
            let info = ErrorDetails::with_error_info(NO_SUCH_APP, ERROR_DOMAIN, []);
            Status::with_error_details(code, message, info)
        }
        _ => Status::new(code, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI and the editor find the diagnostics by this type URL.
    #[test]
    fn diagnostics_travel_under_their_messages_type_url() {
        let status = to_status(Error::InvalidCode(gofast_validate::validate(&[])));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let rpc = tonic_types::Status::decode(status.details()).unwrap();
        assert_eq!(
            rpc.details[0].type_url,
            "type.googleapis.com/gofast.v1.ValidateCodeResponse"
        );
        let detail = rpc.details[0]
            .to_msg::<ValidateCodeResponse>()
            .expect("the detail decodes as the message its URL names");
        assert!(!detail.diagnostics.is_empty());
    }

    /// A missing app says so in words for people and by reason for programs;
    /// the advice is the client's to give.
    #[test]
    fn a_missing_app_is_not_found_with_its_reason() {
        use tonic_types::StatusExt;
        let status = to_status(Error::NoSuchApp("hello".into()));
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(status.message(), "no app \"hello\"");
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            (NO_SUCH_APP, ERROR_DOMAIN)
        );
    }
}
