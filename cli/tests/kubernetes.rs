//! The same control plane and CLI with `--runtime kubernetes`, against the
//! real apiserver of `scripts/kube-testenv.sh` (kwok plays the nodes).

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::{Api, Client, api::DeleteParams};

fn cluster_configured() -> bool {
    if std::env::var_os("KUBECONFIG").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "KUBECONFIG is not set: scripts/test.sh starts the test cluster"
    );
    eprintln!("skipping: no KUBECONFIG (run scripts/kube-testenv.sh start)");
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_through_the_cli_runs_on_kubernetes_and_the_reconciler_repairs_drift() {
    if !cluster_configured() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let namespace = format!("e2e-{}", gofast_controlplane::ids::new_id(6));
    let _cleanup = DeleteNamespace(namespace.clone());
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &[
            "--runtime",
            "kubernetes",
            "--kube-namespace",
            &namespace,
            "--public-url",
            "http://gofast.test",
            "--apps-url",
            "http://apps.gofast.test",
        ],
    );
    let ada = platform.user("ada@example.com");
    let out = ada.run(&[
        "deploy",
        repo().join("examples/hello/main.py").to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stages: Vec<&str> = events[..events.len() - 1]
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages.first(), Some(&"VALIDATING"));
    assert_eq!(stages.last(), Some(&"READY"));
    let summary = events.last().unwrap();
    let app_id = summary["app_id"].as_str().unwrap().to_string();
    assert!(
        summary["url"]
            .as_str()
            .unwrap()
            .starts_with("http://apps.gofast.test/user/"),
        "{summary}"
    );

    let client = Client::try_default().await.unwrap();
    let name = format!("app-{app_id}");
    let services = Api::<Service>::namespaced(client.clone(), &namespace);
    services.get(&name).await.expect("the app's Service exists");

    // Deleted behind our back: the reconciler (every second here) applies it again.
    services
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if services.get_opt(&name).await.unwrap().is_some() {
            back = true;
            break;
        }
    }
    assert!(back, "the reconciler did not recreate the deleted Service");

    let out = ada.run(&["delete", &app_id, "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let maps = Api::<ConfigMap>::namespaced(client, &namespace);
    let mut gone = false;
    for _ in 0..60 {
        if maps.get_opt(&name).await.unwrap().is_none()
            && services.get_opt(&name).await.unwrap().is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(gone, "the app's objects outlived its deletion");
}
