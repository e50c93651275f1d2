//! Builtins, attributes and string tricks that exist to escape a teaching
//! sandbox. The walker (walk.rs) finds them in the tree; this module decides.

use rustpython_parser::ast::{Expr, ExprCall};

use crate::FileCtx;
use crate::diagnostic::Diagnostic;

/// Dunder attributes apps may use: names and ordinary protocol methods.
/// Every other dunder attribute (`__globals__`, `__subclasses__`, `__dict__`,
/// `__self__`...) is refused.
const ALLOWED_DUNDER_ATTRS: &[&str] = &[
    "__name__",
    "__qualname__",
    "__doc__",
    "__module__",
    "__class__",
    "__version__",
    "__main__",
    "__members__",
    "__fields__",
    "__init__",
    "__post_init__",
    "__str__",
    "__repr__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__bool__",
    "__len__",
    "__iter__",
    "__next__",
    "__aiter__",
    "__anext__",
    "__contains__",
    "__getitem__",
    "__setitem__",
    "__enter__",
    "__exit__",
    "__aenter__",
    "__aexit__",
    "__call__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__floordiv__",
    "__mod__",
];

/// Dunder names (not attributes) apps may use.
const ALLOWED_DUNDER_NAMES: &[&str] = &[
    "__name__",
    "__doc__",
    "__file__",
    "__debug__",
    "__class__",
    "__module__",
    "__qualname__",
    "__all__",
    "__slots__",
    "__version__",
    "__author__",
];

/// Attributes of frames, code objects, generators and tracebacks: the
/// non-dunder half of most sandbox escapes.
const ESCAPE_ATTRS: &[&str] = &[
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_back",
    "f_code",
    "f_trace",
    "gi_frame",
    "gi_code",
    "gi_yieldfrom",
    "cr_frame",
    "cr_code",
    "cr_await",
    "ag_frame",
    "ag_code",
    "tb_frame",
    "tb_next",
    "co_code",
    "co_consts",
    "co_names",
    "func_globals",
    "func_code",
    "im_func",
    "im_self",
];

/// Refused builtins: name, code, what it does and why that is refused, what
/// to do instead.
const BUILTINS: &[(&str, &str, &str, &str)] = &[
    (
        "eval",
        "GF401",
        "runs code from a string, which gofast apps cannot do",
        "write the code directly; int(), float() and json.loads() turn text into values",
    ),
    (
        "exec",
        "GF401",
        "runs code from a string, which gofast apps cannot do",
        "write the code directly in your function",
    ),
    (
        "compile",
        "GF401",
        "turns strings into code, which gofast apps cannot do",
        "to match text patterns use `re.compile`",
    ),
    (
        "__import__",
        "GF401",
        "imports modules by name while the app runs, which gofast apps cannot do",
        "use a normal `import` statement at the top of the file",
    ),
    (
        "open",
        "GF402",
        "reads and writes files, and gofast apps have no disk",
        "keep data in memory (dicts, lists); to receive a file from a client use `UploadFile`",
    ),
    (
        "input",
        "GF403",
        "waits for someone to type in a terminal, and a deployed app has no terminal",
        "take values from the request: path or query parameters, or a request body model",
    ),
    (
        "breakpoint",
        "GF403",
        "starts the debugger, which needs a terminal a deployed app does not have",
        "use print() or logging to see values",
    ),
    (
        "help",
        "GF403",
        "is for interactive sessions, and a deployed app has no terminal",
        "read the documentation on your own computer",
    ),
    (
        "exit",
        "GF403",
        "would stop the whole server, not just this request",
        "raise HTTPException(status_code=..., detail=...) to end a request with an error",
    ),
    (
        "quit",
        "GF403",
        "would stop the whole server, not just this request",
        "raise HTTPException(status_code=..., detail=...) to end a request with an error",
    ),
    (
        "globals",
        "GF404",
        "exposes the interpreter's namespaces, which the sandbox does not allow",
        "keep the values you need in a dict of your own",
    ),
    (
        "locals",
        "GF404",
        "exposes the interpreter's namespaces, which the sandbox does not allow",
        "keep the values you need in a dict of your own",
    ),
    (
        "vars",
        "GF404",
        "exposes an object's internals, which the sandbox does not allow",
        "use dataclasses.asdict(obj), or model.model_dump() for pydantic models",
    ),
];

