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
    args::{Cli, Command},
    commands::{account, apps, check, deploy, tokens, up},
    error::CliError,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

async fn dispatch(cli: Cli) -> Result<(), CliError> {
    let (server, out) = (cli.server.as_str(), cli.output);
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Signup(args) => account::signup(server, out, args).await,
        Command::Login(args) => account::login(server, out, args).await,
        Command::Logout => account::logout(server).await,
        Command::Password(args) => account::change_password(server, out, args).await,
        Command::Whoami => account::whoami(server, out).await,
        Command::Check { files } => check::run(out, &files),
        Command::Deploy(args) => deploy::run(server, out, args).await,
        Command::Apps => apps::list(server, out).await,
        Command::Status { app } => apps::status(server, out, &app).await,
        Command::Delete { app, yes } => apps::delete(server, &app, yes).await,
        Command::Logs { app, follow, tail } => apps::logs(server, &app, follow, tail).await,
        Command::Open { app } => apps::open(server, &app).await,
        Command::Rollback { app, to } => apps::rollback(server, out, &app, to).await,
        Command::Token(cmd) => tokens::run(server, out, cmd).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "gofast", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn report(e: CliError) -> ExitCode {
    eprintln!("error: {}", e.message);
    if let Some(hint) = &e.hint {
        eprintln!("  next: {hint}");
    }
    ExitCode::from(e.exit as u8)
}
