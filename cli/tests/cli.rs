//! The CLI in pipelines, through the real binary (mostly without a server):
//! colour only on a terminal, whole names underlined, `-o json` errors, and
//! the `-o json` shapes that REST shares.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::{Command, cargo::cargo_bin_cmd};

/// A file with a rejected import on line 1 and a statement-level one on 3.
const BAD: &str =
    "import requests\nfrom fastapi import FastAPI\nfrom subprocess import run\n\napp = FastAPI()\n";

/// A syntax error: every server refuses it, so `deploy` refuses it offline.
const BROKEN: &str = "from fastapi import FastAPI\n\napp = FastAPI(\n";

/// Nothing listens on port 1, so the server is unreachable at once.
const NO_SERVER: &str = "http://127.0.0.1:1";

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    /// `gofast` as a user with no login, on a colour terminal type, with
    /// NO_COLOR unset: only whether stderr is a terminal decides colour.
    fn gofast(&self, args: &[&str]) -> Command {
        let mut cmd = cargo_bin_cmd!("gofast");
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("GOFAST_CONFIG_DIR", self.dir.path().join("config"))
            .env("GOFAST_SERVER", NO_SERVER)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("GOFAST_TOKEN");
        cmd
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn check_writes_no_escapes_when_stderr_is_a_pipe() {
    let s = Scratch::new();
    let bad = s.file("main.py", BAD);
    let out = s.gofast(&["check", path(&bad)]).assert().code(1);
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.contains("error[GF302]"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escapes in a pipe:\n{stderr:?}"
    );
}

#[test]
fn deploy_writes_no_escapes_when_stderr_is_a_pipe() {
    let s = Scratch::new();
    let broken = s.file("main.py", BROKEN);
    // The local check refuses before any server is asked.
    let out = s.gofast(&["deploy", path(&broken)]).assert().code(1);
    let stderr = text(&out.get_output().stderr);
    assert!(stderr.contains("error[GF103]"), "{stderr}");
    assert!(stderr.contains("nothing was deployed"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "ANSI escapes in a pipe:\n{stderr:?}"
    );
}

#[test]
fn a_terminal_still_gets_colour_unless_no_color() {
    let s = Scratch::new();
    let bad = s.file("main.py", BAD);
    let on_a_terminal = |no_color: bool| {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let mut cmd = std::process::Command::new(cargo_bin_cmd!("gofast").get_program());
        cmd.args(["check", path(&bad)])
            .env("GOFAST_CONFIG_DIR", s.dir.path().join("config"))
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::from(pty.slave));
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let mut child = cmd.spawn().expect("run gofast");
        // Our copy of the slave goes with `cmd`, so reading ends (EIO) once
        // the child has exited; reading while it runs keeps it from blocking.
        drop(cmd);
        let mut master = std::fs::File::from(pty.master);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut master, &mut out);
        assert_eq!(child.wait().expect("wait").code(), Some(1));
        text(&out)
    };
    let coloured = on_a_terminal(false);
    assert!(coloured.contains("error[GF302]"), "{coloured}");
    assert!(
        coloured.contains("\x1b["),
        "no colour on a terminal:\n{coloured:?}"
    );
    let plain = on_a_terminal(true);
    assert!(plain.contains("error[GF302]"), "{plain}");
    assert!(
        !plain.contains('\x1b'),
        "colour despite NO_COLOR:\n{plain:?}"
    );
}

#[test]
fn the_whole_offending_name_is_underlined() {
    let s = Scratch::new();
    let bad = s.file("main.py", BAD);
    let out = s.gofast(&["check", path(&bad)]).assert().code(1);
    let stderr = text(&out.get_output().stderr);
    let carets = |source_line: &str| -> usize {
        let mut lines = stderr.lines();
        lines.find(|l| l.ends_with(source_line));
        let marks = lines.next().unwrap_or_default();
        marks.chars().filter(|c| *c == '^').count()
    };
    assert_eq!(carets("│ import requests"), "requests".len(), "{stderr}");
    assert_eq!(
        carets("│ from subprocess import run"),
        "from subprocess".len(),
        "{stderr}"
    );
}

/// Runs `gofast` with `-o json` expecting `exit`; returns the one JSON
/// object on stdout, after checking that stderr stayed quiet.
fn json_failure(s: &Scratch, args: &[&str], exit: i32) -> serde_json::Value {
    let out = s.gofast(args).args(["-o", "json"]).assert().code(exit);
    let out = out.get_output();
    let stderr = text(&out.stderr);
    assert!(stderr.is_empty(), "stderr with -o json: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", text(&out.stdout)));
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(v["error"].get("hint").is_some(), "{v}");
    v
}

