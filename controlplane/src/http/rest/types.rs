//! The JSON shapes of the REST API, with their OpenAPI schemas. Field names
//! are snake_case, stages are their names (`"READY"`), times are RFC 3339:
//! the same shapes the CLI prints with `-o json`.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

use crate::{model, service::AppView};

/// An RFC 3339 time, in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// What signup and login take.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Credentials {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 8 characters.
    #[schema(format = Password, example = "correct horse battery")]
    pub password: String,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    #[schema(example = "u7k2m9q4xa")]
    pub user_id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&model::User> for User {
    fn from(u: &model::User) -> Self {
        User {
            user_id: u.id.clone(),
            email: u.email.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// Always `"bearer"`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Bearer,
}

/// A successful login: send `Authorization: Bearer {access_token}` until
/// `expires_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub access_token: String,
    pub token_type: TokenType,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub user: User,
}

/// What `POST /api/auth/password` takes.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    #[schema(format = Password)]
    pub current_password: String,
    /// At least 8 characters.
    #[schema(format = Password)]
    pub new_password: String,
    /// Also revoke every API token of the account (they stay valid otherwise).
    #[serde(default)]
    pub revoke_api_tokens: bool,
}

/// The password was changed: every other session has ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    /// Other login sessions that were ended.
    pub sessions_ended: u64,
    /// API tokens that were revoked.
    pub api_tokens_revoked: u64,
}

/// One file of an app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct File {
    /// A file name such as `main.py`; every app needs a `main.py`.
    #[schema(example = "main.py")]
    pub name: String,
    /// The file's text.
    #[schema(
        example = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"message\": \"hello\"}\n"
    )]
    pub content: String,
}

pub fn files(files: Vec<File>) -> Vec<model::AppFile> {
    files
        .into_iter()
        .map(|f| model::AppFile {
            name: f.name,
            content: f.content,
        })
        .collect()
}

/// A new app and its first revision.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApp {
    /// 1 to 40 lowercase letters, digits and dashes, starting with a letter.
    #[schema(example = "hello-api")]
    pub name: String,
    pub files: Vec<File>,
}

/// New code for an app. Unchanged code makes no new revision.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateApp {
    pub files: Vec<File>,
}

/// The stage a deploy reached: `VALIDATING`, `STORED`, `APPLYING`,
/// `STARTING`, `HEALTH_CHECK`, `READY`, or `FAILED` at any point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Validating,
    Stored,
    Applying,
    Starting,
    HealthCheck,
    Ready,
    Failed,
}

impl From<model::Stage> for Stage {
    fn from(s: model::Stage) -> Self {
        match s {
            model::Stage::Validating => Stage::Validating,
            model::Stage::Stored => Stage::Stored,
            model::Stage::Applying => Stage::Applying,
            model::Stage::Starting => Stage::Starting,
            model::Stage::HealthCheck => Stage::HealthCheck,
            model::Stage::Ready => Stage::Ready,
            model::Stage::Failed => Stage::Failed,
        }
    }
}

/// An app: where it answers and the state of its latest deploy.
#[derive(Debug, Serialize, ToSchema)]
pub struct App {
    #[schema(example = "a3f9k2m7qz")]
    pub app_id: String,
    #[schema(example = "hello-api")]
    pub name: String,
    /// Where the app answers: `{public_url}/user/{user_id}/app/{app_id}/`.
    pub url: String,
    /// The stage the latest deploy reached.
    pub status: Stage,
    /// The desired revision (the latest stored code).
    #[schema(example = 1)]
    pub revision: u32,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// What the latest deploy said (the reason, when it failed).
    pub status_message: String,
}

impl From<&AppView> for App {
    fn from(v: &AppView) -> Self {
        let a = &v.app;
        App {
            app_id: a.id.clone(),
            name: a.name.clone(),
            url: v.url.clone(),
            status: a.status.into(),
            revision: a.revision,
            updated_at: rfc3339(a.updated_at),
            created_at: rfc3339(a.created_at),
            status_message: a.status_message.clone(),
        }
    }
}

/// One step of a deploy.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeployEvent {
    pub app_id: String,
    pub revision: u32,
    pub stage: Stage,
    pub message: String,
    #[schema(format = DateTime)]
    pub time: String,
    /// After a crash: the last lines of the app's output (its traceback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<String>,
    /// On `READY`: where the app answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl From<&model::DeployEvent> for DeployEvent {
    fn from(e: &model::DeployEvent) -> Self {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        DeployEvent {
            app_id: e.app_id.clone(),
            revision: e.revision,
            stage: e.stage.into(),
            message: e.message.clone(),
            time: rfc3339(e.time),
            output_tail: non_empty(&e.output_tail),
            url: non_empty(&e.url),
        }
    }
}

/// An app and the events of its latest deploy, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppStatus {
    #[serde(flatten)]
    pub app: App,
    pub events: Vec<DeployEvent>,
}

/// The kind of an error; stable, for programs to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400 (or 413, 415): the request or the submitted code was rejected.
    InvalidArgument,
    /// 401: no token, or a token that is not (or no longer) valid.
    Unauthenticated,
    /// 404: no such thing, or not yours.
    NotFound,
    /// 405: the path exists, but not with this method.
    MethodNotAllowed,
    /// 409: it exists already.
    AlreadyExists,
    /// 412.
    FailedPrecondition,
    /// 403: the operator does not allow this (closed signups).
    PermissionDenied,
    /// 403: a quota of the account (apps per user) is used up.
    QuotaExceeded,
    /// 429: too many attempts; the `Retry-After` header says when to try again.
    TooManyRequests,
    /// 503: try again later.
    Unavailable,
    /// 500.
    Internal,
}

/// Every error answers this, with the HTTP status that matches the code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// One sentence for people, with what to do next.
    pub message: String,
    /// Present when submitted code was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetails {
    /// Where the code is wrong, to show on the user's lines.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in submitted code. Lines and columns are 1-based and count
/// characters; line 0 means the file as a whole.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
// Tests check that this is exactly what the service layer sends.
#[cfg_attr(test, serde(deny_unknown_fields))]
pub struct Diagnostic {
    /// A stable code such as `GF101`.
    #[schema(example = "GF101")]
    pub code: String,
    pub severity: Severity,
    #[schema(example = "main.py")]
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// How to fix it, when there is a suggestion.
    pub hint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn every_service_error_code_is_documented() {
        let all = [
            Error::InvalidArgument(String::new()),
            Error::InvalidCode(vec![]),
            Error::Unauthenticated(String::new()),
            Error::NotFound(String::new()),
            Error::AlreadyExists(String::new()),
            Error::FailedPrecondition(String::new()),
            Error::Unavailable(String::new()),
            Error::PermissionDenied(String::new()),
            Error::QuotaExceeded(String::new()),
            Error::TooManyRequests {
                message: String::new(),
                retry_after: std::time::Duration::from_secs(1),
            },
            Error::Internal(String::new()),
        ];
        for e in all {
            let code: ErrorCode = serde_json::from_value(serde_json::json!(e.code()))
                .unwrap_or_else(|_| panic!("{} is not in ErrorCode", e.code()));
            assert_eq!(serde_json::json!(code), e.code());
        }
    }

    #[test]
    fn stages_serialize_as_their_model_names() {
        for s in model::Stage::ALL {
            assert_eq!(serde_json::json!(Stage::from(s)), s.as_str());
        }
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
