//! Unread mail: the subject first, then who wrote to whom (workers by
//! their step and title). Mail to the planner is listed dimmed and not
//! counted as the user's unread mail. Enter shows a message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{draw_rows, pane_block, title};
use crate::layout::list_offset;
use crate::state::{App, Focus};
use crate::theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Mail;
    let unread = app.snapshot.unread.len();
    let for_user = app.unread_for_user();
    let for_others = unread - for_user;
    let extra = match (for_user, for_others) {
        (0, 0) => String::new(),
        (n, 0) => format!("{n} unread"),
        (0, m) => format!("{m} to the planner"),
        (n, m) => format!("{n} unread · {m} to the planner"),
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
            let subject = if m.to == "user" {
                ratatui::style::Style::new()
            } else {
                theme::dim()
            };
            Line::from(vec![
                Span::styled("✉ ", style),
                Span::styled(m.subject.clone(), subject),
                Span::styled(
                    format!(" · {} → {}", app.address(&m.from), app.address(&m.to)),
                    theme::dim(),
                ),
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
