//! The key hints under the status line, for what has the focus, and at
//! its right end what this session's agents used so far (`~` marks a cost
//! estimated from `[prices]`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{App, Focus, Overlay, View};
use crate::theme;
use crate::wrap::clip;

/// The keys that work now: those of what is open on top, else those of
/// the focused pane.
fn hints(app: &App) -> Vec<(&'static str, &'static str)> {
    match &app.overlay {
        Some(Overlay::Confirm { .. }) => {
            return vec![("y", "go ahead"), ("n", "keep everything as it is")];
        }
        Some(Overlay::RaiseBudget(_)) => {
            return vec![("r", "raise and go on"), ("n", "leave paused")];
        }
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
    if matches!(app.view, View::Review(_)) {
        if app.focus == Focus::Main {
            hints.extend([("a", "approve"), ("x", "reject"), ("←→", "file")]);
        }
        hints.push(("Esc", "chat"));
    }
    if matches!(app.view, View::Transcript(_)) {
        if app.focus == Focus::Main {
            hints.push((
                "e",
                if app.expand_outputs {
                    "short outputs"
                } else {
                    "all outputs"
                },
            ));
        }
        hints.push(("Esc", "chat"));
    }
    hints.extend([("Tab", "panes"), ("?", "help"), ("Ctrl-C", "quit")]);
    hints
}

/// A shorter word for a hint, for narrow terminals.
fn short(what: &'static str) -> &'static str {
    match what {
        "answer permission" => "answer",
        "stop and quit" => "quit",
        "keep working" => "keep",
        "allow always" => "always",
        "answer later" => "later",
        "history" => "hist",
        "command" => "cmd",
        "transcript" | "details" => "open",
        "newline" => "nl",
        "follow" => "end",
        other => other,
    }
}

/// The hints as spans, with `separator` between them.
fn spans(hints: &[(&'static str, &'static str)], separator: &'static str) -> Vec<Span<'static>> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in hints.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(separator, theme::dim()));
        }
        spans.push(Span::styled(*key, theme::key()));
        if !what.is_empty() {
            spans.push(Span::styled(format!(" {what}"), theme::dim()));
        }
    }
    spans
}

fn width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// The hints that fit in `columns`: all of them in full; else in short
/// words; else without those just before help and quit (which stay).
fn fitted(mut hints: Vec<(&'static str, &'static str)>, columns: usize) -> Vec<Span<'static>> {
    let full = spans(&hints, " · ");
    if width(&full) <= columns {
        return full;
    }
    for hint in &mut hints {
        hint.1 = short(hint.1);
    }
    loop {
        let line = spans(&hints, " ");
        let kept_at_end = 2.min(hints.len());
        if width(&line) <= columns || hints.len() <= kept_at_end + 1 {
            return line;
        }
        hints.remove(hints.len() - kept_at_end - 1);
    }
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let columns = usize::from(area.width);
    // The session's usage at the right end, when it leaves the hints half.
    let usage = app
        .session_usage
        .as_ref()
        .and_then(|u| u.brief())
        .map(|brief| format!(" Σ {brief} "))
        .filter(|text| text.chars().count() * 2 <= columns);
    let hints_room = columns - usage.as_ref().map_or(0, |u| u.chars().count());
    let mut spans = Vec::new();
    let needs = app.needs_you();
    if needs > 0 {
        let count = format!(" ⚑ {needs} need{} you", if needs == 1 { "s" } else { "" });
        spans.push(Span::styled(count, theme::warn()));
        spans.push(Span::styled(" F3", theme::key()));
        spans.push(Span::styled(" next ·", theme::dim()));
    }
    let room = hints_room.saturating_sub(width(&spans));
    spans.extend(fitted(hints(app), room));
    let mut line = clip(Line::from(spans), hints_room);
    if let Some(usage) = usage {
        let pad = hints_room.saturating_sub(line.width());
        line.spans.push(Span::raw(" ".repeat(pad)));
        line.spans.push(Span::styled(usage, theme::dim()));
    }
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(spans: &[Span<'_>]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn hints_shorten_then_drop_but_keep_help_and_quit() {
        let hints = vec![
            ("F2", "answer permission"),
            ("Enter", "send"),
            ("Alt-Enter", "newline"),
            ("↑↓", "history"),
            ("@", "file"),
            ("/", "command"),
            ("Tab", "panes"),
            ("?", "help"),
            ("Ctrl-C", "quit"),
        ];
        let wide = text(&fitted(hints.clone(), 200));
        assert!(wide.contains("F2 answer permission · Enter send"), "{wide}");
        let narrow = text(&fitted(hints.clone(), 80));
        assert!(narrow.chars().count() <= 80, "{narrow}");
        assert!(narrow.contains("F2 answer Enter send"), "{narrow}");
        assert!(narrow.ends_with("? help Ctrl-C quit"), "{narrow}");
        let tiny = text(&fitted(hints, 40));
        assert!(tiny.chars().count() <= 40, "{tiny}");
        assert!(tiny.starts_with(" F2 answer"), "{tiny}");
        assert!(tiny.ends_with("? help Ctrl-C quit"), "{tiny}");
    }
}
