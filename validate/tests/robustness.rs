//! No input makes `validate` panic, overflow the stack or run away.
//!
//! Debug builds are the least favourable setting for deep recursion; the
//! suite also passes with `RUST_MIN_STACK=131072` for the test threads,
//! since `validate` checks on a thread of its own.

use std::time::{Duration, Instant};

use gofast_validate::{Diagnostic, SourceFile, validate};
use proptest::prelude::*;

/// Generous per-call bounds for unoptimised builds on a busy 2-core machine.
/// Small inputs finish in milliseconds; a 100 KiB file in about a second
/// (debug builds of the parser are ~30x slower than release ones). A
/// quadratic blow-up takes minutes at that size.
const SMALL_BOUND: Duration = Duration::from_secs(5);
const LARGE_BOUND: Duration = Duration::from_secs(30);

fn run(name: &str, content: &[u8]) -> Vec<Diagnostic> {
    run_within(name, content, SMALL_BOUND)
}

fn run_within(name: &str, content: &[u8], bound: Duration) -> Vec<Diagnostic> {
    let start = Instant::now();
    let diagnostics = validate(&[SourceFile { name, content }]);
    let elapsed = start.elapsed();
    assert!(elapsed < bound, "validate took {elapsed:?}");
    for d in &diagnostics {
        // A parser panic is caught and reported as "could not be checked";
        // it must never happen.
        assert_ne!(
            d.message, "This file could not be checked.",
            "parser panicked on {content:?}"
        );
        assert!(!d.message.is_empty());
    }
    diagnostics
}

const TOKENS: &[&str] = &[
    "def",
    "class",
    "if",
    "elif",
    "else",
    "for",
    "while",
    "with",
    "try",
    "except",
    "finally",
    "return",
    "yield",
    "await",
    "async",
    "lambda",
    "import",
    "from",
    "as",
    "match",
    "case",
    "type",
    "global",
    "nonlocal",
    "pass",
    "raise",
    "not",
    "and",
    "or",
    "in",
    "is",
    "None",
    "app",
    "FastAPI",
    "x",
    "é",
    "eval",
    "open",
    "__class__",
    "__globals__",
    "getattr",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    ";",
    "=",
    "==",
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "@",
    "->",
    ":=",
    "!",
    "~",
    "<",
    ">",
    "|",
    "&",
    "^",
    "\\",
    "#",
    "...",
    "'",
    "\"",
    "'''",
    "\"\"\"",
    "f'",
    "f\"",
    "rb'",
    "'a'",
    "\"b\"",
    "f'{x}'",
    "f\"{d[\"k\"]}\"",
    "f'{x!r:>{w}}'",
    "f'{'",
    "'\\n'",
    "0",
    "1.5",
    "0x1F",
    "1e-5",
    "0777",
    "“",
    "\u{a0}",
    "\n",
    "\n",
    "\n",
    "\r\n",
    "    ",
    "\t",
    "  ",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..120).prop_map(|tokens| {
        let mut out = String::new();
        for (i, token) in tokens.iter().enumerate() {
            if i % 3 == 0 && !token.starts_with(['\n', ' ', '\t']) {
                out.push(' ');
            }
            out.push_str(token);
        }
        out
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    // 300 cases keep this to a few seconds in debug builds; set
    // PROPTEST_CASES for a longer campaign.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(content in prop::collection::vec(any::<u8>(), 0..2048)) {
        run("main.py", &content);
    }

    #[test]
    fn arbitrary_utf8_never_panics(content in "\\PC{0,400}") {
        run("main.py", content.as_bytes());
    }

    #[test]
    fn token_soup_never_panics(content in soup()) {
        run("main.py", content.as_bytes());
        let with_app = format!("from fastapi import FastAPI\napp = FastAPI()\n{content}");
        run("main.py", with_app.as_bytes());
    }

    #[test]
    fn arbitrary_file_names_never_panic(name in "\\PC{0,30}", content in soup()) {
        run(&name, content.as_bytes());
    }
}

