//! Reading the files a user names on the command line.

use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};

/// (file name, content) for each path; names are the paths' last component.
pub fn read_files(paths: &[PathBuf]) -> CliResult<Vec<(String, String)>> {
    let mut files = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::usage(format!("{} is not a file name", path.display())))?;
        let bytes = std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
        let content = String::from_utf8(bytes).map_err(|_| {
            CliError::invalid(format!("{} is not UTF-8 text", path.display()))
                .hint("save the file as UTF-8")
        })?;
        if files.iter().any(|(n, _)| n == name) {
            return Err(CliError::usage(format!("two files are named {name}")));
        }
        files.push((name.to_string(), content));
    }
    Ok(files)
}

/// The default app name: the first file's folder name, made a valid name.
pub fn default_app_name(first: &Path) -> String {
    let dir = std::fs::canonicalize(first)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut name: String = dir
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!("app-{name}").trim_end_matches('-').to_string();
    }
    name.truncate(40);
    name.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_app_names() {
        let dir = tempfile::tempdir().unwrap();
        for (folder, want) in [
            ("hello", "hello"),
            ("My_App 2", "my-app-2"),
            ("2048", "app-2048"),
            ("__", "app"),
        ] {
            let d = dir.path().join(folder);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("main.py"), "").unwrap();
            assert_eq!(default_app_name(&d.join("main.py")), want);
        }
    }
}
