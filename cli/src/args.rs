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
    Up(Box<UpArgs>),
    /// Create an account (and log in).
    Signup(Credentials),
    /// Log in and keep the access token for later commands.
    Login(Credentials),
    /// End this login's session on the server and forget its token.
    Logout,
    /// Change your password; every other login session ends.
    Password(PasswordArgs),
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
    /// Show an app's output (stdout and stderr), including a crashed start.
    Logs {
        app: String,
        /// Keep printing new lines until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// How many past lines to show.
        #[arg(long, default_value_t = 100)]
        tail: u32,
    },
    /// Open an app in the browser (prints its URL when there is no browser).
    Open { app: String },
    /// Deploy an earlier revision again.
    Rollback {
        app: String,
        /// The revision to go back to [default: the one before the current].
        #[arg(long)]
        to: Option<u32>,
    },
    /// List an app's stored revisions, newest first.
    Revisions { app: String },
    /// Write a revision's files into a folder (the current revision by default).
    Pull {
        app: String,
        /// The revision to pull [default: the current one].
        #[arg(long)]
        revision: Option<u32>,
        /// The folder to write into (made if missing).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Overwrite files that exist with other content.
        #[arg(long)]
        force: bool,
    },
    /// Delete an app; its URL stops answering.
    Delete {
        app: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// API tokens for CI: `GOFAST_TOKEN=<token> gofast deploy ...`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and cannot be shown again.
    Create { name: String },
    /// List your tokens (never their secrets).
    List,
    /// Revoke a token; it stops working at once.
    Revoke { id: String },
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
pub struct PasswordArgs {
    /// Read the current password, then the new one, from standard input
    /// (one per line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Also revoke every API token (they keep working otherwise).
    #[arg(long)]
    pub revoke_tokens: bool,
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

/// Whether raw arguments ask for `-o json`, for errors clap raises before
/// there is a parsed [`Cli`] to ask.
pub fn asks_for_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect();
    args.iter().enumerate().any(|(i, a)| match a.as_str() {
        "-o" | "--output" => args.get(i + 1).is_some_and(|v| v == "json"),
        _ => matches!(a.as_str(), "-ojson" | "-o=json" | "--output=json"),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{Cli, asks_for_json};

    /// clap's own checks of the definition (conflicting flags, bad defaults,
    /// duplicate names), which it otherwise runs only when a path is taken.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_asked_for_in_every_spelling() {
        let asks = |line: &str| asks_for_json(line.split(' ').map(Into::into));
        for line in [
            "apps -o json",
            "-o json nope",
            "x --output json",
            "x --output=json",
            "x -ojson",
        ] {
            assert!(asks(line), "{line}");
        }
        for line in ["apps", "apps -o text", "deploy -- -o json", "apps -o"] {
            assert!(!asks(line), "{line}");
        }
    }
}
