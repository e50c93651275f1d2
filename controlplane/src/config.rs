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

    /// Base URL of the apps: a host of its own, so apps never share the
    /// platform's origin [default: the other loopback name, e.g.
    /// http://localhost:PORT beside http://127.0.0.1:PORT].
    #[arg(long, env = "GOFAST_APPS_URL")]
    pub apps_url: Option<String>,

    /// Seconds a client has to send a request's headers (and to start the
    /// next request on a kept-alive connection).
    #[arg(long, env = "GOFAST_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,

    /// Open connections the port accepts in all.
    #[arg(long, env = "GOFAST_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Open connections the port accepts from one client address.
    #[arg(long, env = "GOFAST_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,

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

    /// Apps without a request for this long stop until their next request
    /// wakes them (embedded runtime): 15m, 90s, 1h; 0 keeps them running.
    #[arg(long, env = "GOFAST_SLEEP_AFTER", default_value = "15m", value_parser = humantime::parse_duration)]
    pub sleep_after: Duration,

    /// Seconds between two passes of the reconciler.
    #[arg(long, env = "GOFAST_RECONCILE_SECONDS", default_value_t = 5)]
    pub reconcile_seconds: u64,

    /// Memory each app may use, as a Kubernetes quantity (128Mi, 1Gi, 500M).
    #[arg(long, env = "GOFAST_APP_MEMORY", default_value = "128Mi")]
    pub app_memory: MemoryQuantity,

    /// CPU share of each app, as a Kubernetes quantity (250m, 0.5, 1).
    #[arg(long, env = "GOFAST_APP_CPU", default_value = "250m")]
    pub app_cpu: CpuQuantity,

    /// How local apps are confined: in bubblewrap (auto, the default, and
    /// bwrap: `gofast up` refuses to start where bubblewrap does not work), or
    /// not at all (none: plain processes, no namespaces, no seccomp filter).
    /// GOFAST_BWRAP names the bwrap binary when it is not on PATH.
    #[arg(long, env = "GOFAST_SANDBOX", value_enum, default_value_t = SandboxMode::Auto)]
    pub sandbox: SandboxMode,

    /// How local apps start: forked from a warm fork server that has the
    /// server stack imported (fork), as a fresh process each (exec), or fork
    /// where the fork server starts and passes its self-check, else exec (auto).
    #[arg(long, env = "GOFAST_START", value_enum, default_value_t = StartMode::Auto)]
    pub start: StartMode,

    /// Limit local apps with cgroups when a writable one exists (auto), or with
    /// rlimits only (none).
    #[arg(long, env = "GOFAST_CGROUPS", value_enum, default_value_t = CgroupMode::Auto)]
    pub cgroups: CgroupMode,

    /// What the code checker's sandbox rules (imports, calls, attributes) do:
    /// refuse the deploy (strict), or report and deploy anyway (advisory).
    /// Limits, file names and syntax are refused either way.
    #[arg(long, env = "GOFAST_VALIDATION", value_enum, default_value_t = ValidationMode::Strict)]
    pub validation: ValidationMode,

    /// A module apps may import besides the built-in list, with its
    /// submodules (repeatable; GOFAST_ALLOW_MODULES takes a comma-separated list).
    #[arg(
        long = "allow-module",
        env = "GOFAST_ALLOW_MODULES",
        value_name = "NAME",
        value_delimiter = ',',
        value_parser = parse_allowed_module
    )]
    pub allow_modules: Vec<String>,

    // Accounts and limits (README "Accounts and limits").
    /// Whether anyone may make an account (open), or only accounts that
    /// exist may log in (closed).
    #[arg(long, env = "GOFAST_SIGNUP", value_enum, default_value_t = SignupMode::Open)]
    pub signup: SignupMode,

    /// Apps one account may have.
    #[arg(long, env = "GOFAST_MAX_APPS_PER_USER", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_apps_per_user: u32,

    /// Revisions kept per app; older ones are deleted (never the desired or
    /// the serving one). Each is at most the checker's upload limit (256 KiB).
    #[arg(long, env = "GOFAST_KEEP_REVISIONS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_revisions: u32,

    /// Login attempts per minute from one client address (IPv6: one /64).
    #[arg(long, env = "GOFAST_LOGINS_PER_MINUTE", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub logins_per_minute: u32,

    /// Login attempts per minute for one account, from anywhere.
    #[arg(long, env = "GOFAST_ACCOUNT_LOGINS_PER_MINUTE", default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub account_logins_per_minute: u32,

    /// Signups per hour from one client address.
    #[arg(long, env = "GOFAST_SIGNUPS_PER_HOUR", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub signups_per_hour: u32,

    /// A reverse proxy (address or CIDR) whose X-Forwarded-For names the
    /// client, for the per-address limits; repeatable (GOFAST_TRUSTED_PROXIES
    /// takes a comma-separated list); only the total connection cap applies
    /// to it. Set it when a proxy such as Traefik fronts the control plane,
    /// or every user shares the proxy's limits.
    #[arg(long = "trusted-proxy", env = "GOFAST_TRUSTED_PROXIES", value_name = "CIDR",
          value_delimiter = ',', value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    #[command(flatten)]
    pub kube: crate::config_kube::KubeConfig,
}

