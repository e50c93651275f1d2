//! main.py must create a module-level FastAPI app bound to `app`.
//!
//! Accepted: `app = FastAPI(...)`, `app: FastAPI = FastAPI(...)`,
//! `app = fastapi.FastAPI(...)`, `from fastapi import FastAPI as F; app = F()`,
//! and `from mymodule import app` (the app created in one of the app's files).

use rustpython_parser::ast::{Expr, Ranged, Stmt};

use crate::FileCtx;
use crate::diagnostic::{Diagnostic, WHOLE_FILE};
use crate::imports::{Binding, Bindings};

const NAME: &str = "app";

/// How FastAPI is reachable in main.py.
struct Names {
    /// Names bound to the FastAPI class (`FastAPI`, `F`).
    classes: Vec<String>,
    /// Names bound to the fastapi module (`fastapi`, `fa`).
    modules: Vec<String>,
}

impl Names {
    fn from(bindings: &Bindings, body: &[Stmt]) -> Names {
        let mut names = Names {
            classes: Vec::new(),
            modules: Vec::new(),
        };
        // `from fastapi import *` brings FastAPI in too.
        let star = body.iter().any(|s| {
            matches!(s, Stmt::ImportFrom(i) if i.module.as_deref() == Some("fastapi")
                && i.names.iter().any(|a| a.name.as_str() == "*"))
        });
        if star {
            names.classes.push("FastAPI".to_string());
        }
        for (name, binding) in bindings {
            match binding {
                Binding::Member(path)
                    if path == "fastapi.FastAPI" || path == "fastapi.applications.FastAPI" =>
                {
                    names.classes.push(name.clone())
                }
                Binding::Module(path) if path == "fastapi" || path == "fastapi.applications" => {
                    names.modules.push(name.clone())
                }
                _ => {}
            }
        }
        names
    }

    fn imported(&self) -> bool {
        !self.classes.is_empty() || !self.modules.is_empty()
    }

    /// The line that creates the app with what main.py imports.
    fn create_line(&self) -> String {
        match (self.classes.first(), self.modules.first()) {
            (Some(class), _) => format!("app = {class}()"),
            (None, Some(module)) => format!("app = {module}.FastAPI()"),
            (None, None) => "app = FastAPI()".to_string(),
        }
    }
}

/// What an expression assigned to a name is, as far as the app goes.
enum Value {
    /// A call to the imported FastAPI class.
    App,
    /// `FastAPI(...)` or `fastapi.FastAPI(...)` without the import.
    NotImported(&'static str),
    /// The class itself, not called.
    Class,
    /// A call to something else (maybe a factory).
    OtherCall(String),
    /// Anything else.
    Other,
}

fn classify(value: &Expr, names: &Names) -> Value {
    match value {
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Name(n) if names.classes.iter().any(|c| c == n.id.as_str()) => Value::App,
            Expr::Name(n) if n.id.as_str() == "FastAPI" => {
                Value::NotImported("from fastapi import FastAPI")
            }
            Expr::Attribute(a) if a.attr.as_str() == "FastAPI" => match a.value.as_ref() {
                Expr::Name(m) if names.modules.iter().any(|x| x == m.id.as_str()) => Value::App,
                Expr::Name(m) if m.id.as_str() == "fastapi" => Value::NotImported("import fastapi"),
                _ => Value::OtherCall("FastAPI".into()),
            },
            Expr::Name(n) => Value::OtherCall(n.id.to_string()),
            Expr::Attribute(a) => Value::OtherCall(a.attr.to_string()),
            _ => Value::OtherCall("...".into()),
        },
        Expr::Name(n)
            if n.id.as_str() == "FastAPI" || names.classes.iter().any(|c| c == n.id.as_str()) =>
        {
            Value::Class
        }
        Expr::Attribute(a) if a.attr.as_str() == "FastAPI" => Value::Class,
        _ => Value::Other,
    }
}

/// The value assigned to `name` by a statement, if it assigns to it.
fn assigned<'a>(stmt: &'a Stmt, name: &str) -> Option<&'a Expr> {
    let is_name = |e: &Expr| matches!(e, Expr::Name(n) if n.id.as_str() == name);
    match stmt {
        Stmt::Assign(s) if s.targets.iter().any(is_name) => Some(&s.value),
        Stmt::AnnAssign(s) if is_name(&s.target) => s.value.as_deref(),
        _ => None,
    }
}

/// Whether `from <own module> import app` brings the app in.
fn imports_app(stmt: &Stmt, ctx: &FileCtx) -> bool {
    let Stmt::ImportFrom(s) = stmt else {
        return false;
    };
    let level = s.level.as_ref().map_or(0, |l| l.to_u32());
    let module = s.module.as_deref().unwrap_or("");
    let local = level > 0 || ctx.local_modules.contains(module);
    local
        && s.names
            .iter()
            .any(|a| a.asname.as_deref().unwrap_or(&a.name) == NAME)
}

