//! Word wrapping of styled lines. The panes draw only the rows that fit,
//! counted from the bottom, so wrapping must be ours (ratatui's `Wrap`
//! cannot say how many rows a line takes without drawing it).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::text::{char_width, truncate, width as text_width};

/// Rows being built.
struct Rows {
    width: usize,
    style: Style,
    rows: Vec<Vec<Span<'static>>>,
    used: usize,
    /// What continuation rows start with, and its width.
    hang: Vec<Span<'static>>,
    hang_width: usize,
}

impl Rows {
    fn new(width: usize, style: Style, hang: &[Span<'_>]) -> Rows {
        let hang: Vec<Span<'static>> = hang
            .iter()
            .map(|s| Span::styled(s.content.to_string(), s.style))
            .collect();
        let hang_width: usize = hang.iter().map(Span::width).sum();
        // A hang that leaves no room for text is dropped.
        let (hang, hang_width) = if hang_width < width {
            (hang, hang_width)
        } else {
            (Vec::new(), 0)
        };
        Rows {
            width,
            style,
            rows: vec![Vec::new()],
            used: 0,
            hang,
            hang_width,
        }
    }

    /// Ends the current row (dropping its trailing whitespace).
    fn break_row(&mut self) {
        if let Some(row) = self.rows.last_mut() {
            while let Some(last) = row.last_mut() {
                let trimmed = last.content.trim_end().len();
                if trimmed > 0 {
                    last.content.to_mut().truncate(trimmed);
                    break;
                }
                row.pop();
            }
        }
        self.rows.push(self.hang.clone());
        self.used = self.hang_width;
    }

    /// Nothing but the hang on a continuation row yet.
    fn at_continuation_start(&self) -> bool {
        self.rows.len() > 1 && self.used == self.hang_width
    }

    /// Where text starts on the current row.
    fn start(&self) -> usize {
        if self.rows.len() > 1 {
            self.hang_width
        } else {
            0
        }
    }

    fn push(&mut self, text: &str, style: Style, w: usize) {
        self.used += w;
        let Some(row) = self.rows.last_mut() else {
            return;
        };
        match row.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push_str(text),
            _ => row.push(Span::styled(text.to_string(), style)),
        }
    }

    /// Places a word wider than a row, breaking it between characters.
    fn push_long(&mut self, word: &str, style: Style) {
        let mut piece = String::new();
        let mut piece_w = 0;
        for c in word.chars() {
            let w = char_width(c);
            if self.used + piece_w + w > self.width && self.used + piece_w > self.start() {
                self.push(&piece, style, piece_w);
                piece.clear();
                piece_w = 0;
                self.break_row();
            }
            piece.push(c);
            piece_w += w;
        }
        if !piece.is_empty() {
            self.push(&piece, style, piece_w);
        }
    }

    fn finish(self) -> Vec<Line<'static>> {
        let style = self.style;
        self.rows
            .into_iter()
            .map(|spans| Line::from(spans).style(style))
            .collect()
    }
}

/// Runs of whitespace and of non-whitespace, in order.
fn segments(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let space = first.is_whitespace();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace() != space)
            .map_or(rest.len(), |(i, _)| i);
        let (segment, tail) = rest.split_at(end);
        rest = tail;
        Some((segment, space))
    })
}

/// Wraps `line` into rows at most `width` cells wide: at spaces where
/// possible, inside words longer than a row. Whitespace at a break is
/// dropped; leading indentation of the first row is kept.
pub fn wrap(line: &Line<'_>, width: usize) -> Vec<Line<'static>> {
    wrap_hanging(line, width, &[])
}

/// Like [`wrap`], with every row after the first starting with `hang`
/// (a quote bar, the indent of a list item's text, ...).
pub fn wrap_hanging(line: &Line<'_>, width: usize, hang: &[Span<'_>]) -> Vec<Line<'static>> {
    let width = width.max(1);
    if line.width() <= width {
        return vec![to_owned(line)];
    }
    let mut rows = Rows::new(width, line.style, hang);
    for span in &line.spans {
        for (segment, space) in segments(&span.content) {
            let w = text_width(segment);
            if space {
                if rows.at_continuation_start() {
                    continue;
                }
                if rows.used + w > width {
                    rows.break_row();
                    continue;
                }
                rows.push(segment, span.style, w);
            } else if rows.used + w <= width {
                rows.push(segment, span.style, w);
            } else if w <= width - rows.hang_width {
                rows.break_row();
                rows.push(segment, span.style, w);
            } else {
                rows.push_long(segment, span.style);
            }
        }
    }
    rows.finish()
}

/// How many rows `line` takes at `width`.
pub fn height(line: &Line<'_>, width: usize) -> usize {
    if line.width() <= width.max(1) {
        1
    } else {
        wrap(line, width).len()
    }
}