/// Refused builtins whose names people also pick for their own functions
/// and variables: their hint says to rename.
const COMMON_NAMES: &[&str] = &["open", "input", "compile", "vars", "help", "exit", "quit"];

pub(crate) fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

/// A dunder attribute apps may not use.
pub(crate) fn is_refused_dunder(name: &str) -> bool {
    is_dunder(name) && !ALLOWED_DUNDER_ATTRS.contains(&name)
}

/// An attribute name that is refused on any object (dunder or frame attribute).
pub(crate) fn is_escape_attr(name: &str) -> bool {
    is_refused_dunder(name) || ESCAPE_ATTRS.contains(&name)
}

/// A name read from the enclosing scopes: refused builtins and dunder names.
/// `function_local` is true when an enclosing function binds the name.
pub(crate) fn name(
    ctx: &FileCtx,
    name: &str,
    at: usize,
    load: bool,
    function_local: bool,
) -> Option<Diagnostic> {
    if function_local {
        return None;
    }
    if load && let Some(&(_, code, what, hint)) = BUILTINS.iter().find(|(n, ..)| *n == name) {
        let hint = if COMMON_NAMES.contains(&name) {
            format!("{hint} (if `{name}` is your own function or variable, rename it)")
        } else {
            hint.to_string()
        };
        return Some(ctx.error(code, at, format!("`{name}` {what}.")).hint(hint));
    }
    if is_dunder(name) && !ALLOWED_DUNDER_NAMES.contains(&name) {
        return Some(
            ctx.error(
                "GF405",
                at,
                format!(
                    "`{name}` is a special name that can escape the sandbox, so apps cannot use it."
                ),
            )
            .hint("use ordinary names and imports"),
        );
    }
    None
}

/// A refused dunder or frame attribute `attr`.
pub(crate) fn dunder_attribute(ctx: &FileCtx, attr: &str, at: usize) -> Diagnostic {
    let hint = match attr {
        "__dict__" => "use dataclasses.asdict(obj), or model.model_dump() for pydantic models",
        "__annotations__" => {
            "use typing.get_type_hints(cls), or Model.model_fields for pydantic models"
        }
        "__subclasses__" | "__bases__" | "__base__" | "__mro__" => {
            "use isinstance() and issubclass() to check types"
        }
        _ => {
            "use the object's ordinary attributes and methods; type(obj).__name__ gives a class name"
        }
    };
    let what = if is_dunder(attr) {
        "a special attribute"
    } else {
        "an interpreter attribute"
    };
    ctx.error(
        "GF405",
        at,
        format!("`{attr}` is {what} that can escape the sandbox, so apps cannot use it."),
    )
    .hint(hint)
}

/// The name a call is made through: `f` for `f(...)` and `x.f(...)`.
fn callee_name(call: &ExprCall) -> Option<(&str, bool)> {
    match call.func.as_ref() {
        Expr::Name(n) => Some((n.id.as_str(), true)),
        Expr::Attribute(a) => Some((a.attr.as_str(), false)),
        _ => None,
    }
}

