//! `gofast-controlplane`: the control plane on its own, as the container
//! image and the Helm chart run it. `gofast up` runs the same thing.

use clap::Parser;
use gofast_controlplane::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version, about = "The gofast control plane")]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOFAST_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let shutdown = CancellationToken::new();
    tokio::spawn(gofast_controlplane::server::cancel_on_signal(
        shutdown.clone(),
    ));
    match gofast_controlplane::run(cli.config, shutdown, &|msg| eprintln!("{msg}")).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