/// An owned copy of a line.
pub fn to_owned(line: &Line<'_>) -> Line<'static> {
    Line::from(
        line.spans
            .iter()
            .map(|s| Span::styled(s.content.to_string(), s.style))
            .collect::<Vec<_>>(),
    )
    .style(line.style)
    .alignment(line.alignment.unwrap_or_default())
}

/// The last `rows` rows of `lines` wrapped at `width`, skipping the
/// bottom `skip` rows: what a pane scrolled `skip` rows up from its end
/// shows. Only the lines that can be seen are wrapped. Returns the rows
/// and whether anything lies above them.
pub fn tail<I>(lines: I, width: usize, rows: usize, skip: usize) -> (Vec<Line<'static>>, bool)
where
    I: DoubleEndedIterator<Item = Line<'static>>,
{
    let mut out: Vec<Line<'static>> = Vec::with_capacity(rows);
    let mut to_skip = skip;
    let mut more_above = false;
    for line in lines.rev() {
        if out.len() >= rows {
            more_above = true;
            break;
        }
        let mut wrapped = if line.width() <= width.max(1) {
            vec![line]
        } else {
            wrap(&line, width)
        };
        if to_skip > 0 {
            let cut = to_skip.min(wrapped.len());
            wrapped.truncate(wrapped.len() - cut);
            to_skip -= cut;
        }
        while let Some(row) = wrapped.pop() {
            if out.len() >= rows {
                more_above = true;
                break;
            }
            out.push(row);
        }
    }
    out.reverse();
    (out, more_above)
}

/// Cuts a line to `width` cells, ending in `…` when cut.
pub fn clip(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let mut used = 0;
    let mut spans = Vec::new();
    let style = line.style;
    for span in line.spans {
        let w = span.width();
        if used + w < width {
            used += w;
            spans.push(span);
            continue;
        }
        let room = width.saturating_sub(used);
        spans.push(Span::styled(truncate(&span.content, room), span.style));
        break;
    }
    Line::from(spans).style(style)
}

/// The rows to show, `scroll` rows up from the bottom, and the scroll
/// actually possible (never past the top).
pub fn visible<I>(
    lines: I,
    width: usize,
    height: usize,
    scroll: usize,
) -> (Vec<Line<'static>>, usize)
where
    I: DoubleEndedIterator<Item = Line<'static>> + Clone,
{
    let (rows, _) = tail(lines.clone(), width, height, scroll);
    if scroll == 0 || rows.len() >= height {
        return (rows, scroll);
    }
    // Scrolled past the top (everything was walked anyway): show the
    // first screenful.
    let total: usize = lines.clone().map(|line| self::height(&line, width)).sum();
    let scroll = total.saturating_sub(height);
    let (rows, _) = tail(lines, width, height, scroll);
    (rows, scroll)
}

#[cfg(test)]
mod tests {
    use ratatui::style::Stylize;

    use super::*;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_at_spaces_and_inside_long_words() {
        let line = Line::from("the quick brown fox jumps");
        assert_eq!(texts(&wrap(&line, 10)), ["the quick", "brown fox", "jumps"]);
        let line = Line::from("abcdefghijklmnop xy");
        assert_eq!(texts(&wrap(&line, 5)), ["abcde", "fghij", "klmno", "p xy"]);
        assert_eq!(texts(&wrap(&Line::from(""), 5)), [""]);
        assert_eq!(
            texts(&wrap(&Line::from("  indented text"), 12)),
            ["  indented", "text"]
        );
    }

    #[test]
    fn keeps_styles_and_handles_width_zero_and_wide_chars() {
        let line = Line::from(vec!["bold ".bold(), "plain words here".into()]);
        let rows = wrap(&line, 11);
        assert_eq!(texts(&rows), ["bold plain", "words here"]);
        assert_eq!(rows[0].spans[0].content, "bold ");
        assert!(
            rows[0].spans[0]
                .style
                .add_modifier
                .contains(ratatui::style::Modifier::BOLD)
        );
        assert_eq!(texts(&wrap(&Line::from("ab"), 0)), ["a", "b"]);
        assert_eq!(texts(&wrap(&Line::from("日本語"), 4)), ["日本", "語"]);
        assert_eq!(texts(&wrap(&Line::from("日本語"), 1)), ["日", "本", "語"]);
    }

    #[test]
    fn continuation_rows_start_with_the_hang() {
        let line = Line::from("│ the quick brown fox jumps over it");
        let hang = [Span::raw("│ ")];
        assert_eq!(
            texts(&wrap_hanging(&line, 12, &hang)),
            ["│ the quick", "│ brown fox", "│ jumps over", "│ it"]
        );
        let line = Line::from("1. abcdefghijklmnop");
        assert_eq!(
            texts(&wrap_hanging(&line, 8, &[Span::raw("   ")])),
            ["1. abcde", "   fghij", "   klmno", "   p"]
        );
        // A hang as wide as the row is ignored.
        assert_eq!(
            texts(&wrap_hanging(&Line::from("ab cd"), 2, &[Span::raw("   ")])),
            ["ab", "cd"]
        );
    }

    #[test]
    fn tail_takes_rows_from_the_bottom() {
        let lines: Vec<Line<'static>> = (0..10).map(|i| Line::from(format!("line {i}"))).collect();
        let (rows, more) = tail(lines.iter().cloned(), 20, 3, 0);
        assert_eq!(texts(&rows), ["line 7", "line 8", "line 9"]);
        assert!(more);
        let (rows, _) = tail(lines.iter().cloned(), 20, 3, 2);
        assert_eq!(texts(&rows), ["line 5", "line 6", "line 7"]);
        let (rows, more) = tail(lines.iter().cloned(), 20, 30, 0);
        assert_eq!(rows.len(), 10);
        assert!(!more);
        let (rows, _) = tail(lines.iter().cloned(), 20, 3, 100);
        assert!(rows.is_empty());
    }
}
