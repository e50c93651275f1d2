//! The REST API under /api: every endpoint against the real `gofast up`, real
//! FastAPI code served by real uvicorn, and the OpenAPI document checked by
//! openapi-spec-validator.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// The REST list of DESIGN.md: the contract that the served document (made
/// from the router's own list of routes) must cover.
const ENDPOINTS: [(&str, &str); 10] = [
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("get", "/api/auth/me"),
    ("get", "/api/apps"),
    ("post", "/api/apps"),
    ("get", "/api/apps/{app_id}"),
    ("put", "/api/apps/{app_id}"),
    ("delete", "/api/apps/{app_id}"),
    ("get", "/api/apps/{app_id}/status"),
    ("post", "/api/apps/{app_id}/activity"),
];

const PASSWORD: &str = "password123";

/// A REST client of one platform.
struct Api {
    base: String,
    http: reqwest::Client,
}

/// A response: its status, its headers and its body as JSON (`Null` when
/// empty).
struct Reply {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

impl Api {
    fn new(platform: &Platform) -> Self {
        Api {
            base: platform.url.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "a {status} answer is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.request(method, path, token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn signup(&self, email: &str) -> Reply {
        let body = json!({ "email": email, "password": PASSWORD });
        self.call(Method::POST, "/api/auth/signup", None, Some(body))
            .await
    }

    /// Signs up and logs in; returns the access token.
    async fn user(&self, email: &str) -> String {
        let r = self.signup(email).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    async fn create_app(&self, token: &str, name: &str, main_py: &str) -> Reply {
        let body = json!({ "name": name, "files": [{ "name": "main.py", "content": main_py }] });
        self.call(Method::POST, "/api/apps", Some(token), Some(body))
            .await
    }

    /// Polls the status until `revision` is READY; panics on FAILED or after
    /// a minute.
    async fn wait_ready(&self, token: &str, app_id: &str, revision: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get(&format!("/api/apps/{app_id}/status"), token).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            let status = &r.body["status"];
            if r.body["revision"] == revision && status == "READY" {
                return r.body;
            }
            assert_ne!(status, "FAILED", "the deploy failed: {:#}", r.body);
            assert!(
                Instant::now() < deadline,
                "revision {revision} not READY within a minute: {:#}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn assert_rfc3339(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"));
}

/// `{code, message}` with this code, and a non-empty message.
fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

fn assert_app_shape(app: &Value) {
    for key in [
        "app_id",
        "name",
        "url",
        "status",
        "updated_at",
        "created_at",
    ] {
        assert!(app[key].is_string(), "{key} in {app}");
    }
    assert!(app["revision"].is_u64(), "revision in {app}");
    assert_rfc3339(&app["updated_at"]);
    assert_rfc3339(&app["created_at"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_login_and_me() {
    let platform = Platform::start();
    let api = Api::new(&platform);

    let r = api.signup("ada@example.com").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "ada@example.com");
    let user_id = r.body["user_id"].as_str().expect("user_id").to_string();
    assert_rfc3339(&r.body["created_at"]);

    let r = api
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "email": "ada@example.com", "password": PASSWORD })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token_type"], "bearer");
    assert_rfc3339(&r.body["expires_at"]);
    let token = r.body["access_token"].as_str().expect("token").to_string();

    let r = api.get("/api/auth/me", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user_id"], user_id.as_str());
    assert_eq!(r.body["email"], "ada@example.com");

    // An API token (made over gRPC) works as a bearer token too.
    let mut auth = platform.auth_client().await;
    let mut req =
        tonic::Request::new(gofast_proto::v1::CreateApiTokenRequest { name: "ci".into() });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let secret = auth
        .create_api_token(req)
        .await
        .unwrap()
        .into_inner()
        .secret;
    let r = api.get("/api/auth/me", &secret).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["user_id"], user_id.as_str());

    // Failures.
    assert_error(
        &api.signup("ada@example.com").await,
        StatusCode::CONFLICT,
        "already_exists",
    );
    assert_error(
        &api.signup("not-an-email").await,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    );
    let wrong = api
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({ "email": "ada@example.com", "password": "wrong-password" })),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthenticated");

    let anonymous = api.call(Method::GET, "/api/auth/me", None, None).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(anonymous.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_error(
        &api.get("/api/auth/me", "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let basic = api
        .send(
            api.request(Method::GET, "/api/auth/me", None)
                .header(header::AUTHORIZATION, "Basic YWRhOnBhc3N3b3Jk"),
        )
        .await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "unauthenticated");

    // Bodies that are not what the endpoint takes.
    let malformed = api
        .send(
            api.request(Method::POST, "/api/auth/signup", None)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{\"email\": \"bob@example.com\", "),
        )
        .await;
    assert_error(&malformed, StatusCode::BAD_REQUEST, "invalid_argument");
    let missing = api
        .call(
            Method::POST,
            "/api/auth/signup",
            None,
            Some(json!({ "email": "bob@example.com" })),
        )
        .await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{}",
        missing.body
    );
    let not_json = api
        .send(
            api.request(Method::POST, "/api/auth/login", None)
                .header(header::CONTENT_TYPE, "text/plain")
                .body("email=ada@example.com"),
        )
        .await;
    assert_error(
        &not_json,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_argument",
    );

    // Paths and methods the API does not have.
    assert_error(
        &api.get("/api/nope", &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = api
        .call(Method::PATCH, "/api/apps", Some(&token), None)
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_through_its_whole_life() {
    let platform = Platform::start();
    let api = Api::new(&platform);
    let token = api.user("ada@example.com").await;

    let r = api.get("/api/apps", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!([]));

    // Create, and wait until it serves.
    let r = api
        .create_app(&token, "hello", &hello_main("hello from rest"))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_app_shape(&r.body);
    assert_eq!(r.body["name"], "hello");
    assert_eq!(r.body["revision"], 1);
    let app_id = r.body["app_id"].as_str().unwrap().to_string();
    let url = r.body["url"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!("/app/{app_id}/")), "{url}");

    let status = api.wait_ready(&token, &app_id, 1).await;
    assert_app_shape(&status);
    let events = status["events"].as_array().expect("events");
    let stages: Vec<&str> = events
        .iter()
        .map(|e| e["stage"].as_str().expect("stage"))
        .collect();
    assert_eq!(stages.last(), Some(&"READY"), "{stages:?}");
    for e in events {
        assert_rfc3339(&e["time"]);
        assert_eq!(e["app_id"], app_id.as_str());
    }
    assert_eq!(events.last().unwrap()["url"], url.as_str());
    assert_eq!(
        get_json(&url).await,
        json!({ "message": "hello from rest" })
    );

    // Read it back, alone and in the list.
    let r = api.get(&format!("/api/apps/{app_id}"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_app_shape(&r.body);
    assert_eq!(r.body["status"], "READY");
    let r = api.get("/api/apps", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = r.body.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{}", r.body);
    assert_eq!(list[0]["app_id"], app_id.as_str());
    assert_app_shape(&list[0]);

    // A second app of the same name is refused.
    assert_error(
        &api.create_app(&token, "hello", &hello_main("again")).await,
        StatusCode::CONFLICT,
        "already_exists",
    );

    // New code: revision 2 replaces revision 1 at the same URL.
    let update =
        json!({ "files": [{ "name": "main.py", "content": hello_main("second revision") }] });
    let r = api
        .call(
            Method::PUT,
            &format!("/api/apps/{app_id}"),
            Some(&token),
            Some(update),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_app_shape(&r.body);
    assert_eq!(r.body["revision"], 2);
    api.wait_ready(&token, &app_id, 2).await;
    assert_eq!(
        get_json(&url).await,
        json!({ "message": "second revision" })
    );

    // Code with a syntax error is refused with diagnostics; nothing changes.
    let broken = json!({ "files": [{ "name": "main.py", "content": "from fastapi import FastAPI\n\napp = FastAPI(\n\ndef root(:\n    pass\n" }] });
    let r = api
        .call(
            Method::PUT,
            &format!("/api/apps/{app_id}"),
            Some(&token),
            Some(broken),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_argument");
    let diagnostics = r.body["details"]["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics: {}", r.body));
    assert!(!diagnostics.is_empty());
    for d in diagnostics {
        assert_eq!(d["file"], "main.py", "{d}");
        assert!(d["line"].as_u64().is_some_and(|l| l >= 1), "{d}");
        assert!(d["code"].is_string() && d["message"].is_string(), "{d}");
        assert!(d["column"].is_u64() && d["severity"].is_string(), "{d}");
    }
    let r = api
        .call(
            Method::POST,
            "/api/apps",
            Some(&token),
            Some(json!({ "name": "nomain", "files": [{ "name": "helpers.py", "content": "x = 1\n" }] })),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_argument");
    assert!(
        r.body["details"]["diagnostics"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
    );
    let r = api.get(&format!("/api/apps/{app_id}"), &token).await;
    assert_eq!(r.body["revision"], 2, "{}", r.body);

    // Activity.
    let r = api
        .call(
            Method::POST,
            &format!("/api/apps/{app_id}/activity"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(r.body, Value::Null);

    // Delete: the app and its URL are gone.
    let r = api
        .call(
            Method::DELETE,
            &format!("/api/apps/{app_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_error(
        &api.get(&format!("/api/apps/{app_id}"), &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(get(&url).await.status(), 404);
    assert_eq!(api.get("/api/apps", &token).await.body, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_app_answers_exactly_like_a_missing_one() {
    let platform = Platform::start();
    let api = Api::new(&platform);
    let ada = api.user("ada@example.com").await;
    let bob = api.user("bob@example.com").await;

    let r = api.create_app(&ada, "mine", &hello_main("ada's")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let app_id = r.body["app_id"].as_str().unwrap().to_string();
    let files = json!({ "files": [{ "name": "main.py", "content": hello_main("bob's") }] });
    let attempts = [
        (Method::GET, format!("/api/apps/{app_id}"), None),
        (Method::PUT, format!("/api/apps/{app_id}"), Some(files)),
        (Method::DELETE, format!("/api/apps/{app_id}"), None),
        (Method::GET, format!("/api/apps/{app_id}/status"), None),
        (Method::POST, format!("/api/apps/{app_id}/activity"), None),
    ];
    let mut others = Vec::new();
    for (method, path, body) in &attempts {
        let r = api
            .call(method.clone(), path, Some(&bob), body.clone())
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        others.push(r.body);
    }
    assert_eq!(api.get("/api/apps", &bob).await.body, json!([]));
    // Ada's app is untouched.
    let r = api.get(&format!("/api/apps/{app_id}"), &ada).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["revision"], 1);

    // Once it is gone, the same requests answer the same bodies.
    let r = api
        .call(
            Method::DELETE,
            &format!("/api/apps/{app_id}"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for ((method, path, body), other) in attempts.iter().zip(&others) {
        let r = api
            .call(method.clone(), path, Some(&bob), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(&r.body, other, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_answers_413() {
    let platform = Platform::start();
    let api = Api::new(&platform);
    let token = api.user("ada@example.com").await;
    let huge = format!("# {}\n", "x".repeat(3 * 1024 * 1024));
    let r = api.create_app(&token, "huge", &huge).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "invalid_argument");
    // The platform goes on serving.
    assert_eq!(api.get("/api/apps", &token).await.body, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_valid_and_complete() {
    let platform = Platform::start();
    let resp = get(&format!("{}/api/openapi.json", platform.url)).await;
    assert_eq!(resp.status(), 200);
    let document = resp.text().await.expect("body");
    let doc: Value = serde_json::from_str(&document).expect("JSON");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &document).expect("write");
    let out = std::process::Command::new(venv().join("bin/python"))
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run openapi_spec_validator (scripts/venv.sh installs it)");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the document:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    for (method, path) in ENDPOINTS {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not in the document"
        );
    }
    // Every documented operation is served: without a token or body each
    // answers its own refusal, never "no such endpoint".
    let api = Api::new(&platform);
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let uri = path.replace("{app_id}", "nosuchapp");
            let r = api.send(api.request(method.clone(), &uri, None)).await;
            assert!(
                r.status != StatusCode::METHOD_NOT_ALLOWED
                    && !r.body.to_string().contains("there is no endpoint"),
                "{method} {path} is documented but not served: {} {}",
                r.status,
                r.body
            );
        }
    }
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let me = &doc["paths"]["/api/auth/me"]["get"];
    assert_eq!(me["security"], json!([{ "bearer": [] }]));
    let error = &doc["components"]["schemas"]["Error"];
    assert!(error["properties"]["code"].is_object(), "{error}");
    assert!(error["properties"]["message"].is_object(), "{error}");
    assert!(error["properties"]["details"].is_object(), "{error}");
}
