//! What the input line submits: a message to the planner or a slash
//! command, resolved against the selection to an operation on the store;
//! and the statuses those operations are expected to cause.

use super::actions::interrupt;
use super::review;
use crate::data::{ExecView, TaskView};
use crate::input::{Command, Target, parse_command, unescape_message};
use crate::msg::{Effect, Fetch, Op, StoreRequest};
use crate::state::same_execution;
use crate::state::{App, Overlay, View};
use crate::state::{ChatEntry, WorkerState};
use crate::theme;

pub(crate) fn submit(app: &mut App, effects: &mut Vec<Effect>) {
    let Some(text) = app.input.submit() else {
        return;
    };
    app.scroll = 0;
    match parse_command(&text) {
        None => {
            let message = unescape_message(&text);
            if app.coordinator_done.is_some() {
                app.notice = Some(("the coordinator has stopped".into(), true));
                return;
            }
            match mail_instead(app, &message) {
                Route::Planner => {}
                Route::Mail(op) => {
                    effects.push(Effect::Store(StoreRequest::Op(op)));
                    return;
                }
                Route::Nowhere => return,
            }
            app.push_entry(ChatEntry::user(&message));
            app.planner_busy = true;
            app.view = View::Chat;
            effects.push(Effect::Planner(message));
        }
        Some(Err(e)) => app.notice = Some((e, true)),
        Some(Ok(command)) => run_command(app, command, effects),
    }
}

/// Where a typed message goes.
enum Route {
    Planner,
    /// Mail, or the changes a review asks for: an operation.
    Mail(Op),
    /// Nowhere: the person is told why and keeps the draft.
    Nowhere,
}

/// Text typed while answering a message goes to its sender, text typed
/// while a review is shown asks its worker for changes, and text typed in a
/// running worker's transcript goes to that worker, as mail (it sees a
/// notice in its next tool result); anything else goes to the planner.
fn mail_instead(app: &mut App, text: &str) -> Route {
    if let Some(message) = app.replying.take() {
        app.event(
            "✉",
            &format!("you → {}: {}", message.from, crate::text::first_line(text)),
            theme::info(),
        );
        return Route::Mail(Op::Mail {
            to: message.from,
            reply_to: Some(message.id),
            text: text.to_string(),
        });
    }
    if let Some(op) = review::request_changes(app, text) {
        return Route::Mail(op);
    }
    let View::Transcript(task) = &app.view else {
        return Route::Planner;
    };
    let task = task.clone();
    let Some(worker) = app.worker(&task) else {
        return Route::Planner;
    };
    if worker.state != WorkerState::Running {
        app.notice = Some((
            format!(
                "[{}] is not running: Esc goes back to the planner's chat",
                worker.step
            ),
            true,
        ));
        app.input.set_text(text);
        return Route::Nowhere;
    }
    let step = worker.step.clone();
    if let Some(worker) = app.worker_mut(&task) {
        worker.transcript.from_you(text);
    }
    app.event(
        "✉",
        &format!("you → [{step}]: {}", crate::text::first_line(text)),
        theme::info(),
    );
    Route::Mail(Op::Mail {
        to: enki_core::mail::Address::worker_mailbox(&task),
        reply_to: None,
        text: text.to_string(),
    })
}

/// What `/pause`, `/resume` and `/cancel` act on: with no id, the task
/// selected in the tasks pane (its execution and step) or else the default
/// execution; a lone word that names no execution but a step (or a task)
/// means that step of the selected or default execution.
fn resolve_target(app: &App, mut target: Target) -> Target {
    match (&target.execution, &target.step) {
        (None, _) => {
            if let Some(task) = app
                .chosen_task_row()
                .as_deref()
                .and_then(|k| k.strip_prefix("t:"))
                .and_then(|t| app.tasks.get(t))
            {
                return Target {
                    execution: Some(task.execution.clone()),
                    step: Some(task.step.clone()),
                };
            }
            target.execution = app.default_execution();
        }
        (Some(word), None) if !app.names_execution(word) => {
            if let Some(task) = app.tasks.get(&app.full_task_id(word)) {
                return Target {
                    execution: Some(task.execution.clone()),
                    step: Some(task.step.clone()),
                };
            }
            let execution = app.default_execution();
            let has_step = app
                .snapshot
                .executions
                .iter()
                .filter(|x| Some(&x.id) == execution.as_ref())
                .any(|x| x.tasks.iter().any(|t| &t.step == word));
            if has_step {
                return Target {
                    execution,
                    step: Some(word.clone()),
                };
            }
        }
        _ => {}
    }
    target
}

