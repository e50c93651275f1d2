//! The control plane's configuration: one struct, from flags with `GOFAST_*`
//! environment fallbacks, built once and passed down.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on (gRPC, grpc-web, REST, the gateway and the editor).
    #[arg(long, env = "GOFAST_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Base URL users reach the platform at [default: http://ADDR].
    #[arg(long, env = "GOFAST_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where the platform keeps its database, secret and app files [default: ~/.local/share/gofast].
    #[arg(long, env = "GOFAST_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The store: a SQLite file path (relative paths are inside the data dir), or a
    /// `mongodb://` URI (its path names the database, `gofast` by default).
    #[arg(long, env = "GOFAST_STORE", default_value = "gofast.db")]
    pub store: String,

    /// Where apps run.
    #[arg(long, env = "GOFAST_RUNTIME", value_enum, default_value_t = RuntimeKind::Local)]
    pub runtime: RuntimeKind,

    /// Secret that signs access tokens [default: generated and kept in the data dir].
    #[arg(long, env = "GOFAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// How long an access token from `login` is valid, in hours.
    #[arg(long, env = "GOFAST_TOKEN_HOURS", default_value_t = 24 * 7)]
    pub token_hours: u32,

    /// Interpreter used to make the apps' virtualenv.
    #[arg(long, env = "GOFAST_PYTHON", default_value = "python3")]
    pub python: String,

    /// A ready virtualenv with runner/requirements.txt installed [default: made in the data dir].
    #[arg(long, env = "GOFAST_VENV")]
    pub venv: Option<PathBuf>,

    /// Seconds a new revision has to answer /health.
    #[arg(long, env = "GOFAST_START_TIMEOUT", default_value_t = 30)]
    pub start_timeout: u64,

    /// Apps without traffic for this many hours are removed.
    #[arg(long, env = "GOFAST_IDLE_HOURS", default_value_t = 24)]
    pub idle_hours: u64,

    /// Seconds between two passes of the reconciler.
    #[arg(long, env = "GOFAST_RECONCILE_SECONDS", default_value_t = 5)]
    pub reconcile_seconds: u64,

    #[command(flatten)]
    pub kube: crate::config_kube::KubeConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// One local process per app behind the built-in gateway.
    Local,
    /// Kubernetes objects per app, routed by Traefik.
    Kubernetes,
}

impl Config {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(default_data_dir)
    }

    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn start_timeout(&self) -> Duration {
        Duration::from_secs(self.start_timeout)
    }
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("gofast");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/share/gofast"),
        None => PathBuf::from(".gofast"),
    }
}
