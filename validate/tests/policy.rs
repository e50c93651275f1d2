//! The operator's policy: advisory mode and extra allowed modules.

use gofast_validate::{
    Diagnostic, Limits, Mode, Policy, Severity, SourceFile, is_deployable, parse_module_name,
    validate_with_policy,
};

const APP: &str = "from fastapi import FastAPI\napp = FastAPI()\n";

fn check(policy: &Policy, files: &[(&str, &str)]) -> Vec<Diagnostic> {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile {
            name,
            content: text.as_bytes(),
        })
        .collect();
    validate_with_policy(&files, &Limits::DEFAULT, policy)
}

fn main_py(policy: &Policy, code: &str) -> Vec<Diagnostic> {
    check(policy, &[("main.py", &format!("{APP}{code}"))])
}

fn summary(d: &[Diagnostic]) -> Vec<(&str, Severity)> {
    d.iter().map(|d| (d.code, d.severity)).collect()
}

fn advisory() -> Policy {
    Policy {
        mode: Mode::Advisory,
        ..Policy::default()
    }
}

fn allowing(modules: &[&str]) -> Policy {
    Policy {
        allow_modules: modules.iter().map(|m| m.to_string()).collect(),
        ..Policy::default()
    }
}

#[test]
fn the_default_policy_is_strict() {
    assert_eq!(Policy::default(), Policy::STRICT);
    let d = main_py(&Policy::default(), "import os\n");
    assert_eq!(summary(&d), [("GF303", Severity::Error)]);
    assert!(!is_deployable(&d));
}

#[test]
fn advisory_turns_sandbox_rules_into_warnings_at_the_same_place() {
    let code = "import os\nx = eval('1')\ny = logging.os\nimport logging\n";
    let strict = main_py(&Policy::default(), code);
    let relaxed = main_py(&advisory(), code);
    assert!(!is_deployable(&strict));
    assert!(is_deployable(&relaxed));
    assert_eq!(strict.len(), relaxed.len());
    for (s, r) in strict.iter().zip(&relaxed) {
        assert_eq!(
            (s.code, s.line, s.column, &s.message),
            (r.code, r.line, r.column, &r.message)
        );
        assert_eq!(r.severity, Severity::Warning, "{r:?}");
    }
}

#[test]
fn advisory_keeps_limits_names_syntax_and_the_app_rule() {
    let p = advisory();
    // A name with a folder would escape the app's directory.
    let d = check(&p, &[("main.py", APP), ("../x.py", "x = 1\n")]);
    assert_eq!(summary(&d), [("GF005", Severity::Error)]);
    let d = check(&p, &[("main.py", "import os\nx = (\n")]);
    assert!(!is_deployable(&d), "{d:?}");
    let d = check(&p, &[("main.py", "import os\n")]);
    assert!(
        d.iter()
            .any(|d| d.code == "GF201" && d.severity == Severity::Error),
        "{d:?}"
    );
    let d = check(&p, &[("helpers.py", "import os\n")]);
    assert!(
        d.iter()
            .any(|d| d.code == "GF001" && d.severity == Severity::Error),
        "{d:?}"
    );
}

#[test]
fn an_allowed_module_and_its_submodules_may_be_imported() {
    let p = allowing(&["colorsys", "xml.etree"]);
    for code in [
        "import colorsys\n",
        "import colorsys as c\nc.rgb_to_hsv(1, 1, 1)\n",
        "from colorsys import hls_to_rgb\n",
        "import xml.etree.ElementTree\n",
        "from xml.etree import ElementTree\n",
    ] {
        let d = main_py(&p, code);
        assert!(d.is_empty(), "{code}: {d:?}");
        // ...and refused without the policy.
        assert!(!main_py(&Policy::default(), code).is_empty(), "{code}");
    }
    // A parent of an allowed module is not allowed by it.
    assert_eq!(
        summary(&main_py(&p, "import xml\n")),
        [("GF301", Severity::Error)]
    );
    // Other refusals hold.
    assert_eq!(
        summary(&main_py(&p, "import os\n")),
        [("GF303", Severity::Error)]
    );
    assert_eq!(
        summary(&main_py(&p, "import colorsysx\n")),
        [("GF301", Severity::Error)]
    );
}

#[test]
fn allowing_a_refused_module_also_allows_reaching_it_through_another() {
    let p = allowing(&["os", "logging.handlers"]);
    for code in [
        "import os\nos.getcwd()\n",
        "import logging\nlogging.os.getcwd()\n",
        "from logging import handlers\n",
        "import logging.handlers\n",
    ] {
        let d = main_py(&p, code);
        assert!(d.is_empty(), "{code}: {d:?}");
    }
    // Allowing `os` says nothing of `sys`.
    assert!(!main_py(&p, "import logging\nlogging.sys\n").is_empty());
}

#[test]
fn module_names_for_the_policy_are_checked() {
    assert_eq!(parse_module_name(" numpy "), Ok("numpy".to_string()));
    assert_eq!(parse_module_name("xml.etree"), Ok("xml.etree".to_string()));
    for bad in ["", "a..b", "os/path", "1abc", "x.", ".x", "a b"] {
        let e = parse_module_name(bad).expect_err(bad);
        assert!(e.to_string().contains("not a module name"), "{e}");
    }
}
