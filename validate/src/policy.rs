//! The operator's say over the checks: refuse or only report what the
//! sandbox rules find, and which extra modules apps may import.

use crate::diagnostic::{Diagnostic, Severity};
use crate::modules;

/// What happens to a diagnostic of the sandbox rules (imports, GF3xx, and
/// calls and attributes, GF4xx).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// They are errors: the app is refused (the default).
    #[default]
    Strict,
    /// They are warnings: reported, and the app deploys anyway. Limits,
    /// file names, syntax and the `app` rule stay errors: those protect the
    /// platform or would only fail later with a worse message.
    Advisory,
}

/// The operator's policy. The default is strict with no extra modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Dotted module names apps may import besides the built-in list, each
    /// with its submodules (`numpy` allows `numpy.linalg`). The checker
    /// knows nothing of them, so their attributes are not checked.
    pub allow_modules: Vec<String>,
}

/// A module name given to [`Policy::allow_modules`] that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadModuleName(pub String);

impl std::fmt::Display for BadModuleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a module name; write a dotted Python name such as `numpy` or `xml.etree`",
            self.0
        )
    }
}

impl std::error::Error for BadModuleName {}

/// Checks an operator-given module name: dot-separated Python identifiers.
pub fn parse_module_name(name: &str) -> Result<String, BadModuleName> {
    let name = name.trim();
    let ok = !name.is_empty() && name.split('.').all(crate::limits::is_identifier);
    if ok {
        Ok(name.to_string())
    } else {
        Err(BadModuleName(name.to_string()))
    }
}

impl Policy {
    pub const STRICT: Policy = Policy {
        mode: Mode::Strict,
        allow_modules: Vec::new(),
    };

    /// Whether the operator allowed `name` (or a parent package of it).
    pub(crate) fn allows(&self, name: &str) -> bool {
        self.allow_modules
            .iter()
            .any(|m| modules::is_same_or_child(name, m))
    }

    /// Applies the mode to finished diagnostics.
    pub(crate) fn apply(&self, diagnostics: &mut [Diagnostic]) {
        if self.mode == Mode::Advisory {
            for d in diagnostics.iter_mut().filter(|d| is_sandbox_rule(d.code)) {
                d.severity = Severity::Warning;
            }
        }
    }
}

/// Whether a code belongs to the sandbox rules that advisory mode relaxes.
pub fn is_sandbox_rule(code: &str) -> bool {
    code.starts_with("GF3") || code.starts_with("GF4")
}
