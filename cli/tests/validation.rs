//! The operator's validation policy through the real platform:
//! `--validation strict|advisory` and `--allow-module`, and ValidateCode's
//! bounds (a token is required).

mod common;

use common::*;
use gofast_proto::v1 as pb;

/// Imports `os`, which the checker refuses (GF303), and uses it harmlessly.
const USES_OS: &str = "import os\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"sep\": os.sep}\n";

/// Imports `colorsys`, a standard module that is not on the built-in list (GF301).
const USES_COLORSYS: &str = "import colorsys\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"hsv\": colorsys.rgb_to_hsv(0.0, 0.5, 1.0)}\n";

/// `gofast up` with extra flags; the data dir lives as long as the guard.
fn start_with(extra: &[&str]) -> (tempfile::TempDir, Platform) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let platform = Platform::start_in(&tmp.path().join("data"), "127.0.0.1:0", extra);
    (tmp, platform)
}

fn deploy(user: &User, main_py: &std::path::Path, name: &str) -> std::process::Output {
    user.run(&["deploy", main_py.to_str().unwrap(), "--name", name])
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_refuses_and_allow_module_lets_only_that_module_through() {
    let (_data, platform) = start_with(&["--allow-module", "colorsys"]);
    let ada = platform.user("ada@example.com");
    let dir = tempfile::tempdir().unwrap();

    // Strict is the default: the server refuses `os` with the diagnostic on
    // the user's line, and nothing is deployed.
    let os_app = write_app(dir.path(), "os-app", USES_OS);
    let out = deploy(&ada, &os_app, "os-app");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("GF303") && stderr.contains("nothing was deployed"),
        "{stderr}"
    );
    let apps = ada.run(&["apps", "-o", "json"]);
    assert_eq!(text(&apps.stdout).trim(), "[]", "{}", text(&apps.stderr));

    // `--allow-module colorsys` lets colorsys through on this server...
    let csv_app = write_app(dir.path(), "colorsys-app", USES_COLORSYS);
    let url = ada.deploy(&[&csv_app], "colorsys-app");
    let body = get_json(&url).await;
    assert_eq!(body["hsv"][2], 1.0, "{body}");

    // ...while `gofast check` stays offline with the built-in policy.
    let out = ada.run(&["check", csv_app.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("GF301"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn advisory_reports_in_the_validating_event_and_deploys() {
    let (_data, platform) = start_with(&["--validation", "advisory"]);
    let ada = platform.user("ada@example.com");
    let dir = tempfile::tempdir().unwrap();
    let os_app = write_app(dir.path(), "os-app", USES_OS);
    let out = deploy(&ada, &os_app, "os-app");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let validating = stderr
        .lines()
        .find(|l| l.contains("VALIDATING"))
        .unwrap_or_else(|| panic!("no VALIDATING line in {stderr}"));
    assert!(
        validating.contains("GF303") && validating.contains("main.py:1:"),
        "{validating}"
    );
    let url = text(&out.stdout).trim().to_string();
    assert_eq!(get_json(&url).await["sep"], "/");

    // The finding stays visible in the deploy's events.
    let status = ada.run(&["status", "os-app", "-o", "json"]);
    assert!(
        text(&status.stdout).contains("GF303"),
        "{}",
        text(&status.stdout)
    );

    // Limits are not relaxed: a file name with a folder is still refused.
    let mut client = platform.apps_client().await;
    let token = ada.saved_token();
    let mut req = tonic::Request::new(pb::CreateAppRequest {
        name: "escape".into(),
        files: vec![
            pb::File {
                name: "main.py".into(),
                content: USES_OS.into(),
            },
            pb::File {
                name: "../x.py".into(),
                content: "x = 1\n".into(),
            },
        ],
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let err = client.create_app(req).await.expect_err("refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
}

fn validate_request(
    files: Vec<pb::File>,
    token: Option<&str>,
) -> tonic::Request<pb::ValidateCodeRequest> {
    let mut req = tonic::Request::new(pb::ValidateCodeRequest { files });
    if let Some(token) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    req
}

fn main_file(content: &str) -> pb::File {
    pb::File {
        name: "main.py".into(),
        content: content.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_code_needs_a_token() {
    let platform = Platform::start();
    let mut client = platform.apps_client().await;
    for token in [None, Some("not-a-token")] {
        let err = client
            .validate_code(validate_request(vec![main_file(USES_OS)], token))
            .await
            .expect_err("refused without a valid token");
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    }
    // Without a token the call is refused before its body is decoded: a
    // body that is not even protobuf gets UNAUTHENTICATED, not a decode error.
    let garbage = {
        let mut body = vec![0u8];
        body.extend_from_slice(&4u32.to_be_bytes());
        body.extend_from_slice(&[0xff; 4]);
        body
    };
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/gofast.v1.AppService/ValidateCode",
            platform.url
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(garbage)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok()),
        Some("16"),
        "{resp:?}"
    );

    let token = platform.user("ada@example.com").saved_token();
    let answer = client
        .validate_code(validate_request(vec![main_file(USES_OS)], Some(&token)))
        .await
        .expect("checked")
        .into_inner();
    assert!(!answer.ok);
    assert!(
        answer.diagnostics.iter().any(|d| d.code == "GF303"),
        "{answer:?}"
    );
}

/// An app at the size limits: two 100 KiB modules of ordinary code.
fn heavy_app() -> Vec<pb::File> {
    let module: String = (0..1700)
        .map(|i| format!("def f{i}(x: int) -> int:\n    return x * {i} + len(str(x))\n\n"))
        .collect();
    assert!(module.len() < 100 * 1024);
    vec![
        main_file("from fastapi import FastAPI\nimport a\nimport b\napp = FastAPI()\n"),
        pb::File {
            name: "a.py".into(),
            content: module.clone(),
        },
        pb::File {
            name: "b.py".into(),
            content: module,
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_while_validate_code_is_flooded() {
    let platform = Platform::start();
    let token = platform.user("ada@example.com").saved_token();
    let files = heavy_app();
    let channel = platform.channel().await;
    let flood: Vec<_> = (0..12)
        .map(|_| {
            let mut client = pb::app_service_client::AppServiceClient::new(channel.clone());
            let (files, token) = (files.clone(), token.clone());
            tokio::spawn(async move {
                for _ in 0..2 {
                    let answer = client
                        .validate_code(validate_request(files.clone(), Some(&token)))
                        .await
                        .expect("checked")
                        .into_inner();
                    assert!(answer.ok, "{answer:?}");
                }
            })
        })
        .collect();
    let healthz = format!("{}/healthz", platform.url);
    let http = reqwest::Client::new();
    let mut worst = std::time::Duration::ZERO;
    let mut probes = 0;
    while flood.iter().any(|t| !t.is_finished()) {
        let start = std::time::Instant::now();
        let resp = http.get(&healthz).send().await.expect("healthz");
        assert_eq!(resp.status(), 200);
        worst = worst.max(start.elapsed());
        probes += 1;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for task in flood {
        task.await.expect("flood task");
    }
    eprintln!("/healthz: {probes} probes during the flood, slowest {worst:?}");
    assert!(
        probes >= 5,
        "the flood ended too soon to measure ({probes} probes)"
    );
    assert!(
        worst < std::time::Duration::from_millis(750),
        "/healthz took {worst:?} while ValidateCode was flooded"
    );
}
