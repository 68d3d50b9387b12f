//! Boxes over the screen: fetched text (`/dag`, `/mail`, a task, a
//! message) and the quit confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::clip;
use super::layout::centered;
use crate::app::App;
use crate::theme;

pub fn draw_text(frame: &mut Frame<'_>, area: Rect, title: &str, lines: &[String], scroll: usize) {
    let popup = centered(
        area,
        area.width.saturating_sub(4).max(area.width.min(20)),
        area.height.saturating_sub(2).max(area.height.min(5)),
    );
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    let inner_w = usize::from(popup.width - 2);
    let visible = usize::from(popup.height - 2);
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let rows: Vec<Line<'static>> = lines
        .iter()
        .skip(scroll)
        .take(visible)
        .map(|l| clip(Line::raw(l.clone()), inner_w))
        .collect();
    let more = if lines.len() > visible {
        format!(
            " {}-{} of {} · ↑↓ PgUp PgDn",
            scroll + 1,
            (scroll + visible).min(lines.len()),
            lines.len()
        )
    } else {
        String::new()
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(rows).block(Block::bordered().border_style(theme::border(true)).title(
            Line::from(vec![
                Span::styled(format!(" {title} "), theme::title()),
                Span::styled(format!("· Esc to close{more} "), theme::dim()),
            ]),
        )),
        popup,
    );
}

pub fn draw_confirm(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let running = app.running_workers();
    let question = if running == 1 {
        "1 worker is running.".to_string()
    } else {
        format!("{running} workers are running.")
    };
    let text = vec![
        Line::raw(question),
        Line::raw("Stop them and quit? Their tasks resume on the next start."),
        Line::default(),
        Line::from(vec![
            Span::styled("[y]", theme::key()),
            Span::raw(" stop and quit   "),
            Span::styled("[n]", theme::key()),
            Span::raw(" keep working"),
        ]),
    ];
    let popup = centered(area, 64, 6);
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_style(theme::warn())
                .title(Span::styled(" Quit enki? ", theme::title())),
        ),
        popup,
    );
}
