//! Types must be visible in the source. Python (through pydantic, FastAPI
//! and `typing.get_type_hints`) evaluates a string that stands where a type
//! is expected, recursively. A string written there is checked as code
//! (annotations.rs); a string computed at run time is not visible, so
//! wherever a type is expected only types the checker can see are allowed:
//! names that are never assigned a computed value, attributes of modules,
//! subscripts and `|` of those, and pydantic's constrained types.

use rustpython_parser::ast::{Expr, ExprCall, ExprContext, Ranged};

use super::Walker;
use super::module_refs::ModuleRef;
use crate::imports::Binding;
use crate::values::{self, Bound, Values};

/// How far aliases (`A = B`, `B = list[C]`) and re-exports are followed.
const MAX_ALIAS_DEPTH: u32 = 8;

/// Calls that build a class from a namespace or field list given as values,
/// so its field types may be strings computed at run time.
const CLASS_BUILDERS: &[&str] = &["NamedTuple", "TypedDict", "make_dataclass"];

impl Walker<'_, '_> {
    /// Checks one node in a type position (children are visited by the
    /// walk); true when it was reported.
    pub(super) fn type_position(&mut self, expr: &Expr) -> bool {
        let problem = match expr {
            Expr::Name(n) if matches!(n.ctx, ExprContext::Load) => {
                let name = n.id.as_str();
                (!self.name_is_type(name)).then(|| {
                    format!(
                        "`{name}` is used as a type, but the app also assigns it a value; \
                         Python would run a string value as code"
                    )
                })
            }
            Expr::Attribute(a) => match self.module_path(&a.value) {
                Some(ModuleRef::Allowed(_)) => None,
                Some(ModuleRef::Local(module)) => {
                    (!self.member_is_type(&module, &a.attr, 0)).then(|| {
                        format!(
                            "`{module}.{}` is used as a type, but {module}.py assigns it a value; \
                             Python would run a string value as code",
                            a.attr
                        )
                    })
                }
                None => Some(format!(
                    "`.{}` is used as a type, but only types named directly or through a \
                     module can be checked",
                    a.attr
                )),
            },
            Expr::Call(c) => (!values::TYPE_CONSTRUCTORS.contains(&values::callee(c))).then(|| {
                "a call is used as a type, and its result could be a string that Python runs as code"
                    .to_string()
            }),
            Expr::BinOp(b) if values::is_type_union(b.op) => None,
            Expr::Subscript(_)
            | Expr::Tuple(_)
            | Expr::List(_)
            | Expr::Starred(_)
            | Expr::Constant(_)
            | Expr::Name(_) => None,
            _ => Some(
                "this expression is used as a type, and its value could be a string that \
                 Python runs as code"
                    .to_string(),
            ),
        };
        let Some(problem) = problem else {
            return false;
        };
        self.out.push(
            self.ctx
                .error(
                    "GF411",
                    expr.range().start().to_usize(),
                    format!("{problem}."),
                )
                .hint(
                    "write the type itself, e.g. `Item`, `list[int]` or `str | None`; \
                     for an alias assign a type (`UserId = int`)",
                ),
        );
        true
    }

    /// Whether every binding of `name` in scope is a type.
    fn name_is_type(&self, name: &str) -> bool {
        // A name of the enclosing function: all of the file's bindings
        // count; otherwise those of the module and its classes.
        let values = if self.function_local(name) {
            &self.ctx.values.all
        } else {
            &self.ctx.values.global
        };
        self.bound_is_type(values, self.ctx.bindings, name, 0)
    }

    fn bound_is_type(
        &self,
        values: &Values,
        bindings: &crate::imports::Bindings,
        name: &str,
        depth: u32,
    ) -> bool {
        if depth > MAX_ALIAS_DEPTH {
            return false;
        }
        if let Some(bounds) = values.get(name) {
            return bounds.iter().all(|bound| match bound {
                Bound::TypeAlias => true,
                Bound::Opaque => false,
                Bound::Value(value) => self.value_is_type(values, bindings, value, depth + 1),
            });
        }
        match bindings.get(name) {
            Some(Binding::LocalMember(module, member)) => {
                self.member_is_type(module, member, depth + 1)
            }
            // Imports, `def`, `class` and builtins.
            _ => true,
        }
    }

    /// Whether `name` in the app's own `module` is a type.
    fn member_is_type(&self, module: &str, name: &str, depth: u32) -> bool {
        match (
            self.ctx.module_values.get(module),
            self.ctx.module_bindings.get(module),
        ) {
            (Some(values), Some(bindings)) => {
                self.bound_is_type(&values.global, bindings, name, depth)
            }
            // A module that is not there fails at import (GF304).
            _ => true,
        }
    }

