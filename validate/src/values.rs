//! What each name of a file is assigned, so that a name used as a type can be
//! told from a value the app computes. Python evaluates a string used as a
//! type (pydantic, FastAPI and `typing.get_type_hints` do, recursively), so
//! `s = "__imp" + "ort__('os')"` followed by `x: s` or `List[s]` runs code
//! the checker never saw as code.
//!
//! The collection is flow-insensitive and covers the whole file (functions
//! and classes included): a name is a type only if every binding of it is.

use std::collections::{HashMap, HashSet};

use rustpython_parser::ast::{Constant, ExceptHandler, Expr, Operator, Pattern, Stmt};

/// How a name is bound, besides imports, `def` and `class` (which are fine).
#[derive(Debug, Clone)]
pub(crate) enum Bound {
    /// `name = value` (or `name: T = value`).
    Value(Expr),
    /// `name: TypeAlias = ...`: the value is checked as a type where it is.
    TypeAlias,
    /// Anything the checker cannot follow: loop and `with` targets,
    /// unpacking, `:=`, `+=`, parameters, `except ... as`, `case` captures.
    Opaque,
}

/// Every binding by assignment of every name in a scope.
pub(crate) type Values = HashMap<String, Vec<Bound>>;

/// A file's bindings: those of the module and its classes (where types are
/// looked up when they are evaluated), and all of them, functions included.
#[derive(Debug, Default)]
pub(crate) struct FileValues {
    pub(crate) global: Values,
    pub(crate) all: Values,
}

struct Collector {
    out: FileValues,
    /// Names some function declares `global`: its bindings are the module's.
    declared_global: HashSet<String>,
}

/// Deepest statement or expression nesting followed; the parser's own
/// bound (scan.rs) keeps real files far below.
const MAX_DEPTH: u32 = 200;

pub(crate) fn collect(body: &[Stmt]) -> FileValues {
    let mut declared_global = HashSet::new();
    globals(body, &mut declared_global, 0);
    let mut collector = Collector {
        out: FileValues::default(),
        declared_global,
    };
    stmts(body, &mut collector, false, 0);
    collector.out
}

/// Every name of a `global` statement, anywhere.
fn globals(body: &[Stmt], names: &mut HashSet<String>, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    for stmt in body {
        match stmt {
            Stmt::Global(s) => names.extend(s.names.iter().map(|n| n.to_string())),
            Stmt::FunctionDef(s) => globals(&s.body, names, d),
            Stmt::AsyncFunctionDef(s) => globals(&s.body, names, d),
            Stmt::ClassDef(s) => globals(&s.body, names, d),
            Stmt::For(s) => {
                globals(&s.body, names, d);
                globals(&s.orelse, names, d);
            }
            Stmt::AsyncFor(s) => {
                globals(&s.body, names, d);
                globals(&s.orelse, names, d);
            }
            Stmt::While(s) => {
                globals(&s.body, names, d);
                globals(&s.orelse, names, d);
            }
            Stmt::If(s) => {
                globals(&s.body, names, d);
                globals(&s.orelse, names, d);
            }
            Stmt::With(s) => globals(&s.body, names, d),
            Stmt::AsyncWith(s) => globals(&s.body, names, d),
            Stmt::Try(s) => {
                globals(&s.body, names, d);
                for ExceptHandler::ExceptHandler(h) in &s.handlers {
                    globals(&h.body, names, d);
                }
                globals(&s.orelse, names, d);
                globals(&s.finalbody, names, d);
            }
            Stmt::TryStar(s) => {
                globals(&s.body, names, d);
                for ExceptHandler::ExceptHandler(h) in &s.handlers {
                    globals(&h.body, names, d);
                }
                globals(&s.orelse, names, d);
                globals(&s.finalbody, names, d);
            }
            Stmt::Match(s) => {
                for case in &s.cases {
                    globals(&case.body, names, d);
                }
            }
            _ => {}
        }
    }
}

impl Collector {
    fn bind(&mut self, name: &str, bound: Bound, in_function: bool) {
        if !in_function || self.declared_global.contains(name) {
            self.out
                .global
                .entry(name.to_string())
                .or_default()
                .push(bound.clone());
        }
        self.out
            .all
            .entry(name.to_string())
            .or_default()
            .push(bound);
    }
}

/// Names in a target that are not a plain `name = ...` are opaque.
fn opaque_target(target: &Expr, values: &mut Collector, f: bool, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    match target {
        Expr::Name(n) => values.bind(&n.id, Bound::Opaque, f),
        Expr::Tuple(t) => t
            .elts
            .iter()
            .for_each(|e| opaque_target(e, values, f, depth + 1)),
        Expr::List(l) => l
            .elts
            .iter()
            .for_each(|e| opaque_target(e, values, f, depth + 1)),
        Expr::Starred(s) => opaque_target(&s.value, values, f, depth + 1),
        _ => {}
    }
}

