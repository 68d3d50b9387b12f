//! The `?` overlay: every key and slash command ([`crate::help`]).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Paragraph};

use crate::help::lines;
use crate::layout::centered;
use crate::theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, scroll: usize) {
    let lines = lines();
    let want_h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, 96, want_h);
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    let (rows, _, _) = super::overlay::scrolled_rows(lines, popup, scroll);
    super::overlay::clear_around(frame, area, popup);
    frame.render_widget(
        Paragraph::new(rows).block(
            Block::bordered()
                .border_style(theme::border(true))
                .title(Span::styled(" Help · Esc to close ", theme::title())),
        ),
        popup,
    );
}
