//! Parsing with rustpython-parser, and syntax errors a beginner understands.

use rustpython_parser::ast::{Mod, Stmt};
use rustpython_parser::lexer::{LexicalErrorType, lex};
use rustpython_parser::{FStringErrorType, Mode, ParseError, ParseErrorType, Tok};

use crate::diagnostic::Diagnostic;
use crate::position::LineIndex;
use crate::scan::{self, Bracket, FString312, Scan, TooDeep};

/// Parses one file. Returns its statements, or `None` after reporting why it
/// could not be parsed (exactly one syntax diagnostic per broken file).
pub(crate) fn parse_file(
    name: &str,
    text: &str,
    index: &LineIndex,
    out: &mut Vec<Diagnostic>,
) -> Option<Vec<Stmt>> {
    let scan = scan::scan(text);
    if let Some((at, why)) = scan.too_deep {
        out.push(too_deep(name, index.position(at), why));
        return None;
    }
    let fstring = scan.fstring_312.clone();
    match rustpython_parser::parse(text, Mode::Module, name) {
        Ok(module) => {
            // rustpython accepts some f-strings that Python 3.11 refuses.
            if let Some((at, issue)) = fstring {
                out.push(fstring_312(name, index.position(at), &issue));
            }
            match module {
                Mod::Module(m) => Some(m.body),
                _ => Some(Vec::new()),
            }
        }
        Err(error) => {
            let error_at = error.offset.to_usize();
            let diagnostic = match fstring {
                Some((at, issue)) if at <= error_at => {
                    fstring_312(name, index.position(at), &issue)
                }
                _ => Translator {
                    name,
                    text,
                    index,
                    scan: &scan,
                }
                .translate(&error),
            };
            out.push(diagnostic);
            None
        }
    }
}

fn too_deep(name: &str, at: (u32, u32), why: TooDeep) -> Diagnostic {
    let (message, hint) = match why {
        TooDeep::Nesting => (
            "This expression is nested too deeply to check.",
            "split it into smaller steps with intermediate variables",
        ),
        TooDeep::Indentation => (
            "This line is indented more than 100 levels deep.",
            "move inner blocks into their own functions",
        ),
        TooDeep::ElifChain => (
            "This if/elif chain is too long to check.",
            "look the value up in a dict instead of testing it with many elif branches",
        ),
    };
    Diagnostic::error("GF108", name, at, message).hint(hint)
}

fn fstring_312(name: &str, at: (u32, u32), issue: &FString312) -> Diagnostic {
    let (message, hint) = match issue {
        FString312::SameQuote { quote, suggestion } => {
            let q = *quote as char;
            let other = if q == '"' { '\'' } else { '"' };
            (
                format!(
                    "This f-string uses {q} inside its {{}} as well as around it, which only Python 3.12+ accepts; apps run on Python 3.11."
                ),
                match suggestion {
                    Some(s) => format!("use the other quotes inside the braces: {s}"),
                    None => format!("use {other} for strings inside the braces, or compute the value before the f-string"),
                },
            )
        }
        FString312::Backslash => (
            "This f-string has a backslash inside its {}, which only Python 3.12+ accepts; apps run on Python 3.11.".to_string(),
            "compute the value before the f-string, e.g. `text = \"\\n\".join(lines)` then `f\"{text}\"`".to_string(),
        ),
        FString312::Comment => (
            "This f-string has a # comment inside its {}, which only Python 3.12+ accepts; apps run on Python 3.11.".to_string(),
            "remove the comment from inside the f-string".to_string(),
        ),
    };
    Diagnostic::error("GF102", name, at, message).hint(hint)
}

/// Facts about the tokens before a parse error.
#[derive(Default)]
struct Context {
    /// First token of the logical line holding the error.
    first: Option<Tok>,
    /// Byte offset of that first token.
    first_at: usize,
    /// The token before the error and where it ends.
    previous: Option<(Tok, usize)>,
    /// The logical line has a ':' outside brackets before the error.
    colon: bool,
}

