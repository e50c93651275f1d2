//! Runs the corpora under tests/corpus/.
//!
//! - `accepted/`: each `.py` file is submitted as main.py, each folder as an
//!   app of all its files; every one must produce no diagnostic at all.
//! - `rejected/`: the same, and the diagnostics must be exactly those the
//!   files announce in directive lines (which are blanked before checking,
//!   keeping line numbers):
//!   - `# expect: GF301 line 3` — a diagnostic in this file;
//!     `... in main.py` names another file, `... app` means the app as a
//!     whole (empty file name);
//!   - `# limits: max_files=2 max_file_bytes=300 max_total_bytes=200`;
//!   - `# submit-twice` submits the file a second time.
//!
//! Together the rejected corpus must cover every code in `CODES`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use gofast_validate::{CODES, Diagnostic, Limits, SourceFile, validate_with};

const EXPECT: &[u8] = b"# expect:";
const LIMITS: &[u8] = b"# limits:";
const TWICE: &[u8] = b"# submit-twice";

/// (code, file, line)
type Key = (String, String, u32);

struct Case {
    files: Vec<(String, Vec<u8>)>,
    expected: Vec<Key>,
    limits: Limits,
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    entries
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n')
}

fn bad_directive(origin: &Path, directive: &str) -> ! {
    panic!("{}: bad directive `# expect:{directive}`", origin.display())
}

fn parse_expect(directive: &str, file: &str, origin: &Path) -> Key {
    let words: Vec<&str> = directive.split_whitespace().collect();
    let (code, line) = match words.as_slice() {
        [code, "line", line, ..] => (
            *code,
            line.parse::<u32>()
                .unwrap_or_else(|_| bad_directive(origin, directive)),
        ),
        _ => bad_directive(origin, directive),
    };
    let file = match &words[3..] {
        [] => file.to_string(),
        ["app"] => String::new(),
        ["in", other] => other.to_string(),
        _ => bad_directive(origin, directive),
    };
    (code.to_string(), file, line)
}

fn apply_limit(limits: &mut Limits, setting: &str, origin: &Path) {
    let (key, value) = setting
        .split_once('=')
        .unwrap_or_else(|| panic!("{}: bad limit {setting}", origin.display()));
    let value: usize = value.parse().expect("limit value");
    match key {
        "max_files" => limits.max_files = value,
        "max_file_bytes" => limits.max_file_bytes = value,
        "max_total_bytes" => limits.max_total_bytes = value,
        "max_name_chars" => limits.max_name_chars = value,
        _ => panic!("{}: unknown limit {key}", origin.display()),
    }
}

/// Reads a case and strips its directives.
fn load(path: &Path) -> Case {
    let sources: Vec<(String, PathBuf)> = if path.is_dir() {
        let mut files: Vec<(String, PathBuf)> = fs::read_dir(path)
            .expect("case dir")
            .map(|e| e.expect("entry").path())
            .map(|p| {
                (
                    p.file_name().expect("name").to_string_lossy().into_owned(),
                    p,
                )
            })
            .collect();
        files.sort();
        files
    } else {
        vec![("main.py".to_string(), path.to_path_buf())]
    };
    let mut case = Case {
        files: Vec::new(),
        expected: Vec::new(),
        limits: Limits::default(),
    };
    let mut twice = Vec::new();
    for (name, source) in sources {
        let bytes = fs::read(&source).expect("read case file");
        let mut kept = Vec::with_capacity(bytes.len());
        for (i, line) in lines(&bytes).enumerate() {
            if i > 0 {
                kept.push(b'\n');
            }
            if let Some(rest) = line.strip_prefix(EXPECT) {
                let rest = String::from_utf8_lossy(rest);
                case.expected.push(parse_expect(&rest, &name, &source));
            } else if let Some(rest) = line.strip_prefix(LIMITS) {
                for setting in String::from_utf8_lossy(rest).split_whitespace() {
                    apply_limit(&mut case.limits, setting, &source);
                }
            } else if line.starts_with(TWICE) {
                twice.push(name.clone());
            } else {
                kept.extend_from_slice(line);
            }
        }
        case.files.push((name, kept));
    }
    for name in twice {
        let copy = case.files.iter().find(|(n, _)| *n == name).cloned();
        case.files.extend(copy);
    }
    case
}

