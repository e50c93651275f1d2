//! Rendering shared by every command: text for people, JSON for scripts.
//! Results go to stdout; progress and errors go to stderr.

use std::io::IsTerminal;

use gofast_proto::v1 as pb;
use serde_json::{Value, json};

use crate::args::Output;

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

pub fn stage_name(stage: i32) -> &'static str {
    match pb::DeployStage::try_from(stage).unwrap_or(pb::DeployStage::Unspecified) {
        pb::DeployStage::Unspecified => "UNKNOWN",
        pb::DeployStage::Validating => "VALIDATING",
        pb::DeployStage::Stored => "STORED",
        pb::DeployStage::Applying => "APPLYING",
        pb::DeployStage::Starting => "STARTING",
        pb::DeployStage::HealthCheck => "HEALTH_CHECK",
        pb::DeployStage::Ready => "READY",
        pb::DeployStage::Failed => "FAILED",
    }
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

/// The JSON shape of an app in `-o json` output.
pub fn app_json(a: &pb::App) -> Value {
    json!({
        "app_id": a.app_id,
        "name": a.name,
        "url": a.url,
        "status": stage_name(a.status),
        "revision": a.revision,
        "updated_at": rfc3339(a.updated_at.as_ref()),
    })
}

pub fn event_json(e: &pb::DeployEvent) -> Value {
    let mut v = json!({
        "app_id": e.app_id,
        "revision": e.revision,
        "stage": stage_name(e.stage),
        "message": e.message,
        "time": rfc3339(e.time.as_ref()),
    });
    if !e.output_tail.is_empty() {
        v["output_tail"] = json!(e.output_tail);
    }
    if !e.url.is_empty() {
        v["url"] = json!(e.url);
    }
    v
}

pub fn print_json(v: &Value) {
    println!("{v}");
}

/// Prints a table of apps, or their JSON list.
pub fn apps(output: Output, apps: &[pb::App]) {
    if output == Output::Json {
        print_json(&Value::Array(apps.iter().map(app_json).collect()));
        return;
    }
    if apps.is_empty() {
        eprintln!("No apps yet: deploy one with `gofast deploy main.py`.");
        return;
    }
    let w = apps.iter().map(|a| a.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:<w$}  {:<10}  {:<12}  {:>3}  URL",
        "NAME", "ID", "STATUS", "REV"
    );
    for a in apps {
        println!(
            "{:<w$}  {:<10}  {:<12}  {:>3}  {}",
            a.name,
            a.app_id,
            stage_name(a.status),
            a.revision,
            a.url
        );
    }
}
