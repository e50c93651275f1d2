//! Settings of the cluster shape (`--runtime kubernetes`).

use clap::{Args, ValueEnum};

use crate::runtime::kubernetes::{NodeToleration, PodPlacement};

#[derive(Debug, Clone, Args)]
pub struct KubeConfig {
    /// Namespace the apps' objects live in.
    #[arg(long, env = "GOFAST_KUBE_NAMESPACE", default_value = "gofast-apps")]
    pub kube_namespace: String,

    /// Container image of the Python runner (built from runner/Dockerfile).
    #[arg(
        long,
        env = "GOFAST_RUNNER_IMAGE",
        default_value = "gofast-runner:latest"
    )]
    pub runner_image: String,

    /// When nodes pull the runner image [default: the cluster's: Always for
    /// `:latest`, else IfNotPresent]. `never` for an image imported on the nodes.
    #[arg(long, env = "GOFAST_IMAGE_PULL_POLICY", value_enum)]
    pub image_pull_policy: Option<PullPolicy>,

    /// Run app pods only on nodes with this label, `KEY=VALUE` (repeat or
    /// separate with commas), e.g. a node pool kept for untrusted code.
    #[arg(
        long = "kube-node-selector",
        env = "GOFAST_KUBE_NODE_SELECTOR",
        value_delimiter = ',',
        value_parser = parse_node_selector
    )]
    pub node_selector: Vec<(String, String)>,

    /// A node taint app pods tolerate, `KEY[=VALUE]:EFFECT` (repeat or
    /// separate with commas), e.g. `sandbox.gke.io/runtime=gvisor:NoSchedule`.
    #[arg(
        long = "kube-toleration",
        env = "GOFAST_KUBE_TOLERATIONS",
        value_delimiter = ',',
        value_parser = parse_toleration
    )]
    pub tolerations: Vec<NodeToleration>,

    /// Host the apps' IngressRoutes match [default: the host of --apps-url].
    #[arg(long, env = "GOFAST_INGRESS_HOST")]
    pub ingress_host: Option<String>,

    /// Namespace where Traefik runs; only its pods may reach apps.
    #[arg(long, env = "GOFAST_TRAEFIK_NAMESPACE", default_value = "traefik")]
    pub traefik_namespace: String,

    /// Traefik's Prometheus metrics, e.g. http://traefik.traefik:9100/metrics:
    /// requests through Traefik count as the apps' activity (without it, apps
    /// in use are removed after --idle-hours).
    #[arg(long, env = "GOFAST_TRAEFIK_METRICS_URL")]
    pub traefik_metrics_url: Option<String>,

    /// Traefik's entry point as the control plane reaches it, e.g.
    /// http://traefik.traefik:80: a deploy says READY only once the app
    /// answers there (Traefik applies a new route a moment after the pod is ready).
    #[arg(long = "kube-route-probe-url", env = "GOFAST_KUBE_ROUTE_PROBE_URL")]
    pub route_probe_url: Option<String>,

    /// Traefik's API (`--api`), e.g. http://traefik.traefik:9000: after an
    /// update READY also waits until Traefik sends new requests only to the
    /// new pods (the replaced one keeps serving while it drains).
    #[arg(long, env = "GOFAST_TRAEFIK_API_URL")]
    pub traefik_api_url: Option<String>,

    /// Where Traefik reaches this control plane's HTTP port, `IP:PORT` (in a
    /// pod, its own IP): idle apps then sleep without pods, their routes lead
    /// here, and their next request wakes them. Needs --kube-route-probe-url
    /// and --traefik-metrics-url.
    #[arg(long = "kube-activator-address", env = "GOFAST_KUBE_ACTIVATOR_ADDRESS")]
    pub activator_address: Option<std::net::SocketAddr>,

    /// Traefik entry point of the IngressRoutes.
    #[arg(long, env = "GOFAST_TRAEFIK_ENTRYPOINT", default_value = "web")]
    pub traefik_entrypoint: String,

    /// RuntimeClass for app pods, e.g. gvisor [default: the cluster's].
    #[arg(long, env = "GOFAST_RUNTIME_CLASS")]
    pub runtime_class: Option<String>,
}

/// A container's `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_kube(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

impl KubeConfig {
    /// Whether apps sleep here, or why the settings cannot work.
    pub fn activator(&self) -> Result<Option<std::net::SocketAddr>, String> {
        let Some(address) = self.activator_address else {
            return Ok(None);
        };
        if self.route_probe_url.is_none() {
            return Err("--kube-activator-address needs --kube-route-probe-url: \
                        a woken app's requests go through Traefik"
                .into());
        }
        if self.traefik_metrics_url.is_none() {
            return Err("--kube-activator-address needs --traefik-metrics-url: \
                        without Traefik's counts, apps in use would be put to sleep"
                .into());
        }
        Ok(Some(address))
    }

    /// Where app pods may run and how their image is found.
    pub fn placement(&self) -> PodPlacement {
        PodPlacement {
            image_pull_policy: self.image_pull_policy.map(|p| p.as_kube().to_string()),
            node_selector: self.node_selector.iter().cloned().collect(),
            tolerations: self.tolerations.clone(),
        }
    }
}

fn parse_node_selector(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().into(), v.trim().into())),
        _ => Err(format!(
            "{s:?} is not a node label; write KEY=VALUE, e.g. pool=apps"
        )),
    }
}

const EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

fn parse_toleration(s: &str) -> Result<NodeToleration, String> {
    let bad = || {
        format!(
            "{s:?} is not a toleration; write KEY[=VALUE]:EFFECT with EFFECT one of {}",
            EFFECTS.join(", ")
        )
    };
    let (taint, effect) = s.trim().rsplit_once(':').ok_or_else(bad)?;
    if !EFFECTS.contains(&effect) {
        return Err(bad());
    }
    let (key, value) = match taint.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (taint, None),
    };
    if key.is_empty() {
        return Err(bad());
    }
    Ok(NodeToleration {
        key: key.to_string(),
        value,
        effect: effect.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_and_node_labels_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(
            parse_toleration("gofast.dev/real-node:NoSchedule").unwrap(),
            NodeToleration {
                key: "gofast.dev/real-node".into(),
                value: None,
                effect: "NoSchedule".into()
            }
        );
        let t = parse_toleration("sandbox.gke.io/runtime=gvisor:NoSchedule").unwrap();
        assert_eq!(t.value.as_deref(), Some("gvisor"));
        for bad in ["nokey", ":NoSchedule", "k=v:Sometimes"] {
            let e = parse_toleration(bad).unwrap_err();
            assert!(e.contains("KEY[=VALUE]:EFFECT"), "{e}");
        }
        assert_eq!(
            parse_node_selector("kubernetes.io/hostname=n1").unwrap(),
            ("kubernetes.io/hostname".into(), "n1".into())
        );
        assert!(parse_node_selector("pool").is_err());
    }
}