fn run_command(app: &mut App, command: Command, effects: &mut Vec<Effect>) {
    let with_execution = |app: &mut App, target: Target, name: &str| -> Option<Target> {
        let target = resolve_target(app, target);
        if target.execution.is_none() {
            app.notice = Some((format!("no execution to {name}; give its id"), true));
            return None;
        }
        Some(target)
    };
    let op = match command {
        Command::Pause(target) => with_execution(app, target, "pause").map(Op::Pause),
        Command::Resume(target) => with_execution(app, target, "resume").map(Op::Resume),
        Command::Cancel(target) => with_execution(app, target, "cancel").map(Op::Cancel),
        Command::Retry(task) => match task.or_else(|| app.default_retry_task()) {
            Some(task) => Some(Op::Retry {
                task,
                execution: app.default_execution(),
            }),
            None => {
                app.notice = Some((
                    "no failed task selected; give a task id or step".into(),
                    true,
                ));
                None
            }
        },
        Command::FollowUp(text) => app.follow_up_op(&text),
        Command::Review(word) => {
            match review::review_task(app, word.as_deref()) {
                Ok(task) => review::open_review(app, &task, effects),
                Err(why) => app.notice = Some((why, true)),
            }
            None
        }
        Command::Approve(word) => {
            match review::review_task(app, word.as_deref()) {
                Ok(task) => review::approve(app, Some(task), effects),
                Err(why) => app.notice = Some((why, true)),
            }
            None
        }
        Command::Reject(text) => {
            // A first word that names a task or step is the task; the rest
            // (or all of it) is the note.
            let (first, rest) = text
                .split_once(char::is_whitespace)
                .map_or((text.as_str(), ""), |(f, r)| (f, r.trim()));
            let named = (!first.is_empty())
                .then(|| review::review_task(app, Some(first)).ok())
                .flatten();
            let (task, note) = match named {
                Some(task) => (Ok(task), rest),
                None => (review::review_task(app, None), text.as_str()),
            };
            match task {
                Ok(task) => {
                    let note = (!note.is_empty()).then(|| note.to_string());
                    review::ask_reject(app, Some(task), note);
                }
                Err(why) => app.notice = Some((why, true)),
            }
            None
        }
        Command::Stop => Some(Op::Stop),
        Command::Dag(execution) => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Dag(execution))));
            None
        }
        Command::Mail => {
            effects.push(Effect::Store(StoreRequest::Fetch(Fetch::Mail)));
            None
        }
        Command::Help => {
            app.overlay = Some(Overlay::Help { scroll: 0 });
            None
        }
        Command::Quit => {
            interrupt(app, effects);
            None
        }
    };
    if let Some(op) = op {
        match confirmation(app, &op) {
            Some((title, lines)) => app.overlay = Some(Overlay::Confirm { title, lines, op }),
            None => {
                app.expect(&op);
                effects.push(Effect::Store(StoreRequest::Op(op)));
            }
        }
    }
}

/// For an operation that stops work, what to ask and what it will affect.
fn confirmation(app: &App, op: &Op) -> Option<(String, Vec<String>)> {
    let running = |in_execution: Option<&str>, step: Option<&str>| -> Vec<String> {
        app.workers
            .iter()
            .filter(|w| w.state == WorkerState::Running)
            .filter(|w| {
                let task = app.tasks.get(&w.task);
                in_execution.is_none_or(|x| task.is_some_and(|t| same_execution(&t.execution, x)))
                    && step.is_none_or(|s| w.step == s)
            })
            .map(|w| format!("  ▶ [{}] {}", w.step, w.title))
            .collect()
    };
    match op {
        Op::Cancel(target) => {
            let execution = target.execution.as_deref()?;
            let name = app
                .snapshot
                .executions
                .iter()
                .find(|x| same_execution(&x.id, execution))
                .map_or_else(|| execution.to_string(), |x| format!("\"{}\"", x.title));
            let mut lines = vec![match &target.step {
                Some(step) => format!(
                    "Cancels step {step} of {name} and every step that needs it; nothing of them lands."
                ),
                None => format!("Cancels every unfinished step of {name}; nothing of them lands."),
            }];
            let stopped = running(Some(execution), target.step.as_deref());
            if !stopped.is_empty() {
                lines.push("Its running workers stop and their work is dropped:".into());
                lines.extend(stopped);
            }
            Some(("Cancel?".into(), lines))
        }
        Op::Stop => {
            let mut lines = vec![
                "Stops every worker and pauses every execution; /resume goes on, keeping their work."
                    .to_string(),
            ];
            let stopped = running(None, None);
            if !stopped.is_empty() {
                lines.push(format!("{} running now:", stopped.len()));
                lines.extend(stopped);
            }
            Some(("Stop everything?".into(), lines))
        }
        _ => None,
    }
}

