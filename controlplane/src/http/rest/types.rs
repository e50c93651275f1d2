//! The JSON shapes of the REST API, with their OpenAPI schemas. Field names
//! are snake_case, stages are their names (`"READY"`), times are RFC 3339:
//! the same shapes the CLI prints with `-o json` (it converts what gRPC
//! answers with the `TryFrom<&pb::...>` impls below).

use gofast_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;

pub use crate::{error::ErrorCode, model::Stage};
use crate::{
    grpc::convert,
    model,
    service::{AppView, RevisionView},
};

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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
            status: a.status,
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
            stage: e.stage,
            message: e.message.clone(),
            time: rfc3339(e.time),
            output_tail: non_empty(&e.output_tail),
            url: non_empty(&e.url),
        }
    }
}

/// What the gRPC API answers that has no JSON shape.
#[derive(Debug, thiserror::Error)]
#[error("the server sent an unknown deploy stage ({0})")]
pub struct UnknownStage(pub i32);

fn proto_time(t: Option<&prost_types::Timestamp>) -> String {
    let t = t.and_then(|t| {
        OffsetDateTime::from_unix_timestamp(t.seconds)
            .ok()?
            .replace_nanosecond(u32::try_from(t.nanos).ok()?)
            .ok()
    });
    rfc3339(t.unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

fn proto_stage(n: i32) -> Result<Stage, UnknownStage> {
    convert::stage_from_proto(n).ok_or(UnknownStage(n))
}

impl TryFrom<&pb::App> for App {
    type Error = UnknownStage;

    fn try_from(a: &pb::App) -> Result<Self, UnknownStage> {
        Ok(App {
            app_id: a.app_id.clone(),
            name: a.name.clone(),
            url: a.url.clone(),
            status: proto_stage(a.status)?,
            revision: a.revision,
            updated_at: proto_time(a.updated_at.as_ref()),
            created_at: proto_time(a.created_at.as_ref()),
            status_message: a.status_message.clone(),
        })
    }
}

impl TryFrom<&pb::DeployEvent> for DeployEvent {
    type Error = UnknownStage;

    fn try_from(e: &pb::DeployEvent) -> Result<Self, UnknownStage> {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(DeployEvent {
            app_id: e.app_id.clone(),
            revision: e.revision,
            stage: proto_stage(e.stage)?,
            message: e.message.clone(),
            time: proto_time(e.time.as_ref()),
            output_tail: non_empty(&e.output_tail),
            url: non_empty(&e.url),
        })
    }
}

/// An app and the events of its latest deploy, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppStatus {
    #[serde(flatten)]
    pub app: App,
    pub events: Vec<DeployEvent>,
}

/// One stored revision of an app: immutable code, numbered from 1.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revision {
    #[schema(example = 3)]
    pub number: u32,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The content hash of the files (independent of their order).
    pub sha256: String,
    /// Its files' names, sorted.
    #[schema(example = json!(["main.py", "routes.py"]))]
    pub file_names: Vec<String>,
    /// The files' total size in bytes.
    pub size_bytes: u64,
    /// The app's desired revision: what the latest deploy or rollback asked for.
    pub current: bool,
    /// The revision that last became `READY`: what serves while a newer one fails.
    pub live: bool,
}

impl From<&RevisionView> for Revision {
    fn from(v: &RevisionView) -> Self {
        Revision::from(&convert::revision(v))
    }
}

impl From<&pb::Revision> for Revision {
    fn from(r: &pb::Revision) -> Self {
        Revision {
            number: r.number,
            created_at: proto_time(r.created_at.as_ref()),
            sha256: r.sha256.clone(),
            file_names: r.file_names.clone(),
            size_bytes: r.size_bytes,
            current: r.current,
            live: r.live,
        }
    }
}

/// A revision and its files: the code that was deployed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionCode {
    #[serde(flatten)]
    pub revision: Revision,
    pub files: Vec<File>,
}

impl From<&pb::GetRevisionResponse> for RevisionCode {
    fn from(r: &pb::GetRevisionResponse) -> Self {
        RevisionCode {
            revision: Revision::from(r.revision.as_ref().unwrap_or(&pb::Revision::default())),
            files: r
                .files
                .iter()
                .map(|f| File {
                    name: f.name.clone(),
                    content: f.content.clone(),
                })
                .collect(),
        }
    }
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

impl From<&gofast_validate::Diagnostic> for Diagnostic {
    fn from(d: &gofast_validate::Diagnostic) -> Self {
        Diagnostic {
            code: d.code.to_string(),
            severity: match d.severity {
                gofast_validate::Severity::Error => Severity::Error,
                gofast_validate::Severity::Warning => Severity::Warning,
            },
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the CLI prints from gRPC is what REST answers.
    #[test]
    fn grpc_apps_and_events_take_the_rest_shapes() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let view = AppView {
            app: model::App {
                id: "a1".into(),
                user_id: "u1".into(),
                name: "hello".into(),
                revision: 3,
                live_revision: 2,
                status: Stage::HealthCheck,
                status_message: "waiting".into(),
                created_at: now,
                updated_at: now + time::Duration::milliseconds(250),
                last_activity_at: now,
                sleeping: false,
            },
            url: "http://apps/user/u1/app/a1/".into(),
        };
        let rest = serde_json::to_value(App::from(&view)).unwrap();
        let via_grpc = serde_json::to_value(App::try_from(&convert::app(&view)).unwrap()).unwrap();
        assert_eq!(rest, via_grpc);
        assert_eq!(rest["status"], "HEALTH_CHECK");

        let event = model::DeployEvent {
            app_id: "a1".into(),
            revision: 3,
            stage: Stage::Failed,
            message: "exited".into(),
            time: now,
            output_tail: "Traceback".into(),
            url: String::new(),
        };
        let rest = serde_json::to_value(DeployEvent::from(&event)).unwrap();
        let via_grpc =
            serde_json::to_value(DeployEvent::try_from(&convert::event(&event)).unwrap()).unwrap();
        assert_eq!(rest, via_grpc);
        assert!(
            App::try_from(&pb::App {
                status: 99,
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
