//! The status line: what needs the user first, then the counts that
//! matter, then agent, branch and session (cut first when space runs out).

use std::collections::BTreeMap;

use enki_core::id::short;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::App;
use crate::theme;
use crate::wrap::clip;

/// Task counts by status over the executions shown (not earlier
/// sessions' finished ones, shown for context).
pub fn counts(app: &App) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    let current = app.snapshot.executions.iter().filter(|e| !e.earlier);
    for task in current.flat_map(|e| e.tasks.iter()) {
        *counts.entry(task.status.as_str()).or_insert(0) += 1;
    }
    counts
}

pub fn line(app: &App) -> Line<'static> {
    let bar = theme::status_bar();
    let sep = || Span::styled(" │ ", bar);
    let mut spans = vec![Span::styled(" enki", bar.add_modifier(Modifier::BOLD))];
    if !app.permissions.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(
            format!(
                "⚿ {} waiting — F2 to answer",
                super::permission::requests(app.permissions.len())
                    .replace("request", "permission request")
            ),
            bar.fg(Color::LightYellow).add_modifier(Modifier::BOLD),
        ));
    }
    for hold in app.held_agents.values() {
        spans.push(sep());
        spans.push(Span::styled(
            format!("⏸ {}", hold.brief()),
            bar.fg(Color::LightYellow),
        ));
    }
    if let Some((notice, error)) = &app.notice {
        spans.push(sep());
        let color = if *error {
            Color::LightRed
        } else {
            Color::LightYellow
        };
        spans.push(Span::styled(notice.clone(), bar.fg(color)));
    }
    let counts = counts(app);
    let mut parts = vec![format!("▶ {} running", app.running_workers())];
    for status in ["done", "failed", "blocked", "paused", "pending", "ready"] {
        if let Some(n) = counts.get(status).filter(|n| **n > 0) {
            parts.push(format!("{n} {status}"));
        }
    }
    if !app.snapshot.merges.is_empty() {
        parts.push(format!("⇡ {} merging", app.snapshot.merges.len()));
    }
    // Mail to the planner is the planner's to read.
    let unread = app.unread_for_user();
    if unread > 0 {
        parts.push(format!("✉ {unread} unread"));
    }
    spans.push(sep());
    spans.push(Span::styled(parts.join(" · "), bar));
    let mut about = Vec::new();
    if !app.agent.is_empty() {
        about.push(format!("agent {}", app.agent));
    }
    if !app.base_branch.is_empty() {
        about.push(format!("⎇ {}", app.base_branch));
    }
    if !app.session.is_empty() {
        about.push(short(&app.session).to_string());
    }
    if !about.is_empty() {
        spans.push(sep());
        spans.push(Span::styled(about.join(" · "), bar));
    }
    Line::from(spans).style(bar)
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let line = clip(line(app), usize::from(area.width));
    frame.render_widget(Paragraph::new(line).style(theme::status_bar()), area);
}
