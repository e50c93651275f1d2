//! Where types are written, strings are forward references that pydantic
//! and typing evaluate as code: find them and check them like code.

use rustpython_parser::ast::{Expr, ExprCall, Mod};
use rustpython_parser::{Mode, parse};

use super::Walker;
use crate::scan;

/// Generic types whose subscripts are types, also outside annotations.
const TYPING_GENERICS: &[&str] = &[
    "Optional",
    "Union",
    "List",
    "Dict",
    "Set",
    "FrozenSet",
    "Tuple",
    "Type",
    "Sequence",
    "Mapping",
    "MutableMapping",
    "MutableSequence",
    "Iterable",
    "Iterator",
    "Callable",
    "Awaitable",
    "Coroutine",
    "AsyncIterator",
    "AsyncIterable",
    "Generator",
    "AsyncGenerator",
    "ClassVar",
    "Final",
    "Annotated",
    "Literal",
    "Deque",
    "DefaultDict",
    "OrderedDict",
    "Counter",
    "ChainMap",
    "Required",
    "NotRequired",
    "TypeGuard",
    "list",
    "dict",
    "set",
    "frozenset",
    "tuple",
    "type",
];

/// Whether subscripts of `name` hold types (and strings there are checked
/// as code).
pub(super) fn is_typing_generic(name: &str) -> bool {
    TYPING_GENERICS.contains(&name)
}

impl Walker<'_, '_> {
    /// Call arguments; the few that are types (forward references that
    /// pydantic and typing evaluate) are checked as annotations.
    pub(super) fn call_arguments(&mut self, call: &ExprCall) {
        let callee = match call.func.as_ref() {
            Expr::Name(n) => n.id.as_str(),
            Expr::Attribute(a) => a.attr.as_str(),
            _ => "",
        };
        self.with_annotation(false, |w| {
            for (i, arg) in call.args.iter().enumerate() {
                let is_type = match callee {
                    "ForwardRef" | "TypeAdapter" => i == 0,
                    "TypeVar" | "NewType" => i > 0,
                    _ => false,
                };
                let field_list =
                    i == 1 && matches!(callee, "NamedTuple" | "TypedDict" | "make_dataclass");
                if is_type {
                    w.annotation(Some(arg));
                } else if field_list {
                    w.field_list(arg);
                } else {
                    w.expr(arg);
                }
            }
            for keyword in &call.keywords {
                let value = &keyword.value;
                match (callee, keyword.arg.as_deref(), value) {
                    ("TypeVar", Some("bound"), _) => w.annotation(Some(value)),
                    ("NamedTuple" | "TypedDict", Some(_), _) => w.annotation(Some(value)),
                    // create_model(name, field=(type, default) or type)
                    ("create_model", Some(_), Expr::Tuple(t)) => {
                        if let Some((first, rest)) = t.elts.split_first() {
                            w.annotation(Some(first));
                            w.exprs(rest);
                        }
                    }
                    ("create_model", Some(name), _) if !name.starts_with("__") => {
                        w.annotation(Some(value))
                    }
                    _ => w.expr(value),
                }
            }
        });
    }

    /// The fields of `NamedTuple("P", [("x", int)])`, `TypedDict("T", {"x":
    /// int})` or `make_dataclass("D", [("x", int)])`: their types are types.
    fn field_list(&mut self, fields: &Expr) {
        let field_type = |w: &mut Self, field: &Expr| match field {
            Expr::Tuple(t) => {
                for (i, part) in t.elts.iter().enumerate() {
                    if i == 1 {
                        w.annotation(Some(part));
                    } else {
                        w.expr(part);
                    }
                }
            }
            other => w.expr(other),
        };
        match fields {
            Expr::List(l) => l.elts.iter().for_each(|f| field_type(self, f)),
            Expr::Tuple(t) => t.elts.iter().for_each(|f| field_type(self, f)),
            Expr::Dict(d) => {
                for key in d.keys.iter().flatten() {
                    self.expr(key);
                }
                for value in &d.values {
                    self.annotation(Some(value));
                }
            }
            other => self.expr(other),
        }
    }

    /// In annotations, `Literal[...]` holds values and `Annotated[T, ...]`
    /// holds metadata after its first element: only types are forward refs.
    /// Outside annotations, `Optional["Item"]` and the like still hold
    /// forward references (type aliases are plain assignments).
    pub(super) fn subscript_slice(&mut self, value: &Expr, slice: &Expr) {
        let name = match value {
            Expr::Name(n) => n.id.as_str(),
            Expr::Attribute(a) => a.attr.as_str(),
            _ => "",
        };
        if !self.annotation {
            if TYPING_GENERICS.contains(&name) {
                self.with_annotation(true, |w| w.subscript_slice(value, slice));
            } else {
                self.expr(slice);
            }
            return;
        }
        match (name, slice) {
            ("Literal", _) => self.with_annotation(false, |w| w.expr(slice)),
            ("Annotated", Expr::Tuple(t)) => {
                if let Some((first, rest)) = t.elts.split_first() {
                    self.expr(first);
                    self.with_annotation(false, |w| w.exprs(rest));
                }
            }
            _ => self.expr(slice),
        }
    }

    /// A string annotation is code that pydantic and FastAPI evaluate: parse
    /// it and check it like the rest, reporting at the string.
    pub(super) fn annotation_string(&mut self, text: &str, at: usize) {
        let text = text.trim();
        if self.string_depth >= 2 || text.is_empty() || scan::scan(text).too_deep.is_some() {
            return;
        }
        let Ok(Mod::Expression(parsed)) = parse(text, Mode::Expression, "<annotation>") else {
            return;
        };
        let saved = self
            .ctx
            .anchor
            .replace(Some(self.ctx.anchor.get().unwrap_or(at)));
        self.string_depth += 1;
        self.expr(&parsed.body);
        self.string_depth -= 1;
        self.ctx.anchor.set(saved);
    }
}
