//! Boxes over the screen: fetched text (`/dag`, `/mail`, a task, a
//! message) and the quit confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::layout::centered;
use crate::state::App;
use crate::theme;
use crate::wrap::clip;

/// Clears `popup` and a one-cell margin around it (inside `area`), so no
/// cut-off sliver of what lies under it shows next to its border.
pub fn clear_around(frame: &mut Frame<'_>, area: Rect, popup: Rect) {
    let x = popup.x.saturating_sub(1).max(area.x);
    let y = popup.y.saturating_sub(1).max(area.y);
    let right = popup.right().saturating_add(1).min(area.right());
    let bottom = popup.bottom().saturating_add(1).min(area.bottom());
    let margin = Rect::new(x, y, right - x, bottom - y);
    frame.render_widget(Clear, margin);
}

/// The lines of a bordered `popup` that show at `scroll` (clamped so the
/// last page stays full), each clipped to the inner width; and the clamped
/// scroll and the number of visible rows.
pub fn scrolled_rows(
    lines: Vec<Line<'static>>,
    popup: Rect,
    scroll: usize,
) -> (Vec<Line<'static>>, usize, usize) {
    let inner_w = usize::from(popup.width.saturating_sub(2));
    let visible = usize::from(popup.height.saturating_sub(2));
    let scroll = scroll.min(lines.len().saturating_sub(visible));
    let rows = lines
        .into_iter()
        .skip(scroll)
        .take(visible)
        .map(|l| clip(l, inner_w))
        .collect();
    (rows, scroll, visible)
}

/// Fetched text over the whole width, above the status line and footer
/// (which keep showing the keys).
pub fn draw_text(frame: &mut Frame<'_>, area: Rect, title: &str, lines: &[String], scroll: usize) {
    let height = area.height.saturating_sub(2).max(area.height.min(3));
    let popup = Rect::new(area.x, area.y, area.width, height);
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    let all = lines.iter().map(|l| Line::raw(l.clone())).collect();
    let (rows, scroll, visible) = scrolled_rows(all, popup, scroll);
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
    let mut text = Vec::new();
    if running > 0 {
        text.push(Line::raw(if running == 1 {
            "1 worker is running.".to_string()
        } else {
            format!("{running} workers are running.")
        }));
        text.push(Line::raw(
            "Stop them and quit? Their tasks resume on the next start.",
        ));
    }
    if !app.input.is_empty() {
        text.push(Line::raw(
            "Your unsent message will be lost (it stays in the history: Up).",
        ));
    }
    text.extend([
        Line::default(),
        Line::from(vec![
            Span::styled("[y]", theme::key()),
            Span::raw(" stop and quit   "),
            Span::styled("[n]", theme::key()),
            Span::raw(" keep working"),
        ]),
    ]);
    warning_box(frame, area, 64, "Quit enki?", text);
}

pub fn draw_confirm_op(frame: &mut Frame<'_>, area: Rect, title: &str, lines: &[String]) {
    let mut text: Vec<Line<'_>> = lines.iter().map(|l| Line::raw(l.as_str())).collect();
    text.extend([
        Line::default(),
        Line::from(vec![
            Span::styled("[y]", theme::key()),
            Span::raw(" go ahead   "),
            Span::styled("[n]", theme::key()),
            Span::raw(" keep everything as it is"),
        ]),
    ]);
    warning_box(frame, area, 72, title, text);
}

/// A warning-coloured box of `text` over `area`, centred, `width` wide at
/// most and as tall as its lines once wrapped, so the last line (the keys
/// that answer it) always shows.
pub fn warning_box(
    frame: &mut Frame<'_>,
    area: Rect,
    width: u16,
    title: &str,
    text: Vec<Line<'_>>,
) {
    let inside = usize::from(area.width.min(width)).saturating_sub(2).max(1);
    let rows: usize = text.iter().map(|l| l.width().div_ceil(inside).max(1)).sum();
    let popup = centered(area, width, u16::try_from(rows + 2).unwrap_or(u16::MAX));
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    clear_around(frame, area, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(theme::warn())
                .title(Span::styled(format!(" {title} "), theme::title())),
        ),
        popup,
    );
}

/// A spent budget: raise it (for this session) and go on, or leave the
/// execution paused.
pub fn draw_raise_budget(frame: &mut Frame<'_>, area: Rect, ask: &crate::msg::BudgetAsk) {
    let text = vec![
        Line::raw(format!("\"{}\" is paused: {}.", ask.title, ask.reason)),
        Line::raw("Its work is kept in its copies."),
        Line::default(),
        Line::from(vec![
            Span::styled("[r]", theme::key()),
            Span::raw(format!(" raise it to {} and go on   ", ask.raise_to_text)),
            Span::styled("[n]", theme::key()),
            Span::raw(" leave it paused"),
        ]),
    ];
    let popup = centered(area, 76, 8);
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    clear_around(frame, area, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_style(theme::warn())
                .title(Span::styled(" Budget spent ", theme::title())),
        ),
        popup,
    );
}