impl App {
    /// Whether `word` is (a prefix of) an execution id.
    fn names_execution(&self, word: &str) -> bool {
        word.starts_with("exec-")
            || self
                .snapshot
                .executions
                .iter()
                .any(|x| same_execution(&x.id, word))
    }

    /// The execution a command without an id means: the selected one in
    /// the tasks pane, else the only unfinished one, else the newest.
    pub fn default_execution(&self) -> Option<String> {
        if let Some(key) = self.chosen_task_row() {
            if let Some(id) = key.strip_prefix("x:") {
                return Some(id.to_string());
            }
            if let Some(task) = key.strip_prefix("t:").and_then(|t| self.tasks.get(t)) {
                return Some(task.execution.clone());
            }
        }
        let unfinished: Vec<&ExecView> = self
            .snapshot
            .executions
            .iter()
            .filter(|e| !matches!(e.status.as_str(), "done" | "failed" | "cancelled"))
            .collect();
        if unfinished.len() == 1 {
            return unfinished.first().map(|e| e.id.clone());
        }
        let executions = &self.snapshot.executions;
        executions
            .iter()
            .rev()
            .find(|e| !e.earlier)
            .or(executions.last())
            .map(|e| e.id.clone())
    }

    /// The task `/retry` without an id means: the selected task, else the
    /// only failed or blocked one.
    fn default_retry_task(&self) -> Option<String> {
        if let Some(task) = self
            .chosen_task_row()
            .as_deref()
            .and_then(|k| k.strip_prefix("t:"))
        {
            return Some(task.to_string());
        }
        let stuck: Vec<&TaskView> = self
            .tasks
            .values()
            .filter(|t| matches!(t.status.as_str(), "failed" | "blocked"))
            .collect();
        match stuck.as_slice() {
            [only] => Some(only.id.clone()),
            _ => None,
        }
    }

    /// What `/followup [<task or step>] <request>` asks for: a first word
    /// that names a known task (id or prefix) or a step of the execution in
    /// view is the task, else the whole text is the request for the task
    /// selected in the tasks pane.
    fn follow_up_op(&mut self, text: &str) -> Option<Op> {
        let (first, rest) = text
            .split_once(char::is_whitespace)
            .map_or((text, ""), |(first, rest)| (first, rest.trim()));
        let names_task = !rest.is_empty()
            && (self.tasks.contains_key(&self.full_task_id(first))
                || first.starts_with("task-")
                || self.names_step_in_view(first));
        let (task, request) = if names_task {
            (Some(first.to_string()), rest)
        } else {
            let selected = self
                .chosen_task_row()
                .and_then(|k| k.strip_prefix("t:").map(str::to_string));
            (selected, text)
        };
        let Some(task) = task else {
            self.notice = Some((
                "no task selected: select the done task in the tasks pane, or name it first (/followup <task or step> <request>)".into(),
                true,
            ));
            return None;
        };
        Some(Op::FollowUp {
            task,
            execution: self.default_execution(),
            request: request.to_string(),
        })
    }

    /// Whether `word` is a step id of the execution a command means.
    fn names_step_in_view(&self, word: &str) -> bool {
        let execution = self.default_execution();
        self.snapshot
            .executions
            .iter()
            .filter(|x| Some(&x.id) == execution.as_ref())
            .any(|x| x.tasks.iter().any(|t| t.step == word))
    }
}
