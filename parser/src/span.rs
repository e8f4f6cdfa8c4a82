//! Source positions: 1-based lines and columns, and the map from a logical
//! instruction line (continuations joined) back to the file it came from.

use std::fmt;
use std::ops::Range;

/// A point in the Dockerfile: 1-based line, 1-based column counted in
/// characters (not bytes), so a caret printed under the line lands right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// A stretch of the Dockerfile, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First character.
    pub start: Position,
    /// One past the last character (on the same or a later line).
    pub end: Position,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Bytes per block of the character-count index.
const BLOCK: usize = 256;

/// Byte offsets of line starts, to turn a file offset into a [`Position`].
///
/// Columns count characters, and counting them from the start of the line
/// for every position would be quadratic on a long line with many words
/// (a 64 KiB `LABEL` line has thousands); `chars` keeps the number of
/// characters before every 256-byte block of the file, so a position costs
/// a binary search and at most one block.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    /// `chars[k]`: characters in the first `k * BLOCK` bytes.
    chars: Vec<usize>,
    /// `ascii[k]`: block `k` is ASCII, so bytes are characters.
    ascii: Vec<bool>,
}

/// Characters in `bytes` of UTF-8 (a slice may cut a character: only the
/// bytes that start one count).
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

impl LineIndex {
    pub(crate) fn new(src: &str) -> Self {
        // A byte order mark is no column: the first line starts after it.
        let first = if src.starts_with('\u{feff}') { 3 } else { 0 };
        let mut starts = vec![first];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars = Vec::with_capacity(src.len() / BLOCK + 1);
        let mut ascii = Vec::with_capacity(src.len() / BLOCK + 1);
        let mut total = 0;
        chars.push(0);
        for block in src.as_bytes().chunks(BLOCK) {
            let is_ascii = block.is_ascii();
            total += if is_ascii {
                block.len()
            } else {
                count_chars(block)
            };
            chars.push(total);
            ascii.push(is_ascii);
        }
        LineIndex {
            starts,
            chars,
            ascii,
        }
    }

    /// Characters in `src[..at]`.
    fn chars_before(&self, src: &str, at: usize) -> usize {
        let k = at / BLOCK;
        let base = self.chars.get(k).copied().unwrap_or(0);
        if self.ascii.get(k).copied().unwrap_or(true) {
            return base + (at - k * BLOCK);
        }
        base + count_chars(src.as_bytes().get(k * BLOCK..at).unwrap_or(&[]))
    }

    /// The position of byte `offset` of `src` (clamped to the text).
    pub(crate) fn position(&self, src: &str, offset: usize) -> Position {
        self.position_in(src, offset, (0, 0))
    }

