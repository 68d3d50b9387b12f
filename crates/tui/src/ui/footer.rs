//! The key hints under the status line, for what has the focus.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::clip;
use crate::app::{App, Focus, View};
use crate::theme;

fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    if app.input.completion.is_some() && app.focus == Focus::Input {
        return vec![("Tab", "insert"), ("↑↓", "choose"), ("Esc", "close")];
    }
    let mut hints = match app.focus {
        Focus::Input => vec![
            ("Enter", "send"),
            ("Alt-Enter", "newline"),
            ("↑↓", "history"),
            ("@", "file"),
            ("/", "command"),
        ],
        Focus::Main => vec![("↑↓", "scroll"), ("PgUp/PgDn", "page"), ("End", "follow")],
        Focus::Workers => vec![("↑↓", "select"), ("Enter", "transcript")],
        Focus::Tasks => vec![("↑↓", "select"), ("Enter", "details"), ("/retry", "")],
        Focus::Merges | Focus::Mail => vec![("↑↓", "select"), ("Enter", "open")],
    };
    if matches!(app.view, View::Transcript(_)) {
        hints.push(("Esc", "chat"));
    }
    hints.extend([("Tab", "panes"), ("?", "help"), ("Ctrl-C", "quit")]);
    hints
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in hints(app).into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme::dim()));
        }
        spans.push(Span::styled(key, theme::key()));
        if !what.is_empty() {
            spans.push(Span::styled(format!(" {what}"), theme::dim()));
        }
    }
    let line = clip(Line::from(spans), usize::from(area.width));
    frame.render_widget(Paragraph::new(line), area);
}
