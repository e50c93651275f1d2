//! `gofast deploy`: create or update an app, then follow its deploy.

use gofast_controlplane::http::rest::types::ErrorCode;
use gofast_proto::v1 as pb;
use prost::Message;
use serde_json::json;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::{
    args::{DeployArgs, Output},
    client::Client,
    diagnostics::{Problem, render},
    error::{CliError, CliResult, Exit, LocalCode},
    files::{default_app_name, read_files},
    output::print_json,
    progress::Progress,
};

pub async fn run(server: &str, out: Output, args: DeployArgs) -> CliResult {
    let files = read_files(&args.files)?;
    // The server checks again; checking here first answers at once, offline,
    // and never uploads what any server would refuse (an oversized file, say).
    check_locally(out, &files)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_app_name(&args.files[0]));
    let mut client = Client::authenticated(server).await?;
    let proto_files: Vec<pb::File> = files
        .iter()
        .map(|(name, content)| pb::File {
            name: name.clone(),
            content: content.clone(),
        })
        .collect();

    let create = client.req(pb::CreateAppRequest {
        name: name.clone(),
        files: proto_files.clone(),
    });
    let (app, revision) = match client.apps.create_app(create).await {
        Ok(r) => {
            let r = r.into_inner();
            (r.app.unwrap_or_default(), r.revision)
        }
        Err(s) if s.code() == Code::AlreadyExists => {
            let update = client.req(pb::UpdateAppRequest {
                app: name.clone(),
                files: proto_files,
            });
            let r = client
                .apps
                .update_app(update)
                .await
                .map_err(|s| rejected(&client, out, s, &files))?
                .into_inner();
            (r.app.unwrap_or_default(), r.revision)
        }
        Err(s) => return Err(rejected(&client, out, s, &files)),
    };

    if args.detach {
        match out {
            Output::Json => print_json(&json!({
                "app_id": app.app_id, "revision": revision, "url": app.url, "status": "STORED",
            })),
            Output::Text => {
                eprintln!(
                    "Stored revision {revision} of {}; follow it with `gofast status {}`.",
                    app.name, app.name
                );
                println!("{}", app.url);
            }
        }
        return Ok(());
    }

    follow(&mut client, out, &app, revision).await
}

/// Follows a stored revision's deploy to READY or FAILED and reports it:
/// the URL on stdout (or a JSON summary), the reason and output on failure.
pub async fn follow(client: &mut Client, out: Output, app: &pb::App, revision: u32) -> CliResult {
    let progress = Progress::new(out);
    let watch = client.req(pb::WatchDeploymentRequest {
        app: app.app_id.clone(),
        revision,
    });
    let mut events = client
        .apps
        .watch_deployment(watch)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    let mut last: Option<pb::DeployEvent> = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|s| client.fail(s))?;
        progress.event(&event)?;
        let terminal = matches!(
            pb::DeployStage::try_from(event.stage),
            Ok(pb::DeployStage::Ready | pb::DeployStage::Failed)
        );
        last = Some(event);
        if terminal {
            break;
        }
    }
    progress.finish();
    let Some(last) = last else {
        return Err(CliError::new(
            Exit::Connection,
            ErrorCode::Unavailable,
            "the server ended the deploy stream early",
        )
        .hint(format!(
            "see where it got with `gofast status {}`",
            app.name
        )));
    };
    let ready = last.stage == pb::DeployStage::Ready as i32;
    let url = if last.url.is_empty() {
        app.url.clone()
    } else {
        last.url.clone()
    };
    let summary = json!({
        "app_id": app.app_id,
        "name": app.name,
        "revision": revision,
        "url": url,
        "status": crate::output::stage_name(last.stage),
    });
    if ready {
        match out {
            Output::Json => print_json(&summary),
            Output::Text => {
                eprintln!("{} is live (revision {revision}):", app.name);
                println!("{url}");
            }
        }
        return Ok(());
    }
    if out == Output::Text && !last.output_tail.is_empty() {
        eprintln!("\nThe app's output:\n{}\n", last.output_tail);
    }
    // With -o json the summary (status FAILED) is the last line, error joined.
    Err(CliError::new(
        Exit::Rejected,
        LocalCode::DeployFailed,
        format!("the deploy of {} failed: {}", app.name, last.message),
    )
    .hint(format!(
        "see its output with `gofast logs {}`, fix the code and deploy again",
        app.name
    ))
    .with_result(summary))
}

fn check_locally(out: Output, files: &[(String, String)]) -> CliResult {
    let sources: Vec<gofast_validate::SourceFile<'_>> = files
        .iter()
        .map(|(name, content)| gofast_validate::SourceFile {
            name,
            content: content.as_bytes(),
        })
        .collect();
    // Only what every server refuses is refused here: the sandbox rules
    // depend on the server's policy (`--validation advisory`,
    // `--allow-module`), so those are left to the server to judge.
    let advisory = gofast_validate::Policy {
        mode: gofast_validate::Mode::Advisory,
        allow_modules: Vec::new(),
    };
    let diagnostics = gofast_validate::validate_with_policy(
        &sources,
        &gofast_validate::Limits::DEFAULT,
        &advisory,
    );
    if gofast_validate::is_deployable(&diagnostics) {
        return Ok(());
    }
    let problems: Vec<Problem> = diagnostics
        .iter()
        .filter(|d| d.severity == gofast_validate::Severity::Error)
        .map(Problem::from)
        .collect();
    if out == Output::Text {
        render(&problems, files);
    }
    Err(CliError::invalid(format!(
        "the code was rejected ({} problem(s)); nothing was deployed",
        problems.len()
    ))
    .hint("fix the lines above and deploy again")
    .with_diagnostics(problems))
}

/// A rejected create or update: diagnostics are shown on the user's lines.
fn rejected(
    client: &Client,
    out: Output,
    status: tonic::Status,
    files: &[(String, String)],
) -> CliError {
    if status.code() == Code::InvalidArgument
        && let Some(details) = invalid_code_details(&status)
    {
        let problems: Vec<Problem> = details.diagnostics.iter().map(Problem::from).collect();
        if out == Output::Text {
            render(&problems, files);
        }
        return CliError::invalid(format!(
            "the code was rejected ({} problem(s)); nothing was deployed",
            problems.len()
        ))
        .hint("fix the lines above; `gofast check FILE...` checks without deploying")
        .with_diagnostics(problems);
    }
    client.fail(status)
}

fn invalid_code_details(status: &tonic::Status) -> Option<pb::ValidateCodeResponse> {
    let rpc = tonic_types::Status::decode(status.details()).ok()?;
    let any = rpc
        .details
        .into_iter()
        .find(|d| d.type_url == <pb::ValidateCodeResponse as prost::Name>::type_url())?;
    pb::ValidateCodeResponse::decode(any.value.as_slice()).ok()
}