/// `getattr(builtins, ...)`, and logging to a file. (Strings naming refused
/// attributes, for getattr, attrgetter and the like, and format strings like
/// "{0.__globals__}" are caught as string constants.)
/// `function_local` says whether a name is bound by an enclosing function.
pub(crate) fn call(
    ctx: &FileCtx,
    call: &ExprCall,
    function_local: impl Fn(&str) -> bool,
) -> Option<Diagnostic> {
    let (callee, bare) = callee_name(call)?;
    let at = call.range.start().to_usize();
    match callee {
        "getattr" | "setattr" | "delattr" | "hasattr" if bare && !function_local(callee) => {
            if let Some(Expr::Name(first)) = call.args.first()
                && first.id.as_str() == "builtins"
            {
                return Some(
                    ctx.error("GF406", at, format!("`{callee}` on `builtins` reaches Python's built-in functions by name, which the sandbox does not allow."))
                        .hint("call the functions you need directly"),
                );
            }
            None
        }
        "basicConfig" if call.keywords.iter().any(|k| k.arg.as_deref() == Some("filename")) => Some(
            ctx.error("GF402", at, "`basicConfig(filename=...)` writes logs to a file, and gofast apps have no disk.")
                .hint("leave out `filename`: logs printed to the console are shown in `gofast logs`"),
        ),
        // FastAPI's `app.frontend("/", directory="dist")` (and a router's) serves
        // a folder from disk like StaticFiles: the same code and reason. Its
        // `directory` is keyword-only, so a call without it (or `**options`)
        // is someone else's `frontend` method.
        "frontend" if !bare && call.keywords.iter().any(|k| matches!(k.arg.as_deref(), Some("directory") | None)) => {
            let files = crate::modules::Capability::Files;
            let receiver = match call.func.as_ref() {
                Expr::Attribute(a) => match a.value.as_ref() {
                    Expr::Name(n) => format!("{}.", n.id),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            Some(
                ctx.error(files.code(), at, format!("`{receiver}frontend(directory=...)` {}.", files.why()))
                    .hint("return pages from your endpoints instead, e.g. `return HTMLResponse(\"<h1>Hello</h1>\")`"),
            )
        }
        _ => None,
    }
}

fn format_dunder(ctx: &FileCtx, attr: &str, at: usize) -> Diagnostic {
    ctx.error(
        "GF406",
        at,
        format!(
            "This format string reads the special attribute `{attr}`, which can escape the sandbox."
        ),
    )
    .hint("format ordinary values, e.g. \"{0.name}\" or an f-string")
}

/// A string constant that names a refused attribute: as a whole or as a
/// dotted path (`"__globals__"`, `"__init__.__globals__"`, for getattr,
/// operator.attrgetter and the like), or in a format field
/// (`"{0.__globals__}"`, for str.format and logging's `{` style).
pub(crate) fn string(ctx: &FileCtx, text: &str, at: usize) -> Option<Diagnostic> {
    let is_path = text.split('.').all(crate::limits::is_identifier);
    if is_path && let Some(attr) = text.split('.').find(|part| is_escape_attr(part)) {
        return Some(
            ctx.error(
                "GF406",
                at,
                format!("The string \"{text}\" names `{attr}`, an attribute that can escape the sandbox, so apps cannot use it."),
            )
            .hint("use ordinary attribute names"),
        );
    }
    let attr = format_field_escape(text)?;
    Some(format_dunder(ctx, &attr, at))
}

/// The first refused attribute used in a `{field.attr}` or `{field[attr]}`.
fn format_field_escape(text: &str) -> Option<String> {
    if !text.contains('{') || !text.contains('_') {
        return None;
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let end = rest.find(['}', '!', ':']).unwrap_or(rest.len());
        let field = &rest[..end];
        if let Some(attr) = field
            .split(['.', '[', ']'])
            .skip(1)
            .map(str::trim)
            .find(|part| is_escape_attr(part))
        {
            return Some(attr.to_string());
        }
        rest = &rest[end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dunder_rules() {
        assert!(is_refused_dunder("__globals__"));
        assert!(is_refused_dunder("__dict__"));
        assert!(!is_refused_dunder("__name__"));
        assert!(!is_refused_dunder("__init__"));
        assert!(!is_refused_dunder("__"));
        assert!(!is_refused_dunder("name"));
        assert!(is_escape_attr("f_back"));
    }

    #[test]
    fn format_fields() {
        assert_eq!(
            format_field_escape("{0.__globals__}"),
            Some("__globals__".into())
        );
        assert_eq!(
            format_field_escape("{x[__builtins__]}"),
            Some("__builtins__".into())
        );
        assert_eq!(format_field_escape("{0.name} {1:>{width}}"), None);
        assert_eq!(format_field_escape("{{0.__globals__}}"), None);
        assert_eq!(format_field_escape("{0.__class__.__name__}"), None);
        assert_eq!(format_field_escape("plain __text__"), None);
    }
}