fn run(case: &Case) -> Vec<Diagnostic> {
    let files: Vec<SourceFile> = case
        .files
        .iter()
        .map(|(name, content)| SourceFile { name, content })
        .collect();
    validate_with(&files, &case.limits)
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "  {} {}:{}:{} {}\n",
                d.code, d.file, d.line, d.column, d.message
            )
        })
        .collect()
}

#[test]
fn accepted_programs_have_no_diagnostics() {
    let cases = corpus("accepted");
    assert!(cases.len() >= 10, "the accepted corpus is too small");
    let mut failures = String::new();
    for path in &cases {
        let diagnostics = run(&load(path));
        if !diagnostics.is_empty() {
            failures += &format!("{}:\n{}", path.display(), render(&diagnostics));
        }
    }
    assert!(
        failures.is_empty(),
        "accepted programs were rejected:\n{failures}"
    );
}

#[test]
fn rejected_programs_report_exactly_what_they_expect() {
    let cases = corpus("rejected");
    let mut failures = String::new();
    let mut covered = BTreeSet::new();
    for path in &cases {
        let case = load(path);
        assert!(
            !case.expected.is_empty(),
            "{} has no `# expect:` line",
            path.display()
        );
        let diagnostics = run(&case);
        let mut actual: Vec<Key> = diagnostics
            .iter()
            .map(|d| (d.code.to_string(), d.file.clone(), d.line))
            .collect();
        let mut expected = case.expected.clone();
        actual.sort();
        expected.sort();
        if actual != expected {
            failures += &format!(
                "{}:\n expected {expected:?}\n got\n{}",
                path.display(),
                render(&diagnostics)
            );
        }
        for d in &diagnostics {
            assert!(!d.message.is_empty(), "{}: empty message", path.display());
        }
        covered.extend(expected.into_iter().map(|(code, _, _)| code));
    }
    assert!(
        failures.is_empty(),
        "rejected programs did not match:\n{failures}"
    );
    let missing: Vec<&str> = CODES
        .iter()
        .map(|(code, _)| *code)
        .filter(|code| !covered.contains(*code))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a rejected example: {missing:?}"
    );
}

/// The expected diagnostics of each case against the actual ones, as a report
/// of the cases that differ (empty when all match).
fn mismatches(cases: &[PathBuf]) -> String {
    let mut failures = String::new();
    for path in cases {
        let case = load(path);
        assert!(
            !case.expected.is_empty(),
            "{} has no `# expect:` line",
            path.display()
        );
        let diagnostics = run(&case);
        let mut actual: Vec<Key> = diagnostics
            .iter()
            .map(|d| (d.code.to_string(), d.file.clone(), d.line))
            .collect();
        let mut expected = case.expected.clone();
        actual.sort();
        expected.sort();
        if actual != expected {
            failures += &format!(
                "{}:\n expected {expected:?}\n got\n{}",
                path.display(),
                render(&diagnostics)
            );
        }
    }
    failures
}

/// The lessons corpus (issue #15): apps written from what FastAPI's
/// documentation teaches. The accepted ones are also served by the runner's
/// tests and deployed by cli/tests/fastapi_docs.rs.
#[test]
fn lessons_that_gofast_runs_pass_the_check() {
    let cases = corpus("lessons/accepted");
    assert!(cases.len() >= 6, "the lessons corpus is too small");
    let mut failures = String::new();
    for path in &cases {
        let diagnostics = run(&load(path));
        if !diagnostics.is_empty() {
            failures += &format!("{}:\n{}", path.display(), render(&diagnostics));
        }
        let source = fs::read_to_string(path).expect("lesson");
        for probe in ["GET /health ", "GET /docs ", "GET /openapi.json "] {
            assert!(
                source.contains(&format!("# probe: {probe}")),
                "{} does not probe {probe}",
                path.display()
            );
        }
    }
    assert!(failures.is_empty(), "lessons were refused:\n{failures}");
}

