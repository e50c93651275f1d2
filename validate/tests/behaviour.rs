//! Focused checks of the public API: positions, imports, builtins, syntax
//! messages, the app rule and limits.

use gofast_validate::{
    Diagnostic, Limits, Severity, SourceFile, is_deployable, validate, validate_with,
};

const APP: &str = "from fastapi import FastAPI\napp = FastAPI()\n";

fn check(source: &str) -> Vec<Diagnostic> {
    validate(&[SourceFile {
        name: "main.py",
        content: source.as_bytes(),
    }])
}

fn check_app(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    let files: Vec<SourceFile> = files
        .iter()
        .map(|(name, text)| SourceFile {
            name,
            content: text.as_bytes(),
        })
        .collect();
    validate(&files)
}

/// (code, line, column) of every diagnostic.
fn found(diagnostics: &[Diagnostic]) -> Vec<(&str, u32, u32)> {
    diagnostics
        .iter()
        .map(|d| (d.code, d.line, d.column))
        .collect()
}

fn codes(diagnostics: &[Diagnostic]) -> Vec<&str> {
    diagnostics.iter().map(|d| d.code).collect()
}

// --- positions -----------------------------------------------------------

#[test]
fn columns_count_characters_after_non_ascii_text() {
    // "é" is 2 bytes and "😀" 4: the column must still be the 9th character.
    let d = check(&format!("{APP}s = 'é😀'; eval(s)\n"));
    assert_eq!(found(&d), [("GF401", 3, 11)]);
    let d = check(&format!("{APP}x = 'naïve' + $\n"));
    assert_eq!(found(&d), [("GF107", 3, 15)]);
}

#[test]
fn syntax_error_columns_after_non_ascii_text() {
    let d = check("from fastapi import FastAPI\napp = FastAPI()\ndef grüße()\n    pass\n");
    assert_eq!(found(&d), [("GF105", 3, 12)]);
}

#[test]
fn crlf_and_bom_are_accepted() {
    let source = "\u{feff}from fastapi import FastAPI\r\napp = FastAPI()\r\nx = eval('1')\r\n";
    assert_eq!(found(&check(source)), [("GF401", 3, 5)]);
}

// --- imports --------------------------------------------------------------

#[test]
fn urllib_parse_is_allowed_and_urllib_request_is_not() {
    assert!(
        check(&format!(
            "import urllib.parse\nfrom urllib.parse import quote\nfrom urllib import parse\n{APP}"
        ))
        .is_empty()
    );
    let d = check(&format!(
        "import urllib.request\nfrom urllib import request\n{APP}"
    ));
    assert_eq!(codes(&d), ["GF302", "GF302"]);
    // Reaching the refused submodule through the allowed parent.
    let d = check(&format!(
        "import urllib.parse\n{APP}urllib.request.urlopen('http://x')\n"
    ));
    assert_eq!(found(&d), [("GF407", 4, 8)]);
}

#[test]
fn aliases_are_resolved() {
    assert_eq!(codes(&check(&format!("import os as o\n{APP}"))), ["GF303"]);
    assert_eq!(
        codes(&check(&format!(
            "import logging as lg\n{APP}lg.os.getcwd()\n"
        ))),
        ["GF407"]
    );
    assert_eq!(
        codes(&check(&format!(
            "from urllib import parse as p\n{APP}p._coerce_args\n"
        ))),
        ["GF407"]
    );
    assert!(
        check(&format!(
            "import collections.abc as cabc\n{APP}x = cabc.Mapping\n"
        ))
        .is_empty()
    );
    assert_eq!(
        codes(&check(&format!(
            "from asyncio import create_subprocess_shell as run\n{APP}"
        ))),
        ["GF407"]
    );
}

#[test]
fn app_may_be_created_in_all_documented_forms() {
    for source in [
        "from fastapi import FastAPI\napp = FastAPI(title='x')\n",
        "from fastapi import FastAPI\napp: FastAPI = FastAPI()\n",
        "import fastapi\napp = fastapi.FastAPI()\n",
        "import fastapi as fa\napp = fa.FastAPI()\n",
        "from fastapi import FastAPI as F\napp = F()\n",
    ] {
        assert!(check(source).is_empty(), "{source}");
    }
}