struct Translator<'a> {
    name: &'a str,
    text: &'a str,
    index: &'a LineIndex<'a>,
    scan: &'a Scan,
}

impl Translator<'_> {
    fn at(&self, offset: usize) -> (u32, u32) {
        self.index.position(offset)
    }

    fn error(&self, code: &'static str, offset: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, self.name, self.at(offset), message)
    }

    /// The text before `offset`, cut at a character boundary.
    fn before(&self, offset: usize) -> &str {
        let mut end = offset.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        &self.text[..end]
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.at(offset).0
    }

    fn context(&self, offset: usize) -> Context {
        let mut context = Context::default();
        let mut expect_first = true;
        let mut depth = 0u32;
        for token in lex(self.text, Mode::Module) {
            let Ok((tok, range)) = token else { break };
            if range.start().to_usize() >= offset {
                break;
            }
            match tok {
                Tok::Newline | Tok::Indent | Tok::Dedent => {
                    expect_first = true;
                    context.colon = false;
                    depth = 0;
                }
                _ if expect_first => {
                    expect_first = false;
                    context.first = Some(tok.clone());
                    context.first_at = range.start().to_usize();
                }
                Tok::Lpar | Tok::Lsqb | Tok::Lbrace => depth += 1,
                Tok::Rpar | Tok::Rsqb | Tok::Rbrace => depth = depth.saturating_sub(1),
                Tok::Colon if depth == 0 => context.colon = true,
                _ => {}
            }
            context.previous = Some((tok, range.end().to_usize()));
        }
        context
    }

    fn translate(&self, error: &ParseError) -> Diagnostic {
        let offset = error.offset.to_usize();
        // An unterminated string swallows the brackets after it, so it wins
        // over an unclosed bracket; a wrong closer before it wins over it.
        let string = self.scan.unterminated.filter(|&(start, _)| start <= offset);
        let bracket = self.scan.bracket.filter(|b| b.offset() <= offset);
        match (bracket, string) {
            (Some(b), Some((start, _)))
                if !matches!(b, Bracket::Unclosed { .. }) && b.offset() < start =>
            {
                return self.bracket(b);
            }
            (_, Some((start, triple))) => return self.unterminated(start, triple),
            (Some(b), None) => return self.bracket(b),
            (None, None) => {}
        }
        match &error.error {
            ParseErrorType::Lexical(lexical) => self.lexical(lexical, offset),
            ParseErrorType::UnrecognizedToken(tok, expected) => {
                self.unexpected(tok, expected.as_deref(), offset)
            }
            ParseErrorType::ExtraToken(tok) => self.unexpected(tok, None, offset),
            ParseErrorType::Eof | ParseErrorType::InvalidToken => self.eof(offset),
        }
    }

    fn bracket(&self, bracket: Bracket) -> Diagnostic {
        let ch = |c: u8| c as char;
        match bracket {
            Bracket::Unclosed { open, ch: c } => self
                .error(
                    "GF103",
                    open,
                    format!(
                        "The '{}' opened on line {} is never closed.",
                        ch(c),
                        self.line_of(open)
                    ),
                )
                .hint(format!(
                    "add the matching '{}' where the expression ends",
                    ch(closer(c))
                )),
            Bracket::Mismatch {
                open,
                open_ch,
                close,
                ch: c,
            } => self
                .error(
                    "GF103",
                    close,
                    format!(
                        "This '{}' does not match the '{}' opened on line {}.",
                        ch(c),
                        ch(open_ch),
                        self.line_of(open)
                    ),
                )
                .hint(format!(
                    "close the '{}' with '{}'",
                    ch(open_ch),
                    ch(closer(open_ch))
                )),
            Bracket::Extra { close, ch: c } => self
                .error(
                    "GF103",
                    close,
                    format!("This '{}' closes a bracket that was never opened.", ch(c)),
                )
                .hint(format!(
                    "remove it, or add the missing '{}' before it",
                    ch(opener(c))
                )),
        }
    }

    fn unterminated(&self, start: usize, triple: bool) -> Diagnostic {
        let from = self.before(start).len();
        let quote = self.text[from..]
            .chars()
            .find(|c| *c == '"' || *c == '\'')
            .unwrap_or('"');
        let (message, hint) = if triple {
            (
                "This triple-quoted string is never closed.",
                format!("add the closing {q}{q}{q} where the text ends", q = quote),
            )
        } else {
            (
                "This string is never closed.",
                format!("add the closing {quote} at the end of the text, on the same line"),
            )
        };
        self.error("GF106", start, message).hint(hint)
    }

    fn lexical(&self, error: &LexicalErrorType, offset: usize) -> Diagnostic {
        use LexicalErrorType as L;
        let generic = |message: String| self.error("GF101", offset, message);
        match error {
            L::IndentationError => self
                .error(
                    "GF104",
                    offset,
                    "This line's indentation does not match any block above it.",
                )
                .hint("line it up exactly with the block it belongs to (4 spaces per level)"),
            L::TabError | L::TabsAfterSpaces => self
                .error(
                    "GF104",
                    offset,
                    "This line mixes tabs and spaces in its indentation.",
                )
                .hint("indent with spaces only, 4 per level"),
            L::UnrecognizedToken { tok } => {
                // The lexer reports the offset after the character.
                let before = self.before(offset);
                let at = before.rfind(*tok).unwrap_or(offset);
                self.invalid_character(*tok, at)
            }
            L::StringError => self.unterminated(offset, false),
            L::Eof => self.eof(offset),
            L::NestingError => {
                generic("A closing bracket here has no matching opening bracket.".into())
            }
            L::DefaultArgumentError => generic(
                "A parameter without a default value cannot come after one with a default value."
                    .into(),
            )
            .hint("move the parameters with defaults (like `limit: int = 10`) to the end"),
            L::DuplicateArgumentError(arg) => generic(format!(
                "The parameter `{arg}` appears twice in this definition."
            )),
            L::PositionalArgumentError => generic(
                "A positional argument cannot come after a keyword argument (name=value).".into(),
            )
            .hint("put the plain values first, then the name=value arguments"),
            L::UnpackedArgumentError => {
                generic("`*args` cannot come after `**kwargs` in a call.".into())
            }
            L::DuplicateKeywordArgumentError(arg) => {
                generic(format!("The keyword argument `{arg}` is given twice."))
            }
            L::FStringError(kind) => self.fstring_error(kind, offset),
            L::LineContinuationError => generic(
                "A backslash at the end of a line must be the very last character on it.".into(),
            )
            .hint(
                "remove the characters after the backslash, or use brackets to continue the line",
            ),
            L::UnicodeError => generic("This string has an invalid \\N{...} or \\u escape.".into()),
            L::OtherError(_) => {
                // The offset is at the end of the bad token: find its start.
                let before = self.before(offset);
                let start = before
                    .char_indices()
                    .rev()
                    .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .map_or(0, |(i, c)| i + c.len_utf8());
                let token = &before[start..];
                if token.len() > 1
                    && token.starts_with('0')
                    && token[1..].starts_with(|c: char| c.is_ascii_digit())
                {
                    self.error("GF101", start, "Numbers cannot start with 0 in Python 3.")
                        .hint("remove the leading zeros, or write 0o17 for an octal number")
                } else {
                    generic("Python does not understand the code here.".into())
                }
            }
        }
    }

    fn fstring_error(&self, kind: &FStringErrorType, offset: usize) -> Diagnostic {
        use FStringErrorType as F;
        let what = match kind {
            F::UnclosedLbrace => "has a '{' without a matching '}'".to_string(),
            F::SingleRbrace | F::UnopenedRbrace => {
                "has a '}' without a matching '{' (write '}}' for a literal brace)".to_string()
            }
            F::EmptyExpression => {
                "has an empty {} (put a value inside, or write '{{' for a literal brace)"
                    .to_string()
            }
            F::InvalidConversionFlag => {
                "has an invalid conversion after '!' (use !r, !s or !a)".to_string()
            }
            F::ExpressionCannotInclude(c) => {
                format!("cannot include {c:?} inside its {{}} in Python 3.11")
            }
            _ => "is not valid".to_string(),
        };
        self.error("GF101", offset, format!("This f-string {what}."))
    }

    fn invalid_character(&self, c: char, offset: usize) -> Diagnostic {
        let hint = match c {
            '\u{201c}' | '\u{201d}' | '\u{2018}' | '\u{2019}' | '\u{00ab}' | '\u{00bb}' => {
                "curly quotes usually come from copying code out of a document; type straight quotes \" or ' instead"
            }
            '\u{00a0}' | '\u{2002}'..='\u{200b}' | '\u{3000}' | '\u{feff}' => {
                "this is an invisible special space; delete it and type a normal space"
            }
            '\u{2013}' | '\u{2014}' | '\u{2212}' => "use the normal minus sign -",
            '\u{00d7}' => "use * to multiply",
            '\u{00f7}' => "use / to divide",
            '$' | '?' | '`' => {
                "this character has no meaning in Python outside of strings and comments"
            }
            _ => "remove it, or put it inside a string or a comment",
        };
        self.error(
            "GF107",
            offset,
            format!(
                "The character {c:?} (U+{:04X}) is not valid in Python code.",
                c as u32
            ),
        )
        .hint(hint)
    }

    fn eof(&self, offset: usize) -> Diagnostic {
        self.error(
            "GF101",
            offset,
            "The file ends before the last statement is complete.",
        )
        .hint("check the end of the file for a missing value, bracket or quote")
    }

    fn unexpected(&self, tok: &Tok, expected: Option<&str>, offset: usize) -> Diagnostic {
        if *tok == Tok::Indent {
            return self
                .error("GF104", offset, "This line is indented more than the line above it, but no block starts there.")
                .hint("remove the extra spaces at the start of the line, or end the line above with ':' if it starts a block");
        }
        if expected == Some("Indent") {
            return self.expected_block(offset);
        }
        let context = self.context(offset);
        let block = context.first.as_ref().and_then(block_keyword);
        let missing_colon = expected == Some("\":\"")
            || (*tok == Tok::Newline && block.is_some() && !context.colon);
        if missing_colon {
            return self.missing_colon(tok, &context, block, offset);
        }
        if let (Tok::String { .. }, Some((Tok::Name { name }, _))) = (tok, &context.previous)
            && name == "print"
        {
            return self
                .error(
                    "GF101",
                    offset,
                    "print is a function in Python 3, so its value needs brackets.",
                )
                .hint("write print(\"...\") with the text inside the brackets");
        }
        let first_is_test = matches!(context.first, Some(Tok::If | Tok::Elif | Tok::While));
        if *tok == Tok::Equal && first_is_test {
            return self
                .error(
                    "GF101",
                    offset,
                    "A single = assigns a value; it cannot be used in a condition.",
                )
                .hint("use == to compare two values");
        }
        if let Some(word) = orphan_keyword(tok) {
            return self
                .error(
                    "GF101",
                    offset,
                    format!("This `{word}` has no matching statement before it."),
                )
                .hint(format!(
                    "line `{word}` up with the `{}` it belongs to, at the same indentation",
                    if word == "else" || word == "elif" {
                        "if"
                    } else {
                        "try"
                    }
                ));
        }
        if *tok == Tok::Newline || *tok == Tok::EndOfFile {
            return self
                .error(
                    "GF101",
                    offset,
                    "This line ends before the statement is complete.",
                )
                .hint("check for a missing value after an operator, or a missing bracket");
        }
        let described = describe(tok);
        let after_value = matches!(
            context.previous,
            Some((
                Tok::Name { .. }
                    | Tok::Int { .. }
                    | Tok::Float { .. }
                    | Tok::String { .. }
                    | Tok::Rpar
                    | Tok::Rsqb
                    | Tok::Rbrace,
                _
            ))
        );
        let diagnostic = self.error(
            "GF101",
            offset,
            format!("Python did not expect {described} here."),
        );
        if after_value
            && matches!(
                tok,
                Tok::Name { .. } | Tok::Int { .. } | Tok::Float { .. } | Tok::String { .. }
            )
        {
            diagnostic.hint("there may be a missing comma or operator between the two values")
        } else {
            diagnostic
        }
    }

    fn missing_colon(
        &self,
        tok: &Tok,
        context: &Context,
        block: Option<&str>,
        offset: usize,
    ) -> Diagnostic {
        let at = match (tok, &context.previous) {
            (Tok::Newline, Some((_, end))) => *end,
            _ => offset,
        };
        let header_line = self.line_of(context.first_at.min(at));
        let line_text = self.index.line_text(self.line_of(at)).trim();
        let message = match block {
            Some("async") => {
                let what = line_text.split_whitespace().nth(1).unwrap_or("def");
                format!("The `async {what}` line must end with a ':'.")
            }
            Some(word) => format!("The `{word}` line must end with a ':'."),
            None => "A ':' is missing here.".to_string(),
        };
        let mut diagnostic = self.error("GF105", at, message);
        if *tok == Tok::Newline
            && !line_text.contains('#')
            && header_line == self.line_of(at)
            && !line_text.is_empty()
        {
            diagnostic = diagnostic.hint(format!("add a colon: `{line_text}:`"));
        } else {
            diagnostic = diagnostic.hint("add ':' at the end of the line that starts the block");
        }
        diagnostic
    }

    fn expected_block(&self, offset: usize) -> Diagnostic {
        // The header is the last non-blank line before the error's line.
        let line = self.line_of(offset);
        let header = (1..line)
            .rev()
            .map(|l| (l, self.index.line_text(l).trim()))
            .find(|(_, text)| !text.is_empty() && !text.starts_with('#'));
        let message = match header {
            Some((l, text)) => {
                let short: String = text.chars().take(40).collect();
                let ellipsis = if text.chars().count() > 40 { "..." } else { "" };
                format!("The block after `{short}{ellipsis}` on line {l} must be indented.")
            }
            None => "An indented block is expected here.".to_string(),
        };
        self.error("GF104", offset, message)
            .hint("indent the lines of the block by 4 spaces; write `pass` if it should be empty")
    }
}

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

