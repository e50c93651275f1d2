//! `/api/auth/...`: accounts and sessions.

use axum::{Json, extract::State, http::StatusCode};

use super::{
    extract::{ApiError, ApiJson, Authed},
    types::{Credentials, ErrorBody, Session, TokenType, User, rfc3339},
};
use crate::http::HttpState;

/// Makes an account.
#[utoipa::path(
    post,
    path = "/api/auth/signup",
    tag = "auth",
    operation_id = "signup",
    request_body = Credentials,
    responses(
        (status = 201, description = "The account was made; log in next", body = User),
        (status = 400, description = "A malformed email, a too short password or a malformed body", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ),
)]
pub async fn signup(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = s.platform.signup(&body.email, &body.password).await?;
    Ok((StatusCode::CREATED, Json(User::from(&user))))
}

/// Logs in: a bearer token for the other endpoints.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    operation_id = "login",
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in", body = Session),
        (status = 400, description = "A malformed body", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ),
)]
pub async fn login(
    State(s): State<HttpState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<Session>, ApiError> {
    let session = s.platform.login(&body.email, &body.password).await?;
    Ok(Json(Session {
        access_token: session.access_token,
        token_type: TokenType::Bearer,
        expires_at: rfc3339(session.expires_at),
        user: User::from(&session.user),
    }))
}

/// The account of the token.
#[utoipa::path(
    get,
    path = "/api/auth/me",
    tag = "auth",
    operation_id = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = User),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
    ),
)]
pub async fn me(
    State(s): State<HttpState>,
    Authed(caller): Authed,
) -> Result<Json<User>, ApiError> {
    let user = s.platform.me(&caller).await?;
    Ok(Json(User::from(&user)))
}
