//! Drawing: one file per pane. [`draw`] lays the panes out for the frame's
//! size and draws each; nothing here reads files or the store.

pub mod chat;
pub mod footer;
pub mod glyphs;
pub mod help;
pub mod input;
pub mod mail;
pub mod merges;
pub mod overlay;
pub mod permission;
pub mod status;
pub mod tasks;
pub mod tiny;
pub mod workers;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use enki_config::Glyphs;

use crate::layout::Mode;
use crate::state::{App, Focus, Overlay};
use crate::theme;
use crate::wrap::clip;

/// Draws the whole screen, in ASCII when `[tui] glyphs` says so.
///
/// Call [`crate::update::fit`] for the frame's size first: drawing only
/// reads the state.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    draw_panes(frame, app);
    if app.glyphs == Glyphs::Ascii {
        glyphs::to_ascii(frame.buffer_mut());
    }
}

fn draw_panes(frame: &mut Frame<'_>, app: &App) {
    let area = frame.area();
    let areas = app.areas_in(area);
    if areas.mode() == Mode::Tiny {
        tiny::draw(frame, area, app);
        return;
    }
    chat::draw(frame, areas.main, app);
    workers::draw(frame, areas.workers, app);
    tasks::draw(frame, areas.tasks, app);
    merges::draw(frame, areas.merges, app);
    mail::draw(frame, areas.mail, app);
    permission::draw_bar(frame, areas.permission, app);
    let cursor = input::draw(frame, areas.input, app);
    status::draw(frame, areas.status, app);
    footer::draw(frame, areas.footer, app);
    let mut cursor_visible = app.focus == Focus::Input;
    if app.focus == Focus::Input {
        input::draw_completion(frame, areas.input, app);
    }
    match &app.overlay {
        Some(Overlay::Help { scroll }) => help::draw(frame, area, *scroll),
        Some(Overlay::Text {
            title,
            lines,
            scroll,
        }) => overlay::draw_text(frame, area, title, lines, *scroll),
        Some(Overlay::ConfirmQuit) => overlay::draw_confirm(frame, area, app),
        Some(Overlay::Confirm { title, lines, .. }) => {
            overlay::draw_confirm_op(frame, area, title, lines);
        }
        Some(Overlay::RaiseBudget(ask)) => overlay::draw_raise_budget(frame, area, ask),
        None => {}
    }
    if app.overlay.is_some() {
        cursor_visible = false;
    }
    if let Some(ask) = app.permissions.front()
        && app.prompt_open
        && !matches!(
            app.overlay,
            Some(Overlay::ConfirmQuit | Overlay::Confirm { .. })
        )
    {
        permission::draw(frame, area, app, ask);
        cursor_visible = false;
    }
    if cursor_visible && let Some(position) = cursor {
        frame.set_cursor_position(position);
    }
}

/// A pane's frame: its title, highlighted when focused.
pub fn pane_block<'a>(title: Line<'a>, focused: bool) -> Block<'a> {
    Block::bordered()
        .border_style(theme::border(focused))
        .title(title)
}

/// A title line: ` name ` plus optional dim extra text.
pub fn title<'a>(name: &str, extra: &str) -> Line<'a> {
    let mut spans = vec![Span::styled(format!(" {name} "), theme::title())];
    if !extra.is_empty() {
        spans.push(Span::styled(format!("{extra} "), theme::dim()));
    }
    Line::from(spans)
}

/// Draws `lines` (already one row each) into a pane's inner area, rows
/// `offset..`, highlighting the rows `selected` covers.
pub fn draw_rows(
    frame: &mut Frame<'_>,
    inner: Rect,
    lines: Vec<Line<'static>>,
    offset: usize,
    selected: Option<std::ops::Range<usize>>,
) {
    let width = usize::from(inner.width);
    let rows: Vec<Line<'static>> = lines
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(usize::from(inner.height))
        .map(|(i, line)| {
            let line = clip(line, width);
            if selected.as_ref().is_some_and(|r| r.contains(&i)) {
                line.patch_style(theme::selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(rows), inner);
}
