//! The message box and its completion popup.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{pane_block, title};
use crate::input::{COMMANDS, CompletionKind};
use crate::state::{App, Focus, QuitState, View, WorkerState};
use crate::text::width;
use crate::theme;
use crate::wrap::clip;

const PROMPT: &str = "› ";

/// Draws the box; returns where the cursor goes.
pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) -> Option<Position> {
    if area.is_empty() {
        return None;
    }
    let focused = app.focus == Focus::Input;
    let to_worker = match &app.view {
        View::Transcript(task) => app
            .worker(task)
            .filter(|w| w.state == WorkerState::Running)
            .map(|w| w.step.clone()),
        View::Chat | View::Review(_) => None,
    };
    let reviewing = match &app.view {
        View::Review(task) => Some(app.label(task).0),
        _ => None,
    };
    let (name, extra) = if app.quit == QuitState::Stopping {
        ("Message".to_string(), "stopping…".to_string())
    } else if app.coordinator_done.is_some() {
        (
            "Message".to_string(),
            "the coordinator has stopped · Ctrl-C to leave".to_string(),
        )
    } else if let Some(message) = &app.replying {
        (
            format!("Reply to {}", message.from),
            format!("re: {} · Esc drops it", message.subject),
        )
    } else if let Some(step) = reviewing {
        (
            format!("Changes for [{step}]"),
            "Enter sends them back to its worker · Esc back".to_string(),
        )
    } else if let Some(step) = to_worker {
        (
            format!("Mail to [{step}]"),
            "Enter send · Esc back to the planner".to_string(),
        )
    } else if app.planner_busy {
        (
            "Message".to_string(),
            "planner working… (you can still type)".to_string(),
        )
    } else {
        (
            "Message".to_string(),
            "Enter send · Alt-Enter newline".to_string(),
        )
    };
    let block = pane_block(title(&name, &extra), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.is_empty() {
        return None;
    }
    let text_width = usize::from(inner.width)
        .saturating_sub(width(PROMPT))
        .max(1);
    let (rows, (cursor_row, cursor_col)) = app.input.layout(text_width);
    let height = usize::from(inner.height);
    let offset = (cursor_row + 1).saturating_sub(height);
    let lines: Vec<Line<'static>> = rows
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, row)| {
            let prompt = if i == 0 { PROMPT } else { "  " };
            Line::from(vec![Span::styled(prompt, theme::user()), Span::raw(row)])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    let x = inner.x as usize + width(PROMPT) + cursor_col;
    let y = inner.y as usize + cursor_row - offset;
    let x = u16::try_from(x)
        .unwrap_or(u16::MAX)
        .min(inner.right().saturating_sub(1));
    let y = u16::try_from(y)
        .unwrap_or(u16::MAX)
        .min(inner.bottom().saturating_sub(1));
    Some(Position::new(x, y))
}

/// The popup of `@file` or `/command` candidates, just above the box.
pub fn draw_completion(frame: &mut Frame<'_>, input: Rect, app: &App) {
    let Some(completion) = &app.input.completion else {
        return;
    };
    let usage = |item: &str| -> (String, &'static str) {
        let (args, help) = COMMANDS
            .iter()
            .find(|(name, _, _)| *name == item)
            .map_or(("", ""), |(_, args, help)| (*args, *help));
        let usage = if args.is_empty() {
            format!("/{item}")
        } else {
            format!("/{item} {args}")
        };
        (usage, help)
    };
    // Descriptions line up in one column.
    let usage_width = completion
        .items
        .iter()
        .map(|item| width(&usage(item).0))
        .max()
        .unwrap_or(0);
    let lines: Vec<Line<'static>> = completion
        .items
        .iter()
        .map(|item| match completion.kind {
            CompletionKind::File => Line::raw(item.clone()),
            CompletionKind::Command => {
                let (usage, help) = usage(item);
                let pad = usage_width - width(&usage);
                let (name, args) = usage.split_once(' ').unwrap_or((&usage, ""));
                let args = if args.is_empty() {
                    String::new()
                } else {
                    format!(" {args}")
                };
                Line::from(vec![
                    Span::styled(name.to_string(), theme::key()),
                    Span::styled(format!("{args}{}  ", " ".repeat(pad)), theme::dim()),
                    Span::raw(help),
                ])
            }
        })
        .collect();
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let want_w = u16::try_from(widest + 2).unwrap_or(u16::MAX).max(20);
    let want_h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let room_above = input.y;
    let h = want_h.min(room_above);
    let w = want_w.min(input.width);
    if h < 3 || w < 4 {
        return;
    }
    let area = Rect::new(input.x, input.y - h, w, h);
    let inner_w = usize::from(w - 2);
    let visible = usize::from(h - 2);
    let offset = (completion.selected + 1).saturating_sub(visible);
    let rows: Vec<Line<'static>> = lines
        .into_iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, line)| {
            let line = clip(line, inner_w);
            if i == completion.selected {
                line.patch_style(theme::selected())
            } else {
                line
            }
        })
        .collect();
    let kind = match completion.kind {
        CompletionKind::File => " files ",
        CompletionKind::Command => " commands ",
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(rows).block(
            Block::bordered()
                .border_style(theme::border(true))
                .title(Span::styled(kind, theme::dim())),
        ),
        area,
    );
}
