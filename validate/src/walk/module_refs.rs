//! Which module an expression refers to, across aliases and the app's own
//! files, and the rules for attributes of modules.

use rustpython_parser::ast::{Constant, Expr, ExprCall, ExprContext, Ranged};

use super::Walker;
use crate::imports::{self, Binding};
use crate::{forbidden, modules};

/// A module an expression refers to.
pub(super) enum ModuleRef {
    /// An allowed module, by dotted path.
    Allowed(String),
    /// One of the app's own modules, by name.
    Local(String),
}

impl Walker<'_, '_> {
    /// The module an expression denotes, if it is one: an allowed module by
    /// its dotted path (`json`, `urllib.parse`, `fastapi.responses`), or one
    /// of the app's own modules.
    pub(super) fn module_path(&self, expr: &Expr) -> Option<ModuleRef> {
        match expr {
            Expr::Name(n) => {
                let name = n.id.as_str();
                // A function's own name is a module only if the function
                // imports it (`def f(): import logging`); a parameter or
                // local variable named like a module is not one.
                if self
                    .scope_of(name)
                    .is_some_and(|s| !s.imports.contains(name))
                {
                    return None;
                }
                self.resolve(self.ctx.bindings.get(name)?, 0)
            }
            Expr::Attribute(a) => match self.module_path(&a.value)? {
                ModuleRef::Allowed(parent) => {
                    modules::module_at(&format!("{parent}.{}", a.attr)).map(ModuleRef::Allowed)
                }
                ModuleRef::Local(module) => self.member_of_local(&module, &a.attr, 0),
            },
            _ => None,
        }
    }

    /// What a binding refers to, following the app's own modules (a chain of
    /// re-exports is followed a few steps, never around a cycle forever).
    pub(super) fn resolve(&self, binding: &Binding, depth: u32) -> Option<ModuleRef> {
        match binding {
            Binding::Module(path) => Some(ModuleRef::Allowed(path.clone())),
            Binding::Member(path) => modules::module_at(path).map(ModuleRef::Allowed),
            Binding::LocalModule(module) => Some(ModuleRef::Local(module.clone())),
            Binding::LocalMember(module, name) => self.member_of_local(module, name, depth),
        }
    }

    /// `name` in the app's own `module`, if it is a module.
    pub(super) fn member_of_local(
        &self,
        module: &str,
        name: &str,
        depth: u32,
    ) -> Option<ModuleRef> {
        if depth > 8 {
            return None;
        }
        let binding = self.ctx.module_bindings.get(module)?.get(name)?;
        self.resolve(binding, depth + 1)
    }

    /// `getattr(module, "name")` with a literal name is `module.name`.
    pub(super) fn getattr_on_module(&mut self, call: &ExprCall) {
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
        self.literal_getattr_target = target as *const Expr as usize;
        if let Some(ModuleRef::Allowed(module)) = self.module_path(target) {
            let verdict = modules::member(&module, name);
            let at = call.range.start().to_usize();
            self.out.extend(imports::member_diagnostic(
                self.ctx, &module, name, verdict, at,
            ));
        }
    }

    /// A module may only be the base of an attribute (`logging.info`), where
    /// the attribute rules see which name is reached. Stored, passed, put in a
    /// container or returned, it can be reached by any name later:
    /// `[logging][0].os`, `(fastapi.responses,)[0].FileResponse`, `f(logging)`.
    pub(super) fn module_as_value(&mut self, expr: &Expr) {
        let load = match expr {
            Expr::Name(n) => matches!(n.ctx, ExprContext::Load),
            Expr::Attribute(a) => matches!(a.ctx, ExprContext::Load),
            _ => false,
        };
        if !load {
            return;
        }
        let name = match self.module_path(expr) {
            Some(ModuleRef::Allowed(path)) => path,
            Some(ModuleRef::Local(module)) => module,
            None => return,
        };
        let short = name.rsplit('.').next().unwrap_or(&name).to_string();
        self.out.push(
            self.ctx
                .error(
                    "GF408",
                    expr.range().start().to_usize(),
                    format!(
                        "`{short}` is a module; apps may use a module only through its names \
                         (`{short}.name`), not store it, pass it or put it in a list."
                    ),
                )
                .hint(format!(
                    "use what you need from it directly, or import it: `from {name} import ...`"
                )),
        );
    }

    /// Rules for `value.attr`; `end` is where the attribute name ends.
    pub(super) fn attribute(&mut self, whole: &Expr, value: &Expr, attr: &str, end: usize) {
        let at = end
            .saturating_sub(attr.len())
            .max(whole.range().start().to_usize());
        if forbidden::is_escape_attr(attr) {
            self.out
                .push(forbidden::dunder_attribute(self.ctx, attr, at));
            return;
        }
        match self.module_path(value) {
            Some(ModuleRef::Allowed(module)) => {
                let verdict = modules::member(&module, attr);
                self.out.extend(imports::member_diagnostic(
                    self.ctx, &module, attr, verdict, at,
                ));
                return;
            }
            // The app's own modules may use each other's private names.
            Some(ModuleRef::Local(_)) => {}
            None => self.private_attribute(value, attr, at),
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
