//! What a check reports, and the table of every code it can report.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A problem found in the user's code. Lines and columns are 1-based; columns
/// count characters, not bytes. Line 0 means "the file as a whole". A
/// diagnostic about the app as a whole (too many files, total size) has an
/// empty `file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at a (line, column) of a file.
    pub(crate) fn error(
        code: &'static str,
        file: &str,
        (line, column): (u32, u32),
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            hint: None,
        }
    }

    /// A warning at a (line, column) of a file.
    pub(crate) fn warning(
        code: &'static str,
        file: &str,
        at: (u32, u32),
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, at, message)
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Position meaning "the file as a whole".
pub(crate) const WHOLE_FILE: (u32, u32) = (0, 0);

/// Every code this crate reports, with what it means. Codes are stable: a code
/// is never reused for another meaning.
///
/// GF0xx files and limits, GF1xx syntax, GF2xx the FastAPI app, GF3xx
/// imports, GF4xx calls and attributes refused in the sandbox.
pub const CODES: &[(&str, &str)] = &[
    ("GF001", "the app has no main.py"),
    ("GF002", "the app has more files than allowed"),
    ("GF003", "a file is larger than allowed"),
    ("GF004", "all files together are larger than allowed"),
    (
        "GF005",
        "a file name is not allowed (characters, length, leading dot)",
    ),
    ("GF006", "two files have the same name"),
    ("GF007", "a file is not UTF-8 text"),
    ("GF008", "a file contains a NUL byte"),
    ("GF009", "main.py is empty"),
    (
        "GF010",
        "a file type is not allowed (only .py, plus configured data files)",
    ),
    (
        "GF011",
        "a .py file is named like a library module and would hide it",
    ),
    (
        "GF012",
        "warning: a .py file name is not a valid module name, so it cannot be imported",
    ),
    ("GF101", "syntax error"),
    (
        "GF102",
        "an f-string that only Python 3.12+ accepts (apps run on Python 3.11)",
    ),
    (
        "GF103",
        "a bracket is never closed, closed twice, or closed by the wrong kind",
    ),
    (
        "GF104",
        "indentation does not match (unexpected indent, missing indented block, tabs mixed with spaces)",
    ),
    (
        "GF105",
        "a missing ':' at the end of a def, class, if, for, while, with, try... line",
    ),
    ("GF106", "a string is never closed"),
    (
        "GF107",
        "a character that is not valid in Python code (curly quotes, non-breaking spaces...)",
    ),
    (
        "GF108",
        "code nested too deeply (brackets, operators, indentation) to check safely",
    ),
    (
        "GF109",
        "syntax that only Python 3.12+ accepts: `type` aliases and type parameters (apps run on 3.11)",
    ),
    ("GF201", "main.py does not create a module-level `app`"),
    (
        "GF202",
        "`app` in main.py is not a FastAPI application (error), or cannot be checked (warning)",
    ),
    ("GF203", "FastAPI is used in main.py but never imported"),
    (
        "GF301",
        "an import of a module that is not available to gofast apps",
    ),
    (
        "GF302",
        "an import of a network module (not available to apps)",
    ),
    (
        "GF303",
        "an import of a module that reaches the operating system, files, processes or the interpreter",
    ),
    (
        "GF304",
        "a relative or local import of a file the app does not have",
    ),
    (
        "GF305",
        "an import of a web server (the platform runs the app itself)",
    ),
    (
        "GF306",
        "a star import (`from x import *`): it binds names the checker cannot see",
    ),
    (
        "GF401",
        "eval, exec, compile or __import__ (running code from strings)",
    ),
    (
        "GF402",
        "file access: open(), FileResponse, StaticFiles, logging to a file...",
    ),
    (
        "GF403",
        "input, breakpoint, help, exit or quit (there is no terminal in a deployed app)",
    ),
    (
        "GF404",
        "globals, locals or vars (reading the interpreter's namespaces)",
    ),
    (
        "GF405",
        "a dunder or frame attribute used to escape a sandbox (__subclasses__, __globals__, f_back...)",
    ),
    (
        "GF406",
        "a dunder attribute reached through a string (getattr, attrgetter, str.format) or getattr on builtins",
    ),
    (
        "GF407",
        "a refused capability reached through an allowed module (logging.os, private names, subprocess helpers)",
    ),
    (
        "GF408",
        "a module used as a value (stored, passed, put in a container) instead of through its names",
    ),
    (
        "GF409",
        "an attribute named at run time: getattr, setattr, delattr, attrgetter or methodcaller without a literal name",
    ),
    (
        "GF410",
        "a private `_name` attribute of something other than the method's own `self` or `cls`",
    ),
    (
        "GF411",
        "a type the checker cannot see (a computed value where Python evaluates types), or a class built from a namespace at run time",
    ),
];

/// The meaning of a code, if it is one of [`CODES`].
pub fn describe(code: &str) -> Option<&'static str> {
    CODES.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_sorted() {
        for pair in CODES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} !< {}", pair[0].0, pair[1].0);
        }
        assert_eq!(describe("GF001"), Some("the app has no main.py"));
        assert_eq!(describe("GF999"), None);
    }

    #[test]
    fn severity_names() {
        assert_eq!(Severity::Error.as_str(), "error");
        assert_eq!(Severity::Warning.as_str(), "warning");
    }
}
