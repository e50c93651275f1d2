//! Every command and flag of `gofast`, in one place (the contract in DESIGN.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "gofast",
    version,
    about = "Deploy FastAPI apps and get a URL in a second"
)]
pub struct Cli {
    /// The gofast server to talk to.
    #[arg(
        long,
        global = true,
        env = "GOFAST_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,

    /// How to print results.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole platform on this machine, in the foreground.
    Up(UpArgs),
    /// Create an account (and log in).
    Signup(Credentials),
    /// Log in and keep the access token for later commands.
    Login(Credentials),
    /// Forget the access token of this server.
    Logout,
    /// Show who you are logged in as.
    Whoami,
    /// Check files offline, like the server does before a deploy.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Deploy files as an app and wait until it answers.
    Deploy(DeployArgs),
    /// List your apps.
    Apps,
    /// Show an app and its latest deploy.
    Status { app: String },
    /// Delete an app; its URL stops answering.
    Delete {
        app: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: gofast_controlplane::Config,
}

#[derive(Debug, Args)]
pub struct Credentials {
    #[arg(long)]
    pub email: String,
    /// Read the password from standard input instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The app's files; main.py is the entry point.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The app's name [default: the first file's folder name].
    #[arg(long)]
    pub name: Option<String>,
    /// Return once the revision is stored, without waiting for it to run.
    #[arg(long)]
    pub detach: bool,
}
