//! The main view: the chat with the planner, or a worker's live
//! transcript. Only the rows that fit are wrapped and drawn, counted from
//! the bottom, so long histories cost nothing per frame.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::wrap::{self, tail};
use super::{pane_block, title};
use crate::app::{App, Focus, View, WorkerState};
use crate::text::elapsed;
use crate::theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &mut App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Main;
    let inner_width = usize::from(area.width.saturating_sub(2));
    let height = usize::from(area.height.saturating_sub(2));
    app.layout_chat(inner_width);
    let (heading, rows, scroll) = match &app.view {
        View::Chat => {
            let lines = app.chat.iter().flat_map(|e| e.lines.iter()).cloned();
            let (rows, scroll) = visible(lines, inner_width, height, app.scroll);
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
                let (rows, scroll) = visible(
                    worker.transcript.styled(app.expand_outputs),
                    inner_width,
                    height,
                    app.scroll,
                );
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
    };
    app.scroll = scroll;
    let mut heading = heading;
    if scroll > 0 {
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

/// The rows to show, `scroll` rows up from the bottom, and the scroll
/// actually possible (never past the top).
fn visible<I>(lines: I, width: usize, height: usize, scroll: usize) -> (Vec<Line<'static>>, usize)
where
    I: DoubleEndedIterator<Item = Line<'static>> + Clone,
{
    let (rows, _) = tail(lines.clone(), width, height, scroll);
    if scroll == 0 || rows.len() >= height {
        return (rows, scroll);
    }
    // Scrolled past the top (everything was walked anyway): show the
    // first screenful.
    let total: usize = lines.clone().map(|line| wrap::height(&line, width)).sum();
    let scroll = total.saturating_sub(height);
    let (rows, _) = tail(lines, width, height, scroll);
    (rows, scroll)
}
