//! Pure builders: one app revision and the settings in, the Kubernetes
//! objects that run it out. No client, no I/O, so every field is testable.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort,
            EmptyDirVolumeSource, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler,
            PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
            SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec, SleepAction,
            Toleration, Volume, VolumeMount,
        },
        networking::v1::{
            IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
            NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference},
        util::intstr::IntOrString,
    },
};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

use crate::runtime::Target;

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gofast");
pub const USER_LABEL: &str = "gofast.dev/user-id";
pub const APP_LABEL: &str = "gofast.dev/app-id";
pub const REVISION_ANNOTATION: &str = "gofast.dev/revision";
/// The port the runner listens on inside the pod.
pub const RUNNER_PORT: i32 = 8000;
/// Seconds a pod that is being replaced keeps serving after it left the
/// Service's endpoints, so that Traefik stops sending it requests before the
/// app is told to stop (a rollout or a delete drops no request).
pub const DRAIN_SECONDS: i64 = 5;
/// Address ranges inside a cluster that apps must not reach.
const PRIVATE_RANGES: [&str; 5] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
];

/// Settings of the cluster shape that shape every app's objects.
#[derive(Debug, Clone)]
pub struct KubeSettings {
    pub namespace: String,
    pub runner_image: String,
    /// The public host of IngressRoutes; any host when unset.
    pub ingress_host: Option<String>,
    pub traefik_namespace: String,
    pub entry_point: String,
    pub cpu: String,
    pub memory: String,
    /// e.g. "gvisor", for a sandboxed container runtime.
    pub runtime_class: Option<String>,
    pub start_timeout_seconds: i32,
    pub placement: PodPlacement,
    /// Traefik's entry point as the control plane reaches it: READY waits
    /// until the app answers there (see `route`).
    pub route_probe_url: Option<String>,
    /// Traefik's API: READY also waits until Traefik sends new requests only
    /// to the new revision's pods (see `route::TraefikServers`).
    pub traefik_api_url: Option<String>,
    /// Where Traefik reaches this control plane's HTTP port: with it (and
    /// `route_probe_url`), idle apps sleep (see `activator`).
    pub activator: Option<std::net::SocketAddr>,
}

/// Where app pods may run and how their image is found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodPlacement {
    /// `imagePullPolicy`; the cluster's default when unset.
    pub image_pull_policy: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<NodeToleration>,
}

/// A node taint app pods tolerate: `key[=value]:effect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeToleration {
    pub key: String,
    /// `None` tolerates the key with any value.
    pub value: Option<String>,
    pub effect: String,
}

impl NodeToleration {
    fn to_kube(&self) -> Toleration {
        Toleration {
            key: Some(self.key.clone()),
            operator: Some(
                if self.value.is_some() {
                    "Equal"
                } else {
                    "Exists"
                }
                .into(),
            ),
            value: self.value.clone(),
            effect: Some(self.effect.clone()),
            ..Default::default()
        }
    }
}

/// Everything that runs one app.
#[derive(Debug, Clone)]
pub struct AppObjects {
    /// The root: every other object is owned by it, so deleting it cascades.
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
    pub network_policy: NetworkPolicy,
    pub middleware: DynamicObject,
    pub ingress_route: DynamicObject,
}

/// The kinds of object an app is made of, in the order they are applied: the
/// root first (the others name it as their owner), the Deployment last (its
/// pods start once the rest is in place). The one list of kinds: applying,
/// deleting, checking and owning all go through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::Display)]
pub enum ObjectKind {
    ConfigMap,
    Service,
    NetworkPolicy,
    Middleware,
    IngressRoute,
    Deployment,
}

impl ObjectKind {
    pub const ALL: &'static [ObjectKind] = <ObjectKind as strum::VariantArray>::VARIANTS;
    /// The object every other one is owned by.
    pub const ROOT: ObjectKind = ObjectKind::ConfigMap;

