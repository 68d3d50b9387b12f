//! The permission prompt: what an agent wants to do, which worker asks,
//! and the three answers. Other workers carry on meanwhile.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::layout::centered;
use crate::app::{App, PermissionAsk};
use crate::theme;

/// Locations listed at most.
const MAX_LOCATIONS: usize = 4;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, ask: &PermissionAsk) {
    let who = match &ask.task {
        Some(task) => {
            let (step, title) = app.label(task);
            format!("Worker [{step}] {title} asks to:")
        }
        None => "The planner asks to:".to_string(),
    };
    let mut text = vec![Line::styled(who, theme::title())];
    let kind = ask
        .kind
        .as_ref()
        .map(|k| format!("  ({k})"))
        .unwrap_or_default();
    text.push(Line::from(vec![
        Span::raw("  "),
        Span::styled(ask.title.clone(), theme::warn()),
        Span::styled(kind, theme::dim()),
    ]));
    for location in ask.locations.iter().take(MAX_LOCATIONS) {
        text.push(Line::styled(format!("  {location}"), theme::dim()));
    }
    if ask.locations.len() > MAX_LOCATIONS {
        text.push(Line::styled(
            format!("  … and {} more", ask.locations.len() - MAX_LOCATIONS),
            theme::dim(),
        ));
    }
    text.push(Line::default());
    text.push(Line::from(vec![
        Span::styled("[y]", theme::key()),
        Span::raw(" allow once   "),
        Span::styled("[A]", theme::key()),
        Span::raw(" allow always   "),
        Span::styled("[n]", theme::key()),
        Span::raw(" deny"),
    ]));
    let waiting = app.permissions.len().saturating_sub(1);
    if waiting > 0 {
        text.push(Line::styled(
            format!("{waiting} more request(s) waiting"),
            theme::dim(),
        ));
    }
    let height = u16::try_from(text.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, 72, height);
    if popup.width < 3 || popup.height < 3 {
        return;
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(theme::warn())
                .title(Span::styled(" Permission needed ", theme::title())),
        ),
        popup,
    );
}
