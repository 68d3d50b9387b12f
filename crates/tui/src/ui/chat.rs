//! The main view: the chat with the planner, or a worker's live
//! transcript. Only the rows that fit are wrapped and drawn, counted from
//! the bottom, so long histories cost nothing per frame.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{pane_block, title};
use crate::state::{App, Focus, View, WorkerState};
use crate::text::elapsed;
use crate::theme;
use crate::wrap;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Main;
    let inner_width = usize::from(area.width.saturating_sub(2));
    let height = usize::from(area.height.saturating_sub(2));
    let (heading, rows, scroll) = match &app.view {
        View::Chat => {
            let (rows, scroll) = app.main_rows(inner_width, height);
            let extra = if app.planner_busy {
                "planner working…"
            } else {
                ""
            };
            (title("Chat", extra), rows, scroll)
        }
        View::Transcript(task) => match app.worker(task) {
            Some(worker) => {
                let state = match &worker.state {
                    WorkerState::Running => format!(
                        "running {}",
                        elapsed(app.now_ms.saturating_sub(worker.started_ms))
                    ),
                    WorkerState::Ended(status) => status.clone(),
                    WorkerState::Failed { .. } => "failed".to_string(),
                };
                let name = format!("[{}] {}", worker.step, worker.title);
                let (rows, scroll) = app.main_rows(inner_width, height);
                (
                    title(&name, &format!("{state} · Esc back to chat")),
                    rows,
                    scroll,
                )
            }
            None => (
                title("Transcript", "Esc back to chat"),
                vec![Line::styled("this worker is gone", theme::dim())],
                0,
            ),
        },
        View::Review(task) => {
            let (rows, scroll) = app.main_rows(inner_width, height);
            let what = match &app.review {
                Some(pane) if pane.is_resolution() => "the merger's resolution of ",
                _ => "",
            };
            (
                title(
                    &format!("Review {what}{}", app.task_name(task)),
                    "a approve · x reject · ←→ file · type changes · Esc back",
                ),
                rows,
                scroll,
            )
        }
    };
    let mut heading = heading;
    // A review is read from the top; the others follow their end.
    if scroll > 0 && !matches!(app.view, View::Review(_)) {
        heading.push_span(ratatui::text::Span::styled(
            format!("↑ {scroll} rows up · Ctrl-End follows "),
            theme::warn(),
        ));
    }
    let block = pane_block(heading, focused);
    let empty = rows.is_empty() && matches!(app.view, View::Chat);
    let paragraph = if empty {
        let indent = [Span::raw("  ")];
        let hint = [
            "  Type a request for the planner and press Enter.",
            "  @ completes file names, / starts a command, ? shows every key.",
        ];
        let mut lines = vec![Line::default()];
        for text in hint {
            let line = Line::styled(text, theme::dim());
            lines.extend(wrap::wrap_hanging(&line, inner_width, &indent));
        }
        Paragraph::new(lines)
    } else {
        Paragraph::new(rows)
    };
    frame.render_widget(paragraph.block(block), area);
}