#[test]
fn own_modules_and_relative_imports() {
    let helper = (
        "greetings.py",
        "def hello(name):\n    return 'hi ' + name\n",
    );
    let ok = [
        "import greetings\n",
        "from greetings import hello\n",
        "from . import greetings\n",
        "from .greetings import hello\n",
        "import greetings as g\n",
    ];
    for import in ok {
        let main = format!("{import}{APP}");
        assert!(
            check_app(&[("main.py", &main), helper]).is_empty(),
            "{import}"
        );
    }
    let refused = [
        ("from . import missing\n", 1),
        ("from .missing import x\n", 1),
        ("from .. import greetings\n", 1),
        ("import greetings.sub\n", 1),
    ];
    for (import, line) in refused {
        let main = format!("{import}{APP}");
        let d = check_app(&[("main.py", &main), helper]);
        assert_eq!(codes(&d), ["GF304"], "{import}");
        assert_eq!(d[0].line, line);
    }
    // Without greetings.py the same import is an unavailable module.
    assert_eq!(
        codes(&check(&format!("import greetings\n{APP}"))),
        ["GF301"]
    );
}

#[test]
fn a_file_named_like_a_module_does_not_make_it_importable() {
    let d = check_app(&[
        ("main.py", &format!("import os\n{APP}")),
        ("os.py", "x = 1\n"),
    ]);
    assert_eq!(codes(&d), ["GF303", "GF011"]);
}

// --- builtins and attributes ---------------------------------------------

#[test]
fn strings_and_comments_mentioning_eval_are_not_calls() {
    let source = format!(
        "{APP}# eval(x) exec(y) open('f') __import__('os')\nHELP = \"call eval(x) or open('f')\"\nDOC = '''exec(code)'''\n"
    );
    assert!(check(&source).is_empty());
}

#[test]
fn fastapi_file_is_not_open() {
    let source = format!(
        "from fastapi import File, UploadFile\n{APP}@app.post('/f')\nasync def f(file: UploadFile = File(...)):\n    return file.filename\n"
    );
    assert!(check(&source).is_empty());
    let d = check(&format!("{APP}data = open('x.txt')\n"));
    assert_eq!(found(&d), [("GF402", 3, 8)]);
}

#[test]
fn methods_named_like_builtins_are_fine() {
    assert!(
        check(&format!(
            "{APP}class Door:\n    def open(self):\n        return self\nDoor().open()\n"
        ))
        .is_empty()
    );
    assert!(check(&format!("import re\n{APP}P = re.compile('a+')\n")).is_empty());
}

#[test]
fn function_locals_shadow_builtins_but_module_names_do_not() {
    assert!(
        check(&format!(
            "{APP}def f(input: str):\n    return input.upper()\n"
        ))
        .is_empty()
    );
    assert!(check(&format!("{APP}def f():\n    open = 1\n    return open\n")).is_empty());
    assert!(check(&format!("{APP}f = lambda vars: vars\n")).is_empty());
    // A module-level binding can be skipped or deleted at run time.
    assert_eq!(
        codes(&check(&format!("{APP}open = print\nopen('x')\n"))),
        ["GF402"]
    );
    // `global` makes the function use the module-level name.
    assert_eq!(
        codes(&check(&format!(
            "{APP}def f():\n    global open\n    open = 1\n    return open\n"
        ))),
        ["GF402"]
    );
    // A comprehension's first iterable runs in the enclosing scope.
    assert_eq!(
        codes(&check(&format!("{APP}x = [open for open in open('f')]\n"))),
        ["GF402"]
    );
}

#[test]
fn references_to_refused_builtins_are_refused_too() {
    assert_eq!(
        codes(&check(&format!(
            "{APP}run = eval\nitems = map(exec, ['1'])\n"
        ))),
        ["GF401", "GF401"]
    );
}