/// Parameters bind in the function: never the module's.
fn arguments(
    args: &rustpython_parser::ast::Arguments,
    values: &mut Collector,
    f: bool,
    depth: u32,
) {
    for arg in args
        .posonlyargs
        .iter()
        .chain(&args.args)
        .chain(&args.kwonlyargs)
    {
        values.bind(&arg.def.arg, Bound::Opaque, true);
        if let Some(default) = &arg.default {
            expr(default, values, f, depth);
        }
    }
    for arg in args.vararg.iter().chain(&args.kwarg) {
        values.bind(&arg.arg, Bound::Opaque, true);
    }
}

fn stmts(body: &[Stmt], values: &mut Collector, f: bool, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    for stmt in body {
        match stmt {
            Stmt::Assign(s) => {
                for target in &s.targets {
                    match target {
                        Expr::Name(n) => values.bind(&n.id, Bound::Value((*s.value).clone()), f),
                        other => opaque_target(other, values, f, d),
                    }
                }
                expr(&s.value, values, f, d);
            }
            Stmt::AnnAssign(s) => {
                if let (Expr::Name(n), Some(value)) = (s.target.as_ref(), s.value.as_deref()) {
                    let alias = matches!(s.annotation.as_ref(), Expr::Name(a) if a.id.as_str() == "TypeAlias")
                        || matches!(s.annotation.as_ref(), Expr::Attribute(a) if a.attr.as_str() == "TypeAlias");
                    let bound = if alias {
                        Bound::TypeAlias
                    } else {
                        Bound::Value(value.clone())
                    };
                    values.bind(&n.id, bound, f);
                    expr(value, values, f, d);
                }
            }
            Stmt::AugAssign(s) => {
                opaque_target(&s.target, values, f, d);
                expr(&s.value, values, f, d);
            }
            Stmt::For(s) => {
                opaque_target(&s.target, values, f, d);
                expr(&s.iter, values, f, d);
                stmts(&s.body, values, f, d);
                stmts(&s.orelse, values, f, d);
            }
            Stmt::AsyncFor(s) => {
                opaque_target(&s.target, values, f, d);
                expr(&s.iter, values, f, d);
                stmts(&s.body, values, f, d);
                stmts(&s.orelse, values, f, d);
            }
            Stmt::With(s) => {
                for item in &s.items {
                    expr(&item.context_expr, values, f, d);
                    if let Some(vars) = &item.optional_vars {
                        opaque_target(vars, values, f, d);
                    }
                }
                stmts(&s.body, values, f, d);
            }
            Stmt::AsyncWith(s) => {
                for item in &s.items {
                    expr(&item.context_expr, values, f, d);
                    if let Some(vars) = &item.optional_vars {
                        opaque_target(vars, values, f, d);
                    }
                }
                stmts(&s.body, values, f, d);
            }
            Stmt::FunctionDef(s) => {
                arguments(&s.args, values, f, d);
                stmts(&s.body, values, true, d);
            }
            Stmt::AsyncFunctionDef(s) => {
                arguments(&s.args, values, f, d);
                stmts(&s.body, values, true, d);
            }
            Stmt::ClassDef(s) => stmts(&s.body, values, f, d),
            Stmt::While(s) => {
                expr(&s.test, values, f, d);
                stmts(&s.body, values, f, d);
                stmts(&s.orelse, values, f, d);
            }
            Stmt::If(s) => {
                expr(&s.test, values, f, d);
                stmts(&s.body, values, f, d);
                stmts(&s.orelse, values, f, d);
            }
            Stmt::Try(s) => {
                stmts(&s.body, values, f, d);
                handlers(&s.handlers, values, f, d);
                stmts(&s.orelse, values, f, d);
                stmts(&s.finalbody, values, f, d);
            }
            Stmt::TryStar(s) => {
                stmts(&s.body, values, f, d);
                handlers(&s.handlers, values, f, d);
                stmts(&s.orelse, values, f, d);
                stmts(&s.finalbody, values, f, d);
            }
            Stmt::Match(s) => {
                expr(&s.subject, values, f, d);
                for case in &s.cases {
                    pattern(&case.pattern, values, f, d);
                    stmts(&case.body, values, f, d);
                }
            }
            Stmt::Expr(s) => expr(&s.value, values, f, d),
            Stmt::Return(s) => {
                if let Some(value) = &s.value {
                    expr(value, values, f, d);
                }
            }
            _ => {}
        }
    }
}

fn handlers(handlers: &[ExceptHandler], values: &mut Collector, f: bool, depth: u32) {
    for ExceptHandler::ExceptHandler(h) in handlers {
        if let Some(name) = &h.name {
            values.bind(name, Bound::Opaque, f);
        }
        stmts(&h.body, values, f, depth);
    }
}

