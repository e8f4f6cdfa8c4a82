//! Go's `strconv.Quote`, which BuildKit's AST dump and several of its error
//! messages use; matching it byte for byte lets `kiln parse --dump` be
//! diffed against BuildKit's `result` files.

/// Quotes `s` as Go's `strconv.Quote` does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0B}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space. Without Unicode category tables this treats every
/// assigned-looking character as printable except controls, the space
/// separators other than U+0020, the line and paragraph separators, the
/// format characters, private use, and noncharacters. Unassigned code points
/// therefore print raw where Go would escape them; no Dockerfile seen in the
/// wild depends on that.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if c == ' ' {
        return true;
    }
    if c.is_control() || (u & 0xFFFE) == 0xFFFE || (0xFDD0..=0xFDEF).contains(&u) {
        return false;
    }
    let not_printable: &[(u32, u32)] = &[
        // Space separators (Zs) other than U+0020.
        (0x00A0, 0x00A0),
        (0x1680, 0x1680),
        (0x2000, 0x200A),
        (0x202F, 0x202F),
        (0x205F, 0x205F),
        (0x3000, 0x3000),
        // Line and paragraph separators.
        (0x2028, 0x2029),
        // Format characters (Cf).
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        // Private use.
        (0xE000, 0xF8FF),
        (0xF0000, 0xFFFFD),
        (0x100000, 0x10FFFD),
    ];
    !not_printable.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("abc 123"), "\"abc 123\"");
        assert_eq!(go_quote("♥"), "\"♥\"");
        assert_eq!(
            go_quote("\" \\ / \u{8} \u{c} \n \r \t \u{0}"),
            "\"\\\" \\\\ / \\b \\f \\n \\r \\t \\x00\""
        );
        assert_eq!(go_quote("\u{7f}"), "\"\\x7f\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
        assert_eq!(go_quote("\u{feff}"), "\"\\ufeff\"");
        assert_eq!(go_quote("\u{10ffff}"), "\"\\U0010ffff\"");
        assert_eq!(
            go_quote_list(&["--a=1".into(), "--b".into()]),
            "[\"--a=1\" \"--b\"]"
        );
    }
}
