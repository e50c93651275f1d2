//! Rendering shared by every command: text for people, JSON for scripts.
//! Results go to stdout; progress and errors go to stderr.

use std::io::IsTerminal;

use gofast_controlplane::{
    grpc::convert::stage_from_proto,
    http::rest::types::{self as rest, ErrorCode, Stage},
};
use gofast_proto::v1 as pb;
use serde::Serialize;
use serde_json::Value;

use crate::{
    args::Output,
    error::{CliError, CliResult, Exit},
};

/// Whether to colour what goes to stderr: only on a terminal, never with
/// NO_COLOR. (codespan's and termcolor's `Auto` look at TERM and NO_COLOR but
/// not at whether the stream is a terminal, so `2>log` would get escapes.)
pub fn stderr_colored() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// [`stderr_colored`] as a termcolor choice; `Auto` still honours TERM=dumb.
pub fn stderr_color() -> codespan_reporting::term::termcolor::ColorChoice {
    use codespan_reporting::term::termcolor::ColorChoice;
    if stderr_colored() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    }
}

/// A stage's name (`HEALTH_CHECK`), as REST and the server's model spell it.
pub fn stage_name(stage: i32) -> &'static str {
    // UNSPECIFIED, or a stage newer than this CLI, has no name.
    stage_from_proto(stage).map_or("UNKNOWN", Stage::as_str)
}

pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> Value {
    ts.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(Value::String)
        .unwrap_or(Value::Null)
}

fn unknown_stage(e: rest::UnknownStage) -> CliError {
    CliError::new(Exit::Connection, ErrorCode::Internal, e.to_string())
        .hint("use the gofast CLI of the same version as the server")
}

/// An app in `-o json` output: REST's app object, key for key.
pub fn app_json(a: &pb::App) -> CliResult<rest::App> {
    rest::App::try_from(a).map_err(unknown_stage)
}

/// A deploy event in `-o json` output: REST's event object.
pub fn event_json(e: &pb::DeployEvent) -> CliResult<rest::DeployEvent> {
    rest::DeployEvent::try_from(e).map_err(unknown_stage)
}

/// An app and its latest deploy's events: REST's `GET /api/apps/{app}`.
pub fn status_json(a: &pb::App, events: &[pb::DeployEvent]) -> CliResult<rest::AppStatus> {
    Ok(rest::AppStatus {
        app: app_json(a)?,
        events: events.iter().map(event_json).collect::<CliResult<_>>()?,
    })
}

pub fn print_json(v: &impl Serialize) {
    match serde_json::to_string(v) {
        Ok(json) => println!("{json}"),
        // Only a map with non-string keys fails, and no output has one.
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

/// Prints a table of apps, or their JSON list.
pub fn apps(output: Output, apps: &[pb::App]) -> CliResult {
    if output == Output::Json {
        print_json(&apps.iter().map(app_json).collect::<CliResult<Vec<_>>>()?);
        return Ok(());
    }
    if apps.is_empty() {
        eprintln!("No apps yet: deploy one with `gofast deploy main.py`.");
        return Ok(());
    }
    let rows = apps.iter().map(|a| {
        [
            a.name.clone(),
            a.app_id.clone(),
            stage_name(a.status).to_string(),
            a.revision.to_string(),
            a.url.clone(),
        ]
    });
    println!(
        "{}",
        table(["NAME", "ID", "STATUS", "REV", "URL"], rows, &[3])
    );
    Ok(())
}

/// A plain table for terminals and `grep`/`awk` alike: a header, columns
/// two spaces apart, no borders, nothing after the last character of a line;
/// the `right` columns (numbers) aligned right.
pub fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
    right: &[usize],
) -> String {
    use comfy_table::{CellAlignment, Table, presets::NOTHING};
    let mut table = Table::new();
    table.load_style(NOTHING).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i + 1 < N { 2 } else { 0 }));
        if right.contains(&i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn tables_are_plain_aligned_and_trimmed() {
        let rows = [
            [
                "hello".to_string(),
                "7".to_string(),
                "http://h/".to_string(),
            ],
            ["a-longer-name".into(), "12".into(), "http://a/".into()],
        ];
        assert_eq!(
            table(["NAME", "REV", "URL"], rows, &[1]),
            "NAME           REV  URL\n\
             hello            7  http://h/\n\
             a-longer-name   12  http://a/"
        );
        assert_eq!(
            table(["ID", "NAME"], [["x".into(), String::new()]], &[]),
            "ID  NAME\nx"
        );
    }
}
