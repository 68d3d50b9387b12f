//! Permission requests: a bar above the message box while any wait, and
//! the prompt the user opens with F2 (or Ctrl-P, or a click on the bar)
//! to answer them one by one. A request never takes keys by itself, so
//! typing can never answer one by accident. Other workers carry on.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::msg::PermissionAsk;
use crate::state::App;
use crate::theme;
use crate::wrap::clip;

/// Locations listed at most.
const MAX_LOCATIONS: usize = 4;

/// "1 request", "2 requests".
pub fn requests(n: usize) -> String {
    if n == 1 {
        "1 request".to_string()
    } else {
        format!("{n} requests")
    }
}

/// "1 more request waiting", "2 more requests waiting".
fn more_waiting(n: usize) -> String {
    if n == 1 {
        "1 more request waiting".to_string()
    } else {
        format!("{n} more requests waiting")
    }
}

/// The one-row bar: who asks for what, and how to answer.
pub fn draw_bar(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(ask) = app.permissions.front() else {
        return;
    };
    if area.is_empty() {
        return;
    }
    let bold = theme::warn().add_modifier(ratatui::style::Modifier::BOLD);
    let mut spans = vec![
        Span::styled(" ⚿ ", bold),
        Span::styled("F2", theme::key()),
        Span::styled(" to answer · ", theme::dim()),
        Span::styled(format!("{} asks to: ", app.asker(ask)), theme::warn()),
        Span::raw(ask.title.clone()),
    ];
    let waiting = app.permissions.len() - 1;
    if waiting > 0 {
        spans.push(Span::styled(
            format!(" · {}", more_waiting(waiting)),
            theme::dim(),
        ));
    }
    let line = clip(Line::from(spans), usize::from(area.width));
    frame.render_widget(Paragraph::new(line), area);
}

/// The open prompt: what the agent wants to do, who asks, the answers.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, ask: &PermissionAsk) {
    let who = format!("{} asks to:", app.asker(ask));
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
        Span::raw(" deny   "),
        Span::styled("[Esc]", theme::key()),
        Span::raw(" later"),
    ]));
    let waiting = app.permissions.len().saturating_sub(1);
    if waiting > 0 {
        text.push(Line::styled(more_waiting(waiting), theme::dim()));
    }
    super::overlay::warning_box(frame, area, 76, "Permission needed", text);
}
