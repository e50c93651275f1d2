//! apps, status, delete.

use std::io::{IsTerminal, Write};

use gofast_proto::v1 as pb;
use serde_json::json;

use crate::{
    args::Output,
    client::Client,
    error::{CliError, CliResult, Exit, LocalCode},
    output::{self, print_json, stage_name},
};

pub async fn list(server: &str, out: Output) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::ListAppsRequest {});
    let apps = client
        .apps
        .list_apps(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner()
        .apps;
    output::apps(out, &apps)
}

pub async fn status(server: &str, out: Output, app: &str) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::GetAppStatusRequest {
        app: app.to_string(),
    });
    let resp = client
        .apps
        .get_app_status(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    let a = resp.app.unwrap_or_default();
    if out == Output::Json {
        print_json(&output::status_json(&a, &resp.events)?);
        return Ok(());
    }
    println!("{} ({})", a.name, a.app_id);
    println!(
        "  status:   {}{}",
        stage_name(a.status),
        if a.status_message.is_empty() {
            String::new()
        } else {
            format!(" — {}", a.status_message)
        }
    );
    println!("  revision: {}", a.revision);
    println!("  url:      {}", a.url);
    for e in &resp.events {
        println!("  {:<12} {}", stage_name(e.stage), e.message);
    }
    Ok(())
}

pub async fn delete(server: &str, out: Output, app: &str, yes: bool) -> CliResult {
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(format!(
                "refusing to delete {app:?} without confirmation"
            ))
            .hint(format!("run `gofast delete {app} --yes`")));
        }
        eprint!("Delete {app} and stop its URL? [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CliError::new(
                Exit::Rejected,
                LocalCode::Cancelled,
                "not deleted",
            ));
        }
    }
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::DeleteAppRequest {
        app: app.to_string(),
    });
    client
        .apps
        .delete_app(req)
        .await
        .map_err(|s| client.fail(s))?;
    match out {
        Output::Json => print_json(&json!({ "app": app, "deleted": true })),
        Output::Text => eprintln!("Deleted {app}."),
    }
    Ok(())
}

pub async fn logs(server: &str, out: Output, app: &str, follow: bool, tail: u32) -> CliResult {
    use tokio_stream::StreamExt;
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::StreamLogsRequest {
        app: app.to_string(),
        tail,
        follow,
    });
    let mut lines = client
        .apps
        .stream_logs(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    let mut stdout = std::io::stdout().lock();
    while let Some(line) = lines.next().await {
        let line = line.map_err(|s| client.fail(s))?;
        let written = match out {
            // One object per line (NDJSON), as deploy's events.
            Output::Json => serde_json::to_writer(&mut stdout, &json!({ "line": line.line }))
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(stdout)),
            Output::Text => writeln!(stdout, "{}", line.line),
        };
        // A closed pipe (`gofast logs app | head`) ends quietly.
        if written.is_err() {
            break;
        }
    }
    Ok(())
}

pub async fn open(server: &str, out: Output, app: &str) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::GetAppRequest {
        app: app.to_string(),
    });
    let a = client
        .apps
        .get_app(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner()
        .app
        .unwrap_or_default();
    if out == Output::Json {
        // For scripts: the app (REST's object), and no browser.
        print_json(&output::app_json(&a)?);
        return Ok(());
    }
    println!("{}", a.url);
    if std::io::stdout().is_terminal() && open::that_detached(&a.url).is_err() {
        eprintln!("(no browser found: open the URL above)");
    }
    Ok(())
}

pub async fn rollback(server: &str, out: Output, app: &str, to: Option<u32>) -> CliResult {
    let mut client = Client::authenticated(server).await?;
    let req = client.req(pb::RollbackAppRequest {
        app: app.to_string(),
        to_revision: to.unwrap_or(0),
    });
    let resp = client
        .apps
        .rollback_app(req)
        .await
        .map_err(|s| client.fail(s))?
        .into_inner();
    let a = resp.app.unwrap_or_default();
    crate::commands::deploy::follow(&mut client, out, &a, resp.revision).await
}
