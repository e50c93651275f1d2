//! Walks every statement and expression of a file — decorators, defaults,
//! annotations, lambdas, comprehensions, f-string parts, class bodies, match
//! patterns — and applies the import and sandbox rules.
//!
//! Recursion depth is bounded because scan.rs refuses deeper code before it
//! is parsed; long `elif` chains are walked in a loop.

use std::collections::HashSet;

use rustpython_parser::ast::{
    Arguments, Comprehension, Constant, ExceptHandler, Expr, Pattern, Ranged, Stmt, TypeParam,
};

use crate::FileCtx;
use crate::diagnostic::Diagnostic;
use crate::forbidden;
use crate::imports;

mod annotations;
mod module_refs;
mod reach;
mod types;

/// Checks every rule that needs the syntax tree of one file.
pub(crate) fn check(ctx: &FileCtx, body: &[Stmt], out: &mut Vec<Diagnostic>) {
    let mut walker = Walker {
        ctx,
        out,
        scopes: Vec::new(),
        annotation: false,
        string_depth: 0,
        module_base: false,
        callee: false,
        class_body: false,
        literal_getattr_target: 0,
    };
    walker.stmts(body);
}

struct Walker<'a, 'c> {
    ctx: &'a FileCtx<'c>,
    out: &'a mut Vec<Diagnostic>,
    /// The enclosing function and comprehension scopes, innermost last.
    scopes: Vec<Scope>,
    /// Inside a type annotation, where strings are forward references that
    /// pydantic and FastAPI evaluate as code.
    annotation: bool,
    /// Nesting of annotation strings being checked.
    string_depth: u32,
    /// The expression about to be visited is the base of an attribute
    /// (`logging` in `logging.info`), where a module may stand.
    module_base: bool,
    /// The expression about to be visited is what a call calls.
    callee: bool,
    /// Statements being visited are a class body (so a `def` is a method).
    class_body: bool,
    /// The address of the first argument of `getattr(x, "literal")`, which
    /// is checked like the base of `x.literal` and so may be a module.
    literal_getattr_target: usize,
}

/// A function, lambda or comprehension scope.
#[derive(Default)]
struct Scope {
    /// Names it binds.
    names: HashSet<String>,
    /// Of those, the names bound by an `import` in it.
    imports: HashSet<String>,
    /// A method's receiver (`self`, `cls`) when the method never rebinds it.
    receiver: Option<String>,
}

