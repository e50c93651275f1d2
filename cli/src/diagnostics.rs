//! Shows validator diagnostics like a compiler: file:line:col, the source
//! line and a caret, rendered by codespan-reporting.

use codespan_reporting::{
    diagnostic::{Diagnostic, Label, Severity},
    files::SimpleFiles,
    term::{
        self, Config,
        termcolor::{ColorChoice, StandardStream},
    },
};
use gofast_proto::v1 as pb;

/// One problem, from the local validator or from the server.
pub struct Problem {
    pub code: String,
    pub severity: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: String,
}

impl From<&gofast_validate::Diagnostic> for Problem {
    fn from(d: &gofast_validate::Diagnostic) -> Self {
        Self {
            code: d.code.to_string(),
            severity: d.severity.as_str().to_string(),
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            message: d.message.clone(),
            hint: d.hint.clone().unwrap_or_default(),
        }
    }
}

impl From<&pb::Diagnostic> for Problem {
    fn from(d: &pb::Diagnostic) -> Self {
        Self {
            code: d.code.clone(),
            severity: d.severity.clone(),
            file: d.file.clone(),
            line: d.line,
            column: d.column,
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }
}

/// The byte offset of a 1-based (line, column-in-characters) position.
fn byte_offset(source: &str, line: u32, column: u32) -> Option<usize> {
    let start = source
        .split_inclusive('\n')
        .take(line.checked_sub(1)? as usize)
        .map(str::len)
        .sum::<usize>();
    let text = source.get(start..)?.lines().next().unwrap_or("");
    let col = column.saturating_sub(1) as usize;
    let within = text
        .char_indices()
        .nth(col)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    Some(start + within)
}

/// Writes every problem to stderr; `sources` are the submitted files.
pub fn render(problems: &[Problem], sources: &[(String, String)]) {
    let mut files = SimpleFiles::new();
    let ids: Vec<(String, usize)> = sources
        .iter()
        .map(|(n, c)| (n.clone(), files.add(n.clone(), c.clone())))
        .collect();
    let color = if std::env::var_os("NO_COLOR").is_some() {
        ColorChoice::Never
    } else {
        ColorChoice::Auto
    };
    let writer = StandardStream::stderr(color);
    let config = Config::default();
    for p in problems {
        let severity = if p.severity == "warning" {
            Severity::Warning
        } else {
            Severity::Error
        };
        let mut d = Diagnostic::new(severity)
            .with_code(p.code.clone())
            .with_message(p.message.clone());
        let located = ids.iter().find(|(n, _)| *n == p.file).and_then(|(_, id)| {
            let source = &sources.iter().find(|(n, _)| *n == p.file)?.1;
            let at = byte_offset(source, p.line, p.column)?;
            let end = source[at..]
                .chars()
                .next()
                .map(|c| at + c.len_utf8())
                .unwrap_or(at);
            Some(Label::primary(*id, at..end))
        });
        match located {
            Some(label) => d = d.with_labels(vec![label]),
            None if p.file.is_empty() => {}
            None => d = d.with_notes(vec![format!("in {}", p.file)]),
        }
        if !p.hint.is_empty() {
            d = d.with_notes(vec![format!("help: {}", p.hint)]);
        }
        let _ = term::emit(&mut writer.lock(), &config, &files, &d);
    }
}

#[cfg(test)]
mod tests {
    use super::byte_offset;

    #[test]
    fn offsets_count_characters_not_bytes() {
        let src = "a = 1\nπ = 'é' + x\n";
        assert_eq!(byte_offset(src, 1, 1), Some(0));
        assert_eq!(byte_offset(src, 2, 1), Some(6));
        // column 11 is `x`, after two 2-byte characters
        assert_eq!(&src[byte_offset(src, 2, 11).unwrap()..][..1], "x");
        assert_eq!(byte_offset(src, 0, 1), None);
    }
}
