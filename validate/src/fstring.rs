//! f-strings under Python 3.11's rules and 3.12's (PEP 701): what is inside
//! the `{}` fields of a 3.11 f-string, and where a 3.12 f-string would end.

use crate::scan::string_end;

/// Why an f-string is accepted by Python 3.12+ only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FString312 {
    /// The f-string's own quote is used again inside `{}`; `suggestion` is
    /// the literal rewritten with the other quote inside, when that is easy.
    SameQuote {
        quote: u8,
        suggestion: Option<String>,
    },
    /// A backslash inside `{}`.
    Backslash,
    /// A `#` comment inside `{}`.
    Comment,
}

/// What a 3.11 f-string body holds inside its `{}` fields.
pub(crate) struct FieldScan {
    /// First 3.12-only construct, as an offset into the body.
    pub(crate) issue: Option<(usize, FString312)>,
    /// The body ends inside a field.
    pub(crate) open: bool,
    /// Operators and brackets inside fields (a bound on their nesting).
    pub(crate) operators: u32,
}

impl FieldScan {
    pub(crate) fn run(body: &[u8]) -> FieldScan {
        let mut scan = FieldScan {
            issue: None,
            open: false,
            operators: 0,
        };
        // depth 0: literal text; otherwise brackets open inside the field.
        let mut depth = 0u32;
        let mut in_spec = false;
        let mut nested_quote: Option<u8> = None;
        let mut i = 0;
        while i < body.len() {
            let c = body[i];
            if depth == 0 {
                match c {
                    b'{' if body.get(i + 1) == Some(&b'{') => i += 1,
                    b'{' => {
                        depth = 1;
                        in_spec = false;
                    }
                    _ => {}
                }
                i += 1;
                continue;
            }
            if let Some(q) = nested_quote {
                if c == b'\\' && !in_spec {
                    scan.note(i, FString312::Backslash);
                } else if c == q {
                    nested_quote = None;
                }
                i += 1;
                continue;
            }
            match c {
                b'\\' if !in_spec => scan.note(i, FString312::Backslash),
                b'#' if !in_spec => scan.note(i, FString312::Comment),
                b'\'' | b'"' if !in_spec => nested_quote = Some(c),
                b'(' | b'[' => {
                    depth += 1;
                    scan.operators += 1;
                }
                b'{' => {
                    depth += 1;
                    if in_spec {
                        // A nested field in the format spec is an expression.
                        in_spec = false;
                    } else {
                        scan.operators += 1;
                    }
                }
                b')' | b']' => depth = depth.saturating_sub(1).max(1),
                b'}' => {
                    depth -= 1;
                    in_spec = false;
                }
                b':' | b'!' if depth == 1 && body.get(i + 1) != Some(&b'=') => in_spec = true,
                b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'.'
                    if !in_spec =>
                {
                    scan.operators += 1
                }
                _ => {}
            }
            i += 1;
        }
        scan.open = depth > 0;
        scan
    }

    fn note(&mut self, at: usize, issue: FString312) {
        if self.issue.is_none() {
            self.issue = Some((at, issue));
        }
    }
}

/// The offset after the closing quote of an f-string under Python 3.12's
/// rules (quotes inside `{}` start nested strings), if it is well formed.
pub(crate) fn fstring_end_312(
    b: &[u8],
    body: usize,
    quote: u8,
    triple: bool,
    nesting: u32,
) -> Option<usize> {
    if nesting > 4 {
        return None;
    }
    let mut i = body;
    let mut depth = 0u32;
    while i < b.len() {
        let c = b[i];
        if depth == 0 {
            match c {
                b'\\' => i += 1,
                b'{' if b.get(i + 1) == Some(&b'{') => i += 1,
                b'{' => depth = 1,
                b'\n' | b'\r' if !triple => return None,
                _ if c == quote => {
                    if !triple {
                        return Some(i + 1);
                    }
                    if b.get(i + 1) == Some(&quote) && b.get(i + 2) == Some(&quote) {
                        return Some(i + 3);
                    }
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' | b'"' => {
                let prefix_f = i > 0 && matches!(b[i - 1], b'f' | b'F');
                let inner_triple = b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c);
                let inner_body = i + if inner_triple { 3 } else { 1 };
                i = if prefix_f {
                    fstring_end_312(b, inner_body, c, inner_triple, nesting + 1)?
                } else {
                    string_end(b, inner_body, c, inner_triple, false)?
                };
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1).max(1),
            b'}' => depth -= 1,
            b'\n' | b'\r' if !triple => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// `literal` rewritten with the other quote character for strings inside
/// `{}`, when the result is short and unambiguous.
pub(crate) fn suggest_other_quote(literal: &[u8], quote: u8) -> Option<String> {
    let other = if quote == b'"' { b'\'' } else { b'"' };
    if literal.len() > 100 || literal.contains(&other) || literal.contains(&b'\n') {
        return None;
    }
    let text = std::str::from_utf8(literal).ok()?;
    let first = text.find(quote as char)?;
    let last = text.rfind(quote as char)?;
    if last <= first + 1 {
        return None;
    }
    let inner = text[first + 1..last].replace(quote as char, &(other as char).to_string());
    Some(format!("{}{}{}", &text[..=first], inner, &text[last..]))
}
