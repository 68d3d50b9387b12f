//! A terminal too small for panes: one summary line and a hint, cut to
//! whatever fits (down to nothing at all).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::state::App;
use crate::theme;
use crate::wrap::clip;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    let mut summary = format!("enki ▶{}", app.running_workers());
    if !app.permissions.is_empty() {
        summary.push_str(" ⚿ needs you");
    }
    let mut lines = vec![clip(Line::styled(summary, theme::title()), width)];
    if area.height > 1 {
        lines.push(clip(
            Line::styled("enlarge the terminal", theme::dim()),
            width,
        ));
    }
    frame.render_widget(Paragraph::new(lines), area);
}
