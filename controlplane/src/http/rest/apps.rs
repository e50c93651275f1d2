//! `/api/apps/...`: the caller's apps. Another user's app answers exactly
//! like a missing one.

use axum::{Json, extract::State, http::StatusCode};

use super::{
    extract::{ApiError, ApiJson, AppRef, Authed},
    types::{App, AppStatus, CreateApp, DeployEvent, ErrorBody, UpdateApp, files},
};
use crate::http::HttpState;

/// The caller's apps.
#[utoipa::path(
    get,
    path = "/api/apps",
    tag = "apps",
    operation_id = "list_apps",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every app of the caller", body = Vec<App>),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
    ),
)]
pub async fn list_apps(
    State(s): State<HttpState>,
    Authed(caller): Authed,
) -> Result<Json<Vec<App>>, ApiError> {
    let apps = s.platform.list_apps(&caller).await?;
    Ok(Json(apps.iter().map(App::from).collect()))
}

/// Makes an app from its files and starts deploying revision 1. Follow the
/// deploy with `GET /api/apps/{app_id}/status`.
#[utoipa::path(
    post,
    path = "/api/apps",
    tag = "apps",
    operation_id = "create_app",
    security(("bearer" = [])),
    request_body = CreateApp,
    responses(
        (status = 201, description = "Stored; the deploy goes on in the background", body = App),
        (status = 400, description = "A malformed name or body, or code that was rejected (`details.diagnostics`)", body = ErrorBody),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 409, description = "The caller has an app of this name", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ),
)]
pub async fn create_app(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    ApiJson(body): ApiJson<CreateApp>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    let (view, _revision) = s
        .platform
        .create_app(&caller, &body.name, files(body.files))
        .await?;
    Ok((StatusCode::CREATED, Json(App::from(&view))))
}

/// One app.
#[utoipa::path(
    get,
    path = "/api/apps/{app_id}",
    tag = "apps",
    operation_id = "get_app",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    responses(
        (status = 200, description = "The app", body = App),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
    ),
)]
pub async fn get_app(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
) -> Result<Json<App>, ApiError> {
    let view = s.platform.get_app(&caller, &app).await?;
    Ok(Json(App::from(&view)))
}

/// New code for an app: stores a new revision and deploys it; the old
/// revision serves until the new one is healthy. Unchanged code makes no new
/// revision.
#[utoipa::path(
    put,
    path = "/api/apps/{app_id}",
    tag = "apps",
    operation_id = "update_app",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    request_body = UpdateApp,
    responses(
        (status = 200, description = "Stored; the deploy goes on in the background", body = App),
        (status = 400, description = "A malformed body, or code that was rejected (`details.diagnostics`)", body = ErrorBody),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not sent as JSON", body = ErrorBody),
    ),
)]
pub async fn update_app(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
    ApiJson(body): ApiJson<UpdateApp>,
) -> Result<Json<App>, ApiError> {
    let (view, _revision) = s
        .platform
        .update_app(&caller, &app, files(body.files))
        .await?;
    Ok(Json(App::from(&view)))
}

/// Deletes an app; its URL answers 404 afterwards.
#[utoipa::path(
    delete,
    path = "/api/apps/{app_id}",
    tag = "apps",
    operation_id = "delete_app",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
    ),
)]
pub async fn delete_app(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
) -> Result<StatusCode, ApiError> {
    s.platform.delete_app(&caller, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An app and the events of its latest deploy.
#[utoipa::path(
    get,
    path = "/api/apps/{app_id}/status",
    tag = "apps",
    operation_id = "get_app_status",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    responses(
        (status = 200, description = "The app and its latest deploy's events, oldest first", body = AppStatus),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
    ),
)]
pub async fn app_status(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
) -> Result<Json<AppStatus>, ApiError> {
    let (view, events) = s.platform.app_status(&caller, &app).await?;
    Ok(Json(AppStatus {
        app: App::from(&view),
        events: events.iter().map(DeployEvent::from).collect(),
    }))
}

/// Records activity on an app, so that it is not removed as idle (as traffic
/// through its URL does).
#[utoipa::path(
    post,
    path = "/api/apps/{app_id}/activity",
    tag = "apps",
    operation_id = "record_activity",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    responses(
        (status = 204, description = "Recorded"),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
    ),
)]
pub async fn record_activity(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
) -> Result<StatusCode, ApiError> {
    s.platform.touch_app(&caller, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}