/// `10.42.0.0/16`, `fd00::/8`, or one address.
fn parse_trusted_proxy(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an address or CIDR; write e.g. 10.42.0.0/16"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignupMode {
    /// Anyone who reaches the platform may make an account.
    Open,
    /// Signup is refused; existing accounts log in as before.
    Closed,
}

impl Config {
    /// The secret that signs access tokens: `--jwt-secret` if given (and
    /// strong enough), else the one kept in the data dir.
    pub fn jwt_secret_bytes(
        &self,
        data_dir: &std::path::Path,
    ) -> Result<Vec<u8>, crate::auth::SecretError> {
        match &self.jwt_secret {
            Some(s) => crate::auth::check_flag_secret(s),
            None => crate::auth::load_or_create_secret(&data_dir.join("jwt-secret")),
        }
    }

    /// Signups, login throttling and quotas, for the service layer.
    pub fn account_settings(&self) -> crate::service::AccountSettings {
        crate::service::AccountSettings {
            signup: self.signup,
            max_apps_per_user: self.max_apps_per_user,
            keep_revisions: self.keep_revisions,
            logins_per_minute: self.logins_per_minute,
            account_logins_per_minute: self.account_logins_per_minute,
            signups_per_hour: self.signups_per_hour,
            trusted_proxies: self.trusted_proxies.clone(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// One local process per app behind the built-in gateway.
    Local,
    /// Kubernetes objects per app, routed by Traefik.
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidationMode {
    /// Refuse code that breaks a sandbox rule.
    Strict,
    /// Report it in the deploy's VALIDATING event and deploy anyway.
    Advisory,
}

fn parse_allowed_module(s: &str) -> Result<String, String> {
    gofast_validate::parse_module_name(s).map_err(|e| e.to_string())
}

impl Config {
    /// The checker's policy from `--validation` and `--allow-module`.
    pub fn validation_policy(&self) -> gofast_validate::Policy {
        gofast_validate::Policy {
            mode: match self.validation {
                ValidationMode::Strict => gofast_validate::Mode::Strict,
                ValidationMode::Advisory => gofast_validate::Mode::Advisory,
            },
            allow_modules: self.allow_modules.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxMode {
    /// Bubblewrap, or refuse to start (the same as bwrap; kept for scripts).
    Auto,
    /// Bubblewrap, or refuse to start.
    Bwrap,
    /// Plain processes: a scrubbed environment and limits only.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartMode {
    /// Fork where the fork server works here, else exec (saying why).
    Auto,
    /// Fork, or refuse to start.
    Fork,
    /// A fresh interpreter per app (the cold start).
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CgroupMode {
    /// cgroup v2 or v1, per controller, where this process may create groups.
    Auto,
    /// rlimits only.
    None,
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

/// A Kubernetes memory quantity: `128Mi`, `1Gi`, `500M`, `134217728`.
/// Kept as written, so the Kubernetes runtime can pass it on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryQuantity {
    pub text: String,
    pub bytes: u64,
}

impl std::str::FromStr for MemoryQuantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (num, suffix) = t.split_at(split);
        let unit: u64 = match suffix {
            "" => 1,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            _ => {
                return Err(format!(
                    "{s:?} is not a memory quantity; write e.g. 128Mi or 1Gi"
                ));
            }
        };
        let n: f64 = num
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .ok_or_else(|| format!("{s:?} is not a memory quantity; write e.g. 128Mi or 1Gi"))?;
        let bytes = (n * unit as f64) as u64;
        // Below this the Python runner cannot even import FastAPI.
        if bytes < 32 << 20 {
            return Err(format!(
                "{s:?} is too little memory for a Python app; use at least 32Mi"
            ));
        }
        Ok(Self {
            text: t.to_string(),
            bytes,
        })
    }
}

impl MemoryQuantity {
    /// For people: `128 MiB`, `1 GiB`, `500 MB`.
    pub fn human(&self) -> String {
        const UNITS: [(u64, &str); 4] = [
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1_000_000_000, "GB"),
            (1_000_000, "MB"),
        ];
        if let Some((size, name)) = UNITS
            .iter()
            .find(|(size, _)| self.bytes.is_multiple_of(*size))
        {
            return format!("{} {name}", self.bytes / size);
        }
        format!("{:.1} MiB", self.bytes as f64 / (1 << 20) as f64)
    }
}

impl std::fmt::Display for MemoryQuantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A Kubernetes CPU quantity: `250m`, `0.5`, `1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuQuantity {
    pub text: String,
    pub millis: u64,
}

impl std::str::FromStr for CpuQuantity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("{s:?} is not a CPU quantity; write e.g. 250m or 0.5");
        let millis = match t.strip_suffix('m') {
            Some(m) => m.parse::<u64>().map_err(|_| bad())?,
            None => {
                let n: f64 = t.parse().map_err(|_| bad())?;
                if !n.is_finite() {
                    return Err(bad());
                }
                (n * 1000.0).round() as u64
            }
        };
        if millis == 0 {
            return Err(bad());
        }
        Ok(Self {
            text: t.to_string(),
            millis,
        })
    }
}

impl std::fmt::Display for CpuQuantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod quantity_tests {
    use super::*;

    #[test]
    fn memory_quantities_parse_like_kubernetes() {
        let m = |s: &str| s.parse::<MemoryQuantity>();
        assert_eq!(m("128Mi").unwrap().bytes, 128 << 20);
        assert_eq!(m("1Gi").unwrap().bytes, 1 << 30);
        assert_eq!(m("500M").unwrap().bytes, 500_000_000);
        assert_eq!(m("0.5Gi").unwrap().bytes, 512 << 20);
        assert_eq!(m("134217728").unwrap().bytes, 128 << 20);
        assert_eq!(m("128Mi").unwrap().to_string(), "128Mi");
        assert!(m("128MB").is_err() && m("lots").is_err() && m("-1Gi").is_err());
        assert!(m("1Mi").is_err(), "too small for Python");
    }

    #[test]
    fn memory_reads_well() {
        let h = |s: &str| s.parse::<MemoryQuantity>().unwrap().human();
        assert_eq!(h("128Mi"), "128 MiB");
        assert_eq!(h("1Gi"), "1 GiB");
        assert_eq!(h("1536Mi"), "1536 MiB");
        assert_eq!(h("500M"), "500 MB");
        assert_eq!(h("100000001"), "95.4 MiB");
        assert_eq!(h("1G"), "1 GB");
    }

    #[test]
    fn cpu_quantities_parse_like_kubernetes() {
        let c = |s: &str| s.parse::<CpuQuantity>().map(|q| q.millis);
        assert_eq!(c("250m"), Ok(250));
        assert_eq!(c("0.5"), Ok(500));
        assert_eq!(c("2"), Ok(2000));
        assert!(c("0").is_err() && c("fast").is_err() && c("1.5m").is_err());
    }
}
