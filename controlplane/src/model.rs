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

/// The stages of a deploy, in order; `Failed` may come at any point.
/// Ordered as declared, so `a < b` means a comes earlier in a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Validating,
        Stage::Stored,
        Stage::Applying,
        Stage::Starting,
        Stage::HealthCheck,
        Stage::Ready,
        Stage::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Validating => "VALIDATING",
            Stage::Stored => "STORED",
            Stage::Applying => "APPLYING",
            Stage::Starting => "STARTING",
            Stage::HealthCheck => "HEALTH_CHECK",
            Stage::Ready => "READY",
            Stage::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// READY and FAILED end a deploy.
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Ready | Stage::Failed)
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
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("nope"), None);
    }

    #[test]
    fn stages_are_ordered_as_a_deploy_goes() {
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Stage::Starting < Stage::HealthCheck);
    }
}
