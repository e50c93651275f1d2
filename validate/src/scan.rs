//! A light pass over the raw source before parsing, with Python 3.11's
//! tokenizing rules, that finds what the parser reports badly or cannot bound:
//!
//! - code nested too deeply to walk safely (the parser's tree would be deep
//!   enough to exhaust the stack when it is walked or dropped);
//! - the bracket that is never closed, closed by the wrong kind, or extra;
//! - a string that is never closed;
//! - f-strings only Python 3.12 accepts (PEP 701).
//!
//! It never fails: it only records the first problem of each kind, as a byte
//! offset. Only ASCII bytes are significant, so offsets are char boundaries.

pub(crate) use crate::fstring::FString312;
use crate::fstring::{FieldScan, fstring_end_312, suggest_other_quote};

/// Deepest nesting accepted: brackets plus operators chained inside one
/// element. CPython itself stops at 200 nested brackets.
pub(crate) const MAX_NESTING: u32 = 200;
/// Deepest indentation accepted (CPython's own limit is 100).
pub(crate) const MAX_INDENT_LEVELS: usize = 100;
/// Longest `elif` chain accepted (each `elif` nests one level in the tree).
pub(crate) const MAX_ELIF_CHAIN: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TooDeep {
    Nesting,
    Indentation,
    ElifChain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bracket {
    /// Opened at `open` and never closed.
    Unclosed { open: usize, ch: u8 },
    /// Closed at `close` by `ch` although `open_ch` was opened at `open`.
    Mismatch {
        open: usize,
        open_ch: u8,
        close: usize,
        ch: u8,
    },
    /// A closing bracket with nothing open.
    Extra { close: usize, ch: u8 },
}

impl Bracket {
    /// Where the problem is reported.
    pub(crate) fn offset(self) -> usize {
        match self {
            Bracket::Unclosed { open, .. } => open,
            Bracket::Mismatch { close, .. } | Bracket::Extra { close, .. } => close,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) too_deep: Option<(usize, TooDeep)>,
    pub(crate) bracket: Option<Bracket>,
    /// Offset of the first unterminated string and whether it is triple-quoted.
    pub(crate) unterminated: Option<(usize, bool)>,
    /// Offset of the first problem in a 3.12-only f-string.
    pub(crate) fstring_312: Option<(usize, FString312)>,
}

/// Per-bracket-level counter of nesting operators since the last separator.
#[derive(Default, Clone, Copy)]
struct Level {
    chained: u32,
    lambdas: u32,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    scan: Scan,
    brackets: Vec<(u8, usize)>,
    levels: Vec<Level>,
    indents: Vec<usize>,
    elif_runs: Vec<u32>,
    /// The next token is the first of a logical line.
    line_start: bool,
    /// The indentation of the next line has not been measured yet.
    need_indent: bool,
    /// Sum of `chained` over `levels`.
    total: u32,
    /// The last token was a value, so a bracket after it is a call or a
    /// subscript (one more level) rather than a grouping.
    after_value: bool,
}

pub(crate) fn scan(text: &str) -> Scan {
    let mut s = Scanner {
        b: text.as_bytes(),
        i: 0,
        scan: Scan::default(),
        brackets: Vec::new(),
        levels: vec![Level::default()],
        indents: vec![0],
        elif_runs: vec![0],
        line_start: true,
        need_indent: true,
        total: 0,
        after_value: false,
    };
    s.run();
    s.scan
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

fn closer_of(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> u8 {
        self.b.get(self.i + ahead).copied().unwrap_or(0)
    }

    fn too_deep(&mut self, at: usize, why: TooDeep) {
        if self.scan.too_deep.is_none() {
            self.scan.too_deep = Some((at, why));
        }
    }

    fn level(&mut self) -> &mut Level {
        if self.levels.is_empty() {
            self.levels.push(Level::default());
        }
        let last = self.levels.len() - 1;
        &mut self.levels[last]
    }

    /// One more operator that nests the tree one level deeper.
    fn nest(&mut self, at: usize) {
        self.level().chained += 1;
        self.total += 1;
        self.check_depth(at, 0);
    }

    fn check_depth(&mut self, at: usize, extra: usize) {
        let brackets = u32::try_from(self.brackets.len() + extra).unwrap_or(u32::MAX);
        if self.total.saturating_add(brackets) > MAX_NESTING {
            self.too_deep(at, TooDeep::Nesting);
        }
    }

    /// A `,` or `=` ends one element: what follows is a sibling, not a child.
    fn separator(&mut self) {
        let level = self.level();
        if level.lambdas == 0 {
            let chained = std::mem::take(&mut level.chained);
            self.total -= chained;
        }
    }

    fn run(&mut self) {
        // Once too deep, nothing else matters: the file is not parsed.
        while self.i < self.b.len() && self.scan.too_deep.is_none() {
            if self.need_indent && self.brackets.is_empty() {
                self.need_indent = false;
                self.indentation();
                if self.i >= self.b.len() {
                    break;
                }
            }
            let c = self.b[self.i];
            match c {
                b'#' => self.skip_comment(),
                b'\\' => {
                    self.i += 1;
                    if self.peek(0) == b'\r' {
                        self.i += 1;
                    }
                    if self.peek(0) == b'\n' {
                        self.i += 1;
                    }
                }
                b'\n' | b'\r' => {
                    self.i += 1;
                    if self.brackets.is_empty() {
                        self.levels = vec![Level::default()];
                        self.total = 0;
                        self.after_value = false;
                        self.line_start = true;
                        self.need_indent = true;
                    }
                }
                b' ' | b'\t' | 0x0c => self.i += 1,
                b'\'' | b'"' => {
                    self.token_seen("");
                    self.string(self.i, self.i, b"");
                    self.after_value = true;
                }
                b'0'..=b'9' => {
                    self.token_seen("");
                    self.number();
                    self.after_value = true;
                }
                b'.' if self.peek(1).is_ascii_digit() => {
                    self.token_seen("");
                    self.number();
                    self.after_value = true;
                }
                _ if is_word_byte(c) => self.word(),
                b'(' | b'[' | b'{' => {
                    self.token_seen("");
                    let at = self.i;
                    if self.after_value {
                        // A call or subscript nests the tree one more level.
                        self.nest(at);
                    }
                    self.check_depth(at, 1);
                    self.brackets.push((c, at));
                    self.levels.push(Level::default());
                    self.after_value = false;
                    self.i += 1;
                }
                b')' | b']' | b'}' => {
                    self.token_seen("");
                    self.close(c);
                }
                _ => {
                    self.token_seen("");
                    self.operator();
                    self.after_value = false;
                }
            }
        }
        if let Some(&(ch, open)) = self.brackets.first()
            && self.scan.bracket.is_none()
        {
            // Report the outermost unclosed bracket: that is where the
            // statement that never ends begins.
            self.scan.bracket = Some(Bracket::Unclosed { open, ch });
        }
    }

    /// Measures the indentation of a logical line and tracks the indent stack.
    fn indentation(&mut self) {
        let mut width = 0usize;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b' ' => width += 1,
                b'\t' => width = (width / 8 + 1) * 8,
                0x0c => width = 0,
                _ => break,
            }
            self.i += 1;
        }
        match self.peek(0) {
            // Blank and comment-only lines do not count.
            b'\n' | b'\r' | b'#' | 0 => return,
            b'\\' if matches!(self.peek(1), b'\n' | b'\r') => return,
            _ => {}
        }
        while self.indents.last().is_some_and(|&top| width < top) {
            self.indents.pop();
            self.elif_runs.pop();
        }
        if self.indents.last().is_none_or(|&top| width > top) {
            self.indents.push(width);
            self.elif_runs.push(0);
        }
        if self.indents.len() > MAX_INDENT_LEVELS + 1 {
            self.too_deep(self.i, TooDeep::Indentation);
        }
        self.line_start = true;
    }

    /// Bookkeeping for the first token of a logical line (`elif` chains).
    fn token_seen(&mut self, word: &str) {
        if !self.line_start {
            return;
        }
        self.line_start = false;
        let at = self.i;
        if let Some(run) = self.elif_runs.last_mut() {
            if word == "elif" {
                *run += 1;
                if *run > MAX_ELIF_CHAIN {
                    self.too_deep(at, TooDeep::ElifChain);
                }
            } else {
                *run = 0;
            }
        }
    }

    fn skip_comment(&mut self) {
        while self.i < self.b.len() && !matches!(self.b[self.i], b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn number(&mut self) {
        while self.i < self.b.len() {
            let c = self.b[self.i];
            let exponent_sign = matches!(c, b'+' | b'-')
                && self.i > 0
                && matches!(self.b[self.i - 1], b'e' | b'E')
                && self
                    .b
                    .get(self.i.wrapping_sub(2))
                    .is_some_and(u8::is_ascii_digit);
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn word(&mut self) {
        let start = self.i;
        while self.i < self.b.len() && is_word_byte(self.b[self.i]) {
            self.i += 1;
        }
        let word = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        if matches!(self.peek(0), b'\'' | b'"') && is_string_prefix(word) {
            self.token_seen("");
            self.string(start, self.i, word.as_bytes());
            self.after_value = true;
            return;
        }
        self.token_seen(word);
        self.after_value = !is_statement_keyword(word);
        match word {
            "not" | "await" | "if" | "else" => self.nest(start),
            "lambda" => {
                self.nest(start);
                self.level().lambdas += 1;
            }
            _ => {}
        }
    }

    fn close(&mut self, c: u8) {
        let at = self.i;
        self.i += 1;
        self.after_value = true;
        match self.brackets.pop() {
            Some((open_ch, open)) => {
                if let Some(level) = self.levels.pop() {
                    self.total -= level.chained;
                }
                if closer_of(open_ch) != c && self.scan.bracket.is_none() {
                    self.scan.bracket = Some(Bracket::Mismatch {
                        open,
                        open_ch,
                        close: at,
                        ch: c,
                    });
                }
            }
            None => {
                if self.scan.bracket.is_none() {
                    self.scan.bracket = Some(Bracket::Extra { close: at, ch: c });
                }
            }
        }
    }

    fn operator(&mut self) {
        let at = self.i;
        let c = self.b[self.i];
        let next = self.peek(1);
        match (c, next) {
            (b'-', b'>') => self.i += 2,
            (b':', b'=') => {
                self.nest(at);
                self.i += 2;
            }
            (b':', _) => {
                self.i += 1;
                let level = self.level();
                level.lambdas = level.lambdas.saturating_sub(1);
            }
            (b'=', b'=') | (b'!', b'=') | (b'<', b'=') | (b'>', b'=') => self.i += 2,
            (b',' | b';' | b'=', _) => {
                self.i += 1;
                self.separator();
            }
            (b'<', b'<') | (b'>', b'>') | (b'*', b'*') | (b'/', b'/') => {
                self.i += 2;
                self.binary_or_augmented(at);
            }
            (b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^', _) => {
                self.i += 1;
                self.binary_or_augmented(at);
            }
            (b'~', _) => {
                self.i += 1;
                self.nest(at);
            }
            (b'.', _) => {
                self.i += 1;
                self.nest(at);
            }
            _ => self.i += 1,
        }
    }

    fn binary_or_augmented(&mut self, at: usize) {
        if self.peek(0) == b'=' {
            self.i += 1;
            self.separator();
        } else {
            self.nest(at);
        }
    }

    /// Scans a string literal whose prefix starts at `start` and whose quote
    /// is at `quote_at`, with Python 3.11's rules.
    fn string(&mut self, start: usize, quote_at: usize, prefix: &[u8]) {
        let quote = self.b[quote_at];
        let triple =
            self.b.get(quote_at + 1) == Some(&quote) && self.b.get(quote_at + 2) == Some(&quote);
        let body = quote_at + if triple { 3 } else { 1 };
        let raw = prefix.iter().any(|c| c.eq_ignore_ascii_case(&b'r'));
        let is_f = prefix.iter().any(|c| c.eq_ignore_ascii_case(&b'f'));
        let Some(end) = string_end(self.b, body, quote, triple, raw) else {
            if self.scan.unterminated.is_none() {
                self.scan.unterminated = Some((start, triple));
            }
            // Resynchronise at the end of the line (or of the file).
            self.i = body;
            if triple {
                self.i = self.b.len();
            } else {
                while self.i < self.b.len() && !matches!(self.b[self.i], b'\n' | b'\r') {
                    self.i += 1;
                }
            }
            return;
        };
        self.i = end;
        if is_f {
            self.fstring(start, body, end - if triple { 3 } else { 1 }, quote, triple);
        }
    }

    /// Looks inside an f-string (3.11 token `body..close`) for what only 3.12
    /// accepts, and bounds the nesting of its expressions.
    fn fstring(&mut self, start: usize, body: usize, close: usize, quote: u8, triple: bool) {
        let fields = FieldScan::run(&self.b[body..close]);
        if fields.operators > MAX_NESTING {
            self.too_deep(start, TooDeep::Nesting);
        }
        if self.scan.fstring_312.is_some() {
            return;
        }
        if let Some((at, issue)) = fields.issue {
            self.scan.fstring_312 = Some((body + at, issue));
        } else if fields.open
            && let Some(end) = fstring_end_312(self.b, body, quote, triple, 0)
        {
            // 3.11 ended the string at `close` inside a `{}`; 3.12 would go on
            // to `end`: the same quote is used inside the braces.
            let suggestion = suggest_other_quote(&self.b[start..end], quote);
            self.scan.fstring_312 = Some((close, FString312::SameQuote { quote, suggestion }));
            self.i = end;
        }
    }
}

/// Keywords after which a bracket is not a call or subscript.
fn is_statement_keyword(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
    )
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "f" | "b" | "br" | "rb" | "fr" | "rf"
    )
}

/// The offset just after the closing quote of a string whose body starts at
/// `body`, or `None` when it is never closed.
pub(crate) fn string_end(
    b: &[u8],
    body: usize,
    quote: u8,
    triple: bool,
    raw: bool,
) -> Option<usize> {
    let mut i = body;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            // Even raw strings cannot end with an odd backslash.
            i += 2;
            if !raw && b.get(i - 1) == Some(&b'\r') && b.get(i) == Some(&b'\n') {
                i += 1;
            }
            continue;
        }
        if c == quote {
            if !triple {
                return Some(i + 1);
            }
            if b.get(i + 1) == Some(&quote) && b.get(i + 2) == Some(&quote) {
                return Some(i + 3);
            }
        } else if !triple && matches!(c, b'\n' | b'\r') {
            return None;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_code_has_no_bracket_problem() {
        let s = scan("x = [1, (2, {3: 4})]\ns = '(' + \"[\" # )\n");
        assert_eq!(s.bracket, None);
        assert_eq!(s.unterminated, None);
    }

    #[test]
    fn unclosed_bracket_reports_its_opening() {
        let s = scan("x = foo(1,\ny = 2\n");
        assert_eq!(s.bracket, Some(Bracket::Unclosed { open: 7, ch: b'(' }));
    }

    #[test]
    fn mismatched_and_extra_brackets() {
        let s = scan("x = (1, 2]\n");
        assert_eq!(
            s.bracket,
            Some(Bracket::Mismatch {
                open: 4,
                open_ch: b'(',
                close: 9,
                ch: b']'
            })
        );
        let s = scan("x = 1)\n");
        assert_eq!(s.bracket, Some(Bracket::Extra { close: 5, ch: b')' }));
    }

    #[test]
    fn unterminated_strings() {
        assert_eq!(scan("x = 'abc\ny = 1\n").unterminated, Some((4, false)));
        assert_eq!(scan("x = \"\"\"abc\n").unterminated, Some((4, true)));
        assert_eq!(scan("x = rb'a\\'b'\n").unterminated, None);
    }

    #[test]
    fn fstring_with_same_quotes_is_312_only() {
        let s = scan("x = f\"{d[\"k\"]}\"\n");
        match s.fstring_312 {
            Some((at, FString312::SameQuote { quote, suggestion })) => {
                assert_eq!(at, 9);
                assert_eq!(quote, b'"');
                assert_eq!(suggestion.as_deref(), Some("f\"{d['k']}\""));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.bracket, None);
    }

    #[test]
    fn fstring_backslash_and_comment() {
        let s = scan("x = f\"{'\\n'.join(a)}\"\n");
        assert!(matches!(s.fstring_312, Some((_, FString312::Backslash))));
        let s = scan("x = f'''{a # c\n}'''\n");
        assert!(matches!(s.fstring_312, Some((_, FString312::Comment))));
    }

    #[test]
    fn valid_311_fstrings_are_fine() {
        for src in [
            "f\"{d['k']}\"",
            "f'{x!r:>{width}}'",
            "f'{{literal}} {x:#x} {y:%Y-%m-%d}'",
            "f\"{a if b else c}\"",
            "rf'\\d{x}'",
            "f'{x!=y}'",
        ] {
            let s = scan(src);
            assert_eq!(s.fstring_312, None, "{src}");
            assert_eq!(s.unterminated, None, "{src}");
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        assert!(
            scan(&("x = ".to_string() + &"1+".repeat(300) + "1"))
                .too_deep
                .is_some()
        );
        assert!(
            scan(&("x = ".to_string() + &"(".repeat(250) + &")".repeat(250)))
                .too_deep
                .is_some()
        );
        assert!(scan(&"-".repeat(500)).too_deep.is_some());
        assert!(
            scan(&("f".to_string() + &"()".repeat(300)))
                .too_deep
                .is_some()
        );
        assert!(
            scan(&("x = ".to_string() + &"lambda a, b: ".repeat(300) + "1"))
                .too_deep
                .is_some()
        );
        let flat = format!("x = [{}]\n", "-1, ".repeat(5000));
        assert!(scan(&flat).too_deep.is_none());
        let chain = format!("if x: pass\n{}", "elif x: pass\n".repeat(400));
        assert_eq!(
            scan(&chain).too_deep.map(|(_, w)| w),
            Some(TooDeep::ElifChain)
        );
        let mut deep = String::new();
        for n in 0..120 {
            deep.push_str(&" ".repeat(n));
            deep.push_str("if x:\n");
        }
        assert_eq!(
            scan(&deep).too_deep.map(|(_, w)| w),
            Some(TooDeep::Indentation)
        );
    }

    #[test]
    fn fstring_operators_are_bounded() {
        let src = format!("f'{{{}1}}'", "1+".repeat(300));
        assert!(scan(&src).too_deep.is_some());
    }
}