impl Walker<'_, '_> {
    fn function_local(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.names.contains(name))
    }

    /// The innermost scope that binds `name`.
    fn scope_of(&self, name: &str) -> Option<&Scope> {
        self.scopes.iter().rev().find(|s| s.names.contains(name))
    }

    fn with_annotation(&mut self, on: bool, f: impl FnOnce(&mut Self)) {
        let saved = std::mem::replace(&mut self.annotation, on);
        f(self);
        self.annotation = saved;
    }

    fn in_scope(&mut self, scope: Scope, f: impl FnOnce(&mut Self)) {
        self.scopes.push(scope);
        let class_body = std::mem::replace(&mut self.class_body, false);
        f(self);
        self.class_body = class_body;
        self.scopes.pop();
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for stmt in body {
            self.stmt(stmt);
        }
    }

    fn exprs(&mut self, exprs: &[Expr]) {
        for expr in exprs {
            self.expr(expr);
        }
    }

    fn opt(&mut self, expr: Option<&Expr>) {
        if let Some(expr) = expr {
            self.expr(expr);
        }
    }

    fn annotation(&mut self, expr: Option<&Expr>) {
        if let Some(expr) = expr {
            self.with_annotation(true, |w| w.expr(expr));
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        let type_params: &[TypeParam] = match stmt {
            Stmt::FunctionDef(s) => &s.type_params,
            Stmt::AsyncFunctionDef(s) => &s.type_params,
            Stmt::ClassDef(s) => &s.type_params,
            _ => &[],
        };
        self.type_params_312(stmt, type_params);
        match stmt {
            Stmt::FunctionDef(s) => self.function(
                &s.decorator_list,
                &s.args,
                s.returns.as_deref(),
                &s.type_params,
                &s.body,
            ),
            Stmt::AsyncFunctionDef(s) => self.function(
                &s.decorator_list,
                &s.args,
                s.returns.as_deref(),
                &s.type_params,
                &s.body,
            ),
            Stmt::ClassDef(s) => {
                self.exprs(&s.decorator_list);
                self.type_params(&s.type_params);
                self.exprs(&s.bases);
                for keyword in &s.keywords {
                    self.expr(&keyword.value);
                }
                let outer = std::mem::replace(&mut self.class_body, true);
                self.stmts(&s.body);
                self.class_body = outer;
            }
            Stmt::Return(s) => self.opt(s.value.as_deref()),
            Stmt::Delete(s) => self.exprs(&s.targets),
            Stmt::Assign(s) => {
                self.exprs(&s.targets);
                self.expr(&s.value);
            }
            Stmt::TypeAlias(s) => {
                self.out.push(
                    self.ctx
                        .error(
                            "GF109",
                            s.range.start().to_usize(),
                            "A `type X = ...` statement needs Python 3.12+; apps run on Python 3.11.",
                        )
                        .hint("write a plain assignment instead, e.g. `UserIds = list[int]`"),
                );
                self.expr(&s.name);
                self.type_params(&s.type_params);
                self.annotation(Some(&s.value));
            }
            Stmt::AugAssign(s) => {
                self.expr(&s.target);
                self.expr(&s.value);
            }
            Stmt::AnnAssign(s) => {
                self.expr(&s.target);
                self.annotation(Some(&s.annotation));
                // `X: TypeAlias = "..."`: the value is a type too.
                let alias = matches!(s.annotation.as_ref(), Expr::Name(n) if n.id.as_str() == "TypeAlias")
                    || matches!(s.annotation.as_ref(), Expr::Attribute(a) if a.attr.as_str() == "TypeAlias");
                if alias {
                    self.annotation(s.value.as_deref());
                } else {
                    self.opt(s.value.as_deref());
                }
            }
            Stmt::For(s) => {
                self.expr(&s.target);
                self.expr(&s.iter);
                self.stmts(&s.body);
                self.stmts(&s.orelse);
            }
            Stmt::AsyncFor(s) => {
                self.expr(&s.target);
                self.expr(&s.iter);
                self.stmts(&s.body);
                self.stmts(&s.orelse);
            }
            Stmt::While(s) => {
                self.expr(&s.test);
                self.stmts(&s.body);
                self.stmts(&s.orelse);
            }
            Stmt::If(s) => {
                // `elif` chains nest in the tree; walk them in a loop.
                let mut current = s;
                loop {
                    self.expr(&current.test);
                    self.stmts(&current.body);
                    match current.orelse.as_slice() {
                        [Stmt::If(next)] => current = next,
                        orelse => {
                            self.stmts(orelse);
                            break;
                        }
                    }
                }
            }
            Stmt::With(s) => {
                for item in &s.items {
                    self.expr(&item.context_expr);
                    self.opt(item.optional_vars.as_deref());
                }
                self.stmts(&s.body);
            }
            Stmt::AsyncWith(s) => {
                for item in &s.items {
                    self.expr(&item.context_expr);
                    self.opt(item.optional_vars.as_deref());
                }
                self.stmts(&s.body);
            }
            Stmt::Match(s) => {
                self.expr(&s.subject);
                for case in &s.cases {
                    self.pattern(&case.pattern);
                    self.opt(case.guard.as_deref());
                    self.stmts(&case.body);
                }
            }
            Stmt::Raise(s) => {
                self.opt(s.exc.as_deref());
                self.opt(s.cause.as_deref());
            }
            Stmt::Try(s) => self.try_parts(&s.body, &s.handlers, &s.orelse, &s.finalbody),
            Stmt::TryStar(s) => self.try_parts(&s.body, &s.handlers, &s.orelse, &s.finalbody),
            Stmt::Assert(s) => {
                self.expr(&s.test);
                self.opt(s.msg.as_deref());
            }
            Stmt::Import(s) => imports::check_import(self.ctx, s, self.out),
            Stmt::ImportFrom(s) => imports::check_import_from(self.ctx, s, self.out),
            Stmt::Expr(s) => self.expr(&s.value),
            Stmt::Global(_)
            | Stmt::Nonlocal(_)
            | Stmt::Pass(_)
            | Stmt::Break(_)
            | Stmt::Continue(_) => {}
        }
    }

    fn function(
        &mut self,
        decorators: &[Expr],
        args: &Arguments,
        returns: Option<&Expr>,
        type_params: &[TypeParam],
        body: &[Stmt],
    ) {
        // Decorators, defaults and annotations run in the enclosing scope.
        self.exprs(decorators);
        self.type_params(type_params);
        self.arguments(args);
        self.annotation(returns);
        let names = crate::scope::function_locals(args, body);
        let receiver = self.receiver(decorators, args, body);
        let scope = Scope {
            imports: crate::scope::imported_names(body),
            names,
            receiver,
        };
        self.in_scope(scope, |w| w.stmts(body));
    }

    /// PEP 695 type parameters (`def f[T]()`, `class A[T]:`) are 3.12+.
    fn type_params_312(&mut self, stmt: &Stmt, params: &[TypeParam]) {
        if params.is_empty() {
            return;
        }
        self.out.push(
            self.ctx
                .error(
                    "GF109",
                    stmt.range().start().to_usize(),
                    "Type parameters in brackets after a name need Python 3.12+; apps run on Python 3.11.",
                )
                .hint("declare `T = TypeVar(\"T\")` from typing and use `Generic[T]` or plain annotations"),
        );
    }

    fn arguments(&mut self, args: &Arguments) {
        for arg in args
            .posonlyargs
            .iter()
            .chain(&args.args)
            .chain(&args.kwonlyargs)
        {
            self.annotation(arg.def.annotation.as_deref());
            self.opt(arg.default.as_deref());
        }
        for arg in args.vararg.iter().chain(&args.kwarg) {
            self.annotation(arg.annotation.as_deref());
        }
    }

    fn type_params(&mut self, params: &[TypeParam]) {
        for param in params {
            if let TypeParam::TypeVar(var) = param {
                self.annotation(var.bound.as_deref());
            }
        }
    }

    fn try_parts(
        &mut self,
        body: &[Stmt],
        handlers: &[ExceptHandler],
        orelse: &[Stmt],
        finalbody: &[Stmt],
    ) {
        self.stmts(body);
        for ExceptHandler::ExceptHandler(handler) in handlers {
            self.opt(handler.type_.as_deref());
            self.stmts(&handler.body);
        }
        self.stmts(orelse);
        self.stmts(finalbody);
    }

    fn pattern(&mut self, pattern: &Pattern) {
        match pattern {
            Pattern::MatchValue(p) => self.expr(&p.value),
            Pattern::MatchSingleton(_) | Pattern::MatchStar(_) => {}
            Pattern::MatchSequence(p) => p.patterns.iter().for_each(|q| self.pattern(q)),
            Pattern::MatchMapping(p) => {
                self.exprs(&p.keys);
                p.patterns.iter().for_each(|q| self.pattern(q));
            }
            Pattern::MatchClass(p) => {
                self.expr(&p.cls);
                // `case C(attr=...)` reads `attr` from the subject.
                for attr in &p.kwd_attrs {
                    if forbidden::is_escape_attr(attr) {
                        let at = p.range.start().to_usize();
                        self.out
                            .push(forbidden::dunder_attribute(self.ctx, attr, at));
                    }
                }
                p.patterns
                    .iter()
                    .chain(&p.kwd_patterns)
                    .for_each(|q| self.pattern(q));
            }
            Pattern::MatchAs(p) => {
                if let Some(inner) = &p.pattern {
                    self.pattern(inner);
                }
            }
            Pattern::MatchOr(p) => p.patterns.iter().for_each(|q| self.pattern(q)),
        }
    }

    /// Visits comprehension parts: the first iterable runs in the enclosing
    /// scope, everything else in the comprehension's own scope.
    fn comprehension(&mut self, generators: &[Comprehension], elements: &[&Expr]) {
        let Some(first) = generators.first() else {
            return;
        };
        self.expr(&first.iter);
        let scope = Scope {
            names: crate::scope::comprehension_locals(generators),
            ..Scope::default()
        };
        self.in_scope(scope, |w| {
            for (i, generator) in generators.iter().enumerate() {
                w.expr(&generator.target);
                if i > 0 {
                    w.expr(&generator.iter);
                }
                w.exprs(&generator.ifs);
            }
            for element in elements {
                w.expr(element);
            }
        });
    }

    fn expr(&mut self, expr: &Expr) {
        let module_base = std::mem::take(&mut self.module_base)
            || std::ptr::addr_eq(self.literal_getattr_target as *const Expr, expr);
        let callee = std::mem::take(&mut self.callee);
        if !module_base {
            self.module_as_value(expr);
        }
        if !callee {
            self.attribute_getter_as_value(expr);
        }
        // Below a node that is not a type, nothing more is a type: one
        // diagnostic, at the outermost place.
        if self.annotation && self.type_position(expr) {
            self.with_annotation(false, |w| w.expr_parts(expr));
        } else {
            self.expr_parts(expr);
        }
    }

    fn expr_parts(&mut self, expr: &Expr) {
        match expr {
            Expr::BoolOp(e) => self.exprs(&e.values),
            Expr::NamedExpr(e) => {
                self.expr(&e.target);
                self.expr(&e.value);
            }
            Expr::BinOp(e) => {
                self.expr(&e.left);
                self.expr(&e.right);
            }
            Expr::UnaryOp(e) => self.expr(&e.operand),
            Expr::Lambda(e) => {
                self.arguments(&e.args);
                let scope = Scope {
                    names: crate::scope::lambda_locals(&e.args),
                    ..Scope::default()
                };
                self.in_scope(scope, |w| w.expr(&e.body));
            }
            Expr::IfExp(e) => {
                self.expr(&e.test);
                self.expr(&e.body);
                self.expr(&e.orelse);
            }
            Expr::Dict(e) => {
                for key in e.keys.iter().flatten() {
                    self.expr(key);
                }
                self.exprs(&e.values);
            }
            Expr::Set(e) => self.exprs(&e.elts),
            Expr::ListComp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::SetComp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::GeneratorExp(e) => self.comprehension(&e.generators, &[&e.elt]),
            Expr::DictComp(e) => self.comprehension(&e.generators, &[&e.key, &e.value]),
            Expr::Await(e) => self.expr(&e.value),
            Expr::Yield(e) => self.opt(e.value.as_deref()),
            Expr::YieldFrom(e) => self.expr(&e.value),
            Expr::Compare(e) => {
                self.expr(&e.left);
                self.exprs(&e.comparators);
            }
            Expr::Call(e) => {
                let diagnostic = forbidden::call(self.ctx, e, |name| self.function_local(name));
                self.out.extend(diagnostic);
                self.getattr_on_module(e);
                self.attribute_by_runtime_name(e);
                self.dynamic_namespace(e);
                self.callee = true;
                self.expr(&e.func);
                self.call_arguments(e);
            }
            Expr::FormattedValue(e) => {
                self.expr(&e.value);
                self.opt(e.format_spec.as_deref());
            }
            Expr::JoinedStr(e) => self.exprs(&e.values),
            Expr::Constant(e) => self.constant(&e.value, e.range.start().to_usize()),
            Expr::Attribute(e) => {
                self.attribute(expr, &e.value, e.attr.as_str(), e.range.end().to_usize());
                self.module_base = true;
                self.expr(&e.value);
            }
            Expr::Subscript(e) => {
                self.expr(&e.value);
                self.subscript_slice(&e.value, &e.slice);
            }
            Expr::Starred(e) => self.expr(&e.value),
            Expr::Name(e) => {
                let load = matches!(e.ctx, rustpython_parser::ast::ExprContext::Load);
                let local = self.function_local(e.id.as_str());
                let at = e.range.start().to_usize();
                self.out
                    .extend(forbidden::name(self.ctx, e.id.as_str(), at, load, local));
            }
            Expr::List(e) => self.exprs(&e.elts),
            Expr::Tuple(e) => self.exprs(&e.elts),
            Expr::Slice(e) => {
                self.opt(e.lower.as_deref());
                self.opt(e.upper.as_deref());
                self.opt(e.step.as_deref());
            }
        }
    }

    fn constant(&mut self, value: &Constant, at: usize) {
        let Constant::Str(text) = value else {
            return;
        };
        self.out.extend(forbidden::string(self.ctx, text, at));
        if self.annotation {
            self.annotation_string(text, at);
        }
    }
}