pub(crate) fn check(ctx: &FileCtx, body: &[Stmt], out: &mut Vec<Diagnostic>) {
    let names = Names::from(ctx.bindings, body);
    if body.iter().any(|s| imports_app(s, ctx)) {
        return;
    }
    let assignments: Vec<(&Stmt, &Expr)> = body
        .iter()
        .filter_map(|s| Some((s, assigned(s, NAME)?)))
        .collect();
    if assignments
        .iter()
        .any(|(_, v)| matches!(classify(v, &names), Value::App))
    {
        return;
    }
    if let Some(&(stmt, value)) = assignments.first() {
        out.push(wrong_value(ctx, stmt, value, &names));
        return;
    }
    out.push(missing(ctx, body, &names));
}

fn wrong_value(ctx: &FileCtx, stmt: &Stmt, value: &Expr, names: &Names) -> Diagnostic {
    let at = stmt.range().start().to_usize();
    match classify(value, names) {
        Value::NotImported(import) => ctx
            .error(
                "GF203",
                value.range().start().to_usize(),
                "FastAPI is used here but never imported.",
            )
            .hint(format!("add `{import}` at the top of main.py")),
        Value::Class => ctx
            .error(
                "GF202",
                at,
                "`app` is set to the FastAPI class itself instead of an app made from it.",
            )
            .hint(format!("add parentheses: `{}`", names.create_line())),
        Value::OtherCall(callee) => Diagnostic::warning(
            "GF202",
            ctx.name,
            ctx.position(at),
            format!(
                "`app` is made by `{callee}(...)`, so gofast cannot check that it is a FastAPI app."
            ),
        )
        .hint(format!(
            "if `{callee}` returns a FastAPI app this is fine; the simplest form is `{}`",
            names.create_line()
        )),
        Value::App | Value::Other => ctx
            .error(
                "GF202",
                at,
                "`app` in main.py must be a FastAPI app, but it is set to something else.",
            )
            .hint(format!("create it with `{}`", names.create_line())),
    }
}

fn missing(ctx: &FileCtx, body: &[Stmt], names: &Names) -> Diagnostic {
    if let Some((stmt, inside)) = nested_app(body, names, None, 0) {
        let at = stmt.range().start().to_usize();
        return ctx
            .error("GF201", at, format!("`app` is created inside {inside}."))
            .hint(format!(
                "move `{}` to the top level of main.py, without indentation",
                names.create_line()
            ));
    }
    for stmt in body {
        let Stmt::Assign(s) = stmt else { continue };
        if !matches!(classify(&s.value, names), Value::App) {
            continue;
        }
        if let Some(Expr::Name(other)) = s.targets.first() {
            return ctx
                .error(
                    "GF201",
                    stmt.range().start().to_usize(),
                    format!(
                        "The FastAPI app is named `{}`, but the platform looks for `app`.",
                        other.id
                    ),
                )
                .hint(format!(
                    "rename it to `app` (and `@{}.get` to `@app.get`)",
                    other.id
                ));
        }
    }
    let hint = if names.imported() {
        format!("add this line after the imports: `{}`", names.create_line())
    } else {
        "add these two lines at the top of main.py: `from fastapi import FastAPI` and `app = FastAPI()`".to_string()
    };
    Diagnostic::error(
        "GF201",
        ctx.name,
        WHOLE_FILE,
        "main.py does not create the FastAPI app `app`.",
    )
    .hint(hint)
}

const FUNCTION: &str = "a function, so the platform cannot find it";
const BLOCK: &str = "an indented block, so the platform may not find it";

/// A FastAPI app assigned to `app` below the top level, and where.
fn nested_app<'a>(
    body: &'a [Stmt],
    names: &Names,
    inside: Option<&'static str>,
    depth: u32,
) -> Option<(&'a Stmt, &'static str)> {
    if depth > 50 {
        return None;
    }
    for stmt in body {
        if let Some(inside) = inside
            && assigned(stmt, NAME).is_some_and(|v| matches!(classify(v, names), Value::App))
        {
            return Some((stmt, inside));
        }
        let found = match stmt {
            Stmt::FunctionDef(s) => nested_app(&s.body, names, Some(FUNCTION), depth + 1),
            Stmt::AsyncFunctionDef(s) => nested_app(&s.body, names, Some(FUNCTION), depth + 1),
            Stmt::ClassDef(s) => nested_app(
                &s.body,
                names,
                Some("a class, so the platform cannot find it"),
                depth + 1,
            ),
            Stmt::If(s) => {
                let block = if is_main_guard(&s.test) {
                    "`if __name__ == \"__main__\":`, which does not run on the platform"
                } else {
                    BLOCK
                };
                nested_app(&s.body, names, Some(block), depth + 1)
                    .or_else(|| nested_app(&s.orelse, names, Some(BLOCK), depth + 1))
            }
            Stmt::Try(s) => nested_app(&s.body, names, Some(BLOCK), depth + 1),
            Stmt::With(s) => nested_app(&s.body, names, Some(BLOCK), depth + 1),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn is_main_guard(test: &Expr) -> bool {
    matches!(test, Expr::Compare(c) if matches!(c.left.as_ref(), Expr::Name(n) if n.id.as_str() == "__name__"))
}
