//! Markdown (the planner's answers) to styled lines: headings, emphasis,
//! lists, quotes, code blocks, tables and rules. Lines come back unwrapped;
//! the chat pane wraps them to its width.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::text::sanitize;
use crate::theme;

/// Renders `markdown` into lines. Never fails: anything pulldown-cmark
/// does not turn into structure comes out as text.
pub fn render(markdown: &str) -> Vec<Line<'static>> {
    let clean = sanitize(markdown);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut renderer = Renderer::default();
    for event in Parser::new_ext(&clean, options) {
        renderer.event(event);
    }
    renderer.finish()
}

#[derive(Default)]
struct List {
    /// The next number of an ordered list.
    next: Option<u64>,
}

#[derive(Default)]
struct Renderer {
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
    in_table: bool,
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

    /// What goes in front of a line: quote bars and the list indent or
    /// marker.
    fn prefix(&mut self) -> Vec<Span<'static>> {
        let mut prefix = Vec::new();
        if self.quotes > 0 {
            prefix.push(Span::styled("│ ".repeat(self.quotes), theme::dim()));
        }
        let depth = self.lists.len();
        if depth > 0 {
            let indent = "  ".repeat(depth - 1);
            match self.marker.take() {
                Some(marker) => {
                    prefix.push(Span::styled(format!("{indent}{marker}"), theme::dim()))
                }
                None => prefix.push(Span::raw(format!("{indent}  "))),
            }
        }
        prefix
    }

    fn flush(&mut self) {
        if self.spans.is_empty() && self.marker.is_none() {
            return;
        }
        let mut spans = self.prefix();
        spans.append(&mut self.spans);
        self.lines.push(Line::from(spans));
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
                self.lines.push(Line::styled("─".repeat(24), theme::dim()));
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
                let style = match level {
                    HeadingLevel::H1 => theme::heading().add_modifier(Modifier::UNDERLINED),
                    _ => theme::heading(),
                };
                self.push_style(style);
                let hashes = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                };
                if hashes > 1 {
                    self.text(&format!("{} ", "#".repeat(hashes)), theme::dim());
                }
            }
            Tag::BlockQuote(_) => {
                self.gap();
                self.quotes += 1;
            }
            Tag::CodeBlock(kind) => {
                self.gap();
                self.code = true;
                if let CodeBlockKind::Fenced(lang) = kind
                    && !lang.trim().is_empty()
                {
                    self.text(&format!("  {}", lang.trim()), theme::dim());
                    self.flush();
                }
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.gap();
                } else {
                    self.flush();
                }
                self.lists.push(List { next: start });
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(n) }) => {
                        let marker = format!("{n}. ");
                        *n += 1;
                        marker
                    }
                    _ => "• ".to_string(),
                };
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
            Tag::Table(_) => {
                self.gap();
                self.in_table = true;
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
                let head = matches!(tag, TagEnd::TableHead);
                let cells = std::mem::take(&mut self.cells);
                for (i, mut cell) in cells.into_iter().enumerate() {
                    if i > 0 {
                        self.spans.push(Span::styled(" │ ", theme::dim()));
                    }
                    if head {
                        for span in &mut cell {
                            span.style = span.style.add_modifier(Modifier::BOLD);
                        }
                    }
                    self.spans.append(&mut cell);
                }
                self.flush();
                if head {
                    self.lines.push(Line::styled("─".repeat(24), theme::dim()));
                }
            }
            TagEnd::Table => {
                self.flush();
                self.in_table = false;
            }
            TagEnd::FootnoteDefinition => self.flush(),
            _ => {}
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

    fn texts(markdown: &str) -> Vec<String> {
        render(markdown).iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn paragraphs_headings_and_emphasis() {
        assert_eq!(
            texts("# Title\n\nSome *soft*\nwrapped **text**.\n\n## Next"),
            ["Title", "", "Some soft wrapped text.", "", "## Next"]
        );
        let lines = render("**bold** and *it*");
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
    }

    #[test]
    fn lists_nest_and_number() {
        assert_eq!(
            texts("- one\n- two\n  - inner\n\n1. first\n2. second"),
            ["• one", "• two", "  • inner", "", "1. first", "2. second"]
        );
        assert_eq!(
            texts("- [x] done\n- [ ] todo"),
            ["• [x] done", "• [ ] todo"]
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
    fn quotes_tables_rules_links() {
        assert_eq!(texts("> quoted\n> more"), ["│ quoted more"]);
        assert_eq!(
            texts("| a | b |\n|---|---|\n| 1 | 2 |"),
            ["a │ b", &"─".repeat(24), "1 │ 2"]
        );
        assert_eq!(texts("---"), ["─".repeat(24)]);
        assert_eq!(
            texts("[enki](https://x.dev) <https://y.dev>"),
            ["enki (https://x.dev) https://y.dev"]
        );
    }

    #[test]
    fn unfinished_and_hostile_input_is_text() {
        assert_eq!(texts("```\nopen fence"), ["  open fence"]);
        assert_eq!(texts("esc \u{1b}[2J here"), ["esc  here"]);
        assert!(render("").is_empty());
        // Deep nesting does not blow up.
        let deep = "> ".repeat(200) + "x";
        assert_eq!(render(&deep).len(), 1);
    }
}
