//! The text of the `?` overlay: every key and slash command.

use ratatui::text::{Line, Span};

use crate::input::COMMANDS;
use crate::theme;

const KEYS: &[(&str, &str)] = &[
    ("Enter", "send the message (or run the /command)"),
    ("Alt-Enter, Shift-Enter, Ctrl-J", "new line in the message"),
    ("↑ ↓", "history (in the message), select (in a pane)"),
    ("@", "complete a project file path"),
    ("Tab, Shift-Tab", "next / previous pane"),
    (
        "Enter on a pane",
        "worker transcript, task details (its review when it awaits one), message",
    ),
    ("Esc", "back to the chat / close"),
    ("PgUp PgDn, wheel", "scroll"),
    ("Ctrl-Home, Ctrl-End", "top / follow the end of the chat"),
    ("Ctrl-A Ctrl-E", "start / end of line"),
    ("Ctrl-U Ctrl-K Ctrl-W", "delete to start / to end / word"),
    ("Ctrl-L", "redraw"),
    ("Ctrl-C", "quit (asks while workers run)"),
    ("F2, Ctrl-P", "open the waiting permission request"),
    (
        "F3",
        "the next thing that waits for you: a permission, a question, a review, mail",
    ),
    (
        "in a review",
        "a approve · x reject · ← → file · Shift-Tab and type: ask for changes",
    ),
    (
        "on the permission prompt",
        "y allow once · A allow always · n deny · Esc later",
    ),
];

/// The overlay's lines, before scrolling.
pub fn lines() -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("Keys", theme::heading())];
    let key_width = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    for (key, what) in KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {key:<key_width$}  "), theme::key()),
            Span::raw(*what),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::styled("Commands", theme::heading()));
    let usage_width = COMMANDS
        .iter()
        .map(|(name, args, _)| name.chars().count() + args.chars().count() + 2)
        .max()
        .unwrap_or(0);
    for (name, args, what) in COMMANDS {
        let usage = format!("/{name} {args}");
        lines.push(Line::from(vec![
            Span::styled(format!("  {usage:<usage_width$}  "), theme::key()),
            Span::raw(*what),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        "Commands without an id act on the execution or task selected in the tasks pane.",
        theme::dim(),
    ));
    lines
}
