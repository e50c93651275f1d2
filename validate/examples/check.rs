//! Checks Python files from the command line and prints the diagnostics:
//!
//! ```sh
//! cargo run -p gofast-validate --example check -- main.py models.py
//! ```
//!
//! Each file is submitted under its base name. With `--split`, a single file
//! is cut at lines `#----` into separate cases, each checked as main.py.

use gofast_validate::{SourceFile, validate};

fn print(diagnostics: &[gofast_validate::Diagnostic]) {
    for d in diagnostics {
        println!(
            "  {} {} {}:{}:{} {}",
            d.code,
            d.severity.as_str(),
            d.file,
            d.line,
            d.column,
            d.message
        );
        if let Some(hint) = &d.hint {
            println!("      hint: {hint}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--split") {
        for path in &args[1..] {
            let Ok(text) = std::fs::read_to_string(path) else {
                eprintln!("cannot read {path}");
                continue;
            };
            for (i, case) in text.split("\n#----\n").enumerate() {
                println!("case {i}: {}", case.lines().next().unwrap_or(""));
                print(&validate(&[SourceFile {
                    name: "main.py",
                    content: case.as_bytes(),
                }]));
            }
        }
        return;
    }
    let mut contents = Vec::new();
    for path in &args {
        match std::fs::read(path) {
            Ok(bytes) => {
                contents.push((path.rsplit('/').next().unwrap_or(path).to_string(), bytes))
            }
            Err(e) => eprintln!("cannot read {path}: {e}"),
        }
    }
    let files: Vec<SourceFile> = contents
        .iter()
        .map(|(name, bytes)| SourceFile {
            name,
            content: bytes,
        })
        .collect();
    let diagnostics = validate(&files);
    print(&diagnostics);
    println!(
        "{} diagnostic(s); deployable: {}",
        diagnostics.len(),
        gofast_validate::is_deployable(&diagnostics)
    );
}
