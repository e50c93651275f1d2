//! `gofast check`: the server's validator, offline.

use serde_json::json;

use crate::{
    args::Output,
    diagnostics::{Problem, render},
    error::{CliError, CliResult},
    files::read_files,
    output::print_json,
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
    let report = json!({ "ok": ok, "diagnostics": diagnostics });
    if out == Output::Text && !diagnostics.is_empty() {
        let problems: Vec<Problem> = diagnostics.iter().map(Problem::from).collect();
        render(&problems, &files);
    }
    if !ok {
        // With -o json the report carries the diagnostics; the error joins it.
        return Err(
            CliError::invalid(format!("{} problem(s) found", diagnostics.len()))
                .with_result(report),
        );
    }
    match out {
        Output::Json => print_json(&report),
        Output::Text => eprintln!("OK: {} file(s) checked, ready to deploy.", files.len()),
    }
    Ok(())
}