    /// Where the API serves this kind.
    pub fn resource(self) -> ApiResource {
        let traefik =
            |kind| ApiResource::from_gvk(&GroupVersionKind::gvk("traefik.io", "v1alpha1", kind));
        match self {
            ObjectKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
            ObjectKind::Service => ApiResource::erase::<Service>(&()),
            ObjectKind::NetworkPolicy => ApiResource::erase::<NetworkPolicy>(&()),
            ObjectKind::Middleware => traefik("Middleware"),
            ObjectKind::IngressRoute => traefik("IngressRoute"),
            ObjectKind::Deployment => ApiResource::erase::<Deployment>(&()),
        }
    }
}

impl AppObjects {
    fn meta_mut(&mut self, kind: ObjectKind) -> &mut ObjectMeta {
        match kind {
            ObjectKind::ConfigMap => &mut self.config_map.metadata,
            ObjectKind::Service => &mut self.service.metadata,
            ObjectKind::NetworkPolicy => &mut self.network_policy.metadata,
            ObjectKind::Middleware => &mut self.middleware.metadata,
            ObjectKind::IngressRoute => &mut self.ingress_route.metadata,
            ObjectKind::Deployment => &mut self.deployment.metadata,
        }
    }

    /// The object of this kind as the API takes it, typed or not.
    pub fn dynamic(&self, kind: ObjectKind) -> Result<DynamicObject, serde_json::Error> {
        fn erase<K: serde::Serialize>(k: &K) -> Result<DynamicObject, serde_json::Error> {
            serde_json::from_value(serde_json::to_value(k)?)
        }
        match kind {
            ObjectKind::ConfigMap => erase(&self.config_map),
            ObjectKind::Service => erase(&self.service),
            ObjectKind::NetworkPolicy => erase(&self.network_policy),
            ObjectKind::Middleware => Ok(self.middleware.clone()),
            ObjectKind::IngressRoute => Ok(self.ingress_route.clone()),
            ObjectKind::Deployment => erase(&self.deployment),
        }
    }
}

pub fn object_name(app_id: &str) -> String {
    format!("app-{app_id}")
}

/// The label selector of everything gofast made for one app.
pub fn app_selector(app_id: &str) -> String {
    format!("{}={},{APP_LABEL}={app_id}", MANAGED_BY.0, MANAGED_BY.1)
}

fn labels(t: &Target) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
        (USER_LABEL.to_string(), t.user_id.clone()),
        (APP_LABEL.to_string(), t.app_id.clone()),
    ])
}

fn pod_labels(t: &Target) -> BTreeMap<String, String> {
    BTreeMap::from([(APP_LABEL.to_string(), t.app_id.clone())])
}

fn meta(t: &Target, s: &KubeSettings) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(&t.app_id)),
        namespace: Some(s.namespace.clone()),
        labels: Some(labels(t)),
        annotations: Some(BTreeMap::from([(
            REVISION_ANNOTATION.to_string(),
            t.revision.to_string(),
        )])),
        ..Default::default()
    }
}

pub fn build(t: &Target, s: &KubeSettings) -> AppObjects {
    AppObjects {
        config_map: config_map(t, s),
        deployment: deployment(t, s),
        service: service(t, s),
        network_policy: network_policy(t, s),
        middleware: middleware(t, s),
        ingress_route: ingress_route(t, s),
    }
}

/// Makes every object but the root owned by the root.
pub fn set_owner(objects: &mut AppObjects, root_uid: &str) {
    let root = ObjectKind::ROOT.resource();
    let owner = OwnerReference {
        api_version: root.api_version,
        kind: root.kind,
        name: objects
            .meta_mut(ObjectKind::ROOT)
            .name
            .clone()
            .unwrap_or_default(),
        uid: root_uid.to_string(),
        block_owner_deletion: Some(true),
        controller: Some(true),
    };
    for &kind in ObjectKind::ALL {
        if kind != ObjectKind::ROOT {
            objects.meta_mut(kind).owner_references = Some(vec![owner.clone()]);
        }
    }
}

