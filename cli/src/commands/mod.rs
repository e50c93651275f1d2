//! One module per command family; each takes parsed args and returns a result
//! the caller turns into an exit code.

pub mod account;
pub mod apps;
pub mod check;
pub mod deploy;
pub mod revisions;
pub mod tokens;
pub mod up;