#[test]
fn escapes_are_found_everywhere_in_the_tree() {
    let source = format!(
        "{APP}@app.get(str(eval('1')))\ndef f(x=__import__('os')):\n    return x\nclass C:\n    y = [z.__globals__ for z in ()]\n    w = lambda: f'{{globals()}}'\nmatch 1:\n    case 1 if vars():\n        pass\n"
    );
    assert_eq!(
        codes(&check(&source)),
        ["GF401", "GF401", "GF405", "GF404", "GF404"]
    );
}

#[test]
fn dunder_allowlist() {
    let fine = format!(
        "{APP}class A:\n    def __init__(self):\n        super().__init__()\n        self.n = type(self).__name__ + self.__class__.__name__\nprint(__name__, A.__doc__, A.__module__)\n"
    );
    assert!(check(&fine).is_empty());
    assert_eq!(codes(&check(&format!("{APP}x = A.__mro__\n"))), ["GF405"]);
    assert_eq!(
        codes(&check(&format!("{APP}x = getattr(A, '__mro__')\n"))),
        ["GF406"]
    );
    assert!(
        check(&format!(
            "{APP}x = getattr(A, 'name', None)\nsetattr(A, 'k', 1)\n"
        ))
        .is_empty()
    );
}

#[test]
fn string_annotations_are_checked_but_literals_are_values() {
    let fine = format!(
        "from typing import Literal, Optional, Annotated\nfrom fastapi import Query\n{APP}def f(a: Optional['Item'] = None, b: Literal['open', 'eval'] = 'open', c: Annotated[str, Query(description='eval(x)')] = ''):\n    return a\nclass Item:\n    pass\n"
    );
    assert!(check(&fine).is_empty());
    // The string is code: eval is refused, and so is a call where a type
    // goes (its result could be another string to run).
    let d = check(&format!("{APP}def f(a: 'eval(\"1\")'):\n    return a\n"));
    assert_eq!(found(&d), [("GF411", 3, 10), ("GF401", 3, 10)]);
}

// --- syntax ---------------------------------------------------------------

#[test]
fn python_312_fstring_is_explained() {
    let d = check(&format!("{APP}d = {{'k': 1}}\nx = f\"{{d[\"k\"]}}\"\n"));
    assert_eq!(found(&d), [("GF102", 4, 10)]);
    assert!(d[0].message.contains("3.12"), "{}", d[0].message);
    assert_eq!(
        d[0].hint.as_deref(),
        Some("use the other quotes inside the braces: f\"{d['k']}\"")
    );
    // The same f-string with other quotes inside is fine.
    assert!(check(&format!("{APP}d = {{'k': 1}}\nx = f\"{{d['k']}}\"\n")).is_empty());
}

#[test]
fn missing_colon() {
    let d = check(&format!("{APP}class Item\n    pass\n"));
    assert_eq!(found(&d), [("GF105", 3, 11)]);
    assert_eq!(d[0].hint.as_deref(), Some("add a colon: `class Item:`"));
    let d = check(&format!("{APP}if True\n    pass\n"));
    assert_eq!(codes(&d), ["GF105"]);
}

#[test]
fn unclosed_bracket_names_the_line_it_was_opened_on() {
    let source = format!("{APP}items = [\n    1,\n    2,\n\ndef f():\n    return items\n");
    let d = check(&source);
    assert_eq!(found(&d), [("GF103", 3, 9)]);
    assert!(
        d[0].message.contains("opened on line 3"),
        "{}",
        d[0].message
    );
}

#[test]
fn indentation_mismatch() {
    let d = check(&format!("{APP}def f():\n        x = 1\n    return x\n"));
    assert_eq!(codes(&d), ["GF104"]);
    assert_eq!(d[0].line, 5);
    let d = check(&format!("{APP}def f():\nreturn 1\n"));
    assert_eq!(found(&d), [("GF104", 4, 1)]);
    assert!(d[0].message.contains("line 3"), "{}", d[0].message);
}

#[test]
fn one_syntax_error_per_file_and_no_other_checks() {
    let d = check("import os\ndef f(\n");
    assert_eq!(codes(&d), ["GF103"]);
}

