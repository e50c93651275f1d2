//! The operator's validation policy through the real platform:
//! `--validation strict|advisory` and `--allow-module`, and ValidateCode's
//! bounds (a token is required).

mod common;

use common::*;
use gofast_proto::v1 as pb;

/// Imports `os`, which the checker refuses (GF303), and uses it harmlessly.
const USES_OS: &str = "import os\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"sep\": os.sep}\n";

/// Imports `csv`, a standard module that is not on the built-in list (GF301).
const USES_CSV: &str = "import csv\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"dialects\": sorted(csv.list_dialects())}\n";

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
    let (_data, platform) = start_with(&["--allow-module", "csv"]);
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

    // `--allow-module csv` lets csv through on this server...
    let csv_app = write_app(dir.path(), "csv-app", USES_CSV);
    let url = ada.deploy(&[&csv_app], "csv-app");
    let body = get_json(&url).await;
    assert!(
        body["dialects"].as_array().is_some_and(|d| !d.is_empty()),
        "{body}"
    );

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
