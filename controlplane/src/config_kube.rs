//! Settings of the cluster shape (`--runtime kubernetes`).

use clap::Args;

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

    /// Host the apps' IngressRoutes match [default: the host of --apps-url].
    #[arg(long, env = "GOFAST_INGRESS_HOST")]
    pub ingress_host: Option<String>,

    /// Namespace where Traefik runs; only its pods may reach apps.
    #[arg(long, env = "GOFAST_TRAEFIK_NAMESPACE", default_value = "traefik")]
    pub traefik_namespace: String,

    /// Traefik entry point of the IngressRoutes.
    #[arg(long, env = "GOFAST_TRAEFIK_ENTRYPOINT", default_value = "web")]
    pub traefik_entrypoint: String,

    /// RuntimeClass for app pods, e.g. gvisor [default: the cluster's].
    #[arg(long, env = "GOFAST_RUNTIME_CLASS")]
    pub runtime_class: Option<String>,
}
