//! The key hints under the status line, for what has the focus.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::clip;
use crate::app::{App, Focus, Overlay, View};
use crate::theme;

/// The keys that work now: those of what is open on top, else those of
/// the focused pane.
fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    match &app.overlay {
        Some(Overlay::ConfirmQuit) => {
            return vec![
                ("y", "stop and quit"),
                ("n", "keep working"),
                ("Ctrl-C", "quit now"),
            ];
        }
        _ if app.prompt_open && !app.permissions.is_empty() => {
            return vec![
                ("y", "allow once"),
                ("A", "allow always"),
                ("n", "deny"),
                ("Esc", "answer later"),
            ];
        }
        Some(Overlay::Help { .. } | Overlay::Text { .. }) => {
            let mut hints = vec![
                ("↑↓", "scroll"),
                ("PgUp/PgDn", "page"),
                ("Home", "top"),
                ("Esc", "close"),
            ];
            if !app.permissions.is_empty() {
                hints.push(("F2", "answer permission"));
            }
            return hints;
        }
        None => {}
    }
    let mut hints = Vec::new();
    if !app.permissions.is_empty() {
        hints.push(("F2", "answer permission"));
    }
    if app.input.completion.is_some() && app.focus == Focus::Input {
        hints.extend([("Tab", "insert"), ("↑↓", "choose"), ("Esc", "close")]);
        return hints;
    }
    hints.extend(match app.focus {
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
    });
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
