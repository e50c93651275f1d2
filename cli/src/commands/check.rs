//! `gofast check`: the server's validator, offline.

use crate::{
    args::Output,
    diagnostics::{Problem, render},
    error::{CliError, CliResult},
    files::read_files,
};

pub fn run(out: Output, paths: &[std::path::PathBuf]) -> CliResult {
    let files = read_files(paths)?;
    let sources: Vec<gofast_validate::SourceFile<'_>> = files
        .iter()
        .map(|(name, content)| gofast_validate::SourceFile {
            name,
            content: content.as_bytes(),
        })
        .collect();
    let diagnostics = gofast_validate::validate(&sources);
    let ok = gofast_validate::is_deployable(&diagnostics);
    if out == crate::args::Output::Json {
        crate::output::print_json(&serde_json::json!({ "ok": ok, "diagnostics": diagnostics }));
    } else if !diagnostics.is_empty() {
        let problems: Vec<Problem> = diagnostics.iter().map(Problem::from).collect();
        render(&problems, &files);
    }
    if ok {
        if out == Output::Text {
            eprintln!("OK: {} file(s) checked, ready to deploy.", files.len());
        }
        Ok(())
    } else {
        Err(CliError::rejected(format!(
            "{} problem(s) found",
            diagnostics.len()
        )))
    }
}
