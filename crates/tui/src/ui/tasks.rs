//! The tasks pane: each execution (title, status) and its steps indented
//! by their depth in the graph, with a status mark; earlier sessions'
//! finished executions first, one dim row each.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{draw_rows, pane_block, title};
use crate::layout::list_offset;
use crate::state::{App, Focus};
use crate::text::{truncate, width};
use crate::theme;

/// Deeper levels are not indented further (the pane is narrow).
const MAX_INDENT: usize = 6;

pub fn lines(app: &App, row_width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for execution in &app.snapshot.executions {
        let status = execution.status.clone();
        let done = execution
            .tasks
            .iter()
            .filter(|t| t.status == "done")
            .count();
        if execution.earlier {
            // An earlier session's finished work: one dim row, for context.
            let tail = format!(" {done}/{} {status} · earlier", execution.tasks.len());
            let room = row_width.saturating_sub(2 + width(&tail));
            lines.push(Line::from(vec![
                Span::styled("◇ ", theme::dim()),
                Span::styled(truncate(&execution.title, room), theme::dim()),
                Span::styled(tail, theme::dim()),
            ]));
            continue;
        }
        let tail = format!(" {done}/{} {status}", execution.tasks.len());
        let room = row_width.saturating_sub(2 + width(&tail));
        lines.push(Line::from(vec![
            Span::styled("◆ ", theme::status(&status)),
            Span::styled(truncate(&execution.title, room), theme::title()),
            Span::styled(tail, theme::status(&status)),
        ]));
        for task in &execution.tasks {
            let indent = "  ".repeat(1 + task.level.min(MAX_INDENT));
            let mark = theme::status_mark(&task.status);
            let check = if task.checkpoint { " ⏸cp" } else { "" };
            let status = format!("{}{check}", task.status);
            let head = format!("{indent}{mark} {} ", task.step);
            let room = row_width.saturating_sub(width(&head) + width(&status) + 1);
            let title = truncate(&task.title, room);
            let pad = room.saturating_sub(width(&title));
            lines.push(Line::from(vec![
                Span::styled(head, theme::status(&task.status)),
                Span::raw(title),
                Span::raw(" ".repeat(pad + 1)),
                Span::styled(status, theme::status(&task.status)),
            ]));
        }
    }
    lines
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Tasks;
    let count = app.snapshot.executions.len();
    let current = app
        .snapshot
        .executions
        .iter()
        .filter(|e| !e.earlier)
        .count();
    let extra = match (current, count - current) {
        (0, 0) => String::new(),
        (1, 0) => "1 execution".to_string(),
        (n, 0) => format!("{n} executions"),
        (n, e) => format!("{n} + {e} earlier"),
    };
    let block = pane_block(title("Tasks", &extra), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if count == 0 {
        frame.render_widget(
            Paragraph::new(Line::styled("no executions yet", theme::dim())),
            inner,
        );
        return;
    }
    let mut rows = lines(app, usize::from(inner.width));
    let selected = app.selected_index(Focus::Tasks).unwrap_or(0);
    // Commands without an id act on the chosen row: keep it visible.
    if !focused
        && app.chosen_task_row().is_some()
        && let Some(row) = rows.get_mut(selected)
    {
        *row = std::mem::take(row).patch_style(theme::chosen());
    }
    let offset = list_offset(selected, 1, usize::from(inner.height));
    draw_rows(
        frame,
        inner,
        rows,
        offset,
        focused.then_some(selected..selected + 1),
    );
}
