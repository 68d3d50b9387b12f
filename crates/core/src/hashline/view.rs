//! The read side: a window of a text shown as `<number>:<hash>|<text>` lines,
//! which is where agents get the anchors they later edit by.

use serde::Serialize;

use super::{line_hash, split_lines};

/// A window of a file in the hashline view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    /// The shown lines, each `"{number}:{hash}|{text}"`, joined with `'\n'`
    /// (no trailing newline).
    pub text: String,
    /// Number of the first shown line (1-based); 0 when no line is shown.
    pub first_line: usize,
    /// Number of the last shown line (1-based); 0 when no line is shown.
    pub last_line: usize,
    /// Number of lines in the whole text.
    pub total_lines: usize,
}

/// Renders `text` in the hashline view, starting at line `offset` (1-based;
/// 0 also means the start) and showing at most `limit` lines.
pub fn render(text: &str, offset: usize, limit: Option<usize>) -> Rendered {
    let lines = split_lines(text);
    let start = offset.max(1);
    let mut out = String::new();
    let mut first_line = 0;
    let mut last_line = 0;
    for (index, line) in lines
        .iter()
        .enumerate()
        .skip(start - 1)
        .take(limit.unwrap_or(usize::MAX))
    {
        let number = index + 1;
        if first_line == 0 {
            first_line = number;
        } else {
            out.push('\n');
        }
        last_line = number;
        out.push_str(&format!("{number}:{}|{}", line_hash(line.text), line.text));
    }
    Rendered {
        text: out,
        first_line,
        last_line,
        total_lines: lines.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_whole_file() {
        let r = render("fn main() {\r\n}\r\n", 0, None);
        assert_eq!(
            r.text,
            format!(
                "1:{}|fn main() {{\n2:{}|}}",
                line_hash("fn main() {"),
                line_hash("}")
            )
        );
        assert_eq!((r.first_line, r.last_line, r.total_lines), (1, 2, 2));
        assert_eq!(render("fn main() {\r\n}\r\n", 1, None), r);
    }

    #[test]
    fn render_offset_and_limit() {
        let text = "a\nb\nc\nd\ne";
        let r = render(text, 2, Some(2));
        assert_eq!(
            r.text,
            format!("2:{}|b\n3:{}|c", line_hash("b"), line_hash("c"))
        );
        assert_eq!((r.first_line, r.last_line, r.total_lines), (2, 3, 5));

        let r = render(text, 4, Some(10));
        assert_eq!((r.first_line, r.last_line), (4, 5));

        let r = render(text, 9, None);
        assert_eq!(r.text, "");
        assert_eq!((r.first_line, r.last_line, r.total_lines), (0, 0, 5));

        let r = render(text, 1, Some(0));
        assert_eq!((r.text.as_str(), r.first_line, r.total_lines), ("", 0, 5));
    }

    #[test]
    fn render_empty_and_blank_lines() {
        let r = render("", 0, None);
        assert_eq!(
            r,
            Rendered {
                text: String::new(),
                first_line: 0,
                last_line: 0,
                total_lines: 0
            }
        );
        let r = render("a\n\nb", 0, None);
        assert_eq!(r.total_lines, 3);
        assert_eq!(
            r.text.lines().nth(1),
            Some(format!("2:{}|", line_hash("")).as_str())
        );
    }
}
