//! The one port speaks gRPC with health and reflection, and grpc-web over
//! HTTP/1.1 for browsers.

mod common;

use common::*;
use gofast_proto::v1 as pb;
use prost::Message;
use tokio_stream::StreamExt;

#[tokio::test(flavor = "multi_thread")]
async fn health_and_reflection_answer_on_the_same_port() {
    let platform = Platform::start();
    let channel = platform.channel().await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "gofast.v1.AppService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status, serving);

    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(resp)) = stream.next().await else {
        panic!("no reflection answer")
    };
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "gofast.v1.AuthService",
        "gofast.v1.AppService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    assert_eq!(
        get(&format!("{}/healthz", platform.url)).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_web_over_http1_reaches_the_same_service() {
    let platform = Platform::start();
    // ValidateCode needs a signed-in caller, like every AppService call.
    let token = platform.user("web@example.com").saved_token();
    let request = pb::ValidateCodeRequest {
        files: vec![pb::File {
            name: "helpers.py".into(),
            content: "x = 1\n".into(),
        }],
    };
    let payload = request.encode_to_vec();
    let mut body = vec![0u8];
    body.extend((payload.len() as u32).to_be_bytes());
    body.extend(payload);
    let resp = reqwest::Client::builder()
        .http1_only()
        .build()
        .unwrap()
        .post(format!(
            "{}/gofast.v1.AppService/ValidateCode",
            platform.url
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    let bytes = resp.bytes().await.unwrap();
    // A data frame with the message, then a trailer frame with grpc-status.
    assert_eq!(bytes[0], 0);
    let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
    let answer = pb::ValidateCodeResponse::decode(&bytes[5..5 + len]).unwrap();
    assert!(!answer.ok);
    assert!(
        answer
            .diagnostics
            .iter()
            .any(|d| d.message.contains("main.py")),
        "{answer:?}"
    );
    let trailer = &bytes[5 + len..];
    assert_eq!(trailer[0], 0x80);
    assert!(String::from_utf8_lossy(&trailer[5..]).contains("grpc-status:0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_watcher_gets_the_whole_deploy() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    ada.deploy(&[&write_app(tmp.path(), "w", &hello_main("hi"))], "watched");
    let mut apps = platform.apps_client().await;
    let mut req = tonic::Request::new(pb::WatchDeploymentRequest {
        app: "watched".into(),
        revision: 0,
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", ada.saved_token()).parse().unwrap(),
    );
    let events: Vec<pb::DeployEvent> = apps
        .watch_deployment(req)
        .await
        .unwrap()
        .into_inner()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let stages: Vec<i32> = events.iter().map(|e| e.stage).collect();
    use pb::DeployStage::*;
    assert_eq!(
        stages,
        [Validating, Stored, Applying, Starting, HealthCheck, Ready].map(|s| s as i32)
    );
    assert!(events.last().unwrap().url.ends_with('/'));
}