#[test]
fn lessons_that_read_files_are_refused_at_their_line() {
    let failures = mismatches(&corpus("lessons/refused"));
    assert!(failures.is_empty(), "lessons did not match:\n{failures}");
}

/// `app.frontend(directory=...)` serves a folder from disk like StaticFiles:
/// the same code and the same reason as StaticFiles gets.
#[test]
fn frontend_gets_the_same_diagnostic_as_static_files() {
    let check = |source: &str| {
        let files = [SourceFile {
            name: "main.py",
            content: source.as_bytes(),
        }];
        validate_with(&files, &Limits::default())
    };
    let app = "from fastapi import FastAPI\nimport fastapi\napp = FastAPI()\n";
    let static_files = check(&format!(
        "{app}app.mount('/s', fastapi.StaticFiles(directory='s'))\n"
    ));
    let frontend = check(&format!("{app}app.frontend('/', directory='dist')\n"));
    let [static_files] = static_files.as_slice() else {
        panic!("{static_files:?}")
    };
    let [frontend] = frontend.as_slice() else {
        panic!("{frontend:?}")
    };
    assert_eq!(frontend.code, static_files.code);
    assert_eq!(frontend.code, "GF402");
    assert_eq!((frontend.line, frontend.column), (4, 1));
    let reason = |message: &str| message.split_once("` ").map(|(_, r)| r.to_string());
    assert_eq!(reason(&frontend.message), reason(&static_files.message));
    // A `frontend` method without `directory` is someone else's.
    assert!(check(&format!("{app}class Site:\n    def frontend(self, path):\n        return path\nSite().frontend('/')\n")).is_empty());
}

/// The general rule for modules that work in memory: the module is allowed,
/// the members that open a file by name are refused (GF402), wherever they
/// are reached from.
#[test]
fn in_memory_bytes_are_allowed_and_opening_files_is_not() {
    let check = |body: &str| {
        let source = format!("from fastapi import FastAPI\napp = FastAPI()\n{body}\n");
        let files = [SourceFile {
            name: "main.py",
            content: source.as_bytes(),
        }];
        validate_with(&files, &Limits::default())
    };
    for fine in [
        "import gzip\nx = gzip.decompress(gzip.compress(b'x'))",
        "import io\nb = io.BytesIO(b'x')\ns = io.StringIO('x')\nw = io.TextIOWrapper(io.BytesIO())",
        "from io import BytesIO, StringIO",
        "import zlib, bz2, lzma\nx = zlib.compress(bz2.compress(lzma.compress(b'x')))",
        "import csv, io\ncsv.writer(io.StringIO()).writerow(['a'])",
        "from gzip import compress, decompress",
    ] {
        let d = check(fine);
        assert!(d.is_empty(), "{fine}: {d:?}");
    }
    for refused in [
        "import gzip\ngzip.open('x')",
        "import io\nio.open('x')",
        "import io\nio.open_code('x')",
        "from io import FileIO",
        "from gzip import GzipFile",
        "import gzip\ngzip.io.open('x')",
        "import logging\nlogging.io.FileIO('x')",
        "from gzip import io as gio\ngio.open('x')",
        "import bz2\nbz2.BZ2File('x')",
        "import lzma\nlzma.open('x')",
        "open('x')",
    ] {
        let d = check(refused);
        assert!(
            d.len() == 1 && d[0].code == "GF402" && d[0].line >= 3,
            "{refused}: {d:?}"
        );
    }
}
