//! Limits on what may be submitted, and the per-file checks that come before
//! any parsing: names, sizes, encoding.

use std::collections::HashSet;

use crate::diagnostic::{Diagnostic, WHOLE_FILE};
use crate::modules;
use crate::position::{LineIndex, position_in_prefix};
use crate::{ENTRY_FILE, SourceFile};

/// Default for [`Limits::max_files`].
pub const DEFAULT_MAX_FILES: usize = 20;
/// Default for [`Limits::max_file_bytes`]: 100 KiB.
pub const DEFAULT_MAX_FILE_BYTES: usize = 100 * 1024;
/// Default for [`Limits::max_total_bytes`]: 256 KiB, well under the 1 MiB a
/// Kubernetes ConfigMap can hold.
pub const DEFAULT_MAX_TOTAL_BYTES: usize = 256 * 1024;
/// Default for [`Limits::max_name_chars`].
pub const DEFAULT_MAX_NAME_CHARS: usize = 100;

/// What an app may contain. Every violated limit is one diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most files in one app.
    pub max_files: usize,
    /// Largest single file, in bytes.
    pub max_file_bytes: usize,
    /// Largest sum of all files, in bytes.
    pub max_total_bytes: usize,
    /// Longest file name, in characters.
    pub max_name_chars: usize,
    /// Extensions (without the dot, e.g. `"json"`) accepted besides `py` as
    /// data files: checked for name, size and UTF-8, never parsed. Empty by
    /// default: only `.py` files.
    pub data_file_extensions: Vec<String>,
}

impl Limits {
    /// The defaults, usable in `const` context.
    pub const DEFAULT: Limits = Limits {
        max_files: DEFAULT_MAX_FILES,
        max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
        max_name_chars: DEFAULT_MAX_NAME_CHARS,
        data_file_extensions: Vec::new(),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// A file that passed the pre-parse checks and should be parsed.
pub(crate) struct PythonFile<'a> {
    pub(crate) name: &'a str,
    /// The text without a leading UTF-8 byte order mark.
    pub(crate) text: &'a str,
}

/// The outcome of the file checks.
pub(crate) struct Checked<'a> {
    /// `.py` files to parse, in submission order.
    pub(crate) python: Vec<PythonFile<'a>>,
    /// Module names the app's own files provide (`greetings` for
    /// `greetings.py`), for resolving imports. A set: lookups must not grow
    /// with the number of files.
    pub(crate) local_modules: HashSet<String>,
    /// main.py was submitted but has no code; the app check is skipped.
    pub(crate) entry_empty: bool,
}

fn kib(bytes: usize) -> String {
    let k = bytes.div_ceil(1024);
    format!("{k} KiB")
}

/// Runs every check that needs no parsing and returns the files to parse.
pub(crate) fn check_files<'a>(
    files: &[SourceFile<'a>],
    limits: &Limits,
    out: &mut Vec<Diagnostic>,
) -> Checked<'a> {
    let mut checked = Checked {
        python: Vec::new(),
        local_modules: HashSet::new(),
        entry_empty: false,
    };
    if !files.iter().any(|f| f.name == ENTRY_FILE) {
        out.push(
            Diagnostic::error("GF001", ENTRY_FILE, WHOLE_FILE, "The app has no main.py.")
                .hint("add a main.py that creates the app: `from fastapi import FastAPI` then `app = FastAPI()`"),
        );
    }
    // Counts and sizes come first and cost one pass: a request of many
    // thousands of tiny files ends here, before any per-file work.
    let too_many = files.len() > limits.max_files;
    if too_many {
        out.push(
            Diagnostic::error(
                "GF002",
                "",
                WHOLE_FILE,
                format!(
                    "The app has {} files; at most {} are allowed.",
                    files.len(),
                    limits.max_files
                ),
            )
            .hint("merge small modules into fewer files"),
        );
    }
    let total: usize = files.iter().map(|f| f.content.len()).sum();
    if total > limits.max_total_bytes {
        out.push(
            Diagnostic::error(
                "GF004",
                "",
                WHOLE_FILE,
                format!(
                    "The app's files add up to {}; at most {} are allowed.",
                    kib(total),
                    kib(limits.max_total_bytes)
                ),
            )
            .hint("keep large data out of the code; generate sample data in a loop instead"),
        );
    }
    if too_many {
        // Nothing else is worth reporting (or computing) until the count is fixed.
        return checked;
    }

    let mut seen: HashSet<&str> = HashSet::with_capacity(files.len());
    let mut parse_budget = limits.max_total_bytes;
    for file in files {
        if !seen.insert(file.name) {
            out.push(Diagnostic::error(
                "GF006",
                file.name,
                WHOLE_FILE,
                format!("There are two files named `{}`.", file.name),
            ));
            continue;
        }
        let is_python = check_name(file.name, limits, out);
        let Some(text) = check_content(file, limits, out) else {
            continue;
        };
        if file.name == ENTRY_FILE && text.trim().is_empty() {
            checked.entry_empty = true;
            out.push(
                Diagnostic::error("GF009", ENTRY_FILE, WHOLE_FILE, "main.py is empty.")
                    .hint("start with `from fastapi import FastAPI` and `app = FastAPI()`"),
            );
        }
        if !is_python {
            continue;
        }
        if let Some(stem) = local_module_name(file.name) {
            checked.local_modules.insert(stem.to_string());
        }
        if text.len() <= parse_budget {
            parse_budget -= text.len();
            checked.python.push(PythonFile {
                name: file.name,
                text,
            });
        }
    }
    checked
}

