//! Applies the [`Action`] a key maps to (see [`super::keys`]): editing
//! the input, moving focus and selections, scrolling, opening rows,
//! answering permission requests and quitting.

use enki_acp::PermissionDecision;

use super::commands::submit;
use super::keys::Action;
use super::review;
use crate::msg::{Effect, Fetch, Op, StoreRequest};
use crate::state::{App, Focus, NextNeed, Overlay, QuitState, View};
use crate::theme;

/// Applies a key's action.
pub fn apply(app: &mut App, action: Action, effects: &mut Vec<Effect>) {
    let files_before = app.input.text().len();
    match action {
        Action::Interrupt => interrupt(app, effects),
        Action::ConfirmYes => match app.overlay.take() {
            Some(Overlay::Confirm { op, .. }) => {
                if let Op::Reject { task, .. } = &op {
                    review::rejected(app, task);
                }
                app.expect(&op);
                effects.push(Effect::Store(StoreRequest::Op(op)));
            }
            _ => shutdown(app, effects),
        },
        Action::RaiseBudget => {
            if let Some(Overlay::RaiseBudget(ask)) = app.overlay.take() {
                app.event(
                    "$",
                    &format!(
                        "budget raised to {} for this session; \"{}\" goes on (enki.toml keeps its own)",
                        ask.raise_to_text, ask.title
                    ),
                    theme::info(),
                );
                effects.push(Effect::RaiseBudget(ask));
            }
        }
        Action::ConfirmNo | Action::CloseOverlay => app.overlay = None,
        Action::Answer(decision) => {
            if let Some(ask) = app.permissions.pop_front() {
                let said = match decision {
                    PermissionDecision::AllowOnce => "allowed once",
                    PermissionDecision::AllowAlways => "allowed always",
                    _ => "denied",
                };
                let style = match decision {
                    PermissionDecision::AllowOnce | PermissionDecision::AllowAlways => {
                        theme::warn()
                    }
                    _ => theme::dim(),
                };
                let text = format!("{} {said}: {}", app.asker_short(&ask), ask.title);
                app.event("⚿", &text, style);
                effects.push(Effect::Answer(ask.id, decision));
            }
            // The next request, if any, is answered in the same prompt.
            app.prompt_open = !app.permissions.is_empty();
        }
        Action::OpenPrompt => app.prompt_open = !app.permissions.is_empty(),
        Action::DeferPrompt => app.prompt_open = false,
        Action::ToggleOutputs => app.expand_outputs = !app.expand_outputs,
        Action::Reply => {
            let chosen = app
                .selected_index(Focus::Mail)
                .and_then(|i| app.snapshot.unread.get(i))
                .cloned();
            if let Some(message) = chosen {
                app.replying = Some(message);
                app.focus = Focus::Input;
            }
        }
        Action::NextNeed => {
            app.overlay = None;
            match app.show_next_need() {
                NextNeed::Shown => {}
                NextNeed::Review(task) => review::open_review(app, &task, effects),
                NextNeed::Nothing => {
                    app.notice = Some(("nothing waits for you".to_string(), false));
                }
            }
        }
        Action::Approve => review::approve(app, None, effects),
        Action::Reject => review::ask_reject(app, None, None),
        Action::ReviewFile(delta) => review::step_file(app, delta),
        Action::Help => app.overlay = Some(Overlay::Help { scroll: 0 }),
        Action::OverlayScroll(delta) => scroll_overlay(app, delta),
        Action::Insert(c) => {
            app.focus = Focus::Input;
            app.input.insert_char(c);
        }
        Action::NewLine => app.input.insert_char('\n'),
        Action::Backspace => app.input.backspace(),
        Action::Delete => app.input.delete(),
        Action::Left => app.input.left(),
        Action::Right => app.input.right(),
        Action::WordLeft => app.input.word_left(),
        Action::WordRight => app.input.word_right(),
        Action::Home => app.input.home(),
        Action::End => app.input.end(),
        Action::KillToStart => app.input.kill_to_start(),
        Action::KillToEnd => app.input.kill_to_end(),
        Action::DeleteWord => app.input.delete_word(),
        Action::HistoryUp => app.input.up(),
        Action::HistoryDown => app.input.down(),
        Action::CompletionNext => app.input.completion_next(),
        Action::CompletionPrev => app.input.completion_prev(),
        Action::CompletionAccept => app.input.accept_completion(),
        Action::CompletionDismiss => app.input.dismiss_completion(),
        Action::Submit => submit(app, effects),
        Action::FocusNext => app.focus = app.focus.next(),
        Action::FocusPrev => app.focus = app.focus.prev(),
        Action::FocusInput => app.focus = Focus::Input,
        Action::Up => scroll_pane(app, app.focus, 1),
        Action::Down => scroll_pane(app, app.focus, -1),
        Action::PageUp => {
            let rows = page(app) as isize;
            scroll_pane(app, app.focus, rows);
        }
        Action::PageDown => {
            let rows = page(app) as isize;
            scroll_pane(app, app.focus, -rows);
        }
        Action::Top if matches!(app.view, View::Review(_)) && app.focus == Focus::Main => {
            review::scroll(app, isize::MIN);
        }
        Action::Bottom if matches!(app.view, View::Review(_)) && app.focus == Focus::Main => {
            review::scroll(app, isize::MAX);
        }
        Action::Top => match app.focus {
            Focus::Input | Focus::Main => app.scroll = usize::MAX / 2,
            pane => app.select_edge(pane, false),
        },
        Action::Bottom => match app.focus {
            Focus::Input | Focus::Main => app.scroll = 0,
            pane => app.select_edge(pane, true),
        },
        Action::Open => open(app, effects),
        Action::Back => {
            if app.replying.take().is_some() {
                app.notice = Some(("reply dropped".to_string(), false));
            } else if app.view != View::Chat {
                app.view = View::Chat;
                app.review = None;
                app.scroll = 0;
            } else {
                app.focus = Focus::Input;
            }
        }
        Action::Redraw => {}
    }
    // Completion follows every edit of the text (and cursor moves).
    if action.edits_input() || app.input.text().len() != files_before {
        app.input.update_completion(&app.files);
    }
}

