//! `/api/apps/{app_id}/revisions/...`: the code of each stored revision.
//! Another user's app answers exactly like a missing one.

use axum::{
    Json,
    extract::{FromRequestParts, Path, State},
    http::request::Parts,
};

use super::{
    extract::{ApiError, AppRef, Authed},
    types::{ErrorBody, File, Revision, RevisionCode},
};
use crate::http::HttpState;

/// The app's stored revisions, newest first.
#[utoipa::path(
    get,
    path = "/api/apps/{app_id}/revisions",
    tag = "apps",
    operation_id = "list_revisions",
    security(("bearer" = [])),
    params(("app_id" = String, Path, description = "The app's id (its name works too)")),
    responses(
        (status = 200, description = "The stored revisions, newest first (only the last few are kept)", body = Vec<Revision>),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller", body = ErrorBody),
    ),
)]
pub async fn list_revisions(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    AppRef(app): AppRef,
) -> Result<Json<Vec<Revision>>, ApiError> {
    let revisions = s.platform.list_revisions(&caller, &app).await?;
    Ok(Json(revisions.iter().map(Revision::from).collect()))
}

/// One revision with its files.
#[utoipa::path(
    get,
    path = "/api/apps/{app_id}/revisions/{revision}",
    tag = "apps",
    operation_id = "get_revision",
    security(("bearer" = [])),
    params(
        ("app_id" = String, Path, description = "The app's id (its name works too)"),
        ("revision" = String, Path, description = "The revision's number, or `current`"),
    ),
    responses(
        (status = 200, description = "The revision and its files", body = RevisionCode),
        (status = 400, description = "The revision is neither a number nor `current`", body = ErrorBody),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 404, description = "No such app of the caller, or no such revision (pruned ones are gone)", body = ErrorBody),
    ),
)]
pub async fn get_revision(
    State(s): State<HttpState>,
    Authed(caller): Authed,
    RevisionRef { app, number }: RevisionRef,
) -> Result<Json<RevisionCode>, ApiError> {
    let view = s.platform.get_revision(&caller, &app, number).await?;
    Ok(Json(RevisionCode {
        revision: Revision::from(&view),
        files: view
            .revision
            .files
            .iter()
            .map(|f| File {
                name: f.name.clone(),
                content: f.content.clone(),
            })
            .collect(),
    }))
}

/// `{app_id}/revisions/{revision}` of a path; `current` is `None`.
pub struct RevisionRef {
    app: String,
    number: Option<u32>,
}

impl<S: Send + Sync> FromRequestParts<S> for RevisionRef {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((app, revision)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|r| {
                ApiError::bad_request(
                    r.status(),
                    format!("the path is not valid: {}", r.body_text()),
                )
            })?;
        let number = parse_revision(&revision).ok_or_else(|| {
            ApiError::bad_request(
                axum::http::StatusCode::BAD_REQUEST,
                format!(
                    "{revision:?} is not a revision: use its number (see GET /api/apps/{app}/revisions) or `current`"
                ),
            )
        })?;
        Ok(RevisionRef { app, number })
    }
}

/// `Some(None)` for the current revision, `Some(Some(n))` for number n.
fn parse_revision(s: &str) -> Option<Option<u32>> {
    match s {
        "current" => Some(None),
        n => n.parse::<u32>().ok().filter(|n| *n > 0).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_revision;

    #[test]
    fn revisions_are_numbers_from_one_or_current() {
        assert_eq!(parse_revision("current"), Some(None));
        assert_eq!(parse_revision("3"), Some(Some(3)));
        for bad in ["0", "-1", "three", "", "1.5", "99999999999"] {
            assert_eq!(parse_revision(bad), None, "{bad}");
        }
    }
}