/// The module a submitted file provides to `import`, if it can be imported.
fn local_module_name(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".py")?;
    (is_identifier(stem) && !modules::is_reserved_module(stem)).then_some(stem)
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Checks a file name; returns whether the file is Python source.
fn check_name(name: &str, limits: &Limits, out: &mut Vec<Diagnostic>) -> bool {
    let bad = |message: String, hint: &str| {
        Diagnostic::error("GF005", name, WHOLE_FILE, message).hint(hint)
    };
    let safe = "use only letters, digits, '.', '_' and '-', e.g. `models.py`";
    let before = out.len();
    if name.is_empty() {
        out.push(bad("A file has an empty name.".into(), safe));
    } else if name.contains(['/', '\\']) {
        out.push(bad(
            format!("The file name `{name}` contains a folder; files cannot be in folders."),
            "put every file next to main.py and import it by its name",
        ));
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        out.push(bad(
            format!("The file name `{name}` contains {c:?}, which file names cannot contain."),
            safe,
        ));
    } else if name.starts_with('.') {
        out.push(bad(
            format!("The file name `{name}` starts with '.', which makes it a hidden file."),
            safe,
        ));
    }
    let chars = name.chars().count();
    if chars > limits.max_name_chars {
        out.push(bad(
            format!(
                "The file name is {chars} characters long; at most {} are allowed.",
                limits.max_name_chars
            ),
            "use a shorter name",
        ));
    }
    let extension = name.rsplit_once('.').map(|(_, ext)| ext);
    if extension == Some("py") {
        if out.len() == before {
            check_module_name(name, out);
        }
        return true;
    }
    let data = extension.is_some_and(|ext| limits.data_file_extensions.iter().any(|e| e == ext));
    if !data && !name.is_empty() {
        let accepted: Vec<String> = std::iter::once(".py".to_string())
            .chain(limits.data_file_extensions.iter().map(|e| format!(".{e}")))
            .collect();
        out.push(
            Diagnostic::error(
                "GF010",
                name,
                WHOLE_FILE,
                format!(
                    "`{name}` is not a Python file; only {} files can be deployed.",
                    accepted.join(", ")
                ),
            )
            .hint("remove the file from the upload, or rename it if it is Python code"),
        );
    }
    false
}

/// GF011 / GF012: whether `<stem>.py` can be imported and hides nothing.
fn check_module_name(name: &str, out: &mut Vec<Diagnostic>) {
    let Some(stem) = name.strip_suffix(".py") else {
        return;
    };
    if name == ENTRY_FILE || stem.is_empty() {
        return;
    }
    if modules::is_reserved_module(stem) {
        out.push(
            Diagnostic::error(
                "GF011",
                name,
                WHOLE_FILE,
                format!("`{name}` has the same name as the `{stem}` module and would hide it."),
            )
            .hint(format!(
                "rename the file, e.g. `my_{stem}.py`, and update the imports"
            )),
        );
    } else if !is_identifier(stem) {
        out.push(
            Diagnostic::warning(
                "GF012",
                name,
                WHOLE_FILE,
                format!("`{name}` cannot be imported because `{stem}` is not a valid Python name."),
            )
            .hint(format!(
                "rename it with letters, digits and '_' only, e.g. `{}.py`",
                stem.replace(['-', '.'], "_")
            )),
        );
    }
}

/// Size, UTF-8 and NUL checks; returns the text (without BOM) when usable.
fn check_content<'a>(
    file: &SourceFile<'a>,
    limits: &Limits,
    out: &mut Vec<Diagnostic>,
) -> Option<&'a str> {
    let name = file.name;
    let size = file.content.len();
    if size > limits.max_file_bytes {
        out.push(
            Diagnostic::error(
                "GF003",
                name,
                WHOLE_FILE,
                format!(
                    "`{name}` is {}; a file can be at most {}.",
                    kib(size),
                    kib(limits.max_file_bytes)
                ),
            )
            .hint("split the code into several modules and import them from main.py"),
        );
    }
    let text = match std::str::from_utf8(file.content) {
        Ok(text) => text,
        Err(e) => {
            let at = position_in_prefix(file.content, e.valid_up_to());
            let byte = file
                .content
                .get(e.valid_up_to())
                .copied()
                .unwrap_or_default();
            out.push(
                Diagnostic::error(
                    "GF007",
                    name,
                    at,
                    format!(
                        "`{name}` is not UTF-8 text: byte 0x{byte:02X} here is not valid UTF-8."
                    ),
                )
                .hint("save the file as UTF-8 in your editor"),
            );
            return None;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(nul) = text.find('\0') {
        let at = LineIndex::new(text).position(nul);
        out.push(
            Diagnostic::error(
                "GF008",
                name,
                at,
                format!("`{name}` contains a NUL byte, which Python source cannot contain."),
            )
            .hint("save the file as plain UTF-8 text (not UTF-16 or a binary format)"),
        );
        return None;
    }
    (size <= limits.max_file_bytes).then_some(text)
}