/// Enter on a pane: a worker's transcript, a task's details, an
/// execution's graph, a message.
fn open(app: &mut App, effects: &mut Vec<Effect>) {
    let pane = app.focus;
    let Some(index) = app.selected_index(pane) else {
        return;
    };
    let Some(key) = app.rows_of(pane).get(index).cloned() else {
        return;
    };
    match pane {
        Focus::Workers => {
            app.selected.worker = Some(key.clone());
            app.view = View::Transcript(key);
            app.scroll = 0;
            app.focus = Focus::Main;
        }
        Focus::Tasks => {
            if let Some(execution) = key.strip_prefix("x:") {
                effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Dag(Some(
                    execution.to_string(),
                )))));
            } else if let Some(task) = key.strip_prefix("t:") {
                if app
                    .tasks
                    .get(task)
                    .is_some_and(|t| t.status == review::AWAITING)
                {
                    review::open_review(app, task, effects);
                } else {
                    effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Task(
                        task.to_string(),
                    ))));
                }
            }
        }
        Focus::Merges => {
            if let Some(task) = key.get(2..) {
                effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Task(
                    task.to_string(),
                ))));
            }
        }
        Focus::Mail => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Message(
                key.clone(),
            ))));
            if app
                .snapshot
                .unread
                .iter()
                .any(|m| m.id == key && m.to == "user")
            {
                effects.push(Effect::Store(StoreRequest::MarkRead(key)));
            }
        }
        Focus::Input | Focus::Main => {}
    }
}

/// Ctrl-C and `/quit`: ask while workers run, then stop cleanly; a second
/// interrupt while stopping leaves at once.
pub(crate) fn interrupt(app: &mut App, effects: &mut Vec<Effect>) {
    if app.coordinator_done.is_some() {
        effects.push(Effect::Exit);
        return;
    }
    match app.quit {
        QuitState::Stopping => effects.push(Effect::Exit),
        QuitState::Running if app.overlay == Some(Overlay::ConfirmQuit) => shutdown(app, effects),
        QuitState::Running if app.running_workers() > 0 || !app.input.is_empty() => {
            app.overlay = Some(Overlay::ConfirmQuit);
        }
        QuitState::Running => shutdown(app, effects),
    }
}

/// A stop signal (SIGTERM, SIGHUP, SIGINT from outside): nobody is there to
/// confirm, so the workers are stopped at once; a second one leaves.
pub(crate) fn stop_on_signal(app: &mut App, name: &str, effects: &mut Vec<Effect>) {
    if app.coordinator_done.is_some() || app.quit == QuitState::Stopping {
        effects.push(Effect::Exit);
        return;
    }
    app.event("⏻", &format!("{name}: stopping the workers"), theme::warn());
    shutdown(app, effects);
}

fn shutdown(app: &mut App, effects: &mut Vec<Effect>) {
    app.overlay = None;
    app.quit = QuitState::Stopping;
    app.notice = Some(("stopping the workers…".into(), false));
    effects.push(Effect::Shutdown);
}

fn page(app: &App) -> usize {
    let areas = app.areas();
    let height = match app.focus {
        Focus::Input | Focus::Main => areas.main.height,
        Focus::Workers => areas.workers.height,
        Focus::Tasks => areas.tasks.height,
        Focus::Merges => areas.merges.height,
        Focus::Mail => areas.mail.height,
    };
    usize::from(height.saturating_sub(3)).max(1)
}

pub(crate) fn scroll_overlay(app: &mut App, delta: isize) {
    let (scroll, rows) = match &mut app.overlay {
        Some(Overlay::Help { scroll }) => (scroll, crate::help::lines().len()),
        Some(Overlay::Text { scroll, lines, .. }) => (scroll, lines.len()),
        _ => return,
    };
    // Bounded by the text; drawing trims it further to the last screenful.
    *scroll = scroll.saturating_add_signed(delta).min(rows);
}

fn scroll_pane(app: &mut App, pane: Focus, delta: isize) {
    if matches!(app.view, View::Review(_)) && matches!(pane, Focus::Input | Focus::Main) {
        // A review counts its rows from the top.
        review::scroll(app, -delta);
        return;
    }
    match pane {
        Focus::Input | Focus::Main => app.scroll = app.scroll.saturating_add_signed(delta),
        list => app.move_selection(list, -delta),
    }
}