fn config_map(t: &Target, s: &KubeSettings) -> ConfigMap {
    ConfigMap {
        metadata: meta(t, s),
        data: Some(
            t.files
                .iter()
                .map(|f| (f.name.clone(), f.content.clone()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn http_probe(period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/health".into()),
            port: IntOrString::Int(RUNNER_PORT),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn deployment(t: &Target, s: &KubeSettings) -> Deployment {
    let limits = BTreeMap::from([
        ("cpu".to_string(), Quantity(s.cpu.clone())),
        ("memory".to_string(), Quantity(s.memory.clone())),
    ]);
    let container = Container {
        name: "app".into(),
        image: Some(s.runner_image.clone()),
        image_pull_policy: s.placement.image_pull_policy.clone(),
        // Taken out of the endpoints first, stopped later: see DRAIN_SECONDS.
        lifecycle: Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction {
                    seconds: DRAIN_SECONDS,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        env: Some(vec![
            env("PORT", RUNNER_PORT.to_string()),
            env("GOFAST_HOST", "0.0.0.0"),
            env("GOFAST_APP_DIR", "/app"),
            env("GOFAST_ROOT_PATH", t.root_path.clone()),
        ]),
        ports: Some(vec![ContainerPort {
            container_port: RUNNER_PORT,
            name: Some("http".into()),
            ..Default::default()
        }]),
        resources: Some(ResourceRequirements {
            limits: Some(limits.clone()),
            requests: Some(limits),
            ..Default::default()
        }),
        // One probe per second for the start timeout, then readiness and liveness.
        startup_probe: Some(http_probe(1, s.start_timeout_seconds.max(1))),
        readiness_probe: Some(http_probe(5, 2)),
        liveness_probe: Some(http_probe(10, 3)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "app".into(),
                mount_path: "/app".into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let mut template_meta = ObjectMeta {
        labels: Some(pod_labels(t)),
        ..Default::default()
    };
    // A new revision changes the template, which rolls the pods.
    template_meta.annotations = Some(BTreeMap::from([(
        REVISION_ANNOTATION.to_string(),
        t.revision.to_string(),
    )]));
    Deployment {
        metadata: meta(t, s),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            revision_history_limit: Some(2),
            progress_deadline_seconds: Some(s.start_timeout_seconds.max(1) + 30),
            selector: LabelSelector {
                match_labels: Some(pod_labels(t)),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    runtime_class_name: s.runtime_class.clone(),
                    // The drain, then uvicorn's own graceful stop.
                    termination_grace_period_seconds: Some(DRAIN_SECONDS + 10),
                    node_selector: (!s.placement.node_selector.is_empty())
                        .then(|| s.placement.node_selector.clone()),
                    tolerations: (!s.placement.tolerations.is_empty()).then(|| {
                        s.placement
                            .tolerations
                            .iter()
                            .map(NodeToleration::to_kube)
                            .collect()
                    }),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(10001),
                        run_as_group: Some(10001),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "app".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: object_name(&t.app_id),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        Volume {
                            name: "tmp".into(),
                            empty_dir: Some(EmptyDirVolumeSource {
                                size_limit: Some(Quantity("16Mi".into())),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service(t: &Target, s: &KubeSettings) -> Service {
    Service {
        metadata: meta(t, s),
        spec: Some(ServiceSpec {
            selector: Some(pod_labels(t)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::Int(RUNNER_PORT)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn network_policy(t: &Target, s: &KubeSettings) -> NetworkPolicy {
    let port = |p: i32, proto: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some(proto.into()),
        ..Default::default()
    };
    let from_traefik = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "kubernetes.io/metadata.name".to_string(),
                s.traefik_namespace.clone(),
            )])),
            ..Default::default()
        }),
        pod_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "traefik".to_string(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let dns = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    "k8s-app".to_string(),
                    "kube-dns".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
    };
    let internet = NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            ip_block: Some(IPBlock {
                cidr: "0.0.0.0/0".into(),
                except: Some(PRIVATE_RANGES.iter().map(|r| r.to_string()).collect()),
            }),
            ..Default::default()
        }]),
        ports: None,
    };
    NetworkPolicy {
        metadata: meta(t, s),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(pod_labels(t)),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![from_traefik]),
                ports: Some(vec![port(RUNNER_PORT, "TCP")]),
            }]),
            egress: Some(vec![dns, internet]),
        }),
    }
}

fn dynamic(
    t: &Target,
    s: &KubeSettings,
    resource: &ApiResource,
    spec: serde_json::Value,
) -> DynamicObject {
    let mut obj = DynamicObject::new(&object_name(&t.app_id), resource).within(&s.namespace);
    obj.metadata = meta(t, s);
    obj.data = json!({ "spec": spec });
    obj
}

fn middleware(t: &Target, s: &KubeSettings) -> DynamicObject {
    dynamic(
        t,
        s,
        &ObjectKind::Middleware.resource(),
        json!({ "stripPrefix": { "prefixes": [t.root_path] } }),
    )
}

/// The Middleware every app's route names first. Apps share the apps
/// origin, so a response header that acts on the whole origin (a service
/// worker's scope, a site-wide wipe) must not reach the browser: Traefik
/// blanks them, as the gateway does in the embedded shape. One per
/// namespace, applied at start; Traefik serves no route that names a
/// missing Middleware, so without it apps are unreachable, not unfiltered.
pub const APP_HEADERS: &str = "gofast-app-headers";

pub fn app_headers_middleware(namespace: &str) -> DynamicObject {
    let blank: serde_json::Map<String, serde_json::Value> = crate::http::app_headers::ORIGIN_WIDE
        .iter()
        .map(|name| (name.to_string(), json!("")))
        .collect();
    let mut obj =
        DynamicObject::new(APP_HEADERS, &ObjectKind::Middleware.resource()).within(namespace);
    // Not `managed-by: gofast`: that label marks an app's objects, which prune deletes.
    obj.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/part-of".to_string(),
        "gofast".to_string(),
    )]));
    obj.data = json!({ "spec": { "headers": { "customResponseHeaders": blank } } });
    obj
}

