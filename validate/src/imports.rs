//! Import statements: what each binds, and whether it is allowed.

use std::collections::{HashMap, HashSet};

use rustpython_parser::ast::{Expr, Ranged, Stmt, StmtImport, StmtImportFrom};

use crate::FileCtx;
use crate::diagnostic::Diagnostic;
use crate::forbidden;
use crate::modules::{self, Member, Verdict};

/// What an imported name refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// An allowed module, by its dotted path (`import json`, `import a.b as c`).
    Module(String),
    /// A name imported from an allowed module (`from fastapi import FastAPI`
    /// binds `FastAPI` to `fastapi.FastAPI`).
    Member(String),
    /// One of the app's own modules (`import greetings`, `from . import
    /// greetings`).
    LocalModule(String),
    /// A name imported from one of the app's own modules: (module, name).
    LocalMember(String, String),
}

pub(crate) type Bindings = HashMap<String, Binding>;

/// Deepest statement nesting followed when collecting imports.
const MAX_DEPTH: u32 = 200;

/// Every name bound by an allowed import anywhere in the file (imports inside
/// functions included: attribute checks treat the file as one namespace).
pub(crate) fn collect(body: &[Stmt], local_modules: &HashSet<String>) -> Bindings {
    let mut bindings = Bindings::new();
    collect_into(body, local_modules, &mut bindings, 0);
    bindings
}

fn is_local(name: &str, local_modules: &HashSet<String>) -> bool {
    local_modules.contains(name)
}

fn collect_into(body: &[Stmt], local: &HashSet<String>, bindings: &mut Bindings, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    for stmt in body {
        match stmt {
            Stmt::Import(s) => {
                for alias in &s.names {
                    let name = alias.name.as_str();
                    let first = name.split('.').next().unwrap_or(name);
                    let (bound, path) = match &alias.asname {
                        Some(asname) => (asname.to_string(), name),
                        None => (first.to_string(), first),
                    };
                    if is_local(first, local) {
                        if first == name {
                            bindings.insert(bound, Binding::LocalModule(first.to_string()));
                        }
                    } else if matches!(modules::classify(name), Verdict::Allowed) {
                        bindings.insert(bound, Binding::Module(path.to_string()));
                    }
                }
            }
            Stmt::ImportFrom(s) => {
                let level = s.level.map_or(0, |l| l.to_u32());
                let module = s.module.as_deref().unwrap_or("");
                let local_source = level > 0 || is_local(module, local);
                let allowed =
                    !local_source && matches!(modules::classify(module), Verdict::Allowed);
                for alias in &s.names {
                    let bound = alias.asname.as_deref().unwrap_or(&alias.name).to_string();
                    if level > 0 && s.module.is_none() {
                        if is_local(&alias.name, local) {
                            bindings.insert(bound, Binding::LocalModule(alias.name.to_string()));
                        }
                    } else if local_source {
                        let member =
                            Binding::LocalMember(module.to_string(), alias.name.to_string());
                        bindings.insert(bound, member);
                    } else if allowed && alias.name.as_str() != "*" {
                        bindings.insert(bound, Binding::Member(format!("{module}.{}", alias.name)));
                    }
                }
            }
            // `L = logging`: the alias refers to the same module.
            Stmt::Assign(s) => {
                if let Expr::Name(value) = s.value.as_ref()
                    && let Some(binding) = bindings.get(value.id.as_str()).cloned()
                {
                    for target in &s.targets {
                        if let Expr::Name(t) = target {
                            bindings.insert(t.id.to_string(), binding.clone());
                        }
                    }
                }
            }
            Stmt::AnnAssign(s) => {
                if let (Expr::Name(t), Some(Expr::Name(value))) =
                    (s.target.as_ref(), s.value.as_deref())
                    && let Some(binding) = bindings.get(value.id.as_str()).cloned()
                {
                    bindings.insert(t.id.to_string(), binding);
                }
            }
            Stmt::FunctionDef(s) => collect_into(&s.body, local, bindings, d),
            Stmt::AsyncFunctionDef(s) => collect_into(&s.body, local, bindings, d),
            Stmt::ClassDef(s) => collect_into(&s.body, local, bindings, d),
            Stmt::For(s) => {
                collect_into(&s.body, local, bindings, d);
                collect_into(&s.orelse, local, bindings, d);
            }
            Stmt::AsyncFor(s) => {
                collect_into(&s.body, local, bindings, d);
                collect_into(&s.orelse, local, bindings, d);
            }
            Stmt::While(s) => {
                collect_into(&s.body, local, bindings, d);
                collect_into(&s.orelse, local, bindings, d);
            }
            Stmt::If(s) => {
                collect_into(&s.body, local, bindings, d);
                collect_into(&s.orelse, local, bindings, d);
            }
            Stmt::With(s) => collect_into(&s.body, local, bindings, d),
            Stmt::AsyncWith(s) => collect_into(&s.body, local, bindings, d),
            Stmt::Try(s) => {
                collect_into(&s.body, local, bindings, d);
                for rustpython_parser::ast::ExceptHandler::ExceptHandler(h) in &s.handlers {
                    collect_into(&h.body, local, bindings, d);
                }
                collect_into(&s.orelse, local, bindings, d);
                collect_into(&s.finalbody, local, bindings, d);
            }
            Stmt::TryStar(s) => {
                collect_into(&s.body, local, bindings, d);
                for rustpython_parser::ast::ExceptHandler::ExceptHandler(h) in &s.handlers {
                    collect_into(&h.body, local, bindings, d);
                }
                collect_into(&s.orelse, local, bindings, d);
                collect_into(&s.finalbody, local, bindings, d);
            }
            Stmt::Match(s) => {
                for case in &s.cases {
                    collect_into(&case.body, local, bindings, d);
                }
            }
            _ => {}
        }
    }
}

