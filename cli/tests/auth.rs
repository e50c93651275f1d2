//! Accounts, tokens, and users who must not see each other's apps.

mod common;

use common::*;
use gofast_proto::v1 as pb;

fn sign(claims: serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_get_clear_errors_and_exit_codes() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");

    let out = ada.run_stdin(
        &["login", "--email", "ada@example.com", "--password-stdin"],
        "wrong-password\n",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("wrong email or password"),
        "{}",
        text(&out.stderr)
    );

    let out = ada.run_stdin(
        &["signup", "--email", "ADA@example.com", "--password-stdin"],
        "password123\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let out = ada.run_stdin(
        &["signup", "--email", "not-an-email", "--password-stdin"],
        "password123\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("email address"),
        "{}",
        text(&out.stderr)
    );

    let out = ada.run_stdin(
        &["signup", "--email", "bob@example.com", "--password-stdin"],
        "short\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("too short"),
        "{}",
        text(&out.stderr)
    );

    // No password source and no terminal: a usage error, not a hang.
    let out = ada.run(&["login", "--email", "ada@example.com"]);
    assert_eq!(out.status.code(), Some(2));

    // After logout, commands need a login again.
    let out = ada.run(&["logout"]);
    assert!(out.status.success());
    let out = ada.run(&["apps"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("gofast login"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_expired_and_alg_none_tokens_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = "test-secret-that-is-long-enough-000";
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--jwt-secret", secret],
    );
    let ada = platform.user("ada@example.com");
    let me = ada.run(&["whoami", "-o", "json"]);
    let user_id = serde_json::from_slice::<serde_json::Value>(&me.stdout).unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sid = claims_of(&ada.saved_token())["sid"]
        .as_str()
        .expect("the access token names its session")
        .to_string();

    let valid = sign(
        serde_json::json!({"sub": user_id, "sid": sid, "iat": now, "exp": now + 600}),
        secret.as_bytes(),
    );
    // Signed with the server's secret, but naming no session, or one that
    // does not exist, or another user's: refused (the secret alone is not enough).
    let no_session = sign(
        serde_json::json!({"sub": user_id, "iat": now, "exp": now + 600}),
        secret.as_bytes(),
    );
    let made_up_session = sign(
        serde_json::json!({"sub": user_id, "sid": "0123456789abcdef", "iat": now, "exp": now + 600}),
        secret.as_bytes(),
    );
    let someone_else = sign(
        serde_json::json!({"sub": "someoneelse", "sid": sid, "iat": now, "exp": now + 600}),
        secret.as_bytes(),
    );
    let expired = sign(
        serde_json::json!({"sub": user_id, "iat": now - 7200, "exp": now - 3600}),
        secret.as_bytes(),
    );
    let wrong_key = sign(
        serde_json::json!({"sub": user_id, "iat": now, "exp": now + 600}),
        b"another-secret-another-secret-0000",
    );
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let none = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&format!(
            r#"{{"sub":"{user_id}","iat":{now},"exp":{}}}"#,
            now + 600
        ))
    );

    let with = |token: &str| User {
        server: platform.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: Some(token.to_string()),
    };
    assert!(
        with(&valid).run(&["whoami"]).status.success(),
        "a token signed with the server's secret works"
    );
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("alg none", none),
        ("no session", no_session),
        ("made-up session", made_up_session),
        ("another user's session", someone_else),
        ("garbage", "abc".into()),
        ("revoked-looking api token", "gf_0000".into()),
    ] {
        let out = with(&token).run(&["whoami"]);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{what} token was not refused: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("log in") || err.contains("not valid"),
            "{what}: {err}"
        );
    }
    let out = with(&sign(
        serde_json::json!({"sub": user_id, "iat": now - 7200, "exp": now - 3600}),
        secret.as_bytes(),
    ))
    .run(&["whoami"]);
    assert!(
        text(&out.stderr).contains("expired"),
        "{}",
        text(&out.stderr)
    );

    // Over gRPC: UNAUTHENTICATED, with no token at all.
    let mut apps = platform.apps_client().await;
    let err = apps.list_apps(pb::ListAppsRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

/// The claims of a JWT, unchecked.
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test(flavor = "multi_thread")]
async fn users_cannot_see_update_or_delete_each_others_apps() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let bob = platform.user("bob@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let url = ada.deploy(
        &[&write_app(tmp.path(), "mine", &hello_main("ada's"))],
        "mine",
    );
    let app_id = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let out = bob.run(&["apps", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");

    // Another user's app id answers exactly like a missing one.
    let theirs = bob.run(&["status", &app_id]);
    let missing = bob.run(&["status", "zzzzzzzzzz"]);
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(
        text(&theirs.stderr).replace(&app_id, "ID"),
        text(&missing.stderr).replace("zzzzzzzzzz", "ID")
    );
    assert_eq!(
        bob.run(&["delete", &app_id, "--yes"]).status.code(),
        Some(1)
    );
    assert_eq!(bob.run(&["status", "mine"]).status.code(), Some(1));

    // Updating by id over gRPC: NOT_FOUND, and Ada's app is unchanged.
    let mut apps = platform.apps_client().await;
    let mut req = tonic::Request::new(pb::UpdateAppRequest {
        app: app_id.clone(),
        files: vec![pb::File {
            name: "main.py".into(),
            content: hello_main("bob's"),
        }],
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", bob.saved_token()).parse().unwrap(),
    );
    assert_eq!(
        apps.update_app(req).await.unwrap_err().code(),
        tonic::Code::NotFound
    );
    assert_eq!(get_json(&url).await["message"], "ada's");

    // Bob deploying an app of the same name gets his own app.
    let bobs = bob.deploy(
        &[&write_app(tmp.path(), "bobs", &hello_main("bob's"))],
        "mine",
    );
    assert_ne!(bobs, url);
    assert_eq!(get_json(&url).await["message"], "ada's");
    // The gateway does not serve Ada's app under Bob's user id.
    let bob_id = bobs
        .split("/user/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let crossed = format!("{}/user/{bob_id}/app/{app_id}/", platform.apps);
    assert_eq!(get(&crossed).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_deploys_store_nothing() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("app/helpers.py");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(&other, "x = 1\n").unwrap();
    let out = ada.run(&["deploy", other.to_str().unwrap(), "--name", "nomain"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("main.py"),
        "{}",
        text(&out.stderr)
    );

    let good = write_app(tmp.path(), "good", &hello_main("hi"));
    let out = ada.run(&["deploy", good.to_str().unwrap(), "--name", "Bad Name"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a valid app name"),
        "{}",
        text(&out.stderr)
    );

    let out = ada.run(&["apps", "-o", "json"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "[]",
        "a rejected deploy left an app behind"
    );

    let out = ada.run(&["deploy", "/nonexistent/main.py"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ada.run(&["--server", "http://127.0.0.1:9", "apps"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn up_without_python_says_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(GOFAST)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path())
        .env("GOFAST_PYTHON", "/nonexistent/python3")
        .env_remove("GOFAST_VENV")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Python 3 was not found"), "{err}");
    assert!(err.contains("GOFAST_PYTHON"), "{err}");
}
