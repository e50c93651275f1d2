//! Errors and extractors of the REST API. Every failure, whether from the
//! service layer or from a request axum could not take apart, answers the
//! same `{code, message, details?}` JSON.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{FromRequest, FromRequestParts, Path, Request, rejection::JsonRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::{
    error::{Error, ErrorCode},
    http::{HttpState, error_response, error_with_status},
    service::Caller,
};

/// The largest request body the API reads. An app's files may total 256 KiB;
/// JSON escaping can double that.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// How much of an oversized body is still read (and dropped) so that the
/// client, still sending, gets the 413 rather than a reset connection.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The service layer said no.
    Service(Error),
    /// The request itself could not be understood.
    Request {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
}

impl ApiError {
    pub fn bad_request(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError::Request {
            status,
            code: ErrorCode::InvalidArgument,
            message: message.into(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Service(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = match self {
            ApiError::Service(e) => {
                if let Error::Internal(why) = &e {
                    tracing::error!(error = %why, "internal error");
                }
                error_response(&e)
            }
            ApiError::Request {
                status,
                code,
                message,
            } => error_with_status(status, code, message),
        };
        if resp.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A JSON request body; a body that is not JSON, not of the expected shape,
/// not sent as `application/json` or too large answers the JSON error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > MAX_DRAIN_BYTES as u64) {
            return Err(too_large());
        }
        let bytes = read_limited(body).await?;
        let req = Request::from_parts(parts, Body::from(bytes));
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// The body, up to [`MAX_BODY_BYTES`]. Past that the rest is read and
/// dropped (up to [`MAX_DRAIN_BYTES`]) before answering 413: a server that
/// answers while the client is still sending resets the connection, and the
/// client never sees the answer.
async fn read_limited(mut body: Body) -> Result<Bytes, ApiError> {
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::bad_request(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= MAX_BODY_BYTES {
            buf.extend_from_slice(&data);
        } else if seen > MAX_DRAIN_BYTES {
            break;
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(buf))
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let why = || {
        std::error::Error::source(&rejection)
            .map(ToString::to_string)
            .unwrap_or_else(|| rejection.body_text())
    };
    let message = match &rejection {
        JsonRejection::JsonSyntaxError(_) => {
            format!("the request body is not valid JSON: {}", why())
        }
        JsonRejection::JsonDataError(_) => format!(
            "the request body does not have the fields this endpoint takes: {}",
            why()
        ),
        JsonRejection::MissingJsonContentType(_) => {
            "send the request body as JSON, with `Content-Type: application/json`".to_string()
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => too_large_message(),
        _ => format!("cannot read the request body: {}", why()),
    };
    let status = match status {
        // Well-formed JSON of the wrong shape is a bad request like any other.
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        s => s,
    };
    ApiError::bad_request(status, message)
}

fn too_large() -> ApiError {
    ApiError::bad_request(StatusCode::PAYLOAD_TOO_LARGE, too_large_message())
}

pub fn too_large_message() -> String {
    format!(
        "the request body is larger than the limit of {} MiB; an app's files may total 256 KiB",
        MAX_BODY_BYTES / (1024 * 1024)
    )
}

/// The `{app_id}` of a path (an app's name works too, as in the CLI).
pub struct AppRef(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AppRef {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(app)) => Ok(AppRef(app)),
            Err(rejection) => Err(ApiError::bad_request(
                rejection.status(),
                format!(
                    "the app id in the path is not valid: {}",
                    rejection.body_text()
                ),
            )),
        }
    }
}

/// The authenticated caller: `Authorization: Bearer <jwt or API token>`.
pub struct Authed(pub Caller);

impl FromRequestParts<HttpState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        Ok(Authed(state.platform.authenticate(Some(token)).await?))
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let unauthenticated = |m: &str| ApiError::Service(Error::Unauthenticated(m.to_string()));
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated(
            "not logged in: send `Authorization: Bearer <token>` with a token from \
             POST /api/auth/login or `gofast token create`",
        ));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthenticated("the Authorization header must be `Bearer <token>`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_taken_from_the_header() {
        assert_eq!(bearer(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(&headers("bearer  abc ")).unwrap(), "abc");
        assert!(bearer(&headers("Basic abc")).is_err());
        assert!(bearer(&headers("Bearer ")).is_err());
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
