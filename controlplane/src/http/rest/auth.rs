//! `/api/auth/...`: accounts and sessions.

use std::{
    convert::Infallible,
    net::{IpAddr, SocketAddr},
};

use axum::{
    Json,
    extract::{ConnectInfo, FromRequestParts, State},
    http::{StatusCode, request::Parts},
};

use super::{
    extract::{ApiError, ApiJson, Authed},
    types::{
        Credentials, ErrorBody, PasswordChange, PasswordChanged, Session, TokenType, User, rfc3339,
    },
};
use crate::http::HttpState;

/// The client's address (for throttling): the peer the listener saw or,
/// behind a trusted proxy, the one X-Forwarded-For names; `None` when the
/// router runs without a listener, as in unit tests.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<HttpState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientIp(state.platform.client_address(peer, &forwarded)))
    }
}

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
        (status = 403, description = "The operator closed signups (`--signup closed`)", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
        (status = 429, description = "Too many signups from this address; see `Retry-After`", body = ErrorBody),
    ),
)]
pub async fn signup(
    State(s): State<HttpState>,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = s
        .platform
        .signup(&body.email, &body.password, client)
        .await?;
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
        (status = 429, description = "Too many attempts from this address or for this account, or the server is busy hashing; see `Retry-After`", body = ErrorBody),
    ),
)]
pub async fn login(
    State(s): State<HttpState>,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<Session>, ApiError> {
    let session = s
        .platform
        .login(&body.email, &body.password, client)
        .await?;
    Ok(Json(Session {
        access_token: session.access_token,
        token_type: TokenType::Bearer,
        expires_at: rfc3339(session.expires_at),
        user: User::from(&session.user),
    }))
}

/// Ends the session of the access token: it is refused from now on.
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "No token, or not a valid one (or the session ended already)", body = ErrorBody),
        (status = 412, description = "An API token, not a login session: revoke it instead", body = ErrorBody),
    ),
)]
pub async fn logout(
    State(s): State<HttpState>,
    Authed(caller): Authed,
) -> Result<StatusCode, ApiError> {
    s.platform.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the password and ends every other session of the account; the
/// caller's token stays valid. API tokens stay valid unless `revoke_api_tokens`.
#[utoipa::path(
    post,
    path = "/api/auth/password",
    tag = "auth",
    operation_id = "change_password",
    security(("bearer" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed; other sessions have ended", body = PasswordChanged),
        (status = 400, description = "The current password is wrong, or the new one is too short", body = ErrorBody),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = ErrorBody),
    ),
)]
pub async fn change_password(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let (sessions_ended, revoked) = s
        .platform
        .change_password(
            &caller,
            &body.current_password,
            &body.new_password,
            body.revoke_api_tokens,
            client,
        )
        .await?;
    Ok(Json(PasswordChanged {
        sessions_ended,
        api_tokens_revoked: revoked as u64,
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
