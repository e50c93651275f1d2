//! The browser editor at `/` of the platform's origin: the assets that
//! `scripts/editor.sh` builds into `web-editor/dist/`, embedded in the binary
//! so the platform runs offline and as one file.
//!
//! Caching: the page is `no-cache` (it names the current hashed assets), the
//! hashed assets are `immutable`. Security: a strict Content-Security-Policy
//! on every response of this module — scripts only from this origin, no
//! inline script, nothing from a third party, and frames only from the apps
//! origin (the preview). CodeMirror injects its styles at run time, so the
//! page carries a fresh nonce for `style-src` that the editor hands to
//! CodeMirror (`EditorView.cspNonce`); `script-src` stays `'self'`.
//!
//! A binary built before the editor was (a clean clone, `cargo build` alone)
//! serves a page that says how to build it, never a broken page.

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rand::Rng;
use std::sync::Arc;

#[derive(rust_embed::Embed)]
#[folder = "../web-editor/dist/"]
#[allow_missing = true]
struct Assets;

/// Written by the editor's `index.html` where the per-response nonce goes.
const NONCE_PLACEHOLDER: &str = "__CSP_NONCE__";

const MISSING_PAGE: &str = include_str!("editor_missing.html");

#[derive(Clone)]
struct Editor {
    /// The apps origin, the only one the preview may frame.
    apps_origin: Arc<str>,
}

/// `/` and `/assets/...`, for the platform's origin (`route_by_origin` keeps
/// them off the apps host). `apps_url` is any URL on the apps origin.
pub fn routes<S: Clone + Send + Sync + 'static>(apps_url: &str) -> Router<S> {
    let editor = Editor {
        apps_origin: origin_of(apps_url).into(),
    };
    Router::new()
        .route("/", get(page))
        .route("/assets/{*path}", get(asset))
        .with_state(editor)
}

/// `scheme://authority` of a URL (the whole string when it has no path).
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.trim_end_matches('/').to_string();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

fn content_security_policy(apps_origin: &str, style_nonce: Option<&str>) -> String {
    let style = match style_nonce {
        Some(n) => format!("style-src 'self' 'nonce-{n}'"),
        None => "style-src 'self'".to_string(),
    };
    format!(
        "default-src 'none'; script-src 'self'; {style}; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; frame-src {apps_origin}; form-action 'self'; base-uri 'none'; \
         object-src 'none'; frame-ancestors 'none'"
    )
}

fn nonce() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

async fn page(State(editor): State<Editor>) -> Response {
    let nonce = nonce();
    let (status, body) = match Assets::get("index.html") {
        Some(file) => (
            StatusCode::OK,
            String::from_utf8_lossy(&file.data).replace(NONCE_PLACEHOLDER, &nonce),
        ),
        // Not an error of the request: the operator's build lacks the editor.
        None => (StatusCode::OK, MISSING_PAGE.to_string()),
    };
    let csp = content_security_policy(&editor.apps_origin, Some(&nonce));
    respond(
        status,
        "text/html; charset=utf-8",
        "no-cache",
        &csp,
        body.into_bytes(),
    )
}

async fn asset(State(editor): State<Editor>, Path(path): Path<String>) -> Response {
    let csp = content_security_policy(&editor.apps_origin, None);
    match Assets::get(&format!("assets/{path}")) {
        Some(file) => {
            let mime = file.metadata.mimetype().to_string();
            // Vite names every asset by its content's hash: a name never
            // changes meaning, so browsers may keep it for good.
            respond(
                StatusCode::OK,
                &mime,
                "public, max-age=31536000, immutable",
                &csp,
                file.data.into_owned(),
            )
        }
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no-cache",
            &csp,
            b"Not found: no such editor asset (the page may be older than this build; reload it).\n"
                .to_vec(),
        ),
    }
}

fn respond(status: StatusCode, mime: &str, cache: &str, csp: &str, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, mime),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use tower::ServiceExt;

    fn app() -> Router {
        routes("http://localhost:8080/user/u/app/a/")
    }

    async fn get(path: &str) -> Response {
        app()
            .oneshot(
                axum::http::Request::get(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible")
    }

    #[tokio::test]
    async fn the_page_is_never_cached_and_frames_only_the_apps_origin() {
        let resp = get("/").await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert_eq!(h[header::CACHE_CONTROL], "no-cache");
        let csp = h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        assert!(csp.contains("frame-src http://localhost:8080;"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let body = to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains(NONCE_PLACEHOLDER), "the nonce is filled in");
        // Built or not, no inline script: the CSP would refuse it anyway.
        assert!(!body.contains("<script>"), "{body}");
    }

    #[tokio::test]
    async fn each_page_gets_its_own_style_nonce() {
        let csp = |r: Response| r.headers()[header::CONTENT_SECURITY_POLICY].clone();
        assert_ne!(csp(get("/").await), csp(get("/").await));
    }

    #[tokio::test]
    async fn unknown_assets_are_404_not_the_page() {
        let resp = get("/assets/nope-123.js").await;
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    }

    #[tokio::test]
    async fn built_assets_are_immutable() {
        // Only when the editor was built into this binary.
        let Some(name) = Assets::iter().find(|n| n.starts_with("assets/") && n.ends_with(".js"))
        else {
            return;
        };
        let resp = get(&format!("/{name}")).await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers();
        assert!(
            h[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
    }

    #[test]
    fn the_origin_of_an_app_url_is_its_scheme_and_authority() {
        assert_eq!(
            origin_of("http://localhost:8080/user/u/app/a/"),
            "http://localhost:8080"
        );
        assert_eq!(
            origin_of("https://apps.example.com"),
            "https://apps.example.com"
        );
    }
}
