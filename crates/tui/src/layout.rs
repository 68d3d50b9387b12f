//! Where every pane goes for a terminal size. Drawing and mouse hit
//! testing both use this, so a click lands on what is drawn there.

use ratatui::layout::{Constraint, Layout, Position, Rect};

use crate::input::Input;

/// Below this the side panes are dropped.
pub const FULL_MIN: (u16, u16) = (80, 18);
/// Below this only a one-line summary is drawn.
pub const COMPACT_MIN: (u16, u16) = (24, 7);
/// The message box never grows past this many text rows.
const MAX_INPUT_ROWS: u16 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Chat on the left, workers, tasks, merge queue and mail on the right.
    Full,
    /// One pane at a time (the focused one), message box, status line.
    Compact,
    /// Too small for panes: a summary line.
    Tiny,
}

/// A pane, and where keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Focus {
    Input,
    Main,
    Workers,
    Tasks,
    Merges,
    Mail,
}

impl Focus {
    const ORDER: [Focus; 6] = [
        Focus::Input,
        Focus::Main,
        Focus::Workers,
        Focus::Tasks,
        Focus::Merges,
        Focus::Mail,
    ];

    fn index(self) -> usize {
        Focus::ORDER.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn next(self) -> Focus {
        Focus::ORDER[(self.index() + 1) % Focus::ORDER.len()]
    }

    pub fn prev(self) -> Focus {
        Focus::ORDER[(self.index() + Focus::ORDER.len() - 1) % Focus::ORDER.len()]
    }
}

/// Rectangles of every pane; a pane that is not drawn has an empty one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Areas {
    pub mode: Option<Mode>,
    pub whole: Rect,
    pub main: Rect,
    pub workers: Rect,
    pub tasks: Rect,
    pub merges: Rect,
    pub mail: Rect,
    pub input: Rect,
    /// The bar that says a permission request waits (empty when none).
    pub permission: Rect,
    pub status: Rect,
    pub footer: Rect,
}

impl Areas {
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or(Mode::Tiny)
    }

    /// The pane under a screen position.
    pub fn pane_at(&self, at: Position) -> Option<Focus> {
        [
            (self.main, Focus::Main),
            (self.workers, Focus::Workers),
            (self.tasks, Focus::Tasks),
            (self.merges, Focus::Merges),
            (self.mail, Focus::Mail),
            (self.input, Focus::Input),
        ]
        .into_iter()
        .find(|(rect, _)| !rect.is_empty() && rect.contains(at))
        .map(|(_, pane)| pane)
    }
}

/// Rows the message box takes, borders included.
fn input_height(input: &Input, width: u16, limit: u16) -> u16 {
    // Two columns of border and two of prompt.
    let text_width = usize::from(width.saturating_sub(4)).max(1);
    let (rows, _) = input.layout(text_width);
    let rows = u16::try_from(rows.len()).unwrap_or(u16::MAX);
    (rows.clamp(1, MAX_INPUT_ROWS) + 2).min(limit.max(3))
}

/// Where every pane goes in `area`, for the focused pane (the only one
/// shown on a small screen), with or without the permission bar, and a
/// message box tall enough for `input`.
pub fn areas(area: Rect, focus: Focus, permission_bar: bool, input: &Input) -> Areas {
    let mut areas = Areas {
        whole: area,
        ..Areas::default()
    };
    let bar = u16::from(permission_bar);
    if area.width >= FULL_MIN.0 && area.height >= FULL_MIN.1 {
        areas.mode = Some(Mode::Full);
        let input_h = input_height(input, area.width, area.height / 3);
        let [body, permission, input, status, footer] = Layout::vertical([
            Constraint::Min(6),
            Constraint::Length(bar),
            Constraint::Length(input_h),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        areas.permission = permission;
        let side_width = (area.width * 2 / 5).clamp(36, 72);
        let [main, side] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(side_width)]).areas(body);
        let [workers, tasks, merges, mail] = Layout::vertical([
            Constraint::Percentage(35),
            Constraint::Percentage(35),
            Constraint::Percentage(15),
            Constraint::Percentage(15),
        ])
        .areas(side);
        areas.main = main;
        areas.workers = workers;
        areas.tasks = tasks;
        areas.merges = merges;
        areas.mail = mail;
        areas.input = input;
        areas.status = status;
        areas.footer = footer;
    } else if area.width >= COMPACT_MIN.0 && area.height >= COMPACT_MIN.1 {
        areas.mode = Some(Mode::Compact);
        let footer_h = u16::from(area.height >= 10);
        let input_h = input_height(input, area.width, area.height / 3);
        let [body, permission, input, status, footer] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(bar),
            Constraint::Length(input_h),
            Constraint::Length(1),
            Constraint::Length(footer_h),
        ])
        .areas(area);
        areas.permission = permission;
        match focus {
            Focus::Workers => areas.workers = body,
            Focus::Tasks => areas.tasks = body,
            Focus::Merges => areas.merges = body,
            Focus::Mail => areas.mail = body,
            Focus::Input | Focus::Main => areas.main = body,
        }
        areas.input = input;
        areas.status = status;
        areas.footer = footer;
    } else {
        areas.mode = Some(Mode::Tiny);
    }
    areas
}

/// A box of at most `width` x `height` in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// The first row of a list that keeps rows `selected..selected + span`
/// visible in `height` rows.
pub fn list_offset(selected: usize, span: usize, height: usize) -> usize {
    (selected + span).saturating_sub(height)
}

/// Rows each item of a list pane takes.
pub fn span_of(pane: Focus) -> usize {
    match pane {
        Focus::Workers => 2,
        _ => 1,
    }
}

/// The item of a bordered list pane at screen row `y`, given the selected
/// item (the pane scrolls to keep it in view, as drawn).
pub fn item_at(pane_rect: Rect, pane: Focus, selected: usize, y: u16) -> Option<usize> {
    let inner_y = pane_rect.y + 1;
    let height = usize::from(pane_rect.height.saturating_sub(2));
    if y < inner_y || usize::from(y - inner_y) >= height {
        return None;
    }
    let span = span_of(pane);
    let offset = list_offset(selected * span, span, height);
    Some((usize::from(y - inner_y) + offset) / span)
}
