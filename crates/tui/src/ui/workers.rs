//! The workers pane: each running worker on two rows — its agent's state
//! (a glyph, then the word and how long it has been in it), step and title;
//! then tier, role, what it used so far (work tokens, cost; `~` marks an
//! estimate) and what it is doing now, or why it waits. Workers
//! that finished follow, dimmed, with their result instead of their last
//! activity, for a while (see [`crate::state::FINISHED_SHOWN_MS`]).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{draw_rows, pane_block, title};
use crate::layout::list_offset;
use enki_core::AgentState;

use crate::state::{App, Focus, Worker, WorkerState};
use crate::text::{elapsed, truncate, width};
use crate::theme;

/// Rows per worker.
const SPAN: usize = 2;

fn tier_short(tier: &str) -> &str {
    match tier {
        "light" => "light",
        "standard" => "std",
        "heavy" => "heavy",
        other => other,
    }
}

fn worker_lines(app: &App, worker: &Worker, row_width: usize) -> [Line<'static>; 2] {
    let (mark, style, clock) = match &worker.state {
        WorkerState::Running => (
            enki_views::agent_state_glyph(worker.agent),
            agent_style(worker.agent),
            format!(
                "{} {}",
                enki_views::agent_state_words(worker.agent),
                elapsed(app.now_ms.saturating_sub(worker.agent_since_ms))
            ),
        ),
        WorkerState::Ended(status) => (
            theme::status_mark(status),
            theme::status(status),
            status.clone(),
        ),
        WorkerState::Failed { will_retry, .. } => (
            "✘",
            theme::bad(),
            if *will_retry { "retrying" } else { "failed" }.to_string(),
        ),
    };
    let running = worker.state == WorkerState::Running;
    let text_style = if running {
        ratatui::style::Style::new()
    } else {
        theme::dim()
    };
    let label = format!("[{}] {}", worker.step, worker.title);
    let room = row_width.saturating_sub(2 + width(&clock) + 1);
    let label = truncate(&label, room);
    let pad = room.saturating_sub(width(&label));
    let first = Line::from(vec![
        Span::styled(format!("{mark} "), style),
        Span::styled(label, text_style),
        Span::raw(" ".repeat(pad + 1)),
        Span::styled(clock, style),
    ]);
    let task = app.tasks.get(&worker.task);
    let tier = task.map_or("", |t| tier_short(&t.tier)).to_string();
    let role = match worker.merger_run {
        Some(_) => "merger".to_string(),
        None => task
            .and_then(|t| t.role.clone())
            .unwrap_or_else(|| "worker".to_string()),
    };
    // A finished worker shows what came of it, not its last activity.
    let doing = match &worker.state {
        WorkerState::Failed { error, .. } => error.clone(),
        WorkerState::Ended(_) => String::new(),
        // Why it waits, retries or stalls says more than its last activity.
        WorkerState::Running => match (&worker.agent, &worker.agent_reason) {
            (AgentState::Working | AgentState::Idle, _) | (_, None) => worker.activity.clone(),
            (_, Some(reason)) => reason.clone(),
        },
    };
    let mut second = vec![Span::raw("  ")];
    if !tier.is_empty() {
        second.push(Span::styled(format!("{tier} · "), theme::dim()));
    }
    second.push(Span::styled(role, theme::dim()));
    if let Some(usage) = worker.usage.as_ref().and_then(|u| u.brief()) {
        second.push(Span::styled(format!(" · {usage}"), theme::dim()));
    }
    if !doing.is_empty() {
        second.push(Span::styled(" · ", theme::dim()));
        second.push(Span::styled(doing, text_style));
    }
    [first, Line::from(second)]
}

/// The colour of an agent state: a person is needed, trouble, or fine.
fn agent_style(state: AgentState) -> ratatui::style::Style {
    match state {
        AgentState::WaitingPermission | AgentState::WaitingUser => theme::warn(),
        AgentState::Retrying | AgentState::Stalled | AgentState::Failed => theme::bad(),
        AgentState::Done => theme::good(),
        AgentState::Working | AgentState::Idle => theme::info(),
    }
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Workers;
    let running = app.running_workers();
    let order = app.worker_order();
    let finished = order.len() - running;
    let extra = match (running, finished) {
        (_, _) if order.is_empty() => String::new(),
        (_, 0) => format!("{running} running · Enter: transcript"),
        (0, _) => format!("none running · {finished} finished"),
        _ => format!("{running} running · {finished} finished"),
    };
    let block = pane_block(title("Workers", &extra), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if order.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no workers yet", theme::dim())),
            inner,
        );
        return;
    }
    let width = usize::from(inner.width);
    let lines: Vec<Line<'static>> = order
        .iter()
        .flat_map(|w| worker_lines(app, w, width))
        .collect();
    let selected = app.selected_index(Focus::Workers).unwrap_or(0) * SPAN;
    let offset = list_offset(selected, SPAN, usize::from(inner.height));
    let highlight = focused.then_some(selected..selected + SPAN);
    draw_rows(frame, inner, lines, offset, highlight);
}
