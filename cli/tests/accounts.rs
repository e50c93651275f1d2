//! Accounts against a real `gofast up`: sessions that end on the server,
//! password changes, closed signups, quotas, the JWT secret's strength, and
//! login floods that are throttled without growing the control plane.

mod common;

use std::{net::IpAddr, process::Command, time::Duration};

use common::*;
use gofast_proto::v1 as pb;
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = "password123";

/// A CLI user whose commands use `token` (GOFAST_TOKEN) instead of a login.
fn with_token(platform: &Platform, token: &str) -> User {
    User {
        server: platform.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: Some(token.to_string()),
    }
}

/// Another login of an existing account, with its own config dir.
fn login_again(platform: &Platform, email: &str, password: &str) -> User {
    let user = User {
        server: platform.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: None,
    };
    let out = user.run_stdin(
        &["login", "--email", email, "--password-stdin"],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    user
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// A REST client that connects from `from` (any 127.0.0.0/8 address reaches
/// the loopback listener, and each is its own client address).
fn http_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_on_the_server() {
    let mut platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let token = ada.saved_token();
    let copy = with_token(&platform, &token);
    assert!(copy.run(&["whoami"]).status.success());

    let out = ada.run(&["logout"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ended on the server"),
        "{}",
        text(&out.stderr)
    );
    // A copy of the token (a stolen one) no longer works: CLI, gRPC, REST.
    let out = copy.run(&["whoami"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("session has ended"),
        "{}",
        text(&out.stderr)
    );
    let mut auth = platform.auth_client().await;
    let err = auth.me(bearer(pb::MeRequest {}, &token)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let resp = reqwest::Client::new()
        .get(format!("{}/api/auth/me", platform.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Logging out again is not an error.
    assert!(ada.run(&["logout"]).status.success());

    // Over REST: login, logout (204), and the token is refused.
    let http = reqwest::Client::new();
    let (status, _, session) = post(
        &http,
        format!("{}/api/auth/login", platform.url),
        None,
        json!({"email": "ada@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let rest_token = session["access_token"].as_str().unwrap().to_string();
    let (status, _, _) = post(
        &http,
        format!("{}/api/auth/logout", platform.url),
        Some(&rest_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, body) = post(
        &http,
        format!("{}/api/auth/logout", platform.url),
        Some(&rest_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 401, "{body}");

    // An API token is not a session: logout says how to revoke it instead.
    let bob = platform.user("bob@example.com");
    let out = bob.run(&["token", "create", "ci"]);
    let api_token = text(&out.stdout).trim().to_string();
    let (status, _, body) = post(
        &http,
        format!("{}/api/auth/logout", platform.url),
        Some(&api_token),
        json!({}),
    )
    .await;
    assert_eq!(status, 412, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("revoke"),
        "{body}"
    );

    // With the server gone, logout still forgets the token but says that the
    // session lives on, with exit code 3.
    assert!(platform.stop().success());
    let out = bob.run(&["logout"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("could not end its session"),
        "{}",
        text(&out.stderr)
    );
    let out = bob.run(&["logout"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("not logged in"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_ends_the_other_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    // Room for the logins below within one minute.
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--account-logins-per-minute", "30"],
    );
    let ada = platform.user("ada@example.com");
    let laptop = login_again(&platform, "ada@example.com", PASSWORD);
    let out = ada.run(&["token", "create", "ci"]);
    let api = with_token(&platform, text(&out.stdout).trim());
    assert!(laptop.run(&["whoami"]).status.success());

    // A wrong current password changes nothing.
    let out = ada.run_stdin(
        &["password", "--password-stdin"],
        "not-the-password\nnew-password-456\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("current password is wrong"),
        "{}",
        text(&out.stderr)
    );
    assert!(laptop.run(&["whoami"]).status.success());

    let out = ada.run_stdin(
        &["password", "--password-stdin", "-o", "json"],
        &format!("{PASSWORD}\nnew-password-456\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let changed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(changed["sessions_ended"], 1, "{changed}");
    // The caller's session stays; the laptop's has ended.
    assert!(ada.run(&["whoami"]).status.success());
    let out = laptop.run(&["whoami"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("session has ended"),
        "{}",
        text(&out.stderr)
    );
    // The old password is gone, the new one works.
    let out = laptop.run_stdin(
        &["login", "--email", "ada@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(3));
    login_again(&platform, "ada@example.com", "new-password-456");
    // API tokens keep working unless revoked with the change.
    assert!(api.run(&["whoami"]).status.success());
    let out = ada.run_stdin(
        &["password", "--password-stdin", "--revoke-tokens"],
        "new-password-456\nthird-password-789\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 API token(s) revoked"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(api.run(&["whoami"]).status.code(), Some(3));

    // Over REST, with the same rules.
    let http = reqwest::Client::new();
    let (status, _, session) = post(
        &http,
        format!("{}/api/auth/login", platform.url),
        None,
        json!({"email": "ada@example.com", "password": "third-password-789"}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().unwrap();
    let (status, _, body) = post(
        &http,
        format!("{}/api/auth/password", platform.url),
        Some(token),
        json!({"current_password": "third-password-789", "new_password": "short"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = post(
        &http,
        format!("{}/api/auth/password", platform.url),
        Some(token),
        json!({"current_password": "third-password-789", "new_password": "fourth-password-0"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Ada's CLI login (another session) has ended with it.
    assert_eq!(ada.run(&["whoami"]).status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_signup_is_refused_and_existing_accounts_still_log_in() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut open = Platform::start_in(&data, "127.0.0.1:0", &[]);
    open.user("ada@example.com");
    open.stop();

    let platform = Platform::start_in(&data, "127.0.0.1:0", &["--signup", "closed"]);
    let bob = User {
        server: platform.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: None,
    };
    let out = bob.run_stdin(
        &["signup", "--email", "bob@example.com", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("signups are closed"),
        "{}",
        text(&out.stderr)
    );
    let (status, _, body) = post(
        &reqwest::Client::new(),
        format!("{}/api/auth/signup", platform.url),
        None,
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "permission_denied");
    let err = platform
        .auth_client()
        .await
        .signup(pb::SignupRequest {
            email: "bob@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    login_again(&platform, "ada@example.com", PASSWORD);
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_refuse_clearly_and_old_revisions_are_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--max-apps-per-user", "2", "--keep-revisions", "2"],
    );
    let ada = platform.user("ada@example.com");
    let code = tmp.path().join("code");
    for v in 1..=4 {
        ada.deploy(
            &[&write_app(&code, "one", &hello_main(&format!("v{v}")))],
            "one",
        );
    }
    ada.deploy(&[&write_app(&code, "two", &hello_main("two"))], "two");

    let out = ada.run(&[
        "deploy",
        write_app(&code, "three", &hello_main("three"))
            .to_str()
            .unwrap(),
        "--name",
        "three",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("you have 2 apps, the most this server allows"),
        "{err}"
    );
    assert!(err.contains("gofast delete"), "{err}");
    // Nothing of it was kept.
    let apps: Value = serde_json::from_slice(&ada.run(&["apps", "-o", "json"]).stdout).unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 2, "{apps}");
    // REST: 403 with its own code; gRPC: RESOURCE_EXHAUSTED.
    let (status, _, body) = post(
        &reqwest::Client::new(),
        format!("{}/api/apps", platform.url),
        Some(&ada.saved_token()),
        json!({"name": "three", "files": [{"name": "main.py", "content": hello_main("x")}]}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "quota_exceeded");
    let err = platform
        .apps_client()
        .await
        .create_app(bearer(
            pb::CreateAppRequest {
                name: "three".into(),
                files: vec![pb::File {
                    name: "main.py".into(),
                    content: hello_main("x"),
                }],
            },
            &ada.saved_token(),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);

    // Revisions 1 and 2 of "one" were pruned; 3 (the one before) and 4 stay.
    let out = ada.run(&["rollback", "one", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("only the last 2 are kept"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        ada.run(&["rollback", "one", "--to", "2"]).status.code(),
        Some(1)
    );
    let out = ada.run(&["rollback", "one", "--to", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Deleting an app makes room again.
    assert!(ada.run(&["delete", "two", "--yes"]).status.success());
    ada.deploy(&[&write_app(&code, "three", &hello_main("three"))], "three");
}

#[test]
fn a_short_jwt_secret_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    for (secret, why) in [
        ("short-secret", "shorter than 32 bytes"),
        (&"ab".repeat(20) as &str, "too few different characters"),
    ] {
        let out = Command::new(GOFAST)
            .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(tmp.path())
            .env("GOFAST_JWT_SECRET", secret)
            .env("GOFAST_VENV", venv())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.contains("too weak") && err.contains(why), "{err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert!(!err.contains(secret), "the secret was printed: {err}");
        assert!(!err.contains("listening"), "{err}");
    }
    // A weak secret file in the data dir is refused too.
    let data = tmp.path().join("weak");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("jwt-secret"), "hunter2\n").unwrap();
    let out = Command::new(GOFAST)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("GOFAST_JWT_SECRET")
        .env("GOFAST_VENV", venv())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("delete the file"),
        "{}",
        text(&out.stderr)
    );
}

/// The pid of the `gofast up` serving `data_dir`.
fn pid_of(data_dir: &std::path::Path) -> i32 {
    let want = data_dir.to_string_lossy().to_string();
    let processes = procfs::process::all_processes().expect("/proc");
    for p in processes.flatten() {
        // Processes that exit meanwhile, or are not ours to read, are skipped.
        let Ok(args) = p.cmdline() else {
            continue;
        };
        if args.first().is_some_and(|a| a == GOFAST)
            && args.get(1).is_some_and(|a| a == "up")
            && args.contains(&want)
        {
            return p.pid;
        }
    }
    panic!("no gofast up for {want}");
}

/// Peak resident memory of a process so far, in KiB.
fn vm_hwm_kib(pid: i32) -> u64 {
    let status = procfs::process::Process::new(pid)
        .and_then(|p| p.status())
        .expect("/proc/PID/status");
    status.vmhwm.expect("VmHWM")
}

/// 64 concurrent wrong-password logins: most are refused before any hashing,
/// the control plane's peak memory barely moves, and another account logs in
/// from another address right after.
#[tokio::test(flavor = "multi_thread")]
async fn a_login_flood_is_throttled_and_memory_stays_flat() {
    let platform = Platform::start();
    platform.user("ada@example.com");
    platform.user("bob@example.com");
    let pid = pid_of(&platform.data_dir);
    let before = vm_hwm_kib(pid);

    let channel = platform.channel().await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let mut auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
            tokio::spawn(async move {
                auth.login(pb::LoginRequest {
                    email: "ada@example.com".into(),
                    password: format!("wrong-{i}"),
                })
                .await
            })
        })
        .collect();
    let (mut throttled, mut wrong, mut by_address, mut by_account) = (0, 0, 0, 0);
    for t in tasks {
        let status = t.await.unwrap().expect_err("a wrong password logged in");
        match status.code() {
            tonic::Code::ResourceExhausted => {
                throttled += 1;
                let retry: u64 = status
                    .metadata()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .expect("a retry-after hint");
                assert!((1..=60).contains(&retry), "{retry}");
                use tonic_types::StatusExt;
                assert!(status.get_details_retry_info().is_some());
                let message = status.message();
                assert!(message.contains("try again in"), "{message}");
                by_address += usize::from(message.contains("from your address"));
                by_account += usize::from(message.contains("for this account"));
            }
            tonic::Code::Unauthenticated => wrong += 1,
            other => panic!("unexpected {other:?}: {}", status.message()),
        }
    }
    assert!(
        throttled >= 48,
        "only {throttled} of 64 were throttled ({wrong} checked)"
    );
    let after = vm_hwm_kib(pid);
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "login flood: {throttled} throttled, {wrong} checked; VmHWM {} MiB -> {} MiB (+{grown_mib} MiB)",
        before / 1024,
        after / 1024
    );
    assert!(grown_mib < 200, "the control plane grew by {grown_mib} MiB");

    // Another account from another address: still logs in.
    let elsewhere = http_from("127.0.0.2");
    let (status, _, body) = post(
        &elsewhere,
        format!("{}/api/auth/login", platform.url),
        None,
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Ada's account stays throttled from there too (per account): within a
    // try or two, 429 with Retry-After over REST.
    let mut refused = None;
    for _ in 0..3 {
        let (status, headers, body) = post(
            &elsewhere,
            format!("{}/api/auth/login", platform.url),
            None,
            json!({"email": "ada@example.com", "password": "still-wrong"}),
        )
        .await;
        if status == 429 {
            refused = Some((headers, body));
            break;
        }
        assert_eq!(status, 401, "{body}");
    }
    let (headers, body) = refused.expect("ada's account was not throttled from another address");
    assert_eq!(body["code"], "too_many_requests");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("for this account"),
        "{body}"
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Both limits took part: the address's, then the account's.
    assert!(by_address >= 40, "{by_address} refused for the address");
    assert!(by_account >= 1, "{by_account} refused for the account");
}

async fn signup_from(
    platform: &Platform,
    from: &str,
    forwarded_for: Option<&str>,
    email: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = http_from(from)
        .post(format!("{}/api/auth/signup", platform.url))
        .json(&json!({"email": email, "password": PASSWORD}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.expect("request");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn signups_from_one_address_are_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let platform = Platform::start_in(
        &tmp.path().join("d"),
        "127.0.0.1:0",
        &["--signups-per-hour", "3", "--trusted-proxy", "127.0.0.5"],
    );
    for i in 0..3 {
        let (status, _, body) =
            signup_from(&platform, "127.0.0.3", None, &format!("s{i}@example.com")).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, headers, body) = signup_from(&platform, "127.0.0.3", None, "s9@example.com").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_requests");
    assert!(headers.contains_key("retry-after"));
    // A made-up X-Forwarded-For from a client that is no trusted proxy
    // changes nothing.
    let (status, _, _) = signup_from(
        &platform,
        "127.0.0.3",
        Some("198.51.100.77"),
        "s9@example.com",
    )
    .await;
    assert_eq!(status, 429);
    // Another address is not affected.
    let (status, _, body) = signup_from(&platform, "127.0.0.4", None, "s9@example.com").await;
    assert_eq!(status, 201, "{body}");

    // Behind the trusted proxy, each forwarded client has its own limit.
    for i in 0..3 {
        let (status, _, body) = signup_from(
            &platform,
            "127.0.0.5",
            Some("198.51.100.1"),
            &format!("p{i}@example.com"),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, _, _) = signup_from(
        &platform,
        "127.0.0.5",
        Some("6.6.6.6, 198.51.100.1"),
        "p8@example.com",
    )
    .await;
    assert_eq!(
        status, 429,
        "the client put an address in front of the proxy's"
    );
    let (status, _, body) = signup_from(
        &platform,
        "127.0.0.5",
        Some("198.51.100.2"),
        "p9@example.com",
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// Two control planes on one MongoDB store (replicas): a logout on one ends
/// the session on the other, and so does a password change.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_on_every_replica_of_one_store() {
    let base = match std::env::var("GOFAST_TEST_MONGODB_URI") {
        Ok(v) if !v.is_empty() => v,
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(!ci, "GOFAST_TEST_MONGODB_URI is not set under CI");
            eprintln!("skipped: set GOFAST_TEST_MONGODB_URI (scripts/test.sh does) to run");
            return;
        }
    };
    let hosts = base
        .strip_prefix("mongodb://")
        .expect("a mongodb:// URI")
        .split(['/', '?'])
        .next()
        .unwrap()
        .to_string();
    let store = format!(
        "mongodb://{hosts}/gft_sessions_{}_{}",
        std::process::id(),
        rand_suffix()
    );
    let flags = [
        "--store",
        store.as_str(),
        "--jwt-secret",
        "replica-secret-shared-by-both-of-them",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let a = Platform::start_in(&tmp.path().join("a"), "127.0.0.1:0", &flags);
    let b = Platform::start_in(&tmp.path().join("b"), "127.0.0.1:0", &flags);
    let ada = a.user("ada@example.com");
    let token = ada.saved_token();
    let on_b = User {
        server: b.url.clone(),
        config: tempfile::tempdir().unwrap(),
        token: Some(token.clone()),
    };
    assert!(
        on_b.run(&["whoami"]).status.success(),
        "B accepts A's login"
    );
    assert!(ada.run(&["logout"]).status.success());
    let out = on_b.run(&["whoami"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "B still accepts a token logged out on A"
    );

    // A password change on B ends A's other sessions.
    let first = login_again(&a, "ada@example.com", PASSWORD);
    let second = login_again(&b, "ada@example.com", PASSWORD);
    let out = second.run_stdin(
        &["password", "--password-stdin"],
        &format!("{PASSWORD}\nreplica-password-2\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(first.run(&["whoami"]).status.code(), Some(3));
    assert!(second.run(&["whoami"]).status.success());
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
