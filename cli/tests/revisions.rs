//! Revision history with its code, through every edge against the real
//! `gofast up`: gRPC (ListRevisions, GetRevision), REST
//! (`/api/apps/{app}/revisions[/{n}]`) and the CLI (`gofast revisions`,
//! `gofast pull`). Another user's app answers like a missing one; a revision
//! that is not stored answers NOT_FOUND in words.

mod common;

use common::*;
use gofast_proto::v1 as pb;
use serde_json::Value;
use tonic::{Code, Request};

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    req
}

fn numbers(revisions: &[pb::Revision]) -> Vec<(u32, bool, bool)> {
    revisions
        .iter()
        .map(|r| (r.number, r.current, r.live))
        .collect()
}

async fn rest_get(platform: &Platform, token: &str, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", platform.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn each_revision_keeps_its_code_for_its_owner_only() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let eve = platform.user("eve@example.com");
    let (ada_token, eve_token) = (ada.saved_token(), eve.saved_token());
    let dir = tempfile::tempdir().unwrap();

    // Revision 1: one file. Revision 2: two files. Revision 3: crashes at
    // import, so revision 2 stays live.
    let main = write_app(dir.path(), "hist", &hello_main("one"));
    ada.deploy(&[&main], "hist");
    std::fs::write(&main, hello_main("two")).unwrap();
    let util = dir.path().join("hist/util.py");
    std::fs::write(&util, "X = 2\n").unwrap();
    ada.deploy(&[&main, &util], "hist");
    std::fs::write(
        &main,
        format!("{}\nundefined_name + 1\n", hello_main("three")),
    )
    .unwrap();
    let out = ada.run(&["deploy", main.to_str().unwrap(), "--name", "hist"]);
    assert!(!out.status.success(), "the crashing revision failed");

    // gRPC: newest first, which is current and which is live.
    let mut apps = platform.apps_client().await;
    let listed = apps
        .list_revisions(authed(
            &ada_token,
            pb::ListRevisionsRequest { app: "hist".into() },
        ))
        .await
        .expect("list")
        .into_inner()
        .revisions;
    assert_eq!(
        numbers(&listed),
        vec![(3, true, false), (2, false, true), (1, false, false)]
    );
    assert_eq!(listed[1].file_names, vec!["main.py", "util.py"]);
    assert_eq!(
        listed[1].size_bytes,
        (hello_main("two").len() + "X = 2\n".len()) as u64
    );
    assert_eq!(listed[2].file_names, vec!["main.py"]);
    assert!(
        listed
            .iter()
            .all(|r| r.sha256.len() == 64 && r.created_at.is_some())
    );

    // Without a token: nothing.
    let anonymous = apps
        .get_revision(Request::new(pb::GetRevisionRequest {
            app: "hist".into(),
            revision: 1,
        }))
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    // The code of each: 0 is the current one.
    let ask = |app: &str, revision: u32| pb::GetRevisionRequest {
        app: app.into(),
        revision,
    };
    let one = apps
        .get_revision(authed(&ada_token, ask("hist", 1)))
        .await
        .expect("revision 1")
        .into_inner();
    assert_eq!(one.files.len(), 1);
    assert_eq!(one.files[0].content, hello_main("one"));
    assert_eq!(one.revision.expect("its revision").number, 1);
    let current = apps
        .get_revision(authed(&ada_token, ask("hist", 0)))
        .await
        .expect("the current revision")
        .into_inner();
    assert_eq!(current.revision.as_ref().unwrap().number, 3);
    assert!(
        current
            .files
            .iter()
            .any(|f| f.content.contains("undefined_name"))
    );

    // A revision that is not stored: NOT_FOUND, in words.
    let missing = apps
        .get_revision(authed(&ada_token, ask("hist", 99)))
        .await
        .expect_err("no revision 99");
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().contains("no revision 99") && missing.message().contains("revision 3"),
        "{}",
        missing.message()
    );

    // Eve: Ada's app answers exactly like an app that does not exist.
    let app_id = apps
        .get_app(authed(&ada_token, pb::GetAppRequest { app: "hist".into() }))
        .await
        .unwrap()
        .into_inner()
        .app
        .unwrap()
        .app_id;
    let nobody = "zzzzzzzzzz";
    let theirs = apps
        .list_revisions(authed(
            &eve_token,
            pb::ListRevisionsRequest {
                app: app_id.clone(),
            },
        ))
        .await
        .expect_err("not Eve's");
    let absent = apps
        .list_revisions(authed(
            &eve_token,
            pb::ListRevisionsRequest { app: nobody.into() },
        ))
        .await
        .expect_err("nobody's");
    assert_eq!(theirs.code(), Code::NotFound);
    assert_eq!(
        (theirs.code(), theirs.message().replace(&app_id, "ID")),
        (absent.code(), absent.message().replace(nobody, "ID"))
    );
    let theirs = apps
        .get_revision(authed(&eve_token, ask(&app_id, 1)))
        .await
        .expect_err("not Eve's");
    assert_eq!(theirs.code(), Code::NotFound);
    assert!(
        !theirs.message().contains("revision"),
        "{}",
        theirs.message()
    );

    // REST: the same shapes as the CLI's -o json.
    let (status, list) = rest_get(
        &platform,
        &ada_token,
        &format!("/api/apps/{app_id}/revisions"),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let list = list.as_array().expect("a list").clone();
    assert_eq!(list.len(), 3);
    assert_eq!(list[1]["number"], 2);
    assert_eq!(list[1]["live"], true);
    assert_eq!(list[1]["current"], false);
    assert_eq!(
        list[1]["file_names"],
        serde_json::json!(["main.py", "util.py"])
    );
    assert!(list[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let (status, two) = rest_get(&platform, &ada_token, "/api/apps/hist/revisions/2").await;
    assert_eq!(status, 200, "{two}");
    assert_eq!(two["number"], 2);
    let files = two["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f["name"] == "util.py" && f["content"] == "X = 2\n")
    );
    let (status, cur) = rest_get(&platform, &ada_token, "/api/apps/hist/revisions/current").await;
    assert_eq!((status, cur["number"].clone()), (200, Value::from(3)));
    let (status, err) = rest_get(&platform, &ada_token, "/api/apps/hist/revisions/99").await;
    assert_eq!(
        (status, err["code"].as_str()),
        (404, Some("not_found")),
        "{err}"
    );
    assert!(
        err["message"].as_str().unwrap().contains("no revision 99"),
        "{err}"
    );
    let (status, err) = rest_get(&platform, &ada_token, "/api/apps/hist/revisions/latest").await;
    assert_eq!(status, 400, "{err}");
    let (s1, theirs) = rest_get(
        &platform,
        &eve_token,
        &format!("/api/apps/{app_id}/revisions/1"),
    )
    .await;
    let (s2, absent) = rest_get(
        &platform,
        &eve_token,
        &format!("/api/apps/{nobody}/revisions/1"),
    )
    .await;
    assert_eq!(s1, 404);
    assert_eq!(
        (s1, theirs.to_string().replace(&app_id, "ID")),
        (s2, absent.to_string().replace(nobody, "ID"))
    );

    // CLI: the table, and JSON that is REST's list.
    let out = ada.run(&["revisions", "hist"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REV"), "{table}");
    assert!(
        lines[1].trim_start().starts_with('3') && lines[1].ends_with("current"),
        "{table}"
    );
    assert!(
        lines[2].contains("main.py util.py") && lines[2].ends_with("live"),
        "{table}"
    );
    let out = ada.run(&["revisions", "hist", "-o", "json"]);
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(cli, Value::Array(list));
    let out = eve.run(&["revisions", "hist"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // pull: writes the files; refuses to overwrite different ones.
    let into = dir.path().join("pulled");
    let out = ada.run(&[
        "pull",
        "hist",
        "--revision",
        "2",
        "--dir",
        into.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(into.join("main.py")).unwrap(),
        hello_main("two")
    );
    assert_eq!(
        std::fs::read_to_string(into.join("util.py")).unwrap(),
        "X = 2\n"
    );
    std::fs::write(into.join("main.py"), "# my local edit\n").unwrap();
    let out = ada.run(&[
        "pull",
        "hist",
        "--revision",
        "1",
        "--dir",
        into.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(into.join("main.py")).unwrap(),
        "# my local edit\n"
    );
    let out = ada.run(&[
        "pull",
        "hist",
        "--revision",
        "1",
        "--dir",
        into.to_str().unwrap(),
        "--force",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["revision"], 1);
    assert_eq!(report["written"], serde_json::json!(["main.py"]));
    assert_eq!(
        std::fs::read_to_string(into.join("main.py")).unwrap(),
        hello_main("one")
    );
    let out = ada.run(&[
        "pull",
        "hist",
        "--revision",
        "99",
        "--dir",
        into.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no revision 99"),
        "{}",
        text(&out.stderr)
    );

    // The metrics name the new methods (labels come from the descriptors).
    let metrics = get(&format!("{}/metrics", platform.url))
        .await
        .text()
        .await
        .unwrap();
    for (method, code) in [("ListRevisions", "Ok"), ("GetRevision", "NotFound")] {
        let label = format!("method=\"/gofast.v1.AppService/{method}\",code=\"{code}\"");
        assert!(metrics.contains(&label), "no {label} in\n{metrics}");
    }
    assert!(
        metrics.contains(r#"method="GET /api/apps/{app_id}/revisions/{revision}",code="404""#),
        "REST routes are labelled by their template: {metrics}"
    );

    // A rollback moves "current"; "live" follows once it is READY.
    let out = ada.run(&["rollback", "hist", "--to", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = apps
        .list_revisions(authed(
            &ada_token,
            pb::ListRevisionsRequest { app: "hist".into() },
        ))
        .await
        .unwrap()
        .into_inner()
        .revisions;
    assert_eq!(
        numbers(&listed),
        vec![(3, false, false), (2, false, false), (1, true, true)]
    );
}
