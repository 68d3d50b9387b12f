//! The TUI's one entry point, [`update`]: every key, mouse
//! event, coordinator progress report and store snapshot goes through it,
//! and what must happen outside (prompt the planner, run an operation,
//! answer a permission request, notify) comes back as [`Effect`]s. No IO
//! here, so the whole behaviour is testable without a terminal.
//!
//! [`crate::state`] holds the state and its queries, [`crate::msg`] what
//! goes in and out; keys (`keys` maps them, `actions` carries them out),
//! the mouse, slash commands (`commands`) and coordinator progress
//! (`progress`) each change it in their own module.

mod actions;
mod commands;
mod keys;
mod mouse;
mod progress;
mod review;

pub use self::actions::apply;
pub use self::keys::{Action, map_key};

use self::mouse::on_mouse;
use self::progress::on_progress;
use crate::msg::{Effect, Msg};
use crate::state::{App, Focus, Overlay, QuitState, WorkerState};
use crate::text::sanitize;
use crate::theme;

/// Readies the state to be drawn on a `width` x `height` screen: the
/// chat is laid out for the width its pane gets (only entries that changed,
/// or all when the width did).
pub fn fit(app: &mut App, width: u16, height: u16) {
    app.size = (width, height);
    let main = app.areas().main;
    if !main.is_empty() {
        let width = usize::from(main.width.saturating_sub(2));
        app.layout_main(width);
        if matches!(app.view, crate::state::View::Review(_)) {
            let height = usize::from(main.height.saturating_sub(2));
            let (_, top) = app.main_rows(width, height);
            if let Some(review) = app.review.as_mut() {
                review.top = top;
            }
        } else if app.scroll > 0 {
            // Scrolled past the top (the content shrank, or the screen
            // grew): keep the first screenful.
            let (_, scroll) = app.main_rows(width, usize::from(main.height.saturating_sub(2)));
            app.scroll = scroll;
        }
    }
}

/// Applies one message; returns what must happen outside.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    app.dirty = true;
    match msg {
        Msg::Key(key) => {
            if let Some(action) = map_key(app, key) {
                apply(app, action, &mut effects);
            } else {
                app.dirty = false;
            }
        }
        Msg::Mouse(mouse) => on_mouse(app, mouse),
        Msg::Paste(text) => {
            app.focus = Focus::Input;
            app.input.insert_str(&text);
            app.input.update_completion(&app.files);
        }
        Msg::Resize(w, h) => app.size = (w, h),
        Msg::Progress(progress) => on_progress(app, progress, &mut effects),
        Msg::Snapshot(snapshot) => {
            app.tasks = snapshot.task_index();
            app.snapshot = snapshot;
        }
        Msg::Files(files) => {
            app.files = files;
            app.dirty = app.input.completion.is_some();
            app.input.update_completion(&app.files);
        }
        Msg::Permission(ask) => {
            effects.push(Effect::Notify {
                title: "enki needs your permission".into(),
                body: format!("{}: {}", app.asker(&ask), ask.title),
                urgent: true,
            });
            app.permissions.push_back(ask);
        }
        Msg::PermissionGone(id) => {
            if let Some(at) = app.permissions.iter().position(|p| p.id == id)
                && let Some(ask) = app.permissions.remove(at)
            {
                let text = format!(
                    "{} permission request withdrawn (the agent stopped waiting): {}",
                    app.asker_short(&ask),
                    ask.title
                );
                app.event("⚿", &text, theme::dim());
            }
            if app.permissions.is_empty() {
                app.prompt_open = false;
            }
        }
        Msg::Fetched { title, text } => match text {
            Ok(text) => {
                app.overlay = Some(Overlay::Text {
                    title,
                    lines: sanitize(&text).lines().map(str::to_string).collect(),
                    scroll: 0,
                });
            }
            Err(e) => app.notice = Some((e, true)),
        },
        Msg::OpDone(result) => match result {
            Ok(text) => {
                let text = app.readable_ids(&text);
                app.event("✓", &text, theme::good());
                app.notice = None;
            }
            Err(e) => {
                // The status it would have led to will not come.
                app.expected.clear();
                let e = app.readable_ids(&e);
                app.event("✘", &e, theme::bad());
                app.notice = Some((e, true));
            }
        },
        Msg::Tick(now) => {
            app.now_ms = now;
            app.dirty = app.running_workers() > 0 || app.quit == QuitState::Stopping;
        }
        Msg::CoordinatorDone(result) => {
            let error = result.err();
            if let Some(e) = &error {
                app.event("✘", &format!("the coordinator stopped: {e}"), theme::bad());
            }
            app.coordinator_done = Some(error);
            app.planner_busy = false;
            for worker in &mut app.workers {
                if worker.state == WorkerState::Running {
                    worker.state = WorkerState::Ended("stopped".into());
                    worker.ended_ms = Some(app.now_ms);
                }
            }
            if app.quit == QuitState::Stopping {
                effects.push(Effect::Exit);
            }
        }
        Msg::StopSignal(name) => actions::stop_on_signal(app, name, &mut effects),
        Msg::Notice(text) => app.event("·", &text, theme::dim()),
        Msg::ReviewLoaded { task, review } => review::loaded(app, &task, review),
        Msg::Warning(text) => {
            app.event("⚠", &text, theme::warn());
            app.notice = Some((format!("⚠ {text}"), true));
        }
    }
    effects
}
