//! The merge queue: requests waiting or being merged (with why they wait),
//! then the last few that landed or failed.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{draw_rows, pane_block, title};
use crate::layout::list_offset;
use crate::state::{App, Focus};
use crate::theme;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let focused = app.focus == Focus::Merges;
    let pending = app.snapshot.merges.len();
    let extra = if pending > 0 {
        format!("{pending} waiting")
    } else {
        String::new()
    };
    let block = pane_block(title("Merge queue", &extra), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line<'static>> = Vec::new();
    for merge in &app.snapshot.merges {
        let mut spans = vec![
            Span::styled(
                format!("{} ", theme::status_mark(&merge.status)),
                theme::status(&merge.status),
            ),
            Span::raw(format!("[{}] {} ", merge.step, merge.title)),
            Span::styled(merge.status.clone(), theme::status(&merge.status)),
        ];
        if let Some(reason) = &merge.reason {
            spans.push(Span::styled(format!(" · {reason}"), theme::dim()));
        }
        lines.push(Line::from(spans));
    }
    for merge in &app.recent_merges {
        let (step, title) = app.label(&merge.task);
        let (mark, style) = if merge.landed {
            ("⛙ ", theme::good())
        } else {
            ("✘ ", theme::bad())
        };
        lines.push(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(format!("[{step}] {title} "), theme::dim()),
            Span::styled(merge.detail.clone(), style),
        ]));
    }
    if lines.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("nothing to merge", theme::dim())),
            inner,
        );
        return;
    }
    let selected = app.selected_index(Focus::Merges).unwrap_or(0);
    let offset = list_offset(selected, 1, usize::from(inner.height));
    draw_rows(
        frame,
        inner,
        lines,
        offset,
        focused.then_some(selected..selected + 1),
    );
}
