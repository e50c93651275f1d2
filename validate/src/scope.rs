//! Names a function binds locally.
//!
//! A refused builtin like `input` is fine when the name is a parameter or a
//! local variable of an enclosing function: Python resolves such names
//! statically, so they can never fall through to the builtin. Module and
//! class bodies resolve names at run time (a binding there can be skipped or
//! deleted), so only function and comprehension scopes count.

use std::collections::HashSet;

use rustpython_parser::ast::{Arguments, Comprehension, ExceptHandler, Expr, Pattern, Stmt};

/// Deepest target or pattern nesting followed; deeper names are ignored,
/// which only makes the check stricter.
const MAX_DEPTH: u32 = 64;

/// Names bound by a function's parameters and body.
pub(crate) fn function_locals(args: &Arguments, body: &[Stmt]) -> HashSet<String> {
    let mut names = HashSet::new();
    for arg in args
        .posonlyargs
        .iter()
        .chain(&args.args)
        .chain(&args.kwonlyargs)
    {
        names.insert(arg.def.arg.to_string());
    }
    for arg in args.vararg.iter().chain(&args.kwarg) {
        names.insert(arg.arg.to_string());
    }
    let mut globals = HashSet::new();
    body_bindings(body, &mut names, &mut globals, 0);
    for global in &globals {
        names.remove(global);
    }
    names
}

/// Names a function body binds (its parameters aside).
pub(crate) fn body_names(body: &[Stmt]) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut globals = HashSet::new();
    body_bindings(body, &mut names, &mut globals, 0);
    names.extend(globals);
    names
}

/// Names a function body binds with `import` (nested functions aside).
pub(crate) fn imported_names(body: &[Stmt]) -> HashSet<String> {
    let mut names = HashSet::new();
    imports_in(body, &mut names, 0);
    names
}

fn imports_in(body: &[Stmt], names: &mut HashSet<String>, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    for stmt in body {
        let blocks: Vec<&[Stmt]> = match stmt {
            Stmt::Import(s) => {
                for alias in &s.names {
                    let first = alias.name.split('.').next().unwrap_or("");
                    names.insert(alias.asname.as_deref().unwrap_or(first).to_string());
                }
                continue;
            }
            Stmt::ImportFrom(s) => {
                for alias in &s.names {
                    names.insert(alias.asname.as_deref().unwrap_or(&alias.name).to_string());
                }
                continue;
            }
            Stmt::For(s) => vec![&s.body, &s.orelse],
            Stmt::AsyncFor(s) => vec![&s.body, &s.orelse],
            Stmt::While(s) => vec![&s.body, &s.orelse],
            Stmt::If(s) => vec![&s.body, &s.orelse],
            Stmt::With(s) => vec![&s.body],
            Stmt::AsyncWith(s) => vec![&s.body],
            Stmt::Try(s) => {
                let mut v: Vec<&[Stmt]> = vec![&s.body, &s.orelse, &s.finalbody];
                v.extend(
                    s.handlers
                        .iter()
                        .map(|ExceptHandler::ExceptHandler(h)| h.body.as_slice()),
                );
                v
            }
            Stmt::TryStar(s) => {
                let mut v: Vec<&[Stmt]> = vec![&s.body, &s.orelse, &s.finalbody];
                v.extend(
                    s.handlers
                        .iter()
                        .map(|ExceptHandler::ExceptHandler(h)| h.body.as_slice()),
                );
                v
            }
            Stmt::Match(s) => s.cases.iter().map(|c| c.body.as_slice()).collect(),
            _ => continue,
        };
        for block in blocks {
            imports_in(block, names, d);
        }
    }
}

/// Names bound by a lambda's parameters.
pub(crate) fn lambda_locals(args: &Arguments) -> HashSet<String> {
    function_locals(args, &[])
}

/// Names bound by the targets of a comprehension.
pub(crate) fn comprehension_locals(generators: &[Comprehension]) -> HashSet<String> {
    let mut names = HashSet::new();
    for generator in generators {
        target_names(&generator.target, &mut names, 0);
    }
    names
}

