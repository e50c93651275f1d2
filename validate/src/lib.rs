//! Checks a submitted app before anything is stored or run. Pure: no I/O, so
//! the control plane, the CLI (`gofast check`) and tests all share it.
//!
//! The checks, in order: limits on files (count, sizes, names, encoding);
//! syntax of every `.py` file (Python 3.11, with beginner-friendly
//! messages); the FastAPI `app` in main.py; allowed imports; and calls and
//! attributes that exist to escape a teaching sandbox. Every diagnostic has a
//! stable code, listed in [`CODES`].

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

mod app_check;
mod diagnostic;
mod forbidden;
mod fstring;
mod imports;
mod limits;
mod modules;
mod policy;
mod position;
mod scan;
mod scope;
mod syntax;
mod values;
mod walk;

pub use diagnostic::{CODES, Diagnostic, Severity, describe};
pub use limits::{
    DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES, DEFAULT_MAX_NAME_CHARS, DEFAULT_MAX_TOTAL_BYTES,
    Limits,
};
pub use policy::{BadModuleName, Mode, Policy, is_sandbox_rule, parse_module_name};

use position::LineIndex;

/// The module the runner imports.
pub const ENTRY_FILE: &str = "main.py";

/// One submitted file.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub content: &'a [u8],
}

/// Checks every file with the default [`Limits`]; an empty list means the app
/// may be deployed.
pub fn validate(files: &[SourceFile<'_>]) -> Vec<Diagnostic> {
    validate_with(files, &Limits::DEFAULT)
}

/// Checks every file against `limits`. Diagnostics are sorted by file, line
/// and column; the result depends only on the input.
pub fn validate_with(files: &[SourceFile<'_>], limits: &Limits) -> Vec<Diagnostic> {
    validate_with_policy(files, limits, &Policy::STRICT)
}

/// Checks every file against `limits` under the operator's `policy`: in
/// advisory mode the sandbox rules (GF3xx, GF4xx) are warnings, and modules
/// the policy allows may be imported.
pub fn validate_with_policy(
    files: &[SourceFile<'_>],
    limits: &Limits,
    policy: &Policy,
) -> Vec<Diagnostic> {
    let mut diagnostics = validate_strict(files, limits, policy);
    policy.apply(&mut diagnostics);
    diagnostics
}

fn validate_strict(files: &[SourceFile<'_>], limits: &Limits, policy: &Policy) -> Vec<Diagnostic> {
    // The checks recurse over the syntax tree. Its depth is bounded (see
    // scan.rs), and a dedicated thread gives that bound ample stack whatever
    // thread the caller runs on. Without a thread, run inline.
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("gofast-validate".into())
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, || check_all(files, limits, policy));
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                vec![
                    Diagnostic::error(
                        "GF101",
                        ENTRY_FILE,
                        diagnostic::WHOLE_FILE,
                        "The app could not be checked.",
                    )
                    .hint("simplify the code around recent changes and try again"),
                ]
            }),
            Err(_) => check_all(files, limits, policy),
        }
    })
}

/// Stack for the checking thread; only the pages used are ever touched.
const WORKER_STACK: usize = 64 << 20;

fn check_all<'a>(files: &[SourceFile<'a>], limits: &Limits, policy: &Policy) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let checked = limits::check_files(files, limits, &mut out);
    // Parse everything first: attribute checks follow imports across files
    // (`greetings.logging.os` where greetings.py imports logging).
    let mut parsed = Vec::new();
    for file in &checked.python {
        let index = LineIndex::new(file.text);
        let body = guarded(file.name, &mut out, |found| {
            syntax::parse_file(file.name, file.text, &index, found)
        });
        if let Some(body) = body.flatten() {
            let bindings = imports::collect(&body, &checked.local_modules);
            let values = values::collect(&body);
            parsed.push((file, index, body, bindings, values));
        }
    }
    let own_module = |name: &'a str| {
        name.strip_suffix(".py")
            .filter(|stem| checked.local_modules.contains(*stem))
    };
    let module_bindings: HashMap<&str, &imports::Bindings> = parsed
        .iter()
        .filter_map(|(file, _, _, bindings, _)| Some((own_module(file.name)?, bindings)))
        .collect();
    let module_values: HashMap<&str, &values::FileValues> = parsed
        .iter()
        .filter_map(|(file, _, _, _, values)| Some((own_module(file.name)?, values)))
        .collect();
    for (file, index, body, bindings, values) in &parsed {
        let ctx = FileCtx {
            name: file.name,
            index,
            local_modules: &checked.local_modules,
            bindings,
            module_bindings: &module_bindings,
            values,
            module_values: &module_values,
            policy,
            anchor: Cell::new(None),
        };
        guarded(file.name, &mut out, |found| {
            walk::check(&ctx, body, found);
            if file.name == ENTRY_FILE && !checked.entry_empty {
                app_check::check(&ctx, body, found);
            }
        });
    }
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}

/// Runs one step on one file. A panic (a bug in the parser or here, never
/// expected) becomes a diagnostic instead of taking the caller down.
fn guarded<T>(
    name: &str,
    out: &mut Vec<Diagnostic>,
    step: impl FnOnce(&mut Vec<Diagnostic>) -> T,
) -> Option<T> {
    let mut found = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&mut found)));
    match result {
        Ok(value) => {
            out.extend(found);
            Some(value)
        }
        Err(_) => {
            out.push(
                Diagnostic::error(
                    "GF101",
                    name,
                    diagnostic::WHOLE_FILE,
                    "This file could not be checked.",
                )
                .hint("simplify the code around recent changes and try again"),
            );
            None
        }
    }
}

/// True when no diagnostic is an error.
pub fn is_deployable(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().all(|d| d.severity != Severity::Error)
}

/// One file being checked: its name, positions and the app's own modules.
pub(crate) struct FileCtx<'a> {
    pub(crate) name: &'a str,
    pub(crate) index: &'a LineIndex<'a>,
    /// Modules the app's own files provide.
    pub(crate) local_modules: &'a HashSet<String>,
    /// What this file's imports bind.
    pub(crate) bindings: &'a imports::Bindings,
    /// What each of the app's own modules binds, by module name.
    pub(crate) module_bindings: &'a HashMap<&'a str, &'a imports::Bindings>,
    /// What this file's names are assigned (types or values).
    pub(crate) values: &'a values::FileValues,
    /// The same for each of the app's own modules.
    pub(crate) module_values: &'a HashMap<&'a str, &'a values::FileValues>,
    /// The operator's policy (extra allowed modules).
    pub(crate) policy: &'a Policy,
    /// While checking code parsed out of a string (a string annotation), the
    /// offset of that string: every diagnostic points there.
    pub(crate) anchor: Cell<Option<usize>>,
}

impl FileCtx<'_> {
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        self.index.position(self.anchor.get().unwrap_or(offset))
    }

    pub(crate) fn error(
        &self,
        code: &'static str,
        offset: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, self.name, self.position(offset), message)
    }
}
