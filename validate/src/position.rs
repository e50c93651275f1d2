//! Byte offsets to 1-based lines and character columns.
//!
//! The parser reports byte offsets; learners need "line 3, column 7" where a
//! column counts characters, so `é` or `😀` before the error count as one.
//! Python ends a line at `\n`, `\r\n` or a lone `\r`, and so does this index.

/// Line starts of one source text, for turning byte offsets into positions.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset where each line starts; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 1;
                }
                b'\r' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex { text, starts }
    }

    /// 1-based (line, column) of a byte offset. Offsets past the end clamp to
    /// the end; offsets inside a multi-byte character point at that character.
    pub(crate) fn position(&self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (to_u32(line), to_u32(column))
    }

    /// The text of a 1-based line without its line break ("" when out of range).
    pub(crate) fn line_text(&self, line: u32) -> &'a str {
        let Some(index) = (line as usize).checked_sub(1) else {
            return "";
        };
        let Some(&start) = self.starts.get(index) else {
            return "";
        };
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// 1-based (line, column) of a byte offset in a slice of bytes that is only
/// valid UTF-8 up to `offset` (used to locate the first invalid byte).
pub(crate) fn position_in_prefix(bytes: &[u8], offset: usize) -> (u32, u32) {
    let prefix = &bytes[..offset.min(bytes.len())];
    let text = match std::str::from_utf8(prefix) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default(),
    };
    LineIndex::new(text).position(text.len())
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_lines_and_columns() {
        let index = LineIndex::new("ab\ncd\n");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(2), (1, 3));
        assert_eq!(index.position(3), (2, 1));
        assert_eq!(index.position(6), (3, 1));
        assert_eq!(index.position(600), (3, 1));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is 2 bytes, "😀" is 4 bytes, "中" is 3 bytes.
        let text = "x = 'é'\ny = '😀' + 中\n";
        let index = LineIndex::new(text);
        let plus = text.find('+').unwrap_or_default();
        assert_eq!(index.position(plus), (2, 9));
        let han = text.find('中').unwrap_or_default();
        assert_eq!(index.position(han), (2, 11));
        let close = text.find("'\n").unwrap_or_default();
        assert_eq!(index.position(close), (1, 7));
    }

    #[test]
    fn offsets_inside_a_character_point_at_it() {
        let index = LineIndex::new("aé");
        assert_eq!(index.position(2), (1, 2));
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        let index = LineIndex::new("a\r\nb\rc");
        assert_eq!(index.position(3), (2, 1));
        assert_eq!(index.position(5), (3, 1));
        assert_eq!(index.line_text(1), "a");
        assert_eq!(index.line_text(2), "b");
        assert_eq!(index.line_text(3), "c");
        assert_eq!(index.line_text(4), "");
        assert_eq!(index.line_text(0), "");
    }

    #[test]
    fn prefix_position_of_invalid_byte() {
        let bytes = b"ok\n\xc3\xa9t\xff";
        assert_eq!(position_in_prefix(bytes, 6), (2, 3));
    }
}
