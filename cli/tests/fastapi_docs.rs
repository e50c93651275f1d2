//! What FastAPI's documentation teaches, through the real `gofast up` (issue
//! #15): every app of the lessons corpus (validate/tests/corpus/lessons/)
//! deploys and answers its probes through the gateway, and every refused one
//! is refused with the right code on the right line.

mod common;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::*;

fn lessons(kind: &str) -> Vec<PathBuf> {
    let dir = repo().join("validate/tests/corpus/lessons").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
}

/// `# probe: METHOD PATH [JSON BODY] -> STATUS [TEXT]`
struct Probe {
    method: reqwest::Method,
    path: String,
    body: Option<serde_json::Value>,
    status: u16,
    text: String,
}

fn probes(source: &str, origin: &Path) -> Vec<Probe> {
    let bad = |line: &str| -> ! { panic!("{}: bad probe `{line}`", origin.display()) };
    source
        .lines()
        .filter_map(|line| line.strip_prefix("# probe: "))
        .map(|line| {
            let (request, answer) = line.split_once(" -> ").unwrap_or_else(|| bad(line));
            let mut request = request.splitn(3, ' ');
            let method = request.next().unwrap_or_else(|| bad(line));
            let path = request.next().unwrap_or_else(|| bad(line));
            let body = request
                .next()
                .map(|b| serde_json::from_str(b).unwrap_or_else(|_| bad(line)));
            let (status, text) = answer.split_once(' ').unwrap_or((answer, ""));
            Probe {
                method: method.parse().unwrap_or_else(|_| bad(line)),
                path: path.to_string(),
                body,
                status: status.parse().unwrap_or_else(|_| bad(line)),
                text: text.to_string(),
            }
        })
        .collect()
}

/// The URL of `/docs`'s OpenAPI document, as its page names it (`url: '...'`).
fn openapi_url_in(docs: &str) -> Option<&str> {
    let start = docs.find("url: '")? + "url: '".len();
    let len = docs[start..].find('\'')?;
    Some(&docs[start..start + len])
}

#[tokio::test(flavor = "multi_thread")]
async fn every_lesson_deploys_and_answers_its_probes_through_the_gateway() {
    let platform = Platform::start();
    let ada = platform.user("ada@example.com");
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let lessons = lessons("accepted");
    assert!(lessons.len() >= 6, "the lessons corpus is too small");
    let mut timings = Vec::new();
    for lesson in &lessons {
        let stem = lesson
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('_', "-");
        let source = std::fs::read_to_string(lesson).unwrap();
        let main_py = write_app(dir.path(), &stem, &source);
        let started = Instant::now();
        let url = ada.deploy(&[&main_py], &stem);
        timings.push((stem.clone(), started.elapsed()));
        let prefix = url
            .trim_start_matches(&platform.apps)
            .trim_end_matches('/')
            .to_string();
        let probes = probes(&source, lesson);
        for required in ["/health", "/docs", "/openapi.json"] {
            assert!(
                probes.iter().any(|p| p.path == required),
                "{stem} does not probe {required}"
            );
        }
        assert!(
            probes
                .iter()
                .any(|p| !["/health", "/docs", "/openapi.json"].contains(&p.path.as_str())),
            "{stem} probes none of its own paths"
        );
        for probe in &probes {
            let mut request = client.request(
                probe.method.clone(),
                format!("{}{}", url.trim_end_matches('/'), probe.path),
            );
            if let Some(body) = &probe.body {
                request = request.json(body);
            }
            let resp = request
                .send()
                .await
                .unwrap_or_else(|e| panic!("{stem}: {} {}: {e}", probe.method, probe.path));
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = resp.text().await.unwrap_or_default();
            let seen = format!("location: {location}\n{body}");
            let where_ = format!("{stem}: {} {}", probe.method, probe.path);
            assert_eq!(status, probe.status, "{where_}:\n{seen}");
            let want = probe.text.replace("{prefix}", &prefix);
            assert!(seen.contains(&want), "{where_}: {want:?} not in\n{seen}");
            // The OpenAPI document the docs page loads is reachable through the gateway.
            if probe.path == "/docs" && status == 200 {
                let openapi = openapi_url_in(&body)
                    .unwrap_or_else(|| panic!("{where_}: no OpenAPI URL in\n{body}"));
                assert!(openapi.starts_with(&prefix), "{where_}: {openapi}");
                let resp = client
                    .get(format!("{}{openapi}", platform.apps))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "{where_}: GET {openapi}");
                let schema: serde_json::Value = resp.json().await.unwrap();
                assert!(schema["openapi"].is_string(), "{where_}: {schema}");
            }
        }
    }
    for (stem, took) in &timings {
        eprintln!("deployed lesson {stem} in {} ms", took.as_millis());
    }
    // None of them waited out the 30 s start deadline.
    assert!(
        timings
            .iter()
            .all(|(_, took)| *took < Duration::from_secs(15)),
        "{:?}",
        timings
    );
}

#[test]
fn every_refused_lesson_gets_its_code_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let lessons = lessons("refused");
    assert!(!lessons.is_empty());
    for lesson in &lessons {
        let source = std::fs::read_to_string(lesson).unwrap();
        let stem = lesson.file_stem().unwrap().to_string_lossy().to_string();
        let main_py = write_app(dir.path(), &stem, &source);
        let out = std::process::Command::new(GOFAST)
            .args(["check", main_py.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .expect("gofast check");
        assert_eq!(out.status.code(), Some(1), "{stem}: {}", text(&out.stderr));
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        let expected: Vec<(&str, &str)> = source
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                (words[0], words[2])
            })
            .collect();
        assert!(!expected.is_empty(), "{stem} expects nothing");
        // `error[GF402]: ...` then `┌─ main.py:17:1`.
        let mut reported: Vec<(String, String)> = Vec::new();
        let mut code = None;
        for line in report.lines() {
            if let Some(rest) = line.strip_prefix("error[") {
                code = rest.split(']').next().map(str::to_string);
            } else if let (Some(c), Some((_, at))) = (&code, line.split_once("┌─ main.py:")) {
                let number = at.split(':').next().unwrap_or_default().to_string();
                reported.push((c.clone(), number));
                code = None;
            }
        }
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(c, l)| (c.to_string(), l.to_string()))
            .collect();
        expected.sort();
        reported.sort();
        assert_eq!(reported, expected, "{stem}:\n{report}");
    }
}
