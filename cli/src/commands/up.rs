//! `gofast up`: the control plane in the foreground, with embedded defaults.

use tokio_util::sync::CancellationToken;

use crate::{
    args::UpArgs,
    error::{CliError, CliResult, Exit, LocalCode},
};

pub async fn run(args: Box<UpArgs>) -> CliResult {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOFAST_LOG")
                .unwrap_or_else(|_| "gofast_controlplane=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(crate::output::stderr_colored())
        .init();
    let shutdown = CancellationToken::new();
    tokio::spawn(gofast_controlplane::server::cancel_on_signal(
        shutdown.clone(),
    ));
    gofast_controlplane::run(args.config, shutdown, &|msg| eprintln!("{msg}"))
        .await
        .map_err(|e| CliError::new(Exit::Rejected, LocalCode::UpFailed, e.to_string()))
}
