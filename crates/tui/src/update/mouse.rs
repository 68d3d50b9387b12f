//! Mouse events: the wheel scrolls the pane under the pointer, a click
//! focuses it and selects the row (or opens the permission prompt).

use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::actions::scroll_overlay;
use crate::layout::Areas;
use crate::state::{App, Focus};

/// Rows the mouse wheel scrolls.
const WHEEL_ROWS: usize = 3;

pub(crate) fn on_mouse(app: &mut App, mouse: MouseEvent) {
    let at = Position::new(mouse.column, mouse.row);
    let areas = app.areas();
    // The open prompt waits for its keys; the mouse does nothing under it.
    if app.prompt_open && !app.permissions.is_empty() {
        app.dirty = false;
        return;
    }
    // A click on the permission bar opens the prompt.
    if mouse.kind == MouseEventKind::Down(MouseButton::Left)
        && app.overlay.is_none()
        && areas.permission.contains(at)
    {
        app.prompt_open = !app.permissions.is_empty();
        return;
    }
    let Some(pane) = areas.pane_at(at) else {
        app.dirty = false;
        return;
    };
    let focus = pane;
    match mouse.kind {
        MouseEventKind::ScrollUp if app.overlay.is_some() => scroll_overlay(app, -3),
        MouseEventKind::ScrollDown if app.overlay.is_some() => scroll_overlay(app, 3),
        MouseEventKind::ScrollUp => match focus {
            Focus::Main | Focus::Input => app.scroll = app.scroll.saturating_add(WHEEL_ROWS),
            list => app.move_selection(list, -1),
        },
        MouseEventKind::ScrollDown => match focus {
            Focus::Main | Focus::Input => app.scroll = app.scroll.saturating_sub(WHEEL_ROWS),
            list => app.move_selection(list, 1),
        },
        MouseEventKind::Down(MouseButton::Left) if app.overlay.is_none() => {
            app.focus = focus;
            click_row(app, focus, &areas, at);
        }
        _ => app.dirty = false,
    }
}

/// A click on a list pane selects the row under it.
fn click_row(app: &mut App, pane: Focus, areas: &Areas, at: Position) {
    let rect = match pane {
        Focus::Workers => areas.workers,
        Focus::Tasks => areas.tasks,
        Focus::Merges => areas.merges,
        Focus::Mail => areas.mail,
        Focus::Input | Focus::Main => return,
    };
    let selected = app.selected_index(pane).unwrap_or(0);
    let Some(index) = crate::layout::item_at(rect, pane, selected, at.y) else {
        return;
    };
    if let Some(key) = app.rows_of(pane).get(index).cloned()
        && let Some(selection) = app.selection_mut(pane)
    {
        *selection = Some(key);
    }
}
