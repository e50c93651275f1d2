//! Between the platform's model and the wire.

use gofast_proto::v1 as pb;
use time::OffsetDateTime;

use crate::{
    model::{ApiToken, AppFile, DeployEvent, Stage, User},
    service::{AppView, RevisionView},
};

pub fn timestamp(t: OffsetDateTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    })
}

/// The one mapping between the model's stages and the wire's, both ways.
pub fn stage(s: Stage) -> pb::DeployStage {
    match s {
        Stage::Validating => pb::DeployStage::Validating,
        Stage::Stored => pb::DeployStage::Stored,
        Stage::Applying => pb::DeployStage::Applying,
        Stage::Starting => pb::DeployStage::Starting,
        Stage::HealthCheck => pb::DeployStage::HealthCheck,
        Stage::Ready => pb::DeployStage::Ready,
        Stage::Failed => pb::DeployStage::Failed,
        Stage::Sleeping => pb::DeployStage::Sleeping,
    }
}

/// The stage a wire value names; `None` for `UNSPECIFIED` and unknown values.
pub fn stage_from_proto(n: i32) -> Option<Stage> {
    let wire = pb::DeployStage::try_from(n).ok()?;
    Stage::ALL.iter().copied().find(|s| stage(*s) == wire)
}

pub fn user(u: &User) -> pb::User {
    pb::User {
        user_id: u.id.clone(),
        email: u.email.clone(),
        created_at: timestamp(u.created_at),
    }
}

pub fn app(v: &AppView) -> pb::App {
    let a = &v.app;
    pb::App {
        app_id: a.id.clone(),
        name: a.name.clone(),
        url: v.url.clone(),
        status: stage(a.status) as i32,
        revision: a.revision,
        created_at: timestamp(a.created_at),
        updated_at: timestamp(a.updated_at),
        status_message: a.status_message.clone(),
        user_id: a.user_id.clone(),
    }
}

pub fn event(e: &DeployEvent) -> pb::DeployEvent {
    pb::DeployEvent {
        app_id: e.app_id.clone(),
        revision: e.revision,
        stage: stage(e.stage) as i32,
        message: e.message.clone(),
        time: timestamp(e.time),
        output_tail: e.output_tail.clone(),
        url: e.url.clone(),
    }
}

pub fn token(t: &ApiToken) -> pb::ApiToken {
    pb::ApiToken {
        id: t.id.clone(),
        name: t.name.clone(),
        created_at: timestamp(t.created_at),
        last_used_at: t.last_used_at.and_then(timestamp),
    }
}

pub fn files(files: Vec<pb::File>) -> Vec<AppFile> {
    files
        .into_iter()
        .map(|f| AppFile {
            name: f.name,
            content: f.content,
        })
        .collect()
}

/// A revision without its files: their names (sorted) and total size.
pub fn revision(v: &RevisionView) -> pb::Revision {
    let r = &v.revision;
    let mut file_names: Vec<String> = r.files.iter().map(|f| f.name.clone()).collect();
    file_names.sort();
    pb::Revision {
        number: r.number,
        created_at: timestamp(r.created_at),
        sha256: r.sha256.clone(),
        file_names,
        size_bytes: r.files.iter().map(|f| f.content.len() as u64).sum(),
        current: v.current,
        live: v.live,
    }
}

pub fn files_to_proto(files: &[AppFile]) -> Vec<pb::File> {
    files
        .iter()
        .map(|f| pb::File {
            name: f.name.clone(),
            content: f.content.clone(),
        })
        .collect()
}

pub fn diagnostic_to_proto(d: &gofast_validate::Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        code: d.code.to_string(),
        severity: d.severity.as_str().to_string(),
        file: d.file.clone(),
        line: d.line,
        column: d.column,
        message: d.message.clone(),
        hint: d.hint.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_round_trip_through_the_wire() {
        for &s in Stage::ALL {
            assert_eq!(stage_from_proto(stage(s) as i32), Some(s));
        }
        assert_eq!(stage_from_proto(pb::DeployStage::Unspecified as i32), None);
        assert_eq!(stage_from_proto(99), None);
    }
}
