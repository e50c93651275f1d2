//! Which module an expression refers to, across aliases and the app's own
//! files, and the rules for attributes of modules.

use rustpython_parser::ast::{Constant, Expr, ExprCall, Ranged};

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
    pub(super) fn resolve(&self, binding: &Binding, depth: u32) -> Option<ModuleRef> {
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
        if let Some(ModuleRef::Allowed(module)) = self.module_path(target) {
            let verdict = modules::member(&module, name);
            let at = call.range.start().to_usize();
            self.out.extend(imports::member_diagnostic(
                self.ctx, &module, name, verdict, at,
            ));
        }
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
