//! `gofast`: deploy FastAPI apps from a terminal or CI, or run the platform.

mod args;
mod client;
mod commands;
mod credentials;
mod diagnostics;
mod error;
mod files;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::{
    args::{Cli, Command, Output},
    commands::{account, apps, check, deploy, revisions, tokens, up},
    error::{CliError, Exit, LocalCode},
    output::print_json,
};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = cli.output;
    let result = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(dispatch(cli)),
        Err(e) => Err(CliError::new(
            Exit::Rejected,
            LocalCode::Local,
            format!("cannot start: {e}"),
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e, out),
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let (server, out) = (cli.server.as_str(), cli.output);
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Signup(args) => account::signup(server, out, args).await,
        Command::Login(args) => account::login(server, out, args).await,
        Command::Logout => account::logout(server, out).await,
        Command::Password(args) => account::change_password(server, out, args).await,
        Command::Whoami => account::whoami(server, out).await,
        Command::Check { files } => check::run(out, &files),
        Command::Deploy(args) => deploy::run(server, out, args).await,
        Command::Apps => apps::list(server, out).await,
        Command::Status { app } => apps::status(server, out, &app).await,
        Command::Delete { app, yes } => apps::delete(server, out, &app, yes).await,
        Command::Logs { app, follow, tail } => apps::logs(server, out, &app, follow, tail).await,
        Command::Open { app } => apps::open(server, out, &app).await,
        Command::Rollback { app, to } => apps::rollback(server, out, &app, to).await,
        Command::Revisions { app } => revisions::list(server, out, &app).await,
        Command::Pull {
            app,
            revision,
            dir,
            force,
        } => revisions::pull(server, out, &app, revision, &dir, force).await,
        Command::Token(cmd) => tokens::run(server, out, cmd).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "gofast", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Text on stderr, or with `-o json` one JSON object on stdout (stdout is
/// where scripts read `-o json` results, so failures arrive there too).
fn report(e: CliError, out: Output) -> ExitCode {
    match out {
        Output::Json => print_json(&e.to_json()),
        Output::Text => {
            eprintln!("error: {}", e.message);
            if let Some(hint) = &e.hint {
                eprintln!("  next: {hint}");
            }
        }
    }
    ExitCode::from(e.exit as u8)
}

/// A command line clap refused. Help and version are not errors; with
/// `-o json` anywhere on the line, the refusal is a JSON error like any other.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let wants_json = args::asks_for_json(std::env::args_os().skip(1));
    if !wants_json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let message = first.trim_start_matches("error: ").to_string();
    report(
        CliError::usage(message).hint("see `gofast --help`"),
        Output::Json,
    )
}