/// Why `name` cannot be imported, as a diagnostic at `at`.
fn refused_module(ctx: &FileCtx, name: &str, at: usize) -> Option<Diagnostic> {
    let first = name.split('.').next().unwrap_or(name);
    if is_local(first, ctx.local_modules) {
        if first == name {
            return None;
        }
        return Some(
            ctx.error(
                "GF304",
                at,
                format!(
                    "`{first}` is one of your own files, not a package, so `{name}` does not exist."
                ),
            )
            .hint(format!(
                "import it as `import {first}` or `from {first} import ...`"
            )),
        );
    }
    if ctx.policy.allows(name) {
        return None;
    }
    match modules::classify(name) {
        Verdict::Allowed => None,
        Verdict::Refused(r) => Some(
            ctx.error(
                r.kind.import_code(),
                at,
                format!("`{name}` cannot be imported: {}.", r.why),
            )
            .hint(r.hint),
        ),
        Verdict::Unknown => Some(
            ctx.error(
                "GF301",
                at,
                format!("`{name}` is not available to gofast apps."),
            )
            .hint(modules::allowed_summary()),
        ),
    }
}

pub(crate) fn check_import(ctx: &FileCtx, stmt: &StmtImport, out: &mut Vec<Diagnostic>) {
    for alias in &stmt.names {
        out.extend(refused_module(
            ctx,
            &alias.name,
            alias.range.start().to_usize(),
        ));
    }
}

pub(crate) fn check_import_from(ctx: &FileCtx, stmt: &StmtImportFrom, out: &mut Vec<Diagnostic>) {
    let at = stmt.range().start().to_usize();
    let level = stmt.level.map_or(0, |l| l.to_u32());
    let module = stmt.module.as_deref();
    if level > 0 {
        relative(ctx, stmt, level, module, at, out);
        let dots = ".".repeat(level as usize);
        let module = format!("{dots}{}", module.unwrap_or(""));
        out.extend(star_import(ctx, stmt, &module));
        return;
    }
    let module = module.unwrap_or("");
    if let Some(diagnostic) = refused_module(ctx, module, at) {
        out.push(diagnostic);
        return;
    }
    if !ctx.policy.allows(module) {
        out.extend(star_import(ctx, stmt, module));
    }
    // The operator vouched for an extra module: its names are not checked.
    if is_local(module, ctx.local_modules) || ctx.policy.allows(module) {
        return;
    }
    for alias in &stmt.names {
        let name = alias.name.as_str();
        let at = alias.range.start().to_usize();
        if name == "*" {
            continue;
        }
        if forbidden::is_refused_dunder(name) {
            out.push(forbidden::dunder_attribute(ctx, name, at));
            continue;
        }
        match modules::member(module, name) {
            Member::RefusedModule(r) if !ctx.policy.allows(&format!("{module}.{name}")) => out
                .push(
                    ctx.error(
                        r.kind.import_code(),
                        at,
                        format!("`{module}.{name}` cannot be imported: {}.", r.why),
                    )
                    .hint(r.hint),
                ),
            verdict => out.extend(member_diagnostic(ctx, module, name, verdict, at)),
        }
    }
}