fn pattern(p: &Pattern, values: &mut Collector, f: bool, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    match p {
        Pattern::MatchAs(p) => {
            if let Some(name) = &p.name {
                values.bind(name, Bound::Opaque, f);
            }
            if let Some(inner) = &p.pattern {
                pattern(inner, values, f, d);
            }
        }
        Pattern::MatchStar(p) => {
            if let Some(name) = &p.name {
                values.bind(name, Bound::Opaque, f);
            }
        }
        Pattern::MatchMapping(p) => {
            if let Some(rest) = &p.rest {
                values.bind(rest, Bound::Opaque, f);
            }
            p.patterns.iter().for_each(|q| pattern(q, values, f, d));
        }
        Pattern::MatchSequence(p) => p.patterns.iter().for_each(|q| pattern(q, values, f, d)),
        Pattern::MatchClass(p) => p
            .patterns
            .iter()
            .chain(&p.kwd_patterns)
            .for_each(|q| pattern(q, values, f, d)),
        Pattern::MatchOr(p) => p.patterns.iter().for_each(|q| pattern(q, values, f, d)),
        Pattern::MatchValue(_) | Pattern::MatchSingleton(_) => {}
    }
}

/// Finds `name := value` anywhere in an expression (and the parameters of
/// lambdas, which can shadow a type name inside them).
fn expr(e: &Expr, values: &mut Collector, f: bool, depth: u32) {
    if depth > MAX_DEPTH {
        return;
    }
    let d = depth + 1;
    if let Expr::NamedExpr(n) = e {
        opaque_target(&n.target, values, f, d);
    }
    if let Expr::Lambda(l) = e {
        arguments(&l.args, values, f, d);
    }
    children(e, |child| expr(child, values, f, d));
}

/// Calls `f` on each direct child expression of `e`.
pub(crate) fn children(e: &Expr, mut f: impl FnMut(&Expr)) {
    match e {
        Expr::BoolOp(x) => x.values.iter().for_each(f),
        Expr::NamedExpr(x) => {
            f(&x.target);
            f(&x.value);
        }
        Expr::BinOp(x) => {
            f(&x.left);
            f(&x.right);
        }
        Expr::UnaryOp(x) => f(&x.operand),
        Expr::Lambda(x) => f(&x.body),
        Expr::IfExp(x) => {
            f(&x.test);
            f(&x.body);
            f(&x.orelse);
        }
        Expr::Dict(x) => {
            x.keys.iter().flatten().for_each(&mut f);
            x.values.iter().for_each(f);
        }
        Expr::Set(x) => x.elts.iter().for_each(f),
        Expr::ListComp(x) => {
            f(&x.elt);
            comprehension(&x.generators, f);
        }
        Expr::SetComp(x) => {
            f(&x.elt);
            comprehension(&x.generators, f);
        }
        Expr::GeneratorExp(x) => {
            f(&x.elt);
            comprehension(&x.generators, f);
        }
        Expr::DictComp(x) => {
            f(&x.key);
            f(&x.value);
            comprehension(&x.generators, f);
        }
        Expr::Await(x) => f(&x.value),
        Expr::Yield(x) => x.value.iter().for_each(|v| f(v)),
        Expr::YieldFrom(x) => f(&x.value),
        Expr::Compare(x) => {
            f(&x.left);
            x.comparators.iter().for_each(f);
        }
        Expr::Call(x) => {
            f(&x.func);
            x.args.iter().for_each(&mut f);
            x.keywords.iter().for_each(|k| f(&k.value));
        }
        Expr::FormattedValue(x) => {
            f(&x.value);
            x.format_spec.iter().for_each(|v| f(v));
        }
        Expr::JoinedStr(x) => x.values.iter().for_each(f),
        Expr::Attribute(x) => f(&x.value),
        Expr::Subscript(x) => {
            f(&x.value);
            f(&x.slice);
        }
        Expr::Starred(x) => f(&x.value),
        Expr::List(x) => x.elts.iter().for_each(f),
        Expr::Tuple(x) => x.elts.iter().for_each(f),
        Expr::Slice(x) => {
            x.lower.iter().for_each(|v| f(v));
            x.upper.iter().for_each(|v| f(v));
            x.step.iter().for_each(|v| f(v));
        }
        Expr::Name(_) | Expr::Constant(_) => {}
    }
}

fn comprehension(generators: &[rustpython_parser::ast::Comprehension], mut f: impl FnMut(&Expr)) {
    for g in generators {
        f(&g.target);
        f(&g.iter);
        g.ifs.iter().for_each(&mut f);
    }
}

/// Callables whose result is a type (pydantic's constrained types and
/// typing's constructors); any other call can return a string.
pub(crate) const TYPE_CONSTRUCTORS: &[&str] = &[
    "conint",
    "constr",
    "confloat",
    "conlist",
    "conset",
    "confrozenset",
    "condecimal",
    "conbytes",
    "condate",
    "TypeVar",
    "NewType",
    "ParamSpec",
    "TypeVarTuple",
    "create_model",
];

/// The name a call goes through: `f` in `f(...)` and `m.f(...)`.
pub(crate) fn callee(call: &rustpython_parser::ast::ExprCall) -> &str {
    match call.func.as_ref() {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => "",
    }
}

/// Whether an operator may join types (`int | None`).
pub(crate) fn is_type_union(op: Operator) -> bool {
    matches!(op, Operator::BitOr)
}

/// Whether a constant can stand in a type: anything but a string, which
/// Python would evaluate as code.
pub(crate) fn is_non_text(value: &Constant) -> bool {
    !matches!(value, Constant::Str(_) | Constant::Bytes(_))
}