    /// [`LineIndex::position`] for an offset known to lie on lines
    /// `lines.0..=lines.1` (1-based; `(0, 0)` if unknown): searching those
    /// alone keeps positions cheap in a file of millions of lines.
    pub(crate) fn position_in(&self, src: &str, offset: usize, lines: (usize, usize)) -> Position {
        let first = self.starts.first().copied().unwrap_or(0);
        let offset = floor_char_boundary(src, offset.min(src.len())).max(first);
        let (lo, hi) = (lines.0.saturating_sub(1), lines.1.min(self.starts.len()));
        let window = match (self.starts.get(lo), self.starts.get(hi)) {
            _ if lines.0 == 0 || lo >= hi => None,
            (Some(&a), Some(&b)) if a <= offset && offset < b => Some((lo, hi)),
            (Some(&a), None) if a <= offset => Some((lo, hi)),
            _ => None,
        };
        let line = match window {
            Some((lo, hi)) => match self.starts[lo..hi].binary_search(&offset) {
                Ok(i) => lo + i,
                Err(i) => lo + i.saturating_sub(1),
            },
            None => match self.starts.binary_search(&offset) {
                Ok(i) => i,
                Err(i) => i.saturating_sub(1),
            },
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let column = self.chars_before(src, offset) - self.chars_before(src, start) + 1;
        Position {
            line: line + 1,
            column,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Maps byte offsets of a logical line (an instruction with its
/// continuation lines joined) to byte offsets of the file.
///
/// Joining only ever drops a prefix (leading blanks of the first line) and a
/// suffix (the escape character and trailing blanks) of each physical line,
/// so the logical line is a sequence of contiguous file pieces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourceMap {
    /// `(logical_start, file_start)` of the first piece, kept out of the
    /// vector because most instructions are one line: no allocation then.
    first: Option<(usize, usize)>,
    /// The same for each later piece, in order.
    more: Vec<(usize, usize)>,
}

impl SourceMap {
    pub(crate) fn push(&mut self, logical_start: usize, file_start: usize) {
        if self.first.is_none() {
            self.first = Some((logical_start, file_start));
        } else {
            self.more.push((logical_start, file_start));
        }
    }

    fn pieces(&self) -> impl Iterator<Item = &(usize, usize)> + '_ {
        self.first.iter().chain(&self.more)
    }

    /// Where each piece starts in the logical line, in order: the places
    /// the original physical lines were joined.
    pub(crate) fn logical_starts(&self) -> impl Iterator<Item = usize> + '_ {
        self.pieces().map(|&(l, _)| l)
    }

    /// The file offset of logical offset `at`.
    pub(crate) fn file_offset(&self, at: usize) -> usize {
        let i = self.more.partition_point(|&(l, _)| l <= at);
        if let Some(&(l, f)) = i.checked_sub(1).and_then(|i| self.more.get(i)) {
            return f + (at - l);
        }
        match self.first {
            Some((l, f)) if l <= at => f + (at - l),
            Some((_, f)) => f,
            None => 0,
        }
    }

    /// The map of a sub-line starting at logical offset `start` (ONBUILD's
    /// trigger), re-based so that offset 0 is `start`.
    pub(crate) fn shifted(&self, start: usize) -> SourceMap {
        let mut out = SourceMap::default();
        out.push(0, self.file_offset(start));
        for &(l, f) in self.pieces() {
            if l > start {
                out.push(l - start, f);
            }
        }
        out
    }

    /// The file byte range of a logical range.
    pub(crate) fn file_range(&self, r: &Range<usize>) -> Range<usize> {
        let start = self.file_offset(r.start);
        let end = if r.end > r.start {
            self.file_offset(r.end - 1) + 1
        } else {
            start
        };
        start..end.max(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let src = "ab\n♥x\n";
        let idx = LineIndex::new(src);
        assert_eq!(idx.position(src, 0), Position { line: 1, column: 1 });
        assert_eq!(idx.position(src, 3), Position { line: 2, column: 1 });
        // After the three-byte heart.
        assert_eq!(idx.position(src, 6), Position { line: 2, column: 2 });
    }

    #[test]
    fn columns_across_blocks() {
        let src = format!("{}\n{}x", "é".repeat(300), "♥a".repeat(200));
        let idx = LineIndex::new(&src);
        let x = src.len() - 1;
        assert_eq!(
            idx.position(&src, x),
            Position {
                line: 2,
                column: 401
            }
        );
        let mid = 300 * 2 + 1 + 100 * 4;
        assert_eq!(
            idx.position(&src, mid),
            Position {
                line: 2,
                column: 201
            }
        );
        // An offset inside a character falls back to its start.
        assert_eq!(idx.position(&src, 1), Position { line: 1, column: 1 });
    }

    #[test]
    fn positions_within_a_line_window() {
        let src = "a\nbb\nccc\ndddd\n";
        let idx = LineIndex::new(src);
        for offset in 0..src.len() {
            let full = idx.position(src, offset);
            assert_eq!(idx.position_in(src, offset, (full.line, full.line)), full);
            assert_eq!(idx.position_in(src, offset, (2, 3)), full);
            assert_eq!(idx.position_in(src, offset, (1, 9)), full);
        }
    }

    #[test]
    fn byte_order_mark_is_no_column() {
        let src = "\u{feff}ab\n";
        let idx = LineIndex::new(src);
        assert_eq!(idx.position(src, 0), Position { line: 1, column: 1 });
        assert_eq!(idx.position(src, 3), Position { line: 1, column: 1 });
        assert_eq!(idx.position(src, 4), Position { line: 1, column: 2 });
    }

    #[test]
    fn source_map_follows_pieces() {
        let mut m = SourceMap::default();
        m.push(0, 10);
        m.push(5, 30);
        assert_eq!(m.file_offset(0), 10);
        assert_eq!(m.file_offset(4), 14);
        assert_eq!(m.file_offset(5), 30);
        assert_eq!(m.file_offset(7), 32);
        let s = m.shifted(3);
        assert_eq!(s.file_offset(0), 13);
        assert_eq!(s.file_offset(2), 30);
    }
}
