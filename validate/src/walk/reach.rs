//! Attributes the source does not name: reached by a name computed at run
//! time (`getattr(obj, "__glo" + "bals__")`), and private attributes of
//! library objects (`ForwardRef(...)._evaluate`), which are where the
//! interpreter's internals are.

use rustpython_parser::ast::{Constant, Expr, ExprCall, Ranged};

use super::Walker;
use crate::forbidden;

/// Builtins that take an attribute name as a value.
const GETTERS: &[&str] = &["getattr", "setattr", "delattr"];

/// `operator` helpers that take attribute or method names as values.
const OPERATOR_GETTERS: &[&str] = &["attrgetter", "methodcaller"];

/// Public names that begin with `_`: namedtuple's API.
const PUBLIC_UNDERSCORE: &[&str] = &["_asdict", "_replace", "_fields", "_make", "_field_defaults"];

/// `_value_`, `_missing_`: enum's documented hooks.
fn is_sunder(name: &str) -> bool {
    name.len() > 2 && name.ends_with('_') && !name.ends_with("__")
}

fn literal_text(expr: &Expr) -> bool {
    matches!(expr, Expr::Constant(c) if matches!(c.value, Constant::Str(_)))
}

impl Walker<'_, '_> {
    /// A method's receiver: the first parameter of a `def` directly in a
    /// class body (not a staticmethod), unless the method rebinds it.
    pub(super) fn receiver(
        &self,
        decorators: &[Expr],
        args: &rustpython_parser::ast::Arguments,
        body: &[rustpython_parser::ast::Stmt],
    ) -> Option<String> {
        if !self.class_body {
            return None;
        }
        let static_method = decorators
            .iter()
            .any(|d| matches!(d, Expr::Name(n) if n.id.as_str() == "staticmethod"));
        if static_method {
            return None;
        }
        let first = args.posonlyargs.iter().chain(&args.args).next()?;
        let name = first.def.arg.to_string();
        (!crate::scope::body_names(body).contains(&name)).then_some(name)
    }

    /// Whether `expr` is the receiver of the method it is used in.
    fn is_receiver(&self, expr: &Expr) -> bool {
        let Expr::Name(n) = expr else {
            return false;
        };
        let name = n.id.as_str();
        self.scope_of(name)
            .is_some_and(|s| s.receiver.as_deref() == Some(name))
    }

    /// `obj._name`: private attributes belong to the object's own class.
    /// An app's class uses its own through `self` and `cls`; anything else
    /// reaches into a library's internals (`ForwardRef(...)._evaluate`,
    /// `request._receive`).
    pub(super) fn private_attribute(&mut self, value: &Expr, attr: &str, at: usize) {
        let private = attr.starts_with('_')
            && !forbidden::is_dunder(attr)
            && !is_sunder(attr)
            && !PUBLIC_UNDERSCORE.contains(&attr);
        if !private || self.is_receiver(value) {
            return;
        }
        self.out.push(
            self.ctx
                .error(
                    "GF410",
                    at,
                    format!(
                        "`{attr}` is a private attribute; apps may use private names only on \
                         their own objects, through `self` or `cls` in a method."
                    ),
                )
                .hint("use the object's public attributes and methods"),
        );
    }

    /// `getattr(obj, name)` with a name computed at run time can reach any
    /// attribute, `__globals__` included; so can attrgetter and
    /// methodcaller. The name must be written as a string in the call.
    pub(super) fn attribute_by_runtime_name(&mut self, call: &ExprCall) {
        let (name, literal) = match call.func.as_ref() {
            Expr::Name(n) if GETTERS.contains(&n.id.as_str()) => {
                if self.function_local(n.id.as_str()) {
                    return;
                }
                let literal = call.args.len() >= 2
                    && !call.args[..2].iter().any(|a| matches!(a, Expr::Starred(_)))
                    && literal_text(&call.args[1]);
                (n.id.as_str(), literal)
            }
            func if self.operator_getter(func).is_some() => {
                let name = self.operator_getter(func).unwrap_or_default();
                let names: &[Expr] = if name == "methodcaller" {
                    call.args.get(..1).unwrap_or(&[])
                } else {
                    &call.args
                };
                (name, !names.is_empty() && names.iter().all(literal_text))
            }
            _ => return,
        };
        let splat = call.keywords.iter().any(|k| k.arg.is_none());
        if literal && !splat {
            return;
        }
        self.out.push(
            self.ctx
                .error(
                    "GF409",
                    call.range.start().to_usize(),
                    format!(
                        "`{name}` with an attribute name computed while the app runs can reach \
                         any attribute, so apps must write the name as a string here."
                    ),
                )
                .hint(match name {
                    "setattr" => {
                        "set attributes by name (`item.price = 3`); to update a pydantic model \
                         from a dict use `item.model_copy(update=data)`"
                    }
                    _ => {
                        "use `obj.name`, or keep values you look up by name in a dict: \
                         `values[name]`"
                    }
                }),
        );
    }

    /// `attrgetter` or `methodcaller` from `operator`, however it is named.
    fn operator_getter(&self, func: &Expr) -> Option<&'static str> {
        let name = match func {
            Expr::Name(n) => match self.ctx.bindings.get(n.id.as_str()) {
                Some(crate::imports::Binding::Member(path)) => {
                    path.strip_prefix("operator.").unwrap_or_default()
                }
                _ => return None,
            },
            Expr::Attribute(a) => a.attr.as_str(),
            _ => return None,
        };
        OPERATOR_GETTERS.iter().find(|g| **g == name).copied()
    }

    /// `getattr` (or attrgetter...) itself passed around: `f = getattr`,
    /// `map(getattr, objs, names)` call it with names the source does not show.
    pub(super) fn attribute_getter_as_value(&mut self, expr: &Expr) {
        let name = match expr {
            Expr::Name(n)
                if GETTERS.contains(&n.id.as_str())
                    && matches!(n.ctx, rustpython_parser::ast::ExprContext::Load)
                    && !self.function_local(n.id.as_str()) =>
            {
                n.id.as_str()
            }
            Expr::Name(_) | Expr::Attribute(_) => match self.operator_getter(expr) {
                Some(name) => name,
                None => return,
            },
            _ => return,
        };
        self.out.push(
            self.ctx
                .error(
                    "GF409",
                    expr.range().start().to_usize(),
                    format!(
                        "`{name}` is used here without being called, so the attribute names it \
                         will get cannot be checked."
                    ),
                )
                .hint("call it directly with the attribute name written as a string"),
        );
    }
}