    /// Whether an assigned value is a type (for aliases like `UserId = int`).
    fn value_is_type(
        &self,
        values: &Values,
        bindings: &crate::imports::Bindings,
        value: &Expr,
        depth: u32,
    ) -> bool {
        if depth > MAX_ALIAS_DEPTH {
            return false;
        }
        let d = depth + 1;
        let is_type = |e: &Expr| self.value_is_type(values, bindings, e, d);
        match value {
            Expr::Name(n) => self.bound_is_type(values, bindings, n.id.as_str(), d),
            Expr::Attribute(a) => match self.alias_module(bindings, &a.value) {
                Some(ModuleRef::Allowed(_)) => true,
                Some(ModuleRef::Local(module)) => self.member_is_type(&module, &a.attr, d),
                None => false,
            },
            Expr::Subscript(s) => {
                let generic = match s.value.as_ref() {
                    Expr::Name(n) => n.id.as_str(),
                    Expr::Attribute(a) => a.attr.as_str(),
                    _ => "",
                };
                let arguments: Vec<&Expr> = match s.slice.as_ref() {
                    Expr::Tuple(t) => t.elts.iter().collect(),
                    one => vec![one],
                };
                let arguments = match generic {
                    "Literal" => Vec::new(),
                    "Annotated" => arguments.into_iter().take(1).collect(),
                    _ => arguments,
                };
                // Strings in typing's generics were checked as code where
                // they are written (annotations.rs).
                let checked_strings = super::annotations::is_typing_generic(generic);
                is_type(&s.value)
                    && arguments.into_iter().all(|a| match a {
                        Expr::Constant(c) if !values::is_non_text(&c.value) => checked_strings,
                        other => is_type(other),
                    })
            }
            Expr::BinOp(b) => values::is_type_union(b.op) && is_type(&b.left) && is_type(&b.right),
            Expr::Call(c) => values::TYPE_CONSTRUCTORS.contains(&values::callee(c)),
            Expr::Constant(c) => values::is_non_text(&c.value),
            Expr::List(l) => l.elts.iter().all(is_type),
            Expr::Tuple(t) => t.elts.iter().all(is_type),
            _ => false,
        }
    }

    /// The module an attribute base in an alias denotes: a name bound by an
    /// import of this file or another.
    fn alias_module(&self, bindings: &crate::imports::Bindings, base: &Expr) -> Option<ModuleRef> {
        match base {
            Expr::Name(n) => self.resolve(bindings.get(n.id.as_str())?, 0),
            Expr::Attribute(_) => self.module_path(base),
            _ => None,
        }
    }

    /// Classes built from a namespace given as a value: `type(name, bases,
    /// ns)`, `create_model(name, **fields)`, `get_type_hints` with its own
    /// namespaces, and NamedTuple/TypedDict/make_dataclass with a field
    /// list that is not written out.
    pub(super) fn dynamic_namespace(&mut self, call: &ExprCall) {
        let callee = values::callee(call);
        let bare = matches!(call.func.as_ref(), Expr::Name(_));
        let problem = match callee {
            "type" if bare && !self.function_local("type") => (call.args.len() >= 3
                || call.args.iter().any(|a| matches!(a, Expr::Starred(_))))
            .then_some("`type(name, bases, namespace)` builds a class from a namespace"),
            "create_model" => call
                .keywords
                .iter()
                .any(|k| k.arg.is_none())
                .then_some("`create_model(**fields)` takes field types"),
            "get_type_hints" => (call.args.len() > 1
                || call.args.iter().any(|a| matches!(a, Expr::Starred(_)))
                || call.keywords.iter().any(|k| {
                    matches!(k.arg.as_deref(), None | Some("globalns") | Some("localns"))
                }))
            .then_some("`get_type_hints` with namespaces of the app's making evaluates names"),
            name if CLASS_BUILDERS.contains(&name) => call
                .args
                .get(1)
                .is_some_and(|fields| {
                    !matches!(fields, Expr::List(_) | Expr::Tuple(_) | Expr::Dict(_))
                })
                .then_some("this builds a class whose field types are given as values"),
            _ => None,
        };
        if let Some(problem) = problem {
            self.out.push(
                self.ctx
                    .error(
                        "GF411",
                        call.range.start().to_usize(),
                        format!(
                            "{problem} that the checker cannot see; Python would run a string \
                             type there as code."
                        ),
                    )
                    .hint("write the class out: `class Item(BaseModel):` with annotated fields"),
            );
        }
    }
}