fn opener(close: u8) -> u8 {
    match close {
        b')' => b'(',
        b']' => b'[',
        _ => b'{',
    }
}

/// The keyword of a statement that must end with ':'.
fn block_keyword(tok: &Tok) -> Option<&'static str> {
    Some(match tok {
        Tok::Def => "def",
        Tok::Class => "class",
        Tok::If => "if",
        Tok::Elif => "elif",
        Tok::Else => "else",
        Tok::For => "for",
        Tok::While => "while",
        Tok::With => "with",
        Tok::Try => "try",
        Tok::Except => "except",
        Tok::Finally => "finally",
        Tok::Async => "async",
        _ => return None,
    })
}

fn orphan_keyword(tok: &Tok) -> Option<&'static str> {
    Some(match tok {
        Tok::Else => "else",
        Tok::Elif => "elif",
        Tok::Except => "except",
        Tok::Finally => "finally",
        _ => return None,
    })
}

/// A token as a beginner would name it.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name { name } => format!("the name `{name}`"),
        Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => "a number".to_string(),
        Tok::String { .. } => "a string".to_string(),
        Tok::Newline => "the end of the line".to_string(),
        Tok::Indent => "an indented line".to_string(),
        Tok::Dedent => "a less indented line".to_string(),
        Tok::EndOfFile => "the end of the file".to_string(),
        other => other.to_string(),
    }
}