/// Inputs at the 100 KiB file limit built to make the tree as deep as
/// possible, or the scanners as slow as possible.
fn pathological() -> Vec<(&'static str, String)> {
    const SIZE: usize = 100 * 1024 - 64;
    let fill = |unit: &str| unit.repeat(SIZE / unit.len());
    vec![
        (
            "parens",
            format!("x = {}1{}", "(".repeat(SIZE / 2), ")".repeat(SIZE / 2)),
        ),
        ("unclosed parens", format!("x = {}", fill("("))),
        ("brackets", format!("x = {}", fill("[{"))),
        ("plus chain", format!("x = {}1", fill("1+"))),
        ("unary chain", format!("x = {}1", fill("-"))),
        ("not chain", format!("x = {}1", fill("not "))),
        ("attribute chain", format!("x = a{}", fill(".b"))),
        ("call chain", format!("x = f{}", fill("()"))),
        ("subscript chain", format!("x = a{}", fill("[0]"))),
        ("lambda chain", format!("x = {}1", fill("lambda: "))),
        (
            "lambda args chain",
            format!("x = {}1", fill("lambda a, b=1: ")),
        ),
        ("ternary chain", format!("x = {}1", fill("1 if x else "))),
        (
            "await chain",
            format!("async def f():\n    return {}1", fill("await ")),
        ),
        ("power chain", format!("x = {}2", fill("2**"))),
        ("string concat", format!("x = {}", fill("'a' + "))),
        ("implicit concat", format!("x = ({})", fill("'a' "))),
        (
            "elif chain",
            format!("if x:\n    pass\n{}", fill("elif x:\n    pass\n")),
        ),
        ("else if nesting", {
            let mut s = String::new();
            for depth in 0..400 {
                s.push_str(&" ".repeat(depth));
                s.push_str("if x:\n");
            }
            s
        }),
        ("fstring nesting", format!("x = f'{{{}1}}'", fill("1+"))),
        ("fstring braces", format!("x = f'{}'", fill("{x}"))),
        ("long flat list", format!("x = [{}]", fill("-1, "))),
        (
            "dict of lists",
            format!("x = {{{}}}", fill("'k': [1, -2], ")),
        ),
        ("decorators", format!("{}def f(): pass\n", fill("@d\n"))),
        ("comments", fill("# eval(x) open(y)\n")),
        ("unterminated strings", fill("'abc\n")),
        ("triple quotes", fill("'''")),
        ("backslashes", fill("\\\n")),
        ("commas", format!("x = ({})", fill(","))),
        ("walrus chain", format!("x = {}1", fill("(y := "))),
        ("tuple targets", format!("{}= 1", fill("[a, "))),
        ("many statements", fill("x = 1\n")),
        ("semicolons", fill("x = 1;")),
        ("non-ascii", fill("é😀中 = 1\n")),
        (
            "deep annotation string",
            format!("def f(a: '{}int'): pass\n", fill("list[")),
        ),
    ]
}

#[test]
fn pathological_inputs_are_bounded() {
    for (what, source) in pathological() {
        let start = Instant::now();
        let diagnostics = run_within("main.py", source.as_bytes(), LARGE_BOUND);
        let elapsed = start.elapsed();
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
        eprintln!("{what}: {} bytes, {elapsed:?}, {codes:?}", source.len());
    }
}

#[test]
fn deep_but_allowed_code_is_walked_without_overflow() {
    // Just under every nesting bound at once.
    let mut source = String::from("from fastapi import FastAPI\napp = FastAPI()\n");
    for depth in 0..99 {
        source.push_str(&"    ".repeat(depth));
        source.push_str("if x:\n");
    }
    let indent = "    ".repeat(99);
    source.push_str(&format!(
        "{indent}y = {}1{}\n",
        "(".repeat(150),
        ")".repeat(150)
    ));
    source.push_str(&format!("{indent}z = a{}\n", ".b".repeat(190)));
    source.push_str(&format!("{indent}w = {}1\n", "-".repeat(190)));
    source.push_str(&format!("{indent}v = {}1\n", "lambda: ".repeat(190)));
    // An annotation string is parsed and walked on top of all that.
    let deep_type = format!("{}int{}", "list[".repeat(95), "]".repeat(95));
    source.push_str(&format!(
        "{indent}def g(a: \"{deep_type}\", b: \"'{deep_type}'\"): pass\n"
    ));
    source.push_str(&format!(
        "{indent}u = f'{{{}1{}}}'\n",
        "(".repeat(150),
        ")".repeat(150)
    ));
    let diagnostics = run_within("main.py", source.as_bytes(), LARGE_BOUND);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
}

#[test]
fn regressions_found_by_fuzzing() {
    // An invalid token right after a multi-byte character (the error is
    // reported at the token's end; finding its start must not split a char).
    let found = "B\u{22}\u{a5}?\u{1aff5}>V'\u{12464},\u{cdd}\u{11903}\u{1f899}`:Q*-%\u{146}\u{f3e}:\u{468}\u{10ea9}\u{1d517}\u{1d53e}Gx\u{1abd}\u{1250}\u{a03}S\u{468}0\u{1d4ae}'T\u{23a}\u{1270}\u{107b7}\u{1266}\u{1ee27}\u{fe15}\u{1da86}_\u{1f0a4}&\u{1251}tP\u{1d53c}\u{bd0}\u{1cf94}:{\u{c18}/\u{10629}\u{1ee5f}\u{22}.\u{1772}\u{fffd}\u{1f0de}\u{195d}\u{fb3e}.\u{22}\u{ec}/\u{1aff7} \u{9b2}$\u{22}/q&\u{a5b}\u{1f574}\u{2047}$\u{a60c}9\u{468}\u{1a59}V%=\u{2dae}\u{fe65}\u{1fae2}/\u{df2}\u{fffd}\u{16115}\u{10102}p\u{fffc}\u{468}\u{468}\u{16d5a}\u{1eeba}";
    let cases: &[&[u8]] = &[found.as_bytes()];
    for content in cases {
        run("main.py", content);
    }
}
