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

/// Byte offsets of line starts, to turn a file offset into a [`Position`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The position of byte `offset` of `src` (clamped to the text).
    pub(crate) fn position(&self, src: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(src, offset.min(src.len()));
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let column = src[start..offset].chars().count() + 1;
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
    /// `(logical_start, file_start)` of each piece, in order.
    pieces: Vec<(usize, usize)>,
}

impl SourceMap {
    pub(crate) fn push(&mut self, logical_start: usize, file_start: usize) {
        self.pieces.push((logical_start, file_start));
    }

    /// The file offset of logical offset `at`.
    pub(crate) fn file_offset(&self, at: usize) -> usize {
        let i = self.pieces.partition_point(|&(l, _)| l <= at);
        match i.checked_sub(1).and_then(|i| self.pieces.get(i)) {
            Some(&(l, f)) => f + (at - l),
            None => self.pieces.first().map_or(0, |&(_, f)| f),
        }
    }

    /// The map of a sub-line starting at logical offset `start` (ONBUILD's
    /// trigger), re-based so that offset 0 is `start`.
    pub(crate) fn shifted(&self, start: usize) -> SourceMap {
        let mut out = SourceMap::default();
        out.push(0, self.file_offset(start));
        for &(l, f) in &self.pieces {
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
