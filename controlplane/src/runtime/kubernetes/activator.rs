//! Sleep in the cluster shape, as Knative's activator does it. A sleeping
//! app's Deployment has no replicas, and its IngressRoute sends requests,
//! prefix and all, to the `gofast-activator` Service: a Service without a
//! selector whose one endpoint is this control plane's HTTP port
//! (`--kube-activator-address`). The gateway holds such a request, wakes the
//! app (a deploy of its revision: replicas and route back, READY once Traefik
//! routes to the pod) and forwards it through Traefik.
//!
//! The sleep is two patches under a field manager of its own, so the next
//! apply of the app's objects (a wake, a deploy) takes both fields back.

use std::{collections::BTreeMap, net::SocketAddr};

use k8s_openapi::{
    api::{
        core::v1::{Service, ServicePort, ServiceSpec},
        discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice},
    },
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, Patch, PatchParams},
};
use serde_json::json;

/// The Service (and its EndpointSlice) sleeping apps' routes point at.
pub const ACTIVATOR: &str = "gofast-activator";
const FIELD_MANAGER: &str = "gofast-activator";
/// Who wrote the sleep patches (see the module doc).
pub const SLEEP_MANAGER: &str = "gofast-sleep";
const PORT_NAME: &str = "http";

fn labels() -> BTreeMap<String, String> {
    // Not `managed-by: gofast`: that label marks an app's objects (see `cache`).
    BTreeMap::from([
        ("app.kubernetes.io/part-of".into(), "gofast".into()),
        ("app.kubernetes.io/component".into(), "activator".into()),
    ])
}

/// The Service Traefik sends sleeping apps' requests to, and its one
/// endpoint: `address`, where Traefik reaches the control plane.
pub fn objects(namespace: &str, address: SocketAddr) -> (Service, EndpointSlice) {
    let meta = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = labels();
        labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: Some(labels),
            ..Default::default()
        }
    };
    let service = Service {
        metadata: meta(ACTIVATOR, &[]),
        spec: Some(ServiceSpec {
            // No selector: the endpoints are ours to write.
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: 80,
                target_port: Some(IntOrString::Int(address.port().into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let slice = EndpointSlice {
        metadata: meta(
            ACTIVATOR,
            &[
                ("kubernetes.io/service-name", ACTIVATOR),
                ("endpointslice.kubernetes.io/managed-by", "gofast.dev"),
            ],
        ),
        address_type: if address.is_ipv4() { "IPv4" } else { "IPv6" }.into(),
        endpoints: Some(vec![Endpoint {
            addresses: vec![address.ip().to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        ports: Some(vec![EndpointPort {
            name: Some(PORT_NAME.into()),
            port: Some(address.port().into()),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    };
    (service, slice)
}

/// Makes the activator's Service point at `address` (the replica that
/// reconciles, each time it takes over). `dry_run` only checks that the API
/// would take it (at start, when another replica may be the activator).
pub async fn ensure(
    client: &Client,
    namespace: &str,
    address: SocketAddr,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let (service, slice) = objects(namespace, address);
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = dry_run;
    Api::<Service>::namespaced(client.clone(), namespace)
        .patch(ACTIVATOR, &params, &Patch::Apply(&service))
        .await?;
    Api::<EndpointSlice>::namespaced(client.clone(), namespace)
        .patch(ACTIVATOR, &params, &Patch::Apply(&slice))
        .await?;
    Ok(())
}

/// The IngressRoute of a sleeping app: to the activator, without the
/// prefix-stripping middleware (the activator reads the app from the path).
pub fn route_to_activator() -> Result<json_patch::Patch, serde_json::Error> {
    serde_json::from_value(json!([
        { "op": "replace", "path": "/spec/routes/0/services",
          "value": [{ "name": ACTIVATOR, "port": 80 }] },
        { "op": "replace", "path": "/spec/routes/0/middlewares", "value": [] },
    ]))
}

/// The Deployment of a sleeping app: no pods.
pub fn no_replicas() -> serde_json::Value {
    json!({ "spec": { "replicas": 0 } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activator_service_reaches_the_control_plane_only() {
        let addr: SocketAddr = "10.88.0.1:8080".parse().unwrap();
        let (service, slice) = objects("apps", addr);
        let spec = service.spec.unwrap();
        assert_eq!(
            spec.selector, None,
            "no pods are selected: one endpoint, ours"
        );
        let port = &spec.ports.unwrap()[0];
        assert_eq!(port.port, 80);
        assert_eq!(port.target_port, Some(IntOrString::Int(8080)));
        let labels = slice.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/service-name"], ACTIVATOR);
        assert!(!labels.contains_key("app.kubernetes.io/managed-by"));
        assert_eq!(slice.address_type, "IPv4");
        let endpoints = slice.endpoints.unwrap();
        assert_eq!(endpoints.len(), 1);
        assert_eq!(endpoints[0].addresses, ["10.88.0.1"]);
        let ports = slice.ports.unwrap();
        assert_eq!(ports[0].port, Some(8080));
        // Traefik pairs a Service port with the slice's port of the same name.
        assert_eq!(ports[0].name, port.name);
    }

    #[test]
    fn a_sleeping_route_goes_to_the_activator_with_its_prefix() {
        let mut route = json!({ "spec": { "routes": [{
            "match": "PathPrefix(`/user/u/app/a`)", "kind": "Rule",
            "middlewares": [{ "name": "app-a" }],
            "services": [{ "name": "app-a", "port": 80 }],
        }]}});
        json_patch::patch(&mut route, &route_to_activator().unwrap()).unwrap();
        let r = &route["spec"]["routes"][0];
        assert_eq!(r["services"], json!([{ "name": ACTIVATOR, "port": 80 }]));
        assert_eq!(r["middlewares"], json!([]));
        assert_eq!(r["match"], "PathPrefix(`/user/u/app/a`)");
    }
}
