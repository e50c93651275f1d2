//! revisions, pull: the stored code of an app's revisions.

use std::path::{Path, PathBuf};

use gofast_controlplane::http::rest::types::{self as rest};
use gofast_proto::v1 as pb;
use serde_json::json;

use crate::{
    args::Output,
    client::Client,
    error::{CliError, CliResult, Exit, LocalCode},
    output::{print_json, table},
};

/// Prints the app's revisions, newest first: a table, or REST's JSON list.
pub async fn list(server: &str, out: Output, app: &str) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::ListRevisionsRequest {
        app: app.to_string(),
    });
    let revisions: Vec<rest::Revision> = client
        .apps
        .list_revisions(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner()
        .revisions
        .iter()
        .map(rest::Revision::from)
        .collect();
    if out == Output::Json {
        print_json(&revisions);
        return Ok(());
    }
    let rows = revisions.iter().map(|r| {
        [
            r.number.to_string(),
            r.created_at.clone(),
            r.file_names.join(" "),
            r.size_bytes.to_string(),
            state(r),
        ]
    });
    println!(
        "{}",
        table(["REV", "CREATED", "FILES", "BYTES", "STATE"], rows, &[0, 3])
    );
    Ok(())
}

/// "current, live", "current", "live" or nothing.
fn state(r: &rest::Revision) -> String {
    let mut words = Vec::new();
    if r.current {
        words.push("current");
    }
    if r.live {
        words.push("live");
    }
    words.join(", ")
}

/// Writes a revision's files (the current one without `revision`) into
/// `dir`. Files that exist with other content are left alone, and nothing
/// is written, unless `force`.
pub async fn pull(
    server: &str,
    out: Output,
    app: &str,
    revision: Option<u32>,
    dir: &Path,
    force: bool,
) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::GetRevisionRequest {
        app: app.to_string(),
        revision: revision.unwrap_or(0),
    });
    let code = rest::RevisionCode::from(
        &client
            .apps
            .get_revision(req)
            .await
            .map_err(|s| client.fail(s))?
            .into_inner(),
    );
    let plan = plan(&code.files, dir)?;
    let clashes: Vec<String> = plan
        .iter()
        .filter(|p| p.action == Action::Differs)
        .map(|p| p.path.display().to_string())
        .collect();
    if !clashes.is_empty() && !force {
        return Err(CliError::new(
            Exit::Rejected,
            LocalCode::Usage,
            format!(
                "not pulled: {} already exist{} with other content",
                clashes.join(", "),
                if clashes.len() == 1 { "s" } else { "" }
            ),
        )
        .hint(format!(
            "pull into another folder with --dir, or overwrite them with `gofast pull {app} --force`"
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| local(format!("cannot create {}: {e}", dir.display())))?;
    for p in plan.iter().filter(|p| p.action != Action::Same) {
        std::fs::write(&p.path, &p.content)
            .map_err(|e| local(format!("cannot write {}: {e}", p.path.display())))?;
    }
    let names = |a: Action| -> Vec<&str> {
        plan.iter()
            .filter(|p| p.action == a)
            .map(|p| p.name.as_str())
            .collect()
    };
    let number = code.revision.number;
    match out {
        Output::Json => print_json(&json!({
            "app": app,
            "revision": number,
            "dir": dir.display().to_string(),
            "written": names(Action::New).into_iter().chain(names(Action::Differs)).collect::<Vec<_>>(),
            "unchanged": names(Action::Same),
        })),
        Output::Text => eprintln!(
            "Pulled revision {number} of {app} into {}: {}.",
            dir.display(),
            plan.iter()
                .map(|p| match p.action {
                    Action::Same => format!("{} (unchanged)", p.name),
                    Action::Differs => format!("{} (overwritten)", p.name),
                    Action::New => p.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(())
}

fn local(message: String) -> CliError {
    CliError::new(Exit::Rejected, LocalCode::Local, message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// No such file yet.
    New,
    /// The file has this content already.
    Same,
    /// The file has other content.
    Differs,
}

#[derive(Debug)]
struct Planned {
    name: String,
    path: PathBuf,
    content: String,
    action: Action,
}

/// Where each file goes and what writing it would do. A name that is not a
/// plain file name (the server never sends one) is refused, never followed.
fn plan(files: &[rest::File], dir: &Path) -> CliResult<Vec<Planned>> {
    files
        .iter()
        .map(|f| {
            let plain = Path::new(&f.name).file_name().and_then(|n| n.to_str()) == Some(&f.name)
                && !f.name.starts_with('.');
            if !plain {
                return Err(CliError::new(
                    Exit::Rejected,
                    LocalCode::Local,
                    format!("the server sent a file named {:?}, which is not a plain file name; nothing was written", f.name),
                ));
            }
            let path = dir.join(&f.name);
            let action = match std::fs::read(&path) {
                Ok(bytes) if bytes == f.content.as_bytes() => Action::Same,
                Ok(_) => Action::Differs,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Action::New,
                Err(e) => return Err(local(format!("cannot read {}: {e}", path.display()))),
            };
            Ok(Planned {
                name: f.name.clone(),
                path,
                content: f.content.clone(),
                action,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &str) -> rest::File {
        rest::File {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn the_plan_tells_new_same_and_different_files_apart() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.py"), "same").unwrap();
        std::fs::write(dir.path().join("util.py"), "old").unwrap();
        let got = plan(
            &[
                file("main.py", "same"),
                file("util.py", "new"),
                file("extra.py", "x"),
            ],
            dir.path(),
        )
        .unwrap();
        let actions: Vec<Action> = got.iter().map(|p| p.action).collect();
        assert_eq!(actions, vec![Action::Same, Action::Differs, Action::New]);
    }

    #[test]
    fn names_that_are_not_plain_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x.py", "/etc/passwd", "a/b.py", ".bashrc", "..", ""] {
            assert!(plan(&[file(bad, "")], dir.path()).is_err(), "{bad:?}");
        }
    }
}
