//! Markdown (the planner's answers) to styled lines: headings, emphasis,
//! lists, quotes, code blocks, tables and rules, laid out for a width:
//! wrapped rows keep their quote bars and list indents, and tables get
//! aligned columns that fit.

use pulldown_cmark::{Alignment, CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::text::sanitize;
use crate::theme;
use crate::wrap::clip;
use crate::wrap::wrap_hanging;

/// The widest a rule is drawn.
const RULE: usize = 24;
/// Table columns are not narrowed below this (unless nothing else fits).
const MIN_COLUMN: usize = 3;
/// Between table columns.
const COLUMN_SEP: &str = " │ ";

/// Renders `markdown` into rows at most `width` cells wide. Never fails:
/// anything pulldown-cmark does not turn into structure comes out as text.
pub fn render(markdown: &str, width: usize) -> Vec<Line<'static>> {
    let clean = sanitize(markdown);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer {
        width: width.max(1),
        ..Renderer::default()
    };
    for event in Parser::new_ext(&clean, options) {
        renderer.event(event);
    }
    renderer.finish()
}

#[derive(Default)]
struct List {
    /// The next number of an ordered list.
    next: Option<u64>,
    /// Width of the current item's marker: its text is indented by it.
    marker_width: usize,
}

/// A table being read: its rows of cells (the head first).
#[derive(Default)]
struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    head_rows: usize,
}

#[derive(Default)]
struct Renderer {
    width: usize,
    lines: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    lists: Vec<List>,
    /// The marker of a list item whose first line is not out yet.
    marker: Option<String>,
    quotes: usize,
    code: bool,
    links: Vec<String>,
    /// Cells of the table row being read.
    cells: Vec<Vec<Span<'static>>>,
    table: Option<Table>,
}

