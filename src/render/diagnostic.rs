//! Dockerfile errors as a compiler shows them: one line that says what and
//! where, then the source line with a caret under the offending text.
//! Credentials in URLs never show: they are masked with as many `*`s, so
//! the caret still lines up.

use kiln_parser::Span;
use kiln_solver::op::mask_userinfo;

/// `Dockerfile:3:1: message` and the snippet.
pub fn with_span(file: &str, source: &str, span: Span, message: &str) -> String {
    let mut out = format!(
        "{file}:{}:{}: {}",
        span.start.line,
        span.start.column,
        mask_userinfo(message)
    );
    let Some(line) = source.lines().nth(span.start.line.saturating_sub(1)) else {
        return out;
    };
    let line = mask_userinfo(line);
    let num = span.start.line.to_string();
    let pad = " ".repeat(num.len());
    let start = span.start.column.saturating_sub(1);
    let width = if span.end.line == span.start.line && span.end.column > span.start.column {
        span.end.column - span.start.column
    } else {
        line.chars().count().saturating_sub(start).max(1)
    };
    // Tabs before the caret keep their width so the caret lines up.
    let lead: String = line
        .chars()
        .take(start)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    out.push_str(&format!(
        "\n {pad} |\n {num} | {line}\n {pad} | {lead}{}",
        "^".repeat(width)
    ));
    out
}

/// `Dockerfile:5: message` and the instruction's lines marked `>>>`.
pub fn with_lines(file: &str, source: &str, lines: (usize, usize), message: &str) -> String {
    let (first, last) = lines;
    let message = mask_userinfo(message);
    let mut out = if first == last {
        format!("{file}:{first}: {message}")
    } else {
        format!("{file}:{first}-{last}: {message}")
    };
    let width = last.to_string().len();
    for (i, text) in source.lines().enumerate() {
        let n = i + 1;
        if n >= first && n <= last {
            out.push_str(&format!("\n {n:>width$} | >>> {}", mask_userinfo(text)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_parser::Position;

    #[test]
    fn caret_under_the_text() {
        let src = "FROM a\n  FNTRYPOINT x\n";
        let span = Span {
            start: Position { line: 2, column: 3 },
            end: Position {
                line: 2,
                column: 13,
            },
        };
        let s = with_span("Dockerfile", src, span, "unknown instruction: FNTRYPOINT");
        assert_eq!(
            s,
            "Dockerfile:2:3: unknown instruction: FNTRYPOINT\n   |\n 2 |   FNTRYPOINT x\n   |   ^^^^^^^^^^"
        );
    }

    #[test]
    fn marks_instruction_lines() {
        let s = with_lines("Dockerfile", "FROM a\nRUN a \\\n  b\n", (2, 3), "boom");
        assert_eq!(s, "Dockerfile:2-3: boom\n 2 | >>> RUN a \\\n 3 | >>>   b");
    }

    /// H-SEC-3: no credentials in error output.
    #[test]
    fn credentials_are_masked() {
        let src = "FROM a\nADD --chmod=9z https://u:pw@h/f /d\n";
        let span = Span {
            start: Position { line: 2, column: 5 },
            end: Position {
                line: 2,
                column: 15,
            },
        };
        let s = with_span("Dockerfile", src, span, "bad chmod in https://u:pw@h/f");
        assert_eq!(
            s,
            "Dockerfile:2:5: bad chmod in https://****@h/f\n   |\n 2 | ADD --chmod=9z https://****@h/f /d\n   |     ^^^^^^^^^^"
        );
        let s = with_lines("Dockerfile", src, (2, 2), "failed");
        assert_eq!(
            s,
            "Dockerfile:2: failed\n 2 | >>> ADD --chmod=9z https://****@h/f /d"
        );
    }
}
