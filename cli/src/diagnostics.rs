//! Shows validator diagnostics like a compiler: file:line:col, the source
//! line and the offending name underlined, rendered by codespan-reporting.

use std::ops::Range;

use codespan_reporting::{
    diagnostic::{Diagnostic, Label, Severity},
    files::SimpleFiles,
    term::{self, Config, termcolor::StandardStream},
};
use gofast_proto::v1 as pb;
use serde::Serialize;

/// One problem, from the local validator or from the server. Serialized with
/// the keys of the REST API's diagnostics (and of `gofast check -o json`).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub code: String,
    pub severity: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: Option<String>,
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
            hint: d.hint.clone(),
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
            hint: (!d.hint.is_empty()).then(|| d.hint.clone()),
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

/// The names a message quotes in backticks: "`requests` cannot be imported".
fn quoted_names(message: &str) -> impl Iterator<Item = &str> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| !n.is_empty() && !n.contains('\n'))
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// What to underline for a problem reported at byte `at`. The validator gives
/// only where a problem starts, so the end is found in the source: the name
/// the message quotes when it stands there (or later on the same line, when
/// the position is the start of the statement, as for `from os import x`),
/// else the (dotted) name at that position, else one character.
fn span(source: &str, at: usize, message: &str) -> Range<usize> {
    let rest = source.get(at..).unwrap_or("");
    let line = rest.split('\n').next().unwrap_or("");
    let bounded = |end: usize| {
        let after = line[end..].chars().next();
        !after.is_some_and(is_name_char)
    };
    let quoted = quoted_names(message);
    let mut later = None;
    for name in quoted {
        if line.starts_with(name) && bounded(name.len()) {
            return at..at + name.len();
        }
        if later.is_none() {
            later = line
                .match_indices(name)
                .find(|(i, _)| {
                    let before = line[..*i].chars().next_back();
                    !before.is_some_and(is_name_char) && bounded(i + name.len())
                })
                .map(|(i, _)| at + i + name.len());
        }
    }
    if let Some(end) = later {
        return at..end;
    }
    let mut end = 0;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let dotted = c == '.' && end > 0 && chars.peek().is_some_and(|(_, n)| is_name_char(*n));
        if !(is_name_char(c) || dotted) {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == 0 {
        end = line.chars().next().map_or(0, char::len_utf8);
    }
    at..at + end
}

/// Writes every problem to stderr; `sources` are the submitted files.
pub fn render(problems: &[Problem], sources: &[(String, String)]) {
    let mut files = SimpleFiles::new();
    let ids: Vec<(String, usize)> = sources
        .iter()
        .map(|(n, c)| (n.clone(), files.add(n.clone(), c.clone())))
        .collect();
    let writer = StandardStream::stderr(crate::output::stderr_color());
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
            Some(Label::primary(*id, span(source, at, &p.message)))
        });
        match located {
            Some(label) => d = d.with_labels(vec![label]),
            None if p.file.is_empty() => {}
            None => d = d.with_notes(vec![format!("in {}", p.file)]),
        }
        if let Some(hint) = &p.hint {
            d = d.with_notes(vec![format!("help: {hint}")]);
        }
        let _ = term::emit(&mut writer.lock(), &config, &files, &d);
    }
}

#[cfg(test)]
mod tests {
    use super::{byte_offset, span};

    #[test]
    fn offsets_count_characters_not_bytes() {
        let src = "a = 1\nπ = 'é' + x\n";
        assert_eq!(byte_offset(src, 1, 1), Some(0));
        assert_eq!(byte_offset(src, 2, 1), Some(6));
        // column 11 is `x`, after two 2-byte characters
        assert_eq!(&src[byte_offset(src, 2, 11).unwrap()..][..1], "x");
        assert_eq!(byte_offset(src, 0, 1), None);
    }

    /// The underlined text for a problem at (line, column).
    fn underlined<'a>(src: &'a str, line: u32, column: u32, message: &str) -> &'a str {
        &src[span(src, byte_offset(src, line, column).unwrap(), message)]
    }

    #[test]
    fn the_whole_offending_name_is_underlined() {
        let src = "import requests\nimport os.path\nfrom subprocess import run\n\
                   y = app.__dict__\nx = ĥéllo + 1\nprint(\"hi\")\n";
        let msg = "`requests` cannot be imported";
        assert_eq!(underlined(src, 1, 8, msg), "requests");
        assert_eq!(
            underlined(src, 2, 8, "`os.path` cannot be imported"),
            "os.path"
        );
        // Reported at the statement: from there to the end of the name.
        assert_eq!(
            underlined(src, 3, 1, "`subprocess` cannot be imported"),
            "from subprocess"
        );
        assert_eq!(underlined(src, 4, 9, "`__dict__` is special"), "__dict__");
        // No quoted name: the (dotted, non-ASCII) name at the position.
        assert_eq!(underlined(src, 2, 8, "no quote"), "os.path");
        assert_eq!(underlined(src, 5, 5, "no quote"), "ĥéllo");
        assert_eq!(underlined(src, 4, 8, "no quote"), ".");
        // A quoted name must match whole words, not a prefix of another.
        assert_eq!(underlined(src, 1, 8, "`req` is not it"), "requests");
        // The end of a line or file underlines nothing past it.
        assert_eq!(underlined("x = (\n", 1, 6, "m"), "");
        assert_eq!(underlined(src, 6, 7, "m"), "\"");
    }
}