fn span_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles
            .iter()
            .fold(Style::new(), |acc, style| acc.patch(*style))
    }

    fn push_style(&mut self, style: Style) {
        self.styles.push(style);
    }

    fn pop_style(&mut self) {
        self.styles.pop();
    }

    fn text(&mut self, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
        match self.spans.last_mut() {
            Some(last) if last.style == style => last.content.to_mut().push_str(text),
            _ => self.spans.push(Span::styled(text.to_string(), style)),
        }
    }

    /// Quote bars and the indent of the enclosing list items.
    fn indent(&self) -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        if self.quotes > 0 {
            spans.push(Span::styled("│ ".repeat(self.quotes), theme::dim()));
        }
        let outer: usize = self
            .lists
            .iter()
            .rev()
            .skip(1)
            .map(|l| l.marker_width)
            .sum();
        if outer > 0 {
            spans.push(Span::raw(" ".repeat(outer)));
        }
        spans
    }

    /// What goes in front of a line (quote bars, the list marker or the
    /// indent of the item's text) and in front of its continuation rows.
    fn prefix(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let mut first = self.indent();
        let mut hang = first.clone();
        if let Some(list) = self.lists.last() {
            let pad = " ".repeat(list.marker_width);
            match self.marker.take() {
                Some(marker) => first.push(Span::styled(marker, theme::dim())),
                None => first.push(Span::raw(pad.clone())),
            }
            hang.push(Span::raw(pad));
        }
        if self.code {
            hang.push(Span::raw("  "));
        }
        (first, hang)
    }

    fn flush(&mut self) {
        if self.spans.is_empty() && self.marker.is_none() {
            return;
        }
        let (mut spans, hang) = self.prefix();
        spans.append(&mut self.spans);
        let line = Line::from(spans);
        self.lines.extend(wrap_hanging(&line, self.width, &hang));
    }

    /// The indent of a block inside the current list item or quote.
    fn block_indent(&self) -> Vec<Span<'static>> {
        let mut spans = self.indent();
        if let Some(list) = self.lists.last() {
            spans.push(Span::raw(" ".repeat(list.marker_width)));
        }
        spans
    }

    /// A line that is not wrapped (rules, table rows): the indent, then
    /// `spans`, cut to the width.
    fn push_unwrapped(&mut self, spans: Vec<Span<'static>>) {
        let mut line = self.block_indent();
        line.extend(spans);
        self.lines.push(clip(Line::from(line), self.width));
    }

    /// A blank line between blocks, never two, never at the top.
    fn gap(&mut self) {
        self.flush();
        if self.lists.is_empty()
            && self
                .lines
                .last()
                .is_some_and(|line| !line.spans.iter().all(|s| s.content.trim().is_empty()))
        {
            self.lines.push(Line::default());
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => {
                if self.code {
                    self.code_text(&text);
                } else {
                    let style = self.style();
                    self.text(&text, style);
                }
            }
            Event::Code(code) => {
                let style = self.style().patch(theme::code());
                self.text(&code, style);
            }
            Event::SoftBreak => {
                let style = self.style();
                self.text(" ", style);
            }
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.gap();
                let rule = "─".repeat(RULE.min(self.width));
                self.push_unwrapped(vec![Span::styled(rule, theme::dim())]);
            }
            Event::TaskListMarker(done) => {
                let style = self.style();
                self.text(if done { "[x] " } else { "[ ] " }, style);
            }
            Event::Html(html) | Event::InlineHtml(html) => {
                for (i, piece) in html.split('\n').enumerate() {
                    if i > 0 {
                        self.flush();
                    }
                    let style = self.style();
                    self.text(piece, style);
                }
            }
            Event::FootnoteReference(name) => {
                let style = self.style();
                self.text(&format!("[^{name}]"), style);
            }
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                let style = self.style().patch(theme::code());
                self.text(&math, style);
            }
        }
    }

    fn code_text(&mut self, text: &str) {
        let mut pieces = text.split('\n').peekable();
        while let Some(piece) = pieces.next() {
            if !piece.is_empty() {
                self.text("  ", Style::new());
                self.text(piece, theme::code());
            }
            if pieces.peek().is_some() {
                if self.spans.is_empty() {
                    // An empty line of code still takes a row.
                    self.text(" ", Style::new());
                }
                self.flush();
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // A paragraph that opens a list item starts on the marker's line.
            Tag::Paragraph if self.marker.is_none() => self.gap(),
            Tag::Heading { level, .. } => {
                self.gap();
                // Levels show by style, never by literal hashes.
                let style = match level {
                    HeadingLevel::H1 => theme::heading().add_modifier(Modifier::UNDERLINED),
                    HeadingLevel::H2 => theme::heading(),
                    _ => theme::title(),
                };
                self.push_style(style);
            }
            Tag::BlockQuote(_) => {
                self.gap();
                self.quotes += 1;
            }
            Tag::CodeBlock(kind) => {
                self.gap();
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.trim().is_empty()
                {
                    self.text(&format!("  {}", lang.trim()), theme::dim());
                    self.flush();
                }
                self.code = true;
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.gap();
                } else {
                    self.flush();
                }
                self.lists.push(List {
                    next: start,
                    marker_width: 2,
                });
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n), .. }) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "• ".to_string(),
                };
                if let Some(list) = self.lists.last_mut() {
                    list.marker_width = crate::text::width(&marker);
                }
                self.marker = Some(marker);
            }
            Tag::Emphasis => self.push_style(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(Style::new().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                self.push_style(Style::new().add_modifier(Modifier::UNDERLINED));
            }
            Tag::Image { dest_url, .. } => {
                self.links.push(dest_url.to_string());
                let style = self.style();
                self.text("[image: ", style);
                self.push_style(Style::new());
            }
            Tag::Table(aligns) => {
                self.gap();
                self.table = Some(Table {
                    aligns,
                    ..Table::default()
                });
            }
            Tag::TableHead | Tag::TableRow => self.cells.clear(),
            Tag::TableCell => {}
            Tag::FootnoteDefinition(name) => {
                self.gap();
                self.text(&format!("[^{name}]: "), theme::dim());
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.flush(),
            TagEnd::Heading(_) => {
                self.pop_style();
                self.flush();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quotes = self.quotes.saturating_sub(1);
            }
            TagEnd::CodeBlock => {
                self.flush();
                self.code = false;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_style(),
            TagEnd::Link => {
                self.pop_style();
                if let Some(url) = self.links.pop() {
                    let shown: String = self.spans.iter().map(|s| s.content.as_ref()).collect();
                    if !url.is_empty() && !shown.ends_with(&url) {
                        self.text(&format!(" ({url})"), theme::dim());
                    }
                }
            }
            TagEnd::Image => {
                self.pop_style();
                self.links.pop();
                let style = self.style();
                self.text("]", style);
            }
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.spans);
                self.cells.push(cell);
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                let cells = std::mem::take(&mut self.cells);
                if let Some(table) = &mut self.table {
                    table.rows.push(cells);
                    if matches!(tag, TagEnd::TableHead) {
                        table.head_rows = table.rows.len();
                    }
                }
            }
            TagEnd::Table => {
                if let Some(table) = self.table.take() {
                    self.table(table);
                }
            }
            TagEnd::FootnoteDefinition => self.flush(),
            _ => {}
        }
    }

    /// Lays a table out: columns as wide as their widest cell, narrowed
    /// (widest first) until the table fits, cells cut with `…`.
    fn table(&mut self, table: Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let mut widths = vec![1; columns];
        for row in &table.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(span_width(cell));
            }
        }
        let room = self.width.saturating_sub(span_width(&self.block_indent()));
        let sep = crate::text::width(COLUMN_SEP);
        let total = |widths: &[usize]| widths.iter().sum::<usize>() + sep * (columns - 1);
        while total(&widths) > room {
            let Some((widest, w)) = widths
                .iter()
                .copied()
                .enumerate()
                .max_by_key(|(i, w)| (*w, std::cmp::Reverse(*i)))
            else {
                break;
            };
            if w <= MIN_COLUMN {
                break;
            }
            widths[widest] = w - 1;
        }
        for (r, row) in table.rows.into_iter().enumerate() {
            let head = r < table.head_rows;
            let mut spans = Vec::new();
            for (i, width) in widths.iter().copied().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(COLUMN_SEP, theme::dim()));
                }
                let mut cell = row.get(i).cloned().unwrap_or_default();
                if head {
                    for span in &mut cell {
                        span.style = span.style.add_modifier(Modifier::BOLD);
                    }
                }
                let cell = clip(Line::from(cell), width).spans;
                let pad = width.saturating_sub(span_width(&cell));
                let (left, right) = match table.aligns.get(i) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                if left > 0 {
                    spans.push(Span::raw(" ".repeat(left)));
                }
                spans.extend(cell);
                // No trailing spaces after the last column.
                if right > 0 && i + 1 < columns {
                    spans.push(Span::raw(" ".repeat(right)));
                }
            }
            self.push_unwrapped(spans);
            if head && r + 1 == table.head_rows {
                let rule = widths
                    .iter()
                    .map(|w| "─".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("─┼─");
                self.push_unwrapped(vec![Span::styled(rule, theme::dim())]);
            }
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.flush();
        while self
            .lines
            .last()
            .is_some_and(|line| line.spans.iter().all(|s| s.content.trim().is_empty()))
        {
            self.lines.pop();
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts_at(markdown: &str, width: usize) -> Vec<String> {
        render(markdown, width)
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    fn texts(markdown: &str) -> Vec<String> {
        texts_at(markdown, 200)
    }

    #[test]
    fn paragraphs_headings_and_emphasis() {
        assert_eq!(
            texts("# Title\n\nSome *soft*\nwrapped **text**.\n\n## Next\n\n### Third"),
            [
                "Title",
                "",
                "Some soft wrapped text.",
                "",
                "Next",
                "",
                "Third"
            ]
        );
        let lines = render("**bold** and *it*", 80);
        assert!(
            lines[0].spans[0]
                .style
                .add_modifier
                .contains(Modifier::BOLD)
        );
        assert!(
            lines[0].spans[2]
                .style
                .add_modifier
                .contains(Modifier::ITALIC)
        );
        // Headings are styled, never shown with their hashes.
        let heading = &render("## Steps", 80)[0];
        assert_eq!(heading.to_string(), "Steps");
        assert_eq!(heading.spans[0].style, theme::heading());
    }

    #[test]
    fn headings_streamed_in_pieces_render_the_same() {
        // The planner's answer arrives in chunks; the accumulated text is
        // rendered, so a heading split across chunks is still a heading.
        let whole = "Plan:\n\n## Steps\n\n1. one\n";
        let mut text = String::new();
        for chunk in ["Plan:\n\n#", "# St", "eps\n", "\n1. one\n"] {
            text.push_str(chunk);
        }
        assert_eq!(texts(&text), texts(whole));
        assert_eq!(texts(whole), ["Plan:", "", "Steps", "", "1. one"]);
    }

    #[test]
    fn lists_nest_and_number() {
        assert_eq!(
            texts("- one\n- two\n  - inner\n\n1. first\n2. second\n   - under"),
            [
                "• one",
                "• two",
                "  • inner",
                "",
                "1. first",
                "2. second",
                "   • under"
            ]
        );
        assert_eq!(
            texts("- [x] done\n- [ ] todo"),
            ["• [x] done", "• [ ] todo"]
        );
    }

    #[test]
    fn wrapped_list_items_and_quotes_keep_their_indent_and_bar() {
        assert_eq!(
            texts_at("- the quick brown fox jumps over the dog", 16),
            ["• the quick", "  brown fox", "  jumps over the", "  dog"]
        );
        assert_eq!(
            texts_at("10. the quick brown fox", 14),
            ["10. the quick", "    brown fox"]
        );
        assert_eq!(
            texts_at("> Note: the cache must be invalidated", 16),
            ["│ Note: the", "│ cache must be", "│ invalidated"]
        );
    }

    #[test]
    fn code_blocks_keep_their_lines() {
        assert_eq!(
            texts("Before:\n\n```rust\nfn main() {\n\n    run();\n}\n```\nAfter `x`."),
            [
                "Before:",
                "",
                "  rust",
                "  fn main() {",
                " ",
                "      run();",
                "  }",
                "",
                "After x."
            ]
        );
    }

    #[test]
    fn tables_align_their_columns_and_fit_the_width() {
        let table = "| step | tier |\n|------|-----:|\n| parse | light |\n| cache | standard |";
        assert_eq!(
            texts(table),
            [
                "step  │     tier",
                "──────┼─────────",
                "parse │    light",
                "cache │ standard"
            ]
        );
        // Too wide: the widest column gives way and its cells are cut.
        let wide = "| a | description |\n|---|---|\n| 1 | a very long description of it |";
        let rows = texts_at(wide, 20);
        assert_eq!(
            rows,
            [
                "a │ description",
                "──┼─────────────────",
                "1 │ a very long des…"
            ]
        );
        assert!(rows.iter().all(|r| crate::text::width(r) <= 20));
        // Head cells are bold.
        let lines = render(table, 80);
        assert!(
            lines[0].spans[0]
                .style
                .add_modifier
                .contains(Modifier::BOLD)
        );
    }

    #[test]
    fn quotes_rules_links() {
        assert_eq!(texts("> quoted\n> more"), ["│ quoted more"]);
        assert_eq!(texts("---"), ["─".repeat(24)]);
        assert_eq!(texts_at("---", 10), ["─".repeat(10)]);
        assert_eq!(
            texts("[enki](https://x.dev) <https://y.dev>"),
            ["enki (https://x.dev) https://y.dev"]
        );
    }

    #[test]
    fn unfinished_and_hostile_input_is_text() {
        assert_eq!(texts("```\nopen fence"), ["  open fence"]);
        assert_eq!(texts("esc \u{1b}[2J here"), ["esc  here"]);
        assert!(render("", 80).is_empty());
        // Deep nesting does not blow up, even narrow.
        let deep = "> ".repeat(200) + "x";
        assert!(!render(&deep, 500).is_empty());
        let _ = render(&deep, 3);
        let _ = render("| a | b | c | d |\n|-|-|-|-|\n| 1 | 2 | 3 | 4 |", 1);
    }
}