#[test]
fn json_errors_are_one_object_on_stdout_with_the_exit_code() {
    let s = Scratch::new();
    let good = s.file("main.py", &common::hello_main("hi"));
    let bad = s.file("bad.py", BAD);
    let broken = s.file("broken.py", BROKEN);

    // check: its report, with the error joined.
    let v = json_failure(&s, &["check", path(&bad)], 1);
    assert_eq!(v["ok"], false);
    assert_eq!(v["diagnostics"][0]["code"], "GF302");
    assert_eq!(v["error"]["code"], "invalid_argument");

    // deploy refused offline: REST's error details.
    let v = json_failure(&s, &["deploy", path(&broken)], 1);
    assert_eq!(v["error"]["code"], "invalid_argument");
    let d = &v["error"]["details"]["diagnostics"][0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64()),
        (Some("GF103"), Some(3)),
        "{v}"
    );

    // Checked, then no server to deploy to.
    let v = json_failure(&s, &["deploy", path(&good)], 3);
    assert_eq!(v["error"]["code"], "unreachable");
    assert!(
        v["error"]["hint"].as_str().unwrap().contains("gofast up"),
        "{v}"
    );

    // Usage errors: ours, and clap's.
    let v = json_failure(&s, &["delete", "hello"], 2);
    assert_eq!(v["error"]["code"], "usage");
    assert!(
        v["error"]["hint"].as_str().unwrap().contains("--yes"),
        "{v}"
    );
    let v = json_failure(&s, &["check", "missing.py"], 2);
    assert_eq!(v["error"]["code"], "usage");
    let v = json_failure(&s, &["deploy-everything"], 2);
    assert_eq!(v["error"]["code"], "usage");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deploy-everything"),
        "{v}"
    );
}

#[test]
fn without_json_errors_stay_text_on_stderr() {
    let s = Scratch::new();
    let out = s.gofast(&["apps"]).assert().code(3);
    let out = out.get_output();
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot reach the gofast server at"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  next: start it with `gofast up`"),
        "{stderr}"
    );
    // clap's own usage errors keep clap's text and exit code.
    let out = s.gofast(&["deploy-everything"]).assert().code(2);
    assert!(text(&out.get_output().stderr).contains("unrecognized subcommand"));
}

/// `-o json` prints REST's objects: the same keys, the same values.
#[tokio::test(flavor = "multi_thread")]
async fn json_apps_and_status_are_rests_objects() {
    let platform = common::Platform::start();
    let ada = platform.user("ada@example.com");
    let main = common::repo().join("examples/hello/main.py");
    ada.deploy(&[&main], "hello");
    let token = ada.saved_token();
    let rest = |path: &str| {
        let url = format!("{}{path}", platform.url);
        let token = token.clone();
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("REST");
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.json::<serde_json::Value>().await.expect("REST JSON")
        }
    };
    let cli = |args: &[&str]| -> serde_json::Value {
        let out = ada.run(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("CLI JSON")
    };
    let apps = cli(&["apps", "-o", "json"]);
    assert_eq!(apps, rest("/api/apps").await);
    assert_eq!(apps[0]["status"], "READY");
    for key in ["created_at", "status_message", "updated_at"] {
        assert!(apps[0].get(key).is_some(), "no {key} in {apps}");
    }
    let status = cli(&["status", "hello", "-o", "json"]);
    assert_eq!(status, rest("/api/apps/hello/status").await);
    assert_eq!(
        status["events"].as_array().map(Vec::len),
        Some(6),
        "{status}"
    );
    let open = cli(&["open", "hello", "-o", "json"]);
    assert_eq!(open, apps[0]);

    // What the server refuses: its code, on stdout, and nothing on stderr.
    let failure = |user: &common::User, args: &[&str], exit: i32| {
        let out = user.run(args);
        assert_eq!(out.status.code(), Some(exit), "{}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON object")
    };
    let v = failure(&ada, &["status", "nope", "-o", "json"], 1);
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    let stranger = common::User {
        server: platform.url.clone(),
        config: tempfile::tempdir().expect("tempdir"),
        token: Some("not-a-token".into()),
    };
    let v = failure(&stranger, &["apps", "-o", "json"], 3);
    assert_eq!(v["error"]["code"], "unauthenticated", "{v}");
    assert!(
        v["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("gofast login"),
        "{v}"
    );
}

/// Logins stay where earlier versions kept them: GOFAST_CONFIG_DIR, else
/// $XDG_CONFIG_HOME/gofast, else ~/.config/gofast. A damaged credentials
/// file makes `logout` name the path it read.
#[test]
fn the_saved_login_is_read_from_the_same_places() {
    let s = Scratch::new();
    let home = s.dir.path().join("home");
    let xdg = s.dir.path().join("xdg");
    let read_path = |env: &[(&str, &Path)]| -> String {
        let mut cmd = s.gofast(&["logout"]);
        cmd.env_remove("GOFAST_CONFIG_DIR")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", &home);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.assert().code(3);
        text(&out.get_output().stderr)
    };
    for dir in [
        home.join(".config/gofast"),
        xdg.join("gofast"),
        s.dir.path().join("own"),
    ] {
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("credentials.json"), "{ damaged").expect("write");
    }
    let damaged = |dir: PathBuf| format!("{} is damaged", dir.join("credentials.json").display());
    assert!(read_path(&[]).contains(&damaged(home.join(".config/gofast"))));
    assert!(read_path(&[("XDG_CONFIG_HOME", &xdg)]).contains(&damaged(xdg.join("gofast"))));
    let own = s.dir.path().join("own");
    let both = read_path(&[("XDG_CONFIG_HOME", &xdg), ("GOFAST_CONFIG_DIR", &own)]);
    assert!(both.contains(&damaged(own)), "{both}");
}