fn ingress_route(t: &Target, s: &KubeSettings) -> DynamicObject {
    // App ids have one length, so no app's prefix is a prefix of another's.
    let path = format!("PathPrefix(`{}`)", t.root_path);
    let rule = match &s.ingress_host {
        Some(host) => format!("Host(`{host}`) && {path}"),
        None => path,
    };
    dynamic(
        t,
        s,
        &ObjectKind::IngressRoute.resource(),
        json!({
            "entryPoints": [s.entry_point],
            "routes": [{
                "match": rule,
                "kind": "Rule",
                "middlewares": [{ "name": APP_HEADERS }, { "name": object_name(&t.app_id) }],
                "services": [{ "name": object_name(&t.app_id), "port": 80 }],
            }],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppFile;

    #[test]
    fn traefik_blanks_the_origin_wide_response_headers_of_every_app() {
        let m = app_headers_middleware("apps");
        assert_eq!(m.metadata.name.as_deref(), Some(APP_HEADERS));
        assert_eq!(m.metadata.namespace.as_deref(), Some("apps"));
        let headers = &m.data["spec"]["headers"]["customResponseHeaders"];
        // An empty value is Traefik's way to remove a header.
        assert_eq!(headers["service-worker-allowed"], "");
        assert_eq!(headers["clear-site-data"], "");
        let labels = m.metadata.labels.unwrap();
        assert!(!labels.contains_key(MANAGED_BY.0), "prune would delete it");
    }

    fn target() -> Target {
        Target {
            app_id: "a1b2c3d4e5".into(),
            user_id: "u1v2w3x4y5".into(),
            revision: 3,
            files: vec![
                AppFile {
                    name: "main.py".into(),
                    content: "app = 1".into(),
                },
                AppFile {
                    name: "util.py".into(),
                    content: "x = 2".into(),
                },
            ],
            root_path: "/user/u1v2w3x4y5/app/a1b2c3d4e5".into(),
        }
    }

    fn settings() -> KubeSettings {
        KubeSettings {
            namespace: "apps".into(),
            runner_image: "registry.example/gofast-runner:1".into(),
            ingress_host: Some("gofast.example".into()),
            traefik_namespace: "traefik".into(),
            entry_point: "web".into(),
            cpu: "250m".into(),
            memory: "128Mi".into(),
            runtime_class: Some("gvisor".into()),
            start_timeout_seconds: 30,
            placement: PodPlacement::default(),
            route_probe_url: None,
            traefik_api_url: None,
            activator: None,
        }
    }

    #[test]
    fn placement_reaches_the_pods_and_a_replaced_pod_drains_before_it_stops() {
        let mut s = settings();
        s.placement = PodPlacement {
            image_pull_policy: Some("Never".into()),
            node_selector: BTreeMap::from([("pool".into(), "apps".into())]),
            tolerations: vec![
                NodeToleration {
                    key: "gofast.dev/real-node".into(),
                    value: None,
                    effect: "NoSchedule".into(),
                },
                NodeToleration {
                    key: "sandbox".into(),
                    value: Some("gvisor".into()),
                    effect: "NoExecute".into(),
                },
            ],
        };
        let pod = build(&target(), &s)
            .deployment
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert_eq!(pod.node_selector.unwrap()["pool"], "apps");
        let t = pod.tolerations.unwrap();
        assert_eq!(
            (t[0].operator.as_deref(), t[0].value.as_deref()),
            (Some("Exists"), None)
        );
        assert_eq!(
            (
                t[1].operator.as_deref(),
                t[1].value.as_deref(),
                t[1].effect.as_deref()
            ),
            (Some("Equal"), Some("gvisor"), Some("NoExecute"))
        );
        let c = &pod.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        let drain = c.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap();
        assert_eq!(drain.sleep.as_ref().unwrap().seconds, DRAIN_SECONDS);
        assert!(pod.termination_grace_period_seconds.unwrap() > DRAIN_SECONDS);

        // Without placement settings the cluster decides.
        let pod = build(&target(), &settings())
            .deployment
            .spec
            .unwrap()
            .template
            .spec
            .unwrap();
        assert!(pod.node_selector.is_none() && pod.tolerations.is_none());
        assert!(pod.containers[0].image_pull_policy.is_none());
    }

    #[test]
    fn every_object_is_named_labelled_and_in_the_namespace() {
        let o = build(&target(), &settings());
        let metas = [
            &o.config_map.metadata,
            &o.deployment.metadata,
            &o.service.metadata,
            &o.network_policy.metadata,
            &o.middleware.metadata,
            &o.ingress_route.metadata,
        ];
        for m in metas {
            assert_eq!(m.name.as_deref(), Some("app-a1b2c3d4e5"));
            assert_eq!(m.namespace.as_deref(), Some("apps"));
            let labels = m.labels.as_ref().unwrap();
            assert_eq!(labels["app.kubernetes.io/managed-by"], "gofast");
            assert_eq!(labels["gofast.dev/user-id"], "u1v2w3x4y5");
            assert_eq!(labels["gofast.dev/app-id"], "a1b2c3d4e5");
        }
    }

    #[test]
    fn config_map_holds_exactly_the_files() {
        let o = build(&target(), &settings());
        let data = o.config_map.data.unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data["main.py"], "app = 1");
    }

    #[test]
    fn pods_are_hardened_and_limited() {
        let d = build(&target(), &settings()).deployment.spec.unwrap();
        let pod = d.template.spec.unwrap();
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.runtime_class_name.as_deref(), Some("gvisor"));
        let psc = pod.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &pod.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["cpu"].0, "250m");
        assert_eq!(limits["memory"].0, "128Mi");
        let mounts = c.volume_mounts.as_ref().unwrap();
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_path == "/app" && m.read_only == Some(true))
        );
        assert!(mounts.iter().any(|m| m.mount_path == "/tmp"));
        for probe in [&c.startup_probe, &c.readiness_probe, &c.liveness_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.path.as_deref(), Some("/health"));
        }
        let env: BTreeMap<_, _> = c
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.value.clone().unwrap()))
            .collect();
        assert_eq!(env["GOFAST_ROOT_PATH"], "/user/u1v2w3x4y5/app/a1b2c3d4e5");
        assert_eq!(env["GOFAST_APP_DIR"], "/app");
    }

    #[test]
    fn a_new_revision_changes_the_pod_template() {
        let a = build(&target(), &settings())
            .deployment
            .spec
            .unwrap()
            .template;
        let mut t = target();
        t.revision = 4;
        let b = build(&t, &settings()).deployment.spec.unwrap().template;
        assert_ne!(a, b);
        assert_eq!(
            b.metadata.unwrap().annotations.unwrap()[REVISION_ANNOTATION],
            "4"
        );
    }

    #[test]
    fn traefik_routes_the_prefix_and_strips_it() {
        let o = build(&target(), &settings());
        assert_eq!(
            o.middleware.types.as_ref().unwrap().api_version,
            "traefik.io/v1alpha1"
        );
        assert_eq!(
            o.middleware.data["spec"]["stripPrefix"]["prefixes"][0],
            "/user/u1v2w3x4y5/app/a1b2c3d4e5"
        );
        let route = &o.ingress_route.data["spec"]["routes"][0];
        assert_eq!(
            route["match"],
            "Host(`gofast.example`) && PathPrefix(`/user/u1v2w3x4y5/app/a1b2c3d4e5`)"
        );
        assert_eq!(route["middlewares"][0]["name"], APP_HEADERS);
        assert_eq!(route["middlewares"][1]["name"], "app-a1b2c3d4e5");
        assert_eq!(route["services"][0]["port"], 80);
    }

    #[test]
    fn network_policy_admits_traefik_only_and_keeps_egress_off_private_ranges() {
        let np = build(&target(), &settings()).network_policy.spec.unwrap();
        assert_eq!(np.policy_types.unwrap(), ["Ingress", "Egress"]);
        let from = &np.ingress.unwrap()[0].from.clone().unwrap()[0];
        let ns = from
            .namespace_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap();
        assert_eq!(ns["kubernetes.io/metadata.name"], "traefik");
        let egress = np.egress.unwrap();
        let block = egress[1].to.as_ref().unwrap()[0].ip_block.as_ref().unwrap();
        assert_eq!(block.cidr, "0.0.0.0/0");
        assert!(
            block
                .except
                .as_ref()
                .unwrap()
                .contains(&"10.0.0.0/8".to_string())
        );
    }

    #[test]
    fn owner_references_point_at_the_config_map() {
        let mut o = build(&target(), &settings());
        set_owner(&mut o, "uid-1");
        let owner = &o.deployment.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ConfigMap", "uid-1")
        );
        assert!(o.ingress_route.metadata.owner_references.is_some());
        assert!(o.config_map.metadata.owner_references.is_none());
    }

    /// What is applied is what was built, each under its kind's resource.
    #[test]
    fn every_kind_has_its_object_under_its_own_resource() {
        let o = build(&target(), &settings());
        for &kind in ObjectKind::ALL {
            let obj = o.dynamic(kind).unwrap();
            let types = obj.types.as_ref().expect("apiVersion and kind");
            let resource = kind.resource();
            assert_eq!(
                (types.api_version.as_str(), types.kind.as_str()),
                (resource.api_version.as_str(), resource.kind.as_str()),
                "{kind}"
            );
            assert_eq!(obj.metadata.name.as_deref(), Some("app-a1b2c3d4e5"));
        }
        assert_eq!(ObjectKind::ALL.first(), Some(&ObjectKind::ROOT));
        assert_eq!(ObjectKind::ALL.last(), Some(&ObjectKind::Deployment));
    }
}
