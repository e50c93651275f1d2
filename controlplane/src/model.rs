//! The platform's own vocabulary, shared by the service layer, the stores and
//! the runtimes. Wire types (proto, JSON) are converted at the edges.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub type UserId = String;
pub type AppId = String;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
}

/// One submitted file of an app, stored as text (the validator rejects non-UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppFile {
    pub name: String,
    pub content: String,
}

/// The stage a deploy reached: `VALIDATING`, `STORED`, `APPLYING`,
/// `STARTING`, `HEALTH_CHECK`, `READY`, or `FAILED` at any point; and, shown
/// in place of `READY` only, `SLEEPING`: the app is stopped until its next
/// request wakes it (no deploy ever reports it, and stores never hold it).
/// Ordered as declared, so `a < b` means a comes earlier in a deploy. The one
/// definition: stores, REST (its schema too) and the CLI use these names.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    Validating,
    Stored,
    Applying,
    Starting,
    HealthCheck,
    Ready,
    Failed,
    Sleeping,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: &'static [Stage] = <Stage as strum::VariantArray>::VARIANTS;

    /// The stage's name, as stored and shown: `HEALTH_CHECK`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn parse(s: &str) -> Option<Stage> {
        s.parse().ok()
    }

    /// READY and FAILED end a deploy (SLEEPING is a READY app at rest).
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Ready | Stage::Failed | Stage::Sleeping)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub id: AppId,
    pub user_id: UserId,
    pub name: String,
    /// The desired revision; 0 before the first one is stored.
    pub revision: u32,
    /// The last revision that became READY (0 for none): what runs while a
    /// newer revision fails.
    pub live_revision: u32,
    /// The stage the latest deploy reached, and what it said.
    pub status: Stage,
    pub status_message: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub last_activity_at: OffsetDateTime,
    /// Stopped for want of traffic; the next request wakes it. Kept apart
    /// from `status`, which says how the latest deploy went.
    pub sleeping: bool,
}

impl App {
    /// The status to show: `SLEEPING` for a READY app that sleeps.
    pub fn shown_status(&self) -> Stage {
        if self.sleeping && self.status == Stage::Ready {
            Stage::Sleeping
        } else {
            self.status
        }
    }
}

/// An immutable snapshot of an app's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub app_id: AppId,
    pub number: u32,
    pub files: Vec<AppFile>,
    pub sha256: String,
    /// The user who stored it.
    pub author: UserId,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub user_id: UserId,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// One step of a deploy, as the CLI and the editor show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployEvent {
    pub app_id: AppId,
    pub revision: u32,
    pub stage: Stage,
    pub message: String,
    pub time: OffsetDateTime,
    /// After a crash: the last lines of the app's output.
    pub output_tail: String,
    /// On READY: where the app answers.
    pub url: String,
}

/// The content hash of a set of files, independent of their order.
pub fn files_sha256(files: &[AppFile]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&AppFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = Sha256::new();
    for f in sorted {
        hasher.update((f.name.len() as u64).to_be_bytes());
        hasher.update(f.name.as_bytes());
        hasher.update((f.content.len() as u64).to_be_bytes());
        hasher.update(f.content.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> AppFile {
        AppFile {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn hash_ignores_file_order_but_not_content() {
        let a = files_sha256(&[file("a.py", "1"), file("main.py", "2")]);
        let b = files_sha256(&[file("main.py", "2"), file("a.py", "1")]);
        let c = files_sha256(&[file("main.py", "2"), file("a.py", "1 ")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn hash_separates_names_from_contents() {
        assert_ne!(
            files_sha256(&[file("ab", "c")]),
            files_sha256(&[file("a", "bc")])
        );
    }

    #[test]
    fn stages_round_trip_through_their_names() {
        for &s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::json!(s), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Stage::HealthCheck.as_str(), "HEALTH_CHECK");
        assert_eq!(Stage::parse("nope"), None);
        assert_eq!(Stage::parse("ready"), None);
    }

    #[test]
    fn stages_are_ordered_as_a_deploy_goes() {
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Stage::Starting < Stage::HealthCheck);
    }
}