fn body_bindings(
    body: &[Stmt],
    names: &mut HashSet<String>,
    globals: &mut HashSet<String>,
    depth: u32,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    for stmt in body {
        match stmt {
            Stmt::FunctionDef(s) => {
                names.insert(s.name.to_string());
            }
            Stmt::AsyncFunctionDef(s) => {
                names.insert(s.name.to_string());
            }
            Stmt::ClassDef(s) => {
                names.insert(s.name.to_string());
            }
            Stmt::Assign(s) => s.targets.iter().for_each(|t| target_names(t, names, 0)),
            Stmt::AugAssign(s) => target_names(&s.target, names, 0),
            Stmt::AnnAssign(s) => target_names(&s.target, names, 0),
            Stmt::Delete(s) => s.targets.iter().for_each(|t| target_names(t, names, 0)),
            Stmt::For(s) => {
                target_names(&s.target, names, 0);
                body_bindings(&s.body, names, globals, d);
                body_bindings(&s.orelse, names, globals, d);
            }
            Stmt::AsyncFor(s) => {
                target_names(&s.target, names, 0);
                body_bindings(&s.body, names, globals, d);
                body_bindings(&s.orelse, names, globals, d);
            }
            Stmt::While(s) => {
                body_bindings(&s.body, names, globals, d);
                body_bindings(&s.orelse, names, globals, d);
            }
            Stmt::If(s) => {
                body_bindings(&s.body, names, globals, d);
                body_bindings(&s.orelse, names, globals, d);
            }
            Stmt::With(s) => {
                for item in &s.items {
                    if let Some(vars) = &item.optional_vars {
                        target_names(vars, names, 0);
                    }
                }
                body_bindings(&s.body, names, globals, d);
            }
            Stmt::AsyncWith(s) => {
                for item in &s.items {
                    if let Some(vars) = &item.optional_vars {
                        target_names(vars, names, 0);
                    }
                }
                body_bindings(&s.body, names, globals, d);
            }
            Stmt::Try(s) => try_bindings(
                &s.body,
                &s.handlers,
                &s.orelse,
                &s.finalbody,
                names,
                globals,
                d,
            ),
            Stmt::TryStar(s) => try_bindings(
                &s.body,
                &s.handlers,
                &s.orelse,
                &s.finalbody,
                names,
                globals,
                d,
            ),
            Stmt::Import(s) => {
                for alias in &s.names {
                    let bound = alias
                        .asname
                        .as_deref()
                        .unwrap_or(alias.name.split('.').next().unwrap_or(""));
                    names.insert(bound.to_string());
                }
            }
            Stmt::ImportFrom(s) => {
                for alias in &s.names {
                    names.insert(alias.asname.as_deref().unwrap_or(&alias.name).to_string());
                }
            }
            Stmt::Match(s) => {
                for case in &s.cases {
                    pattern_names(&case.pattern, names, 0);
                    body_bindings(&case.body, names, globals, d);
                }
            }
            Stmt::Global(s) => globals.extend(s.names.iter().map(|n| n.to_string())),
            _ => {}
        }
    }
}

fn try_bindings(
    body: &[Stmt],
    handlers: &[ExceptHandler],
    orelse: &[Stmt],
    finalbody: &[Stmt],
    names: &mut HashSet<String>,
    globals: &mut HashSet<String>,
    depth: u32,
) {
    body_bindings(body, names, globals, depth);
    for ExceptHandler::ExceptHandler(handler) in handlers {
        if let Some(name) = &handler.name {
            names.insert(name.to_string());
        }
        body_bindings(&handler.body, names, globals, depth);
    }
    body_bindings(orelse, names, globals, depth);
    body_bindings(finalbody, names, globals, depth);
}

/// Names bound by an assignment target.
fn target_names(target: &Expr, names: &mut HashSet<String>, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    match target {
        Expr::Name(n) => {
            names.insert(n.id.to_string());
        }
        Expr::Tuple(t) => t
            .elts
            .iter()
            .for_each(|e| target_names(e, names, depth + 1)),
        Expr::List(l) => l
            .elts
            .iter()
            .for_each(|e| target_names(e, names, depth + 1)),
        Expr::Starred(s) => target_names(&s.value, names, depth + 1),
        _ => {}
    }
}

/// Names captured by a `case` pattern.
fn pattern_names(pattern: &Pattern, names: &mut HashSet<String>, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    match pattern {
        Pattern::MatchAs(p) => {
            if let Some(name) = &p.name {
                names.insert(name.to_string());
            }
            if let Some(inner) = &p.pattern {
                pattern_names(inner, names, d);
            }
        }
        Pattern::MatchStar(p) => {
            if let Some(name) = &p.name {
                names.insert(name.to_string());
            }
        }
        Pattern::MatchMapping(p) => {
            if let Some(rest) = &p.rest {
                names.insert(rest.to_string());
            }
            p.patterns.iter().for_each(|q| pattern_names(q, names, d));
        }
        Pattern::MatchSequence(p) => p.patterns.iter().for_each(|q| pattern_names(q, names, d)),
        Pattern::MatchClass(p) => p
            .patterns
            .iter()
            .chain(&p.kwd_patterns)
            .for_each(|q| pattern_names(q, names, d)),
        Pattern::MatchOr(p) => p.patterns.iter().for_each(|q| pattern_names(q, names, d)),
        Pattern::MatchValue(_) | Pattern::MatchSingleton(_) => {}
    }
}
