//! The few styles the UI uses, in one place so panes stay consistent.

use ratatui::style::{Color, Modifier, Style};

pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// The chosen row of a pane that does not have the focus.
pub fn chosen() -> Style {
    Style::new().add_modifier(Modifier::UNDERLINED)
}

pub fn user() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn planner() -> Style {
    Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
}

pub fn good() -> Style {
    Style::new().fg(Color::Green)
}

pub fn bad() -> Style {
    Style::new().fg(Color::Red)
}

pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn info() -> Style {
    Style::new().fg(Color::Blue)
}

pub fn code() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn heading() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn key() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

pub fn status_bar() -> Style {
    Style::new().bg(Color::DarkGray).fg(Color::White)
}

/// The colour of a task, execution or merge status.
pub fn status(status: &str) -> Style {
    match status {
        "done" | "merged" => good(),
        "failed" | "blocked" | "conflicted" => bad(),
        "running" | "merging" | "resolving" | "verifying" | "worker_done" => info(),
        "paused" | "queued" | "awaiting_review" => warn(),
        "cancelled" => dim(),
        _ => Style::new(),
    }
}

/// A one-character mark for a status.
pub fn status_mark(status: &str) -> &'static str {
    match status {
        "done" | "merged" => "✔",
        "failed" | "blocked" | "conflicted" => "✘",
        "running" => "▶",
        "worker_done" | "queued" | "merging" | "resolving" | "verifying" => "⇡",
        "paused" => "⏸",
        "awaiting_review" => "⚑",
        "cancelled" => "⊘",
        "ready" => "○",
        _ => "·",
    }
}
