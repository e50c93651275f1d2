//! Walks every statement and expression of a file — decorators, defaults,
//! annotations, lambdas, comprehensions, f-string parts, class bodies, match
//! patterns — and applies the import and sandbox rules.
//!
//! Recursion depth is bounded because scan.rs refuses deeper code before it
//! is parsed; long `elif` chains are walked in a loop.

use std::collections::HashSet;

use rustpython_parser::ast::{
    Arguments, Comprehension, Constant, ExceptHandler, Expr, Mod, Pattern, Ranged, Stmt, TypeParam,
};
use rustpython_parser::{Mode, parse};

use crate::FileCtx;
use crate::diagnostic::Diagnostic;
use crate::imports::{self, Binding};
use crate::{forbidden, modules, scan};

/// Checks every rule that needs the syntax tree of one file.
pub(crate) fn check(ctx: &FileCtx, body: &[Stmt], out: &mut Vec<Diagnostic>) {
    let mut walker = Walker {
        ctx,
        out,
        scopes: Vec::new(),
        annotation: false,
        string_depth: 0,
    };
    walker.stmts(body);
}

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

/// A module an expression refers to.
enum ModuleRef {
    /// An allowed module, by dotted path.
    Allowed(String),
    /// One of the app's own modules, by name.
    Local(String),
}

struct Walker<'a, 'c> {
    ctx: &'a FileCtx<'c>,
    out: &'a mut Vec<Diagnostic>,
    /// Names bound by the enclosing function and comprehension scopes.
    scopes: Vec<HashSet<String>>,
    /// Inside a type annotation, where strings are forward references that
    /// pydantic and FastAPI evaluate as code.
    annotation: bool,
    /// Nesting of annotation strings being checked.
    string_depth: u32,
}

impl Walker<'_, '_> {
    fn function_local(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.contains(name))
    }

    fn with_annotation(&mut self, on: bool, f: impl FnOnce(&mut Self)) {
        let saved = std::mem::replace(&mut self.annotation, on);
        f(self);
        self.annotation = saved;
    }

    fn in_scope(&mut self, names: HashSet<String>, f: impl FnOnce(&mut Self)) {
        self.scopes.push(names);
        f(self);
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
                self.stmts(&s.body);
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
        self.in_scope(crate::scope::function_locals(args, body), |w| w.stmts(body));
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
        self.in_scope(crate::scope::comprehension_locals(generators), |w| {
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
                self.in_scope(crate::scope::lambda_locals(&e.args), |w| w.expr(&e.body));
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

    /// Call arguments; the few that are types (forward references that
    /// pydantic and typing evaluate) are checked as annotations.
    fn call_arguments(&mut self, call: &rustpython_parser::ast::ExprCall) {
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
                if is_type {
                    w.annotation(Some(arg));
                } else {
                    w.expr(arg);
                }
            }
            for keyword in &call.keywords {
                let value = &keyword.value;
                match (callee, keyword.arg.as_deref(), value) {
                    ("TypeVar", Some("bound"), _) => w.annotation(Some(value)),
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

    /// In annotations, `Literal[...]` holds values and `Annotated[T, ...]`
    /// holds metadata after its first element: only types are forward refs.
    /// Outside annotations, `Optional["Item"]` and the like still hold
    /// forward references (type aliases are plain assignments).
    fn subscript_slice(&mut self, value: &Expr, slice: &Expr) {
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

    fn constant(&mut self, value: &Constant, at: usize) {
        let Constant::Str(text) = value else {
            return;
        };
        self.out.extend(forbidden::string(self.ctx, text, at));
        if self.annotation {
            self.annotation_string(text, at);
        }
    }

    /// A string annotation is code that pydantic and FastAPI evaluate: parse
    /// it and check it like the rest, reporting at the string.
    fn annotation_string(&mut self, text: &str, at: usize) {
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

    /// The module an expression denotes, if it is one: an allowed module by
    /// its dotted path (`json`, `urllib.parse`, `fastapi.responses`), or one
    /// of the app's own modules.
    fn module_path(&self, expr: &Expr) -> Option<ModuleRef> {
        match expr {
            Expr::Name(n) if !self.function_local(n.id.as_str()) => {
                self.resolve(self.ctx.bindings.get(n.id.as_str())?, 0)
            }
            Expr::Attribute(a) => match self.module_path(&a.value)? {
                ModuleRef::Allowed(parent) => {
                    let path = format!("{parent}.{}", a.attr);
                    modules::is_known_module(&path).then_some(ModuleRef::Allowed(path))
                }
                ModuleRef::Local(module) => self.member_of_local(&module, &a.attr, 0),
            },
            _ => None,
        }
    }

    /// What a binding refers to, following the app's own modules (a chain of
    /// re-exports is followed a few steps, never around a cycle forever).
    fn resolve(&self, binding: &Binding, depth: u32) -> Option<ModuleRef> {
        match binding {
            Binding::Module(path) => Some(ModuleRef::Allowed(path.clone())),
            Binding::Member(path) => {
                modules::is_known_module(path).then(|| ModuleRef::Allowed(path.clone()))
            }
            Binding::LocalModule(module) => Some(ModuleRef::Local(module.clone())),
            Binding::LocalMember(module, name) => self.member_of_local(module, name, depth),
        }
    }

    /// `name` in the app's own `module`, if it is a module.
    fn member_of_local(&self, module: &str, name: &str, depth: u32) -> Option<ModuleRef> {
        if depth > 8 {
            return None;
        }
        let binding = self.ctx.module_bindings.get(module)?.get(name)?;
        self.resolve(binding, depth + 1)
    }

    /// `getattr(module, "name")` with a literal name is `module.name`.
    fn getattr_on_module(&mut self, call: &rustpython_parser::ast::ExprCall) {
        let Expr::Name(callee) = call.func.as_ref() else {
            return;
        };
        let getter = matches!(
            callee.id.as_str(),
            "getattr" | "hasattr" | "setattr" | "delattr"
        );
        if !getter || self.function_local(callee.id.as_str()) {
            return;
        }
        let (Some(target), Some(Expr::Constant(name))) = (call.args.first(), call.args.get(1))
        else {
            return;
        };
        let Constant::Str(name) = &name.value else {
            return;
        };
        if forbidden::is_escape_attr(name) {
            return; // reported as GF406
        }
        if let Some(ModuleRef::Allowed(module)) = self.module_path(target) {
            let verdict = modules::member(&module, name);
            let at = call.range.start().to_usize();
            self.out.extend(imports::member_diagnostic(
                self.ctx, &module, name, verdict, at,
            ));
        }
    }

    /// Rules for `value.attr`; `end` is where the attribute name ends.
    fn attribute(&mut self, whole: &Expr, value: &Expr, attr: &str, end: usize) {
        let at = end
            .saturating_sub(attr.len())
            .max(whole.range().start().to_usize());
        if forbidden::is_escape_attr(attr) {
            self.out
                .push(forbidden::dunder_attribute(self.ctx, attr, at));
            return;
        }
        if let Some(ModuleRef::Allowed(module)) = self.module_path(value) {
            let verdict = modules::member(&module, attr);
            self.out.extend(imports::member_diagnostic(
                self.ctx, &module, attr, verdict, at,
            ));
            return;
        }
        if let Some(capability) = modules::refused_anywhere(attr) {
            self.out.push(
                self.ctx
                    .error(
                        capability.code(),
                        at,
                        format!("`.{attr}` {}.", capability.why()),
                    )
                    .hint(capability.hint()),
            );
        }
    }
}
