//! Unread mail, most pressing first; Enter shows a message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::layout::list_offset;
use super::{draw_rows, pane_block, title};
use crate::app::{App, Focus};
use crate::theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Mail;
    let unread = app.snapshot.unread.len();
    let extra = if unread > 0 {
        format!("{unread} unread")
    } else {
        String::new()
    };
    let block = pane_block(title("Mail", &extra), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if unread == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("no unread mail", theme::dim())),
            inner,
        );
        return;
    }
    let lines: Vec<Line<'static>> = app
        .snapshot
        .unread
        .iter()
        .map(|m| {
            let style = if m.priority == "urgent" || m.priority == "high" {
                theme::warn()
            } else {
                theme::info()
            };
            Line::from(vec![
                Span::styled("✉ ", style),
                Span::styled(format!("{} → {}: ", m.from, m.to), theme::dim()),
                Span::raw(m.subject.clone()),
            ])
        })
        .collect();
    let selected = app.selected_index(Focus::Mail).unwrap_or(0);
    let offset = list_offset(selected, 1, usize::from(inner.height));
    draw_rows(
        frame,
        inner,
        lines,
        offset,
        focused.then_some(selected..selected + 1),
    );
}
