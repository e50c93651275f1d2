//! The browser editor through the real `gofast up`: what `/` serves (CSP,
//! caching, the assets embedded in the binary) and the whole beginner's walk
//! in Debian's Chromium (web-editor/e2e/walk.mjs).
//!
//! Needs the editor built (`scripts/editor.sh`) before cargo builds gofast,
//! and Chromium. Skipped locally without them; under CI=true missing pieces
//! fail the test.

mod common;

use common::*;

fn editor_dir() -> std::path::PathBuf {
    repo().join("web-editor")
}

/// True when the walk can run; under CI, a missing piece is a failure.
fn browser_ready() -> bool {
    let ready = std::path::Path::new("/usr/bin/chromium").exists()
        && editor_dir().join("node_modules/playwright-core").exists()
        && repo()
            .join("testenv/browser/node_modules/axe-core/axe.min.js")
            .exists()
        && editor_dir().join("dist/index.html").exists();
    if !ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the editor's browser test: scripts/browser.sh installs Chromium and axe-core, scripts/editor.sh builds the editor (before cargo)"
        );
        eprintln!("skipped: run scripts/browser.sh and scripts/editor.sh, then rebuild");
    }
    ready
}

/// The first `/assets/...` the page names.
fn first_asset(page: &str, ext: &str) -> Option<String> {
    page.split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(ext))
        .map(str::to_string)
}

#[tokio::test]
async fn the_editor_page_is_never_cached_its_assets_are_immutable_and_both_carry_a_strict_csp() {
    let platform = Platform::start();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("frame-src {};", platform.apps)),
        "only the apps origin may be framed: {csp}"
    );
    let page = resp.text().await.unwrap();

    let Some(script) = first_asset(&page, ".js") else {
        // A binary built without the editor says how to build it.
        assert!(page.contains("scripts/editor.sh"), "{page}");
        assert!(
            std::env::var("CI").is_err(),
            "CI must build the editor before cargo (scripts/editor.sh)"
        );
        eprintln!("skipped the asset checks: this gofast was built without the editor");
        return;
    };
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a style nonce");
    assert!(
        page.contains(&format!("content=\"{nonce}\"")),
        "the page hands CodeMirror the nonce of its CSP"
    );

    let resp = client
        .get(format!("{}{script}", platform.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(!resp.bytes().await.unwrap().is_empty());

    // Never on the apps origin: an app page could otherwise load the editor's
    // code into its own origin's context.
    let resp = client
        .get(format!("{}{script}", platform.apps))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_beginner_writes_checks_deploys_watches_and_rolls_back_in_chromium() {
    if !browser_ready() {
        return;
    }
    let platform = Platform::start();
    let out = tokio::process::Command::new("node")
        .arg(editor_dir().join("e2e/walk.mjs"))
        .args([&platform.url, &platform.apps])
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "walk: {stdout}\n{stderr}");
    let got: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(got["ok"], true, "{got}");
    // The figures BENCHMARKS.md quotes.
    eprintln!("editor walk figures: {}", got["figures"]);
}