// --- the app --------------------------------------------------------------

#[test]
fn missing_app_hint_shows_the_line_to_add() {
    let d = check("from fastapi import FastAPI\n");
    assert_eq!(found(&d), [("GF201", 0, 0)]);
    assert_eq!(
        d[0].hint.as_deref(),
        Some("add this line after the imports: `app = FastAPI()`")
    );
    let d = check("import fastapi as fa\n");
    assert_eq!(
        d[0].hint.as_deref(),
        Some("add this line after the imports: `app = fa.FastAPI()`")
    );
}

#[test]
fn app_imported_from_an_own_module() {
    let d = check_app(&[("main.py", "from api import app\n"), ("api.py", APP)]);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn a_factory_is_only_a_warning() {
    let d = check("from fastapi import FastAPI\ndef make():\n    return FastAPI()\napp = make()\n");
    assert_eq!(codes(&d), ["GF202"]);
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(is_deployable(&d));
}

// --- limits and ordering ----------------------------------------------------

#[test]
fn missing_main_keeps_gf001() {
    let d = check_app(&[("app.py", APP)]);
    assert_eq!(found(&d), [("GF001", 0, 0)]);
    assert_eq!(d[0].file, "main.py");
}

#[test]
fn file_names() {
    let d = check_app(&[
        ("main.py", APP),
        ("lib/x.py", ""),
        ("a b.py", ""),
        (".env", ""),
        ("data.json", "{}"),
    ]);
    let mut by_file: Vec<(&str, &str)> = d.iter().map(|d| (d.file.as_str(), d.code)).collect();
    by_file.sort();
    assert_eq!(
        by_file,
        [
            (".env", "GF005"),
            (".env", "GF010"),
            ("a b.py", "GF005"),
            ("data.json", "GF010"),
            ("lib/x.py", "GF005")
        ]
    );
    let limits = Limits {
        data_file_extensions: vec!["json".into()],
        ..Limits::default()
    };
    let files = [
        SourceFile {
            name: "main.py",
            content: APP.as_bytes(),
        },
        SourceFile {
            name: "data.json",
            content: b"{\"eval\": \"open()\"}",
        },
    ];
    assert!(validate_with(&files, &limits).is_empty());
    let long = format!("{}.py", "a".repeat(120));
    assert_eq!(
        codes(&check_app(&[("main.py", APP), (&long, "")])),
        ["GF005"]
    );
}

#[test]
fn sizes_and_counts() {
    let limits = Limits {
        max_files: 2,
        max_file_bytes: 100,
        max_total_bytes: 150,
        ..Limits::default()
    };
    let big = format!("{APP}{}", "# padding\n".repeat(10));
    let files = [
        SourceFile {
            name: "main.py",
            content: APP.as_bytes(),
        },
        SourceFile {
            name: "b.py",
            content: big.as_bytes(),
        },
        SourceFile {
            name: "c.py",
            content: b"x = 1\n",
        },
    ];
    // Too many files: the count and total size are reported, and nothing
    // per file is checked until the count is right.
    let d = validate_with(&files, &limits);
    let got: Vec<(&str, &str)> = d.iter().map(|d| (d.file.as_str(), d.code)).collect();
    assert_eq!(got, [("", "GF002"), ("", "GF004")]);
    let d = validate_with(&files[..2], &limits);
    let got: Vec<(&str, &str)> = d.iter().map(|d| (d.file.as_str(), d.code)).collect();
    assert_eq!(got, [("", "GF004"), ("b.py", "GF003")]);
}

#[test]
fn diagnostics_are_sorted_and_deterministic() {
    let files = [
        (
            "main.py",
            "import os\nfrom fastapi import FastAPI\napp = FastAPI()\nx = eval('1')\n",
        ),
        ("b.py", "import sys\nopen('x')\n"),
        ("a.py", "def f(\n"),
    ];
    let first = check_app(&files);
    let keys: Vec<(&str, u32, u32)> = first
        .iter()
        .map(|d| (d.file.as_str(), d.line, d.column))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(first, check_app(&files));
    assert_eq!(codes(&first), ["GF103", "GF303", "GF402", "GF303", "GF401"]);
}

#[test]
fn non_utf8_and_nul_bytes() {
    let d = validate(&[SourceFile {
        name: "main.py",
        content: b"x = 1\ny = '\xff'\n",
    }]);
    assert_eq!(found(&d), [("GF007", 2, 6)]);
    let d = validate(&[SourceFile {
        name: "main.py",
        content: b"x = 1\n\0",
    }]);
    assert_eq!(found(&d), [("GF008", 2, 1)]);
}

#[test]
fn every_code_is_documented_in_the_readme() {
    let readme = include_str!("../README.md");
    for (code, _) in gofast_validate::CODES {
        assert!(readme.contains(code), "README.md does not document {code}");
    }
}

#[test]
fn module_escapes_through_own_modules_aliases_and_getattr() {
    let helper = (
        "helpers.py",
        "import logging\nfrom logging import getLogger\n",
    );
    let main = format!(
        "import helpers\nfrom helpers import logging as lg\n{APP}helpers.logging.os.getcwd()\nlg.sys.exit()\nhelpers.getLogger('x')\n"
    );
    let d = check_app(&[("main.py", &main), helper]);
    assert_eq!(found(&d), [("GF407", 5, 17), ("GF407", 6, 4)]);
    // Assigning a module is refused itself (GF408); the alias is still
    // followed.
    let d = check(&format!(
        "import logging\nL = logging\n{APP}L.os.getcwd()\n"
    ));
    assert_eq!(found(&d), [("GF408", 2, 5), ("GF407", 5, 3)]);
    let d = check(&format!(
        "import random\n{APP}getattr(random, '_os')\nx = getattr(random, 'randint')\n"
    ));
    assert_eq!(found(&d), [("GF407", 4, 1)]);
}

#[test]
fn star_imports_are_refused_even_from_fastapi() {
    let d = check("from fastapi import *\napp = FastAPI()\n");
    assert_eq!(found(&d), [("GF306", 1, 21)]);
    assert!(
        d[0].hint
            .as_deref()
            .unwrap_or("")
            .contains("from fastapi import name1")
    );
}

#[test]
fn strings_naming_refused_attributes() {
    let d = check(&format!(
        "import functools\n{APP}f = functools.partial(getattr, app)\nf('__globals__')\n"
    ));
    // getattr passed around (GF409), and the string it gets (GF406).
    assert_eq!(found(&d), [("GF409", 4, 23), ("GF406", 5, 3)]);
    // Prose that mentions a dunder is not an attribute name.
    assert!(
        check(&format!(
            "{APP}DOC = 'returns the __dict__ of x'\nKEY = 'name'\n"
        ))
        .is_empty()
    );
}

#[test]
fn forward_references_outside_annotations() {
    let evil = "\"__import__('os').system('id')\"";
    // Parsed as code, the string is a call where a type goes: GF411 too.
    for source in [
        format!("from typing import Optional\n{APP}Alias = Optional[{evil}]\n"),
        format!("from typing import TypeAlias\n{APP}Alias: TypeAlias = {evil}\n"),
        format!("from pydantic import TypeAdapter\n{APP}ta = TypeAdapter({evil})\n"),
        format!("from pydantic import create_model\n{APP}M = create_model('M', x=({evil}, ...))\n"),
        format!("from typing import TypeVar\n{APP}T = TypeVar('T', bound={evil})\n"),
    ] {
        assert_eq!(codes(&check(&source)), ["GF411", "GF401"], "{source}");
    }
    // Dict keys are not types: a stock price's "open" is fine.
    assert!(check(&format!("{APP}row = {{'open': 1}}\nprice = row['open']\n")).is_empty());
}

#[test]
fn missing_colon_after_async_def() {
    let d = check(&format!("{APP}async def f()\n    return 1\n"));
    assert_eq!(found(&d), [("GF105", 3, 14)]);
    assert_eq!(d[0].message, "The `async def` line must end with a ':'.");
}