/// `from module import *` binds whatever the module holds — `os` from
/// `starlette.responses`, another file's imports — under names the checker
/// never sees bound, so its rules could not follow them.
fn star_import(ctx: &FileCtx, stmt: &StmtImportFrom, module: &str) -> Option<Diagnostic> {
    let star = stmt.names.iter().find(|a| a.name.as_str() == "*")?;
    Some(
        ctx.error(
            "GF306",
            star.range.start().to_usize(),
            format!(
                "`from {module} import *` brings in names gofast cannot check, so apps cannot use it."
            ),
        )
        .hint(format!(
            "import the names you use, e.g. `from {module} import name1, name2`"
        )),
    )
}

fn relative(
    ctx: &FileCtx,
    stmt: &StmtImportFrom,
    level: u32,
    module: Option<&str>,
    at: usize,
    out: &mut Vec<Diagnostic>,
) {
    if level > 1 {
        out.push(
            ctx.error(
                "GF304",
                at,
                "This import goes above the app's folder, where there is nothing to import.",
            )
            .hint("all files sit next to main.py: use `from . import name` or `import name`"),
        );
        return;
    }
    let missing = |name: &str, at: usize| {
        ctx.error(
            "GF304",
            at,
            format!("The app has no file `{name}.py` to import."),
        )
        .hint("upload the file next to main.py, or fix the module name")
    };
    match module {
        Some(module) => {
            if !is_local(module, ctx.local_modules) {
                out.push(missing(module, at));
            }
        }
        None => {
            for alias in &stmt.names {
                // `*` is reported as a star import (GF306).
                if alias.name.as_str() != "*" && !is_local(&alias.name, ctx.local_modules) {
                    out.push(missing(&alias.name, alias.range.start().to_usize()));
                }
            }
        }
    }
}

/// The diagnostic for using `module.name` (by import or attribute), if refused.
pub(crate) fn member_diagnostic(
    ctx: &FileCtx,
    module: &str,
    name: &str,
    verdict: Member,
    at: usize,
) -> Option<Diagnostic> {
    let path = format!("{module}.{name}");
    let operator_allowed = match verdict {
        Member::RefusedModule(_) => ctx.policy.allows(&path),
        Member::RefusedModuleName(_) => ctx.policy.allows(name) || ctx.policy.allows(&path),
        _ => false,
    };
    if operator_allowed {
        return None;
    }
    Some(match verdict {
        Member::Fine | Member::Module => return None,
        Member::Private => ctx
            .error(
                "GF407",
                at,
                format!(
                    "`{path}` is a private part of `{module}`; apps may only use public names."
                ),
            )
            .hint("use the documented, public functions of the module"),
        Member::RefusedModule(r) => ctx
            .error("GF407", at, format!("`{path}` cannot be used: {}.", r.why))
            .hint(r.hint),
        Member::RefusedModuleName(r) => {
            let diagnostic = ctx.error(
                "GF407",
                at,
                format!("`{path}` reaches the `{name}` module, which gofast apps cannot use."),
            );
            match r {
                Some(r) => diagnostic.hint(r.hint),
                None => diagnostic.hint(modules::allowed_summary()),
            }
        }
        Member::Capability(c) => ctx
            .error(c.code(), at, format!("`{path}` {}.", c.why()))
            .hint(c.hint()),
    })
}
